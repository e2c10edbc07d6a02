"""Faults for `receipts simulate --faults`, injected through the ports a worker uses.

A `SimulatedProcess` stands for one worker (or trainer) process. The wrappers here
(`FaultyQueue`, `FaultyArtifacts`, `FaultyExporter`) call `process.point(where)` before
and after what they pass on, and there the process may:

- **die** (`crash`): in the process's own thread `ProcessDied` is raised, a
  `BaseException`, so no `except Exception` of the worker runs its clean-up; in a thread the
  worker started (the export thread), the worker is told to stop at once and that thread
  waits until the harness has discarded the worker. Every later call of a dead process
  fails, so nothing it had begun is finished. Its received messages stay in flight until
  the harness lets their visibility expire (`FaultyQueue.expire`).
- **stall past its visibility** (`expiry`): its messages become visible again and a rival
  worker (`process.rival`, fault-free) handles them all before this one goes on.

`FaultyQueue.receive` also delivers a message a second time later (`duplicate`) and
returns a batch in another order (`reorder`). `upload_dir` uploads file by file with a
point between files (a death there leaves part of the tree, as an S3 upload would).
"""

from __future__ import annotations

import builtins
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.exporter import BundleReport, Exporter
from receipts.application.ports.queue import MessageQueue, QueueMessage, ReceiptHandleInvalid
from receipts.domain.quantization import Quantization

_BURIAL_WAIT_SECONDS = 30.0


class FaultKind(StrEnum):
    CRASH = "crash"
    EXPIRY = "expiry"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    POISON = "poison"


class ProcessDied(BaseException):
    """The simulated process died here; `where` names the point."""

    def __init__(self, where: str) -> None:
        super().__init__(f"process died at {where}")
        self.where = where


@dataclass
class Faults:
    """Seeded dice for each kind of fault, and a count of those injected."""

    rates: dict[FaultKind, float]
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    crash_points: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def roll(self, kind: FaultKind) -> bool:
        rate = self.rates.get(kind, 0.0)
        return rate > 0 and self._rng.random() < rate

    def count(self, kind: FaultKind, where: str | None = None) -> None:
        self.injected[kind.value] += 1
        if where is not None:
            self.crash_points[where] += 1

    def shuffle(self, items: list[QueueMessage]) -> None:
        self._rng.shuffle(items)


NO_FAULTS = Faults(rates={})


@dataclass(eq=False)
class SimulatedProcess:
    """One worker process: where it may die or stall, and whether it is dead."""

    faults: Faults = field(default_factory=lambda: NO_FAULTS)
    on_death: Callable[[], None] = lambda: None
    """Called when it dies in a thread of its own (the harness stops the worker's loop)."""
    rival: Callable[[SimulatedProcess], None] | None = None
    """Handles this process's messages elsewhere once their visibility expired."""
    dead: bool = False
    queues: list[FaultyQueue] = field(default_factory=list)
    _owner: int = field(default_factory=threading.get_ident)
    _buried: threading.Event = field(default_factory=threading.Event)

    def point(self, where: str) -> None:
        if self.dead:
            self._fail(where)
        if self.rival is not None and self.in_flight() and self.faults.roll(FaultKind.EXPIRY):
            self.faults.count(FaultKind.EXPIRY)
            for queue in self.queues:
                queue.expire()
            self.rival(self)
        if self.faults.roll(FaultKind.CRASH):
            self.faults.count(FaultKind.CRASH, where)
            self.dead = True
            if threading.get_ident() != self._owner:
                self.on_death()
                self._buried.wait(_BURIAL_WAIT_SECONDS)
            self._fail(where)

    def in_flight(self) -> bool:
        return any(queue.in_flight for queue in self.queues)

    def bury(self) -> None:
        """The harness has discarded the process's worker: its threads may end."""
        self.dead = True
        self._buried.set()

    def _fail(self, where: str) -> None:
        if threading.get_ident() == self._owner:
            raise ProcessDied(where)
        raise RuntimeError(f"process died at {where}")  # a worker thread: its future keeps it


class FaultyQueue:
    """A `MessageQueue` seen from one process."""

    def __init__(self, queue: MessageQueue, process: SimulatedProcess, role: str) -> None:
        self.queue = queue
        self.process = process
        self.role = role
        self.in_flight: set[str] = set()
        process.queues.append(self)

    @property
    def name(self) -> str:
        return self.queue.name

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        self.process.point(f"{self.role}:send")
        return self.queue.send(body, delay_seconds=delay_seconds)

    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]:
        if self.process.dead:
            self.process.point(f"{self.role}:receive")
        messages = self.queue.receive(
            max_messages=max_messages,
            wait_seconds=wait_seconds,
            visibility_timeout=visibility_timeout,
        )
        self.in_flight.update(m.receipt_handle for m in messages)
        faults = self.process.faults
        for message in messages:
            if faults.roll(FaultKind.DUPLICATE):
                faults.count(FaultKind.DUPLICATE)
                self.queue.send(message.body)
        if len(messages) > 1 and faults.roll(FaultKind.REORDER):
            faults.count(FaultKind.REORDER)
            faults.shuffle(messages)
        if messages:
            self.process.point(f"{self.role}:received")
        return messages

    def delete(self, receipt_handle: str) -> None:
        self.process.point(f"{self.role}:delete")
        self.queue.delete(receipt_handle)
        self.in_flight.discard(receipt_handle)

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        if self.process.dead:  # a heartbeat or a release of a dead process
            self.process.point(f"{self.role}:change_visibility")
        self.queue.change_visibility(receipt_handle, timeout_seconds)

    def approximate_count(self) -> int:
        return self.queue.approximate_count()

    def expire(self) -> None:
        """The visibility of every message this process holds runs out now."""
        for handle in self.in_flight:
            with contextlib.suppress(ReceiptHandleInvalid):  # deleted, or received again
                self.queue.change_visibility(handle, 0)
        self.in_flight.clear()


class FaultyArtifacts:
    """An `ArtifactStore` seen from one process."""

    def __init__(self, store: ArtifactStore, process: SimulatedProcess, role: str) -> None:
        self.store = store
        self.process = process
        self.role = role
        self.scheme = store.scheme

    def put_bytes(self, uri: str, data: bytes) -> None:
        self.process.point(f"{self.role}:put")
        self.store.put_bytes(uri, data)
        self.process.point(f"{self.role}:put-done")

    def get_bytes(self, uri: str) -> bytes:
        return self.store.get_bytes(uri)

    def exists(self, uri: str) -> bool:
        return self.store.exists(uri)

    def list(self, prefix: str) -> builtins.list[str]:
        return self.store.list(prefix)

    def delete(self, uri: str) -> None:
        self.process.point(f"{self.role}:delete")
        self.store.delete(uri)

    def upload_file(self, path: Path, uri: str) -> None:
        self.process.point(f"{self.role}:upload")
        self.store.upload_file(path, uri)

    def download_file(self, uri: str, path: Path) -> None:
        self.process.point(f"{self.role}:download")
        self.store.download_file(uri, path)

    def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        base = prefix if prefix.endswith("/") else prefix + "/"
        written = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            uri = base + path.relative_to(directory).as_posix()
            self.process.point(f"{self.role}:upload_dir")
            self.store.upload_file(path, uri)
            written.append(uri)
        self.process.point(f"{self.role}:upload_dir-done")
        return written

    def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        self.process.point(f"{self.role}:download_dir")
        return self.store.download_dir(prefix, directory)

    def publish_dir(self, staging: str, prefix: str) -> bool:
        self.process.point(f"{self.role}:publish_dir")
        published = self.store.publish_dir(staging, prefix)
        self.process.point(f"{self.role}:publish_dir-done")
        return published

    def delete_dir(self, prefix: str) -> None:
        self.process.point(f"{self.role}:delete_dir")
        self.store.delete_dir(prefix)


class FaultyExporter:
    """An `Exporter` that may die before or after converting."""

    def __init__(self, exporter: Exporter, process: SimulatedProcess) -> None:
        self.exporter = exporter
        self.process = process
        self.name = exporter.name

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        self.process.point("export:convert")
        report = self.exporter.export(checkpoint_dir, bundle_dir, quantization)
        self.process.point("export:converted")
        return report
