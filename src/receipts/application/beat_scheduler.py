"""One thread that calls many periodic tasks: the heartbeats of the messages being worked on.

A thread per heartbeat costs a thread start and join per message, more than handling a
short message itself. Here the tasks wait in a heap ordered by when they are due, and one
daemon thread, started on the first `add`, calls each one in turn, `every` seconds after its
previous call ended. A forked child starts empty (the parent's tasks and thread stay there).

The calls run one after another, so a slow call delays the others by as much: the tasks'
intervals must leave room for that (a heartbeat's `every` is a fraction of its timeout).
"""

from __future__ import annotations

import heapq
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["BeatScheduler", "Periodic", "beat_scheduler"]

_COMPACT_ABOVE = 64
"""Removed tasks stay in the heap until they come up; it is rebuilt without them once they
are more than this many and more than half of it."""


class Periodic(Protocol):
    @property
    def every(self) -> float:
        """Seconds from the end of one call to the next."""
        ...

    def beat(self) -> bool:
        """One call; False asks for no more."""
        ...


class _Entry:
    __slots__ = ("due", "task")

    def __init__(self, due: float, task: Periodic) -> None:
        self.due = due
        self.task: Periodic | None = task
        """None once removed."""

    def __lt__(self, other: _Entry) -> bool:
        return self.due < other.due


class BeatScheduler:
    """`add(task)`: call `task.beat()` every `task.every` seconds until `remove(task)`."""

    def __init__(self, name: str = "beats") -> None:
        self.name = name
        self._reset()
        os.register_at_fork(after_in_child=_resetter(weakref.ref(self)))

    def _reset(self) -> None:
        """Empty, no thread (also in a forked child: the parent's thread is not there)."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._beat_done = threading.Condition(self._lock)
        self._heap: list[_Entry] = []
        self._entries: dict[Periodic, _Entry] = {}
        self._removed_in_heap = 0
        self._beating: Periodic | None = None
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def add(self, task: Periodic) -> None:
        """The first call comes `task.every` seconds from now."""
        with self._lock:
            if task in self._entries or task is self._beating:
                raise RuntimeError(f"{task!r} is already scheduled")
            entry = _Entry(time.monotonic() + task.every, task)
            self._entries[task] = entry
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif entry.due < self._wake_at:
                self._wake.notify()

    def remove(self, task: Periodic) -> None:
        """No call of `task` runs once this returns: one in progress is waited for (unless
        it is the caller)."""
        with self._lock:
            entry = self._entries.pop(task, None)
            if entry is not None:
                entry.task = None
                if task is not self._beating:  # else its entry is out of the heap already
                    self._removed_in_heap += 1
                    self._compact()
            if threading.current_thread() is not self._thread:
                while self._beating is task:
                    self._beat_done.wait()

    def scheduled(self) -> int:
        """How many tasks are added and not removed."""
        with self._lock:
            return len(self._entries)

    def _compact(self) -> None:
        removed = self._removed_in_heap
        if removed > _COMPACT_ABOVE and removed > len(self._heap) // 2:
            self._heap[:] = [entry for entry in self._heap if entry.task is not None]
            heapq.heapify(self._heap)
            self._removed_in_heap = 0

    def _run(self) -> None:
        try:
            with self._lock:
                self._serve()
        finally:  # only if a task raised more than an Exception: the next add starts anew
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _serve(self) -> None:
        heap = self._heap
        while True:
            while heap and heap[0].task is None:
                heapq.heappop(heap)
                self._removed_in_heap -= 1
            if not heap:
                self._wake_at = float("inf")
                self._wake.wait()
                continue
            delay = heap[0].due - time.monotonic()
            if delay > 0:
                self._wake_at = heap[0].due
                self._wake.wait(delay)
                continue
            entry = heapq.heappop(heap)
            task = entry.task
            assert task is not None
            self._beating = task
            self._wake_at = float("-inf")  # the heap is looked at again after this call
            self._lock.release()
            again = False
            try:
                again = task.beat()
            except Exception:
                import logging  # only here: importing the layer does not load logging

                logging.getLogger(__name__).exception(
                    "periodic task %r failed: not called again", task
                )
            finally:
                self._lock.acquire()
                self._beating = None
                self._beat_done.notify_all()
            if self._entries.get(task) is not entry:
                continue  # removed meanwhile
            if again:
                entry.due = time.monotonic() + task.every
                heapq.heappush(heap, entry)
            else:
                del self._entries[task]


def _resetter(scheduler: weakref.ref[BeatScheduler]) -> Callable[[], None]:
    def reset() -> None:
        alive = scheduler()
        if alive is not None:
            alive._reset()

    return reset


beat_scheduler = BeatScheduler("visibility-heartbeats")
"""The process's scheduler of visibility heartbeats."""
