"""Drive an async adapter through a sync port, so one contract suite covers both kinds.

The adapter's coroutines run on an event loop in a background thread (its aioboto3
client belongs to that loop); each call blocks until its coroutine is done.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[T], timeout: float = 120) -> T:
        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()

    @contextmanager
    def entered(self, manager: AbstractAsyncContextManager[T]) -> Iterator[T]:
        """`async with manager` held open on the loop for the duration of the block."""
        value = self.run(manager.__aenter__())
        try:
            yield value
        finally:
            self.run(manager.__aexit__(None, None, None))


@contextmanager
def event_loop_thread() -> Iterator[EventLoopThread]:
    loop = EventLoopThread()
    try:
        yield loop
    finally:
        loop.close()


class Blocking:
    """`target`'s attributes, with every coroutine method run to completion on `loop`."""

    def __init__(self, target: Any, loop: EventLoopThread) -> None:
        self.target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.target, name)
        if not inspect.iscoroutinefunction(value):
            return value
        method: Callable[..., Awaitable[Any]] = value

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(method(*args, **kwargs))

        return blocking

    def __repr__(self) -> str:
        return f"Blocking({self.target!r})"
