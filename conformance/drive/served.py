"""A test's own server: its harness's app behind a :class:`~bgtasks_conformance.drive.servers.Tap` on a real server.

``async with served(harness, "uvicorn", hold_send=2) as s:`` starts the server with the app's
lifespan (open the harness with ``lifespan=False``), and on the way out, also when the test
failed, opens every gate, stops the server and proves nothing is left: its thread ended, its port
refuses connections, and every thread started meanwhile (a sync task's worker) has ended.
:func:`unaccounted` and :func:`tasks_outcome` read what became of the scheduled tasks.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bgtasks_conformance.drive.raw_client import RawClient
from bgtasks_conformance.drive.servers import WAITING_LOGS, LiveServer, ServerError
from bgtasks_conformance.drive.tap import Tap
from bgtasks_conformance.harness import Harness
from bgtasks_conformance.observe import events
from bgtasks_conformance.observe.timeline import Event, Timeline


@dataclass
class Served:
    """The running server and the harness whose app it serves."""

    harness: Harness
    server: LiveServer
    clients: list[RawClient] = field(default_factory=list)

    @property
    def timeline(self) -> Timeline:
        return self.harness.timeline

    async def connect(self) -> RawClient:
        """A raw client of this server; :func:`served` closes it when the test is done with the server."""
        client = await RawClient.connect(self.server.port, self.timeline, self.harness.timeouts.wait)
        self.clients.append(client)
        return client

    async def wait(self, predicate: events.Predicate, expected: str, timeout: float | None = None) -> Event:
        __tracebackhide__ = True
        return await self.timeline.wait_for(predicate, timeout=timeout or self.harness.timeouts.wait,
                                            expected=expected)

    async def call_ended(self) -> Event:
        """The server's (first) call into the app has returned or raised."""
        __tracebackhide__ = True
        return await self.wait(call_end, "the server's call into the app to return or raise")

    async def shutdown_waits(self, client: RawClient) -> None:
        """Ask for a graceful shutdown and see the server reach the point where it waits for running tasks.

        Both servers close an idle connection when their shutdown begins (``client`` must be one);
        a server that logs when it starts waiting (uvicorn) must log that, not stop. Then nothing
        may end the server within the quiet timeout.
        """
        __tracebackhide__ = True
        self.server.request_shutdown()
        await client.read_to_end()
        self.timeline.record("client.eof", why="the server closed the idle connection: its shutdown began")
        waiting = WAITING_LOGS[self.server.kind]
        if waiting is not None:
            seen = await self.wait(lambda e: _logged(e, waiting) or shutting_down(e),
                                   f"{self.server.kind} to log {waiting!r} (or to stop)")
            assert _logged(seen, waiting), (
                f"expected {self.server.kind} to log {waiting!r} and wait for the running task, saw it go on "
                f"with {seen.describe()}; "
                f"timeline:\n{self.timeline.format()}")
        await self.harness.expect_none(shutting_down, "lifespan shutdown or server stop while a task runs")

    async def stopped(self, timeout: float | None = None) -> Event:
        __tracebackhide__ = True
        return await self.wait(lambda e: e.kind == "server.stopped", f"{self.server.kind} to stop", timeout)


def call_end(event: Event) -> bool:
    return event.kind in ("server.return", "server.raise")


def shutting_down(event: Event) -> bool:
    """The server sent the app's lifespan shutdown, or stopped: it no longer waits for requests."""
    return event.kind == "server.stopped" or (event.kind == "server.lifespan" and event["type"] == "lifespan.shutdown")


def _logged(event: Event, text: str) -> bool:
    return event.kind == "server.log" and text in event["message"]


@asynccontextmanager
async def served(harness: Harness, kind: str, *, hold_send: int | None = None,
                 graceful_timeout: float | None = None) -> AsyncIterator[Served]:
    """``harness.app`` served by ``kind`` on 127.0.0.1 for one test; everything stopped and checked after."""
    timeouts = harness.timeouts
    before = set(threading.enumerate())
    tap = Tap(harness.app, harness.timeline, hold_send=hold_send, hold_timeout=timeouts.gate)
    server = LiveServer(kind, tap, graceful_timeout=graceful_timeout, timeline=harness.timeline)
    await asyncio.to_thread(server.start, timeouts.wait)
    live = Served(harness, server)
    try:
        yield live
    finally:
        harness.probe.open_all()
        tap.release()
        try:
            await asyncio.to_thread(_stop_and_check, server, before, timeouts.wait)
        finally:
            for client in live.clients:
                await client.close()


def _stop_and_check(server: LiveServer, before: set[threading.Thread], timeout: float) -> None:
    server.stop(timeout)
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=timeout).close()
    except ConnectionRefusedError:
        pass
    else:
        raise ServerError(f"{server.kind} stopped, but port {server.port} still accepts connections")
    left = [t for t in threading.enumerate() if t not in before and not _test_loop_worker(t)]
    for thread in left:
        thread.join(timeout)
    alive = [t.name for t in left if t.is_alive()]
    if alive:
        raise ServerError(f"{server.kind} stopped, but threads it started still run: {alive}")


def _test_loop_worker(thread: threading.Thread) -> bool:
    """The test's own event loop's executor (``asyncio.to_thread``): not the server's."""
    return thread.name.startswith("asyncio_")


# -- what became of the tasks ---------------------------------------------------------------------
def added(timeline: Timeline) -> list[str]:
    return [e["task"] for e in timeline.select(lambda e: e.kind == "task.add")]


def task_fate(timeline: Timeline, task: str) -> str:
    """``ended``, ``cancelled``, ``errored`` (another error), ``running`` (started, not finished), ``not-run``."""
    finished = timeline.first(events.finished(task))
    if finished is not None:
        if finished.kind == "task.end":
            return "ended"
        return "cancelled" if finished["error"] == "CancelledError" else "errored"
    return "running" if timeline.first(events.started(task)) is not None else "not-run"


def fates(timeline: Timeline) -> dict[str, str]:
    return {task: task_fate(timeline, task) for task in added(timeline)}


def unaccounted(timeline: Timeline) -> list[str]:
    """Scheduled tasks lost silently: neither ended nor raised, while the app call returned as if all was well.

    A task that did not finish is accounted for only when the server's call into the app raised
    (the server saw the error or the cancellation; it is the server's to report).
    """
    raised = timeline.first(lambda e: e.kind == "server.raise") is not None
    return [f"{task} ({fate})" for task, fate in fates(timeline).items()
            if fate in ("not-run", "running") and not raised]


def tasks_outcome(timeline: Timeline) -> str:
    """One word for all tasks: ``all-run``, ``none-run``, ``cancelled`` (one reported CancelledError),
    ``left-running`` (one still running), ``errored``, or ``partial`` (some never ran)."""
    seen = set(fates(timeline).values())
    for fate, word in (("cancelled", "cancelled"), ("running", "left-running"), ("errored", "errored")):
        if fate in seen:
            return word
    if seen <= {"ended"}:
        return "all-run"
    return "none-run" if seen == {"not-run"} else "partial"


def call_summary(timeline: Timeline) -> dict[str, Any]:
    """How the server's call ended and what the server logged, for the report."""
    end = timeline.first(call_end)
    logs = [f"{e['level']}: {e['message'].splitlines()[0] if e['message'] else ''}"
            for e in timeline.select(lambda e: e.kind == "server.log" and e["level"] in ("WARNING", "ERROR"))]
    return {"call": None if end is None else ("returned" if end.kind == "server.return" else f"raised {end['error']}"),
            "server_logged": logs}
