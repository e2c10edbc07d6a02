"""BeatScheduler: one thread calls many periodic tasks, in order of due time."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import pytest

from receipts.application.beat_scheduler import BeatScheduler


class Task:
    def __init__(self, every: float, *, calls_left: int = -1, fails: bool = False) -> None:
        self.every = every
        self.calls: list[float] = []
        self.threads: set[str] = set()
        self.calls_left = calls_left
        self.fails = fails

    def beat(self) -> bool:
        self.calls.append(time.monotonic())
        self.threads.add(threading.current_thread().name)
        if self.fails:
            raise RuntimeError("bug in a task")
        self.calls_left -= 1
        return self.calls_left != 0


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_many_tasks_are_called_from_one_thread_each_at_its_own_pace() -> None:
    scheduler = BeatScheduler("test-beats")
    fast = [Task(0.01) for _ in range(50)]
    slow = Task(0.2)
    threads_before = threading.active_count()
    added = time.monotonic()
    for task in [*fast, slow]:
        scheduler.add(task)

    wait_for(lambda: all(len(task.calls) >= 3 for task in fast))
    for task in [*fast, slow]:
        scheduler.remove(task)

    assert threading.active_count() == threads_before + 1
    assert set().union(*(task.threads for task in fast)) == {"test-beats"}
    assert all(call - added >= 0.01 for task in fast for call in task.calls)
    assert len(slow.calls) <= 1
    assert scheduler.scheduled() == 0


def test_no_call_comes_after_remove() -> None:
    scheduler = BeatScheduler()
    task = Task(0.005)
    scheduler.add(task)
    wait_for(lambda: len(task.calls) >= 2)

    scheduler.remove(task)
    calls = len(task.calls)
    time.sleep(0.05)

    assert len(task.calls) == calls


def test_remove_waits_for_the_call_in_progress() -> None:
    scheduler = BeatScheduler()
    entered, release = threading.Event(), threading.Event()
    finished: list[float] = []

    class Slow(Task):
        def beat(self) -> bool:
            entered.set()
            release.wait(5)
            finished.append(time.monotonic())
            return True

    task = Slow(0.005)
    scheduler.add(task)
    assert entered.wait(5)
    threading.Timer(0.05, release.set).start()

    scheduler.remove(task)

    assert finished  # the call ended before remove returned


def test_a_task_that_asks_for_no_more_is_dropped() -> None:
    scheduler = BeatScheduler()
    task = Task(0.005, calls_left=2)
    scheduler.add(task)

    wait_for(lambda: scheduler.scheduled() == 0)
    time.sleep(0.03)

    assert len(task.calls) == 2
    scheduler.remove(task)  # harmless afterwards


def test_a_task_that_raises_is_logged_and_dropped_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = BeatScheduler()
    broken, healthy = Task(0.005, fails=True), Task(0.005)
    with caplog.at_level(logging.ERROR, logger="receipts.application.beat_scheduler"):
        scheduler.add(broken)
        scheduler.add(healthy)
        wait_for(lambda: len(healthy.calls) >= 5)
    scheduler.remove(healthy)

    assert len(broken.calls) == 1
    assert "not called again" in caplog.text
    assert "bug in a task" in caplog.text


def test_a_task_is_scheduled_once_at_a_time() -> None:
    scheduler = BeatScheduler()
    task = Task(10)
    scheduler.add(task)

    with pytest.raises(RuntimeError, match="already scheduled"):
        scheduler.add(task)

    scheduler.remove(task)
    scheduler.add(task)  # again after its removal
    scheduler.remove(task)


def test_an_earlier_task_wakes_the_thread_that_waits_for_a_later_one() -> None:
    scheduler = BeatScheduler()
    late, early = Task(30), Task(0.01)
    scheduler.add(late)
    time.sleep(0.02)  # the thread now sleeps until `late` is due

    scheduler.add(early)

    wait_for(lambda: len(early.calls) >= 1, seconds=2)
    scheduler.remove(early)
    scheduler.remove(late)


def test_removed_tasks_do_not_pile_up_in_the_heap() -> None:
    scheduler = BeatScheduler()
    for _ in range(10_000):
        task = Task(300)
        scheduler.add(task)
        scheduler.remove(task)

    assert len(scheduler._heap) <= 200
    assert scheduler.scheduled() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_thread_of_its_own() -> None:
    scheduler = BeatScheduler()
    parent_task = Task(0.005)
    scheduler.add(parent_task)
    wait_for(lambda: len(parent_task.calls) >= 1)

    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child)
        task = Task(0.005)
        scheduler.add(task)
        deadline = time.monotonic() + 5
        while len(task.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        # the parent's task is not the child's to call
        os._exit(0 if len(task.calls) >= 2 and scheduler.scheduled() == 1 else 1)
    _, status = os.waitpid(child, 0)
    scheduler.remove(parent_task)

    assert os.waitstatus_to_exitcode(status) == 0
