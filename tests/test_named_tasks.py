"""The scenario's tasks known by name (what a queue's worker runs): they report to the probe over TCP with
where they ran, hold on its gates, and fail as planned. Run here in a thread, as a worker's pool runs them."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bgtasks_conformance import Probe, Timeline
from bgtasks_conformance.observe.remote import ProbeServer
from bgtasks_conformance.target import named
from bgtasks_conformance.target.queue import WORKER_VAR

WAIT = 10.0


@pytest.fixture
def probe() -> Iterator[tuple[Probe, str]]:
    probe = Probe(Timeline(), gate_timeout=WAIT)
    with ProbeServer(probe) as server:
        yield probe, server.address
    for remote in named._probes.values():
        remote.close()
    named._probes.clear()


def run_in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run, name="pool-1")
    thread.start()
    return thread, raised


def test_a_sync_task_reports_where_it_ran_and_holds_on_its_gate(
    probe: tuple[Probe, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, address = probe
    monkeypatch.setenv(WORKER_VAR, "worker-1")
    plan = {"id": "t1", "gate": "g1", "probe": address}

    def task() -> None:
        with named.delivery(task_id="celery-42", redelivered=False):
            named.scenario_task(plan, 1, "two", k=[3])

    thread, raised = run_in_thread(task)
    start = local.timeline.wait_for_sync(lambda e: e.kind == "task.start", timeout=WAIT, expected="t1 to start")
    assert (start["args"], start["kwargs"]) == ((1, "two"), {"k": [3]})
    assert (start["pid"], start["worker"], start["worker_thread"]) == (os.getpid(), "worker-1", "pool-1")
    assert (start["task_id"], start["redelivered"]) == ("celery-42", False)
    local.timeline.wait_for_sync(lambda e: e.kind == "gate.wait", timeout=WAIT, expected="t1 to hold on g1")
    assert local.timeline.first(lambda e: e.kind == "task.end") is None
    local.open("g1")
    thread.join(WAIT)
    assert raised == []
    local.timeline.wait_for_sync(lambda e: e.kind == "task.end", timeout=WAIT, expected="t1 to end")
    assert named._running == {}, "the delivery's details outlived it"


@pytest.mark.parametrize(("fail", "error"), [("error", "ScenarioFailure"), ("http_exception", "HTTPException")])
def test_an_async_task_fails_as_planned_and_reports_it(probe: tuple[Probe, str], fail: str, error: str) -> None:
    local, address = probe
    thread, raised = run_in_thread(lambda: asyncio.run(named.async_scenario_task({"id": "t2", "fail": fail,
                                                                                  "probe": address})))
    failed = local.timeline.wait_for_sync(lambda e: e.kind == "task.error", timeout=WAIT, expected="t2's error")
    thread.join(WAIT)
    assert failed["error"] == error and "t2" in failed["message"]
    assert [type(e).__name__ for e in raised] == [error]
    assert local.timeline.first(lambda e: e.kind == "task.end") is None


@pytest.mark.usefixtures("probe")  # forgets the connections afterwards
def test_a_process_keeps_a_few_probe_connections_and_closes_the_oldest() -> None:
    servers = [ProbeServer(Probe(Timeline(), gate_timeout=WAIT)) for _ in range(named._KEPT + 1)]
    try:
        connections = [named.probe_at(server.address) for server in servers]
        assert named.probe_at(servers[-1].address) is connections[-1]
        assert list(named._probes) == [server.address for server in servers[1:]]
    finally:
        for server in servers:
            server.close()
