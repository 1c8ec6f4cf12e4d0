"""Fail-fast observation: the wait for a response ends at once when a task of that request already holds on its
gate with the response incomplete (the response waits for the task, the test opens the gate only after it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bgtasks_conformance import AsgiDriver, ExpectationFailed, Timeline
from bgtasks_conformance.drive.asgi_driver import gated_tasks
from bgtasks_conformance.observe.probe import Probe

pytestmark = pytest.mark.anyio

Message = dict[str, Any]
App = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]
LONG = 30.0  # a wait that would take this long fails fast instead (the message says which path it took)


def tasks_before_response(probe: Probe) -> App:
    """Runs the plan's tasks (each holding on its gate) before it responds: the response waits for them."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        plan = json.loads((await receive())["body"])
        for task in plan["tasks"]:
            probe.started(task["id"])
            await probe.hold_async(task.get("gate"), create=True)
            probe.ended(task["id"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    return app


async def test_a_held_task_before_the_response_fails_the_wait_fast() -> None:
    timeline = Timeline()
    probe = Probe(timeline, gate_timeout=LONG)
    call = AsgiDriver(tasks_before_response(probe), timeline, timeout=LONG).start(
        "POST", "/scenario", json={"tasks": [{"id": "held", "gate": "held-gate"}]})
    try:
        with pytest.raises(ExpectationFailed, match=r"request \d+ \(/scenario\), but saw its task 'held' start and "
                                                    r"hold on its gate 'held-gate' \[\d+\] while the response was "
                                                    r"incomplete.*would not come within 30s \(failed fast\)"):
            await call.response()
        assert call.final_body_event() is None
    finally:
        probe.open_all()
        await call.finished()
    assert call.final_body_event() is not None  # released, the task ended and the response came


async def test_a_gate_a_helper_opens_in_time_is_waited_for() -> None:
    """A task held while the response is incomplete, released within the grace by a helper of the test: the
    response comes, the wait succeeds."""
    timeline = Timeline()
    probe = Probe(timeline, gate_timeout=LONG)
    call = AsgiDriver(tasks_before_response(probe), timeline, timeout=LONG).start(
        "POST", "/scenario", json={"tasks": [{"id": "held", "gate": "held-gate"}]})

    async def helper() -> None:
        await timeline.wait_for(lambda e: e.kind == "gate.wait", timeout=LONG, expected="the task to hold")
        probe.open("held-gate")

    opener = asyncio.ensure_future(helper())
    response = await call.response()
    await opener
    assert response.status == 200 and response.body == b"{}"
    assert await call.finished() is None


async def test_another_running_requests_held_task_is_not_this_requests() -> None:
    """While another request runs, a gate this request's plan does not name may be that request's: not counted
    as this request's held task (its own plan's gate is, and any gate once it runs alone)."""
    timeline = Timeline()
    probe = Probe(timeline, gate_timeout=LONG)
    go = asyncio.Event()
    scenario = tasks_before_response(probe)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/mine":  # answers when the test says so
            await go.wait()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await scenario(scope, receive, send)

    drive = AsgiDriver(app, timeline, timeout=LONG)
    mine = drive.start("POST", "/mine", json={"tasks": [{"id": "own", "gate": "own-gate"}]})
    other = drive.start("POST", "/scenario", json={"tasks": [{"id": "other", "gate": "other-gate"}]})
    held = await timeline.wait_for(lambda e: e.kind == "gate.wait", timeout=LONG, expected="the other task to hold")
    assert mine._held() is None  # the other request runs: its gate is not mine
    assert other._held() == held
    timeline.record("gate.wait", gate="own-gate")  # a task holding on a gate its plan names
    assert mine._held() is not None and mine._held()["gate"] == "own-gate"
    timeline.record("gate.pass", gate="own-gate")
    assert mine._held() is None
    probe.open_all()
    assert await other.finished() is None
    timeline.record("gate.wait", gate="late-gate")  # no other request runs now: a gate held now is mine's
    assert mine._held() is not None and mine._held()["gate"] == "late-gate"
    go.set()
    assert (await mine.response()).status == 204  # mine's final body: the response is there, held gate or not
    assert await mine.finished() is None


def test_the_gates_of_a_plan_nested_tasks_included() -> None:
    body = json.dumps({"tasks": [{"id": "a", "gate": "g1", "then": [{"id": "b", "gate": "g2"}]}, {"id": "c"}]})
    assert gated_tasks(body.encode()) == {"g1": "a", "g2": "b"}
    assert gated_tasks(b"not json") == {} and gated_tasks(b"") == {} and gated_tasks(b"[1]") == {}
