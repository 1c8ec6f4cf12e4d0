"""``python -m bgtasks_conformance.mutation``: the framework mutation score (see the package's docstring).

Steps: the selection (which functions of which files, and why) is printed; each suite runs once under
coverage on the unmutated framework, its target files round-tripped through the AST as every mutant's are
(which test runs which line; the baseline: a test failing there is excluded and named); then each
mutant (or a reproducible ``--sample``) runs, per suite, only the tests that execute its lines, the fastest
first, stopping at the first failure. Exits 0 with the report, 1 when a run could not judge its mutant, 2 on
bad input, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bgtasks_conformance.mutation.equivalents import judge
from bgtasks_conformance.mutation.generate import TARGETS, Mutant, framework_root, mutants, sample
from bgtasks_conformance.mutation.reach import Reach, measure
from bgtasks_conformance.mutation.report import SPEC, Results, markdown, summarize, table, to_json
from bgtasks_conformance.mutation.run import (
    ERROR,
    NOT_REACHED,
    SURVIVED,
    Outcome,
    Stopped,
    Suite,
    run_tests,
    spec_suite,
    stop_all,
    stopping,
)
from bgtasks_conformance.mutation.suites import cache_dir, prepare


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a positive number of ``kind``."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value
    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command's options; unknown target files or frameworks are an error naming the known ones."""
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", metavar="PATH", default=list(TARGETS),
                        help=f"target files, relative to site-packages (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--sample", type=_positive(int), metavar="N", help="run N mutants drawn with --seed")
    parser.add_argument("--all", action="store_true", help="run every mutant (the default; overrides --sample)")
    parser.add_argument("--at", nargs="+", metavar="FILE:LINE", default=[],
                        help="only the mutants at these places (e.g. starlette/responses.py:285): a requirement's "
                             "kills checked in a minute; the file must be among --files")
    parser.add_argument("--seed", type=int, default=0,
                        help="the sample's seed (default 0): the same seed, the same mutants")
    parser.add_argument("--jobs", type=_positive(int), default=1, help="parallel test runs (default 1)")
    parser.add_argument("--timeout", type=_positive(float), default=60.0,
                        help="the least seconds a mutant's run may take (it gets 4 times its tests' baseline "
                             "seconds plus 30 when that is more); over it the mutant is killed (default 60)")
    parser.add_argument("--against", metavar="FRAMEWORKS", default="",
                        help="also run each mutant against these frameworks' own test suites (comma-separated: "
                             "starlette,fastapi), each on its own files: the release's sdist tests in a throwaway "
                             "environment under --cache")
    parser.add_argument("--cache", metavar="DIR", help="where --against keeps the frameworks' test environments "
                        "(default $BGTASKS_MUTATION_CACHE or ~/.cache/bgtasks-conformance/mutation)")
    parser.add_argument("--max-minutes", type=_positive(float), metavar="M",
                        help="start no mutant's run after M minutes; the report counts the mutants measured by "
                             "then (they are run in an order drawn with --seed: a random sample)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the per-file table as Markdown")
    args = parser.parse_args(argv)
    unknown = [file for file in args.files if file not in TARGETS]
    if unknown:
        parser.error(f"--files: unknown target(s) {', '.join(unknown)}; choose among {', '.join(TARGETS)}")
    args.places = set()
    for place in args.at:
        file, _, line = place.rpartition(":")
        if file not in args.files or not line.isdigit():
            parser.error(f"--at: expected FILE:LINE with FILE among {', '.join(args.files)}, got {place!r}")
        args.places.add((file, int(line)))
    args.frameworks = [name.strip() for name in args.against.split(",") if name.strip()]
    bad = [name for name in args.frameworks if name not in ("starlette", "fastapi")]
    if bad:
        parser.error(f"--against: unknown framework(s) {', '.join(bad)}; choose among starlette, fastapi")
    if args.all:
        args.sample = None
    return args


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Selection, maps, baselines, mutants, report; the exit code (130 when interrupted, every run stopped)."""
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():  # a kill stops the runs as Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _measure(args)
    except (KeyboardInterrupt, Stopped):
        stop_all()
        print("bgtasks mutation: interrupted; every run stopped, no report", file=sys.stderr)
        return 130


def _selection(files: list[str], every: list[Mutant]) -> str:
    """The selection, printed first: per file, each part (function, statements, why) and its mutant count."""
    lines = ["selection (bgtasks_conformance/mutation/selection.py):"]
    for file in files:
        lines.append(f"  {file}: {sum(mutant.file == file for mutant in every)} mutants")
        for part in TARGETS[file]:
            count = sum(mutant.file == file and (part.function in ("*", mutant.function)) for mutant in every)
            lines.append(f"    - {part.describe()} [{count}]")
    return "\n".join(lines)


def _reach(suite: Suite, files: list[str], timeout: float) -> Reach:
    """A suite's coverage map; a framework suite's is kept next to its environment (it takes minutes)."""
    if suite.cwd is None:
        return measure(suite, files, timeout)
    cached = suite.cwd.parent / f"reach-{hashlib.sha256(' '.join(files).encode()).hexdigest()[:10]}.json"
    if cached.is_file():
        return Reach.from_json(json.loads(cached.read_text(encoding="utf-8")))
    reach = measure(suite, files, timeout)
    cached.write_text(json.dumps(reach.to_json()), encoding="utf-8")
    return reach


# A mutant's tests run in two batches: the FIRST fastest, then (if they all pass) the rest: most mutants that
# are killed are killed early, and a small batch collects only a few test files (FastAPI's collection of
# hundreds of files takes a minute).
FIRST = 25


def _budget(reach: Reach, tests: list[str], floor: float) -> float:
    return max(floor, 4 * sum(reach.seconds[test] for test in tests) + 30)


def _measure(args: argparse.Namespace) -> int:
    """Selection, maps, baselines, mutants, report."""
    started = time.monotonic()
    files: list[str] = list(dict.fromkeys(args.files))
    every = mutants(files)
    judge(every, {file: (framework_root(file) / file).read_text(encoding="utf-8") for file in files})
    print(_selection(files, every), flush=True)
    equivalents = [mutant for mutant in every if mutant.equivalent]
    candidates = [mutant for mutant in every if not mutant.equivalent]
    if args.places:
        candidates = [mutant for mutant in candidates if (mutant.file, mutant.line) in args.places]
        if not candidates:
            print(f"bgtasks mutation: --at: no mutant at {', '.join(args.at)} (is the line a mutated statement's "
                  f"first line? the selection above lists the functions mutated)", file=sys.stderr)
            return 2
    chosen = sample(candidates, args.sample, args.seed)

    suites: list[tuple[Suite, list[str]]] = [(spec_suite(), files)]
    for framework in args.frameworks:
        owned = [file for file in files if file.startswith(framework + "/")]
        if owned:
            suites.append((prepare(framework, cache_dir(args.cache)), owned))
    owners = {suite.name: owned for suite, owned in suites if suite.name != SPEC}
    reaches: dict[str, Reach] = {}
    per_mutant: dict[str, list[tuple[Suite, Mutant, list[str]]]] = {mutant.id: [] for mutant in chosen}
    results: Results = {suite.name: {} for suite, _ in suites}
    chosen_by_function: set[tuple[str, str]] = set()  # (suite, mutant): coverage saw none of its lines run
    for suite, owned in suites:
        print(f"mapping which {suite.name} tests run which lines (coverage, once) ...", flush=True)
        reach = reaches[suite.name] = _reach(suite, owned, max(args.timeout, 3600))
        print(f"  {len(reach.seconds)} tests in {reach.wall:.1f} s"
              + (f"; failing without any mutant, excluded: {', '.join(sorted(reach.failed))}"
                 if reach.failed else ""), flush=True)
        mine = [mutant for mutant in chosen if mutant.file in owned]
        for mutant in mine:
            tests, by_function = reach.tests_for_mutant(mutant)
            if by_function:
                chosen_by_function.add((suite.name, mutant.id))
            if tests:
                per_mutant[mutant.id].append((suite, mutant, tests))
            else:
                results[suite.name][mutant.id] = Outcome(NOT_REACHED, 0.0, "no test runs the mutated lines")
    # mutant by mutant (each one's suites together), in an order drawn with the seed: a run stopped by
    # --max-minutes has measured a random sample of the mutants, each against every suite
    order = list(chosen)
    random.Random(args.seed).shuffle(order)
    jobs = [job for mutant in order for job in per_mutant[mutant.id]]
    deadline = started + args.max_minutes * 60 if args.max_minutes else None
    print(f"running {len(chosen)} of {len(candidates)} mutants ({len(equivalents)} equivalent) against "
          f"{', '.join(suite.name for suite, _ in suites)}: {len(jobs)} runs with {args.jobs} job(s) ...",
          flush=True)

    def one(job: tuple[Suite, Mutant, list[str]]) -> None:
        suite, mutant, tests = job
        if deadline is not None and time.monotonic() > deadline:
            return
        reach, source = reaches[suite.name], {mutant.file: mutant.source}
        # the fastest few first, whose files collect quickly; the rest only if they all pass
        outcome = run_tests(suite, source, tests[:FIRST], _budget(reach, tests[:FIRST], args.timeout))
        if outcome.status == SURVIVED and tests[FIRST:]:
            rest = run_tests(suite, source, tests[FIRST:], _budget(reach, tests[FIRST:], args.timeout))
            outcome = Outcome(rest.status, outcome.seconds + rest.seconds, rest.detail)
        outcome.tests = len(tests)
        how = "tests selected"
        if (suite.name, mutant.id) in chosen_by_function:
            how = "tests of its function selected: coverage recorded none of its lines"
            outcome.detail = f"{outcome.detail} ({how})".strip()
        if stopping():
            raise Stopped
        results[suite.name][mutant.id] = outcome
        print(f"  {suite.name:9} {outcome.status:8} {mutant.file}:{mutant.line} {mutant.operator} "
              f"({len(tests)} {how}, {outcome.seconds:.1f} s)", flush=True)

    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        list(pool.map(one, jobs))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    names = [suite.name for suite, _ in suites]
    finished = [mutant for mutant in chosen if all(mutant.id in results[suite.name]
                                                     for suite, owned in suites if mutant.file in owned)]
    if len(finished) < len(chosen):
        print(f"\n--max-minutes {args.max_minutes:g} reached: {len(finished)} of {len(chosen)} mutants measured "
              f"(a random sample of them, drawn with seed {args.seed}); the report counts those", flush=True)
    chosen = finished
    summary = summarize(files, chosen, equivalents, results, owners)
    print()
    print(table(summary, names, chosen, equivalents, results))
    wall = time.monotonic() - started
    versions = f"Starlette {_version('starlette')}, FastAPI {_version('fastapi')}"
    print(f"\n{versions}; {len(chosen)} mutants, {len(jobs)} runs; wall time {wall:.1f} s")
    meta = {"starlette": _version("starlette"), "fastapi": _version("fastapi"), "files_selected": files,
            "selection": {file: [part.describe() for part in TARGETS[file]] for file in files},
            "sample": args.sample, "seed": args.seed, "jobs": args.jobs, "timeout": args.timeout,
            "suites": names, "mutants_total": len(candidates), "mutants_run": len(chosen),
            "max_minutes": args.max_minutes,
            "tests_excluded": {name: sorted(reach.failed) for name, reach in reaches.items()},
            "wall_seconds": round(wall, 2)}
    for path in (args.json, args.markdown):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(summary, chosen, equivalents, results, meta), indent=2) + "\n",
                             encoding="utf-8")
    if args.markdown is not None:
        args.markdown.write_text(markdown(summary, names) + "\n", encoding="utf-8")
    unjudged = sum(outcome.status == ERROR for suite in results.values() for outcome in suite.values())
    if unjudged:
        print(f"bgtasks mutation: {unjudged} run(s) could not judge their mutant (listed above): the selected tests "
              "were not collected; the selection is out of step with the suite", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
