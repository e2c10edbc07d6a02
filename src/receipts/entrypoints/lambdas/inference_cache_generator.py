"""Lambda `inference-cache-generator` (seed 002, scheduled): a receipt with VALID labels →
the model → `layoutlm-inference-cache/latest.json` (and a per-receipt copy).

The event may name a receipt (`{"receipt_id": "..."}`) or a seed for the random pick
(`{"seed": 3}`); the schedule sends neither, so each run picks afresh. A data set with no
VALID label, or an unknown receipt, is answered with a 404 body and logged (the schedule
has nothing to retry); a model that cannot be loaded raises, so the run fails and alarms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from receipts.application.inference.cache import (
    NoGroundTruth,
    NoLabelledReceipts,
    ReceiptNotFound,
)
from receipts.bootstrap import Runtime
from receipts.bootstrap.inference import ReportsFactory, reports_from_env
from receipts.entrypoints.lambdas.runtime import current_runtime

log = logging.getLogger("receipts.lambdas")


def generate(
    event: Mapping[str, Any], runtime: Runtime, reports: ReportsFactory = reports_from_env
) -> dict[str, Any]:
    receipt_id = event.get("receipt_id") or event.get("image_id")
    seed = event.get("seed")
    if not isinstance(receipt_id, str | None):
        return _refused(f"receipt_id: expected text, got {receipt_id!r}")
    try:
        seed = int(seed) if seed is not None else None
    except (TypeError, ValueError):
        return _refused(f"seed: expected a whole number, got {seed!r}")
    try:
        outcome = reports(runtime).generate(receipt_id or None, seed=seed)
    except (ReceiptNotFound, NoGroundTruth, NoLabelledReceipts) as error:
        log.warning("inference cache not updated: %s", error)
        return {"statusCode": 404, "body": {"error": str(error)}}
    response = outcome.response
    log.info(
        "inference cache updated: receipt %s, accuracy %.3f, %s",
        response.receipt_id,
        response.metrics.overall_accuracy,
        ", ".join(outcome.stored),
    )
    return {
        "statusCode": 200,
        "body": {
            "message": "Cache updated",
            "receipt_id": response.receipt_id,
            "overall_accuracy": response.metrics.overall_accuracy,
            "cached_at": response.model_dump(mode="json")["cached_at"],
            "stored": list(outcome.stored),
        },
    }


def _refused(problem: str) -> dict[str, Any]:
    log.warning("inference cache not updated: %s", problem)
    return {"statusCode": 400, "body": {"error": problem}}


def make_handler(
    runtime: Callable[[], Runtime] = current_runtime, reports: ReportsFactory = reports_from_env
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            return _refused("the event is not a JSON object")
        return generate(event, runtime(), reports)

    return handle


handler = make_handler()
