"""Heartbeats: keep a received message hidden while long work runs on it.

Every `every` seconds the message's visibility timeout is set to `timeout` seconds from
now, so it stays invisible to other consumers for as long as the work runs and becomes
visible again at most `timeout` seconds after a crashed worker's last beat. `every` must
be shorter than `timeout` and than the visibility timeout the message was received with.

A beat that fails (the receipt handle is no longer valid: the message was deleted, or
became visible and was received by someone else) stops the heartbeat and is kept in
`error`; the work is not interrupted, because only the caller knows whether finishing
it is still useful (workers are idempotent by id).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Protocol, Self

from receipts.adapters.memory.queue import MAX_VISIBILITY_TIMEOUT

__all__ = ["AsyncHeartbeat", "Heartbeat", "check_heartbeat"]


class _ChangesVisibility(Protocol):
    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None: ...


class _ChangesVisibilityAsync(Protocol):
    async def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None: ...


def check_heartbeat(every: float, timeout: float) -> None:
    if not every > 0:
        raise ValueError(f"heartbeat interval must be positive, got {every}")
    if not every < timeout <= MAX_VISIBILITY_TIMEOUT:
        raise ValueError(
            f"heartbeat timeout must be longer than the interval ({every:g} s) and at most "
            f"{MAX_VISIBILITY_TIMEOUT:g} s, got {timeout:g}"
        )


class Heartbeat:
    """`with Heartbeat(queue, handle, every=60, timeout=180): work()` (a thread beats)."""

    def __init__(
        self, queue: _ChangesVisibility, receipt_handle: str, *, every: float, timeout: float
    ) -> None:
        check_heartbeat(every, timeout)
        self.queue = queue
        self.receipt_handle = receipt_handle
        self.every = every
        self.timeout = timeout
        self.beats = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-heartbeat", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.queue.change_visibility(self.receipt_handle, self.timeout)
            except Exception as error:
                self.error = error
                return
            self.beats += 1


class AsyncHeartbeat:
    """`async with AsyncHeartbeat(queue, handle, every=60, timeout=180): await work()`."""

    def __init__(
        self, queue: _ChangesVisibilityAsync, receipt_handle: str, *, every: float, timeout: float
    ) -> None:
        check_heartbeat(every, timeout)
        self.queue = queue
        self.receipt_handle = receipt_handle
        self.every = every
        self.timeout = timeout
        self.beats = 0
        self.error: Exception | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="sqs-heartbeat")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        # a beat in flight is cancelled too (the message keeps its last timeout); waiting
        # this way lets a cancellation of the caller itself propagate
        await asyncio.wait([self._task])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.queue.change_visibility(self.receipt_handle, self.timeout)
            except Exception as error:
                self.error = error
                return
            self.beats += 1
