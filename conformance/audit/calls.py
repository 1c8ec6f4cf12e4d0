"""One audit call: a request through the raw ASGI driver, with the machinery instrumented and the loop watched."""

from __future__ import annotations

import asyncio
import contextlib
import types
from dataclasses import dataclass, field
from typing import Any

from bgtasks_conformance.audit.examples import AuditRequest
from bgtasks_conformance.audit.instrument import Recorder, Role, instrumented
from bgtasks_conformance.drive.asgi_driver import AsgiDriver
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline

HEARTBEAT = 0.005  # seconds between the heartbeat's ticks
LATE = 0.02  # a tick later than this is recorded (the checks compare the lag with their own threshold)


@dataclass
class Observation:
    """What one request showed: the response, the task events in order with the ASGI messages, the loop's lag."""

    request: AuditRequest
    events: list[Event]
    status: int | None = None
    app_error: str | None = None  # what left the app call, if anything
    timed_out: bool = False  # the app call had not returned within the wait timeout
    lag: dict[int, float] = field(default_factory=dict)  # task -> the loop's longest stall while it ran

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def reached(self) -> bool:
        """The endpoint's own code ran: a task was made, or the answer was not a client error."""
        return bool(self.of("task.made")) or (self.status is not None and not 400 <= self.status < 500)


async def _heartbeat(timeline: Timeline) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + HEARTBEAT
        await asyncio.sleep(HEARTBEAT)
        late = loop.time() - due
        if late > LATE:
            timeline.record("loop.late", seconds=round(late, 4))


def _lag(events: list[Event]) -> dict[int, float]:
    """Per async task, the longest stall of the loop that began while it ran."""
    starts = {e["task"]: e for e in events if e.kind == "task.start" and e.on_loop}
    asynchronous = {e["task"] for e in events if e.kind == "task.made" and e.get("is_async")}
    ends = {e["task"]: e for e in events if e.kind in ("task.end", "task.error")}
    lag: dict[int, float] = {}
    for late in (e for e in events if e.kind == "loop.late"):
        began = late.at - late["seconds"]
        for key, start in starts.items():
            end = ends.get(key)
            if key in asynchronous and start.at <= late.at and (end is None or end.at >= began):
                lag[key] = max(lag.get(key, 0.0), late["seconds"])
    return lag


SETTLE = 0.1  # after the app call returned: how long tasks made but not ended may take to show themselves


async def _settle(timeline: Timeline) -> None:
    """Give tasks made but not ended (detached from the app call, or dropped) a short while to start and end."""
    def open_tasks(_: Event | None = None) -> bool:
        events = timeline.events
        made = {e["task"] for e in events if e.kind == "task.made"}
        ended = {e["task"] for e in events if e.kind in ("task.end", "task.error")}
        return bool(made - ended)

    if open_tasks():
        with contextlib.suppress(ExpectationFailed):
            await timeline.wait_for(lambda e: not open_tasks(), timeout=SETTLE, expected="the detached tasks' end")


async def observe(app: Any, request: AuditRequest, roles: dict[types.CodeType, Role], timeout: float) -> Observation:
    """Send ``request`` to ``app`` and watch it to the end of the app call (at most ``timeout`` seconds)."""
    timeline = Timeline()
    recorder = Recorder(timeline, roles)
    driver = AsgiDriver(app, timeline, timeout=timeout)
    with instrumented(recorder):
        beat = asyncio.ensure_future(_heartbeat(timeline))
        await asyncio.sleep(0)
        try:
            call = driver.start(request.method, request.url(), json=request.json, headers=list(request.headers.items()))
            timed_out = False
            try:
                error = await call.finished(timeout)
            except ExpectationFailed:
                timed_out, error = True, None
                timeline.record("audit.timeout", call=call.id, seconds=timeout)
                await driver.finish_all(0.5)
            await _settle(timeline)
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
    events = timeline.events
    start = next((e for e in events if e.kind == "asgi.send" and e["type"] == "http.response.start"
                  and "violation" not in e.data), None)
    return Observation(request, events, start["status"] if start else None,
                       f"{type(error).__name__}: {error}" if error is not None else None, timed_out, _lag(events))
