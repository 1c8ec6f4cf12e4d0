"""The preflight checklist: what the target lacks is listed once, before any test runs."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv, Timeouts, open_harness
from bgtasks_conformance.target.contract import (
    ASGI_MIDDLEWARE,
    BASE_HTTP_MIDDLEWARE,
    CAPABILITIES,
    CONTRACT_VERSION,
    ROUTES,
    SCENARIO,
    WEBSOCKET,
)
from bgtasks_conformance.target.contract import Route as ContractRoute
from bgtasks_conformance.target.loader import Target, TargetChoice, TargetError
from bgtasks_conformance.target.preflight import _probe_wiring, adopt_missing_routes, require_contract, untested_lines

from .conftest import scenario_only

ALL_BUT_SCENARIO = {name: "not in this test" for name in CAPABILITIES if name != SCENARIO}


def ignores_the_plan(env: TargetEnv) -> Starlette:
    """Answers ``/scenario`` but never hands the plan to ``env.schedule``."""

    async def scenario(request: Request) -> JSONResponse:
        return JSONResponse({"scheduled": []})

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])


def never_responds(env: TargetEnv) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")

    return app


def startup_fails(env: TargetEnv) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    return app


def target(factory: Any, lacks: dict[str, str] | None = None) -> Target:
    return Target(TargetChoice(f"tests:{factory.__name__}", "--bgtasks-target option"), factory, dict(lacks or {}))


def missing_lines(message: str) -> list[str]:
    return [line.strip() for line in message.splitlines() if line.strip().startswith("[ ]")]


def fix(route: ContractRoute) -> str:
    """The fix a missing route's line names, written out: the route, its capability, its contract version."""
    new = (f"; new in contract version {route.since} (CHANGELOG.md, section \"Contract\")"
           if route.since > 1 else "")
    return f"add this route ({route.purpose}) or declare capability {route.capability!r} lacking{new}"


def missing_as(route: ContractRoute) -> str:
    """How a missing route answered: Starlette's router closes a WebSocket handshake to an unknown path."""
    return "closed the handshake without a denial response" if route.method == WEBSOCKET else "answered 404"


def test_a_complete_target_passes() -> None:
    checks = require_contract(target(scenario_only, ALL_BUT_SCENARIO))
    assert [check.line().strip() for check in checks] == [
        "[x] POST /scenario",
        "[x] tasks of /scenario report to the probe",
        "[x] each factory call returns a new app",
    ]


def test_a_factory_that_returns_the_same_app_twice_is_refused() -> None:
    built: list[Any] = []

    def same_app(env: TargetEnv) -> Any:
        if not built:
            built.append(scenario_only(env))
        return built[0]

    with pytest.raises(TargetError) as caught:
        require_contract(target(same_app, ALL_BUT_SCENARIO))
    assert missing_lines(str(caught.value)) == [
        "[ ] each factory call returns a new app: the factory returned the same Starlette object on two calls; "
        "build a new app in each call (each test gets its own env: probe, data directory)"
    ]


def test_the_checklist_lists_exactly_the_missing_routes() -> None:
    with pytest.raises(TargetError) as caught:
        require_contract(target(scenario_only))
    message = str(caught.value)
    expected = [f"[ ] {r.method} {r.path}: {missing_as(r)}; {fix(r)}" for r in ROUTES if r.capability != SCENARIO]
    assert missing_lines(message) == expected
    assert f"({len(expected)} missing); {len(expected)} of the {len(ROUTES)} routes asked for are missing: is it " \
           "the factory of a contract implementation (CONTRACT.md section 1)?" in message
    assert "[x] POST /scenario" in message
    assert "create_app.conformance_lacks = {'<capability>': '<reason>'}" in message


def test_lacking_a_capability_drops_only_its_routes() -> None:
    middleware = (BASE_HTTP_MIDDLEWARE, ASGI_MIDDLEWARE)
    lacks = {name: "not here" for name in CAPABILITIES if name not in (SCENARIO, *middleware)}
    with pytest.raises(TargetError) as caught:
        require_contract(target(scenario_only, lacks))
    assert missing_lines(str(caught.value)) == [
        f"[ ] {r.method} {r.path}: answered 404; {fix(r)}" for r in ROUTES if r.capability in middleware
    ]


def test_an_unknown_capability_is_reported() -> None:
    with pytest.raises(TargetError) as caught:
        require_contract(target(scenario_only, {**ALL_BUT_SCENARIO, "telepathy": "?"}))
    valid = ", ".join(CAPABILITIES)
    assert missing_lines(str(caught.value)) == [
        f"[ ] capability 'telepathy' is known: not a capability of the contract; valid: {valid}"
    ]


@pytest.mark.parametrize(("name", "hint"), [
    ("exception-handler", "did you mean 'exception-handlers'? not a capability of the contract; valid: "),
    ("middleware", "split into 'base-http-middleware' and 'asgi-middleware': declare the one(s) you lack"),
])
def test_a_misspelt_or_renamed_capability_is_answered_with_the_valid_names(name: str, hint: str) -> None:
    with pytest.raises(TargetError) as caught:
        require_contract(target(scenario_only, {**ALL_BUT_SCENARIO, name: "?"}))
    (line,) = missing_lines(str(caught.value))
    assert line.startswith(f"[ ] capability {name!r} is known: {hint}")
    if "valid" in hint:
        assert line.endswith(", ".join(CAPABILITIES))


def test_a_route_that_never_responds_exists_but_the_probe_is_not_wired() -> None:
    with pytest.raises(TargetError) as caught:
        require_contract(target(never_responds, ALL_BUT_SCENARIO))
    message = str(caught.value)
    assert "[x] POST /scenario: exists, but gave no complete response to an empty request" in message
    assert missing_lines(message) == [
        "[ ] tasks of /scenario report to the probe: env.schedule() added no task (no task.add seen): pass the "
        "parsed JSON body and the request's own add_task to env.schedule(body, add_task) (CONTRACT.md section 3)"
    ]


@pytest.mark.anyio
async def test_a_scenario_route_that_ignores_the_plan_is_not_wired(tmp_path: Path) -> None:
    async with open_harness(target(ignores_the_plan), tmp_path, Timeouts(wait=0.05)) as harness:
        check = await _probe_wiring(harness)
    assert not check.ok
    assert "pass the parsed JSON body and the request's own add_task to env.schedule(body, add_task)" in check.detail


def forgets_background(env: TargetEnv) -> Starlette:
    """Schedules the plan on its own BackgroundTasks, then answers without ``background=``."""

    async def scenario(request: Request) -> JSONResponse:
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)
        return JSONResponse(plan.json_body())

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])


@pytest.mark.anyio
async def test_a_target_that_forgets_background_is_told_to_attach_the_tasks(tmp_path: Path) -> None:
    async with open_harness(target(forgets_background), tmp_path, Timeouts(wait=0.05)) as harness:
        check = await _probe_wiring(harness)
    assert (check.ok, check.detail) == (False, (
        "env.schedule() added the task through your add_task, but it never ran, and the response was sent: attach "
        "the tasks to the response, e.g. JSONResponse(plan.json_body(), background=tasks) (FastAPI attaches an "
        "injected BackgroundTasks itself; CONTRACT.md section 3)"))


def test_a_failing_startup_is_one_target_error() -> None:
    with pytest.raises(TargetError, match=r"preflight request failed with RuntimeError: .*no database"):
        require_contract(target(startup_fails, ALL_BUT_SCENARIO))


def test_a_factory_error_passes_through_unchanged() -> None:
    def create_app(env: TargetEnv) -> None:
        raise LookupError("no settings")

    with pytest.raises(TargetError, match=r"the factory raised LookupError: no settings"):
        require_contract(target(create_app))


NEWER = [route for route in ROUTES if route.since >= 3]  # what a target of contract version 2 misses


def older_contract(env: TargetEnv) -> Any:
    """The sample app as an implementation of contract version 2, before the routes of versions 3 and 4: 404 there."""
    from bgtasks_conformance.sample_app import create_app

    app = create_app(env)
    newer = {route.path for route in NEWER}

    async def without_the_newer_routes(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in newer:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] == "websocket" and scope["path"] in newer:  # as Starlette's router answers an unknown path
            await send({"type": "websocket.close", "code": 1000})
            return
        await app(scope, receive, send)

    return without_the_newer_routes


def sample_lacks() -> dict[str, str]:
    """What the sample app declares lacking with the installed FastAPI (frontend-routes before FastAPI 0.16x)."""
    from bgtasks_conformance.sample_app import create_app

    return dict(create_app.conformance_lacks)  # type: ignore[attr-defined]


def test_routes_of_a_newer_contract_leave_their_capabilities_untested_with_the_fix() -> None:
    declared = sample_lacks()
    chosen = target(older_contract, declared)
    checks = require_contract(chosen)  # no TargetError: the run goes on
    expected = {r.capability for r in NEWER} - set(declared)
    assert sorted(check.item for check in checks if not check.ok) == sorted(
        f"{r.method} {r.path}" for r in NEWER if r.capability in expected)
    assert set(chosen.lacks) - set(declared) == expected
    changelog = '(CHANGELOG.md, section "Contract")'
    for capability in expected:  # every route of versions 3 and 4, as each change adds them
        routes = [r for r in NEWER if r.capability == capability]
        assert chosen.lacks[capability] == (
            f"untested: the target misses {', '.join(f'{r.method} {r.path}' for r in routes)} (the suite checks "
            f"contract version {CONTRACT_VERSION}, new in contract version {max(r.since for r in routes)} "
            f"{changelog}): add {'it' if len(routes) == 1 else 'them'} (CONTRACT.md) or declare capability "
            f"{capability!r} lacking")
    assert chosen.lacks["websocket-denial"] == (
        f"untested: the target misses WEBSOCKET /ws/denial (the suite checks contract version {CONTRACT_VERSION}, "
        f"new in contract version 4 {changelog}): add it (CONTRACT.md) or declare capability 'websocket-denial' "
        "lacking")
    assert all(route in chosen.lacks["base-http-middleware"] for route in (
        "POST /mw/own-response/scenario", "GET /mw/base-http/template", "POST /mw/own-response/live"))
    assert "misses POST /deps/group/order, POST /deps/group/response-background" in chosen.lacks["dependencies"]
    assert "POST /deps/accepted" in chosen.lacks["dependencies"]
    assert untested_lines(chosen.lacks) == [f"bgtasks untested: {name!r}, {chosen.lacks[name]}"
                                            for name in sorted(expected)]


def test_an_xdist_worker_finds_the_same_routes_missing_without_the_whole_preflight() -> None:
    controller, worker = target(older_contract), target(older_contract)
    require_contract(controller)
    adopt_missing_routes(worker)
    assert worker.lacks == controller.lacks


def test_declared_lacks_are_kept_and_only_the_missing_routes_capabilities_added() -> None:
    chosen = target(older_contract, {"seed-endpoints": "not ours"})
    require_contract(chosen)
    assert chosen.lacks["seed-endpoints"] == "not ours"
    assert untested_lines({"seed-endpoints": "not ours"}) == []


def answers_only_sync(env: TargetEnv) -> Starlette:
    """A target whose scenario lives elsewhere: /sync/scenario, but no /scenario."""

    async def scenario(request: Request) -> JSONResponse:
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)
        return JSONResponse(plan.json_body(), background=tasks)

    return Starlette(routes=[Route("/sync/scenario", scenario, methods=["POST"])])


def test_without_post_scenario_it_is_the_wrong_target_however_few_routes_are_missing() -> None:
    lacks = {name: "not here" for name in CAPABILITIES if name not in ("scenario", "sync-endpoint")}
    with pytest.raises(TargetError) as caught:
        require_contract(target(answers_only_sync, lacks))
    message = str(caught.value)
    assert "is it the factory of a contract implementation (CONTRACT.md section 1)?" in message
    assert "[ ] POST /scenario: answered 404; add this route (run a scenario plan) or declare capability " \
           "'scenario' lacking" in message


OLDER_TARGET = '''
from bgtasks_conformance.sample_app import create_app as sample
from bgtasks_conformance.target.contract import CONTRACT_VERSION, ROUTES

NEWER = {route.path for route in ROUTES if route.since >= 3}  # a target of contract version 2


def create_app(env):
    app = sample(env)

    async def without_the_newer_routes(scope, receive, send):
        if scope["type"] == "http" and scope["path"] in NEWER:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] == "websocket" and scope["path"] in NEWER:
            await send({"type": "websocket.close", "code": 1000})
            return
        await app(scope, receive, send)

    return without_the_newer_routes
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_run_against_an_older_contract_target_goes_on_and_reports_the_new_routes_untested(
        tmp_path: Path, workers: list[str]) -> None:
    (tmp_path / "older.py").write_text(OLDER_TARGET)
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "bgtasks_conformance", "--bgtasks-target", "older:create_app", "-rs", *workers,
         "-k", "POST-001 or WS-001 or POST-016 or DEPS-016", f"--bgtasks-report={report}", "-p", "no:randomly"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"bgtasks contract: version {CONTRACT_VERSION}" in done.stdout
    if not workers:  # under xdist the target is checked after the header: the skip reasons say it
        assert "bgtasks untested: 'websocket-denial', untested: the target" in done.stdout, done.stdout[:3000]
    outcomes = {r["id"]: r["outcome"] for r in json.loads(report.read_text())["requirements"]}
    assert outcomes["POST-001"] == "passed"
    assert outcomes["WS-001"] == outcomes["POST-016"] == outcomes["DEPS-016"] == "skipped", outcomes
    assert "misses WEBSOCKET /ws/denial" in done.stdout and "POST /deps/accepted" in done.stdout
    assert json.loads(report.read_text())["header"]["contract"] == CONTRACT_VERSION


CONTRACT_MD = Path(__file__).resolve().parents[1] / "CONTRACT.md"


def test_the_contract_document_numbers_its_sections_once_and_states_the_version() -> None:
    text = CONTRACT_MD.read_text()
    numbers = [int(m) for m in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert f"This is contract version {CONTRACT_VERSION} " in text


def test_each_route_the_contract_document_lists_has_the_capability_the_preflight_asks_for() -> None:
    rows = re.findall(r"^\| `([a-z-]+)` \| `POST (/[^`]+)`", CONTRACT_MD.read_text(), flags=re.MULTILINE)
    documented = dict((path, capability) for capability, path in rows)
    assert "/mw/dispatch-background/scenario" in documented, rows
    for path, capability in documented.items():
        assert capability in CAPABILITIES, (path, capability)
        (route,) = [route for route in ROUTES if route.path == path]
        assert route.capability == capability, (path, capability, route.capability)


def hand_over_refused(env: TargetEnv) -> Starlette:
    """Attaches its tasks, but what runs them after the response (a hand-over to a broker) raises."""

    async def hand_over() -> None:
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6: Connection refused.")

    async def scenario(request: Request) -> JSONResponse:
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)
        return JSONResponse(plan.json_body(), background=hand_over)

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])


def hand_over_logged(env: TargetEnv) -> Starlette:
    """Attaches its tasks; the hand-over fails, and is logged at ERROR with its traceback instead of raised."""

    async def hand_over() -> None:
        try:
            raise LookupError("no task registered as 'bgtasks.call'")
        except LookupError:
            logging.getLogger("tests.hand_over").exception("could not hand 1 task(s) to the queue")

    async def scenario(request: Request) -> JSONResponse:
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)
        return JSONResponse(plan.json_body(), background=hand_over)

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])


@pytest.mark.anyio
async def test_a_hand_over_that_raised_is_named_instead_of_background(tmp_path: Path) -> None:
    async with open_harness(target(hand_over_refused), tmp_path, Timeouts(wait=0.05)) as harness:
        check = await _probe_wiring(harness)
    assert (check.ok, check.detail) == (False, (
        "env.schedule() added the task and the response was sent, but the response's background raised "
        "ConnectionRefusedError: Error 111 connecting to 127.0.0.1:6: Connection refused. (after the response: the "
        "tasks are attached, background= is not the problem): fix what handing the tasks over raised"))


@pytest.mark.anyio
async def test_a_hand_over_that_logged_its_failure_is_named_with_the_record(tmp_path: Path) -> None:
    async with open_harness(target(hand_over_logged), tmp_path, Timeouts(wait=0.05)) as harness:
        check = await _probe_wiring(harness)
    assert (check.ok, check.detail) == (False, (
        "env.schedule() added the task and the response was sent, but tests.hand_over logged at ERROR: could not "
        "hand 1 task(s) to the queue (LookupError: no task registered as 'bgtasks.call') (the tasks are "
        "attached, background= is not the problem): fix what handing the tasks over failed on"))
    assert not [h for h in logging.getLogger().handlers if type(h).__name__ == "_Errors"], "handler left behind"


def test_the_checklist_names_the_hand_over_and_the_broker_for_a_queue_target() -> None:
    with pytest.raises(TargetError) as raised, pytest.MonkeyPatch.context() as patch:
        patch.setenv("BGTASKS_BROKER_URL", "redis://127.0.0.1:6/0")
        require_contract(target(hand_over_refused, ALL_BUT_SCENARIO))
    line = next(line for line in str(raised.value).splitlines() if "report to the probe" in line)
    assert "[ ]" in line and "raised ConnectionRefusedError" in line and "background=" in line, line
    assert line.endswith("is the broker at redis://127.0.0.1:6/0 reachable from the web process, and is the task's "
                         "function importable by that name in the worker?"), line
