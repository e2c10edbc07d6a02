"""Several processes writing one JSONL label store (two OCR workers, a reviewer) lose
nothing, and a reader sees what another process wrote."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.synthetic.generator import generate_receipt
from receipts.domain.labels import ValidationStatus


def write_receipts(path: str, start: int, count: int) -> None:
    store = JSONLLabelStore(Path(path))
    for index in range(start, start + count):
        receipt, _ = generate_receipt(5, index)
        store.put([receipt])


def test_concurrent_writers_in_two_processes_lose_no_receipt(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=write_receipts, args=(str(path), start, 12)) for start in (0, 100)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0

    ids = {r.receipt_id for r in JSONLLabelStore(path).receipts()}
    expected = {generate_receipt(5, i)[0].receipt_id for i in [*range(12), *range(100, 112)]}
    assert ids == expected


def test_a_reader_sees_another_instances_writes_and_review(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    first, second = JSONLLabelStore(path), JSONLLabelStore(path)
    a, _ = generate_receipt(6, 0)
    b, _ = generate_receipt(6, 1)
    first.put([a])
    assert [r.receipt_id for r in second.receipts()] == [a.receipt_id]
    second.put([b])
    word = next(w for w in a.words if w.label != "O")
    second.set_validation_status(a.receipt_id, word.word_id, ValidationStatus.INVALID)

    assert {r.receipt_id for r in first.receipts()} == {a.receipt_id, b.receipt_id}
    reviewed = first.get(a.receipt_id)
    assert next(w for w in reviewed.words if w.word_id == word.word_id).validation_status is (
        ValidationStatus.INVALID
    )
