"""The word-level confusion matrix the trainer records with every evaluation."""

from __future__ import annotations

import json
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from receipts.adapters.torch.metrics import word_confusion
from receipts.application.training.jobs import Jobs
from receipts.domain.job import JobDraft
from receipts.domain.job_metric import Evaluation

TAGS = ["O", "B-DATE", "I-DATE", "B-AMOUNT", "I-AMOUNT"]


def test_bio_prefixes_are_dropped_and_words_counted_by_true_then_predicted_label() -> None:
    truth = [["B-DATE", "I-DATE", "O", "B-AMOUNT"]]
    guessed = [["B-DATE", "O", "O", "B-DATE"]]

    assert word_confusion(truth, guessed) == {
        "AMOUNT": {"DATE": 1},
        "DATE": {"DATE": 1, "O": 1},
        "O": {"O": 1},
    }


sequences = st.lists(
    st.lists(st.tuples(st.sampled_from(TAGS), st.sampled_from(TAGS)), max_size=12), max_size=6
)


@given(sequences)
def test_every_word_is_counted_once_and_agreements_lie_on_the_diagonal(
    receipts: list[list[tuple[str, str]]],
) -> None:
    truth = [[t for t, _ in words] for words in receipts]
    guessed = [[g for _, g in words] for words in receipts]

    confusion = word_confusion(truth, guessed)

    assert sum(n for row in confusion.values() for n in row.values()) == sum(map(len, receipts))
    agreements = sum(t.split("-")[-1] == g.split("-")[-1] for words in receipts for t, g in words)
    assert sum(row.get(label, 0) for label, row in confusion.items()) == agreements


def test_evaluations_recorded_before_the_confusion_was_kept_still_load() -> None:
    stored = Evaluation(epoch=1, global_step=10, f1=0.5, precision=0.5, recall=0.5)
    old = json.loads(stored.model_dump_json())
    del old["confusion"]

    assert Evaluation.model_validate(old).confusion == {}


def test_the_confusion_travels_with_the_recorded_evaluation() -> None:
    jobs = Jobs(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    job_id = jobs.create_job(JobDraft(name=f"confusion-{uuid4().hex[:6]}"))
    confusion = {"DATE": {"DATE": 3, "O": 1}, "O": {"O": 9}}

    jobs.record_evaluation(
        job_id,
        Evaluation(epoch=1, global_step=5, f1=0.7, precision=0.7, recall=0.7, confusion=confusion),
    )

    assert jobs.evaluations_of(job_id)[0].confusion == confusion
