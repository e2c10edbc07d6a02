"""Heartbeats: keep a received message hidden while long work runs on it.

Every `every` seconds the message's visibility timeout is set to `timeout` seconds from
now. The thread is the application's `VisibilityHeartbeat`; here (`Heartbeat`,
`SQSQueue.heartbeat`, `AsyncHeartbeat`) a beat that fails (the receipt handle is no longer
valid: the message was deleted, or became visible and was received by someone else) stops
the heartbeat and is kept in `error`; the work is not interrupted, because only the caller
knows whether finishing it is still useful (workers are idempotent by id).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Protocol, Self

from receipts.application.queueing.visibility_heartbeat import (
    ChangesVisibility,
    VisibilityHeartbeat,
    check_heartbeat,
)
from receipts.application.queueing.worker_log import WorkerLog

__all__ = ["AsyncHeartbeat", "Heartbeat", "check_heartbeat"]


class _ChangesVisibilityAsync(Protocol):
    async def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None: ...


class Heartbeat(VisibilityHeartbeat):
    """`with Heartbeat(queue, handle, every=60, timeout=180): work()` (a thread beats, and
    stops at the first failed beat)."""

    def __init__(
        self,
        queue: ChangesVisibility,
        receipt_handle: str,
        *,
        every: float,
        timeout: float,
        log: WorkerLog | None = None,
    ) -> None:
        super().__init__(
            queue, receipt_handle, every=every, timeout=timeout, stop_on_failure=True, log=log
        )


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
