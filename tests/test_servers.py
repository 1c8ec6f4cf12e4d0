"""The wire tier's machinery: live servers, the tap, the raw client, and a test's own server."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from bgtasks_conformance import Timeouts, open_harness
from bgtasks_conformance.drive.raw_client import RawClient
from bgtasks_conformance.drive.served import fates, served, tasks_outcome, unaccounted
from bgtasks_conformance.drive.servers import (
    SERVER_DEFAULT,
    SERVERS,
    LiveServer,
    ServerError,
    default_graceful_timeout,
    sends_headers_alone,
)
from bgtasks_conformance.drive.tap import Tap
from bgtasks_conformance.observe.gates import Gate
from bgtasks_conformance.observe.timeline import ExpectationFailed, Timeline
from bgtasks_conformance.results.versions import installed
from bgtasks_conformance.target.loader import Target, TargetChoice

from .conftest import scenario_only

pytestmark = pytest.mark.anyio

WAIT = 5.0
TARGET = Target(TargetChoice("tests:scenario_only", "--bgtasks-target option"), scenario_only)
Scope = dict[str, Any]
Channel = Callable[..., Any]


async def answer_lifespan(receive: Channel, send: Channel, startup: str = "lifespan.startup.complete") -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": startup})
            if startup != "lifespan.startup.complete":
                return
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello(scope: Scope, receive: Channel, send: Channel) -> None:
    """Answers ``hello`` to every request, after reading its body."""
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def stuck_on(gate: Gate, timeline: Timeline) -> Channel:
    """An app whose requests hold on ``gate`` before they answer."""

    async def app(scope: Scope, receive: Channel, send: Channel) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        timeline.record("app.held")
        await gate.wait_async(30)
        await hello(scope, receive, send)

    return app


async def failing_startup(scope: Scope, receive: Channel, send: Channel) -> None:
    await answer_lifespan(receive, send, startup="lifespan.startup.failed")


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and not t.name.startswith("asyncio_")]


def kinds_of(timeline: Timeline, prefix: str) -> list[str]:
    return [e.kind for e in timeline if e.kind.startswith(prefix)]


# -- LiveServer ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SERVERS)
async def test_a_server_serves_and_stops_leaving_no_thread_or_port(kind: str) -> None:
    before = set(threading.enumerate())
    timeline = Timeline()
    server = await asyncio.to_thread(LiveServer(kind, hello, timeline=timeline).start, WAIT)
    assert server.running and server.url == f"http://127.0.0.1:{server.port}"
    client = await RawClient.connect(server.port, timeline, WAIT)
    await client.send("GET", "/")
    assert await client.read_head() == 200
    assert (await client.read_until(b"hello", "the body")).endswith(b"hello")
    await client.close()
    await asyncio.to_thread(server.stop, WAIT)
    assert not server.running and refuses(server.port)
    assert new_threads(before) == []
    life = [kind for kind in kinds_of(timeline, "server.") if kind != "server.log"]
    assert life == ["server.ready", "server.stopping", "server.served", "server.stopped"]
    assert kinds_of(timeline, "client.") == ["client.request", "client.read", "client.read", "client.close"]


@pytest.mark.parametrize("kind", SERVERS)
async def test_a_failed_startup_is_a_clear_server_error_and_leaves_nothing(kind: str) -> None:
    before = set(threading.enumerate())
    server = LiveServer(kind, failing_startup)
    with pytest.raises(ServerError, match=rf"{kind} failed to start: the app's lifespan startup answered "
                                          r"\{'type': 'lifespan.startup.failed'\}"):
        await asyncio.to_thread(server.start, WAIT)
    assert not server.running and refuses(server.port)
    assert new_threads(before) == []


async def test_an_unknown_server_is_refused() -> None:
    with pytest.raises(ServerError, match="unknown server 'gunicorn'; choose one of uvicorn, hypercorn"):
        LiveServer("gunicorn", hello)
    with pytest.raises(ServerError, match="unknown server 'gunicorn'"):
        default_graceful_timeout("gunicorn")


@pytest.mark.parametrize("kind", SERVERS)
async def test_force_stop_ends_a_server_stuck_on_a_held_request(kind: str) -> None:
    timeline, gate = Timeline(), Gate("never")
    server = await asyncio.to_thread(LiveServer(kind, stuck_on(gate, timeline), timeline=timeline).start, WAIT)
    try:
        client = await RawClient.connect(server.port, timeline, WAIT)
        await client.send("GET", "/")
        await timeline.wait_for(lambda e: e.kind == "app.held", timeout=WAIT, expected="the request to hold")
        server.request_shutdown()
        assert not await asyncio.to_thread(server.join, 0.2), "expected the graceful shutdown to wait for the request"
        server.force_stop()
        assert await asyncio.to_thread(server.join, WAIT), f"{kind} did not stop when forced"
        assert refuses(server.port)
        assert [e.kind for e in timeline if e.kind in ("server.stopping", "server.force", "server.stopped")] == [
            "server.stopping", "server.force", "server.stopped"]
        await client.close()
    finally:
        gate.open()
        await asyncio.to_thread(server.stop, WAIT)


async def test_which_servers_send_the_headers_alone() -> None:
    assert sends_headers_alone("uvicorn")
    assert sends_headers_alone("hypercorn") == (installed("hypercorn") >= Version("0.17"))


async def test_the_graceful_timeout_is_the_servers_own_by_choice() -> None:
    assert default_graceful_timeout("uvicorn") is None
    assert default_graceful_timeout("hypercorn") == 3.0
    assert LiveServer("hypercorn", hello, graceful_timeout=SERVER_DEFAULT).graceful_timeout == 3.0
    assert LiveServer("uvicorn", hello, graceful_timeout=SERVER_DEFAULT).graceful_timeout is None
    assert LiveServer("uvicorn", hello, graceful_timeout=0.3).effective_graceful_timeout == 1  # whole seconds
    assert LiveServer("uvicorn", hello, graceful_timeout=1.6).effective_graceful_timeout == 2
    assert LiveServer("hypercorn", hello, graceful_timeout=0.3).effective_graceful_timeout == 0.3
    assert LiveServer("hypercorn", hello).effective_graceful_timeout is None


@pytest.mark.parametrize("kind", SERVERS)
async def test_a_server_records_its_own_log_and_no_other_threads(kind: str) -> None:
    timeline = Timeline()
    logger = logging.getLogger({"uvicorn": "uvicorn.error", "hypercorn": "hypercorn.error"}[kind])
    level = logger.level
    server = await asyncio.to_thread(LiveServer(kind, hello, timeline=timeline).start, WAIT)
    logger.warning("from the test's thread")
    await asyncio.to_thread(server.stop, WAIT)
    logged = [e["message"] for e in timeline if e.kind == "server.log"]
    assert logged, f"expected {kind}'s INFO log in the timeline; timeline:\n{timeline.format()}"
    assert "from the test's thread" not in logged
    assert logger.level == level


# -- the raw client ------------------------------------------------------------------------------
async def test_the_raw_client_fails_with_what_it_saw() -> None:
    timeline, gate = Timeline(), Gate("never")
    server = await asyncio.to_thread(LiveServer("uvicorn", stuck_on(gate, timeline)).start, WAIT)
    try:
        client = await RawClient.connect(server.port, timeline, 0.1)
        await client.send("POST", "/x", {"a": 1})
        with pytest.raises(ExpectationFailed, match=r"expected the response's status line and headers within 0.1s, "
                                                    r"saw TimeoutError after b''"):
            await client.read_head()
        await client.abort()
        await client.abort()  # closing twice does nothing
        assert client.closed
        assert [(e.kind, e.get("how")) for e in timeline if e.kind.startswith("client.")] == [
            ("client.request", None), ("client.close", "abort")]
    finally:
        gate.open()
        await asyncio.to_thread(server.stop, WAIT)


async def test_the_raw_client_sees_the_server_close() -> None:
    timeline = Timeline()
    server = await asyncio.to_thread(LiveServer("hypercorn", hello).start, WAIT)
    try:
        client = await RawClient.connect(server.port, timeline, WAIT)
        await client.send("GET", "/")
        await client.read_until(b"hello", "the body")
        server.request_shutdown()  # closes the idle connection
        assert (await client.read_to_end()).endswith(b"hello")
        with pytest.raises(ExpectationFailed, match="expected more, but the server closed the connection after"):
            await client.read_until(b"more", "more")
        await client.close()
    finally:
        await asyncio.to_thread(server.stop, WAIT)


# -- the tap -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SERVERS)
async def test_a_held_send_goes_on_once_the_server_reports_the_client_gone(kind: str) -> None:
    if not sends_headers_alone(kind):
        pytest.skip(f"this {kind} sends the headers only with the first body chunk")
    timeline = Timeline()
    server = await asyncio.to_thread(LiveServer(kind, Tap(hello, timeline, hold_send=2)).start, WAIT)
    try:
        client = await RawClient.connect(server.port, timeline, WAIT)
        await client.send("POST", "/", {"a": 1})
        assert await client.read_head() == 200
        await timeline.wait_for(lambda e: e.kind == "server.send.hold", timeout=WAIT, expected="the body to wait")
        await client.close()
        await timeline.wait_for(lambda e: e.kind == "server.return", timeout=WAIT, expected="the call to return")
    finally:
        await asyncio.to_thread(server.stop, WAIT)
    seen = [(e.kind, e.get("type"), e.get("why")) for e in timeline if e.kind.startswith("server.")]
    assert seen[:2] == [("server.lifespan", "lifespan.startup", None),
                        ("server.lifespan", "lifespan.startup.complete", None)]
    assert seen[2:4] == [("server.call", None, None), ("server.receive", "http.request", None)]
    hold, gone = seen.index(("server.send.hold", "http.response.body", None)), seen.index(
        ("server.receive", "http.disconnect", None))
    release = seen.index(("server.send.release", None, "client gone"))
    assert hold < gone < release < seen.index(("server.send", "http.response.body", None))
    assert seen[-3:] == [("server.return", None, None), ("server.lifespan", "lifespan.shutdown", None),
                         ("server.lifespan", "lifespan.shutdown.complete", None)]


async def test_release_lets_a_held_send_go_on_while_the_client_stays() -> None:
    timeline = Timeline()
    tap = Tap(hello, timeline, hold_send=1)
    server = await asyncio.to_thread(LiveServer("uvicorn", tap).start, WAIT)
    try:
        client = await RawClient.connect(server.port, timeline, WAIT)
        await client.send("GET", "/")
        await timeline.wait_for(lambda e: e.kind == "server.send.hold", timeout=WAIT, expected="the start to wait")
        tap.release()
        assert await client.read_head() == 200
        await client.close()
    finally:
        await asyncio.to_thread(server.stop, WAIT)


async def test_a_held_send_gives_up_after_its_timeout() -> None:
    timeline = Timeline()
    server = await asyncio.to_thread(LiveServer("uvicorn", Tap(hello, timeline, hold_send=1, hold_timeout=0.05)).start,
                                     WAIT)
    try:
        client = await RawClient.connect(server.port, timeline, WAIT)
        await client.send("GET", "/")
        assert await client.read_head() == 200
        assert timeline.first(lambda e: e.kind == "server.send.release")["why"] == "timeout"
        await client.close()
    finally:
        await asyncio.to_thread(server.stop, WAIT)


# -- a test's own server -------------------------------------------------------------------------
async def test_served_runs_a_scenario_and_accounts_for_the_tasks(tmp_path: Path) -> None:
    async with open_harness(TARGET, tmp_path, Timeouts(wait=WAIT), lifespan=False) as harness:
        async with served(harness, "uvicorn") as live:
            client = await live.connect()
            await client.send("POST", "/scenario", {"tasks": [{"id": "a"}, {"id": "b", "gate": "b"}]})
            await client.read_until(b'"b"]}', "the response")
            await harness.wait_started("b")
            assert fates(harness.timeline) == {"a": "ended", "b": "running"}
            assert unaccounted(harness.timeline) == ["b (running)"]
            assert tasks_outcome(harness.timeline) == "left-running"
            harness.open("b")
            await live.call_ended()
        assert tasks_outcome(harness.timeline) == "all-run" and unaccounted(harness.timeline) == []


async def test_served_opens_the_gates_when_the_test_fails(tmp_path: Path) -> None:
    async with open_harness(TARGET, tmp_path, Timeouts(wait=WAIT), lifespan=False) as harness:
        with pytest.raises(RuntimeError, match="the test failed"):
            async with served(harness, "hypercorn") as live:
                client = await live.connect()
                await client.send("POST", "/scenario", {"tasks": [{"id": "held", "form": "function", "gate": "g"}]})
                await harness.wait(lambda e: e.kind == "gate.wait", "the task to hold on its gate")
                raise RuntimeError("the test failed")
        assert not live.server.running and refuses(live.server.port)
        assert fates(harness.timeline) == {"held": "ended"}


async def test_served_fails_when_a_thread_it_started_still_runs(tmp_path: Path) -> None:
    leave = threading.Event()
    async with open_harness(TARGET, tmp_path, Timeouts(wait=0.2), lifespan=False) as harness:
        with pytest.raises(ServerError, match=r"threads it started still run: \['left behind'\]"):
            async with served(harness, "uvicorn"):
                threading.Thread(target=leave.wait, name="left behind", daemon=True).start()
        leave.set()


async def test_what_became_of_the_tasks_is_read_from_the_timeline() -> None:
    timeline = Timeline()
    for task in ("a", "b", "c"):
        timeline.record("task.add", task=task)
    assert (tasks_outcome(timeline), unaccounted(timeline)) == ("none-run", ["a (not-run)", "b (not-run)",
                                                                             "c (not-run)"])
    timeline.record("task.start", task="a")
    timeline.record("task.end", task="a")
    assert tasks_outcome(timeline) == "partial"
    timeline.record("task.start", task="b")
    timeline.record("task.error", task="b", error="ScenarioFailure")
    assert tasks_outcome(timeline) == "errored"
    timeline.record("task.start", task="c")
    timeline.record("server.return", call=1)
    assert fates(timeline) == {"a": "ended", "b": "errored", "c": "running"}
    assert (tasks_outcome(timeline), unaccounted(timeline)) == ("left-running", ["c (running)"])
    timeline.record("task.error", task="c", error="CancelledError")
    assert (tasks_outcome(timeline), unaccounted(timeline)) == ("cancelled", [])
    other = Timeline()
    other.record("task.add", task="x")
    other.record("server.raise", call=2, error="CancelledError")
    assert unaccounted(other) == []  # the call raised: the server saw it
