"""The event-store contract: what every eventsourcing ApplicationRecorder behind `receipts`
must do (POPO and SQLite today, DynamoDB next).

Recorders come from the library's `InfrastructureFactory`, configured with the very
environment `bootstrap` builds (`event_store_env`), and the tests speak only the recorder
interface: `insert_events`, `select_events`, `select_notifications`, `max_notification_id`.
Notification ids are checked for order and uniqueness, not contiguity.

The `dynamodb` store runs on the session's moto server (`aws_env`), one fresh table per
test. moto does not isolate concurrent transactions, so there every recorder's client is
wrapped to serialize `transact_write_items` (`SerializedTransactions`): the conditions are
what is under test, not moto's locking.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Mapper,
    Notification,
    StoredEvent,
)
from eventsourcing.utils import Environment
from tests.aws.dynamodb_event_store_support import SerializedTransactions

from receipts.adapters.dynamodb.event_store import DynamoDBFactory
from receipts.application.event_sourcing.persistence import JSONTranscoder, PydanticMapper
from receipts.application.training.jobs import Jobs
from receipts.bootstrap import event_store_env
from receipts.domain.aggregate import Aggregate
from receipts.domain.config import DataConfig, Hyperparameters, JobConfig, ModelConfig
from receipts.domain.job import Job, JobDraft, JobResults, JobStatus
from receipts.domain.job_metric import Evaluation, JobMetric, LabelScore
from receipts.settings import Mode, Settings

STORES: dict[str, Mode] = {"popo": "memory", "sqlite": "local", "dynamodb": "aws"}
"""Contract name → the `RECEIPTS_MODE` whose event-store environment builds it."""

APP_NAME = Jobs.name


def _factory(settings: Settings) -> InfrastructureFactory:
    env = event_store_env(settings)
    factory = InfrastructureFactory.construct(Environment(APP_NAME, env))
    if isinstance(factory, DynamoDBFactory):
        factory.datastore.db = SerializedTransactions(factory.datastore.db)
    return factory


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.aws) if mode == "aws" else name
        for name, mode in STORES.items()
    ]
)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The settings of one store; `dynamodb` gets a fresh table on the moto server."""
    if request.param == "dynamodb":
        request.getfixturevalue("aws_env")
        table = request.getfixturevalue("unique_name")
        return Settings(mode="aws", events_table=table, create_resources=True)
    return Settings(mode=STORES[request.param], home=tmp_path)


@pytest.fixture
def recorder(store_settings: Settings) -> Iterator[ApplicationRecorder]:
    factory = _factory(store_settings)
    try:
        yield factory.application_recorder()
    finally:
        factory.close()


@pytest.fixture
def connect(
    store_settings: Settings, recorder: ApplicationRecorder
) -> Iterator[Callable[[], ApplicationRecorder]]:
    """Another recorder on the same stored events, as a second process would open.

    POPO keeps its events inside the recorder object, so there it is the same recorder.
    """
    if store_settings.mode == "memory":
        yield lambda: recorder
        return
    factories: list[InfrastructureFactory] = []

    def open_another() -> ApplicationRecorder:
        factories.append(_factory(store_settings))
        return factories[-1].application_recorder()

    yield open_another
    for factory in factories:
        factory.close()


def event(
    originator_id: UUID, version: int, topic: str = "topic", state: bytes = b""
) -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id,
        originator_version=version,
        topic=topic,
        state=state or f"{originator_id.hex[:8]}:{version}".encode(),
    )


def versions(events: Sequence[StoredEvent]) -> list[int]:
    return [e.originator_version for e in events]


# --- aggregate sequences --------------------------------------------------------------------


def test_is_an_application_recorder(recorder: ApplicationRecorder) -> None:
    assert isinstance(recorder, ApplicationRecorder)


def test_empty_store(recorder: ApplicationRecorder) -> None:
    assert recorder.max_notification_id() is None
    assert list(recorder.select_events(uuid4())) == []
    assert list(recorder.select_notifications(start=None, limit=10)) == []
    assert recorder.insert_events([]) in (None, [])


def test_inserted_events_read_back_exactly(recorder: ApplicationRecorder) -> None:
    oid = uuid4()
    written = [event(oid, 1, "t1", b"\x00binary\xff"), event(oid, 2, "t2", b'{"a": 1}')]

    recorder.insert_events(written)

    read = recorder.select_events(oid)
    assert list(read) == written
    assert all(isinstance(e.originator_id, UUID) for e in read)
    assert all(isinstance(e.state, bytes) for e in read)


def test_sequences_of_different_aggregates_are_separate(recorder: ApplicationRecorder) -> None:
    a, b = uuid4(), uuid4()
    recorder.insert_events([event(a, 1), event(b, 1), event(a, 2)])

    assert versions(recorder.select_events(a)) == [1, 2]
    assert versions(recorder.select_events(b)) == [1]


def test_version_conflict_raises_integrity_error(recorder: ApplicationRecorder) -> None:
    oid = uuid4()
    recorder.insert_events([event(oid, 1, state=b"first")])

    with pytest.raises(IntegrityError):
        recorder.insert_events([event(oid, 1, state=b"second")])

    assert [e.state for e in recorder.select_events(oid)] == [b"first"]


def test_several_events_insert_atomically(recorder: ApplicationRecorder) -> None:
    oid, other = uuid4(), uuid4()
    recorder.insert_events([event(oid, 1), event(oid, 2)])
    before = recorder.max_notification_id()

    # v3 is new, but v2 is taken: nothing of the batch may land
    with pytest.raises(IntegrityError):
        recorder.insert_events([event(oid, 3), event(other, 1), event(oid, 2, state=b"dup")])

    assert versions(recorder.select_events(oid)) == [1, 2]
    assert recorder.select_events(oid)[1] == event(oid, 2)
    assert list(recorder.select_events(other)) == []
    assert recorder.max_notification_id() == before
    assert len(recorder.select_notifications(start=None, limit=100)) == 2

    # the store is still usable and v3 can now be written
    recorder.insert_events([event(oid, 3)])
    assert versions(recorder.select_events(oid)) == [1, 2, 3]


def test_duplicate_inside_one_batch_is_refused(recorder: ApplicationRecorder) -> None:
    oid = uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events([event(oid, 1), event(oid, 1)])
    assert list(recorder.select_events(oid)) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"gt": 2}, [3, 4, 5]),
        ({"lte": 3}, [1, 2, 3]),
        ({"gt": 1, "lte": 4}, [2, 3, 4]),
        ({"desc": True}, [5, 4, 3, 2, 1]),
        ({"limit": 2}, [1, 2]),
        ({"desc": True, "limit": 1}, [5]),
        ({"lte": 3, "desc": True, "limit": 1}, [3]),
        ({"gt": 2, "desc": True, "limit": 2}, [5, 4]),
        ({"gt": 1, "lte": 4, "desc": True}, [4, 3, 2]),
        ({"gt": 5}, []),
        ({"lte": 0}, []),
    ],
)
def test_select_events_ranges(
    recorder: ApplicationRecorder, kwargs: dict[str, int | bool], expected: list[int]
) -> None:
    oid = uuid4()
    recorder.insert_events([event(oid, v) for v in range(1, 6)])
    recorder.insert_events([event(uuid4(), 1)])  # noise in another sequence

    assert versions(recorder.select_events(oid, **kwargs)) == expected  # type: ignore[arg-type]


# --- the application sequence (notifications) -----------------------------------------------


def _interleaved(recorder: ApplicationRecorder) -> tuple[list[StoredEvent], list[int]]:
    """Six events over three aggregates, written in four transactions."""
    a, b, c = uuid4(), uuid4(), uuid4()
    batches = [
        [event(a, 1, "Created"), event(a, 2, "Started")],
        [event(b, 1, "Created")],
        [event(c, 1, "Created"), event(b, 2, "Started")],
        [event(a, 3, "Succeeded")],
    ]
    ids: list[int] = []
    for batch in batches:
        returned = recorder.insert_events(batch)
        assert returned is not None and len(returned) == len(batch)
        ids.extend(returned)
    return [e for batch in batches for e in batch], ids


def _as_stored(notification: Notification) -> StoredEvent:
    return StoredEvent(
        originator_id=notification.originator_id,
        originator_version=notification.originator_version,
        topic=notification.topic,
        state=notification.state,
    )


def test_notifications_are_totally_ordered_across_aggregates(
    recorder: ApplicationRecorder,
) -> None:
    written, ids = _interleaved(recorder)

    notifications = recorder.select_notifications(start=None, limit=100)

    assert [n.id for n in notifications] == ids
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [_as_stored(n) for n in notifications] == written
    assert recorder.max_notification_id() == ids[-1]


def test_notification_ids_keep_increasing(recorder: ApplicationRecorder) -> None:
    _, ids = _interleaved(recorder)
    [later] = recorder.insert_events([event(uuid4(), 1)]) or []
    assert later > ids[-1]
    assert recorder.max_notification_id() == later


def test_select_notifications_window(recorder: ApplicationRecorder) -> None:
    _, ids = _interleaved(recorder)
    first, second, third, fourth, fifth, sixth = ids

    def window(*args: object, **kwargs: object) -> list[int]:
        return [n.id for n in recorder.select_notifications(*args, **kwargs)]  # type: ignore[arg-type]

    assert window(start=None, limit=3) == [first, second, third]
    assert window(start=third, limit=100) == [third, fourth, fifth, sixth]
    assert window(start=third, limit=2) == [third, fourth]
    assert window(start=third, limit=100, inclusive_of_start=False) == [fourth, fifth, sixth]
    assert window(start=None, limit=100, stop=fourth) == [first, second, third, fourth]
    assert window(start=second, limit=100, stop=fourth) == [second, third, fourth]
    assert window(start=second, limit=100, stop=fourth, inclusive_of_start=False) == [
        third,
        fourth,
    ]
    assert window(start=second, limit=100, stop=second) == [second]
    assert window(start=sixth, limit=100, inclusive_of_start=False) == []
    assert window(start=sixth + 1, limit=100) == []
    # paging by the last id seen visits every notification once
    seen: list[int] = []
    position: int | None = None
    while page := window(start=position, limit=4, inclusive_of_start=position is None):
        seen.extend(page)
        position = page[-1]
    assert seen == ids


def test_select_notifications_by_topic(recorder: ApplicationRecorder) -> None:
    written, ids = _interleaved(recorder)
    created = [i for i, e in zip(ids, written, strict=True) if e.topic == "Created"]
    started = [i for i, e in zip(ids, written, strict=True) if e.topic == "Started"]

    def topics(names: list[str], **kwargs: object) -> list[int]:
        return [
            n.id
            for n in recorder.select_notifications(start=None, limit=100, topics=names, **kwargs)  # type: ignore[arg-type]
        ]

    assert topics(["Created"]) == created
    assert topics(["Created", "Started"]) == sorted(created + started)
    assert topics(["Nothing"]) == []
    assert topics(["Created"], stop=created[1]) == created[:2]
    assert [
        n.id
        for n in recorder.select_notifications(
            start=created[0], limit=1, topics=["Created"], inclusive_of_start=False
        )
    ] == [created[1]]


# --- concurrency ----------------------------------------------------------------------------

THREADS = 8
VERSIONS = 25


def _race(
    recorders: list[ApplicationRecorder], oid: UUID
) -> tuple[dict[int, list[int]], list[BaseException]]:
    """Every thread tries to write every version of one aggregate; returns who won what."""
    winners: dict[int, list[int]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(recorders))

    def writer(index: int) -> None:
        barrier.wait()
        for version in range(1, VERSIONS + 1):
            try:
                recorders[index].insert_events(
                    [event(oid, version, state=f"thread-{index}".encode())]
                )
            except IntegrityError:
                continue
            except BaseException as error:
                with lock:
                    errors.append(error)
                return
            with lock:
                winners.setdefault(version, []).append(index)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(recorders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return winners, errors


def _check_race(
    recorder: ApplicationRecorder,
    oid: UUID,
    winners: dict[int, list[int]],
    errors: list[BaseException],
) -> None:
    assert errors == []
    assert sorted(winners) == list(range(1, VERSIONS + 1))
    assert all(len(w) == 1 for w in winners.values()), winners
    stored = recorder.select_events(oid)
    assert versions(stored) == list(range(1, VERSIONS + 1))
    assert [e.state for e in stored] == [
        f"thread-{winners[v][0]}".encode() for v in range(1, VERSIONS + 1)
    ]
    notified = [
        n for n in recorder.select_notifications(start=None, limit=1000) if n.originator_id == oid
    ]
    assert versions(notified) == list(range(1, VERSIONS + 1))


def test_concurrent_appends_one_winner_per_version(recorder: ApplicationRecorder) -> None:
    oid = uuid4()
    winners, errors = _race([recorder] * THREADS, oid)
    _check_race(recorder, oid, winners, errors)


def test_concurrent_appends_through_separate_recorders(
    recorder: ApplicationRecorder, connect: Callable[[], ApplicationRecorder]
) -> None:
    """As separate processes (or Lambda invocations) would: one recorder each."""
    oid = uuid4()
    winners, errors = _race([connect() for _ in range(THREADS)], oid)
    _check_race(recorder, oid, winners, errors)


def test_concurrent_writers_of_different_aggregates_lose_nothing(
    recorder: ApplicationRecorder, connect: Callable[[], ApplicationRecorder]
) -> None:
    per_thread = 20
    oids = [uuid4() for _ in range(THREADS)]
    returned: dict[UUID, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def writer(oid: UUID, own: ApplicationRecorder) -> None:
        barrier.wait()
        ids: list[int] = []
        try:
            for version in range(1, per_thread + 1, 2):
                ids.extend(own.insert_events([event(oid, version), event(oid, version + 1)]) or [])
        except BaseException as error:
            errors.append(error)
        returned[oid] = ids

    threads = [threading.Thread(target=writer, args=(oid, connect())) for oid in oids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    notifications = recorder.select_notifications(start=None, limit=10_000)
    ids = [n.id for n in notifications]
    assert len(ids) == THREADS * per_thread == len(set(ids))
    assert ids == sorted(ids)
    assert recorder.max_notification_id() == ids[-1]
    for oid in oids:
        mine = [n for n in notifications if n.originator_id == oid]
        assert versions(mine) == list(range(1, per_thread + 1))  # in order within a sequence
        assert [n.id for n in mine] == returned[oid]


# --- real domain events through the project's mapper ----------------------------------------


def _mapper(settings: Settings) -> Mapper[UUID]:
    return _factory(settings).mapper(transcoder=JSONTranscoder(), mapper_class=PydanticMapper)


def _replay(events: Sequence[Aggregate.Event]) -> Aggregate:
    aggregate = functools.reduce(lambda agg, e: e.mutate(agg), events, None)  # type: ignore[arg-type,return-value]
    assert aggregate is not None
    return aggregate


def test_domain_events_round_trip(store_settings: Settings, recorder: ApplicationRecorder) -> None:
    mapper = _mapper(store_settings)
    config = JobConfig(
        hyperparameters=Hyperparameters(epochs=7, learning_rate=3e-5, o_entity_ratio=2.5),
        data=DataConfig(merge_amounts=True, allowed_labels=("AMOUNT", "DATE")),
        model=ModelConfig(model_size="tiny", max_seq_length=128, stride=32),
    )
    job = Job(draft=JobDraft(name="round-trip-1", config=config, tags={"team": "ml"}))
    job.start()
    job.succeed(
        JobResults(
            best_checkpoint_uri="memory://receipts/runs/round-trip-1/best/",
            best_f1=0.8731,
            best_epoch=3,
            epochs_run=5,
            stopped_early=True,
            extra={"nested": {"k": [1, 2.5, None]}},
        )
    )
    metric = JobMetric(job_id=job.id)
    metric.record(
        Evaluation(
            epoch=1,
            global_step=100,
            f1=0.5,
            precision=0.6,
            recall=0.4285714285714286,
            loss=1.25,
            learning_rate=3e-5,
            per_label={
                "AMOUNT": LabelScore(precision=0.7, recall=0.6, f1=0.646153846, support=40),
                "DATE": LabelScore(precision=1.0, recall=0.0, f1=0.0, support=3),
            },
            elapsed_seconds=12.5,
        )
    )
    job_events, metric_events = job.collect_events(), metric.collect_events()
    assert job.status is JobStatus.SUCCEEDED and len(job_events) == 3

    # the job and its metric series are saved together, as the application does
    recorder.insert_events([mapper.to_stored_event(e) for e in (*job_events, *metric_events)])

    job_back = [mapper.to_domain_event(s) for s in recorder.select_events(job.id)]
    metric_back = [mapper.to_domain_event(s) for s in recorder.select_events(metric.id)]
    assert job_back == list(job_events)
    assert metric_back == list(metric_events)
    assert [type(e) for e in job_back] == [Job.Created, Job.Started, Job.Succeeded]

    reloaded = _replay(job_back)
    assert isinstance(reloaded, Job)
    assert reloaded == job
    assert reloaded.config == config
    assert reloaded.config.data.entity_labels() == ["AMOUNT", "DATE"]
    reloaded_metric = _replay(metric_back)
    assert reloaded_metric == metric
    assert isinstance(reloaded_metric, JobMetric)
    [evaluation] = reloaded_metric.evaluations
    assert evaluation.per_label["AMOUNT"].support == 40
    assert evaluation.timestamp == metric.evaluations[0].timestamp
    # notifications carry the same bytes, so followers rebuild the same events
    notified = recorder.select_notifications(start=None, limit=10)
    assert [mapper.to_domain_event(n) for n in notified] == [*job_events, *metric_events]
