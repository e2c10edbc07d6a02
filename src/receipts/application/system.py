"""The system of applications: who follows whom."""

from __future__ import annotations

from eventsourcing.system import System

from receipts.application.dispatch import QueueDispatcher
from receipts.application.exports import Exports
from receipts.application.jobs import Jobs
from receipts.application.ocr_jobs import OCRJobs

APPLICATIONS = (Jobs, Exports, OCRJobs, QueueDispatcher)

RECEIPTS_SYSTEM = System(
    pipes=[
        [Jobs, Exports, QueueDispatcher],
        [OCRJobs, QueueDispatcher],
    ]
)
