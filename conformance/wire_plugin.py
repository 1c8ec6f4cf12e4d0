"""The wire tier's part of the pytest plugin: the ``--tier`` and ``--servers`` options and the fixtures.

Spec tests marked ``wire`` run the target under real servers (uvicorn, hypercorn) on 127.0.0.1
and talk to it over HTTP. ``--tier asgi`` (the default) runs the raw-ASGI tier only, ``--tier
wire`` the wire tier only, ``--tier all`` both. One server of each kind serves the whole session
through a :class:`~conformance.servers.Switchboard`; every test still gets a fresh app.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import pytest
import pytest_asyncio

from .harness import Harness, Timeouts
from .servers import SERVER_LOGGERS, SERVERS, LiveServer, LogToTimeline, ServerError, Switchboard
from .timeline import Timeline
from .wire import Wire

TIERS = ("asgi", "wire", "all")
_servers_key = pytest.StashKey[dict[str, tuple[LiveServer, Switchboard]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bgtasks")
    group.addoption("--tier", default="asgi", choices=TIERS,
                    help="asgi: raw ASGI calls (default); wire: real servers on loopback; all: both")
    group.addoption("--servers", default=",".join(SERVERS), metavar="NAMES",
                    help=f"the servers of the wire tier, comma-separated (default {','.join(SERVERS)})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wire: a spec test of the wire tier (a real server on loopback)")
    servers = server_kinds(config)
    unknown = [name for name in servers if name not in SERVERS]
    if unknown or not servers:
        raise pytest.UsageError(f"--servers {config.getoption('--servers')!r}: unknown server "
                                f"{', '.join(unknown) or '(none given)'}; choose from {', '.join(SERVERS)}")


def server_kinds(config: pytest.Config) -> list[str]:
    return [name.strip() for name in config.getoption("--servers").split(",") if name.strip()]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the spec tests of the tier not chosen (tests that check no requirement always stay)."""
    tier = config.getoption("--tier")
    if tier == "all":
        return
    keep, drop = [], []
    for item in items:
        in_spec = item.get_closest_marker("requirement") is not None
        is_wire = item.get_closest_marker("wire") is not None
        (drop if in_spec and is_wire != (tier == "wire") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_kind" in metafunc.fixturenames:
        metafunc.parametrize("server_kind", server_kinds(metafunc.config))


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
            stop_and_check(server, timeout=pytestconfig.getoption("--wait-timeout"))
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
def server_log_in(timeline: Timeline) -> Iterator[None]:
    """The servers' error logs go to ``timeline`` as ``server.log`` events while this is open."""
    handler = LogToTimeline(timeline)
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS.values()]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest_asyncio.fixture
async def wire(harness: Harness, server_kind: str,
               wire_servers: dict[str, tuple[LiveServer, Switchboard]]) -> AsyncIterator[Wire]:
    """This test's fresh app behind a real ``server_kind`` server, with an HTTP client."""
    server, switchboard = shared_server(wire_servers, server_kind, harness.timeouts.wait)
    switchboard.route(harness.app, harness.timeline)
    with server_log_in(harness.timeline):
        async with httpx.AsyncClient(base_url=server.url) as client:
            wired = Wire(harness, server, client)
            try:
                yield wired
            finally:
                harness.probe.open_all()
                await wired.all_calls_returned()
                switchboard.clear()


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
