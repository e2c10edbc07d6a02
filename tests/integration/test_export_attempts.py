"""Export attempts under races and crashes, on the memory and SQLite queues: two workers
on one export, a crash between success and publishing, the dead-letter queue, an
operator's retry and scratch trees of dead processes. Visibility expiry is driven by a
fake clock, so nothing here waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from receipts.adapters.archives import SafeTarExtractor
from receipts.adapters.memory.queue import InMemoryQueue
from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.adapters.sqlite.queue import SQLiteQueue
from receipts.application.export.dead_letters import fail_dead_letters
from receipts.application.export.export_worker import ExportWorker
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.exporter import BundleReport
from receipts.application.ports.queue import MessageQueue
from receipts.application.queueing.scratch import sweep_stale_scratch
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.errors import IllegalTransition
from receipts.domain.export_job import ExportRequest, ExportStatus
from receipts.domain.quantization import Quantization
from receipts.settings import Settings

VISIBILITY = 5.0
CONFIG = json.dumps({"model_type": "layoutlm", "id2label": {"0": "O"}}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "local"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode=request.param, home=tmp_path, max_receive_count=3))
    yield runtime
    runtime.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dead_letters(runtime: Runtime, clock: Clock) -> MessageQueue:
    if runtime.settings.mode == "memory":
        return InMemoryQueue("race-dlq", clock=clock)
    return SQLiteQueue(runtime.settings.queue_db, "race-dlq", clock=clock)


@pytest.fixture
def queue(runtime: Runtime, clock: Clock, dead_letters: MessageQueue) -> MessageQueue:
    """A jobs queue whose visibility timeouts run on `clock`, with a dead-letter queue."""
    options: dict[str, Any] = {
        "visibility_timeout": VISIBILITY,
        "max_receive_count": 3,
        "clock": clock,
    }
    if runtime.settings.mode == "memory":
        return InMemoryQueue("race", dead_letter_queue=dead_letters, **options)
    assert isinstance(dead_letters, SQLiteQueue)
    return SQLiteQueue(runtime.settings.queue_db, "race", dead_letter_queue=dead_letters, **options)


class MarkingExporter(SimulatedExporter):
    """Writes `made-by.txt` naming its call; `during` runs inside the first call (while
    that attempt is still exporting)."""

    name = "marking"

    def __init__(self) -> None:
        self.calls = 0
        self.during: Any = None

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        self.calls += 1
        call = self.calls
        if call == 1 and self.during is not None:
            self.during()
        (bundle_dir / "made-by.txt").write_text(f"call {call}")
        report = super().export(checkpoint_dir, bundle_dir, quantization)
        return BundleReport(file_sizes={**report.file_sizes, "made-by.txt": 6})


class CrashOnPublish:
    """The store, except that the first publish dies (the process ends there)."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.scheme = store.scheme
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def publish_dir(self, staging: str, prefix: str) -> bool:
        if not self.crashed:
            self.crashed = True
            raise SystemError("killed before publishing")
        return self.store.publish_dir(staging, prefix)


def worker(
    runtime: Runtime, queue: MessageQueue, exporter: Any, name: str, **options: Any
) -> ExportWorker:
    return ExportWorker(
        exports=runtime.exports,
        jobs_queue=queue,
        results_queue=runtime.queues.export_results,
        artifacts=options.pop("artifacts", runtime.artifacts),
        exporter=exporter,
        worker_name=name,
        visibility_timeout=VISIBILITY,
        heartbeat_every=0,  # the reproduction: no visibility extension
        extractor=SafeTarExtractor(),
        **options,
    )


def export_request(runtime: Runtime) -> ExportRequest:
    return ExportRequest(
        source_job_name="race",
        checkpoint_uri=runtime.artifacts_uri("runs/race/best/"),
        output_prefix=runtime.artifacts_uri("runs/race/coreml/"),
        requested_by="queue",
    )


def send_request(runtime: Runtime, queue: MessageQueue) -> UUID:
    """A message sent by hand, with the checkpoint it names."""
    request = export_request(runtime)
    for name, data in (("config.json", CONFIG), ("model.safetensors", b"w"), ("vocab.txt", b"a")):
        runtime.artifacts.put_bytes(request.checkpoint_uri + name, data)
    export_id = uuid4()
    body = {
        "export_id": str(export_id),
        "job_id": "race",
        "model_s3_uri": request.checkpoint_uri,
        "output_s3_prefix": request.output_prefix,
    }
    queue.send(json.dumps(body))
    return export_id


def stored(runtime: Runtime, prefix: str) -> dict[str, bytes]:
    return {
        uri.removeprefix(prefix): runtime.artifacts.get_bytes(uri)
        for uri in runtime.artifacts.list(prefix)
    }


def results(runtime: Runtime) -> list[dict[str, Any]]:
    messages = runtime.queues.export_results.receive(max_messages=10)
    return [json.loads(message.body) for message in messages]


def test_two_workers_on_one_export_publish_only_the_winning_attempt(
    runtime: Runtime, queue: MessageQueue, clock: Clock
) -> None:
    export_id = send_request(runtime, queue)
    exporter = MarkingExporter()
    first = worker(runtime, queue, exporter, "worker-a")
    second = worker(runtime, queue, exporter, "worker-b")
    handled_by_second: list[str] = []

    def visibility_expires_and_another_worker_takes_it() -> None:
        clock.now += VISIBILITY + 1
        handled_by_second.extend(second.run_once())

    exporter.during = visibility_expires_and_another_worker_takes_it

    assert first.run_once() == ["stale"]  # it finished last: its attempt had been replaced

    assert handled_by_second == ["exported"]
    assert exporter.calls == 2  # the export ran twice concurrently ...
    export = runtime.exports.get_export(export_id)
    assert (export.status, export.attempts, export.worker) == (
        ExportStatus.SUCCEEDED,
        2,
        "worker-b",
    )
    bundle = export.request.bundle_prefix()
    assert stored(runtime, bundle)["made-by.txt"] == b"call 2"  # ... the winner's is kept
    output = runtime.artifacts_uri("runs/race/coreml/")
    assert {uri.removeprefix(output).split("/")[0] for uri in runtime.artifacts.list(output)} <= {
        "float16",
        ".float16.publishing",  # the local store's publish lock file
    }
    assert [r["status"] for r in results(runtime)] == ["succeeded"]
    assert queue.approximate_count() == 0


class RecordingUploads:
    """The store, recording where each directory tree is uploaded."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.scheme = store.scheme
        self.uploads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def upload_dir(self, directory: Path, prefix: str) -> list[str]:
        self.uploads.append(prefix)
        return self.store.upload_dir(directory, prefix)


def test_attempts_upload_only_to_their_staging_never_to_the_published_bundle(
    runtime: Runtime, queue: MessageQueue
) -> None:
    export_id = send_request(runtime, queue)
    recording = RecordingUploads(runtime.artifacts)
    exporting = worker(runtime, queue, MarkingExporter(), "worker-a", artifacts=recording)

    assert exporting.run_once() == ["exported"]

    export = runtime.exports.get_export(export_id)
    assert recording.uploads == [export.request.staging_prefix(export_id, 1)]
    bundle = export.request.bundle_prefix()
    assert set(stored(runtime, bundle)) == {
        "config.json",
        "label_map.json",
        "manifest.json",
        "made-by.txt",
    }
    assert runtime.artifacts.list(export.request.staging_root(export_id)) == []
    if runtime.settings.mode == "local":
        assert not list(runtime.settings.artifacts_dir.rglob(".~partial-*"))


def test_a_crash_between_success_and_publishing_is_finished_by_the_redelivery(
    runtime: Runtime, queue: MessageQueue, clock: Clock
) -> None:
    export_id = send_request(runtime, queue)
    crashing = CrashOnPublish(runtime.artifacts)
    dying = worker(runtime, queue, MarkingExporter(), "worker-a", artifacts=crashing)

    assert dying.run_once() == ["error"]  # (a real kill: the process would end here)
    export = runtime.exports.get_export(export_id)
    assert export.status is ExportStatus.SUCCEEDED
    bundle = export.request.bundle_prefix()
    assert stored(runtime, bundle) == {}  # succeeded but not yet published: nothing visible

    clock.now += VISIBILITY + 1
    assert worker(runtime, queue, MarkingExporter(), "worker-b").run_once() == ["resent"]

    assert stored(runtime, bundle)["made-by.txt"] == b"call 1"
    assert runtime.artifacts.list(export.request.staging_root(export_id)) == []
    assert queue.approximate_count() == 0


def test_a_success_left_unpublished_until_its_message_reached_the_dlq_is_published_by_the_sweep(
    runtime: Runtime, queue: MessageQueue, dead_letters: MessageQueue, clock: Clock
) -> None:
    export_id = send_request(runtime, queue)
    crashing = CrashOnPublish(runtime.artifacts)
    assert worker(runtime, queue, MarkingExporter(), "a", artifacts=crashing).run_once() == [
        "error"
    ]
    for _ in range(3):  # every later delivery dies before it gets to publish
        clock.now += VISIBILITY + 1
        queue.receive(max_messages=10)
    clock.now += VISIBILITY + 1
    assert queue.receive(max_messages=10) == []  # in the dead-letter queue now
    export = runtime.exports.get_export(export_id)
    assert stored(runtime, export.request.bundle_prefix()) == {}

    seen = fail_dead_letters(runtime.exports, runtime.artifacts, dead_letters, deliveries=3)

    assert seen.ended == [export_id] and seen.failed == []
    assert runtime.exports.get_export(export_id).status is ExportStatus.SUCCEEDED
    assert stored(runtime, export.request.bundle_prefix())["made-by.txt"] == b"call 1"
    assert runtime.artifacts.list(export.request.staging_root(export_id)) == []


def test_an_export_whose_message_reached_the_dlq_fails_with_the_reason_and_can_be_retried(
    runtime: Runtime, queue: MessageQueue, dead_letters: MessageQueue, clock: Clock
) -> None:
    export_id = send_request(runtime, queue)
    queue.send("{not an export request")
    for _ in range(3):  # each delivery's worker dies mid-export: the message comes back
        for message in queue.receive(max_messages=10):
            if "export_id" in message.body:
                runtime.exports.request_export(export_request(runtime), export_id=export_id)
                runtime.exports.start_export(export_id, "worker-that-dies")
        clock.now += VISIBILITY + 1
    assert queue.receive(max_messages=10) == []  # both moved to the dead-letter queue
    assert runtime.exports.get_export(export_id).status is ExportStatus.RUNNING

    dead = fail_dead_letters(runtime.exports, runtime.artifacts, dead_letters, deliveries=3)
    again = fail_dead_letters(runtime.exports, runtime.artifacts, dead_letters, deliveries=3)

    assert dead.failed == [export_id] and len(dead.left) == 1
    assert again.failed == [] and len(again.left) == 1  # idempotent; the unreadable one stays
    export = runtime.exports.get_export(export_id)
    assert (export.status, export.attempts) == (ExportStatus.FAILED, 3)
    assert export.error == "moved to the dead-letter queue race-dlq after 3 deliveries"

    runtime.exports.retry_export(export_id)

    assert runtime.exports.get_export(export_id).status is ExportStatus.QUEUED
    resent = runtime.queues.export_jobs  # the relay sends the retried export's message
    assert len(resent.receive(visibility_timeout=0)) == 1  # its first worker dies at once
    runtime.exports.start_export(export_id, "worker-that-dies")
    # the second delivery of the new message is a new attempt, not a duplicate of attempt 4
    assert worker(runtime, resent, MarkingExporter(), "worker-b").run_once() == ["exported"]
    export = runtime.exports.get_export(export_id)
    assert (export.status, export.attempts) == (ExportStatus.SUCCEEDED, 5)
    with pytest.raises(IllegalTransition, match="cannot be retried: it is succeeded"):
        runtime.exports.retry_export(export_id)


def test_scratch_trees_of_dead_processes_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f"receipts-export-{gone.stdout.strip()}-abc"
    dead_ocr = tmp_path / f"receipts-ocr-{gone.stdout.strip()}-ghi"
    alive = tmp_path / f"receipts-ocr-{os.getpid()}-def"
    unnamed = tmp_path / "receipts-export-xyz"
    for directory in (dead / "bundle", dead_ocr, alive, unnamed):
        directory.mkdir(parents=True)
    (dead / "bundle" / "weights.bin").write_bytes(b"half")

    assert sweep_stale_scratch(tmp_path) == [dead, dead_ocr]

    assert sorted(tmp_path.iterdir()) == sorted([alive, unnamed])
