"""The suite checks itself: the reference must pass, every broken implementation must be caught.

    python -m conformance.selfcheck [--gallery MODULE:ATTRIBUTE] [--jobs N] [--json PATH]

Runs the spec once per implementation (in parallel subprocesses), then prints a table of which
requirements caught which implementation and how long each run took. Exits 1 if the reference
does not pass, if a broken implementation passes or escapes a requirement it declares, or if a
requirement is caught by no broken implementation at all.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .outcomes import INFORMATIONAL, PASSED, SKIPPED, UNTESTED
from .registry import load_registry

DEFAULT_GALLERY = "sample_app.broken:GALLERY"
REFERENCE = "sample_app:create_app"
FAST_TIMEOUTS = ("--wait-timeout", "1", "--gate-timeout", "2")
NOT_CAUGHT = {PASSED, SKIPPED, UNTESTED}


@dataclass(frozen=True)
class Broken:
    """A deliberately broken implementation and the requirements that must catch it."""

    name: str
    target: str
    catches: frozenset[str]
    what: str


@dataclass
class Run:
    name: str
    target: str
    exit_code: int
    seconds: float
    outcomes: dict[str, str]
    output: str

    @property
    def completed(self) -> bool:
        """The suite ran (exit 0 or 1 with a report), rather than stopping on a usage error."""
        return self.exit_code in (0, 1) and bool(self.outcomes)

    @property
    def caught_by(self) -> list[str]:
        return sorted(rid for rid, outcome in self.outcomes.items() if outcome not in NOT_CAUGHT)


def run_suite(name: str, target: str, workdir: Path, extra: Sequence[str] = ()) -> Run:
    """One pytest run of the spec against ``target``, in a subprocess, with a JSON report."""
    report = workdir / f"{name}.json"
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "spec", "-q", "-p", "no:cacheprovider",
        "--target", target, "--bgtasks-report", str(report), *FAST_TIMEOUTS, *extra,
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    outcomes: dict[str, str] = {}
    if report.exists():
        outcomes = {r["id"]: r["outcome"] for r in json.loads(report.read_text())["requirements"]}
    return Run(name, target, done.returncode, seconds, outcomes, done.stdout[-4000:] + done.stderr[-2000:])


def _same_as(reference: Run, run: Run) -> set[str]:
    """Requirements whose outcome is the reference's own (a MAY the reference is informational on)."""
    return {rid for rid, outcome in run.outcomes.items() if reference.outcomes.get(rid) == outcome}


def load_gallery(spec: str) -> list[Broken]:
    module_name, _, attribute = spec.partition(":")
    return list(getattr(importlib.import_module(module_name), attribute))


def judge(reference: Run, gallery: list[Broken], runs: dict[str, Run]) -> list[str]:
    """Every problem with the results; an empty list means the suite proved itself."""
    problems = []
    failing = [rid for rid, outcome in reference.outcomes.items() if outcome not in (PASSED, SKIPPED, INFORMATIONAL)]
    if reference.exit_code != 0 or failing or not reference.outcomes:
        problems.append(f"the reference {reference.target} does not pass: exit {reference.exit_code}, "
                        f"not passed: {', '.join(failing) or '-'}\n{reference.output}")
    caught_somewhere: set[str] = set()
    for broken in gallery:
        run = runs[broken.name]
        caught = set(run.caught_by) - _same_as(reference, run)
        caught_somewhere |= caught
        if not run.completed:
            problems.append(f"{broken.name}: the suite did not run (exit {run.exit_code}):\n{run.output}")
        elif not caught:
            problems.append(f"{broken.name} passes the whole suite (exit {run.exit_code}):\n{run.output}")
        elif broken.catches - caught:
            problems.append(f"{broken.name} escapes {', '.join(sorted(broken.catches - caught))} "
                            f"(caught by {', '.join(sorted(caught))})")
    never = sorted(set(load_registry()) - caught_somewhere)
    if never:
        problems.append(f"no broken implementation is caught by: {', '.join(never)}")
    return problems


def table(reference: Run, gallery: list[Broken], runs: dict[str, Run]) -> str:
    rows = [("implementation", "time", "caught by"), ("reference", f"{reference.seconds:.1f}s", "-")]
    rows += [(b.name, f"{runs[b.name].seconds:.1f}s", _caught_cell(runs[b.name])) for b in gallery]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {secs:>6}  {caught}" for name, secs, caught in rows)


def _caught_cell(run: Run) -> str:
    if not run.completed:
        return f"DID NOT RUN (exit {run.exit_code})"
    return ", ".join(run.caught_by) or "NOTHING"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.selfcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--gallery", default=DEFAULT_GALLERY, help="MODULE:ATTRIBUTE of a list of Broken")
    parser.add_argument("--reference", default=REFERENCE, help="the implementation that must pass")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    gallery = load_gallery(args.gallery)
    with tempfile.TemporaryDirectory(prefix="bgtasks-selfcheck-") as tmp:
        workdir = Path(tmp)
        jobs = [("reference", args.reference)] + [(b.name, b.target) for b in gallery]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda job: run_suite(job[0], job[1], workdir), jobs))
    runs = {run.name: run for run in results}
    reference = runs.pop("reference")
    print(table(reference, gallery, runs))
    problems = judge(reference, gallery, runs)
    if args.json:
        args.json.write_text(json.dumps(_as_json(reference, gallery, runs, problems), indent=2) + "\n")
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    print(f"\nself-check: {'FAILED' if problems else 'passed'}: {len(gallery)} broken implementations, "
          f"{len(problems)} problems")
    return 1 if problems else 0


def _as_json(reference: Run, gallery: list[Broken], runs: dict[str, Run], problems: list[str]) -> dict[str, Any]:
    return {
        "reference": {"seconds": reference.seconds, "exit_code": reference.exit_code},
        "broken": [{"name": b.name, "target": b.target, "declared": sorted(b.catches),
                    "caught_by": runs[b.name].caught_by, "seconds": runs[b.name].seconds} for b in gallery],
        "problems": problems,
    }


if __name__ == "__main__":
    sys.exit(main())
