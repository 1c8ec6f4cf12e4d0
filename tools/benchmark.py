"""How long the suite's runs take, and whether they pass every time (issue 7: speed is a feature).

    python tools/benchmark.py [--only NAME,...] [--runs N] [--repeat N] [--out PATH] [--compare OLD.json]
                              [-- PYTEST_ARGS]

Measurements (all of them unless ``--only`` names some):

  default           bgtasks-conformance from an empty temporary directory: the wall time from start to
                    finish, and from its JSON report the time of each requirement (median, p90, slowest five)
  wire              the same with --bgtasks-tier wire
  failfast          the default run against a broken target whose tasks start when added (FAILFAST_TARGET) beside
                    the reference's: its wall time must stay within twice the reference's (a red run is not slower)
  xdist             serial against pytest -n JOBS, for the default tier and for both tiers (--bgtasks-tier all)
  selfcheck         python -m bgtasks_conformance.selfcheck --jobs 2 --json P
  matrix            python -m bgtasks_conformance.matrix --jobs 2, and whether tox reused its environments
                    (they must not be recreated between runs) and how long each took to set up
  determinism       --runs consecutive default runs (default 100) while a CPU burner keeps every core busy
  determinism-wire  the same for the wire tier
  audit             bgtasks-conformance --bgtasks-app on a generated FastAPI app of 50 endpoints (path, query and
                    body parameters, sync and async tasks): the wall time of the whole audit (issue 18)

Every run has its bytecode cached, as after an installation by pip (PYTHONDONTWRITEBYTECODE is
dropped; PYTHONPYCACHEPREFIX is TMPDIR/bgtasks-benchmark/pycache unless already set); a first, untimed
run warms that cache, and its wall time is reported as the cold start. Timed runs are repeated
(``--repeat``, default 3) and their median counts.

It prints a table, then each of issue 7's targets with what was measured and whether it is met, and
writes every number as JSON (``--out``; by default a new file in TMPDIR/bgtasks-benchmark/, never the
working directory); ``--compare OLD.json`` puts an earlier run's numbers beside this run's. It exits 1
when a measurement failed or a target measured here is missed. Arguments after ``--`` go to every
pytest run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MEASUREMENTS = ("default", "wire", "failfast", "xdist", "selfcheck", "matrix", "determinism", "determinism-wire",
                "audit")
AUDIT_ENDPOINTS = 50
DEFAULT_OUT_DIR = Path(tempfile.gettempdir()) / "bgtasks-benchmark"
PYCACHE = DEFAULT_OUT_DIR / "pycache"
XDIST_TIERS = ("asgi", "all")
MATRIX_ENVS = ("matrix-fastapi0105", "matrix-fastapi0117", "matrix-fastapi0120", "matrix-fastapi0121",
               "matrix-newest", "matrix-lowstarlette")
NOT_RUN = frozenset({"untested", "skipped"})  # outcomes whose requirement has no time of its own
FAILING = frozenset({"failed", "target-error", "harness-error"})
FAILFAST_TARGET = "bgtasks_conformance.sample_app.broken.catalog:starts_at_add"
FAILFAST_RATIO = 2.0
TAIL = 3000  # characters of a command's output kept for the JSON


# -- pure parts -------------------------------------------------------------------------------------
def parse_only(value: str) -> list[str]:
    """``"default,wire"`` -> the measurements, in their canonical order; an unknown name is an error."""
    names = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(names - set(MEASUREMENTS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown measurement {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(MEASUREMENTS)}")
    return [name for name in MEASUREMENTS if name in names]


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def requirement_stats(report: dict[str, Any], slowest: int = 5) -> dict[str, Any]:
    """Per-requirement times (``seconds``: setup + call + teardown of its tests) of the requirements that ran."""
    timed = [(r["id"], float(r.get("seconds", 0.0))) for r in report.get("requirements", [])
             if r.get("outcome") not in NOT_RUN]
    seconds = [s for _, s in timed]
    if not seconds:
        return {"count": 0, "median": None, "p90": None, "total": 0.0, "slowest": []}
    ranked = sorted(timed, key=lambda pair: (-pair[1], pair[0]))[:slowest]
    return {
        "count": len(seconds),
        "median": round(statistics.median(seconds), 4),
        "p90": round(percentile(seconds, 90), 4),
        "total": round(sum(seconds), 3),
        "slowest": [[rid, round(s, 4)] for rid, s in ranked],
    }


def failing_requirements(report: dict[str, Any]) -> list[str]:
    return [r["id"] for r in report.get("requirements", []) if r.get("outcome") in FAILING]


def run_environ(base: Mapping[str, str], pycache: Path = PYCACHE) -> dict[str, str]:
    """The environment of every measured run: bytecode cached, as after an installation by pip.

    Without a cache (``PYTHONDONTWRITEBYTECODE``) every start compiles fastapi, pydantic and hypothesis
    again, over a second that no user with an installed suite pays.
    """
    environ = dict(base)
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ.setdefault("PYTHONPYCACHEPREFIX", str(pycache))
    return environ


_TOX_SUMMARY = re.compile(
    r"^\s*(?P<env>[\w.-]+): (?P<status>[A-Z][A-Z ]*?(?: code -?\d+)?) \((?P<total>[\d.]+)"
    r"(?:=setup\[(?P<setup>[\d.]+)\](?:\+cmd\[(?P<cmd>[^\]]*)\])?)? seconds\)$", re.MULTILINE)


def parse_tox_summary(text: str) -> dict[str, dict[str, Any]]:
    """tox's closing lines (``env: OK (12.30=setup[2.10]+cmd[10.20] seconds)``) by environment."""
    found: dict[str, dict[str, Any]] = {}
    for match in _TOX_SUMMARY.finditer(text):
        commands = [float(n) for n in (match["cmd"] or "").split(",") if n.strip()]
        found[match["env"]] = {"status": match["status"], "total": float(match["total"]),
                               "setup": float(match["setup"]) if match["setup"] else None,
                               "commands": round(sum(commands), 2)}
    return found


def env_states(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """For each environment: created, reused, recreated (its venv was made anew) or missing."""
    states = {}
    for env, now in after.items():
        then = before.get(env)
        if now is None:
            states[env] = "missing"
        elif then is None:
            states[env] = "created"
        else:
            states[env] = "reused" if then == now else "recreated"
    return states


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.2f}s"


def summary_line(name: str, result: dict[str, Any]) -> str:
    """The table's detail cell for one measurement."""
    if name == "failfast":
        return (f"{FAILFAST_TARGET.rsplit(':', 1)[1]}: {_seconds(result.get('wall_seconds'))} against the reference's "
                f"{_seconds(result.get('reference_seconds'))} ({result.get('ratio')}x); failing "
                f"{' '.join(result.get('failing') or []) or '-'}")
    if name in ("default", "wire"):
        stats = result.get("requirements") or {}
        slow = ", ".join(f"{rid} {_seconds(s)}" for rid, s in stats.get("slowest", [])[:3])
        return (f"{stats.get('count', 0)} requirements: median {_seconds(stats.get('median'))}, "
                f"p90 {_seconds(stats.get('p90'))}; slowest {slow or '-'}")
    if name == "xdist":
        return "; ".join(f"{tier}: serial {_seconds(r.get('serial'))}, -n {r.get('jobs')} {_seconds(r.get('xdist'))}"
                         for tier, r in (result.get("tiers") or {}).items()) or "-"
    if name == "selfcheck":
        return (f"{result.get('broken', 0)} broken implementations, slowest run "
                f"{_seconds(result.get('slowest_run'))}, {result.get('problems', 0)} problems")
    if name == "matrix":
        counts: dict[str, int] = {}
        for state in (result.get("envs") or {}).values():
            counts[state] = counts.get(state, 0) + 1
        states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no environments"
        return f"{states}; setup at most {_seconds(result.get('setup_max'))}"
    if name.startswith("determinism"):
        return (f"{result.get('passed', 0)}/{result.get('runs', 0)} runs passed under a CPU burner "
                f"(wall median {_seconds(result.get('wall_median'))}, max {_seconds(result.get('wall_max'))})")
    return result.get("note", "")


def table_rows(results: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]] | None = None) -> list[list[str]]:
    """Header and one row per measurement; with ``old``, the earlier wall time and median beside them."""
    header = ["measurement", "status", "wall", "details"]
    if old is not None:
        header[3:3] = ["wall before", "change"]
    rows = [header]
    for name, result in results.items():
        wall = result.get("wall_seconds")
        row = [name, result.get("status", "?"), _seconds(wall), summary_line(name, result)]
        if old is not None:
            before = (old.get(name) or {}).get("wall_seconds")
            change = f"{(wall - before) / before * 100:+.0f}%" if wall is not None and before else "-"
            row[3:3] = [_seconds(before), change]
        rows.append(row)
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# a result -> (what was measured, whether the target is met: None where this run cannot tell), or None: not measured
Reading = Callable[[dict[str, Any]], tuple[str, bool | None] | None]


@dataclass(frozen=True)
class Goal:
    """One of issue 7's targets: what it asks, and how to read it off a measurement's result."""

    text: str
    measurement: str
    read: Reading


def _wall_below(limit: float) -> Reading:
    def read(result: dict[str, Any]) -> tuple[str, bool] | None:
        wall = result.get("wall_seconds")
        return None if wall is None else (_seconds(wall), wall < limit)
    return read


def _median_below(limit: float) -> Reading:
    def read(result: dict[str, Any]) -> tuple[str, bool] | None:
        median = (result.get("requirements") or {}).get("median")
        return None if median is None else (_seconds(median), median < limit)
    return read


def _ratio_within(limit: float) -> Reading:
    def read(result: dict[str, Any]) -> tuple[str, bool] | None:
        ratio = result.get("ratio")
        if ratio is None:
            return None
        measured = f"{_seconds(result['wall_seconds'])} against {_seconds(result['reference_seconds'])} ({ratio:.2f}x)"
        return measured, ratio <= limit and bool(result.get("failing"))
    return read


def _all_runs_passed(runs: int) -> Reading:
    def read(result: dict[str, Any]) -> tuple[str, bool] | None:
        if "runs" not in result:
            return None
        return f"{result['passed']}/{result['runs']} passed", result["passed"] == result["runs"] >= runs
    return read


def _xdist_faster(tier: str) -> Reading:
    def read(result: dict[str, Any]) -> tuple[str, bool] | None:
        entry = (result.get("tiers") or {}).get(tier)
        if not entry or entry.get("serial") is None or entry.get("xdist") is None:
            return None
        measured = f"{_seconds(entry['xdist'])} against {_seconds(entry['serial'])} serial"
        return measured, entry["passed"] and entry["xdist"] < entry["serial"]
    return read


def _envs_reused(result: dict[str, Any]) -> tuple[str, bool | None] | None:
    states = result.get("envs") or {}
    if not states:
        return None
    reused = sum(1 for state in states.values() if state == "reused")
    created = sum(1 for state in states.values() if state == "created")
    if created:
        return f"{created}/{len(states)} created by this run: run again to see them reused", None
    return f"{reused}/{len(states)} reused", reused == len(states)


GOALS = (
    Goal("the default run takes under 5 s wall, pytest's start-up included", "default", _wall_below(5.0)),
    Goal("the median requirement takes under 20 ms", "default", _median_below(0.020)),
    Goal("a broken target's verdict takes at most twice the reference's wall time", "failfast",
         _ratio_within(FAILFAST_RATIO)),
    Goal("the self-check takes under 2 minutes", "selfcheck", _wall_below(120.0)),
    Goal("pytest -n 2 passes and is faster than serial: the default tier", "xdist", _xdist_faster("asgi")),
    Goal("pytest -n 2 passes and is faster than serial: both tiers", "xdist", _xdist_faster("all")),
    Goal("the matrix's environments are reused between runs", "matrix", _envs_reused),
    Goal("100 consecutive default runs pass with every core kept busy", "determinism", _all_runs_passed(100)),
    Goal("100 consecutive wire-tier runs pass with every core kept busy", "determinism-wire", _all_runs_passed(100)),
    Goal(f"the audit of an app with {AUDIT_ENDPOINTS} endpoints takes under 15 s wall (issue 18)", "audit",
         _wall_below(15.0)),
)


def target_verdicts(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target whose measurement ran: what was measured and whether the target is met."""
    verdicts = []
    for goal in GOALS:
        result = results.get(goal.measurement)
        if result is None:
            continue
        reading = goal.read(result)
        measured, met = reading if reading is not None else ("not measured", None)
        verdicts.append({"target": goal.text, "measurement": goal.measurement, "measured": measured, "met": met})
    return verdicts


def verdict_lines(verdicts: list[dict[str, Any]]) -> list[str]:
    marks = {True: "met   ", False: "MISSED", None: "-     "}
    return [f"{marks[v['met']]}  {v['target']}: {v['measured']}" for v in verdicts]


def compare_lines(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    """Per-requirement medians and p90s, and determinism counts, before and after."""
    lines = []
    for name in new:
        before, after = old.get(name) or {}, new[name]
        if name in ("default", "wire") and before.get("requirements") and after.get("requirements"):
            b, a = before["requirements"], after["requirements"]
            lines.append(f"{name}: median {_seconds(b.get('median'))} -> {_seconds(a.get('median'))}, "
                         f"p90 {_seconds(b.get('p90'))} -> {_seconds(a.get('p90'))}")
        if name.startswith("determinism") and "runs" in before:
            lines.append(f"{name}: {before.get('passed')}/{before.get('runs')} -> "
                         f"{after.get('passed')}/{after.get('runs')} passed")
    return lines


# -- running things ---------------------------------------------------------------------------------
@dataclass
class Done:
    exit_code: int
    seconds: float
    output: str = ""


def run(command: Sequence[str], cwd: Path, timeout: float | None = None,
        environ: Mapping[str, str] | None = None) -> Done:
    """Run ``command`` in ``cwd``; its wall time from start to finish, exit status and output."""
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                              env=environ)
    except subprocess.TimeoutExpired as error:
        return Done(-1, time.perf_counter() - started, f"timed out after {timeout}s: {error}")
    return Done(done.returncode, time.perf_counter() - started, done.stdout + done.stderr)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """An empty temporary directory to run in, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bgtasks-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def cpu_burner(cores: int | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Keeps ``cores`` (default: every) core busy with spinning processes; always stops them."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
               for _ in range(cores or os.cpu_count() or 2)]
    try:
        yield burners
    finally:
        for process in burners:
            process.terminate()
        for process in burners:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


Repeated = tuple[float, list[float], Done, dict[str, Any] | None]  # cold start, timed walls, last run, its report


@dataclass
class Bench:
    python: str
    pytest_args: list[str] = field(default_factory=list)
    repeat: int = 3
    runs: int = 100
    jobs: int = 2
    progress: Any = sys.stderr
    environ: dict[str, str] = field(default_factory=lambda: run_environ(os.environ))
    _repeated: dict[tuple[str, ...], Repeated] = field(default_factory=dict, repr=False)

    def say(self, text: str) -> None:
        print(text, file=self.progress, flush=True)

    def run(self, command: Sequence[str], cwd: Path, timeout: float | None = None) -> Done:
        return run(command, cwd, timeout, self.environ)

    def pytest(self, report: Path, *extra: str) -> list[str]:
        return [self.python, "-m", "pytest", "--pyargs", "bgtasks_conformance.spec", "-q", "-p", "no:cacheprovider",
                "--bgtasks-report", str(report), *extra, *self.pytest_args]

    def spec_run(self, *extra: str) -> tuple[Done, dict[str, Any] | None]:
        with scratch() as where:
            report = where / "report.json"
            done = self.run(self.pytest(report, *extra), where)
            data = json.loads(report.read_text()) if report.is_file() else None
        return done, data

    def repeated(self, name: str, *extra: str) -> Repeated:
        """A warm-up run (its wall time: the cold start), then ``repeat`` timed runs; the last one's result.

        Once per set of arguments: default and xdist's serial default tier are the same runs.
        """
        if extra not in self._repeated:
            self.say(f"{name}: warm-up run")
            cold, _ = self.spec_run(*extra)
            walls, last, data = [], Done(0, 0.0), None
            for attempt in range(self.repeat):
                self.say(f"{name}: run {attempt + 1}/{self.repeat}")
                last, data = self.spec_run(*extra)
                walls.append(last.seconds)
            self._repeated[extra] = (cold.seconds, walls, last, data)
        return self._repeated[extra]

    def timed_spec(self, name: str, *extra: str) -> dict[str, Any]:
        cold, walls, last, data = self.repeated(name, *extra)
        result: dict[str, Any] = {
            "status": "ok" if last.exit_code == 0 else "failed",
            "exit_code": last.exit_code,
            "wall_seconds": round(statistics.median(walls), 3),
            "walls": [round(w, 3) for w in walls],
            "cold_wall_seconds": round(cold, 3),
            "requirements": requirement_stats(data) if data else None,
            "summary": (data or {}).get("summary"),
            "hypothesis_profile": (data or {}).get("header", {}).get("hypothesis_profile"),
            "failing": failing_requirements(data) if data else [],
        }
        if last.exit_code != 0:
            result["output"] = last.output[-TAIL:]
        return result

    def default(self) -> dict[str, Any]:
        return self.timed_spec("default", "--bgtasks-tier", "asgi")

    def wire(self) -> dict[str, Any]:
        return self.timed_spec("wire", "--bgtasks-tier", "wire")

    def failfast(self) -> dict[str, Any]:
        """The default run against FAILFAST_TARGET beside the reference's (the same runs as ``default``)."""
        reference = self.timed_spec("default", "--bgtasks-tier", "asgi")
        broken = self.timed_spec("failfast", "--bgtasks-tier", "asgi", "--bgtasks-target", FAILFAST_TARGET)
        ratio = broken["wall_seconds"] / reference["wall_seconds"] if reference["wall_seconds"] else None
        return {**broken, "status": "ok" if broken["failing"] and reference["status"] == "ok" else "failed",
                "target": FAILFAST_TARGET, "reference_seconds": reference["wall_seconds"],
                "ratio": None if ratio is None else round(ratio, 2)}

    def xdist(self) -> dict[str, Any]:
        started = time.perf_counter()
        tiers: dict[str, dict[str, Any]] = {}
        for tier in XDIST_TIERS:
            _, serial, serial_last, _ = self.repeated(f"xdist: --bgtasks-tier {tier}, serial", "--bgtasks-tier", tier)
            _, spread, spread_last, _ = self.repeated(f"xdist: --bgtasks-tier {tier}, -n {self.jobs}",
                                                      "--bgtasks-tier", tier, "-n", str(self.jobs))
            tiers[tier] = {"jobs": self.jobs, "serial": round(statistics.median(serial), 3),
                           "xdist": round(statistics.median(spread), 3),
                           "passed": serial_last.exit_code == 0 and spread_last.exit_code == 0}
        return {"status": "ok" if all(t["passed"] for t in tiers.values()) else "failed",
                "wall_seconds": round(time.perf_counter() - started, 3), "tiers": tiers}

    def selfcheck(self) -> dict[str, Any]:
        self.say("selfcheck: python -m bgtasks_conformance.selfcheck")
        with scratch() as where:
            out = where / "selfcheck.json"
            done = self.run([self.python, "-m", "bgtasks_conformance.selfcheck", "--jobs", str(self.jobs),
                             "--json", str(out)],
                       where)
            data = json.loads(out.read_text()) if out.is_file() else {}
        broken = data.get("broken", [])
        result = {
            "status": "ok" if done.exit_code == 0 else "failed",
            "exit_code": done.exit_code,
            "wall_seconds": round(done.seconds, 3),
            "reference_seconds": (data.get("reference") or {}).get("seconds"),
            "broken": len(broken),
            "slowest_run": max((b.get("seconds", 0.0) for b in broken), default=None),
            "problems": len(data.get("problems", [])),
        }
        if done.exit_code != 0:
            result["output"] = done.output[-TAIL:]
        return result

    def matrix(self) -> dict[str, Any]:
        self.say("matrix: python -m bgtasks_conformance.matrix (tox; the first run installs the environments)")
        before = _env_snapshot()
        with scratch() as where:
            done = self.run([self.python, "-m", "bgtasks_conformance.matrix", "--jobs", str(self.jobs),
                             "--out", str(where)],
                       ROOT)
            log = where / "tox.log"
            tox = parse_tox_summary(log.read_text() if log.is_file() else done.output)
        states = env_states(before, _env_snapshot())
        setups = [entry["setup"] for entry in tox.values() if entry["setup"] is not None]
        bad = done.exit_code != 0 or any(state in ("recreated", "missing") for state in states.values())
        result = {
            "status": "failed" if bad else "ok",
            "exit_code": done.exit_code,
            "wall_seconds": round(done.seconds, 3),
            "envs": states,
            "tox": tox,
            "setup_max": max(setups, default=None),
            "note": "environments created by this run: run again to check that they are reused"
                    if "created" in states.values() else "",
        }
        if done.exit_code != 0:
            result["output"] = done.output[-TAIL:]
        return result

    def determinism(self, *extra: str) -> dict[str, Any]:
        name = "determinism-wire" if extra else "determinism"
        outcomes: list[dict[str, Any]] = []
        started = time.perf_counter()
        with cpu_burner() as burners:
            self.say(f"{name}: {self.runs} runs with {len(burners)} busy processes (CPU burner)")
            for index in range(self.runs):
                done, data = self.spec_run(*extra)
                entry = {"run": index + 1, "exit_code": done.exit_code, "seconds": round(done.seconds, 3)}
                if done.exit_code != 0:
                    entry["failing"] = failing_requirements(data) if data else []
                    entry["output"] = done.output[-TAIL:]
                outcomes.append(entry)
                self.say(f"{name}: run {index + 1}/{self.runs}: exit {done.exit_code} in {done.seconds:.1f}s")
        walls = [entry["seconds"] for entry in outcomes]
        passed = sum(1 for entry in outcomes if entry["exit_code"] == 0)
        return {
            "status": "ok" if passed == len(outcomes) else "failed",
            "wall_seconds": round(time.perf_counter() - started, 3),
            "runs": len(outcomes),
            "passed": passed,
            "wall_median": round(statistics.median(walls), 3) if walls else None,
            "wall_max": max(walls, default=None),
            "failures": [entry for entry in outcomes if entry["exit_code"] != 0],
        }

    def audit(self) -> dict[str, Any]:
        """The audit of a generated app of AUDIT_ENDPOINTS endpoints, warm-up then ``repeat`` timed runs."""
        walls, last, data = [], Done(0, 0.0), None
        with scratch() as where:
            (where / "bench_audit_app.py").write_text(audit_app_source(AUDIT_ENDPOINTS))
            environ = {**self.environ, "PYTHONPATH": str(where)}
            command = [self.python, "-m", "bgtasks_conformance", "--bgtasks-app", "bench_audit_app:app", "-q",
                       "-p", "no:xdist", "--bgtasks-report", str(where / "report.json"), *self.pytest_args]
            for attempt in range(self.repeat + 1):
                self.say(f"audit: {'warm-up run' if attempt == 0 else f'run {attempt}/{self.repeat}'}")
                last = run(command, where, None, environ)
                walls.append(last.seconds)
            data = json.loads((where / "report.json").read_text()) if (where / "report.json").is_file() else None
        result: dict[str, Any] = {"status": "ok" if last.exit_code == 0 else "failed", "exit_code": last.exit_code,
                                  "endpoints": AUDIT_ENDPOINTS, "wall_seconds": round(statistics.median(walls[1:]), 3),
                                  "walls": [round(w, 3) for w in walls[1:]], "cold_wall_seconds": round(walls[0], 3),
                                  "summary": (data or {}).get("summary"),
                                  "failing": failing_requirements(data) if data else []}
        if last.exit_code != 0:
            result["output"] = last.output[-TAIL:]
        return result

    def measure(self, name: str) -> dict[str, Any]:
        if name == "determinism-wire":
            return self.determinism("--bgtasks-tier", "wire")
        return getattr(self, name)()


def audit_app_source(endpoints: int) -> str:
    """A FastAPI app of ``endpoints`` correct endpoints, each adding a sync or an async task (the audit's benchmark)."""
    lines = ["from fastapi import BackgroundTasks, FastAPI", "from pydantic import BaseModel", "",
             "app = FastAPI()", "seen = []", "", "class Body(BaseModel):", "    name: str", "    count: int", "",
             "def sync_task(value):", "    seen.append(value)", "",
             "async def async_task(value):", "    seen.append(value)", ""]
    for n in range(endpoints):
        task = "async_task" if n % 2 else "sync_task"
        kind = n % 3
        if kind == 0:
            lines += [f'@app.post("/things/{n}")',
                      f"async def post_{n}(body: Body, background_tasks: BackgroundTasks):",
                      f"    background_tasks.add_task({task}, body.name)", "    return {'ok': True}", ""]
        elif kind == 1:
            lines += [f'@app.get("/things/{n}/{{item_id}}")',
                      f"def get_{n}(item_id: int, background_tasks: BackgroundTasks):",
                      f"    background_tasks.add_task({task}, item_id)", "    return {'id': item_id}", ""]
        else:
            lines += [f'@app.put("/things/{n}")', f"async def put_{n}(q: str, background_tasks: BackgroundTasks):",
                      f"    background_tasks.add_task({task}, q)", "    return {'q': q}", ""]
    return "\n".join(lines) + "\n"


def _env_snapshot() -> dict[str, Any]:
    """Each matrix environment's venv marker (inode and modification time), or None where there is none."""
    snapshot: dict[str, Any] = {}
    for env in MATRIX_ENVS:
        marker = ROOT / ".tox" / env / "pyvenv.cfg"
        try:
            stat = marker.stat()
        except OSError:
            snapshot[env] = None
            continue
        snapshot[env] = [stat.st_ino, stat.st_mtime_ns]
    return snapshot


def _stop_on_sigterm() -> None:
    """A SIGTERM ends the run like Ctrl-C, so that the CPU burner is always stopped."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/benchmark.py", description=__doc__.split("\n")[0])
    parser.add_argument("--only", type=parse_only, default=list(MEASUREMENTS), metavar="NAME,...",
                        help=f"measurements to run (default all: {', '.join(MEASUREMENTS)})")
    parser.add_argument("--runs", type=int, default=100, help="runs of each determinism check (default 100)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of default, wire and xdist, after a warm-up; the median counts (default 3)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="--jobs of the self-check and the matrix, -n of xdist (default 2)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the JSON results (default: a new file in {DEFAULT_OUT_DIR})")
    parser.add_argument("--compare", type=Path, default=None, metavar="OLD.json",
                        help="an earlier run's JSON to compare with")
    parser.add_argument("--python", default=sys.executable, help="the Python with the suite installed")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to every pytest run")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeat < 1 or args.jobs < 1:
        parser.error("--runs, --repeat and --jobs must be at least 1")
    old = json.loads(args.compare.read_text())["measurements"] if args.compare else None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or DEFAULT_OUT_DIR / f"benchmark-{stamp}.json"
    _stop_on_sigterm()
    bench = Bench(args.python, list(args.pytest_args), args.repeat, args.runs, args.jobs)
    results: dict[str, dict[str, Any]] = {}
    for name in args.only:
        results[name] = bench.measure(name)
    verdicts = target_verdicts(results)
    document = {
        "schema": 1,
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "pytest_args": args.pytest_args,
        "measurements": results,
        "targets": verdicts,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(format_table(table_rows(results, old)))
    for line in compare_lines(old or {}, results) if old else []:
        print(line)
    print("\ntargets (issue 7, on a 2-core machine):")
    for line in verdict_lines(verdicts):
        print(f"  {line}")
    print(f"\nresults written to {out}")
    missed = any(v["met"] is False for v in verdicts)
    return 0 if all(r.get("status") == "ok" for r in results.values()) and not missed else 1


def _commit() -> str:
    done = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], ROOT, timeout=10)
    return done.output.strip() if done.exit_code == 0 else "unknown"


if __name__ == "__main__":
    sys.exit(main())
