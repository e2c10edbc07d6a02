"""A message queue persisted in a SQLite file, shared by every process that opens the file."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from receipts.application.ports.queue import (
    MessageQueue,
    QueueMessage,
    ReceiptHandleInvalid,
    check_body_size,
    check_delay,
    check_receive_args,
    check_redrive,
    check_visibility_timeout,
)

__all__ = ["ReceiptHandleInvalid", "SQLiteQueue"]

POLL_INTERVAL = 0.05
BUSY_TIMEOUT_MS = 10_000
DEAD_LETTER_HOLD = 30.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS queue_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        sent_at REAL NOT NULL,
        visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt_handle TEXT UNIQUE
    )""",
    "CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at, seq)",
)


class SQLiteQueue:
    """SQS-like queue in one table of a SQLite file, keyed by queue name.

    `receive` claims messages inside `BEGIN IMMEDIATE`, so two processes never receive
    the same delivery. Long polls re-check every 50 ms until `wait_seconds` pass.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        *,
        visibility_timeout: float = 30.0,
        max_receive_count: int | None = None,
        dead_letter_queue: MessageQueue | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_visibility_timeout(visibility_timeout)
        check_redrive(max_receive_count, dead_letter_queue)
        self._path = Path(path)
        self._name = name
        self._visibility_timeout = visibility_timeout
        self._max_receive_count = max_receive_count
        self._dead_letter_queue = dead_letter_queue
        self._clock = clock
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self._path)!r}, {self._name!r})"

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        check_delay(delay_seconds)
        check_body_size(self._name, body)
        message_id = str(uuid.uuid4())
        now = self._clock()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO queue_messages (queue, message_id, body, sent_at, visible_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (self._name, message_id, body, now, now + delay_seconds),
            )
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
            delivered, dead = self._take(max_messages, timeout)
            for seq, body in dead:
                assert self._dead_letter_queue is not None
                self._dead_letter_queue.send(body)
                with self._transaction() as db:
                    db.execute("DELETE FROM queue_messages WHERE seq = ?", (seq,))
            remaining = deadline - time.monotonic()
            if delivered or remaining <= 0:
                return delivered
            if not dead:
                time.sleep(min(POLL_INTERVAL, remaining))

    def delete(self, receipt_handle: str) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM queue_messages WHERE queue = ? AND receipt_handle = ?",
                (self._name, receipt_handle),
            )
            if cursor.rowcount == 0:
                raise ReceiptHandleInvalid(self._name, receipt_handle)

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        check_visibility_timeout(timeout_seconds)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND receipt_handle = ?",
                (self._clock() + timeout_seconds, self._name, receipt_handle),
            )
            if cursor.rowcount == 0:
                raise ReceiptHandleInvalid(self._name, receipt_handle)

    def approximate_count(self) -> int:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT COUNT(*) FROM queue_messages WHERE queue = ?", (self._name,))
                .fetchone()
            )
        return int(row[0])

    def _take(
        self, max_messages: int, timeout: float
    ) -> tuple[list[QueueMessage], list[tuple[int, str]]]:
        delivered: list[QueueMessage] = []
        dead: list[tuple[int, str]] = []
        with self._transaction() as db:
            now = self._clock()
            seen: list[int] = []
            while len(delivered) < max_messages:
                rows = db.execute(
                    "SELECT seq, message_id, body, receive_count FROM queue_messages"
                    " WHERE queue = ? AND visible_at <= ?"
                    f" AND seq NOT IN ({', '.join('?' * len(seen))})"
                    " ORDER BY visible_at, seq LIMIT ?",
                    (self._name, now, *seen, max_messages - len(delivered)),
                ).fetchall()
                if not rows:
                    break
                for seq, message_id, body, receive_count in rows:
                    seen.append(seq)
                    if (
                        self._max_receive_count is not None
                        and receive_count >= self._max_receive_count
                    ):
                        if not self._redrive_in_place(db, seq, now):
                            dead.append((seq, body))
                            db.execute(
                                "UPDATE queue_messages SET visible_at = ?, receipt_handle = NULL"
                                " WHERE seq = ?",
                                (now + max(timeout, DEAD_LETTER_HOLD), seq),
                            )
                        continue
                    handle = str(uuid.uuid4())
                    db.execute(
                        "UPDATE queue_messages SET visible_at = ?, receive_count = ?,"
                        " receipt_handle = ? WHERE seq = ?",
                        (now + timeout, receive_count + 1, handle, seq),
                    )
                    delivered.append(
                        QueueMessage(
                            message_id=message_id,
                            body=body,
                            receipt_handle=handle,
                            receive_count=receive_count + 1,
                        )
                    )
        return delivered, dead

    def _redrive_in_place(self, db: sqlite3.Connection, seq: int, now: float) -> bool:
        """Move a message to a dead-letter queue in the same file, in this transaction."""
        target = self._dead_letter_queue
        if not isinstance(target, SQLiteQueue) or target.path.resolve() != self._path.resolve():
            return False
        db.execute(
            "UPDATE queue_messages SET queue = ?, visible_at = ?, receive_count = 0,"
            " receipt_handle = NULL WHERE seq = ?",
            (target.name, now, seq),
        )
        return True

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            db = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._connection = db
            self._pid = os.getpid()
        return self._connection
