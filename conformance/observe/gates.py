"""Gates: a task holds on one until the test opens it, from a thread or an event loop."""

from __future__ import annotations

import asyncio
import threading


class GateTimeout(RuntimeError):
    """A task waited on a gate that the test never opened."""


class Gate:
    """A one-shot latch that sync code waits on in its thread and async code on its loop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._opened = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    def open(self) -> None:
        with self._lock:
            self._opened.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # the waiting loop is closed
                pass

    def wait(self, timeout: float) -> None:
        """Block this thread until the gate opens; ``GateTimeout`` after ``timeout`` seconds."""
        if not self._opened.wait(timeout):
            raise GateTimeout(f"gate {self.name!r} was not opened within {timeout:g}s")

    async def wait_async(self, timeout: float) -> None:
        """Wait on the running loop (without blocking it) until the gate opens."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._opened.is_set():
                return
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise GateTimeout(f"gate {self.name!r} was not opened within {timeout:g}s") from None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
