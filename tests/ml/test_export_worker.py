"""The export worker as a product, on the memory and SQLite queues: job → ExportJob →
queue → worker → bundle → result; archives, heartbeats, stops, poison and failures."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from tests.support import Train

from receipts.adapters.archives import SafeTarExtractor
from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.application.export.export_worker import ExportWorker
from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.queueing.visibility_heartbeat import VisibilityHeartbeat
from receipts.bootstrap import Runtime
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.quantization import Quantization

CONFIG = json.dumps({"model_type": "layoutlm", "id2label": {"0": "O", "1": "B-AMOUNT"}}).encode()


class RecordingLog:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.records.append(("info", event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.records.append(("warning", event, fields))

    def error(self, event: str, **fields: Any) -> None:
        self.records.append(("error", event, fields))

    def events(self, level: str | None = None) -> list[str]:
        return [event for lvl, event, _ in self.records if level in (None, lvl)]


class BlockingExporter(SimulatedExporter):
    """Waits for `release` (at most `timeout` s) before it exports; tells when it started."""

    name = "blocking"

    def __init__(self, timeout: float = 10.0) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.timeout = timeout

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        self.started.set()
        self.release.wait(self.timeout)
        return super().export(checkpoint_dir, bundle_dir, quantization)


class FailingExporter(SimulatedExporter):
    name = "failing"

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        raise ExportFailed("conversion failed: unsupported op 'gelu_new'")


class FlakyVisibility:
    """The queue, except that every visibility change fails (a heartbeat that cannot beat)."""

    def __init__(self, queue: MessageQueue) -> None:
        self.queue = queue
        self.name = queue.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        raise ConnectionError("endpoint unreachable")


def worker(runtime: Runtime, **options: Any) -> ExportWorker:
    options.setdefault("exporter", SimulatedExporter())
    options.setdefault("log", RecordingLog())
    return ExportWorker(
        exports=runtime.exports,
        jobs_queue=options.pop("jobs_queue", runtime.queues.export_jobs),
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        extractor=SafeTarExtractor(),
        **options,
    )


def results(queue: MessageQueue) -> list[dict[str, Any]]:
    messages = queue.receive(max_messages=10)
    for message in messages:
        queue.delete(message.receipt_handle)
    return [json.loads(message.body) for message in messages]


def event_names(runtime: Runtime, export_id: UUID) -> list[str]:
    return [type(e).__name__ for e in runtime.exports.repository.event_store.get(export_id)]


def tar_gz(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def send_request(runtime: Runtime, model_uri: str, **overrides: str) -> UUID:
    """A message sent by hand, in the seeds' format."""
    export_id = uuid4()
    body = {
        "export_id": str(export_id),
        "job_id": "layoutlm-by-hand",
        "model_s3_uri": model_uri,
        "quantize": "float16",
        "output_s3_prefix": runtime.artifacts_uri("coreml/layoutlm-by-hand/"),
        **overrides,
    }
    runtime.queues.export_jobs.send(json.dumps(body))
    return export_id


def test_a_succeeded_job_is_exported_through_the_queue_and_reported(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("layoutlm-receipts")
    export_id = ExportJob.auto_id_for(job_id)
    assert any_runtime.queues.export_jobs.approximate_count() == 1
    log = RecordingLog()

    handled = worker(any_runtime, log=log).serve(continuous=True, until_empty=True)

    assert handled == ["exported"]
    assert event_names(any_runtime, export_id) == ["Requested", "Started", "Succeeded"]
    export = any_runtime.exports.get_export(export_id)
    assert export.outcome is not None
    bundle = export.outcome.bundle_uri
    assert bundle.endswith("/runs/layoutlm-receipts/coreml/float16/")
    stored = {uri.removeprefix(bundle) for uri in any_runtime.artifacts.list(bundle)}
    assert (
        stored
        == set(export.outcome.file_sizes)
        == {
            "config.json",
            "label_map.json",
            "manifest.json",
        }
    )
    [result] = results(any_runtime.queues.export_results)
    assert result == {
        "export_id": str(export_id),
        "job_id": "layoutlm-receipts",
        "job_uuid": str(job_id),
        "status": "succeeded",
        "bundle_uri": bundle,
        "total_bytes": export.outcome.total_bytes,
    }
    assert any_runtime.queues.export_jobs.approximate_count() == 0
    assert log.events("info") == ["export started", "export succeeded"]
    started = log.records[0][2]
    assert started["export_id"] == str(export_id) and started["attempt"] == 1


def test_a_job_tagged_skip_gives_the_worker_nothing(any_runtime: Runtime, train: Train) -> None:
    job_id = train("layoutlm-skipped", tags={"skip-coreml-export": "true"})

    assert worker(any_runtime).serve(continuous=True, until_empty=True) == []

    assert any_runtime.exports.auto_export_of(job_id) is None
    assert results(any_runtime.queues.export_results) == []


@pytest.mark.parametrize("layout", ["root", "best"])
def test_a_sagemaker_model_archive_is_unpacked_and_exported(
    any_runtime: Runtime, layout: str
) -> None:
    folder = "" if layout == "root" else "best/"
    archive = any_runtime.artifacts_uri("output/layoutlm-sm/output/model.tar.gz")
    any_runtime.artifacts.put_bytes(
        archive,
        tar_gz(
            (f"{folder}config.json", CONFIG),
            (f"{folder}model.safetensors", b"\0" * 64),
            (f"{folder}vocab.txt", b"[PAD]\n[UNK]\n"),
        ),
    )
    export_id = send_request(any_runtime, archive)

    assert worker(any_runtime).drain() == ["exported"]

    export = any_runtime.exports.get_export(export_id)
    assert export.status is ExportStatus.SUCCEEDED and export.outcome is not None
    assert any_runtime.artifacts.get_bytes(export.outcome.bundle_uri + "config.json") == CONFIG
    assert export.request.source_job_name == "layoutlm-by-hand"
    assert export.request.requested_by == "queue"  # already queued: the relay sends no copy
    assert [r["status"] for r in results(any_runtime.queues.export_results)] == ["succeeded"]


def test_an_archive_escaping_its_directory_fails_the_export_and_writes_nothing_outside(
    any_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch_parent = tmp_path / "scratch"
    scratch_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_parent))
    escape = f"../../../{uuid4().hex}-evil"
    archive = any_runtime.artifacts_uri("output/evil/model.tar.gz")
    any_runtime.artifacts.put_bytes(
        archive,
        tar_gz(("config.json", CONFIG), ("model.safetensors", b"w"), (escape, b"owned")),
    )
    export_id = send_request(any_runtime, archive)
    other = send_request(any_runtime, any_runtime.artifacts_uri("output/abs/model.tar.gz"))
    any_runtime.artifacts.put_bytes(
        any_runtime.artifacts_uri("output/abs/model.tar.gz"),
        tar_gz(
            ("config.json", CONFIG), ("model.safetensors", b"w"), (f"/tmp/{uuid4().hex}-evil", b"x")
        ),
    )

    assert worker(any_runtime).drain() == ["failed", "exported"]  # "/tmp/...": kept inside

    export = any_runtime.exports.get_export(export_id)
    assert export.status is ExportStatus.FAILED
    assert export.error is not None and export.error.startswith("ArchiveRefused:")
    assert "outside the destination" in export.error
    assert any_runtime.exports.get_export(other).status is ExportStatus.SUCCEEDED
    assert not list(tmp_path.parent.rglob("*-evil"))
    assert not list(Path("/tmp").glob("*-evil"))
    assert list(scratch_parent.iterdir()) == []  # each export's scratch tree is removed
    statuses = [r["status"] for r in results(any_runtime.queues.export_results)]
    assert statuses == ["failed", "succeeded"]
    assert any_runtime.queues.export_jobs.approximate_count() == 0


def test_a_checkpoint_with_only_pickled_weights_is_refused(any_runtime: Runtime) -> None:
    prefix = any_runtime.artifacts_uri("runs/pickled/best/")
    any_runtime.artifacts.put_bytes(prefix + "config.json", CONFIG)
    any_runtime.artifacts.put_bytes(prefix + "pytorch_model.bin", b"\x80\x04cos\nsystem\n")
    export_id = send_request(any_runtime, prefix)

    assert worker(any_runtime).drain() == ["failed"]

    error = any_runtime.exports.get_export(export_id).error
    assert error is not None and "only pickled weights (pytorch_model.bin)" in error


def test_a_prefix_without_a_checkpoint_fails_with_the_reason(any_runtime: Runtime) -> None:
    prefix = any_runtime.artifacts_uri("runs/empty-ish/")
    any_runtime.artifacts.put_bytes(prefix + "notes.txt", b"no model here")
    export_id = send_request(any_runtime, prefix)

    assert worker(any_runtime).drain() == ["failed"]

    error = any_runtime.exports.get_export(export_id).error
    assert (
        error
        == f"ExportFailed: {prefix} holds no checkpoint: no config.json at its root or in best/"
    )


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("s3://bucket/coreml/../../etc/", "'.' and '..' segments are not allowed"),
        ("ftp://host/coreml/", "unknown scheme 'ftp'"),
        ("coreml/", "is not a URI"),
    ],
)
def test_an_invalid_output_prefix_is_poison_and_logged(
    any_runtime: Runtime, prefix: str, problem: str
) -> None:
    send_request(any_runtime, any_runtime.artifacts_uri("runs/x/best/"), output_s3_prefix=prefix)
    log = RecordingLog()

    assert worker(any_runtime, log=log).drain() == ["poison"]

    [(level, event, fields)] = log.records
    assert level == "warning" and "poison" in event
    assert "output_s3_prefix" in fields["reason"] and problem in fields["reason"]
    assert fields["receive_count"] == 1
    assert any_runtime.queues.export_jobs.approximate_count() == 1


def test_an_output_prefix_in_another_store_fails_the_export(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("layoutlm-elsewhere")
    best = any_runtime.jobs.get_job(job_id).results
    assert best is not None
    export_id = send_request(
        any_runtime, best.best_checkpoint_uri, output_s3_prefix="s3://other-bucket/coreml/"
    )
    handled = worker(any_runtime).drain()

    assert sorted(handled) == ["exported", "failed"]
    error = any_runtime.exports.get_export(export_id).error
    scheme = any_runtime.artifacts.scheme
    assert error == (
        f"ExportFailed: output_s3_prefix s3://other-bucket/coreml/ is not in this worker's"
        f" {scheme}:// store"
    )


def test_malformed_messages_reach_the_dlq_while_the_worker_keeps_serving(
    any_runtime: Runtime, train: Train
) -> None:
    queue = any_runtime.queues.export_jobs
    queue.send("{not json")
    queue.send(json.dumps(["a", "list"]))
    job_id = train("layoutlm-after-poison")
    log = RecordingLog()

    handled = worker(any_runtime, visibility_timeout=0.0, log=log).serve(
        continuous=True, until_empty=True
    )

    rounds = any_runtime.settings.max_receive_count
    assert handled.count("poison") == 2 * rounds
    assert handled.count("exported") == 1
    assert any_runtime.exports.get_export(ExportJob.auto_id_for(job_id)).status is (
        ExportStatus.SUCCEEDED
    )
    dead = any_runtime.queues.dead_letters[any_runtime.settings.export_queue]
    assert sorted(m.body for m in dead.receive(max_messages=10)) == [
        '["a", "list"]',
        "{not json",
    ]
    assert queue.approximate_count() == 0
    reasons = {fields["reason"] for _, event, fields in log.records if "poison" in event}
    assert any("not JSON" in reason for reason in reasons)
    assert any("expected a JSON object" in reason for reason in reasons)


def test_a_failing_export_is_recorded_reported_and_deleted_and_serving_goes_on(
    any_runtime: Runtime, train: Train
) -> None:
    first = train("layoutlm-first")
    second = train("layoutlm-second")
    failing = worker(any_runtime, exporter=FailingExporter())

    assert failing.serve(continuous=True, max_messages=2) == ["failed", "failed"]

    for job_id in (first, second):
        export = any_runtime.exports.get_export(ExportJob.auto_id_for(job_id))
        assert export.error == "ExportFailed: conversion failed: unsupported op 'gelu_new'"
    assert [r["status"] for r in results(any_runtime.queues.export_results)] == ["failed"] * 2
    assert any_runtime.queues.export_jobs.approximate_count() == 0


@pytest.mark.parametrize("heartbeat", [True, False])
def test_the_heartbeat_keeps_a_long_export_from_other_consumers(
    any_runtime: Runtime, train: Train, heartbeat: bool
) -> None:
    job_id = train("layoutlm-long")
    exporter = BlockingExporter()
    log = RecordingLog()
    slow = worker(
        any_runtime,
        exporter=exporter,
        visibility_timeout=0.3,
        heartbeat_every=0.05 if heartbeat else 0,
        log=log,
    )
    thread = threading.Thread(target=slow.drain, kwargs={"max_messages": 1})
    thread.start()
    assert exporter.started.wait(10)
    stolen = []
    deadline = time.monotonic() + 0.9  # three visibility timeouts
    while time.monotonic() < deadline:
        stolen += any_runtime.queues.export_jobs.receive(max_messages=1, visibility_timeout=0.01)
        time.sleep(0.02)
    exporter.release.set()
    thread.join(10)

    export = any_runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    if heartbeat:
        assert stolen == []
        assert export.status is ExportStatus.SUCCEEDED and export.attempts == 1
        assert "heartbeat failed" not in log.events()
        assert any_runtime.queues.export_jobs.approximate_count() == 0
    else:  # the control: without beats another consumer takes the message meanwhile
        assert stolen and stolen[0].receive_count == 2


def test_a_failing_heartbeat_is_logged_and_the_export_goes_on(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("layoutlm-flaky")
    exporter = BlockingExporter()
    log = RecordingLog()
    flaky = worker(
        any_runtime,
        jobs_queue=FlakyVisibility(any_runtime.queues.export_jobs),
        exporter=exporter,
        visibility_timeout=30,
        heartbeat_every=0.02,
        log=log,
    )
    timer = threading.Timer(0.2, exporter.release.set)
    timer.start()

    assert flaky.drain() == ["exported"]

    timer.join()
    failures = [f for _, event, f in log.records if event == "heartbeat failed"]
    assert len(failures) >= 2
    assert failures[0]["error"] == "ConnectionError: endpoint unreachable"
    assert any_runtime.exports.get_export(ExportJob.auto_id_for(job_id)).status is (
        ExportStatus.SUCCEEDED
    )


def test_a_stop_lets_the_current_export_finish_within_the_grace_period(
    any_runtime: Runtime, train: Train
) -> None:
    train("layoutlm-a")
    train("layoutlm-b")
    exporter = BlockingExporter()
    graceful = worker(any_runtime, exporter=exporter, grace_seconds=10)
    handled: list[str] = []
    thread = threading.Thread(
        target=lambda: handled.extend(graceful.serve(continuous=True, wait_seconds=0.1))
    )
    thread.start()
    assert exporter.started.wait(10)

    graceful.request_stop()
    exporter.release.set()
    thread.join(10)

    assert not thread.is_alive()
    assert handled == ["exported"]  # the second message is left for later
    assert any_runtime.queues.export_jobs.approximate_count() == 1
    assert graceful.abandoned is None


def test_an_export_over_the_grace_period_is_released_for_another_worker(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("layoutlm-slow")
    export_id = ExportJob.auto_id_for(job_id)
    exporter = BlockingExporter()
    log = RecordingLog()
    stopping = worker(any_runtime, exporter=exporter, grace_seconds=0.1, log=log)
    handled: list[str] = []
    thread = threading.Thread(target=lambda: handled.extend(stopping.serve(continuous=True)))
    thread.start()
    assert exporter.started.wait(10)

    stopping.request_stop()
    thread.join(10)

    assert handled == ["released"]
    assert "export released" in log.events("warning")[0]
    export = any_runtime.exports.get_export(export_id)
    assert (export.status, export.attempts) == (ExportStatus.RUNNING, 1)
    # visible again at once: the next worker takes it as a new attempt
    assert worker(any_runtime).drain() == ["exported"]
    export = any_runtime.exports.get_export(export_id)
    assert (export.status, export.attempts) == (ExportStatus.SUCCEEDED, 2)
    assert event_names(any_runtime, export_id) == ["Requested", "Started", "Started", "Succeeded"]
    exporter.release.set()
    assert stopping.abandoned is not None
    stopping.abandoned.join(10)
    assert any_runtime.exports.get_export(export_id).version == export.version  # nothing more


def test_a_second_stop_request_releases_at_once(any_runtime: Runtime, train: Train) -> None:
    train("layoutlm-twice")
    exporter = BlockingExporter()
    stopping = worker(any_runtime, exporter=exporter, grace_seconds=60)
    handled: list[str] = []
    thread = threading.Thread(target=lambda: handled.extend(stopping.serve(continuous=True)))
    thread.start()
    assert exporter.started.wait(10)

    stopping.request_stop()
    time.sleep(0.1)
    assert thread.is_alive()
    stopping.request_stop()
    thread.join(5)

    assert handled == ["released"]
    exporter.release.set()


def test_heartbeat_settings_are_checked(any_runtime: Runtime) -> None:
    message = QueueMessage(message_id="m", body="{}", receipt_handle="h", receive_count=1)
    with pytest.raises(ValueError, match="must be positive"):
        VisibilityHeartbeat(any_runtime.queues.export_jobs, message, every=0, timeout=1)
    with pytest.raises(ValueError, match=r"timeout \(1 s\) must be longer than its interval"):
        VisibilityHeartbeat(any_runtime.queues.export_jobs, message, every=2, timeout=1)
    with pytest.raises(ValueError, match="shorter than the visibility timeout"):
        worker(any_runtime, visibility_timeout=10, heartbeat_every=10)
    with pytest.raises(ValueError, match="grace_seconds must be 0 or more"):
        worker(any_runtime, grace_seconds=-1)


class SendFailsOnce:
    """A results queue whose first send fails (the network blinked)."""

    def __init__(self, queue: MessageQueue) -> None:
        self.queue = queue
        self.name = queue.name
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        if not self.failed:
            self.failed = True
            raise ConnectionError("results queue unreachable")
        return self.queue.send(body, delay_seconds=delay_seconds)


def test_a_result_that_cannot_be_sent_is_sent_on_the_next_delivery(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("layoutlm-unlucky-send")
    log = RecordingLog()
    flaky = ExportWorker(
        exports=any_runtime.exports,
        jobs_queue=any_runtime.queues.export_jobs,
        results_queue=SendFailsOnce(any_runtime.queues.export_results),
        artifacts=any_runtime.artifacts,
        exporter=SimulatedExporter(),
        visibility_timeout=0,
        log=log,
    )

    assert flaky.serve(continuous=True, until_empty=True) == ["error", "resent"]

    [(_, event, fields)] = [r for r in log.records if r[0] == "error"]
    assert "comes back" in event
    assert fields["error"] == "ConnectionError: results queue unreachable"
    export = any_runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    assert (export.status, export.attempts) == (ExportStatus.SUCCEEDED, 1)
    assert [r["status"] for r in results(any_runtime.queues.export_results)] == ["succeeded"]
    assert any_runtime.queues.export_jobs.approximate_count() == 0


class ThreadRecordingExporter(SimulatedExporter):
    """Records the thread each export runs in; the first `hold` exports wait for `release`."""

    name = "thread-recording"

    def __init__(self, hold: int = 0) -> None:
        self.threads: list[tuple[int, str]] = []
        self.daemons: list[bool] = []
        self.hold = hold
        self.holding = threading.Semaphore(0)
        self.release = threading.Event()

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        self.threads.append((threading.get_ident(), threading.current_thread().name))
        self.daemons.append(threading.current_thread().daemon)
        if len(self.threads) <= self.hold:
            self.holding.release()
            self.release.wait(10)
        return super().export(checkpoint_dir, bundle_dir, quantization)


def test_each_export_runs_in_a_daemon_thread_named_after_it(
    any_runtime: Runtime, train: Train
) -> None:
    job_ids = [train(f"layoutlm-thread-{i}") for i in range(3)]
    exporter = ThreadRecordingExporter()

    assert worker(any_runtime, exporter=exporter).drain() == ["exported"] * 3

    assert threading.get_ident() not in {ident for ident, _ in exporter.threads}
    assert exporter.daemons == [True, True, True]
    assert sorted(name for _, name in exporter.threads) == sorted(
        f"export-{ExportJob.auto_id_for(job_id)}" for job_id in job_ids
    )


def test_exports_of_one_worker_from_two_threads_run_side_by_side(
    any_runtime: Runtime, train: Train
) -> None:
    for i in range(2):
        train(f"layoutlm-side-{i}")
    exporter = ThreadRecordingExporter(hold=2)
    shared = worker(any_runtime, exporter=exporter)
    outcomes: list[str] = []
    callers = [
        threading.Thread(target=lambda: outcomes.extend(shared.run_once())) for _ in range(2)
    ]
    for caller in callers:
        caller.start()

    # both exports are held at once: neither waits for the other's thread
    assert exporter.holding.acquire(timeout=10) and exporter.holding.acquire(timeout=10)
    exporter.release.set()
    for caller in callers:
        caller.join(10)

    assert outcomes == ["exported", "exported"]
    assert len({ident for ident, _ in exporter.threads}) == 2
