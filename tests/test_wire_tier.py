"""The wire tier's harness: tier selection, its options, the switchboard, what it records, the load engine,
and servers that stop with nothing left behind, also when a test fails."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bgtasks_conformance import Timeouts, open_harness
from bgtasks_conformance.drive.load import plan_request, run_load
from bgtasks_conformance.drive.servers import LiveServer, Switchboard
from bgtasks_conformance.drive.wire import REQUEST_HEADER, Calls, recorded
from bgtasks_conformance.observe.timeline import Timeline
from bgtasks_conformance.plugin.wire import serving, stop_and_check
from bgtasks_conformance.target.loader import Target, TargetChoice

from .conftest import scenario_only

TARGET = Target(TargetChoice("tests:scenario_only", "--bgtasks-target option"), scenario_only)

TIERED = """
import pytest
from bgtasks_conformance import MUST, requirement, wire_tier

@requirement("POST-002", MUST)
@wire_tier
def test_wire_spec():
    pass

@requirement("POST-001", MUST)
def test_asgi_spec():
    pass

@wire_tier
def test_no_requirement():
    pass
"""

FAILS_WHILE_HELD = """
import pathlib
import pytest
from bgtasks_conformance import MUST, requirement, wire_tier

pytestmark = [pytest.mark.anyio, wire_tier]

@requirement("POST-002", MUST)
async def test_fails_while_a_task_is_held(wire):
    await wire.scenario([{"id": "held", "gate": "held"}])
    await wire.harness.wait_started("held")
    pathlib.Path(f"{wire.kind}.port").write_text(str(wire.server.port))
    assert False, "deliberately, while the task is held"
"""


# What a run that asks for the suite registers (these test modules are not the spec), after anyio's plugin (its
# entry point's name), as such a run registers them: the suite's anyio_backend (asyncio) overrides anyio's (in
# anyio 3, every backend).
HARNESS_PLUGINS = ("-p", "anyio", "-p", "bgtasks_conformance.plugin.core", "-p", "bgtasks_conformance.plugin.wire")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in this process (so that its threads and ports can be checked afterwards)."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *HARNESS_PLUGINS, *args)


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("bgtasks-uvicorn", "bgtasks-hypercorn"))]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize(("tier", "ran"), [
    ("asgi", {"test_asgi_spec", "test_no_requirement"}),
    ("wire", {"test_wire_spec", "test_no_requirement"}),
    ("all", {"test_wire_spec", "test_asgi_spec", "test_no_requirement"}),
])
def test_the_tier_option_selects_the_spec_tests(scratch: pytest.Pytester, tier: str, ran: set[str]) -> None:
    scratch.makepyfile(test_tiered=TIERED)
    result = run(scratch, "-v", "--bgtasks-tier", tier)
    result.assert_outcomes(passed=len(ran), deselected=3 - len(ran))
    assert {name for name in ("test_wire_spec", "test_asgi_spec", "test_no_requirement")
            if f"::{name} PASSED" in result.stdout.str()} == ran


def test_the_default_tier_is_asgi(scratch: pytest.Pytester) -> None:
    scratch.makepyfile(test_tiered=TIERED)
    run(scratch).assert_outcomes(passed=2, deselected=1)


@pytest.mark.parametrize(("option", "message"), [
    (("--bgtasks-servers", "uvicorn,gunicorn"),
     "--bgtasks-servers 'uvicorn,gunicorn': unknown server gunicorn; choose from"),
    (("--bgtasks-load-requests", "0"), "--bgtasks-load-requests '0': give a positive whole number"),
    (("--bgtasks-servers", "uvicorn,uvicorn"), "--bgtasks-servers 'uvicorn,uvicorn': uvicorn named twice"),
])
def test_a_bad_wire_option_is_a_usage_error(scratch: pytest.Pytester, option: tuple[str, str], message: str) -> None:
    result = run(scratch, "--co", *option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert message in result.stderr.str()


def test_servers_stop_with_nothing_left_when_a_test_fails(scratch: pytest.Pytester) -> None:
    """A wire test that fails while its task is held: both servers still stop, their threads end, their ports close."""
    before = server_threads()
    scratch.makepyfile(test_fails=FAILS_WHILE_HELD)
    result = run(scratch, "--bgtasks-tier", "wire", "--bgtasks-gate-timeout", "30")
    result.assert_outcomes(failed=2)
    ports = {kind: int((scratch.path / f"{kind}.port").read_text()) for kind in ("uvicorn", "hypercorn")}
    assert server_threads() == before, f"server threads left running: {server_threads()}"
    assert all(refuses(port) for port in ports.values()), f"a port still accepts connections: {ports}"


@pytest.mark.anyio
async def test_the_switchboard_answers_503_when_no_test_is_routed(tmp_path: Path) -> None:
    switchboard = Switchboard()
    server = LiveServer("uvicorn", switchboard).start(5)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            unrouted = await client.post("/scenario", json={"tasks": []})
            assert (unrouted.status_code, unrouted.text) == (503, "no test is routed to this server now")
            async with open_harness(TARGET, tmp_path) as harness, serving(harness, server, switchboard) as wire:
                assert (await wire.scenario([])).json() == {"scheduled": []}
            assert (await client.post("/scenario", json={"tasks": []})).status_code == 503
    finally:
        stop_and_check(server, 5)
    assert refuses(server.port)


def http_scope(number: str) -> dict[str, Any]:
    return {"type": "http", "path": "/x", "headers": [(REQUEST_HEADER.encode(), number.encode())],
            "client": ("127.0.0.1", 5)}


@pytest.mark.anyio
async def test_recorded_keeps_what_the_server_was_handed_under_the_request_number() -> None:
    timeline, calls = Timeline(), Calls()
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Callable[..., Any]) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})
        if scope["path"] == "/x":
            raise RuntimeError("after the response")

    async def server_send(message: dict[str, Any]) -> None:
        if sent and sent[-1]["type"] == "http.response.body":
            raise RuntimeError("response already completed")
        sent.append(message)

    wrapped = recorded(app, timeline, calls)
    with pytest.raises(RuntimeError, match="after the response"):
        await wrapped(http_scope("7"), None, server_send)
    kinds = [(e.kind, e["call"], e.get("type")) for e in timeline]
    assert kinds == [("app.call", 7, None), ("asgi.send", 7, "http.response.start"),
                     ("asgi.send", 7, "http.response.body"), ("app.error", 7, None)]
    assert timeline.events[0]["client"] == "127.0.0.1:5"
    assert (calls.started, calls.returned, calls.most_in_progress) == (1, 1, 1)

    async def late(scope: Any, receive: Any, send: Callable[..., Any]) -> None:
        await app({**scope, "path": "/y"}, receive, send)
        await send({"type": "http.response.start", "status": 500})

    with pytest.raises(RuntimeError, match="already completed"):
        await recorded(late, timeline, calls)(http_scope("nan"), None, server_send)
    refused = timeline.select(lambda e: e.get("refused"))
    assert [(e["call"], e["type"], e["refused"]) for e in refused] == [(None, "http.response.start", "RuntimeError")]


@pytest.mark.anyio
async def test_calls_wait_until_returned_or_say_they_did_not() -> None:
    calls = Calls()
    calls.begin()
    assert not await calls.wait_idle(0.01)
    threading.Thread(target=calls.end).start()
    assert await calls.wait_returned(1, 5)
    assert await calls.wait_idle(0.01)


def test_every_fourth_request_plans_a_raising_task_with_tasks_after_it_in_some() -> None:
    plans = [plan_request(n) for n in range(40)]
    assert {len(p.forms) for p in plans} == {3, 4, 5}
    assert {p.kind for p in plans} == {"json", "stream"}
    raising = [p for p in plans if p.fails_at is not None]
    assert len(raising) == 10 and all(1 <= p.fails_at < len(p.forms) for p in raising)  # type: ignore[operator]
    assert any(p.must_run < len(p.forms) for p in raising) and {p.fail for p in raising} == {"error", "http_exception"}
    body = plans[1].body()
    assert body["tasks"][0]["gate"] == "load-1" and plans[1].expected_body().startswith(b'{"scheduled":["r1.0"')


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn"])
async def test_a_small_load_accounts_for_every_task(tmp_path: Path, kind: str) -> None:
    switchboard = Switchboard()
    server = LiveServer(kind, switchboard).start(5)
    try:
        async with open_harness(scenario_target(), tmp_path, Timeouts(wait=5, gate=10)) as harness, \
                serving(harness, server, switchboard) as wire:
            result = await run_load(wire, 40, 10, 30)
    finally:
        stop_and_check(server, 5)
    problems = result.answered + result.delayed + result.accounting + result.ran_after_failure
    assert not problems, result.explain(problems, "no problem", "problems")
    counts = result.counts
    assert (counts["responses_received"], counts["requests_with_a_raising_task"]) == (40, 10), result.summary()
    assert counts["tasks_started"] == counts["tasks_that_must_run"] == counts["tasks_ended"] + counts["tasks_raised"]
    assert counts["most_requests_in_flight"] == 10 and "40 requests, 10 at once" in result.summary()


def scenario_target(*, reverse: bool = False) -> Target:
    """``POST /scenario`` with JSON and streaming responses; with ``reverse``, each response's tasks run last first."""
    from starlette.applications import Starlette
    from starlette.background import BackgroundTasks
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    class Reversed(BackgroundTasks):
        async def __call__(self) -> None:
            for task in reversed(self.tasks):
                await task()

    def create_app(env: Any) -> Starlette:
        async def scenario(request: Request) -> Any:
            tasks = Reversed() if reverse else BackgroundTasks()
            plan = env.schedule(await request.json(), tasks.add_task)
            if plan.response_kind == "stream":
                return StreamingResponse(iter(plan.chunks), media_type="text/plain", background=tasks)
            return JSONResponse(plan.json_body(), background=tasks)

        return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])

    return Target(TargetChoice("tests:scenario", "--bgtasks-target option"), create_app)


@pytest.mark.anyio
async def test_a_small_load_names_what_went_wrong(tmp_path: Path) -> None:
    switchboard = Switchboard()
    server = LiveServer("uvicorn", switchboard).start(5)
    try:
        async with open_harness(scenario_target(reverse=True), tmp_path, Timeouts(wait=2, gate=10)) as harness, \
                serving(harness, server, switchboard) as wire:
            result = await run_load(wire, 12, 4, 30)
    finally:
        stop_and_check(server, 5)
    assert not result.answered and not result.delayed
    assert result.accounting[0].startswith("request 0: tasks started ['r0.2', 'r0.1', 'r0.0'], expected ['r0.0', "
                                           "'r0.1', 'r0.2'] each once in that order")
    assert any("task r1.0 finished never" in problem for problem in result.accounting)
    assert result.ran_after_failure and "(then at most the rest" in result.explain(result.accounting, "x", "y")
