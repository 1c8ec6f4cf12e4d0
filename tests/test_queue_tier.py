"""The queue tier's own parts: the remote probe's extensions, the declaration, the components, the usage errors."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import Probe, Timeline
from bgtasks_conformance.observe.remote import ProbeServer, RemoteProbe, RemoteTaskError
from bgtasks_conformance.queue.processes import ProcessError, descendants
from bgtasks_conformance.queue.redis import RedisServer, find_redis, refuses
from bgtasks_conformance.queue.stack import QueueStack
from bgtasks_conformance.target.queue import QueueSpec, parse_queue

from .conftest import RunPytest
from .forking import forking_worker

QUEUE_APP = "bgtasks_conformance.queue_app:create_app"
needs_redis = pytest.mark.skipif(find_redis() is None,
                                 reason="no redis-server: pip install 'bgtasks-conformance[queue]'")


def test_a_worker_reports_where_it_ran_records_what_the_queue_did_and_fails_remotely() -> None:
    probe = Probe(Timeline())
    with ProbeServer(probe) as server:
        remote = RemoteProbe(server.address)
        remote.started("t", (1,), {"k": 2}, pid=42, worker="w1")
        remote.record("queue.state", task="t", state="FAILURE")
        remote.failed("t", ValueError("boom"))
        remote.close()
    start, state, error = probe.timeline.events
    assert (start["args"], start["pid"], start["worker"], start["remote"]) == ((1,), 42, "w1", True)
    assert (state.kind, state["state"]) == ("queue.state", "FAILURE")
    assert isinstance(error["exception"], RemoteTaskError) and repr(error["exception"]) == (
        "ValueError('boom') in another process")


def test_closing_the_server_ends_its_threads_while_a_client_is_connected() -> None:
    server = ProbeServer(Probe(Timeline()))
    remote = RemoteProbe(server.address)
    remote.record("hello")
    server.close(timeout=5)
    assert not [t for t in threading.enumerate() if t.name.startswith("bgtasks-probe-")], "probe threads left"
    with pytest.raises((EOFError, OSError)):
        remote.record("after")


@pytest.mark.parametrize(("raw", "problem"), [
    ({}, "worker's command"), ({"worker": "celery worker"}, "list of strings"),
    ({"worker": ["w"], "delivery": "exactly-once"}, "at-least-once, at-most-once"),
    ({"worker": ["w"], "workers": 1}, "'workers' >= 2"), ({"worker": ["w"], "colour": 1}, "unknown keys"),
])
def test_a_bad_declaration_says_what_to_write(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_queue(raw)


def test_a_worker_command_gets_this_python_and_its_name() -> None:
    assert QueueSpec(("{python}", "-m", "w", "--name={name}")).command("worker1")[1:] == ["-m", "w", "--name=worker1"]


@needs_redis
def test_redis_starts_in_its_directory_and_leaves_nothing(tmp_path: Path) -> None:
    server = RedisServer(str(find_redis()), tmp_path / "redis").start(timeout=20)
    assert not refuses(server.port)
    assert server.stop(timeout=10) == []
    assert refuses(server.port)


@needs_redis
def test_a_worker_that_never_gets_ready_is_reported_with_its_output(tmp_path: Path) -> None:
    spec = QueueSpec(("{python}", "-c", "print('no broker for me'); raise SystemExit(3)"))
    stack = QueueStack(spec, str(find_redis()), str(tmp_path), timeout=20)
    try:
        with pytest.raises(ProcessError, match=r"(?s)worker1 .* did not report ready.*no broker for me"):
            stack.start()
    finally:
        assert stack.stop() == []
    assert not stack.directory.exists()


def test_without_the_option_the_delivery_requirements_say_how_to_run_them(run_pytest: RunPytest) -> None:
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "-k", "DLV-001", "-rs")
    result.stdout.fnmatch_lines(["*the queue tier is opt-in: run it with --bgtasks-queue*"])


def test_a_queue_target_without_the_option_is_a_usage_error(run_pytest: RunPytest) -> None:
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", QUEUE_APP)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is queue-backed (it declares conformance_queue)*add --bgtasks-queue*"])


def test_the_option_without_redis_names_the_fix(run_pytest: RunPytest, tmp_path: Path) -> None:
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", QUEUE_APP, "--bgtasks-queue",
                        "--bgtasks-redis-server", str(tmp_path / "missing"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--bgtasks-queue: --bgtasks-redis-server*is not a file*pip install*"])


@needs_redis
def test_the_option_with_a_target_that_is_no_queue_is_a_usage_error(run_pytest: RunPytest) -> None:
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-queue")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*declares no conformance_queue*"])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_a_process_a_worker_forked_is_that_workers_and_dies_with_it(tmp_path: Path) -> None:
    """Like RQ's work horse: forked per job, in a session of its own (out of the worker's process group)."""
    with forking_worker(tmp_path, new_session=True) as (workers, child, horse):
        assert (workers.owner(horse), workers.owner(child.pid), workers.owner(os.getpid())) == (
            "worker1", "worker1", None)
        assert horse in descendants(child.pid)
        handle = os.pidfd_open(horse)
        try:
            workers.kill("worker1", timeout=10)
            readable, _, _ = select.select([handle], [], [], 10)  # a pidfd is readable once its process has ended
        finally:
            os.close(handle)
        assert readable, f"expected the horse {horse} killed with its worker, it still runs"


def test_the_load_requirement_names_the_tasks_that_never_ran() -> None:
    from types import SimpleNamespace

    from bgtasks_conformance.spec.test_delivery import _missing

    probe = Probe(Timeline())
    probe.started("r0.0", (), {})
    probe.ended("r0.0")
    probe.started("r0.1", (), {})
    harness: Any = SimpleNamespace(timeline=probe.timeline)
    assert _missing(harness, {0: ["r0.0", "r0.1", "r0.2"], 1: ["r1.0"]}, shown=1) == (
        "2 never started (r0.2 and 1 more); 1 started and never ended (r0.1)")
