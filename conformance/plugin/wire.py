"""The wire tier's part of the pytest plugin: the ``--bgtasks-tier`` and ``--bgtasks-servers`` options and the fixtures.

Spec tests marked ``wire`` run the target under real servers (uvicorn, hypercorn) on 127.0.0.1
and talk to it over HTTP. ``--bgtasks-tier asgi`` (the default) runs the raw-ASGI tier only, ``--bgtasks-tier
wire`` the wire tier only, ``--bgtasks-tier all`` both. One server of each kind serves the whole session
through a :class:`~bgtasks_conformance.drive.servers.Switchboard`; every test still gets a fresh app.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bgtasks_conformance.drive.servers import SERVER_LOGGERS, LiveServer, LogToTimeline, ServerError, Switchboard
from bgtasks_conformance.drive.wire import NO_KEEP_ALIVE, Calls, Wire, recorded
from bgtasks_conformance.harness import Harness, Timeouts
from bgtasks_conformance.observe.timeline import Timeline
from bgtasks_conformance.plugin.settings import settings
from bgtasks_conformance.results.registry import REQUIREMENT_MARK, WIRE_MARK

LOAD_SUMMARY = "load_summary"  # the observed key of the load test's one-line counts, per server
_servers_key = pytest.StashKey[dict[str, tuple[LiveServer, Switchboard]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{WIRE_MARK}: a spec test of the wire tier (a real server on loopback)")


def server_kinds(config: pytest.Config) -> list[str]:
    return list(settings(config).servers)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the spec tests of the tier not chosen (tests that check no requirement always stay)."""
    tier = settings(config).tier
    if tier == "all":
        return
    keep, drop = [], []
    for item in items:
        in_spec = item.get_closest_marker(REQUIREMENT_MARK) is not None
        is_wire = item.get_closest_marker(WIRE_MARK) is not None
        (drop if in_spec and is_wire != (tier == "wire") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The load test's counts, per server (also under xdist: they travel in the reports)."""
    lines: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", []):
                if key in ("observed", "measured") and str(value[0]).startswith(LOAD_SUMMARY):
                    lines[value[0]] = value[1]
    if lines:
        terminalreporter.section("wire tier: load")
        for key in sorted(lines):
            terminalreporter.write_line(lines[key])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each wire test once per server; module scope, so that a module's fixture can serve one server's tests."""
    if "server_kind" in metafunc.fixturenames:
        metafunc.parametrize("server_kind", server_kinds(metafunc.config), scope="module")


@dataclass(frozen=True)
class LoadSettings:
    """The load test's bounds: ``--bgtasks-load-requests``, ``-concurrency`` and ``-timeout``."""

    requests: int
    concurrency: int
    timeout: float


@pytest.fixture(scope="session")
def load_settings(pytestconfig: pytest.Config) -> LoadSettings:
    chosen = settings(pytestconfig)
    return LoadSettings(chosen.load_requests, chosen.load_concurrency, chosen.load_timeout)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def wire_servers(pytestconfig: pytest.Config) -> Iterator[dict[str, tuple[LiveServer, Switchboard]]]:
    """One running server per kind for the whole session, started when first asked for."""
    servers: dict[str, tuple[LiveServer, Switchboard]] = {}
    pytestconfig.stash[_servers_key] = servers
    yield servers
    problems = []
    for server, _ in servers.values():
        try:
            stop_and_check(server, timeout=settings(pytestconfig).wait_timeout)
        except ServerError as error:
            problems.append(str(error))
    if problems:
        raise ServerError("; ".join(problems))


def stop_and_check(server: LiveServer, timeout: float) -> None:
    """Stop ``server`` and prove nothing is left: its thread ended and its port refuses connections."""
    server.stop(timeout)
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=timeout).close()
    except ConnectionRefusedError:
        return
    raise ServerError(f"{server.kind} stopped, but port {server.port} still accepts connections")


def shared_server(servers: dict[str, tuple[LiveServer, Switchboard]], kind: str,
                  timeout: float) -> tuple[LiveServer, Switchboard]:
    if kind not in servers:
        switchboard = Switchboard()
        servers[kind] = (LiveServer(kind, switchboard).start(timeout), switchboard)
    return servers[kind]


@contextmanager
def server_log_in(timeline: Timeline, *, propagate: bool = True) -> Iterator[None]:
    """The servers' error logs go to ``timeline`` as ``server.log`` events while this is open.

    ``propagate=False`` keeps them out of every other handler meanwhile: pytest's log capture would
    format each expected traceback (a test's failing task) into the report, in the server's thread.
    """
    handler = LogToTimeline(timeline)
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS.values()]
    kept = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = logger.propagate and propagate
    try:
        yield
    finally:
        for logger, was in zip(loggers, kept, strict=True):
            logger.removeHandler(handler)
            logger.propagate = was


@asynccontextmanager
async def serving(harness: Harness, server: LiveServer, switchboard: Switchboard, *, propagate_logs: bool = False,
                  **client_options: Any) -> AsyncIterator[Wire]:
    """``harness``'s app routed to ``server``, with a client (no keep-alive unless ``limits`` says otherwise).

    The server's error log goes to the timeline (``server.log``, with the exception), not to pytest's capture.

    On exit every gate opens and every call into the app must return; the route is cleared in any case.
    """
    calls = Calls()
    switchboard.route(recorded(harness.app, harness.timeline, calls), harness.timeline)
    client_options.setdefault("limits", NO_KEEP_ALIVE)
    try:
        with server_log_in(harness.timeline, propagate=propagate_logs):
            async with httpx.AsyncClient(base_url=server.url, **client_options) as client:
                wired = Wire(harness, server, client, calls)
                try:
                    yield wired
                finally:
                    harness.probe.open_all()
                    await wired.all_calls_returned()
    finally:
        switchboard.clear()


@pytest.fixture
async def wire(harness: Harness, server_kind: str,
               wire_servers: dict[str, tuple[LiveServer, Switchboard]]) -> AsyncIterator[Wire]:
    """This test's fresh app behind a real ``server_kind`` server, with an HTTP client."""
    server, switchboard = shared_server(wire_servers, server_kind, harness.timeouts.wait)
    async with serving(harness, server, switchboard) as wired:
        yield wired


DedicatedServer = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def dedicated_server(server_kind: str, timeouts: Timeouts) -> DedicatedServer:
    """A server of its own for one app (e.g. to shut it down): ``with dedicated_server(app, graceful_timeout=1)``."""
    wait = timeouts.wait

    @contextmanager
    def serve(app: object, *, graceful_timeout: float | None = None) -> Iterator[LiveServer]:
        server = LiveServer(server_kind, app, graceful_timeout=graceful_timeout).start(wait)
        try:
            yield server
        finally:
            stop_and_check(server, wait)

    return serve
