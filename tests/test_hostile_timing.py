"""Verdicts independent of the machine's speed: a requirement that missed only a time bound is inconclusive.

The load run (LOAD-001/002) is given far too little time (``--bgtasks-load-timeout``): the run still
progresses when its bound passes, so both requirements are graded inconclusive, with what was measured
and the option to raise, and the run passes; a run that stalls (a response withheld while its task
runs) is still a failure, whatever the bound (tests/test_selfcheck.py's broken targets).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.observe.timeline import ExpectationFailed, Timeline
from bgtasks_conformance.results.outcomes import INCONCLUSIVE, Outcomes, grade, inconclusive
from bgtasks_conformance.results.registry import load_registry
from bgtasks_conformance.spec.test_disconnect import conclusive, patiently


def test_a_load_run_out_of_time_is_inconclusive_not_failed(scratch: pytest.Pytester) -> None:
    report = scratch.path / "report.json"
    result = scratch.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "bgtasks_conformance.spec", "--bgtasks-tier", "wire",
        "--bgtasks-servers", "uvicorn", "-k", "LOAD-001 or LOAD-002", "--bgtasks-load-requests", "5000",
        "--bgtasks-load-timeout", "0.3", "--bgtasks-report", str(report), timeout=300)
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, text[-3000:]
    records = {r["id"]: r for r in json.loads(report.read_text())["requirements"]}
    for rid in ("LOAD-001", "LOAD-002"):
        assert records[rid]["outcome"] == INCONCLUSIVE, records[rid]
        detail = "\n".join(records[rid]["details"])
        assert "did not finish within 0.3s (--bgtasks-load-timeout)" in detail, detail
        assert "requests answered in" in detail and "raise --bgtasks-load-timeout" in detail, detail


def test_inconclusive_is_never_worse_than_a_failure() -> None:
    """Graded per requirement: a failing variant outweighs an inconclusive one, an inconclusive one a pass."""
    outcomes = Outcomes(load_registry())
    outcomes.record("LOAD-001", "a", INCONCLUSIVE, "slow")
    assert outcomes.results["LOAD-001"].outcome == INCONCLUSIVE
    outcomes.record("LOAD-001", "b", "passed", "")
    assert outcomes.results["LOAD-001"].outcome == INCONCLUSIVE
    outcomes.record("LOAD-001", "c", "failed", "broken")
    assert outcomes.results["LOAD-001"].outcome == "failed"


def test_an_inconclusive_test_is_graded_so(scratch: pytest.Pytester) -> None:
    scratch.makepyfile(test_x='''
from bgtasks_conformance.results.outcomes import inconclusive
def test_slow():
    inconclusive("the thing took 3.1s, the bound is 2s (--bgtasks-wait-timeout)")
''')
    result = scratch.runpytest("-p", "no:cacheprovider", "-rs")
    reports = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.when == "call"]
    assert [grade(r)[0] for r in reports] == [INCONCLUSIVE], result.stdout.str()
    assert inconclusive.__doc__


# -- the disconnect tier: a wait that the machine's slowness outlived, a disconnect that came late ----------
def test_a_failing_disconnect_case_whose_disconnect_came_late_is_inconclusive() -> None:
    late = Timeline()
    late.record("server.send.hold", call=1, n=1, type="http.response.start")
    late.record("server.send.release", call=1, n=1, why="timeout")
    with pytest.raises(pytest.skip.Exception, match=r"inconclusive .*did not report the client gone"):
        conclusive(late, failing=True)
    conclusive(late, failing=False)  # it passed anyway: a pass
    on_time = Timeline()
    on_time.record("server.send.release", call=1, n=1, why="client gone")
    conclusive(on_time, failing=True)  # the disconnect landed: the failure stands (the test's assert follows)


@pytest.mark.anyio
async def test_a_wait_goes_on_while_the_run_progresses_but_not_when_it_stalls() -> None:
    timeline = Timeline()
    calls = []

    async def slow() -> str:  # misses its bound twice while the run still moves, then sees its event
        calls.append(1)
        if len(calls) < 3:
            timeline.record("task.start", task=f"t{len(calls)}")
            raise ExpectationFailed("expected the call to end within 5s")
        return "ended"

    assert await patiently(slow, timeline) == "ended"
    assert len(calls) == 3

    async def stuck() -> str:
        raise ExpectationFailed("expected the call to end within 5s")

    with pytest.raises(ExpectationFailed):
        await patiently(stuck, timeline)


# -- tools/burner.py: every core busy, always stopped --------------------------------------------------------
def _burner() -> Any:
    path = Path(__file__).resolve().parent.parent / "tools" / "burner.py"
    spec = importlib.util.spec_from_file_location("bgtasks_burner", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_burner_keeps_every_core_busy_and_always_stops() -> None:
    burner = _burner().Burner(factor=1, seconds=60)
    with pytest.raises(RuntimeError, match="leaving early"), burner:
        assert burner.running == burner.count == (os.cpu_count() or 1)
        processes = list(burner._processes)
        raise RuntimeError("leaving early")
    assert burner.running == 0
    assert all(process.poll() is not None for process in processes), "a burning process outlived the block"


def test_the_burner_runs_a_command_and_returns_its_status(capfd: pytest.CaptureFixture[str]) -> None:
    status = _burner().main(["--factor", "1", "--seconds", "60", "--", sys.executable, "-c", "raise SystemExit(3)"])
    assert status == 3
    assert "busy processes on" in capfd.readouterr().err


def test_the_burner_keeps_each_runs_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); raise SystemExit(0)"
    command = [sys.executable, "-c", code]
    status = _burner().main(["--factor", "1", "--seconds", "60", "--runs", "2", "--logs", str(tmp_path / "logs"),
                             "--", *command])
    assert status == 0
    for run in (1, 2):
        assert (tmp_path / "logs" / f"run-{run}.log").read_text().split() == ["out", "err"]
    err = capfd.readouterr().err
    assert "burner: run 2/2 took " in err and f"output: {tmp_path / 'logs' / 'run-2.log'}" in err, err
    assert "burner: 2 of 2 runs passed" in err, err
