"""The export worker's use case: one queue message → one exported, stored bundle.

Idempotent by export_id: a duplicate delivery of a running or finished export never
exports twice, and a redelivery of a finished export re-sends its result message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from uuid import UUID

from receipts.application.exports import Exports
from receipts.application.messages import ExportMessage, ExportResultMessage
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.exporter import Exporter
from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.errors import ExportJobNotFound, InvalidInput
from receipts.domain.export_job import ExportJob, ExportOutcome, ExportRequest, ExportStatus

Handled = Literal["exported", "failed", "duplicate", "resent", "poison"]


class Scratch:
    """A worker's scratch tree (`checkpoint/`, `bundle/`), emptied before and after each export.

    Making and removing a temporary tree for every export costs more than the export's
    own files on many disks. A worker handles one message at a time, so it reuses one tree;
    an export that runs while another holds it (the same worker used from two threads)
    gets a fresh temporary tree as before. The tree is removed when the worker is
    collected or the process exits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._dirty = True  # whether the tree may hold anything (from an earlier export)

    @contextmanager
    def dirs(self) -> Iterator[tuple[Path, Path]]:
        """(checkpoint_dir, bundle_dir): both exist and are empty."""
        if not self._lock.acquire(blocking=False):
            with tempfile.TemporaryDirectory(prefix="receipts-export-") as work:
                checkpoint, bundle = Path(work) / "checkpoint", Path(work) / "bundle"
                bundle.mkdir()
                yield checkpoint, bundle
            return
        try:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="receipts-export-"))
                weakref.finalize(self, shutil.rmtree, self._root, ignore_errors=True)
            checkpoint, bundle = self._root / "checkpoint", self._root / "bundle"
            if self._dirty:  # an earlier cleanup failed: empty the tree first
                _empty(checkpoint)
                _empty(bundle)
            self._dirty = True
            try:
                yield checkpoint, bundle
            finally:
                _empty(checkpoint)
                _empty(bundle)
                self._dirty = False
        finally:
            self._lock.release()


def _empty(directory: Path) -> None:
    """Makes `directory` (and its parents) exist, with nothing in it."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        directory.mkdir(parents=True)
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            Path(entry.path).unlink()


@dataclass
class ExportWorker:
    exports: Exports
    jobs_queue: MessageQueue
    results_queue: MessageQueue | None
    artifacts: ArtifactStore
    exporter: Exporter
    worker_name: str = "export-worker"
    visibility_timeout: float = 900.0
    scratch: Scratch = field(default_factory=Scratch, compare=False, repr=False)

    def run_once(self, wait_seconds: float = 0.0) -> list[Handled]:
        messages = self.jobs_queue.receive(
            max_messages=1, wait_seconds=wait_seconds, visibility_timeout=self.visibility_timeout
        )
        return [self.handle(message) for message in messages]

    def drain(self, max_messages: int = 10_000) -> list[Handled]:
        """Handles messages until the queue has none visible."""
        handled: list[Handled] = []
        while len(handled) < max_messages:
            batch = self.run_once()
            if not batch:
                break
            handled += batch
        return handled

    def handle(self, message: QueueMessage) -> Handled:
        try:
            request = ExportMessage.parse(message.body)
        except InvalidInput:
            # No export to mark failed: leave it; the queue's redrive moves it to the DLQ.
            return "poison"
        export = self._export_for(request)
        if export.is_terminal:
            self._send_result(export)
            self.jobs_queue.delete(message.receipt_handle)
            return "resent"
        if export.status is ExportStatus.RUNNING and message.receive_count <= export.attempts:
            # another worker holds this export right now
            return "duplicate"
        self.exports.start_export(export.id, self.worker_name)
        try:
            outcome = self._export(export)
        except Exception as error:
            finished = self.exports.fail_export(export.id, f"{type(error).__name__}: {error}")
        else:
            finished = self.exports.complete_export(export.id, outcome)
        self._send_result(finished)
        self.jobs_queue.delete(message.receipt_handle)
        return "exported" if finished.status is ExportStatus.SUCCEEDED else "failed"

    def _export_for(self, request: ExportMessage) -> ExportJob:
        try:
            return self.exports.get_export(request.export_id)
        except ExportJobNotFound:
            # a message sent by hand (the seeds' `aws sqs send-message`): record it first
            job_id = request.job_uuid or _uuid_or_none(request.job_id)
            self.exports.request_export(
                ExportRequest(
                    source_job_id=job_id,
                    source_job_name=None if _uuid_or_none(request.job_id) else request.job_id,
                    checkpoint_uri=request.model_uri,
                    quantization=request.quantize,
                    output_prefix=request.output_prefix,
                ),
                export_id=request.export_id,
            )
            return self.exports.get_export(request.export_id)

    def _export(self, export: ExportJob) -> ExportOutcome:
        started = time.perf_counter()
        request = export.request
        source = str(ArtifactURI.parse(request.checkpoint_uri).as_prefix())
        target = str(
            ArtifactURI.parse(request.output_prefix).join(request.quantization.value).as_prefix()
        )
        with self.scratch.dirs() as (checkpoint_dir, bundle_dir):
            if not self.artifacts.download_dir(source, checkpoint_dir):
                raise FileNotFoundError(f"no checkpoint files under {source}")
            report = self.exporter.export(checkpoint_dir, bundle_dir, request.quantization)
            self.artifacts.upload_dir(bundle_dir, target)
        return ExportOutcome(
            bundle_uri=target,
            file_sizes=report.file_sizes,
            total_bytes=sum(report.file_sizes.values()),
            duration_seconds=time.perf_counter() - started,
            validation=report.validation,
        )

    def _send_result(self, export: ExportJob) -> None:
        if self.results_queue is None:
            return
        request = export.request
        result = ExportResultMessage(
            export_id=export.id,
            job_id=str(request.source_job_name or request.source_job_id or ""),
            job_uuid=request.source_job_id,
            status=export.status.value,
            bundle_uri=export.outcome.bundle_uri if export.outcome else None,
            total_bytes=export.outcome.total_bytes if export.outcome else None,
            error=export.error,
        )
        self.results_queue.send(result.body())


def _uuid_or_none(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
