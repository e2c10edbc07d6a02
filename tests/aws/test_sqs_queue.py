"""SQSQueue (boto3) on the moto server: what the queue contract does not cover."""

from __future__ import annotations

import json
import re
import time

import pytest

from receipts.adapters.aws_clients import client
from receipts.adapters.sqs.errors import InvalidMessageBody, MessageTooLarge, QueueMissing
from receipts.adapters.sqs.heartbeat import Heartbeat
from receipts.adapters.sqs.messages import receive_args
from receipts.adapters.sqs.queue import ReceiptHandleInvalid, SQSQueue
from receipts.application.ports.queue import MAX_MESSAGE_BYTES


@pytest.fixture
def queue(aws_env: dict[str, str], unique_name: str) -> SQSQueue:
    return SQSQueue.ensure(unique_name, visibility_timeout=1)


def test_missing_queue_is_named(aws_env: dict[str, str], unique_name: str) -> None:
    with pytest.raises(QueueMissing, match=f"'{unique_name}' does not exist"):
        SQSQueue.by_name(unique_name)


def test_a_queue_deleted_under_the_adapter_is_named(queue: SQSQueue) -> None:
    queue.sqs.delete_queue(QueueUrl=queue.queue_url)

    for call in (lambda: queue.send("x"), queue.receive, queue.approximate_count):
        with pytest.raises(QueueMissing) as raised:
            call()
        assert raised.value.queue == queue.name


def test_body_over_256_kib_is_refused_before_sending(queue: SQSQueue) -> None:
    largest = "é" * (MAX_MESSAGE_BYTES // 2)  # two bytes each in UTF-8
    queue.send(largest)

    with pytest.raises(MessageTooLarge, match="262,145 bytes, over the 262,144-byte limit"):
        queue.send(largest + "a")

    [message] = queue.receive(max_messages=10)
    assert message.body == largest
    assert queue.approximate_count() == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [("", "empty"), ("nul \x00 byte", r"'\x00' at index 4"), ("ok\x1b[0m", r"'\x1b' at index 2")],
)
def test_bodies_sqs_would_refuse_are_named(queue: SQSQueue, body: str, problem: str) -> None:
    with pytest.raises(InvalidMessageBody, match=re.escape(problem)) as raised:
        queue.send(body)

    assert queue.name in str(raised.value)
    assert queue.approximate_count() == 0


def test_any_unicode_sqs_accepts_round_trips(queue: SQSQueue) -> None:
    body = json.dumps({"text": "tab\t new\nline ünï 😀 \ue000"}, ensure_ascii=False)
    queue.send(body)
    assert [m.body for m in queue.receive()] == [body]


def test_send_batch_splits_by_count_and_size(queue: SQSQueue) -> None:
    bodies = [f"m{i}" for i in range(23)] + ["x" * 100_000] * 3

    ids = queue.send_batch(bodies)

    assert len(set(ids)) == len(bodies)
    received = {}
    while batch := queue.receive(max_messages=10):
        for message in batch:
            received[message.message_id] = message.body
            queue.delete(message.receipt_handle)
    assert received == dict(zip(ids, bodies, strict=True))


def test_send_batch_sends_nothing_when_one_body_is_bad(queue: SQSQueue) -> None:
    with pytest.raises(MessageTooLarge):
        queue.send_batch(["ok"] * 12 + ["x" * (MAX_MESSAGE_BYTES + 1)])
    assert queue.approximate_count() == 0


def test_delete_batch_deletes_the_valid_and_names_the_invalid(queue: SQSQueue) -> None:
    queue.send_batch([str(i) for i in range(12)])
    handles = [m.receipt_handle for m in queue.receive(max_messages=10)]
    handles += [m.receipt_handle for m in queue.receive(max_messages=10)]
    assert len(handles) == 12

    with pytest.raises(ReceiptHandleInvalid, match="bogus"):
        queue.delete_batch([*handles[:6], "bogus", *handles[6:]])

    assert queue.approximate_count() == 0


def test_ensure_is_idempotent_and_updates_attributes(queue: SQSQueue) -> None:
    again = SQSQueue.ensure(queue.name, visibility_timeout=7)

    assert again.queue_url == queue.queue_url
    assert queue.attribute("VisibilityTimeout") == "7"


def test_ensure_sets_the_redrive_policy(aws_env: dict[str, str], unique_name: str) -> None:
    dead = SQSQueue.ensure(f"{unique_name}-dlq")
    queue = SQSQueue.ensure(unique_name, dead_letter_queue=dead, max_receive_count=3)

    policy = json.loads(queue.attribute("RedrivePolicy"))

    assert policy["deadLetterTargetArn"] == dead.attribute("QueueArn")
    assert int(policy["maxReceiveCount"]) == 3


def test_ensure_refuses_bad_settings_before_creating(
    aws_env: dict[str, str], unique_name: str
) -> None:
    with pytest.raises(ValueError, match="visibility timeout"):
        SQSQueue.ensure(unique_name, visibility_timeout=50_000)
    with pytest.raises(QueueMissing):
        SQSQueue.by_name(unique_name)


def test_malformed_body_is_redriven_to_the_dead_letter_queue(
    aws_env: dict[str, str], unique_name: str
) -> None:
    """A consumer that cannot parse a body leaves it; after maxReceiveCount SQS moves it."""
    dead = SQSQueue.ensure(f"{unique_name}-dlq")
    queue = SQSQueue.ensure(
        unique_name, visibility_timeout=1, dead_letter_queue=dead, max_receive_count=1
    )
    queue.send("{not json")

    [first] = queue.receive(visibility_timeout=0)
    with pytest.raises(json.JSONDecodeError):
        json.loads(first.body)

    assert queue.receive() == []
    assert [m.body for m in dead.receive()] == ["{not json"]


def test_receive_long_polls_in_whole_seconds(queue: SQSQueue) -> None:
    """SQS waits whole seconds: half a second asks for one, and the receive waits it out (a
    lower bound only: a loaded machine may take longer, never shorter)."""
    assert receive_args(1, 0.5, None)["WaitTimeSeconds"] == 1
    started = time.monotonic()
    assert queue.receive(wait_seconds=0.5) == []
    assert time.monotonic() - started >= 0.9


def test_heartbeat_keeps_a_message_hidden_and_stops_on_exit(queue: SQSQueue) -> None:
    other = SQSQueue(queue.queue_url)
    queue.send("long work")
    [message] = queue.receive()

    with queue.heartbeat(message.receipt_handle, every=0.3, timeout=1) as beating:
        for _ in range(3):  # 1.5 s of work, 1.5 visibility timeouts
            time.sleep(0.5)
            assert other.receive() == []

    assert beating.error is None
    assert beating.beats >= 3
    time.sleep(1.2)  # no more beats: the last timeout runs out
    [again] = other.receive()
    assert (again.message_id, again.receive_count) == (message.message_id, 2)


def test_heartbeat_stops_when_the_handle_is_no_longer_valid(queue: SQSQueue) -> None:
    queue.send("job")
    [message] = queue.receive(visibility_timeout=10)

    with Heartbeat(queue, message.receipt_handle, every=0.1, timeout=10) as beating:
        time.sleep(0.3)
        queue.delete(message.receipt_handle)
        time.sleep(0.4)
        beats = beating.beats
        time.sleep(0.3)
        assert beating.beats == beats

    assert isinstance(beating.error, ReceiptHandleInvalid)


@pytest.mark.parametrize(("every", "timeout"), [(0, 10), (10, 10), (20, 10), (1, 50_000)])
def test_heartbeat_settings_are_checked(queue: SQSQueue, every: float, timeout: float) -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        queue.heartbeat("handle", every=every, timeout=timeout)


def test_clients_are_built_with_the_retry_config(aws_env: dict[str, str]) -> None:
    sqs = client("sqs")
    assert sqs.meta.config.retries == {"total_max_attempts": 11, "mode": "adaptive"}
    assert sqs.meta.endpoint_url == aws_env["AWS_ENDPOINT_URL"]
