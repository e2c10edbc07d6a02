"""Lambda `recover-jobs` (scheduled): ends every running training job whose trainer stopped
renewing its lease, as `receipts jobs recover` does: interrupted at its last whole
checkpoint, or failed without one (`application/training/leases.py`).

The schedule's event carries nothing this reads. The answer lists what was done to each
running job; a job ended elsewhere meanwhile is reported `ended`, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from receipts.application.training.leases import sweep
from receipts.bootstrap import Runtime
from receipts.domain.job import JobStatus
from receipts.entrypoints.lambdas.runtime import current_runtime

log = logging.getLogger("receipts.lambdas")


def recover(runtime: Runtime) -> dict[str, Any]:
    running = runtime.catalog().by_status(JobStatus.RUNNING)
    recoveries = sweep(runtime.jobs, [job.job_id for job in running])
    for r in recoveries:
        if r.outcome in ("interrupted", "failed"):
            log.warning("job %s %s: %s", r.name, r.outcome, r.detail)
    return {
        "statusCode": 200,
        "body": {
            "recovered": [
                {
                    "job_id": str(r.job_id),
                    "job_name": r.name,
                    "outcome": r.outcome,
                    "detail": r.detail,
                    "checkpoint_uri": r.checkpoint_uri,
                }
                for r in recoveries
            ]
        },
    }


def make_handler(
    runtime: Callable[[], Runtime] = current_runtime,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return recover(runtime())

    return handler


handler = make_handler()
