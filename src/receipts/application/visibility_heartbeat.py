"""Keeps a received message invisible to other consumers while long work runs on it.

Every `every` seconds a thread sets the message's visibility timeout to `timeout` seconds
from now, through the MessageQueue port, so the message stays hidden as long as the work
runs and comes back at most `timeout` seconds after a crashed worker's last beat. A beat
that fails is logged and the next one is tried: the work goes on, because only its caller
knows whether finishing it is still useful (workers are idempotent by id).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.worker_log import StdlibWorkerLog, WorkerLog


class VisibilityHeartbeat:
    """`with VisibilityHeartbeat(queue, message, every=300, timeout=900): work()`."""

    def __init__(
        self,
        queue: MessageQueue,
        message: QueueMessage,
        *,
        every: float,
        timeout: float,
        log: WorkerLog | None = None,
    ) -> None:
        if not every > 0:
            raise ValueError(f"heartbeat interval must be positive, got {every:g} s")
        if not timeout > every:
            raise ValueError(
                f"heartbeat timeout ({timeout:g} s) must be longer than its interval ({every:g} s)"
            )
        self.queue = queue
        self.message = message
        self.every = every
        self.timeout = timeout
        self.log = log or StdlibWorkerLog()
        self.beats = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

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
                self.queue.change_visibility(self.message.receipt_handle, self.timeout)
            except Exception as error:
                self.failures += 1
                self.log.warning(
                    "heartbeat failed",
                    queue=self.queue.name,
                    message_id=self.message.message_id,
                    error=f"{type(error).__name__}: {error}",
                    failures=self.failures,
                )
                continue
            self.beats += 1
