"""``python -m bgtasks_conformance.mutation``: the framework mutation score (see the package's docstring).

The baseline runs first: the spec against a copy of the framework whose target files are only round-tripped
through the AST (parse, unparse), and it must pass; then each mutant (or a reproducible ``--sample``).
Exits 0 with the report, 2 on bad input or a baseline that does not pass.
"""

from __future__ import annotations

import argparse
import ast
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bgtasks_conformance.mutation.generate import TARGETS, Mutant, framework_root, mutants, sample
from bgtasks_conformance.mutation.report import summarize, table, to_json
from bgtasks_conformance.mutation.run import SURVIVED, Outcome, Stopped, run_spec, stop_all, stopping


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
    """The command's options; unknown target files are an error naming the known ones."""
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", metavar="PATH", default=list(TARGETS),
                        help=f"target files, relative to site-packages (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--sample", type=_positive(int), metavar="N", help="run N mutants drawn with --seed")
    parser.add_argument("--seed", type=int, default=0,
                        help="the sample's seed (default 0): the same seed, the same mutants")
    parser.add_argument("--jobs", type=_positive(int), default=1, help="parallel spec subprocesses (default 1)")
    parser.add_argument("--timeout", type=_positive(float), default=60.0,
                        help="seconds a mutant's spec run may take; over it the mutant is killed (default 60)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON to PATH")
    args = parser.parse_args(argv)
    unknown = [file for file in args.files if file not in TARGETS]
    if unknown:
        parser.error(f"--files: unknown target(s) {', '.join(unknown)}; choose among {', '.join(TARGETS)}")
    return args


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Baseline, mutants, report; the exit code (130 when interrupted, every run stopped)."""
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():  # a kill stops the runs as Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _measure(args)
    except (KeyboardInterrupt, Stopped):
        stop_all()
        print("bgtasks mutation: interrupted; every run stopped, no report", file=sys.stderr)
        return 130


def _measure(args: argparse.Namespace) -> int:
    """Baseline, mutants, report."""
    started = time.monotonic()
    files: list[str] = list(dict.fromkeys(args.files))
    baseline_sources = {file: ast.unparse(ast.parse((framework_root(file) / file).read_text(encoding="utf-8")))
                        for file in files}
    print(f"baseline: the spec against {', '.join(files)} round-tripped through the AST ...", flush=True)
    baseline = run_spec(baseline_sources, args.timeout)
    if baseline.status != SURVIVED:
        print(f"bgtasks mutation: the baseline must pass but was {baseline.status} ({baseline.detail}); "
              "fix the framework install or the suite before measuring mutants", file=sys.stderr)
        return 2
    every = mutants(files)
    equivalents = [mutant for mutant in every if mutant.equivalent]
    candidates = [mutant for mutant in every if not mutant.equivalent]
    chosen = sample(candidates, args.sample, args.seed)
    print(f"baseline passed in {baseline.seconds:.1f} s; running {len(chosen)} of {len(candidates)} mutants "
          f"({len(equivalents)} equivalent) with {args.jobs} job(s) ...", flush=True)

    def one(mutant: Mutant) -> tuple[Mutant, Outcome]:
        outcome = run_spec({mutant.file: mutant.source}, args.timeout)
        if stopping():
            raise Stopped
        print(f"  {outcome.status:8} {mutant.file}:{mutant.line} {mutant.operator} ({outcome.seconds:.1f} s)",
              flush=True)
        return mutant, outcome

    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        ran = list(pool.map(one, chosen))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    summary = summarize(files, ran, equivalents)
    print()
    print(table(summary, ran, equivalents))
    wall = time.monotonic() - started
    print(f"\nwall time {wall:.1f} s")
    if args.json is not None:
        meta = {"starlette": _version("starlette"), "fastapi": _version("fastapi"), "files_selected": files,
                "sample": args.sample, "seed": args.seed, "jobs": args.jobs, "timeout": args.timeout,
                "mutants_total": len(candidates), "mutants_run": len(ran),
                "baseline_seconds": round(baseline.seconds, 2), "wall_seconds": round(wall, 2)}
        args.json.write_text(json.dumps(to_json(summary, ran, equivalents, meta), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
