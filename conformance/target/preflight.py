"""Before any test: does the target provide what the contract asks? One checklist, not 100 failures.

A target without ``POST /scenario`` or without most of the routes is the wrong target: the run stops (exit 4)
with the checklist. A target that has the contract but misses a few routes (typically routes a newer contract
version added: CHANGELOG.md) is run: each capability with a missing route counts as lacking, its requirements
are reported skipped with the route to add, and :func:`untested_lines` says so at the start of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bgtasks_conformance.harness import Timeouts, open_harness
from bgtasks_conformance.observe import events
from bgtasks_conformance.observe.probe import Probe
from bgtasks_conformance.observe.timeline import ExpectationFailed
from bgtasks_conformance.target.contract import (
    CHANGELOG_URL,
    CONTRACT_VERSION,
    ROUTES,
    SCENARIO,
    WEBSOCKET,
    Route,
    denial_url,
    unknown_capabilities,
    unknown_capability_hint,
)
from bgtasks_conformance.target.loader import Target, TargetEnv, TargetError

UNTESTED = "untested: the target"  # how the reason of a capability a missing route left untested begins


@dataclass(frozen=True)
class Check:
    item: str
    ok: bool
    detail: str = ""
    route: Route | None = None  # the contract route this check is about

    def line(self) -> str:
        mark = "[x]" if self.ok else "[ ]"
        return f"  {mark} {self.item}" + (f": {self.detail}" if self.detail else "")


async def _run_checks(target: Target, data_dir: Path) -> list[Check]:
    checks = [Check(f"capability {name!r} is known", False, unknown_capability_hint(name))
              for name in unknown_capabilities(target.lacks)]
    wait = 15.0 if target.queue is not None else 3.0  # a queue's first task: a worker's first message and imports
    async with open_harness(target, data_dir, Timeouts(wait=wait, gate=wait)) as harness:
        wiring = await _probe_wiring(harness) if "scenario" not in target.lacks else None  # before any error
        checks += await _route_checks(target, harness)
        if wiring is not None:
            checks.append(wiring)
        checks.append(_fresh_app(target, harness.app, data_dir))
    return checks


async def _route_checks(target: Target, harness) -> list[Check]:  # type: ignore[no-untyped-def]
    """One request to each route of every capability the target has: 404 or 405 is a missing route."""
    checks = []
    for route in ROUTES:
        if route.capability in target.lacks:
            continue
        if route.method == WEBSOCKET:
            checks.append(await _websocket_route_check(harness, route))
            continue
        call = harness.start(route.method, route.path, json={} if "scenario" not in route.path else {"tasks": []})
        try:
            response = await call.response()
            found = response.status not in (404, 405)
            detail = "" if found else f"answered {response.status}; {_fix(route)}"
        except ExpectationFailed:
            found, detail = True, "exists, but gave no complete response to an empty request"
        checks.append(Check(f"{route.method} {route.path}", found, detail, route))
    return checks


async def _websocket_route_check(harness, route: Route) -> Check:  # type: ignore[no-untyped-def]
    """A handshake to a WebSocket route with an empty plan: closed without a denial response (how Starlette's router
    answers a path no WebSocket route matches), or denied with 404, is a missing route."""
    call = harness.websocket(denial_url({"tasks": []}))
    try:
        response = await call.response()
    except ExpectationFailed:
        closed = harness.timeline.first(lambda e: e.kind == "asgi.send" and e["call"] == call.id
                                        and e["type"] == "websocket.close")
        if closed is not None:
            return Check(f"{route.method} {route.path}", False,
                         f"closed the handshake without a denial response; {_fix(route)}", route)
        return Check(f"{route.method} {route.path}", True, "exists, but gave no complete denial response to an "
                     "empty plan", route)
    found = response.status not in (404, 405)
    detail = "" if found else f"denied with {response.status}; {_fix(route)}"
    return Check(f"{route.method} {route.path}", found, detail, route)


def _fix(route: Route) -> str:
    """What to do about a missing route: add it, or declare its capability lacking."""
    new = f"; new in contract version {route.since} ({CHANGELOG_URL})" if route.since > 1 else ""
    return (f"add this route ({route.purpose}) or declare capability {route.capability!r} lacking"
            f"{new}")


def _fresh_app(target: Target, first: object, data_dir: Path) -> Check:
    """Each factory call must build a new app: each test hands it its own probe and data directory."""
    second = target.build(TargetEnv(Probe(), data_dir))
    detail = "" if second is not first else (
        f"the factory returned the same {type(first).__name__} object on two calls; build a new app in each call "
        "(each test gets its own env: probe, data directory)")
    return Check("each factory call returns a new app", second is not first, detail)


class _Errors(logging.Handler):
    """The records logged at ERROR (anywhere) while the preflight's request runs: a hand-over that failed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _probe_wiring(harness) -> Check:  # type: ignore[no-untyped-def]
    item = "tasks of /scenario report to the probe"
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        call = harness.scenario([{"id": "preflight"}])
        await call.response()
        await harness.wait(events.finished("preflight"), "the preflight task to run")
    except ExpectationFailed:
        return Check(item, False, _why_no_task(harness, errors.records))
    finally:
        logging.getLogger().removeHandler(errors)
    return Check(item, True)


def _why_no_task(harness, logged: Sequence[logging.LogRecord] = ()) -> str:  # type: ignore[no-untyped-def]
    """What the timeline (and what was logged at ERROR) says went wrong with the preflight task, and the fix."""
    timeline = harness.timeline
    if timeline.first(events.task("add", "preflight")) is None:
        return ("env.schedule() added no task (no task.add seen): pass the parsed JSON body and the request's own "
                "add_task to env.schedule(body, add_task) (CONTRACT.md section 3)")
    if timeline.first(events.final_body()) is None:
        waiting = harness.driver.where_waiting()
        return ("env.schedule() added the task, but the response of POST /scenario never completed (no final "
                "http.response.body within 3s), and a task runs only after it" + (f"; {waiting}" if waiting else ""))
    if timeline.first(events.started("preflight")) is None and (failed := _hand_over_failed(harness, logged)):
        return failed
    if timeline.first(events.started("preflight")) is None:
        return ("env.schedule() added the task through your add_task, but it never ran, and the response was sent: "
                "attach the tasks to the response, e.g. JSONResponse(plan.json_body(), background=tasks) (FastAPI "
                "attaches an injected BackgroundTasks itself; CONTRACT.md section 3)")
    return "the task started but did not end within 3s: the tasks must run to their end after the response"


def _hand_over_failed(harness, logged: Sequence[logging.LogRecord]) -> str | None:  # type: ignore[no-untyped-def]
    """The task was added and attached, but what runs the response's background (the hand-over to a queue, or
    whatever it does) raised or logged an error, or the queue recorded the task without a worker starting it."""
    broker = harness.env.broker_url  # set by the queue tier
    where = (f"; is the broker at {broker} reachable from the web process, and is the task's function importable "
             "by that name in the worker?" if broker else "")
    error = harness.timeline.first(lambda e: e.kind == "app.error")
    if error is not None:
        return (f"env.schedule() added the task and the response was sent, but the response's background raised "
                f"{error['error']}: {error['message'][:300]} (after the response: the tasks are attached, "
                f"background= is not the problem): fix what handing the tasks over raised{where}")
    record = next((r for r in logged if r.exc_info), None) or next(iter(logged), None)
    if record is not None:
        raised = (f" ({record.exc_info[0].__name__}: {str(record.exc_info[1])[:200]})"
                  if record.exc_info and record.exc_info[0] is not None else "")
        return (f"env.schedule() added the task and the response was sent, but {record.name} logged at "
                f"{record.levelname}: {record.getMessage()[:300]}{raised} (the tasks are attached, background= is "
                f"not the problem): fix what handing the tasks over failed on{where}")
    state = harness.timeline.first(lambda e: e.kind == "queue.state" and e["task"] == "preflight")
    if state is not None:
        return (f"the task was handed over and the queue recorded it as {state['state']}, but it never started: "
                f"the worker could not run it (is the task's function importable by that name in the worker, and "
                f"registered with it? its worker logs why)")
    return None


def preflight(target: Target, allow: Callable[[Path], None] | None = None) -> list[Check]:
    """Run the checklist in a private temporary directory (``allow``: told where it is); the target's output is
    discarded."""
    with (
        tempfile.TemporaryDirectory(prefix="bgtasks-preflight-") as tmp,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        if allow is not None:
            allow(Path(tmp))
        try:
            return asyncio.run(_run_checks(target, Path(tmp)))
        except TargetError:
            raise
        except Exception as error:
            raise TargetError(
                f"target {target.choice.spec}: the preflight request failed with "
                f"{type(error).__name__}: {error}"
            ) from error


def require_contract(target: Target, allow: Callable[[Path], None] | None = None) -> list[Check]:
    """The checklist. A :class:`TargetError` listing every item if the target is broken or the wrong one;
    routes missing from a target that otherwise has the contract make their capabilities untested
    (:func:`adopt_missing`), and the run goes on."""
    checks = preflight(target, allow)
    missing = [check for check in checks if not check.ok]
    routes = [check for check in missing if check.route is not None]
    if missing and (len(routes) < len(missing) or wrong_target(checks)):
        raise TargetError(_refusal(target, checks, missing))
    adopt_missing(target, checks)
    return checks


def wrong_target(checks: list[Check]) -> bool:
    """No ``/scenario``, or more than half of the routes asked for missing: not an implementation of the
    contract (another app, another factory), rather than one a newer contract has outgrown. Only the first
    version's routes count: a minimal target of an older version (``/scenario`` alone, the rest declared lacking)
    misses most of what later versions added to capabilities it could not know to declare."""
    asked = [check for check in checks if check.route is not None and check.route.since == 1]
    missing = [check for check in asked if not check.ok]
    no_scenario = any(check.route is not None and check.route.capability == SCENARIO for check in missing)
    return no_scenario or 2 * len(missing) > len(asked)


def _refusal(target: Target, checks: list[Check], missing: list[Check]) -> str:
    routes = sum(check.route is not None for check in checks)
    absent = sum(check.route is not None for check in missing)
    headline = (f"target {target.choice.spec} ({target.choice.source}) does not provide what the "
                f"contract asks ({len(missing)} missing)")
    if absent and wrong_target(checks):
        headline += (f"; {absent} of the {routes} routes asked for are missing: is it the factory of a contract "
                     "implementation (CONTRACT.md section 1)?")
    return (headline + ":\n" + "\n".join(check.line() for check in checks)
            + "\nAdd the missing routes (CONTRACT.md), or declare the capability as lacking: "
            "create_app.conformance_lacks = {'<capability>': '<reason>'}")


def adopt_missing(target: Target, checks: list[Check]) -> dict[str, str]:
    """Each capability with a missing route becomes lacking, with the fix as its reason (its requirements are
    then skipped with it); returns what was added."""
    missing: dict[str, list[Route]] = {}
    for check in checks:
        if not check.ok and check.route is not None:
            missing.setdefault(check.route.capability, []).append(check.route)
    added = {name: _untested_reason(name, routes) for name, routes in missing.items()}
    target.lacks.update(added)
    return added


def _untested_reason(capability: str, routes: list[Route]) -> str:
    names = ", ".join(f"{route.method} {route.path}" for route in routes)
    newest = max(route.since for route in routes)
    new = f", new in contract version {newest} ({CHANGELOG_URL})" if newest > 1 else ""
    them = "it" if len(routes) == 1 else "them"
    return (f"{UNTESTED} misses {names} (the suite checks contract version {CONTRACT_VERSION}{new}): add {them} "
            f"(CONTRACT.md) or declare capability {capability!r} lacking")


def untested_lines(lacks: dict[str, str]) -> list[str]:
    """The lines that tell, at the start of a run, which capabilities a missing route left untested."""
    return [f"bgtasks untested: {name!r}, {reason}" for name, reason in sorted(lacks.items())
            if reason.startswith(UNTESTED)]


def adopt_missing_routes(target: Target, allow: Callable[[Path], None] | None = None) -> dict[str, str]:
    """In an xdist worker, which trusts its controller's preflight: only the route requests, so that the worker
    skips what the controller found missing."""

    async def probe() -> list[Check]:
        with tempfile.TemporaryDirectory(prefix="bgtasks-preflight-") as tmp:
            if allow is not None:
                allow(Path(tmp))
            async with open_harness(target, Path(tmp), Timeouts(wait=3.0, gate=3.0)) as harness:
                return await _route_checks(target, harness)

    with contextlib.redirect_stdout(io.StringIO()):
        return adopt_missing(target, asyncio.run(probe()))
