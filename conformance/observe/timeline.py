"""One ordered record of everything a test observes: ASGI messages and task events.

Events are appended from any thread (the event loop, worker threads, a probe server) and
waited for from the test's event loop. Every wait has a timeout and, when it runs out, says
what was expected and shows what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Predicate = Callable[["Event"], bool]


class ExpectationFailed(AssertionError):
    """What a test expected did not happen, or happened in the wrong order."""


@dataclass(frozen=True)
class Event:
    """One observation. ``kind`` is dotted: ``asgi.send``, ``task.start``, ``gate.open`` ..."""

    seq: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    thread: int = 0
    on_loop: bool = False
    at: float = 0.0

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def describe(self) -> str:
        shown = {k: v for k, v in self.data.items() if k not in _HIDDEN_FIELDS}
        details = " ".join(f"{k}={_short(v)}" for k, v in shown.items())
        return f"[{self.seq}] {self.kind} {details}".rstrip()


_HIDDEN_FIELDS = frozenset({"args", "kwargs", "body_bytes", "headers", "exception"})


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Timeline:
    """Thread-safe, append-only list of events with timed waits."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._started = time.monotonic()

    def record(self, kind: str, **data: Any) -> Event:
        """Append an event, stamped with its thread and whether an event loop runs there."""
        with self._lock:
            event = Event(
                seq=len(self._events) + 1,
                kind=kind,
                data=data,
                thread=threading.get_ident(),
                on_loop=_running_loop() is not None,
                at=time.monotonic() - self._started,
            )
            self._events.append(event)
            self._recorded.notify_all()
            listeners = list(self._listeners)
        for loop, changed in listeners:
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:  # that loop is closed: its waiter is gone
                pass
        return event

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def select(self, predicate: Predicate) -> list[Event]:
        return [event for event in self.events if predicate(event)]

    def first(self, predicate: Predicate) -> Event | None:
        return next((event for event in self.events if predicate(event)), None)

    def format(self, *, limit: int = 60) -> str:
        events = self.events
        lines = [event.describe() for event in events[-limit:]]
        if len(events) > limit:
            lines.insert(0, f"... {len(events) - limit} earlier events")
        return "\n".join("    " + line for line in lines) or "    (nothing)"

    async def wait_for(self, predicate: Predicate, *, timeout: float, expected: str) -> Event:
        """The first event matching ``predicate``; fail after ``timeout`` seconds."""
        __tracebackhide__ = True
        matches = await self.wait_for_count(predicate, 1, timeout=timeout, expected=expected)
        return matches[0]

    async def wait_for_count(
        self, predicate: Predicate, count: int, *, timeout: float, expected: str, stall: bool = False
    ) -> list[Event]:
        """The first ``count`` events matching ``predicate``; fail after ``timeout`` seconds, or with ``stall``
        after ``timeout`` seconds without a new match (a long run that keeps moving is not stuck)."""
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        listener = (loop, changed)
        deadline = loop.time() + timeout
        seen = 0
        with self._lock:
            self._listeners.append(listener)
        try:
            while True:
                changed.clear()
                matches = self.select(predicate)
                if len(matches) >= count:
                    return matches[:count]
                if stall and len(matches) > seen:
                    seen, deadline = len(matches), loop.time() + timeout
                remaining = deadline - loop.time()
                if remaining <= 0:
                    within = f"with none new for {timeout:g}s" if stall else f"within {timeout:g}s"
                    raise ExpectationFailed(
                        f"expected {expected} {within}, "
                        f"saw {len(matches)} of {count}; timeline:\n{self.format()}"
                    )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            with self._lock:
                self._listeners.remove(listener)

    def wait_for_sync(self, predicate: Predicate, *, timeout: float, expected: str) -> Event:
        """Block this thread (not an event loop) until an event matches; fail after ``timeout``."""
        __tracebackhide__ = True
        with self._recorded:
            found = self._recorded.wait_for(
                lambda: next((e for e in self._events if predicate(e)), None), timeout
            )
        if found is None:
            raise ExpectationFailed(f"expected {expected} within {timeout:g}s; timeline:\n{self.format()}")
        return found

    async def expect_none(self, predicate: Predicate, *, within: float, forbidden: str) -> None:
        """Fail if an event matching ``predicate`` appears within the short ``within`` window."""
        __tracebackhide__ = True
        try:
            event = await self.wait_for(predicate, timeout=within, expected=forbidden)
        except ExpectationFailed:
            return
        raise ExpectationFailed(
            f"expected no {forbidden} (watched for {within:g}s), "
            f"but saw {event.describe()}; timeline:\n{self.format()}"
        )
