"""Work repeated from a background thread while a block runs: heartbeats and leases."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Beating(ABC):
    """`with beating: work()` calls `beat()` from a daemon thread `every` seconds (each
    `every` after the previous beat ended) until `beat` returns False or the block is left.
    Leaving waits for a beat in progress, so none lands after the block."""

    every: float
    _left: threading.Event | None = None
    _thread: threading.Thread | None = None

    @abstractmethod
    def beat(self) -> bool:
        """One beat; False stops the beating."""

    @property
    def thread_name(self) -> str:
        return type(self).__name__

    def __enter__(self) -> Self:
        left = self._left = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_until, args=(left,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._left is not None:
            self._left.set()
        if self._thread is not None:
            self._thread.join()

    def _beat_until(self, left: threading.Event) -> None:
        while not left.wait(self.every) and self.beat():
            pass
