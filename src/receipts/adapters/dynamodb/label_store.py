"""Labelled receipts in the seeds' single table: a receipt item and one item per word.

| item | PK | SK | GSI2PK (labelled words only) |
|---|---|---|---|
| receipt | `RECEIPT#<receipt id>` | `RECEIPT` | |
| word (and its label) | `RECEIPT#<receipt id>` | `WORD#<word id>` | `LABEL#<label>` |
| receipt sequence | `RECEIPTS` | `SEQUENCE` | |

A word's GSI2SK is `STATUS#<status>#RECEIPT#<receipt id>#WORD#<word id>`.
A receipt item holds `receipt_id`, `source`, `width`, `height`, `image`, `fields` (a map of
strings), `word_count` and `seq` (the order receipts were first put in, kept when a receipt
is replaced). A word item holds `word_id`, `line_id`, `position` (its index in the
receipt), `text`, `box` (a list of 4 numbers), `label` and `validation_status`
(VALID | INVALID | NEEDS_REVIEW). Word ids are 6 digits in keys. Only labelled words (not
`O`) have `GSI2PK`, so GSI2 holds one entry per word label: counting labels by label and
validation status is a Query per label on GSI2 that reads keys only.

Reads: `get` is one Query on the receipt's partition; `receipts()` is a Scan of the
`RECEIPT#` items (no key is known), ordered by `seq`; `set_validation_status` one
conditional UpdateItem. `put` writes with BatchWriteItem (25 at a time, unprocessed items
retried): the words, then the receipt item, then deletes of words a replaced receipt no
longer has. The receipt item is written after its words, so a new receipt appears whole;
a receipt whose word count disagrees with its words (a put cut short while replacing it)
is refused by name on reading, and putting it again repairs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.read_model_table import MAX_ITEM_BYTES, Table, item_size
from receipts.adapters.dynamodb.read_model_table import create_table as create_single_table
from receipts.domain.boxes import BoundingBox
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import KNOWN_LABELS, OUTSIDE, ValidationStatus, unknown_labels
from receipts.domain.receipt import Receipt, Word

PURPOSE = "label store"
MAX_PROBLEMS = 10
BATCH_GET = 100


class DynamoDBLabelStore:
    """Receipts, words, labels and validation status in DynamoDB (the seeds' ReceiptWordLabel).

    Strict like the JSONL store: an item that is not a valid word (no box, an unknown label,
    a bad status), a receipt whose words are incomplete, or a table without a receipt with
    words is refused, naming the receipt and word. A receipt item over DynamoDB's 400 KB
    limit is refused before anything of that `put` is written.
    """

    def __init__(
        self, table: str, dynamodb: Any | None = None, *, allow_unknown_labels: bool = False
    ) -> None:
        self.table = Table(dynamodb or client("dynamodb"), table, PURPOSE)
        self.allow_unknown_labels = allow_unknown_labels
        self.skipped_empty = 0
        self.repaired_boxes = 0

    @property
    def source(self) -> str:
        return f"dynamodb://{self.table.name}"

    def create_table(self) -> None:
        create_single_table(self.table.db, self.table.name)

    # -- reading -------------------------------------------------------------------------

    def receipts(self) -> Iterator[Receipt]:
        items = self.table.scan(
            FilterExpression="begins_with(PK, :receipt)",
            ExpressionAttributeValues={":receipt": {"S": "RECEIPT#"}},
        )
        grouped: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            grouped.setdefault(item["PK"]["S"], []).append(item)
        problems: list[str] = []
        loaded: list[tuple[int, Receipt]] = []
        self.skipped_empty = 0
        for partition in grouped.values():
            parsed = self._parse(partition, problems)
            if parsed is None:
                continue
            seq, receipt = parsed
            if receipt.words:
                loaded.append((seq, receipt))
            else:
                self.skipped_empty += 1
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            raise InvalidInput(f"DynamoDB table {self.table.name!r}", problems[:MAX_PROBLEMS])
        if not loaded:
            raise InvalidInput(
                f"DynamoDB table {self.table.name!r}",
                [f"no receipts with words (skipped {self.skipped_empty} empty)"],
            )
        loaded.sort(key=lambda pair: pair[0])
        return iter([receipt for _, receipt in loaded])

    def get(self, receipt_id: str) -> Receipt:
        items = list(
            self.table.query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": _pk(receipt_id)}},
            )
        )
        problems: list[str] = []
        parsed = self._parse(items, problems)
        if problems:
            raise InvalidInput(f"DynamoDB table {self.table.name!r}", problems)
        if parsed is None:
            raise KeyError(f"unknown receipt {receipt_id!r} in DynamoDB table {self.table.name!r}")
        return parsed[1]

    def count_labels(self) -> dict[str, dict[str, int]]:
        """Label → validation status → words (O excluded), from GSI2 (keys only)."""
        counts: dict[str, dict[str, int]] = {}
        for label in sorted(KNOWN_LABELS):
            by_status: dict[str, int] = {}
            for item in self.table.query(
                IndexName="GSI2",
                KeyConditionExpression="GSI2PK = :label",
                ExpressionAttributeValues={":label": {"S": f"LABEL#{label}"}},
                ProjectionExpression="GSI2SK",
            ):
                status = item["GSI2SK"]["S"].split("#", 2)[1]
                by_status[status] = by_status.get(status, 0) + 1
            if by_status:
                counts[label] = by_status
        return counts

    def _parse(
        self, items: list[dict[str, Any]], problems: list[str]
    ) -> tuple[int, Receipt] | None:
        """A receipt from its partition's items; None when it has no receipt item."""
        header = next((item for item in items if item["SK"]["S"] == "RECEIPT"), None)
        if header is None:
            return None  # words of a new receipt whose put has not finished
        receipt_id = header["PK"]["S"].removeprefix("RECEIPT#")
        words: list[tuple[int, Word]] = []
        for item in items:
            if item["SK"]["S"].startswith("WORD#"):
                try:
                    words.append(self._word(item))
                except (KeyError, TypeError, ValueError) as error:
                    problems.append(f"receipt {receipt_id}: {item['SK']['S']}: {_reason(error)}")
        expected = int(header.get("word_count", {}).get("N", len(words)))
        if len(words) != expected:
            problems.append(
                f"receipt {receipt_id}: has {len(words)} word items, its receipt item says"
                f" {expected} (a put cut short? put the receipt again)"
            )
            return None
        words.sort(key=lambda pair: pair[0])
        try:
            receipt = Receipt(
                receipt_id=receipt_id,
                source=header.get("source", {}).get("S", "dynamodb"),
                width=int(header["width"]["N"]),
                height=int(header["height"]["N"]),
                words=tuple(word for _, word in words),
                image=header.get("image", {}).get("S"),
                fields={k: v["S"] for k, v in header.get("fields", {}).get("M", {}).items()},
            )
        except (KeyError, ValidationError) as error:
            problems.append(f"receipt {receipt_id}: {_reason(error)}")
            return None
        return int(header.get("seq", {}).get("N", "0")), receipt

    def _word(self, item: dict[str, Any]) -> tuple[int, Word]:
        box = [float(value["N"]) for value in item["box"]["L"]]
        if len(box) != 4:
            raise ValueError(f"box has {len(box)} numbers, not 4")
        bounding, repaired = BoundingBox.repaired(box)
        self.repaired_boxes += repaired
        label = item.get("label", {}).get("S", OUTSIDE)
        if unknown_labels([label]):
            if not self.allow_unknown_labels:
                raise ValueError(f"unknown label {label}")
            label = OUTSIDE
        word = Word(
            word_id=int(item["word_id"]["N"]),
            line_id=int(item["line_id"]["N"]),
            text=item["text"]["S"],
            box=bounding,
            label=label,
            validation_status=item["validation_status"]["S"],
        )
        return int(item["position"]["N"]), word

    # -- writing -------------------------------------------------------------------------

    def put(self, receipts: Iterable[Receipt]) -> None:
        incoming = {receipt.receipt_id: receipt for receipt in receipts}
        words = {
            rid: [_word_item(rid, i, w) for i, w in enumerate(r.words)]
            for rid, r in incoming.items()
        }
        self._check(incoming, words)
        existing = self._existing(list(incoming))
        new_ids = [rid for rid in incoming if rid not in existing]
        first = self._allocate(len(new_ids))
        seqs = {**existing, **{rid: first + n for n, rid in enumerate(new_ids)}}
        stale: list[dict[str, Any]] = []
        for rid in existing:
            keep = {item["SK"]["S"] for item in words[rid]}
            stale += [key for key in self._word_keys(rid) if key["SK"]["S"] not in keep]
        self.table.write_batch([item for items in words.values() for item in items])
        self.table.write_batch([_receipt_item(r, seqs[rid]) for rid, r in incoming.items()])
        self.table.write_batch(deletes=stale)

    def set_validation_status(
        self, receipt_id: str, word_id: int, status: ValidationStatus
    ) -> None:
        status = ValidationStatus(status)
        try:
            self.table.call(
                "update_item",
                TableName=self.table.name,
                Key={"PK": {"S": _pk(receipt_id)}, "SK": {"S": _word_sk(word_id)}},
                UpdateExpression="SET validation_status = :status, GSI2SK = :gsi2sk",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={
                    ":status": {"S": status.value},
                    ":gsi2sk": {"S": _label_sk(receipt_id, word_id, status)},
                },
            )
        except self.table.db.exceptions.ConditionalCheckFailedException:
            if self.table.get(_pk(receipt_id), "RECEIPT") is None:
                raise KeyError(
                    f"unknown receipt {receipt_id!r} in DynamoDB table {self.table.name!r}"
                ) from None
            raise KeyError(f"receipt {receipt_id!r} has no word {word_id}") from None
        self.table.writes += 1

    def _check(self, incoming: dict[str, Receipt], words: dict[str, list[dict[str, Any]]]) -> None:
        problems: list[str] = []
        for rid, receipt in incoming.items():
            unknown = unknown_labels(word.label for word in receipt.words)
            if unknown and not self.allow_unknown_labels:
                problems.append(f"receipt {rid}: unknown label {', '.join(unknown)}")
            header = _receipt_item(receipt, 0)
            for item in [header, *words[rid]]:
                size = item_size(item)
                if size > MAX_ITEM_BYTES:
                    problems.append(
                        f"receipt {rid}: its {item['SK']['S']} item is {size:,} bytes, over"
                        f" DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit"
                    )
        if problems:
            raise InvalidInput(
                f"receipts for DynamoDB table {self.table.name!r} (nothing written)", problems
            )

    def _existing(self, receipt_ids: list[str]) -> dict[str, int]:
        """The sequence numbers of the receipts that are already stored."""
        found: dict[str, int] = {}
        for start in range(0, len(receipt_ids), BATCH_GET):
            keys = [
                {"PK": {"S": _pk(rid)}, "SK": {"S": "RECEIPT"}}
                for rid in receipt_ids[start : start + BATCH_GET]
            ]
            request: dict[str, Any] = {
                self.table.name: {
                    "Keys": keys,
                    "ProjectionExpression": "PK, #seq",
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self.table.call("batch_get_item", RequestItems=request)
                for item in answer["Responses"].get(self.table.name, []):
                    found[item["PK"]["S"].removeprefix("RECEIPT#")] = int(item["seq"]["N"])
                request = answer.get("UnprocessedKeys") or {}
        return found

    def _word_keys(self, receipt_id: str) -> list[dict[str, Any]]:
        return [
            {"PK": item["PK"], "SK": item["SK"]}
            for item in self.table.query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :word)",
                ExpressionAttributeValues={
                    ":pk": {"S": _pk(receipt_id)},
                    ":word": {"S": "WORD#"},
                },
                ProjectionExpression="PK, SK",
            )
        ]

    def _allocate(self, count: int) -> int:
        """Reserves `count` sequence numbers (an atomic counter) and returns the first."""
        if count == 0:
            return 0
        answer = self.table.call(
            "update_item",
            TableName=self.table.name,
            Key={"PK": {"S": "RECEIPTS"}, "SK": {"S": "SEQUENCE"}},
            UpdateExpression="ADD next_seq :n",
            ExpressionAttributeValues={":n": {"N": str(count)}},
            ReturnValues="UPDATED_NEW",
        )
        self.table.writes += 1
        return int(answer["Attributes"]["next_seq"]["N"]) - count + 1


def _pk(receipt_id: str) -> str:
    return f"RECEIPT#{receipt_id}"


def _word_sk(word_id: int) -> str:
    return f"WORD#{word_id:06d}"


def _label_sk(receipt_id: str, word_id: int, status: ValidationStatus) -> str:
    return f"STATUS#{status.value}#RECEIPT#{receipt_id}#WORD#{word_id:06d}"


def _receipt_item(receipt: Receipt, seq: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": {"S": _pk(receipt.receipt_id)},
        "SK": {"S": "RECEIPT"},
        "TYPE": {"S": "RECEIPT"},
        "receipt_id": {"S": receipt.receipt_id},
        "source": {"S": receipt.source},
        "width": {"N": str(receipt.width)},
        "height": {"N": str(receipt.height)},
        "word_count": {"N": str(len(receipt.words))},
        "seq": {"N": str(seq)},
    }
    if receipt.image is not None:
        item["image"] = {"S": receipt.image}
    if receipt.fields:
        item["fields"] = {"M": {k: {"S": v} for k, v in receipt.fields.items()}}
    return item


def _word_item(receipt_id: str, position: int, word: Word) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": {"S": _pk(receipt_id)},
        "SK": {"S": _word_sk(word.word_id)},
        "GSI2SK": {"S": _label_sk(receipt_id, word.word_id, word.validation_status)},
        "TYPE": {"S": "WORD"},
        "word_id": {"N": str(word.word_id)},
        "line_id": {"N": str(word.line_id)},
        "position": {"N": str(position)},
        "text": {"S": word.text},
        "box": {"L": [{"N": repr(value)} for value in word.box.as_list()]},
        "label": {"S": word.label},
        "validation_status": {"S": word.validation_status.value},
    }
    if word.label != OUTSIDE:
        item["GSI2PK"] = {"S": f"LABEL#{word.label}"}
    return item


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(validation_problems(error))
    if isinstance(error, KeyError):
        return f"missing attribute {error}"
    return str(error)
