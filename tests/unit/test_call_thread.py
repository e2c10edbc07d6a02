"""CallThread: one reused daemon thread runs submitted calls in turn."""

from __future__ import annotations

import gc
import threading
import weakref
from functools import partial

import pytest

from receipts.application.call_thread import CallThread


def test_calls_run_in_turn_on_one_thread_that_takes_each_calls_name() -> None:
    runner = CallThread("calls")
    seen: list[tuple[int, str]] = []

    def record(value: int) -> int:
        seen.append((threading.get_ident(), threading.current_thread().name))
        return value * 2

    pending = [runner.submit(partial(record, v), name=f"call-{v}") for v in range(5)]
    for call in pending:
        assert call.done.wait(5)

    assert [call.outcome for call in pending] == [0, 2, 4, 6, 8]
    assert len({ident for ident, _ in seen}) == 1
    assert threading.get_ident() not in {ident for ident, _ in seen}
    assert [name for _, name in seen] == [f"call-{v}" for v in range(5)]
    assert runner.thread.daemon
    runner.close()
    runner.thread.join(5)
    assert not runner.thread.is_alive()


def test_an_exception_is_the_calls_outcome_and_the_thread_goes_on() -> None:
    runner = CallThread("calls")

    def fail() -> int:
        raise ValueError("bad input")

    failed = runner.submit(fail, name="failing")
    after = runner.submit(lambda: 1, name="after")

    assert after.done.wait(5) and failed.done.is_set()
    assert isinstance(failed.outcome, ValueError)
    assert after.outcome == 1
    runner.close()


def test_close_lets_the_running_call_finish_then_ends_the_thread() -> None:
    runner = CallThread("calls")
    release = threading.Event()
    slow = runner.submit(lambda: release.wait(5), name="slow")

    runner.close()
    assert runner.thread.is_alive()
    release.set()
    runner.thread.join(5)

    assert slow.outcome is True
    assert not runner.thread.is_alive()
    assert not runner.usable
    with pytest.raises(RuntimeError, match="is closed"):
        runner.submit(lambda: 1, name="late")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_call_that_raises_more_than_an_exception_ends_the_thread() -> None:
    runner = CallThread("calls")

    def exit_thread() -> None:
        raise SystemExit

    pending = runner.submit(exit_thread, name="exiting")
    assert pending.done.wait(5)
    runner.thread.join(5)

    assert isinstance(pending.outcome, RuntimeError)  # "ended without an outcome"
    assert not runner.usable
    with pytest.raises(RuntimeError, match="has ended"):
        runner.submit(lambda: 1, name="late")


def test_a_finished_call_keeps_nothing_it_referenced_alive() -> None:
    runner = CallThread("calls")

    class Work:
        def run(self) -> int:
            return 7

    work = Work()
    gone = weakref.ref(work)
    pending = runner.submit(work.run, name="work")
    assert pending.done.wait(5)
    runner.submit(lambda: None, name="next").done.wait(5)  # the thread waits again
    del work
    gc.collect()

    assert gone() is None
    runner.close()
