"""The benchmark script's pure parts: parsing its options and tox's output, statistics, the table."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "tools" / "benchmark.py"
    spec = importlib.util.spec_from_file_location("bgtasks_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load()


def report(*records: tuple[str, str, float]) -> dict:
    return {"requirements": [{"id": rid, "outcome": outcome, "seconds": s} for rid, outcome, s in records]}


def test_only_names_measurements_in_their_order_and_refuses_unknown_ones() -> None:
    assert bench.parse_only("wire, default") == ["default", "wire"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown measurement nope"):
        bench.parse_only("default,nope")
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_only(" , ")


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 11)]
    assert bench.percentile(values, 90) == 9.0
    assert bench.percentile(values, 50) == 5.0
    assert bench.percentile([3.0], 90) == 3.0
    assert bench.percentile([5.0, 1.0], 100) == 5.0
    with pytest.raises(ValueError):
        bench.percentile([], 50)


def test_requirement_stats_leave_out_what_did_not_run() -> None:
    stats = bench.requirement_stats(report(("A-1", "passed", 0.01), ("A-2", "failed", 0.5), ("A-3", "passed", 0.02),
                                           ("A-4", "untested", 0.0), ("A-5", "skipped", 0.0)), slowest=2)
    assert stats["count"] == 3
    assert stats["median"] == 0.02
    assert stats["p90"] == 0.5
    assert stats["slowest"] == [["A-2", 0.5], ["A-3", 0.02]]
    assert bench.requirement_stats(report(("A-4", "untested", 0.0)))["median"] is None
    assert bench.failing_requirements(report(("A-1", "passed", 0.1), ("A-2", "target-error", 0.1))) == ["A-2"]


def test_runs_cache_their_bytecode_outside_the_working_tree(tmp_path: Path) -> None:
    environ = bench.run_environ({"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/h"}, tmp_path)
    assert environ == {"HOME": "/h", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    assert bench.run_environ({"PYTHONPYCACHEPREFIX": "/mine"}, tmp_path)["PYTHONPYCACHEPREFIX"] == "/mine"


def test_tox_summary_lines_give_setup_and_command_times() -> None:
    log = (
        "matrix-newest: commands[0]> pytest --pyargs bgtasks_conformance.spec\n"
        "  matrix-fastapi0105: OK (12.50=setup[3.25]+cmd[9.25] seconds)\n"
        "  matrix-newest: FAIL code 1 (20.00=setup[1.50]+cmd[1.00,17.50] seconds)\n"
        "  matrix-fastapi0117: SKIP (0.10 seconds)\n"
        "  evaluation failed :( (30.10 seconds)\n"
    )
    assert bench.parse_tox_summary(log) == {
        "matrix-fastapi0105": {"status": "OK", "total": 12.5, "setup": 3.25, "commands": 9.25},
        "matrix-newest": {"status": "FAIL code 1", "total": 20.0, "setup": 1.5, "commands": 18.5},
        "matrix-fastapi0117": {"status": "SKIP", "total": 0.1, "setup": None, "commands": 0},
    }


def test_env_states_tell_reused_from_recreated() -> None:
    before = {"a": [1, 10], "b": [2, 20], "c": None, "d": [4, 40]}
    after = {"a": [1, 10], "b": [9, 90], "c": [3, 30], "d": None}
    assert bench.env_states(before, after) == {"a": "reused", "b": "recreated", "c": "created", "d": "missing"}


def test_table_has_a_row_per_measurement_and_compares_with_an_old_run() -> None:
    new = {
        "default": {"status": "ok", "wall_seconds": 4.0,
                    "requirements": {"count": 2, "median": 0.012, "p90": 0.3, "slowest": [["POST-005", 0.3]]}},
        "xdist": {"status": "ok", "wall_seconds": 40.0,
                  "tiers": {"asgi": {"jobs": 2, "serial": 3.5, "xdist": 3.0, "passed": True}}},
        "determinism": {"status": "failed", "wall_seconds": 600.0, "runs": 100, "passed": 99,
                        "wall_median": 6.0, "wall_max": 9.5},
    }
    old = {"default": {"status": "ok", "wall_seconds": 16.0,
                       "requirements": {"count": 2, "median": 0.057, "p90": 0.8, "slowest": []}},
           "determinism": {"runs": 100, "passed": 100}}
    table = bench.format_table(bench.table_rows(new, old)).splitlines()
    assert table[0].split() == ["measurement", "status", "wall", "wall", "before", "change", "details"]
    assert set(table[1]) <= {"-", " "}
    default, xdist, determinism = table[2:]
    assert default.split()[:5] == ["default", "ok", "4.00s", "16.00s", "-75%"]
    assert "median 12.0ms, p90 300.0ms; slowest POST-005 300.0ms" in default
    assert "asgi: serial 3.50s, -n 2 3.00s" in xdist
    assert "99/100 runs passed" in determinism
    assert bench.compare_lines(old, new) == ["default: median 57.0ms -> 12.0ms, p90 800.0ms -> 300.0ms",
                                             "determinism: 100/100 -> 99/100 passed"]
    assert "wall before" not in bench.format_table(bench.table_rows(new))


def test_targets_say_what_was_measured_and_whether_it_is_met() -> None:
    results = {
        "default": {"status": "ok", "wall_seconds": 3.6, "requirements": {"median": 0.025}},
        "xdist": {"status": "ok", "tiers": {"asgi": {"serial": 3.5, "xdist": 3.9, "passed": True},
                                            "all": {"serial": 30.0, "xdist": 16.0, "passed": True}}},
        "determinism": {"status": "ok", "runs": 10, "passed": 10},
        "matrix": {"status": "ok", "envs": {"matrix-newest": "reused", "matrix-fastapi0105": "created"}},
    }
    verdicts = {v["target"]: (v["measured"], v["met"]) for v in bench.target_verdicts(results)}
    assert verdicts["the default run takes under 5 s wall, pytest's start-up included"] == ("3.60s", True)
    assert verdicts["the median requirement takes under 20 ms"] == ("25.0ms", False)
    assert verdicts["pytest -n 2 passes and is faster than serial: the default tier"] == (
        "3.90s against 3.50s serial", False)
    assert verdicts["pytest -n 2 passes and is faster than serial: both tiers"][1] is True
    assert verdicts["100 consecutive default runs pass with every core kept busy"] == ("10/10 passed", False)
    assert verdicts["the matrix's environments are reused between runs"] == (
        "1/2 created by this run: run again to see them reused", None)
    results["matrix"]["envs"]["matrix-fastapi0105"] = "recreated"
    (reuse,) = [v for v in bench.target_verdicts(results) if v["measurement"] == "matrix"]
    assert (reuse["measured"], reuse["met"]) == ("1/2 reused", False)
    assert not any("self-check" in target or "wire-tier" in target for target in verdicts)  # not measured: not shown
    assert bench.target_verdicts({"default": {"status": "failed", "wall_seconds": None}})[0]["met"] is None
    lines = bench.verdict_lines(bench.target_verdicts(results))
    assert lines[0].startswith("met ") and lines[1].startswith("MISSED")
