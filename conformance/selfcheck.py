"""The suite checks itself: the reference must pass, every broken implementation must be caught.

    python -m bgtasks_conformance.selfcheck [--gallery MODULE:ATTRIBUTE] [--jobs N] [--json PATH] [--full]

Runs the spec once per implementation (in parallel subprocesses), then prints a table of which
requirements caught which implementation and how long each run took. The reference runs the whole
suite, both tiers, with the default timeouts; a broken implementation runs the tests of the
requirements it declares (``--full``: the whole suite), without hypothesis's shrinking: in the raw
ASGI tier with short timeouts, and those of the wire-only areas in the wire tier with the default ones.
A second reference (``litestar_app`` by default, when Litestar is installed) runs the whole suite too and
must pass with only the deviations its own expectations file declares; the queue gallery's is ``rq_app`` (RQ), run
in the reference's tier with the same options.
Exits 1 if a reference does not pass, if a broken implementation passes or escapes a requirement
it declares, if a catching test's failure message does not name its requirement and show what was
expected and what was seen, or if a requirement the reference tested is caught by no broken
implementation (a MAY the reference itself does not meet has shown its test can fail already).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.plugin.profiles import current_profile
from bgtasks_conformance.results.outcomes import EXPECTED_FAILURE, INFORMATIONAL, PASSED, SKIPPED, UNTESTED
from bgtasks_conformance.results.registry import REQUIREMENT_MARK, load_registry

DEFAULT_GALLERY = "bgtasks_conformance.sample_app.broken:GALLERY"
REFERENCE = "bgtasks_conformance.sample_app:create_app"
# Second references: independent implementations on other frameworks that must pass too, each with only the
# deviations its own expectations file declares (expected-failure); the framework each needs, to skip it with a
# word when that is not installed (an optional extra).
SECOND_REFERENCES = {"bgtasks_conformance.litestar_app:create_app": "litestar"}
# The queue self-check's (its gallery, the Celery app as its reference): a queue on another engine, run in the
# reference's tier with the same options (--bgtasks-queue), passing with its own defaults.
QUEUE_GALLERY = "bgtasks_conformance.queue_app.broken:GALLERY"
QUEUE_SECOND_REFERENCES = {"bgtasks_conformance.rq_app:create_app": "rq"}
EXTRA_OF = {"rq": "queue"}  # the extra that installs a second reference's package, where not named after it
FAST_TIMEOUTS = ("--bgtasks-wait-timeout", "1", "--bgtasks-gate-timeout", "2")
NOT_CAUGHT = {PASSED, SKIPPED, UNTESTED}
NOT_TESTED = {SKIPPED, UNTESTED}
PROFILE = "bgtasks-selfcheck"
PLUGIN = "bgtasks_conformance.selfcheck"  # this module, by name: run as ``python -m``, its __name__ is "__main__"
WIRE_AREAS = frozenset({"wire", "load", "disconnect", "shutdown"})  # areas whose every test needs a real server
WIRE_JOB = "[wire]"  # the suffix of a broken implementation's wire-tier job

# What a catching test's failure message must show, in the part its author wrote (before pytest's
# "assert ..." explanation and the timeline dump). "came first" and "never happened" are how
# bgtasks_conformance.observe.events.assert_before says what it saw.
EXPECTED = re.compile(r"\bexpected\b", re.IGNORECASE)
SEEN = re.compile(r"\b(?:saw|seen|got)\b|\bcame first\b|\bnever happened\b", re.IGNORECASE)
_AUTHORED_END = re.compile(r"timeline:|^assert ", re.MULTILINE)


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
    messages: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        """The suite ran (exit 0 or 1 with a report), rather than stopping on a usage error."""
        return self.exit_code in (0, 1) and bool(self.outcomes)

    @property
    def caught_by(self) -> list[str]:
        return sorted(rid for rid, outcome in self.outcomes.items() if outcome not in NOT_CAUGHT)


@dataclass(frozen=True)
class Job:
    name: str
    target: str
    options: tuple[str, ...] = ()


def reference_job(target: str, tier: str = "all", options: tuple[str, ...] = ()) -> Job:
    """The whole suite, both tiers, with the default timeouts, so that the reference cannot fail for want of time."""
    return Job("reference", target, ("--bgtasks-tier", tier, *options))


def second_reference_jobs(targets: Sequence[str], options: tuple[str, ...] = (), tier: str = "all"
                          ) -> tuple[list[Job], list[str]]:
    """A job per second reference whose framework is installed (the whole suite, in the reference's tier: both by
    default), and a note per one skipped because it is not."""
    jobs, notes = [], []
    for target in targets:
        needed = {**SECOND_REFERENCES, **QUEUE_SECOND_REFERENCES}.get(target)
        if needed is not None and importlib.util.find_spec(needed) is None:
            notes.append(f"second reference {target} skipped: {needed} is not installed "
                         f"(pip install 'bgtasks-conformance[{EXTRA_OF.get(needed, needed)}]')")
        else:
            jobs.append(Job(f"reference {target.partition(':')[0].rpartition('.')[2]}", target,
                            ("--bgtasks-tier", tier, *options)))
    return jobs, notes


def default_second_references(gallery: str, options: Sequence[str]) -> list[str]:
    """The default gallery's second references (without options), the queue gallery's; none for another gallery."""
    if gallery == DEFAULT_GALLERY:
        return [] if options else list(SECOND_REFERENCES)
    return list(QUEUE_SECOND_REFERENCES) if gallery == QUEUE_GALLERY else []


def judge_second_reference(run: Run) -> str | None:
    """A second reference passes like the reference, but for the expected failures its own file declares."""
    met = {PASSED, INFORMATIONAL, EXPECTED_FAILURE, *NOT_TESTED}
    failing = [rid for rid, outcome in run.outcomes.items() if outcome not in met]
    if run.exit_code == 0 and not failing and run.outcomes:
        return None
    return (f"the second reference {run.target} does not pass with its declarations: exit {run.exit_code}, "
            f"not passed: {', '.join(failing) or '-'}\n{run.output}")


def broken_jobs(broken: Broken, full: bool = False, options: tuple[str, ...] = ()) -> list[Job]:
    """Only the declared requirements' tests unless ``full`` (an escape is a declared requirement that passes),
    without shrinking (which cannot turn a failure into a pass). The raw ASGI tier runs with short timeouts; the
    requirements only a real server can show run in a second job, in the wire tier, with the default timeouts:
    the reference's load does not fit in short ones, so there a short timeout could catch what is not broken."""
    registry = load_registry()
    wire = {rid for rid in broken.catches if rid in registry and registry[rid].area in WIRE_AREAS}
    jobs = []
    for tier, declared, timeouts, name in (("asgi", broken.catches - wire, FAST_TIMEOUTS, broken.name),
                                           ("wire", wire, (), f"{broken.name}{WIRE_JOB}")):
        if declared or full or (tier == "asgi" and not broken.catches):  # declaring nothing is judged after
            selection = () if full else ("-k", " or ".join(sorted(declared)))
            jobs.append(Job(name, broken.target, (*timeouts, "-p", PLUGIN, "--bgtasks-tier", tier, *options,
                                                  *selection)))
    return jobs


def merged(name: str, runs: list[Run]) -> Run:
    """One broken implementation's runs (one per tier) as one."""
    outcomes: dict[str, str] = {}
    for run in runs:
        outcomes |= {rid: outcome for rid, outcome in run.outcomes.items() if outcomes.get(rid) in (None, *NOT_TESTED)}
    first = runs[0]
    return Run(name, first.target, max(run.exit_code for run in runs), sum(run.seconds for run in runs), outcomes,
               "\n".join(run.output for run in runs),
               {rid: [m for run in runs for m in run.messages.get(rid, [])] for rid in outcomes},
               {rid: sum(run.timings.get(rid, 0.0) for run in runs) for rid in outcomes})


def run_suite(job: Job, workdir: Path) -> Run:
    """One pytest run of the spec against the job's target, in a subprocess, with a JSON report."""
    report = workdir / f"{job.name}.json"
    # each run in a directory of its own: the runs beside it write their reports into theirs, which a run's
    # leak check would otherwise find as files written into its working directory
    rundir = workdir / f"{job.name}.cwd"
    rundir.mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "bgtasks_conformance.spec", "-q", "-p", "no:cacheprovider",
        "--bgtasks-target", job.target, "--bgtasks-report", str(report), *job.options,
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=rundir, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    records = json.loads(report.read_text())["requirements"] if report.exists() else []
    return Run(job.name, job.target, done.returncode, seconds, {r["id"]: r["outcome"] for r in records},
               done.stdout[-4000:] + done.stderr[-2000:], {r["id"]: r.get("messages", []) for r in records},
               {r["id"]: r.get("seconds", 0.0) for r in records})


@pytest.hookimpl(trylast=True)  # after the conformance plugin has loaded its hypothesis profile: this one builds on it
def pytest_configure(config: pytest.Config) -> None:
    """As a plugin of a broken run (``-p bgtasks_conformance.selfcheck``): hypothesis reports the first failing
    example it finds instead of shrinking it, which replays it many times, each paying the timeouts; and
    once a test of a requirement has failed, that requirement's other tests are skipped."""
    from hypothesis import Phase, settings

    previous = current_profile()
    settings.register_profile(PROFILE, settings.get_profile(previous),
                              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target])
    settings.load_profile(PROFILE)
    config.add_cleanup(lambda: settings.load_profile(previous))
    config.pluginmanager.register(OncePerRequirement(), "bgtasks-selfcheck-once")


class OncePerRequirement:
    """Skips the tests of a requirement that has caught the implementation already: one failure is a catch,
    the other tests could only add to the time (each failing wait pays its timeout)."""

    def __init__(self) -> None:
        self.caught: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        if "failure" in properties and "requirement" in properties:  # set by the conformance plugin
            self.caught.add(properties["requirement"])

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker(REQUIREMENT_MARK)
        if marker is not None and marker.args[0] in self.caught:
            pytest.skip(f"{marker.args[0]} has caught this implementation already (conformance.selfcheck)")


def _same_as(reference: Run, run: Run) -> set[str]:
    """Requirements whose outcome is the reference's own (a MAY the reference is informational on)."""
    return {rid for rid, outcome in run.outcomes.items() if reference.outcomes.get(rid) == outcome}


def load_gallery(spec: str) -> list[Broken]:
    module_name, _, attribute = spec.partition(":")
    return list(getattr(importlib.import_module(module_name), attribute))


def message_problem(rid: str, message: str) -> str | None:
    """What one failure message lacks: ``ID [LEVEL]: `` first, then, in the part the test's author wrote,
    the word "expected" and what was seen ("saw", "seen", "got", "... came first", "... never happened")."""
    named, _, rest = message.partition("]: ")
    if not named.startswith(f"{rid} [") or not rest:
        return f"does not name {rid}"
    authored = _AUTHORED_END.split(rest, maxsplit=1)[0]
    lacks = [what for what, pattern in (("what was expected", EXPECTED), ("what was seen", SEEN))
             if not pattern.search(authored)]
    return f"does not show {' or '.join(lacks)}" if lacks else None


def judge(reference: Run, gallery: list[Broken], runs: dict[str, Run], areas: frozenset[str] = frozenset()
          ) -> list[str]:
    """Every problem with the results; an empty list means the suite proved itself (``areas``: only the
    requirements of these areas must be caught by some broken implementation, for a gallery of one kind)."""
    problems = []
    met = {PASSED, INFORMATIONAL, *NOT_TESTED}
    failing = [rid for rid, outcome in reference.outcomes.items() if outcome not in met]
    if reference.exit_code != 0 or failing or not reference.outcomes:
        problems.append(f"the reference {reference.target} does not pass: exit {reference.exit_code}, "
                        f"not passed: {', '.join(failing) or '-'}\n{reference.output}")
    registry = load_registry()
    caught_somewhere: set[str] = set()
    for broken in gallery:
        run = runs[broken.name]
        caught = set(run.caught_by) - _same_as(reference, run)
        caught_somewhere |= caught
        unknown = ", ".join(sorted(broken.catches - set(registry)))
        if not broken.catches or unknown:
            problems.append(f"{broken.name} declares {f'unknown requirements {unknown}' if unknown else 'nothing'}")
        if not run.completed:
            problems.append(f"{broken.name}: the suite did not run (exit {run.exit_code}):\n{run.output}")
        elif not caught:
            problems.append(f"{broken.name} passes the whole suite (exit {run.exit_code}):\n{run.output}")
        elif broken.catches - caught:
            problems.append(f"{broken.name} escapes {', '.join(sorted(broken.catches - caught))} "
                            f"(caught by {', '.join(sorted(caught))})")
        problems += [f"{broken.name}: {problem}" for problem in _message_problems(run, caught)]
    tested = {rid for rid, outcome in reference.outcomes.items() if outcome not in NOT_TESTED
              and (not areas or (rid in registry and registry[rid].area in areas))}
    never = sorted(tested - caught_somewhere - proven_by_reference(reference))
    if never:
        problems.append(f"no broken implementation is caught by: {', '.join(never)}")
    return problems


def proven_by_reference(reference: Run) -> set[str]:
    """MAYs the reference itself does not meet: its run has shown that their tests can fail."""
    return {rid for rid, outcome in reference.outcomes.items() if outcome == INFORMATIONAL}


def _message_problems(run: Run, caught: set[str]) -> list[str]:
    problems = []
    for rid in sorted(caught):
        messages = run.messages.get(rid, [])
        if not messages:
            problems.append(f"{rid} caught it without a failure message")
        for message in messages:
            lack = message_problem(rid, message)
            if lack:
                problems.append(f"the failure message of {rid} {lack}:\n{message[:600]}")
    return problems


def table(reference: Run, gallery: list[Broken], runs: dict[str, Run], seconds: Sequence[Run] = ()) -> str:
    rows = [("implementation", "time", "caught by"), ("reference", f"{reference.seconds:.1f}s", "-")]
    rows += [(r.name, f"{r.seconds:.1f}s", "declared: " + (", ".join(
        sorted(rid for rid, o in r.outcomes.items() if o == EXPECTED_FAILURE)) or "-")) for r in seconds]
    rows += [(b.name, f"{runs[b.name].seconds:.1f}s", _caught_cell(runs[b.name])) for b in gallery]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {secs:>6}  {caught}" for name, secs, caught in rows)


def _caught_cell(run: Run) -> str:
    if not run.completed:
        return f"DID NOT RUN (exit {run.exit_code})"
    return ", ".join(run.caught_by) or "NOTHING"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.selfcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--gallery", default=DEFAULT_GALLERY, help="MODULE:ATTRIBUTE of a list of Broken")
    parser.add_argument("--reference", default=REFERENCE, help="the implementation that must pass")
    parser.add_argument("--second-reference", action="append", default=None, metavar="TARGET",
                        help="an implementation that must pass with only the deviations it declares (repeatable; "
                             f"default: {', '.join(SECOND_REFERENCES)}; with the queue gallery: "
                             f"{', '.join(QUEUE_SECOND_REFERENCES)}); --second-reference none for none")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--full", action="store_true",
                        help="run the whole suite against every broken implementation, not only the tests of "
                             "the requirements it declares (slower; the table then shows every catch)")
    parser.add_argument("--reference-tier", default="all", help="the reference's --bgtasks-tier (default all)")
    parser.add_argument("--option", action="append", default=[], metavar="ARG",
                        help="a pytest argument for every run, e.g. --option=--bgtasks-queue (repeat for more)")
    parser.add_argument("--areas", default="", help="comma-separated areas whose every requirement the gallery "
                                                    "must catch (default: every area the reference tests)")
    args = parser.parse_args(argv)
    gallery = load_gallery(args.gallery)
    options = tuple(args.option)
    areas = frozenset(area for area in args.areas.split(",") if area)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bgtasks-selfcheck-") as tmp:
        wanted = [t for t in (args.second_reference or default_second_references(args.gallery, options))
                  if t != "none"]
        second, notes = second_reference_jobs(wanted, options, args.reference_tier)
        jobs = [reference_job(args.reference, args.reference_tier, options), *second]
        jobs += [job for b in gallery for job in broken_jobs(b, args.full, options)]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda job: run_suite(job, Path(tmp)), jobs))
    reference, seconds = results[0], results[1:1 + len(second)]
    broken_runs = results[1 + len(second):]
    runs = {b.name: merged(b.name, [r for r in broken_runs if r.name in (b.name, f"{b.name}{WIRE_JOB}")])
            for b in gallery}
    print(table(reference, gallery, runs, seconds))
    for note in notes:
        print(note)
    problems = [p for p in map(judge_second_reference, seconds) if p] + judge(reference, gallery, runs, areas)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_as_json(reference, gallery, runs, problems, seconds), indent=2) + "\n")
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    print(f"\nself-check: {'FAILED' if problems else 'passed'}: {len(gallery)} broken implementations, "
          f"{len(problems)} problems, {time.monotonic() - started:.0f}s")
    return 1 if problems else 0


def _as_json(reference: Run, gallery: list[Broken], runs: dict[str, Run], problems: list[str],
             seconds: Sequence[Run] = ()) -> dict[str, Any]:
    return {
        "reference": {"target": reference.target, "seconds": reference.seconds, "exit_code": reference.exit_code,
                      "outcomes": reference.outcomes, "proven_by_reference": sorted(proven_by_reference(reference))},
        "broken": [{"name": b.name, "target": b.target, "what": b.what, "declared": sorted(b.catches),
                    "caught_by": runs[b.name].caught_by, "seconds": runs[b.name].seconds,
                    "exit_code": runs[b.name].exit_code,
                    "requirement_seconds": {rid: runs[b.name].timings.get(rid, 0.0) for rid in runs[b.name].caught_by},
                    "messages": {rid: runs[b.name].messages.get(rid, []) for rid in runs[b.name].caught_by}}
                   for b in gallery],
        "second_references": [{"target": r.target, "seconds": r.seconds, "exit_code": r.exit_code,
                               "outcomes": r.outcomes} for r in seconds],
        "problems": problems,
    }


if __name__ == "__main__":
    sys.exit(main())
