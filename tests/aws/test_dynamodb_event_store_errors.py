"""The DynamoDB event store given bad input or a bad table, on the moto server: a missing
table, saves DynamoDB cannot hold in one transaction, malformed stored items, throttling."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import boto3
import pytest
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    MapperDeserialisationError,
)
from eventsourcing.utils import Environment, get_topic
from tests.aws.dynamodb_event_store_support import (
    ThrottlingProxy,
    event_store_settings,
    open_factory,
    probe_of,
    stored,
)

from receipts.adapters.aws_clients import async_client, client, retry_config_from_env
from receipts.adapters.dynamodb.event_store import (
    MAX_ITEM_BYTES,
    DynamoDBFactory,
    EventStoreLimitExceeded,
    EventStoreThrottled,
    MalformedStoredEvent,
    TableMissing,
)
from receipts.application.training.jobs import Jobs
from receipts.bootstrap import event_store_env
from receipts.domain.job import Job, JobDraft
from receipts.domain.job_log import JobLog, LogEntry


@pytest.fixture
def table(aws_env: dict[str, str], unique_name: str) -> str:
    return unique_name


@pytest.fixture
def factory(table: str) -> Iterator[DynamoDBFactory]:
    factory = open_factory(table)
    yield factory
    factory.close()


@pytest.fixture
def recorder(factory: DynamoDBFactory) -> ApplicationRecorder:
    return factory.application_recorder()


def raw_client() -> Any:
    """A plain boto3 client on the moto server, to look behind the store's back."""
    return boto3.client("dynamodb")


def assert_nothing_written(recorder: ApplicationRecorder, *originator_ids: UUID) -> None:
    for originator_id in originator_ids:
        assert list(recorder.select_events(originator_id)) == []
    assert recorder.max_notification_id() is None
    assert list(recorder.select_notifications(start=None, limit=100)) == []


# --- configuration --------------------------------------------------------------------------


def test_a_missing_table_is_named_with_the_application(table: str) -> None:
    jobs = Jobs(env=event_store_env(event_store_settings(table, create=False)))

    with pytest.raises(TableMissing, match=rf"'{table}' \(event store of Jobs\) does not exist"):
        jobs.create_job(JobDraft(name="nowhere"))
    with pytest.raises(TableMissing, match=table):
        jobs.get_job(uuid4())


def test_no_table_configured_names_the_variables(aws_env: dict[str, str]) -> None:
    env = Environment("Jobs", {"PERSISTENCE_MODULE": "receipts.adapters.dynamodb.event_store"})
    with pytest.raises(OSError, match="JOBS_DYNAMODB_TABLE, DYNAMODB_TABLE"):
        InfrastructureFactory.construct(env)


@pytest.mark.parametrize("service", ["dynamodb", "s3", "sqs", "sagemaker"])
def test_retries_default_to_adaptive_and_follow_the_environment(service: str) -> None:
    default = client(service, {"AWS_REGION": "us-east-1"}).meta.config
    assert default.retries == {"mode": "adaptive", "total_max_attempts": 11}
    assert (default.connect_timeout, default.read_timeout) == (5, 30)
    env = {"AWS_REGION": "us-east-1", "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"}
    chosen = client(service, env).meta.config
    assert chosen.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (chosen.connect_timeout, chosen.read_timeout) == (5, 30)
    with pytest.raises(ValueError, match="AWS_MAX_ATTEMPTS must be a whole number"):
        retry_config_from_env({"AWS_MAX_ATTEMPTS": "lots"})
    with pytest.raises(ValueError, match="AWS_MAX_ATTEMPTS"):
        retry_config_from_env({"AWS_MAX_ATTEMPTS": "0"})
    with pytest.raises(ValueError, match="AWS_RETRY_MODE must be one of legacy, standard"):
        retry_config_from_env({"AWS_RETRY_MODE": "eager"})


def test_async_clients_follow_the_environment_too() -> None:
    env = {"AWS_REGION": "us-east-1", "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "4"}

    async def config() -> Any:
        async with async_client("sqs", env) as sqs:
            return sqs.meta.config

    chosen = asyncio.run(config())

    assert chosen.retries == {"mode": "standard", "total_max_attempts": 4}


# --- saves DynamoDB cannot hold in one transaction ------------------------------------------


def test_an_event_over_400_kb_is_refused_before_anything_is_written(
    recorder: ApplicationRecorder,
) -> None:
    oid = uuid4()
    small = stored(oid, 1)
    huge = stored(oid, 2, b"x" * MAX_ITEM_BYTES)

    with pytest.raises(EventStoreLimitExceeded) as refused:
        recorder.insert_events([small, huge])

    message = str(refused.value)
    assert f"event v2 of {oid}" in message
    assert "over the 409,600-byte limit (400 KB)" in message
    assert "artifact store" in message
    assert probe_of(recorder).calls["transact_write_items"] == 0
    assert_nothing_written(recorder, oid)


def test_a_save_over_4_mb_in_all_is_refused_before_anything_is_written(
    recorder: ApplicationRecorder,
) -> None:
    oid = uuid4()
    # each event fits an item, but every event is written twice (with its notification)
    events = [stored(oid, v, b"y" * 200_000) for v in range(1, 12)]

    with pytest.raises(EventStoreLimitExceeded, match="limit of one DynamoDB transaction"):
        recorder.insert_events(events)

    assert probe_of(recorder).calls["transact_write_items"] == 0
    assert_nothing_written(recorder, oid)


def test_too_many_events_in_one_save_are_refused_and_49_fit(
    recorder: ApplicationRecorder,
) -> None:
    refused, accepted = uuid4(), uuid4()

    with pytest.raises(EventStoreLimitExceeded) as error:
        recorder.insert_events([stored(refused, v) for v in range(1, 51)])

    assert "a save of 50 events needs 101 items" in str(error.value)
    assert "holds at most 100" in str(error.value)
    assert_nothing_written(recorder, refused)

    ids = recorder.insert_events([stored(accepted, v) for v in range(1, 50)])
    assert ids == list(range(1, 50))
    assert len(recorder.select_events(accepted)) == 49


def test_an_application_save_too_large_is_refused_and_the_aggregate_is_not_cached(
    table: str,
) -> None:
    jobs = Jobs(env=event_store_env(event_store_settings(table)))
    job_id = jobs.create_job(JobDraft(name="chatty"))

    with pytest.raises(EventStoreLimitExceeded, match=f"Jobs: event v2 of {JobLog.id_for(job_id)}"):
        jobs.append_log(job_id, LogEntry(message="x" * 500_000))

    assert jobs.logs_of(job_id) == []
    jobs.append_log(job_id, LogEntry(message="fits"))
    assert [entry.message for entry in jobs.logs_of(job_id)] == ["fits"]


# --- malformed stored items -----------------------------------------------------------------


def _overwrite_started(table: str, job_id: UUID, **attributes: Any) -> None:
    """Puts version 2 of the job straight into the table, bypassing the store."""
    raw_client().put_item(
        TableName=table,
        Item={"PK": {"S": f"Jobs#E#{job_id}"}, "SK": {"N": "2"}, **attributes},
    )


def test_a_stored_event_with_an_attribute_of_the_wrong_type_is_named(table: str) -> None:
    writer = Jobs(env=event_store_env(event_store_settings(table)))
    job_id = writer.create_job(JobDraft(name="tampered"))
    _overwrite_started(
        table, job_id, topic={"S": get_topic(Job.Started)}, state={"S": '{"timestamp": 1}'}
    )

    reader = Jobs(env=event_store_env(event_store_settings(table)))
    with pytest.raises(MalformedStoredEvent) as error:
        reader.get_job(job_id)
    assert f"stored event v2 of {job_id} in table '{table}'" in str(error.value)
    assert "attribute 'state' is S, not B" in str(error.value)


def test_a_stored_event_without_a_topic_is_named(table: str) -> None:
    writer = Jobs(env=event_store_env(event_store_settings(table)))
    job_id = writer.create_job(JobDraft(name="topicless"))
    _overwrite_started(table, job_id, state={"B": b"{}"})

    reader = Jobs(env=event_store_env(event_store_settings(table)))
    with pytest.raises(MalformedStoredEvent, match=rf"v2 of {job_id}.*'topic' is missing"):
        reader.get_job(job_id)


def test_a_stored_event_whose_state_is_not_json_is_named(table: str) -> None:
    writer = Jobs(env=event_store_env(event_store_settings(table)))
    job_id = writer.create_job(JobDraft(name="garbled"))
    _overwrite_started(table, job_id, topic={"S": get_topic(Job.Started)}, state={"B": b"{oops"})

    reader = Jobs(env=event_store_env(event_store_settings(table)))
    with pytest.raises(MapperDeserialisationError) as error:
        reader.get_job(job_id)
    assert f"Job.Started v2 of {job_id}" in str(error.value)


def test_a_malformed_notification_is_named(table: str, recorder: ApplicationRecorder) -> None:
    recorder.insert_events([stored(uuid4(), 1)])
    raw_client().update_item(
        TableName=table,
        Key={"PK": {"S": "Jobs#N#0"}, "SK": {"N": "1"}},
        UpdateExpression="REMOVE oid",
    )
    with pytest.raises(MalformedStoredEvent, match=r"notification 1 .*'oid' is missing"):
        recorder.select_notifications(start=None, limit=10)


# --- throttling -----------------------------------------------------------------------------


@pytest.fixture
def throttled_twice(
    table: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThrottlingProxy]:
    """Every client built from now on goes through a proxy that throttles the first two
    TransactWriteItems requests."""
    open_factory(table).close()  # the table, created straight on moto
    with ThrottlingProxy(moto_endpoint, "TransactWriteItems", throttle=2) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


def test_a_throttled_save_is_retried_with_backoff_and_succeeds(
    table: str, throttled_twice: ThrottlingProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = open_factory(table, create=False)
    recorder = factory.application_recorder()
    oid = uuid4()

    assert recorder.insert_events([stored(oid, 1)]) == [1]

    transactions = [op for op in throttled_twice.operations() if op == "TransactWriteItems"]
    assert transactions == ["TransactWriteItems"] * 3
    assert throttled_twice.operations(status=400) == ["TransactWriteItems"] * 2
    # botocore retried the request itself: the store sent one transaction
    assert probe_of(recorder).calls["transact_write_items"] == 1
    assert [e.originator_version for e in recorder.select_events(oid)] == [1]
    times = throttled_twice.times_of("TransactWriteItems")
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # jittered exponential backoff (up to 1 s, then 2 s): near zero only by a fluke
    assert sum(gaps) > 0.05, gaps
    with capsys.disabled():
        print(f"\nthrottled twice: retried after {', '.join(f'{g * 1000:.0f} ms' for g in gaps)}")
    factory.close()


def test_aws_max_attempts_in_the_environment_wins_over_the_default(
    table: str,
    throttled_twice: ThrottlingProxy,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    factory = open_factory(table, create=False)
    recorder = factory.application_recorder()
    oid = uuid4()

    with pytest.raises(EventStoreThrottled) as error:
        recorder.insert_events([stored(oid, 1)])

    assert f"throttled transact_write_items on table '{table}'" in str(error.value)
    assert "after 2 attempts" in str(error.value)
    assert throttled_twice.operations(status=400) == ["TransactWriteItems"] * 2
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert_nothing_written(open_factory(table, create=False).application_recorder(), oid)
    factory.close()
