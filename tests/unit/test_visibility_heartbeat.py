"""VisibilityHeartbeat on a fake queue: beats, failed beats kept going or stopping."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import pytest

from receipts.application.ports.queue import QueueMessage
from receipts.application.queueing.visibility_heartbeat import VisibilityHeartbeat


class FakeQueue:
    name = "fake"

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        with self.lock:
            self.calls.append((receipt_handle, timeout_seconds))
        if self.failing:
            raise ConnectionError("endpoint unreachable")


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_beats_carry_the_messages_receipt_handle_and_timeout() -> None:
    queue = FakeQueue()
    message = QueueMessage(message_id="m", body="{}", receipt_handle="h-1", receive_count=1)

    with VisibilityHeartbeat(queue, message, every=0.01, timeout=5) as beating:
        wait_for(lambda: beating.beats >= 2)

    assert set(queue.calls) == {("h-1", 5)}
    assert (beating.error, beating.failures, beating.message_id) == (None, 0, "m")


def test_failed_beats_are_kept_going_by_default() -> None:
    queue = FakeQueue(failing=True)

    with VisibilityHeartbeat(queue, "h-2", every=0.01, timeout=5) as beating:
        wait_for(lambda: beating.failures >= 3)

    assert isinstance(beating.error, ConnectionError)
    assert beating.beats == 0


def test_stop_on_failure_stops_at_the_first_failed_beat() -> None:
    queue = FakeQueue(failing=True)

    with VisibilityHeartbeat(queue, "h-3", every=0.01, timeout=5, stop_on_failure=True) as beating:
        wait_for(lambda: beating.error is not None)
        time.sleep(0.05)

    assert (len(queue.calls), beating.failures, beating.beats) == (1, 1, 0)


@pytest.mark.parametrize(
    ("every", "timeout", "reason"),
    [
        (0, 10, "interval must be positive"),
        (10, 10, "must be longer than its interval"),
        (1, 50_000, "must be at most 43200 s"),
    ],
)
def test_settings_are_checked(every: float, timeout: float, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        VisibilityHeartbeat(FakeQueue(), "h", every=every, timeout=timeout)


def test_many_heartbeats_beat_at_once_and_a_failing_one_disturbs_none() -> None:
    queues = [FakeQueue() for _ in range(40)]
    broken = FakeQueue(failing=True)
    threads_before = threading.active_count()
    with contextlib.ExitStack() as stack:
        beating = [
            stack.enter_context(VisibilityHeartbeat(queue, f"h-{i}", every=0.01, timeout=5))
            for i, queue in enumerate(queues)
        ]
        failing = stack.enter_context(
            VisibilityHeartbeat(broken, "h-broken", every=0.01, timeout=5, stop_on_failure=True)
        )
        wait_for(lambda: all(heartbeat.beats >= 3 for heartbeat in beating))
    assert threading.active_count() <= threads_before  # each heartbeat's thread has ended
    calls = [len(queue.calls) for queue in queues]
    time.sleep(0.05)

    assert [len(queue.calls) for queue in queues] == calls  # none after leaving
    assert all(set(queue.calls) == {(f"h-{i}", 5)} for i, queue in enumerate(queues))
    assert (failing.failures, len(broken.calls)) == (1, 1)


def test_leaving_waits_for_a_beat_in_progress() -> None:
    entered, release = threading.Event(), threading.Event()

    class SlowQueue(FakeQueue):
        def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
            entered.set()
            release.wait(5)
            super().change_visibility(receipt_handle, timeout_seconds)

    with VisibilityHeartbeat(SlowQueue(), "h-slow", every=0.01, timeout=5) as beating:
        assert entered.wait(5)
        threading.Timer(0.05, release.set).start()

    assert beating.beats == 1  # counted before the with block ended
