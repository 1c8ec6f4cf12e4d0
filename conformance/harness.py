"""One test's world: a fresh probe, a fresh data directory, a fresh app, and the driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgtasks_conformance.drive.asgi_driver import FINAL_SEND_GATE, AsgiCall, AsgiDriver, Lifespan, Response
from bgtasks_conformance.observe import events
from bgtasks_conformance.observe.probe import Probe
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline
from bgtasks_conformance.target.loader import Target, TargetEnv


@dataclass(frozen=True)
class Timeouts:
    """How long a wait may take before it fails, and how long a 'nothing happens' check watches."""

    wait: float = 5.0
    gate: float = 10.0
    quiet: float = 0.05


class Harness:
    """What a spec test talks to. Create it with :func:`open_harness`."""

    def __init__(self, target: Target, data_dir: Path, timeouts: Timeouts, work_seconds: float = 0.0,
                 broker_url: str | None = None):
        self.timeline = Timeline()
        self.probe = Probe(self.timeline, gate_timeout=timeouts.gate)
        self.env = TargetEnv(self.probe, data_dir, work_seconds)
        if broker_url is not None:  # the queue tier: another broker than the session's
            self.env.broker_url = broker_url
        self.timeouts = timeouts
        self.app = target.build(self.env)
        self.driver = AsgiDriver(self.app, self.timeline, timeout=timeouts.wait)

    @property
    def data_dir(self) -> Path:
        return self.env.data_dir

    # -- requests ---------------------------------------------------------------------------
    def start(self, method: str, url: str, **options: Any) -> AsgiCall:
        return self.driver.start(method, url, **options)

    def post(self, url: str, **options: Any) -> AsgiCall:
        return self.driver.start("POST", url, **options)

    def websocket(self, url: str, **options: Any) -> AsgiCall:
        """Start a WebSocket handshake (offering the ``websocket.http.response`` extension unless ``denial=False``)."""
        return self.driver.websocket(url, **options)

    def scenario(self, tasks: list[dict[str, Any]], *, prefix: str = "", **plan: Any) -> AsgiCall:
        """Start ``POST {prefix}/scenario`` with these task specs."""
        return self.post(f"{prefix}/scenario", json={"tasks": tasks, **plan})

    async def complete(self, call: AsgiCall) -> tuple[Response, BaseException | None]:
        """The response, then whatever the app call raised once all its tasks are done."""
        __tracebackhide__ = True
        response = await call.response()
        return response, await call.finished()

    def hold_final_send(self) -> Any:
        """A gate for ``start(..., send_gate=...)``: the final body send waits until it opens."""
        return self.probe.gate(FINAL_SEND_GATE)

    # -- gates and waits --------------------------------------------------------------------
    def gate(self, name: str) -> Any:
        return self.probe.gate(name)

    def open(self, name: str) -> None:
        self.probe.open(name)

    async def wait(self, predicate: Any, expected: str) -> Event:
        """The first event matching ``predicate``; a timeout says too where an app waits in ``receive()``."""
        __tracebackhide__ = True
        try:
            return await self.timeline.wait_for(predicate, timeout=self.timeouts.wait, expected=expected)
        except ExpectationFailed as error:
            hint = self.driver.where_waiting()
            if hint is None:
                raise
            raise ExpectationFailed(f"{error}\n{hint}") from None

    async def wait_started(self, task: str) -> Event:
        __tracebackhide__ = True
        return await self.wait(events.started(task), f"task {task!r} to start")

    async def wait_finished(self, task: str) -> Event:
        __tracebackhide__ = True
        return await self.wait(events.finished(task), f"task {task!r} to finish")

    async def expect_none(self, predicate: Any, forbidden: str) -> None:
        __tracebackhide__ = True
        await self.timeline.expect_none(predicate, within=self.timeouts.quiet, forbidden=forbidden)

    def started_args(self, task: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments ``task`` received, as it received them."""
        __tracebackhide__ = True
        event = self.timeline.first(events.started(task))
        if event is None:
            raise AssertionError(f"task {task!r} never started; timeline:\n{self.timeline.format()}")
        return event["args"], event["kwargs"]


@asynccontextmanager
async def open_harness(
    target: Target,
    data_dir: Path,
    timeouts: Timeouts | None = None,
    work_seconds: float = 0.0,
    *,
    lifespan: bool = True,
    broker_url: str | None = None,
) -> AsyncIterator[Harness]:
    """A harness with the app's lifespan started; on exit every gate opens and every call ends.

    ``lifespan=False`` leaves the lifespan to whoever serves the app (a real server).
    """
    timeouts = timeouts or Timeouts()
    harness = Harness(target, data_dir, timeouts, work_seconds, broker_url)
    running = Lifespan(harness.app, timeouts.wait) if lifespan else None
    if running is not None:
        await running.startup()
    try:
        yield harness
    finally:
        harness.probe.open_all()
        await harness.driver.finish_all(timeouts.wait)
        if running is not None:
            await running.shutdown()
        harness.env.close()
        _release_tracebacks(harness.timeline)


def _release_tracebacks(timeline: Timeline) -> None:
    """Free the frames (the whole app) that recorded exceptions hold through their tracebacks.

    FastAPI caches endpoints at module level, and with them ``env`` and this timeline: without
    this, every test whose tasks raised would keep its app alive for the rest of the run.
    """
    for event in timeline.select(lambda e: "exception" in e.data):
        error: BaseException | None = event["exception"]
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            error.__traceback__ = None
            error = error.__cause__ or error.__context__
