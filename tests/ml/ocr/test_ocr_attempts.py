"""Two OCR workers on one queue, with the visibility expiry forced at a chosen point (a
queue clock the test moves): an attempt taken over by another worker never deletes or
overwrites what the winner published, a batch received at once stays hidden while it is
worked through, dead letters end their jobs `failed` and an operator's retry queues them
again. Memory and the embedded default (SQLite queue, files, a second runtime on the same
home standing for a second process)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from tests.ml.ocr.conftest import MakeWorker, upload, write_receipt_image

from receipts.adapters.memory.queue import InMemoryQueue
from receipts.adapters.sqlite.queue import SQLiteQueue
from receipts.application.ocr.ocr_worker import OCRWorker
from receipts.application.ocr.result_files import published_files
from receipts.application.ports.ocr_engine import OCREngine
from receipts.application.ports.queue import MessageQueue
from receipts.application.queueing.messages import OCRMessage, OCRResultMessage
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.ocr import build_engine
from receipts.domain.ocr import OCRResult
from receipts.domain.ocr_job import OCRStatus
from receipts.settings import Settings

VISIBILITY = 30.0


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Interrupted:
    """The stub engine, running `during` (once) in the middle of the first job it reads."""

    during: Callable[[], None] | None = None
    name: str = "stub"
    inner: OCREngine = field(default_factory=lambda: build_engine("stub"))

    def recognize(self, image_path: Path) -> OCRResult:
        if (hook := self.during) is not None:
            self.during = None
            hook()
        return self.inner.recognize(image_path)


@dataclass
class Pair:
    runtime: Runtime
    other: Runtime
    """The second worker's runtime: the same one in memory, a second one on the same home
    (another process's view) on the embedded default."""
    queue: MessageQueue
    clock: Clock
    first: OCRWorker
    second: OCRWorker
    engine: Interrupted

    def queue_job(self, job_id: UUID) -> None:
        job = self.runtime.ocr_jobs.get_ocr_job(job_id)
        self.queue.send(OCRMessage(job_id=job_id, image_uri=job.request.image_uri).body())

    def expire(self) -> None:
        """Every message in flight visible again (a stalled worker's lost visibility)."""
        self.clock.now += VISIBILITY + 1


@pytest.fixture
def pair(ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path) -> Iterator[Pair]:
    clock = Clock()
    local = ocr_runtime.settings.mode == "local"
    queue: MessageQueue = (
        SQLiteQueue(tmp_path / "queues.db", "ocr", visibility_timeout=VISIBILITY, clock=clock)
        if local
        else InMemoryQueue("ocr", visibility_timeout=VISIBILITY, clock=clock)
    )
    other = bootstrap(Settings(mode="local", home=ocr_runtime.settings.home)) if local else None
    engine = Interrupted()
    workers = []
    for name, runtime in (("first", ocr_runtime), ("second", other or ocr_runtime)):
        worker = make_worker(runtime, worker_name=name, visibility_timeout=VISIBILITY)
        worker.jobs_queue = queue
        worker.engines = (lambda _: engine) if name == "first" else build_engine
        workers.append(worker)
    yield Pair(ocr_runtime, other or ocr_runtime, queue, clock, *workers, engine)
    if other is not None:
        other.close()


def results(runtime: Runtime) -> list[OCRResultMessage]:
    messages = runtime.queues.ocr_results.receive(max_messages=10)
    return [OCRResultMessage.parse(m.body) for m in messages]


def assert_published_whole(runtime: Runtime, job_id: UUID) -> None:
    """The completed job's files and the seeds' copies exist, and agree."""
    job = runtime.ocr_jobs.get_ocr_job(job_id)
    assert job.status is OCRStatus.COMPLETED and job.outcome is not None
    published = published_files(runtime.artifacts_uri(""), job_id)
    for role, uri in job.outcome.result_uris.items():
        assert runtime.artifacts.get_bytes(uri) == runtime.artifacts.get_bytes(published[role])
    labels = json.loads(runtime.artifacts.get_bytes(published["labels"]))
    record = runtime.labels.get(f"ocr-{job_id}")
    assert [w.label for w in record.words] == [w["label"] for w in labels["words"]]


def test_an_attempt_taken_over_by_another_worker_deletes_nothing_the_winner_published(
    pair: Pair, tmp_path: Path
) -> None:
    job_id = upload(pair.runtime, write_receipt_image(tmp_path, 10))
    pair.queue_job(job_id)
    second: list[str] = []

    def overtaken() -> None:  # the first worker stalls past its visibility mid-job
        pair.expire()
        second.extend(pair.second.serve(continuous=True))

    pair.engine.during = overtaken
    first = pair.first.serve(continuous=True)

    assert (first, second) == (["superseded"], ["completed"])
    job = pair.runtime.ocr_jobs.get_ocr_job(job_id)
    assert (job.attempts, job.worker) == (2, "second")
    assert job.outcome is not None and "attempt-2" in job.outcome.result_uris["ocr"]
    assert_published_whole(pair.runtime, job_id)
    prefix = pair.runtime.artifacts_uri(f"ocr_results/{job_id}/")
    assert all("attempt-2" in uri for uri in pair.runtime.artifacts.list(prefix))
    assert [m.job_id for m in results(pair.runtime)] == [job_id]  # the winner's only
    assert pair.queue.approximate_count() == 0


def test_a_duplicate_message_of_a_running_job_is_left_alone_and_the_job_done_once(
    pair: Pair, tmp_path: Path
) -> None:
    job_id = upload(pair.runtime, write_receipt_image(tmp_path, 11))
    pair.queue_job(job_id)
    pair.queue_job(job_id)  # the outbox relay sent it twice
    second: list[str] = []
    pair.engine.during = lambda: second.extend(pair.second.serve(continuous=True))

    first = pair.first.serve(continuous=True, max_messages=1)
    pair.expire()  # the duplicate comes back
    later = pair.second.serve(continuous=True)

    assert (first, second, later) == (["completed"], ["duplicate"], ["resent"])
    assert pair.runtime.ocr_jobs.get_ocr_job(job_id).attempts == 1
    assert_published_whole(pair.runtime, job_id)


def test_a_batch_received_at_once_stays_hidden_until_each_message_is_handled(
    pair: Pair, tmp_path: Path
) -> None:
    jobs = [upload(pair.runtime, write_receipt_image(tmp_path, 12 + i)) for i in range(3)]
    for job_id in jobs:
        pair.queue_job(job_id)
    taken: list[object] = []

    def long_first_job() -> None:  # the first job outlasts the visibility, beaten meanwhile
        lease = pair.first.lease
        assert lease is not None and len(lease.held) == 3
        for _ in range(3):
            pair.clock.now += VISIBILITY * 0.6
            lease.beat()
        taken.extend(pair.second.serve(continuous=True))

    pair.engine.during = long_first_job
    handled = pair.first.serve(continuous=True, batch=10)

    assert handled == ["completed"] * 3 and taken == []  # nothing expired unattended
    assert [pair.runtime.ocr_jobs.get_ocr_job(j).attempts for j in jobs] == [1, 1, 1]


def test_dead_letters_fail_their_jobs_once_and_a_retry_queues_them_again(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    job_id = upload(ocr_runtime, write_receipt_image(tmp_path, 15))
    queues = ocr_runtime.queues
    dead = queues.dead_letters[queues.ocr_jobs.name]
    ocr_runtime.catch_up()  # the dispatcher queues it
    [message] = queues.ocr_jobs.receive(max_messages=1)
    dead.send(message.body)  # what the redrive does after the last failed delivery
    queues.ocr_jobs.delete(message.receipt_handle)
    worker = make_worker(ocr_runtime)

    assert worker.fail_dead_letters(dead) == [job_id]
    assert worker.fail_dead_letters(dead) == []
    failed = ocr_runtime.ocr_jobs.get_ocr_job(job_id)
    assert failed.status is OCRStatus.FAILED and "dead-letter queue" in (failed.error or "")
    assert dead.approximate_count() == 0

    ocr_runtime.ocr_jobs.retry(job_id, requested_by="test")
    ocr_runtime.catch_up()
    assert worker.serve(continuous=True) == ["completed"]
    assert ocr_runtime.ocr_jobs.get_ocr_job(job_id).attempts == 1  # it had never started
    assert_published_whole(ocr_runtime, job_id)


def test_a_hand_queued_message_yields_one_result_and_an_unknown_engine_is_poison(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    image = write_receipt_image(tmp_path, 16)
    uri = ocr_runtime.artifacts_uri("raw-receipts/by-hand.png")
    ocr_runtime.artifacts.upload_file(image, uri)
    ocr_runtime.artifacts.upload_file(image.with_name(image.name + ".ocr.json"), uri + ".ocr.json")
    by_hand, unknown = uuid4(), uuid4()
    queue = ocr_runtime.queues.ocr_jobs
    queue.send(json.dumps({"job_id": str(by_hand), "image_uri": uri, "ocr_engine": "stub"}))
    queue.send(json.dumps({"job_id": str(unknown), "image_uri": uri, "ocr_engine": "abbyy"}))
    worker = make_worker(ocr_runtime)

    handled = worker.serve(continuous=True, max_messages=2)
    ocr_runtime.catch_up()  # a dispatcher that re-queued the recorded job would send now
    handled += worker.serve(continuous=True, max_messages=1)

    assert sorted(handled) == ["completed", "poison"]
    assert [m.job_id for m in results(ocr_runtime)] == [by_hand]
