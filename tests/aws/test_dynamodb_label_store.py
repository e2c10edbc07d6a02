"""The DynamoDB label store on moto, beyond the shared label-store contract: its item layout,
the 400 KB limit, unprocessed batch items, strict reading of items other tools wrote, the
operations each call uses, and `train --dynamo-table` reading from it in aws mode."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore
from receipts.adapters.dynamodb.table import TableMissing
from receipts.adapters.memory.label_store import InMemoryLabelStore
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.ports.training_backend import TrainingFailed, TrainingSpec
from receipts.application.training.datasets import prepare_dataset
from receipts.bootstrap.training import label_store_for, load_dataset
from receipts.domain.config import DataConfig, JobConfig
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import ValidationStatus
from receipts.domain.receipt import Receipt
from receipts.settings import Settings


class RecordingClient:
    """The real boto3 client, recording each operation; optionally leaving part of the first
    BatchWriteItem calls unprocessed, as DynamoDB does when it throttles."""

    def __init__(self, unprocessed_calls: int = 0) -> None:
        self.real = client("dynamodb")
        self.exceptions = self.real.exceptions
        self.operations: list[str] = []
        self.unprocessed_calls = unprocessed_calls

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self.real, name)

        def call(**kwargs: Any) -> Any:
            self.operations.append(name)
            if name == "batch_write_item" and self.unprocessed_calls > 0:
                return self._throttled(kwargs["RequestItems"])
            return operation(**kwargs)

        return call

    def get_paginator(self, operation: str) -> Any:
        """The client's paginator; each page it fetches is recorded as one `operation`."""
        paginator = self.real.get_paginator(operation)

        def paginate(**kwargs: Any) -> Iterator[Any]:
            for page in paginator.paginate(**kwargs):
                self.operations.append(operation)
                yield page

        return SimpleNamespace(paginate=paginate)

    def _throttled(self, request_items: dict[str, list[Any]]) -> dict[str, Any]:
        self.unprocessed_calls -= 1
        [(table, requests)] = request_items.items()
        keep, leave = requests[: len(requests) // 2], requests[len(requests) // 2 :]
        if keep:
            self.real.batch_write_item(RequestItems={table: keep})
        return {"UnprocessedItems": {table: leave}}


@pytest.fixture
def table(aws_env: dict[str, str], unique_name: str) -> str:
    DynamoDBLabelStore(unique_name).create_table()
    return unique_name


def receipts(count: int = 3, seed: int = 7) -> list[Receipt]:
    return generate_receipts(count, seed=seed)


def raw_put(table: str, *items: dict[str, Any]) -> None:
    db = client("dynamodb")
    for item in items:
        db.put_item(TableName=table, Item=item)


def word_item(receipt_id: str, word_id: int, **overrides: Any) -> dict[str, Any]:
    item = {
        "PK": {"S": f"RECEIPT#{receipt_id}"},
        "SK": {"S": f"WORD#{word_id:06d}"},
        "word_id": {"N": str(word_id)},
        "line_id": {"N": "0"},
        "position": {"N": str(word_id)},
        "text": {"S": "Mart"},
        "box": {"L": [{"N": "10"}, {"N": "10"}, {"N": "50"}, {"N": "30"}]},
        "label": {"S": "MERCHANT_NAME"},
        "validation_status": {"S": "VALID"},
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def receipt_item(receipt_id: str, word_count: int) -> dict[str, Any]:
    return {
        "PK": {"S": f"RECEIPT#{receipt_id}"},
        "SK": {"S": "RECEIPT"},
        "width": {"N": "100"},
        "height": {"N": "100"},
        "word_count": {"N": str(word_count)},
        "seq": {"N": "1"},
    }


def test_items_follow_the_documented_layout(table: str) -> None:
    [receipt] = receipts(1)
    DynamoDBLabelStore(table).put([receipt])
    db = client("dynamodb")

    items = db.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RECEIPT#{receipt.receipt_id}"}},
    )["Items"]

    header, *words = items
    assert header["SK"]["S"] == "RECEIPT"
    assert int(header["word_count"]["N"]) == len(receipt.words) == len(words)
    labelled = next(w for w in receipt.words if w.label != "O")
    item = next(i for i in words if int(i["word_id"]["N"]) == labelled.word_id)
    assert item["SK"]["S"] == f"WORD#{labelled.word_id:06d}"
    assert item["GSI2PK"]["S"] == f"LABEL#{labelled.label}"
    assert item["GSI2SK"]["S"] == (
        f"STATUS#VALID#RECEIPT#{receipt.receipt_id}#WORD#{labelled.word_id:06d}"
    )
    assert [float(n["N"]) for n in item["box"]["L"]] == labelled.box.as_list()
    outside = next(i for i in words if i["label"]["S"] == "O")
    assert "GSI2PK" not in outside  # O words stay out of the label index
    # the seeds' "count VALID labels": one Query on GSI2 per label
    valid = db.query(
        TableName=table,
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :label AND begins_with(GSI2SK, :valid)",
        ExpressionAttributeValues={
            ":label": {"S": f"LABEL#{labelled.label}"},
            ":valid": {"S": "STATUS#VALID#"},
        },
        Select="COUNT",
    )["Count"]
    assert valid == sum(1 for w in receipt.words if w.label == labelled.label)


def test_an_item_over_400_kb_is_refused_and_nothing_is_written(table: str) -> None:
    ok, big = receipts(2)
    big = big.model_copy(update={"fields": {"notes": "x" * 420_000}})
    store = DynamoDBLabelStore(table)

    with pytest.raises(InvalidInput) as refused:
        store.put([ok, big])

    message = str(refused.value)
    assert f"receipt {big.receipt_id}: its RECEIPT item is 420," in message
    assert "over DynamoDB's 409,600-byte item limit" in message
    assert "nothing written" in message
    for receipt in (ok, big):
        with pytest.raises(KeyError):
            store.get(receipt.receipt_id)


def test_unknown_labels_are_refused_on_put(table: str) -> None:
    [receipt] = receipts(1)
    words = (receipt.words[0].model_copy(update={"label": "TIP"}), *receipt.words[1:])
    store = DynamoDBLabelStore(table)

    with pytest.raises(InvalidInput, match=f"receipt {receipt.receipt_id}: unknown label TIP"):
        store.put([receipt.model_copy(update={"words": words})])
    with pytest.raises(KeyError):
        store.get(receipt.receipt_id)


def test_unprocessed_batch_items_are_retried(table: str) -> None:
    written = receipts(4)
    throttled = RecordingClient(unprocessed_calls=3)

    DynamoDBLabelStore(table, throttled).put(written)

    assert list(DynamoDBLabelStore(table).receipts()) == written
    words = sum(len(r.words) for r in written)
    minimum = -(-words // 25) + 1  # word batches, then one batch of receipt items
    assert throttled.operations.count("batch_write_item") > minimum


def test_reads_use_queries_and_writes_use_batches(table: str) -> None:
    written = receipts(26, seed=3)
    recording = RecordingClient()
    store = DynamoDBLabelStore(table, recording)

    store.put(written)
    words = sum(len(r.words) for r in written)
    assert Counter(recording.operations) == {
        "batch_get_item": 1,  # which receipts exist already
        "update_item": 1,  # one block of sequence numbers
        "batch_write_item": -(-words // 25) + 2,  # words, then 26 receipt items in 2 batches
    }
    for call, expected in (
        (lambda: store.get(written[5].receipt_id), ["query"]),
        (
            lambda: store.set_validation_status(written[5].receipt_id, 1, ValidationStatus.INVALID),
            ["update_item"],
        ),
        (lambda: store.count_labels(), ["query"]),
        (lambda: list(store.receipts()), ["scan"]),
    ):
        recording.operations.clear()
        call()
        assert set(recording.operations) == set(expected)


def test_words_written_by_another_tool_are_read_strictly(table: str) -> None:
    raw_put(
        table,
        receipt_item("a", 3),
        word_item("a", 0),
        word_item("a", 1, label={"S": "TIP"}),
        word_item("a", 2, box=None),
        receipt_item("b", 1),
        word_item("b", 0, validation_status={"S": "MAYBE"}),
    )
    store = DynamoDBLabelStore(table)

    with pytest.raises(InvalidInput) as refused:
        list(store.receipts())

    problems = refused.value.problems
    assert "receipt a: WORD#000001: unknown label TIP" in problems
    assert "receipt a: WORD#000002: missing attribute 'box'" in problems
    assert any(p.startswith("receipt b: WORD#000000: validation_status:") for p in problems)
    assert table in str(refused.value)


def test_unknown_labels_read_as_o_when_allowed(table: str) -> None:
    raw_put(table, receipt_item("a", 2), word_item("a", 0), word_item("a", 1, label={"S": "TIP"}))

    [receipt] = DynamoDBLabelStore(table, allow_unknown_labels=True).receipts()

    assert [w.label for w in receipt.words] == ["MERCHANT_NAME", "O"]


def test_a_receipt_with_missing_words_is_refused_and_a_put_repairs_it(table: str) -> None:
    [receipt] = receipts(1)
    store = DynamoDBLabelStore(table)
    store.put([receipt])
    # a put cut short: one word item lost
    client("dynamodb").delete_item(
        TableName=table,
        Key={"PK": {"S": f"RECEIPT#{receipt.receipt_id}"}, "SK": {"S": "WORD#000000"}},
    )

    with pytest.raises(InvalidInput, match="put the receipt again"):
        store.get(receipt.receipt_id)

    store.put([receipt])
    assert store.get(receipt.receipt_id) == receipt


def test_words_without_their_receipt_item_are_not_yet_a_receipt(table: str) -> None:
    [receipt] = receipts(1)
    store = DynamoDBLabelStore(table)
    store.put([receipt])
    raw_put(table, word_item("half-written", 0))

    assert [r.receipt_id for r in store.receipts()] == [receipt.receipt_id]
    with pytest.raises(KeyError, match="half-written"):
        store.get("half-written")


def test_empty_receipts_are_skipped_and_an_empty_table_is_refused(table: str) -> None:
    store = DynamoDBLabelStore(table)
    with pytest.raises(InvalidInput, match=r"no receipts with words \(skipped 0 empty\)"):
        list(store.receipts())

    [receipt] = receipts(1)
    empty = receipt.model_copy(update={"receipt_id": "empty", "words": ()})
    store.put([empty, receipt])

    assert list(store.receipts()) == [receipt]
    assert store.skipped_empty == 1
    assert store.get("empty") == empty


def test_a_missing_table_is_named(aws_env: dict[str, str]) -> None:
    store = DynamoDBLabelStore("no-such-labels")

    with pytest.raises(TableMissing, match="'no-such-labels'"):
        list(store.receipts())
    with pytest.raises(TableMissing, match="does not exist"):
        store.put(receipts(1))


def test_a_job_reading_a_missing_table_fails_naming_it(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECEIPTS_MODE", "aws")
    data = DataConfig(dynamo_table="no-such-labels")
    spec = TrainingSpec(job_id=uuid4(), job_name="nowhere", config=JobConfig(data=data))

    with pytest.raises(TrainingFailed, match=r"'no-such-labels' \(label store\) does not exist"):
        load_dataset(spec, reporter=None)  # type: ignore[arg-type]  # it fails before reporting


# -- train --dynamo-table ----------------------------------------------------------------------


def test_train_dynamo_table_reads_the_receipts_in_aws_mode(table: str) -> None:
    written = receipts(6, seed=11)
    DynamoDBLabelStore(table).put(written)
    data = DataConfig(dynamo_table=table, merge_amounts=True)

    store = label_store_for(data, Settings(mode="aws"))

    assert store.source == f"dynamodb://{table}"
    assert list(store.receipts()) == written
    from_dynamodb = prepare_dataset(
        list(store.receipts()), data, seed=42, o_entity_ratio=2.0, source="s"
    )
    from_memory = prepare_dataset(
        list(InMemoryLabelStore(written).receipts()), data, seed=42, o_entity_ratio=2.0, source="s"
    )
    assert from_dynamodb == from_memory


def test_train_dynamo_table_outside_aws_mode_says_so() -> None:
    with pytest.raises(InvalidInput, match=r"needs aws mode \(RECEIPTS_MODE=aws\), not local"):
        label_store_for(DataConfig(dynamo_table="labels"), Settings(mode="local"))


def test_validation_status_is_reflected_in_counts(table: str) -> None:
    written = receipts(2)
    store = DynamoDBLabelStore(table)
    store.put(written)
    labelled = next(w for w in written[1].words if w.label != "O")
    before = store.count_labels()[labelled.label]

    store.set_validation_status(
        written[1].receipt_id, labelled.word_id, ValidationStatus.NEEDS_REVIEW
    )

    after = store.count_labels()[labelled.label]
    assert after.get("NEEDS_REVIEW", 0) == before.get("NEEDS_REVIEW", 0) + 1
    assert after.get("VALID", 0) == before.get("VALID", 0) - 1
