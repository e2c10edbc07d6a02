"""The loop every queue worker runs, whatever its work.

Receive, parse each delivery or leave it for the dead-letter queue, do the work without
letting one failure stop the loop, and delete or release the message without failing when
the queue does. Every message of a received batch is held under one visibility heartbeat
from the receive until it is handled (deleted, released or left to come back), so none
expires unattended while the ones before it are worked on. A worker (`ExportWorker`,
`OCRWorker`) supplies only its job: how to parse a body (`parse`), what to do with a
request (`work`) and the log fields naming one (`describe`).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Protocol, TypeVar, cast

from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.queueing.visibility_heartbeat import (
    VisibilityHeartbeat,
    check_heartbeat,
)
from receipts.application.queueing.worker_log import StdlibWorkerLog, WorkerLog
from receipts.domain.errors import InvalidInput

Request = TypeVar("Request")
Outcome = TypeVar("Outcome", bound=str)

_MAX_BACKOFF_SECONDS = 30.0


class WorkedJob(Protocol):
    """What `QueueWorker.redelivery` reads of a worker's job (an ExportJob, an OCRJob)."""

    @property
    def status(self) -> Enum: ...
    @property
    def attempts_since_queued(self) -> int: ...
    @property
    def is_terminal(self) -> bool: ...


@dataclass(kw_only=True)
class QueueWorker(ABC, Generic[Request, Outcome]):
    """`run_once` (one receive), `drain` (until empty) or `serve` (the command's loop).

    An outcome is the worker's word for what became of one delivery; two are common to all:
    `poison` (not a request: the queue's redrive moves it to the DLQ) and `error` (the work
    raised: logged, and the message comes back after its visibility timeout).
    `heartbeat_every`: seconds between visibility extensions while a message is held
    (0: none; None: a third of the visibility timeout). One loop per worker object: the
    batch held is the worker's."""

    jobs_queue: MessageQueue
    results_queue: MessageQueue | None
    worker_name: str
    visibility_timeout: float
    heartbeat_every: float | None = None
    log: WorkerLog = field(default_factory=StdlibWorkerLog, compare=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _holding: VisibilityHeartbeat | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        every = self.heartbeat_interval()
        if every > 0 and self.visibility_timeout > 0:
            check_heartbeat(every, self.visibility_timeout)

    @abstractmethod
    def parse(self, body: str) -> Request:
        """The request in a message body; raises InvalidInput when it is none."""

    @abstractmethod
    def work(self, message: QueueMessage, request: Request) -> Outcome:
        """Does the work of one parsed delivery and returns its outcome."""

    @abstractmethod
    def describe(self, request: Request) -> dict[str, str]:
        """Log fields that name the request."""

    def default_heartbeat_every(self) -> float:
        return self.visibility_timeout / 3

    # -- stopping ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Take no new message; the current one finishes."""
        self._stop.set()  # only flags: this runs in signal handlers (no logging here)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- loops ------------------------------------------------------------------------------

    def run_once(self, wait_seconds: float = 0.0, max_messages: int = 1) -> list[Outcome]:
        if self.stopping:
            return []
        messages = self.jobs_queue.receive(
            max_messages=max_messages,
            wait_seconds=wait_seconds,
            visibility_timeout=self.visibility_timeout,
        )
        handled = []
        with self._hold(messages):
            for message in messages:
                if self.stopping:
                    self.release(message)
                    continue
                handled.append(self.handle(message))
                self._let_go(message)  # handled: deleted, or left to come back
        return handled

    @contextmanager
    def _hold(self, messages: list[QueueMessage]) -> Iterator[None]:
        """Keeps every message of the batch invisible until it is let go."""
        every = self.heartbeat_interval()
        if not messages or every <= 0 or self.visibility_timeout <= 0:
            yield
            return
        self._holding = VisibilityHeartbeat(
            self.jobs_queue, messages, every=every, timeout=self.visibility_timeout, log=self.log
        )
        try:
            with self._holding:
                yield
        finally:
            self._holding = None

    @property
    def lease(self) -> VisibilityHeartbeat | None:
        """The heartbeat holding the batch being handled (None between batches)."""
        return self._holding

    def _let_go(self, message: QueueMessage) -> None:
        if self._holding is not None:
            self._holding.let_go(message)

    def drain(self, max_messages: int = 10_000) -> list[Outcome]:
        """Handles messages until the queue has none visible (or a stop is requested)."""
        return self.serve(continuous=True, max_messages=max_messages)

    def serve(
        self,
        *,
        continuous: bool,
        batch: int = 1,
        wait_seconds: float = 0.0,
        until_empty: bool = True,
        max_messages: int | None = None,
        on_handled: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Not continuous: one receive of up to `batch` messages, waiting up to
        `wait_seconds`. Continuous: until a stop, `max_messages` deliveries, or (with
        `until_empty`) a receive that finds nothing; an unexpected error is logged and the
        loop goes on after a pause that doubles while errors repeat."""
        handled: list[Outcome] = []
        errors_in_a_row = 0
        while not self.stopping and (max_messages is None or len(handled) < max_messages):
            room = batch if max_messages is None else min(batch, max_messages - len(handled))
            try:
                outcomes = self.run_once(wait_seconds, room)
            except Exception as error:
                if not continuous:
                    raise
                errors_in_a_row += 1
                pause = min(_MAX_BACKOFF_SECONDS, 0.5 * 2**errors_in_a_row)
                self.log.error(
                    "receive failed",
                    queue=self.jobs_queue.name,
                    error=f"{type(error).__name__}: {error}",
                    retry_in_seconds=pause,
                    exc_info=True,
                )
                self._stop.wait(pause)
                continue
            errors_in_a_row = 0
            for outcome in outcomes:
                handled.append(outcome)
                if on_handled is not None:
                    on_handled(outcome)
            if not continuous or (until_empty and not outcomes):
                break
        if self.stopping:
            self.log.info("stop requested: no more messages taken", handled=len(handled))
        return handled

    # -- one delivery -----------------------------------------------------------------------

    def handle(self, message: QueueMessage) -> Outcome:
        """`work(message, parse(body))`, or `poison` / `error`."""
        try:
            request = self.parse(message.body)
        except InvalidInput as error:
            self.log.warning(
                "poison message left for the dead-letter queue",
                queue=self.jobs_queue.name,
                message_id=message.message_id,
                receive_count=message.receive_count,
                reason=str(error),
            )
            return cast(Outcome, "poison")
        try:
            return self.work(message, request)
        except Exception as error:
            self.log.error(
                "message handling failed; it comes back after its visibility timeout",
                message_id=message.message_id,
                error=f"{type(error).__name__}: {error}",
                exc_info=True,
                **self.describe(request),
            )
            return cast(Outcome, "error")

    def delivery_fields(self, message: QueueMessage, request: Request) -> dict[str, object]:
        """Log fields that name one delivery of a request."""
        return {
            **self.describe(request),
            "message_id": message.message_id,
            "receive_count": message.receive_count,
        }

    def redelivery(
        self,
        message: QueueMessage,
        job: WorkedJob,
        running: Enum,
        what: str,
        fields: dict[str, object],
        send_result: Callable[[], None],
    ) -> Outcome | None:
        """A delivery of a `job` already finished (its result is sent again: `resent`) or
        being worked on by an earlier delivery (left alone: `duplicate`); None for work."""
        if job.is_terminal:
            send_result()
            self.delete(message, fields)
            self.log.info(f"result re-sent for a finished {what}", status=job.status, **fields)
            return cast(Outcome, "resent")
        if job.status is running and message.receive_count <= job.attempts_since_queued:
            self.log.info(f"duplicate delivery of a running {what} left alone", **fields)
            return cast(Outcome, "duplicate")
        return None

    def heartbeat_interval(self) -> float:
        """Seconds between visibility extensions (0: none)."""
        every = self.heartbeat_every
        return self.default_heartbeat_every() if every is None else every

    def heartbeat(self, message: QueueMessage) -> AbstractContextManager[object]:
        """Keeps the message invisible while it is worked on (see `VisibilityHeartbeat`);
        `run_once` already holds every message it received this way."""
        every = self.heartbeat_interval()
        if every <= 0 or self.visibility_timeout <= 0:
            return nullcontext()
        return VisibilityHeartbeat(
            self.jobs_queue, message, every=every, timeout=self.visibility_timeout, log=self.log
        )

    def delete(self, message: QueueMessage, fields: dict[str, object]) -> None:
        """Deletes a handled message; a failure is logged (a redelivery finds the work done)."""
        self._let_go(message)
        try:
            self.jobs_queue.delete(message.receipt_handle)
        except Exception as error:
            self.log.warning(
                "could not delete the message", error=f"{type(error).__name__}: {error}", **fields
            )

    def release(self, message: QueueMessage) -> None:
        """Makes a message visible again at once (another worker takes it)."""
        self._let_go(message)  # first: no beat may hide it again after this
        try:
            self.jobs_queue.change_visibility(message.receipt_handle, 0)
        except Exception as error:
            self.log.warning(
                "could not release the message; it comes back after its visibility timeout",
                message_id=message.message_id,
                error=f"{type(error).__name__}: {error}",
            )
