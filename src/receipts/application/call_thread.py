"""A daemon thread that runs submitted calls one after another, reused from call to call.

The export worker runs each export in a thread of its own, so that it can stop waiting
for one that outlives a stop's grace period; starting and joining a new thread for every
export costs more than a short export itself. A `CallThread` is started on the first
`submit` and then waits for the next call. One caller uses it at a time. A call that is
given up on (its caller stops waiting) keeps the thread: the caller `close`s it, so that
it ends with that call, and submits later calls to a new one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["CallThread", "PendingCall"]

T = TypeVar("T")


class PendingCall(Generic[T]):
    """A submitted call: `done` is set once it returned or raised."""

    def __init__(self, function: Callable[[], T], name: str) -> None:
        self.function: Callable[[], T] | None = function
        self.name = name
        self.done = threading.Event()
        self.outcome: T | Exception = RuntimeError(f"{name} ended without an outcome")
        """The call's return value or the Exception it raised (once `done`)."""

    def _run(self) -> None:
        function, self.function = self.function, None  # nothing of the call stays referenced
        assert function is not None
        try:
            self.outcome = function()
        except Exception as error:
            self.outcome = error
        finally:
            self.done.set()


class CallThread:
    """`pending = thread.submit(work, name="export-1"); pending.done.wait(); pending.outcome`."""

    def __init__(self, name: str) -> None:
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._calls: queue.SimpleQueue[PendingCall[Any] | None] = queue.SimpleQueue()
        self._closed = False

    def submit(self, function: Callable[[], T], name: str) -> PendingCall[T]:
        """Runs `function` after the calls submitted before it; the thread takes `name`
        while it runs (as a thread started for it would have)."""
        if not self.usable:
            raise RuntimeError(f"thread {self.thread.name} is closed or has ended")
        pending = PendingCall(function, name)
        self._calls.put(pending)
        if not self.thread.is_alive():
            self.thread.start()
        return pending

    @property
    def usable(self) -> bool:
        """Not closed, and not started yet or alive (a call that raised more than an
        Exception ends it)."""
        return not self._closed and (self.thread.ident is None or self.thread.is_alive())

    def close(self) -> None:
        """The thread ends after the calls already submitted; no more can be."""
        self._closed = True
        self._calls.put(None)

    def _serve(self) -> None:
        while True:
            pending = self._calls.get()
            if pending is None:
                return
            self.thread.name = pending.name
            pending._run()
            del pending  # the finished call (and what its function referenced) can go
