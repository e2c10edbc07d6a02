"""Label stores (JSONL file, memory, DynamoDB on moto) and dataset snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from receipts.adapters.jsonl.label_store import JSONLLabelStore, to_record
from receipts.adapters.jsonl.snapshot import load_snapshot, save_snapshot
from receipts.adapters.memory.label_store import InMemoryLabelStore
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import prepare_dataset
from receipts.domain.config import DataConfig
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import ValidationStatus
from receipts.domain.receipt import Receipt, count_labels


def word(text: str = "Mart", label: str = "MERCHANT_NAME", **extra: Any) -> dict[str, Any]:
    return {"text": text, "box": [10, 10, 50, 30], "line_id": 0, "label": label, **extra}


def record(receipt_id: str = "r1", words: list[Any] | None = None) -> dict[str, Any]:
    return {
        "receipt_id": receipt_id,
        "width": 100,
        "height": 100,
        "words": [word()] if words is None else words,
    }


def write(path: Path, *lines: dict[str, Any] | str) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def load(path: Path, **options: Any) -> list[Receipt]:
    return list(JSONLLabelStore(path, **options).receipts())


# -- JSONL loading ---------------------------------------------------------------------------


def test_loads_receipts_with_words_boxes_and_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.jsonl",
        record("a", [word("Corner"), word("1.00", "GRAND_TOTAL", validation_status="INVALID")]),
        record("b"),
    )

    a, b = load(path)

    assert (a.receipt_id, b.receipt_id) == ("a", "b")
    assert [w.text for w in a.words] == ["Corner", "1.00"]
    assert a.words[1].label == "GRAND_TOTAL"
    assert a.words[1].validation_status is ValidationStatus.INVALID
    assert a.words[0].box.as_list() == [10, 10, 50, 30]


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("{not json", "line 2: not JSON"),
        (json.dumps(record("x", [{"text": "Mart", "label": "O"}])), "line 2: receipt x: word 0"),
        (json.dumps(record("x", [word(label="TIP")])), "line 2: receipt x: unknown label TIP"),
        (json.dumps(record("r1")), "line 2: duplicate receipt id 'r1'"),
        ("[1, 2]", "line 2: expected a JSON object"),
    ],
    ids=["not-json", "no-box", "unknown-label", "duplicate-id", "not-an-object"],
)
def test_a_bad_line_is_refused_naming_the_line(tmp_path: Path, bad_line: str, problem: str) -> None:
    path = write(tmp_path / "r.jsonl", record("r1"), bad_line, record("r3"))

    with pytest.raises(InvalidInput) as refused:
        load(path)

    assert problem in str(refused.value)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (None, "line 1: receipt x: no words; expected a list of words"),
        ("Mart", "line 1: receipt x: words is a str; expected a list of words"),
    ],
    ids=["missing", "a-string"],
)
def test_a_receipt_without_a_words_list_is_refused_naming_it(
    tmp_path: Path, words: Any, problem: str
) -> None:
    """It was dropped without a word (issue 16); an empty receipt says so with `"words": []`."""
    bad = {"receipt_id": "x", "width": 100, "height": 100}
    if words is not None:
        bad["words"] = words
    path = write(tmp_path / "r.jsonl", bad, record("b"))

    with pytest.raises(InvalidInput, match=problem):
        load(path)


def test_a_line_over_the_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """One 50 MB line trained "successfully" in 3.6 GB (issue 16); here a 5 KB one against a
    1 KB limit: refused by number, and the lines after it are still read."""
    long_line = record("long", [word("x" * 100) for _ in range(50)])
    path = write(tmp_path / "r.jsonl", record("a"), long_line, "{not json")
    assert len(json.dumps(long_line)) > 5_000

    with pytest.raises(InvalidInput) as refused:
        load(path, max_line_bytes=1024)

    assert refused.value.problems == [
        "line 2: longer than 1,024 bytes (RECEIPTS_MAX_JSONL_LINE_BYTES)",
        "line 3: not JSON (Expecting property name enclosed in double quotes)",
    ]
    alone = write(tmp_path / "alone.jsonl", long_line)
    at_the_limit = load(alone, max_line_bytes=len(json.dumps(long_line)))
    assert [r.receipt_id for r in at_the_limit] == ["long"]


def test_a_receipt_over_the_word_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", record("a", [word()] * 4), record("b", [word()] * 3))

    with pytest.raises(InvalidInput, match=r"line 1: receipt a: 4 words, over the limit of 3"):
        load(path, max_words=3)
    assert len(load(path, max_words=4)) == 2


def test_a_file_that_is_not_utf8_or_not_a_file_is_refused_by_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(record("a")).encode() + b"\n\xff\xfe{}\n")

    with pytest.raises(InvalidInput, match=r"line 2: not UTF-8 \(byte 1 of the line\)"):
        load(path)
    with pytest.raises(InvalidInput, match=r": not a file"):
        load(tmp_path)


def test_a_word_without_a_box_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", record("x", [{"text": "Mart", "label": "O"}]))

    with pytest.raises(InvalidInput, match=r"line 1: receipt x: word 0 \('Mart'\) has no box"):
        load(path)


def test_unknown_labels_become_o_when_allowed(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", record("x", [word(label="TIP"), word("2024", "DATE")]))

    [receipt] = load(path, allow_unknown_labels=True)

    assert [w.label for w in receipt.words] == ["O", "DATE"]


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load(tmp_path / "missing.jsonl")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n\n")

    with pytest.raises(InvalidInput, match="no receipts with words"):
        load(path)


def test_a_file_of_empty_receipts_is_refused_and_counts_them(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", record("a", []), record("b", []))

    with pytest.raises(InvalidInput, match=r"no receipts with words \(skipped 2 empty\)"):
        load(path)


def test_empty_receipts_are_skipped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", record("a", []), record("b"))
    store = JSONLLabelStore(path)

    assert [r.receipt_id for r in store.receipts()] == ["b"]
    assert store.skipped_empty == 1


def test_inverted_boxes_are_repaired_and_counted(tmp_path: Path) -> None:
    inverted = {**word(), "box": [50, 30, 10, 10]}
    path = write(tmp_path / "r.jsonl", record("a", [inverted, word("ok")]))
    store = JSONLLabelStore(path)

    [receipt] = store.receipts()

    assert receipt.words[0].box.as_list() == [10, 10, 50, 30]
    assert store.repaired_boxes == 1


def test_put_and_set_validation_status_survive_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"
    receipts = generate_receipts(3, seed=1)
    JSONLLabelStore(path).put(receipts)

    store = JSONLLabelStore(path)
    first = receipts[0]
    store.set_validation_status(first.receipt_id, 2, ValidationStatus.NEEDS_REVIEW)

    reloaded = JSONLLabelStore(path)
    assert [r.receipt_id for r in reloaded.receipts()] == [r.receipt_id for r in receipts]
    status = reloaded.get(first.receipt_id).words[2].validation_status
    assert status is ValidationStatus.NEEDS_REVIEW
    assert reloaded.get(receipts[1].receipt_id) == receipts[1]


def test_to_record_round_trips_through_the_file(tmp_path: Path) -> None:
    receipts = generate_receipts(2, seed=2)
    path = write(tmp_path / "r.jsonl", *(to_record(r) for r in receipts))

    assert load(path) == receipts


# -- the label-store contract, for every adapter ---------------------------------------------

StoreFactory = Callable[[list[Receipt]], LabelStore]


def jsonl_store(tmp_path: Path) -> StoreFactory:
    def make(receipts: list[Receipt]) -> LabelStore:
        store = JSONLLabelStore(tmp_path / "labels.jsonl")
        store.put(receipts)
        return store

    return make


def dynamodb_store(request: pytest.FixtureRequest) -> StoreFactory:
    request.getfixturevalue("aws_env")  # a moto server, never AWS
    from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore

    table = request.getfixturevalue("unique_name")

    def make(receipts: list[Receipt]) -> LabelStore:
        store = DynamoDBLabelStore(table)
        store.create_table()
        store.put(receipts)
        return store

    return make


@pytest.fixture(params=["memory", "jsonl", pytest.param("dynamodb", marks=pytest.mark.aws)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        return lambda receipts: InMemoryLabelStore(receipts)
    if request.param == "dynamodb":
        return dynamodb_store(request)
    return jsonl_store(tmp_path)


def test_contract_receipts_come_back_in_order(make_store: StoreFactory) -> None:
    receipts = generate_receipts(3, seed=4)

    store = make_store(receipts)

    assert list(store.receipts()) == receipts
    assert store.get(receipts[1].receipt_id) == receipts[1]
    assert isinstance(store.source, str) and store.source


def test_contract_put_replaces_by_id_and_adds(make_store: StoreFactory) -> None:
    a, b, c = generate_receipts(3, seed=4)
    store = make_store([a, b])
    changed = b.model_copy(update={"source": "edited"})

    store.put([changed, c])

    assert [r.receipt_id for r in store.receipts()] == [a.receipt_id, b.receipt_id, c.receipt_id]
    assert store.get(b.receipt_id).source == "edited"


def test_contract_set_validation_status_changes_one_word(make_store: StoreFactory) -> None:
    [receipt] = generate_receipts(1, seed=4)
    store = make_store([receipt])

    store.set_validation_status(receipt.receipt_id, 0, ValidationStatus.INVALID)

    after = store.get(receipt.receipt_id)
    assert after.words[0].validation_status is ValidationStatus.INVALID
    assert after.words[1:] == receipt.words[1:]


def test_contract_unknown_receipts_and_words_are_key_errors(make_store: StoreFactory) -> None:
    [receipt] = generate_receipts(1, seed=4)
    store = make_store([receipt])

    with pytest.raises(KeyError, match="nope"):
        store.get("nope")
    with pytest.raises(KeyError, match="nope"):
        store.set_validation_status("nope", 0, ValidationStatus.VALID)
    with pytest.raises(KeyError, match="9999"):
        store.set_validation_status(receipt.receipt_id, 9999, ValidationStatus.VALID)


def test_contract_put_of_a_shorter_receipt_drops_its_other_words(
    make_store: StoreFactory,
) -> None:
    [receipt] = generate_receipts(1, seed=5)
    store = make_store([receipt])
    shorter = receipt.model_copy(update={"words": receipt.words[:2]})

    store.put([shorter])

    assert store.get(receipt.receipt_id) == shorter
    assert list(store.receipts()) == [shorter]


def test_contract_labels_are_counted_by_label_and_validation_status(
    make_store: StoreFactory,
) -> None:
    receipts = generate_receipts(4, seed=6)
    store = make_store(receipts)
    labelled = next(w for w in receipts[0].words if w.label != "O")
    store.set_validation_status(receipts[0].receipt_id, labelled.word_id, ValidationStatus.INVALID)

    counts = store.count_labels()

    assert counts == count_labels(list(store.receipts()))
    assert counts[labelled.label]["INVALID"] >= 1
    assert "O" not in counts
    assert sum(n for by_status in counts.values() for n in by_status.values()) == sum(
        1 for r in receipts for w in r.words if w.label != "O"
    )


# -- dataset snapshots -----------------------------------------------------------------------


@pytest.fixture
def dataset() -> PreparedDataset:
    return prepare_dataset(
        generate_receipts(10, seed=0),
        DataConfig(merge_amounts=True),
        seed=42,
        o_entity_ratio=None,
        source="synthetic",
    )


def test_a_snapshot_round_trips(tmp_path: Path, dataset: PreparedDataset) -> None:
    path = save_snapshot(dataset, tmp_path / "snap.json")

    assert load_snapshot(path) == dataset


def test_a_snapshot_in_a_directory(tmp_path: Path, dataset: PreparedDataset) -> None:
    path = save_snapshot(dataset, tmp_path / "snapshots")

    assert path == tmp_path / "snapshots" / "dataset_snapshot.json"
    assert load_snapshot(tmp_path / "snapshots") == dataset


def test_a_tampered_snapshot_is_refused(tmp_path: Path, dataset: PreparedDataset) -> None:
    path = save_snapshot(dataset, tmp_path / "snap.json")
    data = json.loads(path.read_text())
    tags = data["train"][0]["tags"]
    index = next(i for i, tag in enumerate(tags) if tag != "O")
    tags[index] = "O"
    path.write_text(json.dumps(data))

    with pytest.raises(InvalidInput, match=r"content hash \w+ does not match"):
        load_snapshot(path)


def test_a_missing_or_broken_snapshot_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load_snapshot(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"tags": 1}')
    with pytest.raises(InvalidInput, match="not a snapshot"):
        load_snapshot(tmp_path / "bad.json")
