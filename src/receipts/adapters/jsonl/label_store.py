"""Receipts from a JSONL file, one receipt a line (the format of shared/datasets)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock
from pydantic import ValidationError

from receipts.application.ports.label_store import MAX_RECEIPT_WORDS, MAX_RECORD_BYTES
from receipts.domain.boxes import BoundingBox
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import OUTSIDE, ValidationStatus, unknown_labels
from receipts.domain.receipt import Receipt, Word, count_labels

MAX_PROBLEMS = 10


class JSONLLabelStore:
    """Reads (and writes) receipts as JSON lines.

    Loading is strict: a line that is not UTF-8 JSON, a receipt without a `words` list, a
    word without a usable box, an unknown label or a duplicate receipt id is refused with the
    line number, and nothing loads. So is a line over `max_line_bytes` (it is skipped
    without being read into memory whole) and a receipt of more than `max_words` words.
    Receipts whose `words` is empty are skipped and counted (`skipped_empty`).

    Writes (`put`, `set_validation_status`) hold an exclusive lock on a sibling
    `.<name>.lock` file (`filelock`: flock on POSIX, msvcrt on Windows), re-read the file
    and replace it whole, so several processes (two OCR workers, a reviewer) never lose
    each other's records; reads see another process's writes because the cache is keyed by
    the file's modification stamp.
    """

    def __init__(
        self,
        path: Path,
        *,
        allow_unknown_labels: bool = False,
        max_line_bytes: int = MAX_RECORD_BYTES,
        max_words: int = MAX_RECEIPT_WORDS,
    ) -> None:
        self.path = Path(path)
        self.allow_unknown_labels = allow_unknown_labels
        self.max_line_bytes = max_line_bytes
        self.max_words = max_words
        self.skipped_empty = 0
        self.repaired_boxes = 0
        self._cache: dict[str, Receipt] | None = None
        self._stamp: tuple[int, int] | None = None

    @property
    def source(self) -> str:
        return str(self.path)

    def receipts(self) -> Iterator[Receipt]:
        return iter(list(self._load().values()))

    def get(self, receipt_id: str) -> Receipt:
        try:
            return self._load()[receipt_id]
        except KeyError:
            raise KeyError(f"unknown receipt {receipt_id!r} in {self.path}") from None

    def count_labels(self) -> dict[str, dict[str, int]]:
        return count_labels(list(self.receipts()))

    def put(self, receipts: Iterable[Receipt]) -> None:
        incoming = list(receipts)
        with self._locked():
            self._put(incoming)

    def set_validation_status(
        self, receipt_id: str, word_id: int, status: ValidationStatus
    ) -> None:
        with self._locked():
            receipt = self.get(receipt_id)
            if not any(word.word_id == word_id for word in receipt.words):
                raise KeyError(f"receipt {receipt_id!r} has no word {word_id}")
            words = tuple(
                w.model_copy(update={"validation_status": status}) if w.word_id == word_id else w
                for w in receipt.words
            )
            self._put([receipt.model_copy(update={"words": words})])

    def _put(self, receipts: Iterable[Receipt]) -> None:
        loaded = dict(self._load()) if self.path.exists() else {}
        for receipt in receipts:
            loaded[receipt.receipt_id] = receipt
        self._write(loaded.values())
        self._cache = loaded
        self._stamp = self._file_stamp()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # thread_local=False: the lock guards the file, whichever thread of a worker holds it
        with FileLock(self.path.with_name(f".{self.path.name}.lock"), thread_local=False):
            yield

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _write(self, receipts: Iterable[Receipt]) -> None:
        temp = self.path.with_name(f".{self.path.name}.partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("w", encoding="utf-8") as out:
            for receipt in receipts:
                out.write(json.dumps(to_record(receipt), ensure_ascii=False) + "\n")
        temp.replace(self.path)

    def _load(self) -> dict[str, Receipt]:
        if self._cache is not None and self._stamp == self._file_stamp():
            return self._cache
        self._stamp = self._file_stamp()
        if not self.path.exists():
            raise InvalidInput("data set", [f"{self.path}: no such file"])
        if not self.path.is_file():
            raise InvalidInput("data set", [f"{self.path}: not a file (a JSONL file is needed)"])
        self.skipped_empty = 0
        self.repaired_boxes = 0
        problems: list[str] = []
        loaded: dict[str, Receipt] = {}
        with self.path.open("rb") as lines:
            for number, line in enumerate(self._lines(lines), start=1):
                if line is not None and not line.strip():
                    continue
                try:
                    receipt = self._parse(line)
                except ValueError as error:
                    problems.append(f"line {number}: {error}")
                    if len(problems) >= MAX_PROBLEMS:
                        break
                    continue
                if receipt is None:
                    self.skipped_empty += 1
                elif receipt.receipt_id in loaded:
                    problems.append(f"line {number}: duplicate receipt id {receipt.receipt_id!r}")
                else:
                    loaded[receipt.receipt_id] = receipt
        if problems:
            raise InvalidInput(f"data set {self.path}", problems)
        if not loaded:
            raise InvalidInput(
                f"data set {self.path}",
                [f"no receipts with words (skipped {self.skipped_empty} empty)"],
            )
        self._cache = loaded
        return loaded

    def _lines(self, file: BinaryIO) -> Iterator[bytes | None]:
        """Each line of the file; None for one over `max_line_bytes`, which is read past in
        pieces of that size, never whole."""
        limit = self.max_line_bytes
        while line := file.readline(limit + 1):
            if len(line) <= limit or line.endswith(b"\n"):
                yield line
                continue
            while (rest := file.readline(limit)) and not rest.endswith(b"\n"):
                pass
            yield None

    def _parse(self, line: bytes | None) -> Receipt | None:
        if line is None:
            raise ValueError(
                f"longer than {self.max_line_bytes:,} bytes (RECEIPTS_MAX_JSONL_LINE_BYTES)"
            )
        try:
            record: Any = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"not UTF-8 (byte {error.start + 1} of the line)") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise ValueError("expected a JSON object")
        receipt_id = str(record.get("receipt_id") or "")
        if not receipt_id:
            raise ValueError("missing receipt_id")
        raw_words = record.get("words")
        if not isinstance(raw_words, list):
            got = "no words" if raw_words is None else f"words is a {type(raw_words).__name__}"
            raise ValueError(
                f"receipt {receipt_id}: {got}; expected a list of words"
                ' (an empty receipt has "words": [])'
            )
        if not raw_words:
            return None
        if len(raw_words) > self.max_words:
            raise ValueError(
                f"receipt {receipt_id}: {len(raw_words):,} words, over the limit of"
                f" {self.max_words:,} (RECEIPTS_MAX_RECEIPT_WORDS)"
            )
        words = []
        for index, raw in enumerate(raw_words):
            words.append(self._word(receipt_id, index, raw))
        labels = [w.label for w in words]
        unknown = unknown_labels(labels)
        if unknown and not self.allow_unknown_labels:
            raise ValueError(f"receipt {receipt_id}: unknown label {', '.join(unknown)}")
        if unknown:
            words = [
                w.model_copy(update={"label": OUTSIDE}) if w.label in unknown else w for w in words
            ]
        try:
            return Receipt(
                receipt_id=receipt_id,
                source=str(record.get("source", "jsonl")),
                width=record.get("width"),
                height=record.get("height"),
                words=tuple(words),
                image=record.get("image"),
                fields={k: str(v) for k, v in (record.get("fields") or {}).items()},
            )
        except ValidationError as error:
            raise ValueError(
                f"receipt {receipt_id}: " + "; ".join(validation_problems(error))
            ) from None

    def _word(self, receipt_id: str, index: int, raw: Any) -> Word:
        if not isinstance(raw, dict):
            raise ValueError(f"receipt {receipt_id}: word {index} is not an object")
        box = raw.get("box")
        if not isinstance(box, list) or len(box) != 4:
            raise ValueError(f"receipt {receipt_id}: word {index} ({raw.get('text')!r}) has no box")
        try:
            bounding, repaired = BoundingBox.repaired([float(v) for v in box])
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"receipt {receipt_id}: word {index} has a bad box {box}: {error}"
            ) from None
        self.repaired_boxes += repaired
        status = raw.get("validation_status", ValidationStatus.VALID.value)
        try:
            return Word(
                word_id=raw.get("word_id", index),
                line_id=raw.get("line_id", 0),
                text=str(raw.get("text", "")),
                box=bounding,
                label=str(raw.get("label") or OUTSIDE),
                validation_status=status,
            )
        except ValidationError as error:
            raise ValueError(
                f"receipt {receipt_id}: word {index}: " + "; ".join(validation_problems(error))
            ) from None


def to_record(receipt: Receipt) -> dict[str, Any]:
    record: dict[str, Any] = {
        "receipt_id": receipt.receipt_id,
        "source": receipt.source,
        "width": receipt.width,
        "height": receipt.height,
        "words": [
            {
                "text": w.text,
                "box": w.box.as_list(),
                "line_id": w.line_id,
                "word_id": w.word_id,
                "label": w.label,
                "validation_status": w.validation_status.value,
            }
            for w in receipt.words
        ],
    }
    if receipt.image:
        record["image"] = receipt.image
    if receipt.fields:
        record["fields"] = receipt.fields
    return record
