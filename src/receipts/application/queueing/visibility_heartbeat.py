"""Keeps received messages invisible to other consumers while long work runs on them.

Every `every` seconds the visibility timeout of each message held is set to `timeout`
seconds from now, through the queue's `change_visibility`, so a message stays hidden as
long as it is held and comes back at most `timeout` seconds after a crashed worker's last
beat. `every` must be shorter than `timeout` and than the visibility timeout the messages
were received with. Each heartbeat beats from a daemon thread of its own (`Beating`),
started on entering and joined on leaving; one heartbeat holds a whole received batch, and `let_go`
ends the beats of one message (waiting for a beat in progress, so none lands after it:
a release at 0 s or a delete that follows is never undone).

A beat that fails is logged and kept in `error`. A receipt handle the queue no longer
knows (the message was deleted, or became visible and was received by someone else) is
let go; another failure is tried again at the next beat, or, with `stop_on_failure`,
lets that message go too. The work is not interrupted either way, because only its
caller knows whether finishing it is still useful (workers fence their attempts).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from receipts.application.ports.queue import (
    MAX_VISIBILITY_TIMEOUT,
    QueueMessage,
    ReceiptHandleInvalid,
)
from receipts.application.queueing.beating import Beating
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


class VisibilityHeartbeat(Beating):
    """`with VisibilityHeartbeat(queue, message, every=300, timeout=900): work()`.

    `message` is the received message, its receipt handle, or a received batch. The first
    beat comes `every` seconds after entering, the next `every` seconds after the previous
    one ended; none comes after leaving (a beat in progress is waited for). `beats` counts
    the extensions made, `failures` the ones refused.
    """

    def __init__(
        self,
        queue: ChangesVisibility,
        message: QueueMessage | str | Sequence[QueueMessage],
        *,
        every: float,
        timeout: float,
        stop_on_failure: bool = False,
        log: WorkerLog | None = None,
    ) -> None:
        check_heartbeat(every, timeout)
        self.queue = queue
        batch = [message] if isinstance(message, QueueMessage | str) else list(message)
        self._held: dict[str, str | None] = dict(map(_handle_and_id, batch))
        first = next(iter(self._held.items()), ("", None))
        self.receipt_handle, self.message_id = first
        self.every = every
        self.timeout = timeout
        self.stop_on_failure = stop_on_failure
        self.log = log or StdlibWorkerLog()
        self.beats = 0
        self.failures = 0
        self.error: Exception | None = None
        """The last failed beat's error."""
        self._lock = threading.Lock()

    @property
    def held(self) -> list[str]:
        """The receipt handles still beaten."""
        with self._lock:
            return list(self._held)

    def let_go(self, message: QueueMessage | str) -> None:
        """No more beats for `message` (after a beat in progress has ended)."""
        handle = message.receipt_handle if isinstance(message, QueueMessage) else message
        with self._lock:
            self._held.pop(handle, None)

    @property
    def thread_name(self) -> str:
        return f"heartbeat-{self.message_id or self.receipt_handle[:16]}"

    def beat(self) -> bool:
        """One extension of the visibility timeout of every message held; False once none
        is held."""
        with self._lock:
            for handle, message_id in list(self._held.items()):
                try:
                    self.queue.change_visibility(handle, self.timeout)
                except Exception as error:
                    self._failed(error, message_id)
                    if self.stop_on_failure or isinstance(error, ReceiptHandleInvalid):
                        del self._held[handle]
                    continue
                self.beats += 1
            return bool(self._held)

    def _failed(self, error: Exception, message_id: str | None) -> None:
        self.error = error
        self.failures += 1
        ids = {} if message_id is None else {"message_id": message_id}
        self.log.warning(
            "heartbeat failed",
            queue=self.queue.name,
            **ids,
            error=f"{type(error).__name__}: {error}",
            failures=self.failures,
        )


def _handle_and_id(message: QueueMessage | str) -> tuple[str, str | None]:
    if isinstance(message, QueueMessage):
        return message.receipt_handle, message.message_id
    return message, None
