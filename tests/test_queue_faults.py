"""The queue tier's fault injection and reconciliation: each piece can fail, against a real redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import Probe, Timeline
from bgtasks_conformance.queue import faults
from bgtasks_conformance.queue.processes import ProcessError
from bgtasks_conformance.queue.redis import RedisServer, find_redis
from bgtasks_conformance.target.queue import QueueSpec, parse_queue

from .conftest import RunPytest
from .forking import forking_worker

needs_redis = pytest.mark.skipif(find_redis() is None,
                                 reason="no redis-server: pip install 'bgtasks-conformance[queue]'")
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
PROBE = "127.0.0.1:1"
HERE = __name__


def fake_records(broker_url: str, probe: str) -> list[dict[str, Any]]:
    """A target's records function, for :func:`faults.read_records`."""
    return [{"task": "mine", "probe": probe, "state": "SUCCESS", "queued": False},
            {"task": "theirs", "probe": "elsewhere", "state": "FAILURE", "queued": False}]


def bad_records(broker_url: str, probe: str) -> list[Any]:
    return [("mine", "SUCCESS")]


def spec_with(records: str | None) -> QueueSpec:
    return QueueSpec(("w",), records=records)


def timeline_of(*steps: tuple[str, str]) -> Timeline:
    """A timeline where each (kind, task) happened, in order: start, end, error."""
    probe = Probe(Timeline())
    for kind, task in steps:
        {"start": lambda t: probe.started(t, (), {}), "end": probe.ended,
         "error": lambda t: probe.failed(t, RuntimeError("planned"))}[kind](task)
    return probe.timeline


def record(state: str, queued: bool = False) -> dict[str, Any]:
    return {"state": state, "queued": queued}


def test_records_that_agree_with_what_ran_leave_nothing_to_say() -> None:
    timeline = timeline_of(("start", "ok"), ("end", "ok"), ("start", "boom"), ("error", "boom"),
                           ("start", "killed"), ("start", "killed"), ("end", "killed"))
    records = {"ok": record("SUCCESS"), "boom": record("FAILURE"), "killed": record("SUCCESS"),
               "never": record("PENDING"), "dead": record("DEAD")}
    assert faults.reconcile(["ok", "boom", "killed", "never", "dead"], timeline, records) == []


def test_every_disagreement_is_named_with_what_ran_and_what_was_recorded() -> None:
    timeline = timeline_of(("start", "ran"), ("end", "ran"), ("start", "boom"), ("error", "boom"),
                           ("start", "stuck"))
    records = {"ran": record("FAILURE"), "boom": record("SUCCESS"), "stuck": record("SUCCESS"),
               "waiting": record("PENDING", queued=True)}
    assert faults.reconcile(["ran", "boom", "stuck", "waiting", "lost"], timeline, records) == [
        "'ran' ran to its end, recorded FAILURE",
        "'boom' raised, recorded SUCCESS",
        "'stuck' started and never ended, recorded SUCCESS",
        "'waiting' (never started) is still in the broker, recorded PENDING",
        "'lost' (never started) has no record: it vanished without a trace",
    ]


def test_records_are_read_for_this_tests_probe_only() -> None:
    found = faults.read_records(spec_with(f"{HERE}:fake_records"), "redis://unused", PROBE)
    assert list(found) == ["mine"] and found["mine"]["state"] == "SUCCESS"


@pytest.mark.parametrize(("declared", "problem"), [
    (None, r"saw none declared: declare where the queue keeps its record of each task"),
    (f"{HERE}:missing", r"to name a function, but saw AttributeError"),
    ("no_such_module_here:records", r"to name a function, but saw ModuleNotFoundError"),
    (f"{HERE}:bad_records", r"to be a mapping with 'task' and 'state', saw \('mine', 'SUCCESS'\)"),
])
def test_records_that_cannot_be_read_say_why(declared: str | None, problem: str) -> None:
    with pytest.raises(faults.RecordsError, match=problem):
        faults.read_records(spec_with(declared), "redis://unused", PROBE)


@pytest.mark.parametrize(("raw", "problem"), [
    ({"records": "no colon"}, r"'module:function', not 'no colon'"),
    ({"max_deliveries": 0}, r"integer >= 1, not 0"),
    ({"max_deliveries": True}, r"integer >= 1, not True"),
])
def test_a_bad_fault_declaration_says_what_to_write(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_queue({"worker": ["w"], **raw})


def test_the_fault_keys_are_declared_as_given() -> None:
    spec = parse_queue({"worker": ["w"], "records": "m:f", "max_deliveries": 3})
    assert (spec.records, spec.max_deliveries) == ("m:f", 3)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(str(find_redis()), tmp_path / "redis")
    try:
        yield server.start(timeout=20)
    finally:
        assert server.stop(timeout=10) == []


def ping(server: RedisServer, timeout: float = 0.5) -> bool:
    """Whether the server answers PING within ``timeout`` (one try, on a socket of its own)."""
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:  # refused, or no answer in time
        return False


@pytest.mark.anyio
@needs_redis
@needs_proc
async def test_a_paused_broker_answers_nothing_until_it_is_continued(redis_server: RedisServer) -> None:
    pausing = faults.pause(redis_server, 1.5)
    assert not await asyncio.to_thread(ping, redis_server, 0.3), "expected no answer from a stopped broker"
    assert faults.is_stopped(redis_server.pid), "expected the broker's process stopped (state T)"
    await pausing
    assert not faults.is_stopped(redis_server.pid) and await asyncio.to_thread(ping, redis_server, 5)


@pytest.mark.anyio
@needs_redis
@needs_proc
async def test_a_pause_cut_short_still_continues_the_broker(redis_server: RedisServer) -> None:
    pausing = faults.pause(redis_server, 60)
    assert not await asyncio.to_thread(ping, redis_server, 0.3), "expected no answer from a stopped broker"
    pausing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pausing
    assert await asyncio.to_thread(ping, redis_server, 5), "expected the broker continued when the pause was cut"


@needs_redis
def test_a_persistent_broker_restarted_after_sigkill_keeps_what_it_acknowledged(redis_server: RedisServer) -> None:
    import redis

    faults.make_persistent(redis_server, timeout=10)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
    client.rpush("jobs", "one", "two")
    client.close()
    first = redis_server.pid
    away = faults.restart(redis_server, timeout=20)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
    try:
        assert redis_server.pid != first and away > 0
        assert client.lrange("jobs", 0, -1) == [b"one", b"two"]
    finally:
        client.close()
    faults.make_transient(redis_server, timeout=10)


@needs_redis
def test_without_persistence_a_crash_loses_the_brokers_contents(redis_server: RedisServer) -> None:
    """The control of the test above: what the restart keeps is the append-only file's doing."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
    client.rpush("jobs", "one")
    client.close()
    redis_server.crash(timeout=10)
    redis_server.start(timeout=20)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
    try:
        assert client.llen("jobs") == 0
    finally:
        client.close()


@needs_proc
def test_killing_a_tasks_process_spares_its_worker_and_refuses_strangers(tmp_path: Path) -> None:
    with forking_worker(tmp_path, new_session=False) as (workers, child, horse):
        with pytest.raises(ProcessError, match=f"pid {os.getpid()} belongs to none of the suite's workers"):
            faults.kill_task_process(workers, os.getpid(), timeout=5)
        handle = os.pidfd_open(horse)
        try:
            killed = faults.kill_task_process(workers, horse, timeout=5)
            readable, _, _ = select.select([handle], [], [], 10)
        finally:
            os.close(handle)
        assert readable and killed == faults.Killed("worker1", horse, whole_worker=False) and child.alive()
        killed = faults.kill_task_process(workers, child.pid, timeout=10)
        assert killed.whole_worker and not child.alive() and "worker1" not in workers.running


@needs_redis
def test_a_queue_that_records_only_what_ran_is_caught_with_the_tasks_that_left_no_trace(
    scratch: pytest.Pytester, run_pytest: RunPytest,
) -> None:
    """End to end, as the queue self-check runs its gallery: a real Redis, real workers, one requirement."""
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "-k", "DLV-013", "--bgtasks-queue",
                        "--bgtasks-target", "bgtasks_conformance.queue_app.broken:records_only_what_ran",
                        "--bgtasks-report", "out/report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    report = json.loads((scratch.path / "out" / "report.json").read_text())
    entry = next(r for r in report["requirements"] if r["id"] == "DLV-013")
    assert entry["outcome"] == "failed" and len(entry["messages"]) == 1, entry
    lines = [line.strip() for line in entry["messages"][0].splitlines()]
    assert re.fullmatch(r"DLV-013 \[MUST\]: expected the queue's records to agree with what ran \(two that succeeded, "
                        r"one that raised, two after it\) \(waited \d+s for them to settle\), saw:", lines[0]), lines
    assert lines[1:3] == ["'later1' (never started) has no record: it vanished without a trace",
                          "'later2' (never started) has no record: it vanished without a trace"]
    assert lines[3].startswith("records: {") and "'ok1'" in lines[3] and "'later1'" not in lines[3], lines[3]


@needs_redis
def test_the_suites_mark_tells_a_broker_that_lost_its_data_from_one_that_kept_it(redis_server: RedisServer) -> None:
    """DLV-017's check that its fault was injected: the mark is gone after a restart without persistence, and kept
    after one from the append-only file."""
    faults.make_persistent(redis_server, timeout=10)
    faults.mark_data(redis_server, timeout=5)
    faults.restart(redis_server, timeout=20)
    assert not faults.lost_data(redis_server, timeout=5), "expected the mark kept by a persistent restart"
    faults.make_transient(redis_server, timeout=10)
    redis_server.crash(timeout=10)
    redis_server.start(timeout=20)
    assert faults.lost_data(redis_server, timeout=5), "expected the mark lost by a restart without persistence"


def test_a_lossy_restart_allows_lost_tasks_and_names_every_other_problem() -> None:
    from bgtasks_conformance.spec.test_faults import prefix_problems

    plans = {0: ["a.0", "a.1", "a.2"], 1: ["b.0", "b.1", "b.2"], 2: ["c.0", "c.1"], 3: ["d.0", "d.1"],
             4: ["after.0", "after.1"]}
    counts = {"a.0": 1, "a.1": 1, "b.0": 1, "b.2": 1, "c.1": 1, "c.0": 1, "d.0": 2, "after.0": 1}
    assert prefix_problems(plans, counts, lost_allowed={0, 1, 2, 3}) == [
        "request 1: ['b.2'] ran though 'b.1' before it was lost (never started)",
        "request 2: tasks started out of order ['c.1', 'c.0']",
        "request 3: 'd.0' started 2 times",
        "request 4 (handed over after the restart): ['after.1'] never started",
    ]


@needs_redis
def test_a_queue_whose_records_keep_lost_tasks_queued_is_caught_naming_them(
    scratch: pytest.Pytester, run_pytest: RunPytest,
) -> None:
    """End to end, as the queue self-check runs its gallery: the broker restarted empty, one requirement."""
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "-k", "DLV-017", "--bgtasks-queue",
                        "--bgtasks-target", "bgtasks_conformance.queue_app.broken:queued_for_ever",
                        "--bgtasks-wait-timeout", "1", "--bgtasks-report", "out/report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    report = json.loads((scratch.path / "out" / "report.json").read_text())
    entry = next(r for r in report["requirements"] if r["id"] == "DLV-017")
    assert entry["outcome"] == "failed" and len(entry["messages"]) == 1, entry
    lost = entry["observed"]["lost_with_the_data"]["tasks"]
    assert lost and entry["observed"]["lost_with_the_data"]["count"] == len(lost), entry["observed"]
    lines = [line.strip() for line in entry["messages"][0].splitlines()]
    assert re.fullmatch(r"DLV-017 \[MUST\]: expected the queue's records to agree with what ran after the broker's "
                        r"restart without its data \(\d+\.\d\ds away\); \d+ tasks lost with the data: "
                        + re.escape(str(lost)) + r" \(waited 1s for them to settle\), saw:", lines[0]), lines[0]
    assert lines[1:1 + len(lost)] == [f"{task!r} (never started) is still in the broker, recorded PENDING"
                                      for task in lost]
    assert lines[1 + len(lost)].startswith("records: {"), lines[1 + len(lost)]
