"""The harness a spec test talks to: one app, one timeline, and nothing left running afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgtasks_conformance import Timeouts, open_harness
from bgtasks_conformance.observe.events import ended, started
from bgtasks_conformance.target.loader import Target, TargetChoice

from .conftest import scenario_only

pytestmark = pytest.mark.anyio

TARGET = Target(TargetChoice("tests:scenario_only", "--bgtasks-target option"), scenario_only)


async def test_a_scenario_through_the_harness(tmp_path: Path) -> None:
    async with open_harness(TARGET, tmp_path, Timeouts(wait=5.0, gate=5.0, quiet=0.05)) as harness:
        assert harness.data_dir == tmp_path
        call = harness.scenario([{"id": "t", "gate": "t", "args": [1], "kwargs": {"k": "v"}}])
        response = await call.response()
        assert response.json() == {"scheduled": ["t"]}
        await harness.wait_started("t")
        await harness.expect_none(ended("t"), "the task to end before its gate opens")
        assert harness.started_args("t") == ((1,), {"k": "v"})
        harness.open("t")
        await harness.wait_finished("t")
        assert await call.finished() is None
        with pytest.raises(AssertionError, match=r"task 'nope' never started; timeline:\n"):
            harness.started_args("nope")


async def test_leaving_the_harness_opens_every_gate_and_ends_every_call(tmp_path: Path) -> None:
    async with open_harness(TARGET, tmp_path, Timeouts(wait=5.0, gate=5.0)) as harness:
        call = harness.scenario([{"id": "forgotten", "gate": "never-opened"}])
        await harness.wait_started("forgotten")
    assert call.task.done()
    assert harness.timeline.first(ended("forgotten")) is not None


async def test_hold_final_send_is_the_send_gate(tmp_path: Path) -> None:
    async with open_harness(TARGET, tmp_path) as harness:
        gate = harness.hold_final_send()
        call = harness.post("/scenario", json={"tasks": [{"id": "after"}]}, send_gate=gate)
        await harness.wait(lambda e: e.kind == "send.held", "the final send to be held")
        await harness.expect_none(started("after"), "a task while the final send is held")
        assert harness.gate(gate.name) is gate
        gate.open()
        response, raised = await harness.complete(call)
        assert (response.status, raised) == (200, None)
