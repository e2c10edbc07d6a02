"""Contract tests every MessageQueue adapter must pass (SQS semantics).

The memory and SQLite queues run on a fake clock. SQS (boto3, and aioboto3 through a
blocking facade) runs against the moto server on the real clock, with one-second
timeouts and sleeps around each deadline: SQS counts in whole seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from tests.contracts.blocking import Blocking, event_loop_thread

from receipts.adapters.aws_clients import async_client
from receipts.adapters.memory.queue import InMemoryQueue, memory_queue, reset_memory_queues
from receipts.adapters.sqlite.queue import SQLiteQueue
from receipts.adapters.sqs.async_queue import AsyncSQSQueue
from receipts.adapters.sqs.queue import SQSQueue
from receipts.application.ports.queue import (
    MAX_MESSAGE_BYTES,
    MessageQueue,
    ReceiptHandleInvalid,
)

VISIBILITY = 30.0


class Clock(Protocol):
    def __call__(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RealClock:
    def __call__(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Queues:
    """Builds queues of one implementation that share a clock.

    `visibility` is the default visibility timeout of the queues made; `slack` how far
    from a deadline the clock is moved to tell "before" from "after" (wide on the real
    clock, where requests take time); `strict_handles` whether a stale or used receipt
    handle is refused by `delete` (SQS accepts it); `ordered` whether deliveries keep
    the order of availability (SQS standard queues promise no order);
    `fresh_dead_letters` whether a dead letter's receive count starts again (SQS keeps
    counting).
    """

    kind: str
    clock: Clock
    build: Callable[..., MessageQueue]
    visibility: float = VISIBILITY
    slack: float = 0.1
    delay: int = 5
    prefix: str = ""
    strict_handles: bool = True
    ordered: bool = True
    fresh_dead_letters: bool = True

    def make(self, name: str = "jobs", **kwargs: Any) -> MessageQueue:
        kwargs.setdefault("visibility_timeout", self.visibility)
        return self.build(self.prefix + name, clock=self.clock, **kwargs)


def _sqs_queues(request: pytest.FixtureRequest, asynchronous: bool) -> Iterator[Queues]:
    request.getfixturevalue("aws_env")
    prefix = f"{request.getfixturevalue('unique_name')}-"
    common: dict[str, Any] = {
        "visibility": 1.0,
        "slack": 0.3,
        "delay": 1,
        "prefix": prefix,
        "strict_handles": False,
        "ordered": False,
        "fresh_dead_letters": False,
    }
    if not asynchronous:

        def build(name: str, *, clock: Clock, **kwargs: Any) -> MessageQueue:
            timeout = math.ceil(kwargs.pop("visibility_timeout"))
            return SQSQueue.ensure(name, visibility_timeout=timeout, **kwargs)

        yield Queues("sqs", RealClock(), build, **common)
        return
    with ExitStack() as stack:
        loop = stack.enter_context(event_loop_thread())
        sqs = stack.enter_context(loop.entered(async_client("sqs")))

        def build_async(name: str, *, clock: Clock, **kwargs: Any) -> MessageQueue:
            timeout = math.ceil(kwargs.pop("visibility_timeout"))
            dead = kwargs.pop("dead_letter_queue", None)
            made = loop.run(
                AsyncSQSQueue.ensure(
                    name,
                    sqs,
                    visibility_timeout=timeout,
                    dead_letter_queue=dead.target if isinstance(dead, Blocking) else dead,
                    **kwargs,
                )
            )
            queue: MessageQueue = Blocking(made, loop)
            return queue

        yield Queues("sqs-async", RealClock(), build_async, **common)


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("sqs", marks=pytest.mark.aws),
        pytest.param("sqs-async", marks=pytest.mark.aws),
    ]
)
def queues(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queues]:
    if request.param.startswith("sqs"):
        yield from _sqs_queues(request, asynchronous=request.param == "sqs-async")
        return
    clock = FakeClock()
    made: list[SQLiteQueue] = []

    def build_sqlite(name: str, **kwargs: Any) -> MessageQueue:
        queue = SQLiteQueue(tmp_path / "queue.db", name, **kwargs)
        made.append(queue)
        return queue

    build = InMemoryQueue if request.param == "memory" else build_sqlite
    yield Queues(request.param, clock, build)
    for queue in made:
        queue.close()


@pytest.fixture
def queue(queues: Queues) -> MessageQueue:
    return queues.make()


def covered_by_sync_sqs(queues: Queues) -> None:
    """Skips a test that waits on SQS's own timers for the async adapter: it sends the same
    requests as the sync one (built by the same functions), so [sqs] covers the timing."""
    if queues.kind == "sqs-async":
        pytest.skip("SQS timing already covered by [sqs]; same requests")


def test_implements_the_port(queues: Queues, queue: MessageQueue) -> None:
    assert isinstance(queue, MessageQueue)
    assert queue.name == queues.prefix + "jobs"


def test_send_receive_delete(queue: MessageQueue) -> None:
    message_id = queue.send("hello")

    [message] = queue.receive()

    assert (message.message_id, message.body, message.receive_count) == (message_id, "hello", 1)
    queue.delete(message.receipt_handle)
    assert queue.approximate_count() == 0
    assert queue.receive() == []


def test_message_ids_are_unique(queue: MessageQueue) -> None:
    ids = {queue.send("same body") for _ in range(20)}
    assert len(ids) == 20


def test_fifo_order(queues: Queues, queue: MessageQueue) -> None:
    if not queues.ordered:
        pytest.skip(f"{queues.kind}: no delivery order is promised")
    for body in ["a", "b", "c", "d"]:
        queue.send(body)

    assert [m.body for m in queue.receive(max_messages=3)] == ["a", "b", "c"]
    assert [m.body for m in queue.receive(max_messages=3)] == ["d"]


def test_redelivered_message_queues_behind_earlier_available_ones(queues: Queues) -> None:
    if not queues.ordered:
        pytest.skip(f"{queues.kind}: no delivery order is promised")
    queue = queues.make()
    queue.send("first")
    queue.receive()
    queues.clock.advance(1)
    queue.send("second")
    queues.clock.advance(queues.visibility)

    assert [m.body for m in queue.receive(max_messages=10)] == ["second", "first"]


def test_in_flight_message_is_invisible_then_redelivered(queues: Queues) -> None:
    covered_by_sync_sqs(queues)
    queue = queues.make()
    queue.send("job")
    [first] = queue.receive()

    assert queue.receive() == []
    queues.clock.advance(queues.visibility - queues.slack)
    assert queue.receive() == []
    queues.clock.advance(2 * queues.slack)

    [second] = queue.receive()
    assert (second.message_id, second.receive_count) == (first.message_id, 2)
    assert second.receipt_handle != first.receipt_handle
    if queues.strict_handles:
        with pytest.raises(ReceiptHandleInvalid):
            queue.delete(first.receipt_handle)
    queue.delete(second.receipt_handle)
    assert queue.approximate_count() == 0


def test_receive_visibility_timeout_overrides_default(queues: Queues) -> None:
    queue = queues.make(visibility_timeout=3 * queues.visibility)
    queue.send("job")
    queue.receive(visibility_timeout=queues.visibility)

    queues.clock.advance(queues.visibility + queues.slack)

    assert [m.receive_count for m in queue.receive()] == [2]


def test_heartbeat_keeps_message_hidden(queues: Queues) -> None:
    queue = queues.make()
    visibility, slack = queues.visibility, queues.slack
    queue.send("job")
    [message] = queue.receive()

    queues.clock.advance(visibility - slack)
    queue.change_visibility(message.receipt_handle, visibility)
    queues.clock.advance(visibility - slack)  # past the first deadline
    assert queue.receive() == []
    queue.change_visibility(message.receipt_handle, visibility)
    queues.clock.advance(visibility - slack)
    assert queue.receive() == []

    queues.clock.advance(2 * slack)
    assert [m.receive_count for m in queue.receive()] == [2]


def test_change_visibility_zero_redelivers_now(queue: MessageQueue) -> None:
    queue.send("job")
    [message] = queue.receive()

    queue.change_visibility(message.receipt_handle, 0)

    [again] = queue.receive()
    assert (again.message_id, again.receive_count) == (message.message_id, 2)


def test_delay_seconds_postpones_visibility(queues: Queues) -> None:
    covered_by_sync_sqs(queues)
    queue = queues.make()
    queue.send("later", delay_seconds=queues.delay)
    queue.send("now")

    [now] = queue.receive(max_messages=10)
    assert now.body == "now"
    queue.delete(now.receipt_handle)
    queues.clock.advance(queues.delay + queues.slack)
    assert [m.body for m in queue.receive(max_messages=10)] == ["later"]


def test_dead_letter_queue_after_max_receive_count(queues: Queues) -> None:
    covered_by_sync_sqs(queues)
    dead = queues.make("jobs-dlq")
    queue = queues.make(max_receive_count=2, dead_letter_queue=dead)
    queue.send("poison")

    for attempt in (1, 2):
        assert [(m.body, m.receive_count) for m in queue.receive()] == [("poison", attempt)]
        queues.clock.advance(queues.visibility + queues.slack)

    assert queue.receive(max_messages=10) == []
    assert queue.approximate_count() == 0
    [letter] = dead.receive()
    assert letter.body == "poison"
    if queues.fresh_dead_letters:
        assert letter.receive_count == 1


def test_dead_lettering_does_not_use_up_the_batch(queues: Queues) -> None:
    covered_by_sync_sqs(queues)
    dead = queues.make("jobs-dlq")
    queue = queues.make(max_receive_count=1, dead_letter_queue=dead)
    queue.send("poison")
    queue.receive()
    queues.clock.advance(queues.visibility + queues.slack)
    queue.send("fresh")

    assert [m.body for m in queue.receive()] == ["fresh"]
    assert [m.body for m in dead.receive()] == ["poison"]


def test_redrive_needs_both_settings(queues: Queues) -> None:
    with pytest.raises(ValueError, match="together"):
        queues.make(max_receive_count=3)
    with pytest.raises(ValueError, match="at least 1"):
        queues.make(max_receive_count=0, dead_letter_queue=queues.make("dlq"))


def test_unknown_receipt_handle_is_refused(queue: MessageQueue) -> None:
    queue.send("job")
    with pytest.raises(ReceiptHandleInvalid, match="not-a-handle"):
        queue.delete("not-a-handle")
    with pytest.raises(ReceiptHandleInvalid):
        queue.change_visibility("not-a-handle", 10)
    assert queue.approximate_count() == 1


def test_deleted_receipt_handle_is_refused(queues: Queues, queue: MessageQueue) -> None:
    queue.send("job")
    [message] = queue.receive()
    queue.delete(message.receipt_handle)

    if queues.strict_handles:
        with pytest.raises(ReceiptHandleInvalid):
            queue.delete(message.receipt_handle)
    else:
        queue.delete(message.receipt_handle)  # a repeated delete is harmless
    with pytest.raises(ReceiptHandleInvalid):
        queue.change_visibility(message.receipt_handle, 0)


def test_receipt_handles_belong_to_their_queue(queues: Queues) -> None:
    jobs, other = queues.make("jobs"), queues.make("other")
    jobs.send("job")
    [message] = jobs.receive()

    with pytest.raises(ReceiptHandleInvalid):
        other.delete(message.receipt_handle)
    assert other.receive() == []


@pytest.mark.parametrize("max_messages", [0, -1, 11])
def test_batch_size_is_validated(queue: MessageQueue, max_messages: int) -> None:
    queue.send("job")
    with pytest.raises(ValueError, match="max_messages"):
        queue.receive(max_messages=max_messages)
    assert queue.approximate_count() == 1


def test_batch_of_ten_is_allowed(queues: Queues, queue: MessageQueue) -> None:
    for index in range(12):
        queue.send(str(index))

    bodies = [m.body for m in queue.receive(max_messages=10)]

    if queues.ordered:
        assert bodies == [str(i) for i in range(10)]
    assert len(set(bodies)) == 10
    assert set(bodies) <= {str(i) for i in range(12)}


def test_other_arguments_are_validated(queue: MessageQueue) -> None:
    with pytest.raises(ValueError):
        queue.send("job", delay_seconds=-1)
    with pytest.raises(ValueError):
        queue.receive(wait_seconds=-1)
    with pytest.raises(ValueError):
        queue.receive(visibility_timeout=-1)
    queue.send("job")
    [message] = queue.receive()
    with pytest.raises(ValueError):
        queue.change_visibility(message.receipt_handle, -1)


def test_a_body_over_sqs_256_kib_is_refused_and_the_largest_one_kept(
    queue: MessageQueue,
) -> None:
    """The memory and SQLite queues took any size, so a body that works locally failed on
    SQS; now every queue refuses it alike, naming the size and the limit."""
    largest = "é" * (MAX_MESSAGE_BYTES // 2)  # two bytes each in UTF-8

    with pytest.raises(ValueError, match=r"is 262,145 bytes, over the 262,144-byte limit"):
        queue.send(largest + "x")

    queue.send(largest)
    [message] = queue.receive()
    assert message.body == largest


def test_long_poll_is_woken_by_a_send(queue: MessageQueue) -> None:
    sender = threading.Timer(0.1, queue.send, args=("wake up",))
    sender.start()
    started = time.monotonic()

    messages = queue.receive(wait_seconds=5)

    elapsed = time.monotonic() - started
    sender.join()
    assert [m.body for m in messages] == ["wake up"]
    assert 0.05 < elapsed < 5  # after the send, before the wait ended


def test_long_poll_returns_empty_after_wait(queue: MessageQueue) -> None:
    started = time.monotonic()

    assert queue.receive(wait_seconds=0.2) == []

    assert time.monotonic() - started >= 0.2  # waited it out (never less, maybe more)


def test_approximate_count_counts_visible_in_flight_and_delayed(queue: MessageQueue) -> None:
    queue.send("visible")
    queue.send("in flight")
    queue.send("delayed", delay_seconds=60)
    queue.receive()

    assert queue.approximate_count() == 3
    [message] = queue.receive()
    queue.delete(message.receipt_handle)
    assert queue.approximate_count() == 2


def test_sqlite_queue_is_shared_through_the_file(tmp_path: Path) -> None:
    producer = SQLiteQueue(tmp_path / "q.db", "jobs")
    consumer = SQLiteQueue(tmp_path / "q.db", "jobs")
    elsewhere = SQLiteQueue(tmp_path / "q.db", "other")
    message_id = producer.send("cross-process")

    [message] = consumer.receive()

    assert (message.message_id, message.body) == (message_id, "cross-process")
    assert elsewhere.approximate_count() == 0
    producer.delete(message.receipt_handle)
    assert consumer.approximate_count() == 0


def test_sqlite_queue_dead_letters_into_another_kind_of_queue(tmp_path: Path) -> None:
    clock = FakeClock()
    dead = InMemoryQueue("dlq")
    queue = SQLiteQueue(
        tmp_path / "q.db", "jobs", max_receive_count=1, dead_letter_queue=dead, clock=clock
    )
    queue.send("poison")
    queue.receive()
    clock.advance(VISIBILITY)

    assert queue.receive() == []
    assert queue.approximate_count() == 0
    assert [m.body for m in dead.receive()] == ["poison"]


def test_two_sqlite_queues_on_one_file_deliver_each_message_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    consumers = [SQLiteQueue(path, "jobs"), SQLiteQueue(path, "jobs")]
    sent = [f"m{i}" for i in range(200)]
    for body in sent:
        consumers[0].send(body)
    received: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def consume(queue: SQLiteQueue, batch: int) -> None:
        start.wait()
        while messages := queue.receive(max_messages=batch):
            for message in messages:
                with lock:
                    received.append(message.body)
                queue.delete(message.receipt_handle)

    threads = [
        threading.Thread(target=consume, args=(consumers[i % 2], 1 + 3 * i)) for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    duplicates = [body for body, count in Counter(received).items() if count > 1]
    assert duplicates == []
    assert sorted(received) == sorted(sent)
    assert consumers[1].approximate_count() == 0


def test_memory_queue_registry_shares_instances_by_name() -> None:
    reset_memory_queues()
    try:
        dispatcher_side = memory_queue("jobs", visibility_timeout=5)
        worker_side = memory_queue("jobs")
        dispatcher_side.send("shared")

        assert worker_side is dispatcher_side
        assert memory_queue("other") is not dispatcher_side
        assert [m.body for m in worker_side.receive()] == ["shared"]
    finally:
        reset_memory_queues()
    assert memory_queue("jobs").approximate_count() == 0
    reset_memory_queues()
