"""Keeps a received message invisible to other consumers while long work runs on it.

Every `every` seconds the message's visibility timeout is set to `timeout` seconds from
now, through the queue's `change_visibility`, so the message stays hidden as long as the
work runs and comes back at most `timeout` seconds after a crashed worker's last beat.
`every` must be shorter than `timeout` and than the visibility timeout the message was
received with. Each heartbeat beats from a daemon thread of its own, started on entering
and joined on leaving.

A beat that fails (e.g. the receipt handle is no longer valid: the message was deleted, or
became visible and was received by someone else) is logged and kept in `error`; the next
beat is tried, or, with `stop_on_failure`, the heartbeat stops. The work is not
interrupted either way, because only its caller knows whether finishing it is still
useful (workers are idempotent by id).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Protocol, Self

from receipts.application.ports.queue import MAX_VISIBILITY_TIMEOUT, QueueMessage
from receipts.application.queueing.worker_log import StdlibWorkerLog, WorkerLog

__all__ = ["ChangesVisibility", "VisibilityHeartbeat", "check_heartbeat"]


class ChangesVisibility(Protocol):
    """The part of a `MessageQueue` a heartbeat uses."""

    @property
    def name(self) -> str: ...

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None: ...


def check_heartbeat(every: float, timeout: float) -> None:
    if not every > 0:
        raise ValueError(f"heartbeat interval must be positive, got {every:g} s")
    if not timeout > every:
        raise ValueError(
            f"heartbeat timeout ({timeout:g} s) must be longer than its interval ({every:g} s)"
        )
    if timeout > MAX_VISIBILITY_TIMEOUT:
        raise ValueError(
            f"heartbeat timeout ({timeout:g} s) must be at most {MAX_VISIBILITY_TIMEOUT:g} s"
        )


class VisibilityHeartbeat:
    """`with VisibilityHeartbeat(queue, message, every=300, timeout=900): work()`.

    `message` is the received message or its receipt handle. The first beat comes `every`
    seconds after entering, the next `every` seconds after the previous one ended; none
    comes after leaving (a beat in progress is waited for).
    """

    def __init__(
        self,
        queue: ChangesVisibility,
        message: QueueMessage | str,
        *,
        every: float,
        timeout: float,
        stop_on_failure: bool = False,
        log: WorkerLog | None = None,
    ) -> None:
        check_heartbeat(every, timeout)
        self.queue = queue
        if isinstance(message, QueueMessage):
            self.receipt_handle = message.receipt_handle
            self.message_id: str | None = message.message_id
        else:
            self.receipt_handle, self.message_id = message, None
        self.every = every
        self.timeout = timeout
        self.stop_on_failure = stop_on_failure
        self.log = log or StdlibWorkerLog()
        self.beats = 0
        self.failures = 0
        self.error: Exception | None = None
        """The last failed beat's error."""
        self._left = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._left.clear()
        name = f"heartbeat-{self.message_id or self.receipt_handle[:16]}"
        self._thread = threading.Thread(target=self._beat_until_left, name=name, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._left.set()
        if self._thread is not None:
            self._thread.join()  # a beat in progress ends before the work is called done

    def _beat_until_left(self) -> None:
        while not self._left.wait(self.every) and self.beat():
            pass

    def beat(self) -> bool:
        """One extension of the visibility timeout; False once a beat failed with
        `stop_on_failure`."""
        try:
            self.queue.change_visibility(self.receipt_handle, self.timeout)
        except Exception as error:
            self._failed(error)
            return not self.stop_on_failure
        self.beats += 1
        return True

    def _failed(self, error: Exception) -> None:
        self.error = error
        self.failures += 1
        ids = {} if self.message_id is None else {"message_id": self.message_id}
        self.log.warning(
            "heartbeat failed",
            queue=self.queue.name,
            **ids,
            error=f"{type(error).__name__}: {error}",
            failures=self.failures,
        )
