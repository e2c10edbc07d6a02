"""Labelled receipts in the seeds' single table: a receipt item and one item per word (item
keys: `keys`).

A receipt item holds `receipt_id`, `source`, `width`, `height`, `image`, `fields` (a map of
strings), `word_count` and `seq` (the order receipts were first put in, kept when a receipt
is replaced). A word item holds `word_id`, `line_id`, `position` (its index in the
receipt), `text`, `box` (a list of 4 numbers), `label` and `validation_status`
(VALID | INVALID | NEEDS_REVIEW). Counting labels by label and validation status is a Query
per label on GSI2 that reads keys only.

Reads: `get` is one Query on the receipt's partition; `receipts()` is a Scan of the
`RECEIPT#` items (no key is known), ordered by `seq`; `set_validation_status` one
conditional UpdateItem. `put` writes with BatchWriteItem (25 at a time, unprocessed items
retried): the words, then the receipt item, then deletes of words a replaced receipt no
longer has. The receipt item is written after its words, so a new receipt appears whole;
a receipt whose word count disagrees with its words (a put cut short while replacing it)
is refused by name on reading, and putting it again repairs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb import keys
from receipts.adapters.dynamodb.table import (
    MAX_ITEM_BYTES,
    Item,
    Table,
    from_item,
    item_size,
    to_item,
)
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
        self.table.create(indexes=keys.INDEXES)

    # -- reading -------------------------------------------------------------------------

    def receipts(self) -> Iterator[Receipt]:
        items = self.table.items(
            "scan",
            FilterExpression="begins_with(PK, :receipt)",
            ExpressionAttributeValues=to_item({":receipt": keys.RECEIPT}),
        )
        grouped: dict[str, list[dict[str, Any]]] = {}
        for item in map(from_item, items):
            grouped.setdefault(item["PK"], []).append(item)
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
        items = self.table.query("PK = :pk", {":pk": keys.receipt_partition(receipt_id)})
        problems: list[str] = []
        parsed = self._parse([from_item(item) for item in items], problems)
        if problems:
            raise InvalidInput(f"DynamoDB table {self.table.name!r}", problems)
        if parsed is None:
            raise KeyError(f"unknown receipt {receipt_id!r} in DynamoDB table {self.table.name!r}")
        return parsed[1]

    def count_labels(self) -> dict[str, dict[str, int]]:
        """Label → validation status → words (O excluded), from GSI2 (keys only)."""
        counts: dict[str, dict[str, int]] = {}
        for label in sorted(KNOWN_LABELS):
            values = {":label": keys.labelled(label)}
            items = self.table.query(
                "GSI2PK = :label", values, index="GSI2", ProjectionExpression="GSI2SK"
            )
            by_status = Counter(keys.status_of(from_item(item)["GSI2SK"]) for item in items)
            if by_status:
                counts[label] = dict(by_status)
        return counts

    def _parse(
        self, items: list[dict[str, Any]], problems: list[str]
    ) -> tuple[int, Receipt] | None:
        """A receipt from its partition's items (Python values); None when it has no receipt
        item."""
        header = next((item for item in items if item["SK"] == "RECEIPT"), None)
        if header is None:
            return None  # words of a new receipt whose put has not finished
        receipt_id = keys.receipt_id_of(header["PK"])
        words: list[tuple[int, Word]] = []
        for item in items:
            if item["SK"].startswith(keys.WORD):
                try:
                    words.append(self._word(item))
                except (KeyError, TypeError, ValueError) as error:
                    problems.append(f"receipt {receipt_id}: {item['SK']}: {_reason(error)}")
        expected = int(header.get("word_count", len(words)))
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
                source=header.get("source", "dynamodb"),
                width=header["width"],
                height=header["height"],
                words=tuple(word for _, word in words),
                image=header.get("image"),
                fields=header.get("fields", {}),
            )
        except (KeyError, ValidationError) as error:
            problems.append(f"receipt {receipt_id}: {_reason(error)}")
            return None
        return int(header.get("seq", 0)), receipt

    def _word(self, item: dict[str, Any]) -> tuple[int, Word]:
        box = [float(value) for value in item["box"]]
        if len(box) != 4:
            raise ValueError(f"box has {len(box)} numbers, not 4")
        bounding, repaired = BoundingBox.repaired(box)
        self.repaired_boxes += repaired
        label = item.get("label", OUTSIDE)
        if unknown_labels([label]):
            if not self.allow_unknown_labels:
                raise ValueError(f"unknown label {label}")
            label = OUTSIDE
        word = Word(
            word_id=item["word_id"],
            line_id=item["line_id"],
            text=item["text"],
            box=bounding,
            label=label,
            validation_status=item["validation_status"],
        )
        return int(item["position"]), word

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
        stale: list[Item] = []
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
        values = {
            ":status": status.value,
            ":gsi2sk": keys.label_sort_key(receipt_id, word_id, status),
        }
        try:
            self.table.update(
                keys.word_key(receipt_id, word_id),
                "SET validation_status = :status, GSI2SK = :gsi2sk",
                values,
                ConditionExpression="attribute_exists(PK)",
            )
        except self.table.db.exceptions.ConditionalCheckFailedException:
            if self.table.get(keys.receipt_key(receipt_id)) is None:
                raise KeyError(
                    f"unknown receipt {receipt_id!r} in DynamoDB table {self.table.name!r}"
                ) from None
            raise KeyError(f"receipt {receipt_id!r} has no word {word_id}") from None

    def _check(self, incoming: dict[str, Receipt], words: dict[str, list[Item]]) -> None:
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
            request: dict[str, Any] = {
                self.table.name: {
                    "Keys": [
                        to_item(keys.receipt_key(rid))
                        for rid in receipt_ids[start : start + BATCH_GET]
                    ],
                    "ProjectionExpression": "PK, #seq",
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self.table.call("batch_get_item", RequestItems=request)
                for item in map(from_item, answer["Responses"].get(self.table.name, [])):
                    found[keys.receipt_id_of(item["PK"])] = int(item["seq"])
                request = answer.get("UnprocessedKeys") or {}
        return found

    def _word_keys(self, receipt_id: str) -> list[Item]:
        values = {":pk": keys.receipt_partition(receipt_id), ":word": keys.WORD}
        condition = "PK = :pk AND begins_with(SK, :word)"
        return list(self.table.query(condition, values, ProjectionExpression="PK, SK"))

    def _allocate(self, count: int) -> int:
        """Reserves `count` sequence numbers (an atomic counter) and returns the first."""
        if count == 0:
            return 0
        answer = self.table.update(
            keys.SEQUENCE_KEY, "ADD next_seq :n", {":n": count}, ReturnValues="UPDATED_NEW"
        )
        return int(from_item(answer["Attributes"])["next_seq"]) - count + 1


def _receipt_item(receipt: Receipt, seq: int) -> Item:
    return to_item(
        {
            **keys.receipt_key(receipt.receipt_id),
            "TYPE": "RECEIPT",
            "receipt_id": receipt.receipt_id,
            "source": receipt.source,
            "width": receipt.width,
            "height": receipt.height,
            "word_count": len(receipt.words),
            "seq": seq,
            "image": receipt.image,
            "fields": receipt.fields or None,
        }
    )


def _word_item(receipt_id: str, position: int, word: Word) -> Item:
    return to_item(
        {
            **keys.word_keys(receipt_id, word),
            "TYPE": "WORD",
            "word_id": word.word_id,
            "line_id": word.line_id,
            "position": position,
            "text": word.text,
            "box": word.box.as_list(),
            "label": word.label,
            "validation_status": word.validation_status.value,
        }
    )


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(validation_problems(error))
    if isinstance(error, KeyError):
        return f"missing attribute {error}"
    return str(error)
