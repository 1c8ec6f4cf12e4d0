"""The preflight checklist: what the target lacks is listed once, before any test runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv, Timeouts, open_harness
from bgtasks_conformance.target.contract import ASGI_MIDDLEWARE, BASE_HTTP_MIDDLEWARE, CAPABILITIES, ROUTES, SCENARIO
from bgtasks_conformance.target.loader import Target, TargetChoice, TargetError
from bgtasks_conformance.target.preflight import _probe_wiring, require_contract

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
    expected = [f"[ ] {r.method} {r.path}: answered 404; add this route ({r.purpose})"
                for r in ROUTES if r.capability != SCENARIO]
    assert missing_lines(message) == expected
    assert f"({len(expected)} missing)" in message
    assert "[x] POST /scenario" in message
    assert "create_app.conformance_lacks = {'<capability>': '<reason>'}" in message


def test_lacking_a_capability_drops_only_its_routes() -> None:
    middleware = (BASE_HTTP_MIDDLEWARE, ASGI_MIDDLEWARE)
    lacks = {name: "not here" for name in CAPABILITIES if name not in (SCENARIO, *middleware)}
    with pytest.raises(TargetError) as caught:
        require_contract(target(scenario_only, lacks))
    assert missing_lines(str(caught.value)) == [
        f"[ ] {r.method} {r.path}: answered 404; add this route ({r.purpose})"
        for r in ROUTES if r.capability in middleware
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
