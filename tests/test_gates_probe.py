"""Gates hold tasks until the test opens them; the probe records what tasks report."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest

from bgtasks_conformance import Gate, GateTimeout, Probe
from bgtasks_conformance.observe.events import ended, errored, started

pytestmark = pytest.mark.anyio

TINY = 0.05


def gate_waiting(probe: Probe, name: str) -> Any:
    return lambda e: e.kind == "gate.wait" and e["gate"] == name


def open_from_thread(probe: Probe, name: str) -> threading.Thread:
    opener = threading.Thread(target=probe.open, args=(name,), name="opener")
    opener.start()
    return opener


async def test_a_gate_opened_from_another_thread_releases_a_sync_waiter() -> None:
    probe = Probe(gate_timeout=5.0)
    held = asyncio.ensure_future(asyncio.to_thread(probe.hold, "g", create=True))
    await probe.timeline.wait_for(gate_waiting(probe, "g"), timeout=5.0, expected="the sync waiter")
    open_from_thread(probe, "g").join()
    await asyncio.wait_for(held, 5.0)
    kinds = [e.kind for e in probe.timeline]
    assert kinds == ["gate.wait", "gate.open", "gate.pass"]
    wait, _, passed = probe.timeline.events
    assert wait.thread == passed.thread != threading.get_ident()


async def test_a_gate_opened_from_another_thread_releases_an_async_waiter() -> None:
    probe = Probe(gate_timeout=5.0)
    held = asyncio.ensure_future(probe.hold_async("g", create=True))
    await probe.timeline.wait_for(gate_waiting(probe, "g"), timeout=5.0, expected="the async waiter")
    assert not held.done()
    opener = open_from_thread(probe, "g")
    await asyncio.wait_for(held, 5.0)
    opener.join()
    assert [e.kind for e in probe.timeline] == ["gate.wait", "gate.open", "gate.pass"]


async def test_an_open_gate_does_not_hold() -> None:
    gate = Gate("open")
    gate.open()
    assert gate.is_open
    gate.wait(0)
    await gate.wait_async(0)


async def test_a_gate_never_opened_times_out_on_the_loop() -> None:
    probe = Probe(gate_timeout=TINY)
    with pytest.raises(GateTimeout, match=r"gate 'never' was not opened within 0.05s"):
        await probe.hold_async("never", create=True)
    assert [e.kind for e in probe.timeline] == ["gate.wait"]


async def test_a_gate_never_opened_times_out_in_a_thread() -> None:
    probe = Probe(gate_timeout=TINY)
    with pytest.raises(GateTimeout, match=r"gate 'never' was not opened within 0.05s"):
        await asyncio.to_thread(probe.hold, "never", create=True)


async def test_opening_after_the_waiting_loop_closed_is_harmless() -> None:
    gate = Gate("late")
    with pytest.raises(GateTimeout):  # a waiter on a loop of its own, closed when the wait is over
        await asyncio.to_thread(asyncio.run, gate.wait_async(TINY))
    gate.open()
    assert gate.is_open


async def test_hold_without_an_armed_gate_does_not_block() -> None:
    probe = Probe(gate_timeout=60.0)
    probe.hold("unarmed")
    await probe.hold_async("unarmed")
    probe.hold(None, create=True)
    assert list(probe.timeline) == []
    assert probe.armed("unarmed") is None


async def test_open_all_releases_every_gate() -> None:
    probe = Probe(gate_timeout=5.0)
    gates = [probe.gate(name) for name in ("a", "b")]
    assert probe.gate("a") is gates[0]
    probe.open_all()
    assert all(gate.is_open for gate in gates)
    await probe.hold_async("a")
    assert probe.gate("asked-for-later").is_open  # a task that reaches its gate only now is not left behind


# -- observed ---------------------------------------------------------------------------------
async def test_observed_keeps_a_sync_function_sync() -> None:
    probe = Probe()

    @probe.observed
    def write_log(email: str, message: str = "") -> str:
        """The task's own docstring."""
        return f"{email}:{message}"

    assert not inspect.iscoroutinefunction(write_log)
    assert write_log.__name__ == "write_log"
    assert write_log.__doc__ == "The task's own docstring."
    assert write_log("a@b.c", message="hi") == "a@b.c:hi"
    start, end = probe.timeline.events
    assert (start.kind, start["task"]) == ("task.start", "write_log")
    assert (start["args"], start["kwargs"]) == (("a@b.c",), {"message": "hi"})
    assert start["thread_name"] == threading.current_thread().name
    assert (end.kind, end["task"]) == ("task.end", "write_log")


async def test_observed_keeps_an_async_function_a_coroutine_function() -> None:
    probe = Probe()
    marker = object()

    @probe.observed(name="notify")
    async def send(item: object) -> object:
        return item

    assert inspect.iscoroutinefunction(send)
    assert await send(marker) is marker
    assert probe.timeline.first(started("notify"))["args"][0] is marker
    assert probe.timeline.first(started("notify")).on_loop
    assert probe.timeline.first(ended("notify")) is not None


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_observed_records_the_error_and_reraises(kind: str) -> None:
    probe = Probe()

    def boom() -> None:
        raise ValueError("disk full")

    async def aboom() -> None:
        raise ValueError("disk full")

    task = probe.observed(boom if kind == "sync" else aboom)
    with pytest.raises(ValueError, match="disk full"):
        result = task()
        if kind == "async":
            await result
    error = probe.timeline.first(errored("boom" if kind == "sync" else "aboom"))
    assert (error["error"], error["message"]) == ("ValueError", "disk full")
    assert isinstance(error["exception"], ValueError)
    assert probe.timeline.first(ended()) is None


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_observed_holds_on_its_gate_when_armed(kind: str) -> None:
    probe = Probe(gate_timeout=5.0)
    probe.gate("job")

    def job() -> None:
        pass

    async def ajob() -> None:
        pass

    task = probe.observed(job if kind == "sync" else ajob, name="job")
    running = asyncio.ensure_future(asyncio.to_thread(task) if kind == "sync" else task())
    await probe.timeline.wait_for(gate_waiting(probe, "job"), timeout=5.0, expected="the task to hold")
    assert probe.timeline.first(ended("job")) is None
    probe.open("job")
    await asyncio.wait_for(running, 5.0)
    kinds = [e.kind for e in probe.timeline]
    assert kinds == ["task.start", "gate.wait", "gate.open", "gate.pass", "task.end"]


async def test_a_gate_timeout_in_an_observed_task_is_its_error() -> None:
    probe = Probe(gate_timeout=TINY)
    probe.gate("stuck")

    @probe.observed
    async def stuck() -> None:
        raise AssertionError("must not run past its gate")

    with pytest.raises(GateTimeout):
        await stuck()
    assert probe.timeline.first(errored("stuck"))["error"] == "GateTimeout"
