"""Before any test: does the target provide what the contract asks? One checklist, not 100 failures."""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bgtasks_conformance.harness import Timeouts, open_harness
from bgtasks_conformance.observe import events
from bgtasks_conformance.observe.probe import Probe
from bgtasks_conformance.observe.timeline import ExpectationFailed
from bgtasks_conformance.target.contract import ROUTES, unknown_capabilities, unknown_capability_hint
from bgtasks_conformance.target.loader import Target, TargetEnv, TargetError


@dataclass(frozen=True)
class Check:
    item: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        mark = "[x]" if self.ok else "[ ]"
        return f"  {mark} {self.item}" + (f": {self.detail}" if self.detail else "")


async def _run_checks(target: Target, data_dir: Path) -> list[Check]:
    checks = [Check(f"capability {name!r} is known", False, unknown_capability_hint(name))
              for name in unknown_capabilities(target.lacks)]
    wait = 15.0 if target.queue is not None else 3.0  # a queue's first task: a worker's first message and imports
    async with open_harness(target, data_dir, Timeouts(wait=wait, gate=wait)) as harness:
        wiring = await _probe_wiring(harness) if "scenario" not in target.lacks else None  # before any error
        for route in ROUTES:
            if route.capability in target.lacks:
                continue
            call = harness.start(route.method, route.path, json={} if "scenario" not in route.path else {"tasks": []})
            try:
                response = await call.response()
                found = response.status not in (404, 405)
                detail = "" if found else f"answered {response.status}; add this route ({route.purpose})"
            except ExpectationFailed:
                found, detail = True, "exists, but gave no complete response to an empty request"
            checks.append(Check(f"{route.method} {route.path}", found, detail))
        if wiring is not None:
            checks.append(wiring)
        checks.append(_fresh_app(target, harness.app, data_dir))
    return checks


def _fresh_app(target: Target, first: object, data_dir: Path) -> Check:
    """Each factory call must build a new app: each test hands it its own probe and data directory."""
    second = target.build(TargetEnv(Probe(), data_dir))
    detail = "" if second is not first else (
        f"the factory returned the same {type(first).__name__} object on two calls; build a new app in each call "
        "(each test gets its own env: probe, data directory)")
    return Check("each factory call returns a new app", second is not first, detail)


async def _probe_wiring(harness) -> Check:  # type: ignore[no-untyped-def]
    call = harness.scenario([{"id": "preflight"}])
    item = "tasks of /scenario report to the probe"
    try:
        await call.response()
        await harness.wait(events.finished("preflight"), "the preflight task to run")
    except ExpectationFailed:
        return Check(item, False, _why_no_task(harness))
    return Check(item, True)


def _why_no_task(harness) -> str:  # type: ignore[no-untyped-def]
    """What the timeline says went wrong with the preflight task, and the fix."""
    timeline = harness.timeline
    if timeline.first(events.task("add", "preflight")) is None:
        return ("env.schedule() added no task (no task.add seen): pass the parsed JSON body and the request's own "
                "add_task to env.schedule(body, add_task) (CONTRACT.md section 3)")
    if timeline.first(events.final_body()) is None:
        waiting = harness.driver.where_waiting()
        return ("env.schedule() added the task, but the response of POST /scenario never completed (no final "
                "http.response.body within 3s), and a task runs only after it" + (f"; {waiting}" if waiting else ""))
    if timeline.first(events.started("preflight")) is None:
        return ("env.schedule() added the task through your add_task, but it never ran, and the response was sent: "
                "attach the tasks to the response, e.g. JSONResponse(plan.json_body(), background=tasks) (FastAPI "
                "attaches an injected BackgroundTasks itself; CONTRACT.md section 3)")
    return "the task started but did not end within 3s: the tasks must run to their end after the response"


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
    """The checklist; a :class:`TargetError` listing every missing item if anything is missing."""
    checks = preflight(target, allow)
    missing = [check for check in checks if not check.ok]
    if missing:
        raise TargetError(
            f"target {target.choice.spec} ({target.choice.source}) does not provide what the "
            f"contract asks ({len(missing)} missing):\n"
            + "\n".join(check.line() for check in checks)
            + "\nAdd the missing routes (CONTRACT.md), or declare the capability as lacking: "
            "create_app.conformance_lacks = {'<capability>': '<reason>'}"
        )
    return checks
