"""The DynamoDB event store on the moto server: concurrency, reads, cost per operation, and
the project's process applications running on it.

moto does not isolate concurrent transactions (a condition and its write can interleave
with another transaction's), so every recorder here talks to moto through
`SerializedTransactions`, which runs `transact_write_items` calls one at a time. DynamoDB
itself isolates them; what these tests prove is that the store's conditions turn races
into one winner and an IntegrityError for everyone else.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Tracking,
)
from eventsourcing.system import NewSingleThreadedRunner
from eventsourcing.utils import Environment
from tests.aws.dynamodb_event_store_support import (
    SerializedTransactions,
    event_store_settings,
    open_factory,
    probe_of,
    stored,
)

from receipts.adapters.dynamodb.event_store import DynamoDBFactory
from receipts.adapters.memory.queue import InMemoryQueue
from receipts.adapters.memory.read_model import InMemoryJobReadModel
from receipts.application.event_sourcing.dispatch import QueueDispatcher
from receipts.application.export.exports import Exports
from receipts.application.system import receipts_system
from receipts.application.training.job_views import JobCatalog
from receipts.application.training.jobs import Jobs
from receipts.bootstrap import event_store_env
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JobDraft, JobResults, JobStatus

WRITERS = 8
ROUNDS = 8


@pytest.fixture
def table(aws_env: dict[str, str], unique_name: str) -> str:
    return unique_name


@pytest.fixture
def factories(table: str) -> Iterator[list[DynamoDBFactory]]:
    """Factories opened by a test, closed after it; the first creates the table."""
    opened: list[DynamoDBFactory] = []
    yield opened
    for factory in opened:
        factory.close()


def recorder_for(table: str, factories: list[DynamoDBFactory]) -> ApplicationRecorder:
    """A recorder of its own (its own datastore and idea of the counter), as another
    process would open; the boto3 client underneath is shared, as factories share it."""
    factories.append(open_factory(table))
    return factories[-1].application_recorder()


# --- concurrency ----------------------------------------------------------------------------


def test_eight_writers_racing_for_each_version_one_wins_the_rest_get_integrity_error(
    table: str, factories: list[DynamoDBFactory]
) -> None:
    recorders = [recorder_for(table, factories) for _ in range(WRITERS)]
    oid = uuid4()
    outcomes: dict[int, list[str]] = {version: [] for version in range(1, ROUNDS + 1)}
    lock = threading.Lock()
    rounds = threading.Barrier(WRITERS)

    def writer(index: int) -> None:
        for version in range(1, ROUNDS + 1):
            rounds.wait(timeout=30)  # every writer tries this version at the same time
            try:
                recorders[index].insert_events([stored(oid, version, f"w{index}".encode())])
                outcome = f"won:{index}"
            except IntegrityError:
                outcome = "integrity"
            except Exception as error:  # anything else is a failure of the store
                outcome = f"error:{error!r}"
            with lock:
                outcomes[version].append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners: dict[int, int] = {}
    for version, results in outcomes.items():
        counts = Counter(r.split(":")[0] for r in results)
        assert counts == {"won": 1, "integrity": WRITERS - 1}, (version, results)
        [won] = [r for r in results if r.startswith("won:")]
        winners[version] = int(won.split(":")[1])
    reader = recorders[0]
    events = reader.select_events(oid)
    assert [e.originator_version for e in events] == list(range(1, ROUNDS + 1))
    assert [e.state for e in events] == [f"w{winners[v]}".encode() for v in winners]
    notifications = reader.select_notifications(start=None, limit=100)
    # one notification per winning save, nothing from a losing one: gapless and ordered
    assert [n.id for n in notifications] == list(range(1, ROUNDS + 1))
    assert [n.originator_version for n in notifications] == list(range(1, ROUNDS + 1))
    assert reader.max_notification_id() == ROUNDS


def test_writers_of_different_aggregates_contend_for_the_counter_and_lose_nothing(
    table: str, factories: list[DynamoDBFactory]
) -> None:
    saves = 25
    first, second = recorder_for(table, factories), recorder_for(table, factories)
    returned: dict[UUID, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(recorder: ApplicationRecorder) -> None:
        oid = uuid4()
        ids: list[int] = []
        start.wait(timeout=30)
        try:
            for version in range(1, saves + 1):
                ids.extend(recorder.insert_events([stored(oid, version)]) or [])
        except BaseException as error:
            errors.append(error)
        returned[oid] = ids

    threads = [threading.Thread(target=writer, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    notifications = first.select_notifications(start=None, limit=1000)
    assert [n.id for n in notifications] == list(range(1, 2 * saves + 1))  # gapless
    for oid, ids in returned.items():
        mine = [n for n in notifications if n.originator_id == oid]
        assert [n.id for n in mine] == ids
        assert [n.originator_version for n in mine] == list(range(1, saves + 1))
        assert [e.originator_version for e in first.select_events(oid)] == list(range(1, saves + 1))
    transactions = sum(probe_of(r).calls["transact_write_items"] for r in (first, second))
    # each writer's idea of the counter went stale whenever the other saved: the lost
    # races were retried, and every retry is a transaction that wrote nothing
    assert transactions > 2 * saves


def test_readers_never_see_the_counter_or_a_tracking_position_half_written(
    table: str, factories: list[DynamoDBFactory]
) -> None:
    """A first save creates the counter item and a first tracked save the tracking item.
    Both are written as whole items (conditional Puts). moto applies an Update that creates
    an item as a key-only put followed by the SET, so a consistent read in between saw the
    counter without `last` (issue 20); DynamoDB applies either atomically, as a Put is."""
    apps = [f"App{i}" for i in range(12)]
    factories.extend(open_factory(table, app) for app in apps)
    recorders = [factory.application_recorder() for factory in factories]
    trackers = [factory.tracking_recorder() for factory in factories]
    current = [0]
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            index = current[0]
            try:
                recorders[index].max_notification_id()
                trackers[index].max_tracking_id("Upstream")
            except BaseException as error:
                errors.append(error)
                return

    readers = [threading.Thread(target=read) for _ in range(6)]
    switch_interval = sys.getswitchinterval()
    # the moto server runs in this process: switching threads often lets a read land
    # between the steps of one write there
    sys.setswitchinterval(1e-5)
    for reader in readers:
        reader.start()
    try:
        for index, (recorder, tracker) in enumerate(zip(recorders, trackers, strict=True)):
            current[0] = index
            time.sleep(0.02)
            assert recorder.insert_events([stored(uuid4(), 1)]) == [1]
            tracker.insert_tracking(Tracking("Upstream", 7))
            time.sleep(0.02)
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=30)
        sys.setswitchinterval(switch_interval)
    assert errors == []
    assert [r.max_notification_id() for r in recorders] == [1] * len(apps)
    assert [t.max_tracking_id("Upstream") for t in trackers] == [7] * len(apps)


# --- reads are Queries ----------------------------------------------------------------------


def test_reads_by_aggregate_and_version_range_are_single_queries(
    table: str, factories: list[DynamoDBFactory]
) -> None:
    recorder = recorder_for(table, factories)
    oid = uuid4()
    recorder.insert_events([stored(oid, v) for v in range(1, 11)])
    recorder.insert_events([stored(uuid4(), 1)])
    probe = probe_of(recorder)
    probe.calls.clear()

    selections = [
        ({}, list(range(1, 11))),
        ({"gt": 7}, [8, 9, 10]),
        ({"lte": 2}, [1, 2]),
        ({"gt": 3, "lte": 5}, [4, 5]),
        ({"desc": True, "limit": 2}, [10, 9]),
        ({"gt": 2, "lte": 9, "desc": True, "limit": 3}, [9, 8, 7]),
    ]
    for kwargs, expected in selections:
        events = recorder.select_events(oid, **kwargs)  # type: ignore[arg-type]
        assert [e.originator_version for e in events] == expected, kwargs

    assert probe.calls == {"query": len(selections)}


def test_reading_notifications_reads_the_counter_then_queries(
    table: str, factories: list[DynamoDBFactory]
) -> None:
    recorder = recorder_for(table, factories)
    for _ in range(5):
        recorder.insert_events([stored(uuid4(), 1)])
    probe = probe_of(recorder)
    probe.calls.clear()

    window = recorder.select_notifications(start=2, limit=2)

    assert [n.id for n in window] == [2, 3]
    assert probe.calls == {"get_item": 1, "query": 1}


# --- cost per operation ---------------------------------------------------------------------


def test_requests_per_save_and_per_get(
    table: str, capsys: pytest.CaptureFixture[str], aws_env: dict[str, str]
) -> None:
    """A save is one TransactWriteItems once the recorder knows the counter; a get of an
    aggregate not in the cache is one Query, and a cached one costs one Query too (the
    cache fast-forwards it with anything recorded since)."""
    jobs = Jobs(env=event_store_env(event_store_settings(table)))
    probe = SerializedTransactions(jobs.recorder.datastore.db)  # type: ignore[attr-defined]
    jobs.recorder.datastore.db = probe  # type: ignore[attr-defined]
    job_ids = [
        jobs.create_job(JobDraft(name=f"job-{i}")) for i in range(2)
    ]  # first save reads HEAD
    probe.calls.clear()

    saves = 30
    started = time.perf_counter()
    for i in range(saves):
        job_ids.append(jobs.create_job(JobDraft(name=f"timed-{i}")))
    per_save = (time.perf_counter() - started) / saves
    assert probe.calls == {"transact_write_items": saves}

    probe.calls.clear()
    for job_id in job_ids[:10]:
        assert jobs.get_job(job_id).status is JobStatus.PENDING
    assert probe.calls == {"query": 10}

    cold = Jobs(env=event_store_env(event_store_settings(table)))
    cold_probe = SerializedTransactions(cold.recorder.datastore.db)  # type: ignore[attr-defined]
    cold.recorder.datastore.db = cold_probe  # type: ignore[attr-defined]
    started = time.perf_counter()
    for job_id in job_ids[:10]:
        assert cold.get_job(job_id).id == job_id
    per_get = (time.perf_counter() - started) / 10
    assert cold_probe.calls == {"query": 10}

    recorder = cold.recorder
    oid = uuid4()
    recorder.insert_events([stored(oid, 1)])
    started = time.perf_counter()
    for version in range(2, saves + 2):
        recorder.insert_events([stored(oid, version)])
    per_event = (time.perf_counter() - started) / saves
    with capsys.disabled():
        print(
            f"\nDynamoDB on moto: 1 request per save ({per_save * 1000:.1f} ms for Job +"
            f" JobName through Jobs, {per_event * 1000:.1f} ms for one event through the"
            f" recorder), 1 Query per get ({per_get * 1000:.1f} ms cold)"
        )


def test_factories_of_one_configuration_share_a_client_and_create_the_table_once(
    table: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = event_store_settings(table)
    first = InfrastructureFactory.construct(Environment("Jobs", event_store_env(settings)))
    second = InfrastructureFactory.construct(Environment("Exports", event_store_env(settings)))
    assert isinstance(first, DynamoDBFactory) and isinstance(second, DynamoDBFactory)
    assert first.datastore.db is second.datastore.db
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint + "/")
    elsewhere = InfrastructureFactory.construct(Environment("Jobs", event_store_env(settings)))
    assert isinstance(elsewhere, DynamoDBFactory)
    assert elsewhere.datastore.db is not first.datastore.db


# --- process applications -------------------------------------------------------------------


def _runner(table: str) -> tuple[NewSingleThreadedRunner[UUID], InMemoryQueue]:
    runner = NewSingleThreadedRunner(
        receipts_system(), env=event_store_env(event_store_settings(table))
    )
    export_queue = InMemoryQueue("exports")
    runner.get(QueueDispatcher).attach(export_queue, InMemoryQueue("ocr"))
    runner.start()
    return runner, export_queue


def test_a_succeeded_job_becomes_an_export_job_through_the_dynamodb_store(table: str) -> None:
    """Jobs → Exports → QueueDispatcher on one table, with in-memory queues; then a second
    runner (another process) finds everything, and catching up records nothing twice."""
    runner, export_queue = _runner(table)
    try:
        jobs = runner.get(Jobs)
        job_id = jobs.create_job(JobDraft(name="receipts-v1", tags={"team": "ml"}))
        jobs.start_job(job_id)
        jobs.succeed_job(
            job_id,
            JobResults(
                best_checkpoint_uri="s3://bucket/runs/receipts-v1/best/",
                best_f1=0.91,
                best_epoch=2,
                epochs_run=3,
            ),
        )
        export = runner.get(Exports).get_export(ExportJob.auto_id_for(job_id))
        assert export.status is ExportStatus.QUEUED
        assert export.request.source_job_id == job_id
        [message] = export_queue.receive(max_messages=10)
        assert str(export.id) in message.body
        jobs_head = jobs.recorder.max_notification_id()
    finally:
        runner.stop()

    # another process opens the same table: everything is there, and catching up adds nothing
    again, queue_again = _runner(table)
    try:
        for leader, follower in receipts_system().edges:
            again.apps[follower].pull_and_process(leader)  # type: ignore[attr-defined]
        job = again.get(Jobs).get_job(job_id)
        assert job.status is JobStatus.SUCCEEDED
        assert job.results is not None and job.results.best_f1 == 0.91
        exports = again.get(Exports)
        export_id = ExportJob.auto_id_for(job_id)
        assert exports.get_export(export_id).status is ExportStatus.QUEUED
        exported = exports.recorder.select_notifications(start=None, limit=100)
        assert [n.originator_id for n in exported] == [ExportJob.auto_id_for(job_id)]
        assert exports.recorder.max_tracking_id("Jobs") == jobs_head  # type: ignore[attr-defined]
        assert queue_again.receive(max_messages=10) == []  # the message was sent once
        dispatcher = again.get(QueueDispatcher)
        assert dispatcher.recorder.max_tracking_id("Exports") == exported[-1].id  # type: ignore[attr-defined]
        # a projection reads both notification logs, filtered by topic, from the start
        catalog = JobCatalog(again.get(Jobs), InMemoryJobReadModel(), exports=exports)
        assert [job.job_id for job in catalog.by_status(JobStatus.SUCCEEDED)] == [job_id]
        assert catalog.by_name("receipts-v1").job_id == job_id
        assert [e.export_id for e in catalog.exports_of(job_id)] == [export_id]
    finally:
        again.stop()
