"""An in-process message queue with SQS semantics (visibility timeouts, redrive)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from receipts.application.ports.queue import (
    MAX_WAIT_SECONDS,
    MessageQueue,
    QueueMessage,
    ReceiptHandleInvalid,
    check_body_size,
    check_delay,
    check_receive_args,
    check_redrive,
    check_visibility_timeout,
)

__all__ = ["InMemoryQueue", "memory_queue", "reset_memory_queues"]


@dataclass
class _Message:
    message_id: str
    body: str
    seq: int
    visible_at: float
    receive_count: int = 0
    receipt_handle: str | None = None


class InMemoryQueue:
    """A thread-safe queue for one process; `receive` long-polls on a condition variable."""

    def __init__(
        self,
        name: str,
        *,
        visibility_timeout: float = 30.0,
        max_receive_count: int | None = None,
        dead_letter_queue: MessageQueue | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_visibility_timeout(visibility_timeout)
        check_redrive(max_receive_count, dead_letter_queue)
        self._name = name
        self._visibility_timeout = visibility_timeout
        self._max_receive_count = max_receive_count
        self._dead_letter_queue = dead_letter_queue
        self._clock = clock
        self._messages: dict[str, _Message] = {}
        self._by_handle: dict[str, str] = {}
        self._seq = itertools.count()
        self._changed = threading.Condition()

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"InMemoryQueue({self._name!r})"

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        check_delay(delay_seconds)
        check_body_size(self._name, body)
        message_id = str(uuid.uuid4())
        with self._changed:
            self._messages[message_id] = _Message(
                message_id=message_id,
                body=body,
                seq=next(self._seq),
                visible_at=self._clock() + delay_seconds,
            )
            self._changed.notify_all()
        return message_id

    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]:
        check_receive_args(max_messages, wait_seconds, visibility_timeout)
        timeout = self._visibility_timeout if visibility_timeout is None else visibility_timeout
        deadline = time.monotonic() + wait_seconds
        while True:
            with self._changed:
                delivered, dead = self._take(max_messages, timeout)
                if not delivered and not dead:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    self._changed.wait(min(remaining, self._until_next_visible()))
                    continue
            for body in dead:
                assert self._dead_letter_queue is not None
                self._dead_letter_queue.send(body)
            if delivered or time.monotonic() >= deadline:
                return delivered

    def delete(self, receipt_handle: str) -> None:
        with self._changed:
            message = self._current(receipt_handle)
            del self._messages[message.message_id]
            del self._by_handle[receipt_handle]

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        check_visibility_timeout(timeout_seconds)
        with self._changed:
            message = self._current(receipt_handle)
            message.visible_at = self._clock() + timeout_seconds
            self._changed.notify_all()

    def approximate_count(self) -> int:
        with self._changed:
            return len(self._messages)

    def _current(self, receipt_handle: str) -> _Message:
        message_id = self._by_handle.get(receipt_handle)
        message = self._messages.get(message_id) if message_id is not None else None
        if message is None or message.receipt_handle != receipt_handle:
            raise ReceiptHandleInvalid(self._name, receipt_handle)
        return message

    def _take(self, max_messages: int, timeout: float) -> tuple[list[QueueMessage], list[str]]:
        now = self._clock()
        visible = sorted(
            (m for m in self._messages.values() if m.visible_at <= now),
            key=lambda m: (m.visible_at, m.seq),
        )
        delivered: list[QueueMessage] = []
        dead: list[str] = []
        for message in visible:
            if len(delivered) == max_messages:
                break
            if message.receipt_handle is not None:
                del self._by_handle[message.receipt_handle]
            if (
                self._max_receive_count is not None
                and message.receive_count >= self._max_receive_count
            ):
                del self._messages[message.message_id]
                dead.append(message.body)
                continue
            message.receive_count += 1
            message.visible_at = now + timeout
            message.receipt_handle = str(uuid.uuid4())
            self._by_handle[message.receipt_handle] = message.message_id
            delivered.append(
                QueueMessage(
                    message_id=message.message_id,
                    body=message.body,
                    receipt_handle=message.receipt_handle,
                    receive_count=message.receive_count,
                )
            )
        return delivered, dead

    def _until_next_visible(self) -> float:
        if not self._messages:
            return MAX_WAIT_SECONDS
        now = self._clock()
        return max(0.001, min(m.visible_at for m in self._messages.values()) - now)


_registry: dict[str, InMemoryQueue] = {}
_registry_lock = threading.Lock()


def memory_queue(
    name: str,
    *,
    visibility_timeout: float = 30.0,
    max_receive_count: int | None = None,
    dead_letter_queue: MessageQueue | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> InMemoryQueue:
    """The process-wide queue called `name`; the settings apply only when it is created."""
    with _registry_lock:
        queue = _registry.get(name)
        if queue is None:
            queue = InMemoryQueue(
                name,
                visibility_timeout=visibility_timeout,
                max_receive_count=max_receive_count,
                dead_letter_queue=dead_letter_queue,
                clock=clock,
            )
            _registry[name] = queue
        return queue


def reset_memory_queues() -> None:
    """Forget every registered queue (for tests)."""
    with _registry_lock:
        _registry.clear()
