"""A task in another process reports to the probe and holds on its gates (the queue-backed case)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bgtasks_conformance import Probe, Timeline
from bgtasks_conformance.observe.remote import ENV_VAR, ProbeServer, RemoteProbe

WORKER = """
from bgtasks_conformance.observe.remote import RemoteProbe
probe = RemoteProbe()
probe.started("remote-task", (1, "two"), {"k": [3]})
probe.hold("release", create=True)
probe.ended("remote-task")
try:
    raise ValueError("boom")
except ValueError as error:
    probe.failed("remote-fail", error)
"""


def test_a_task_in_another_process_reports_and_waits_on_its_gate() -> None:
    probe = Probe(Timeline(), gate_timeout=10)
    with ProbeServer(probe) as server:
        worker = subprocess.Popen([sys.executable, "-c", WORKER], env={**os.environ, ENV_VAR: server.address})
        try:
            start = probe.timeline.wait_for_sync(lambda e: e.kind == "task.start", timeout=10,
                                                 expected="the remote task to start")
            assert (start["args"], start["kwargs"], start["remote"]) == ((1, "two"), {"k": [3]}, True)
            probe.timeline.wait_for_sync(lambda e: e.kind == "gate.wait", timeout=10, expected="it to hold")
            assert probe.timeline.first(lambda e: e.kind == "task.end") is None
            probe.open("release")
            probe.timeline.wait_for_sync(lambda e: e.kind == "task.end", timeout=10, expected="it to end")
            error = probe.timeline.wait_for_sync(lambda e: e.kind == "task.error", timeout=10, expected="its error")
            assert (error["error"], error["message"]) == ("ValueError", "boom")
        finally:
            assert worker.wait(timeout=10) == 0


def test_a_gate_nobody_opens_times_out_in_the_worker() -> None:
    from bgtasks_conformance import GateTimeout

    with ProbeServer(Probe(Timeline(), gate_timeout=0.05)) as server:
        remote = RemoteProbe(server.address)
        with pytest.raises(GateTimeout, match="never"):
            remote.hold("never", create=True)
        remote.close()


def test_without_an_address_the_worker_is_told_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(RuntimeError, match=ENV_VAR):
        RemoteProbe()
