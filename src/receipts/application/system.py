"""The system of applications: who follows whom."""

from __future__ import annotations

from functools import cache

from eventsourcing.system import System

from receipts.application.event_sourcing.dispatch import QueueDispatcher
from receipts.application.export.exports import Exports
from receipts.application.ocr.ocr_jobs import OCRJobs
from receipts.application.training.jobs import Jobs

APPLICATIONS = (Jobs, Exports, OCRJobs, QueueDispatcher)

RECEIPTS_SYSTEM: System
"""The system (built on first use: defining it scans every loaded module for its topic)."""


@cache
def receipts_system() -> System:
    system = System(
        pipes=[
            [Jobs, Exports, QueueDispatcher],
            [OCRJobs, QueueDispatcher],
        ]
    )
    globals()["RECEIPTS_SYSTEM"] = system  # the module attribute that names its topic
    return system


def __getattr__(name: str) -> System:
    if name == "RECEIPTS_SYSTEM":
        return receipts_system()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
