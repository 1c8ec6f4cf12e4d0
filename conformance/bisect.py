"""Release bisect: the first release of a framework where the suite's outcome or observed behaviour changes.

``python -m bgtasks_conformance.bisect --package starlette --from 0.20.0 --to 0.40.0 -k POST-006`` lists the
releases in the range, installs each one it needs into a cached uv environment (beside the suite's wheel;
see :mod:`bgtasks_conformance.release_envs`), runs the selected requirements there, and halves the range
until two neighbouring releases differ: about log2 of the range's size in environments, not all of them.
It prints the boundary and both sides as ``compare`` does, and how many environments it needed.
``--all`` goes on from each boundary to the end of the range, finding every change in it; ``--every N`` tries
every N-th release first, so that a change that is reverted inside the range (invisible from its two ends)
shows too, at the cost of ``range / N`` more environments.

A Starlette bisect runs the Starlette-only app (``starlette_app``) without FastAPI, since no FastAPI release
allows a wide range of Starlette; give ``--with fastapi==X`` to keep FastAPI (and the sample app) instead.
Arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgtasks_conformance.compare import compare, render, version_changes
from bgtasks_conformance.release_envs import Setup, SetupFailed, cache_dir, releases

STARLETTE_APP = "bgtasks_conformance.starlette_app:create_app"
SAMPLE_EXPECTATIONS = "sample_app/expectations.toml"

Report = Mapping[str, Any]


def differs(old: Report, new: Report) -> bool:
    """Whether two reports differ in any requirement's outcome, variants, observed behaviour or declared reason."""
    return bool(compare(old, new))


@dataclass
class Search:
    """Binary search over ordered releases for the first whose report differs from the release before it.

    ``report_of`` runs (or fetches) a release's report, ``None`` when that release cannot be installed: such a
    release is left out and the search goes on without it. Each release is evaluated at most once.
    """

    versions: Sequence[str]
    report_of: Callable[[str], Report | None]
    same: Callable[[Report, Report], bool] = lambda a, b: not differs(a, b)
    reports: dict[str, Report] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def _get(self, version: str) -> Report | None:
        if version not in self.reports and version not in self.skipped:
            report = self.report_of(version)
            if report is None:
                self.skipped.append(version)
            else:
                self.reports[version] = report
        return self.reports.get(version)

    def _usable(self, candidates: list[str], index: int, step: int) -> int | None:
        """The nearest index from ``index`` in direction ``step`` whose release installs (None: none left)."""
        while 0 <= index < len(candidates):
            if self._get(candidates[index]) is not None:
                return index
            index += step
        return None

    def first_change(self, start: int = 0, end: int | None = None) -> tuple[str, str] | None:
        """(last release like ``versions[start]``, first release unlike it) up to ``versions[end]`` (default: the
        last), or None if the two ends agree: one change in the segment is found in about log2 of its length."""
        candidates = list(self.versions)
        end = len(candidates) - 1 if end is None else end
        lo = self._usable(candidates, start, +1)
        hi = self._usable(candidates, end, -1)
        if lo is None or hi is None or hi <= lo:
            return None
        if self.same(self.reports[candidates[lo]], self.reports[candidates[hi]]):
            return None  # the ends agree (a change and its revert in between would not show: see --every)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            found = self._usable(candidates, mid, +1)
            if found is None or found >= hi:
                found = self._usable(candidates, mid, -1)
                if found is None or found <= lo:
                    break  # nothing installable strictly between lo and hi
            if self.same(self.reports[candidates[lo]], self.reports[candidates[found]]):
                lo = found
            else:
                hi = found
        return candidates[lo], candidates[hi]

    def changes(self, every: int | None = None, first_only: bool = False) -> list[tuple[str, str]]:
        """The boundaries, oldest first. The range is cut into segments of ``every`` releases (default: one segment,
        its two ends), so that a change and its revert further apart than ``every`` both show; each segment whose
        ends differ is bisected, and again from each boundary to the segment's end unless ``first_only``."""
        last = len(self.versions) - 1
        step = max(1, every or last)
        cuts = sorted({*range(0, last, step), last})
        boundaries: list[tuple[str, str]] = []
        for start, end in itertools.pairwise(cuts):
            while (found := self.first_change(start, end)) is not None:
                boundaries.append(found)
                if first_only:
                    return boundaries
                start = list(self.versions).index(found[1])
        return boundaries

    def every_change(self) -> list[tuple[str, str]]:
        return self.changes()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.bisect", description=__doc__.split("\n")[0])
    parser.add_argument("--package", required=True, help="the distribution to bisect: starlette, fastapi, ...")
    parser.add_argument("--from", dest="low", required=True, help="the oldest release of the range (included)")
    parser.add_argument("--to", dest="high", required=True, help="the newest release of the range (included)")
    parser.add_argument("-k", dest="keyword", help="pytest's -k: the requirements to run, e.g. POST-006 or DEPS")
    parser.add_argument("--target", help="the implementation (default: the sample app; starlette_app for a "
                                         "Starlette bisect without --with fastapi==...)")
    parser.add_argument("--expectations", help=f"an expectations file (default for starlette_app: {SAMPLE_EXPECTATIONS}"
                                               " of the checkout, the upstream bugs the sample app declares)")
    parser.add_argument("--with", dest="pins", action="append", default=[], metavar="REQUIREMENT",
                        help="another requirement in every environment, e.g. --with fastapi==0.114.2 (repeatable)")
    parser.add_argument("--tier", choices=("asgi", "wire", "all"), default="asgi", help="the suite's tier (asgi)")
    parser.add_argument("--versions", help="the releases to consider, comma-separated (default: ask the index)")
    parser.add_argument("--all", action="store_true", help="find every boundary in the range, not only the first")
    parser.add_argument("--every", type=int, default=None, metavar="N",
                        help="also try every N-th release first, so that a change reverted within the range shows "
                             "(default: only the two ends; a bisect assumes one change between them)")
    parser.add_argument("--suite", type=Path, default=Path.cwd(), help="the suite's checkout (default: here)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="where environments and reports are kept (default $BGTASKS_CACHE or "
                             "~/.cache/bgtasks-conformance)")
    parser.add_argument("--rerun", action="store_true", help="run the suite again where a report is cached")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    return parser


def setup_from(args: argparse.Namespace) -> Setup:
    suite = args.suite.resolve()
    if not (suite / "pyproject.toml").is_file() or not (suite / "conformance").is_dir():
        raise SystemExit(f"the bisect builds the suite from its checkout; {suite} is not one (give --suite PATH)")
    keeps_fastapi = any(pin.replace(" ", "").lower().startswith("fastapi") for pin in args.pins)
    starlette_only = args.package == "starlette" and not keeps_fastapi
    target = args.target or (STARLETTE_APP if starlette_only else None)
    pytest_args = ["--bgtasks-tier", args.tier, "--bgtasks-wait-timeout", "2"]
    if target:
        pytest_args += ["--bgtasks-target", target]
    expectations = args.expectations or (str(suite / SAMPLE_EXPECTATIONS) if target == STARLETTE_APP else None)
    if expectations:
        pytest_args += ["--bgtasks-expectations", str(Path(expectations).resolve())]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    return Setup(package=args.package, suite=suite, cache=(args.cache or cache_dir()).resolve(),
                 pins=tuple(args.pins), drop=("fastapi",) if starlette_only else (),
                 pytest_args=(*pytest_args, *args.pytest_args), rerun=args.rerun)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup = setup_from(args)
    listed = [v.strip() for v in args.versions.split(",")] if args.versions else None
    versions = releases(args.package, args.low, args.high, listed)
    if len(versions) < 2:
        raise SystemExit(f"{args.package} has {len(versions)} release(s) from {args.low} to {args.high}; need two")
    print(f"bisect: {args.package} {versions[0]} .. {versions[-1]}: {len(versions)} releases; "
          f"pytest {' '.join(setup.pytest_args)}")
    print(f"  environments under {setup.cache}")

    def report_of(version: str) -> Report | None:
        print(f"  trying {args.package} {version} ...", flush=True)
        try:
            report = setup.report(version)
        except SetupFailed as error:
            print(f"    left out: {str(error).splitlines()[0]}")
            return None
        print(f"    {', '.join(f'{n} {k}' for k, n in sorted(report.get('summary', {}).items()))}")
        return report

    search = Search(versions, report_of)
    boundaries = search.changes(args.every, first_only=not args.all)
    tried = len(search.reports) + len(search.skipped)
    if not boundaries:
        print(f"no change from {versions[0]} to {versions[-1]} in what was run (the two ends agree; a change "
              "and its revert in between would not show)")
    for old_version, new_version in boundaries:
        old, new = search.reports[old_version], search.reports[new_version]
        print(f"\nboundary: {args.package} {old_version} -> {new_version}")
        print(render(compare(old, new), version_changes(old, new)), end="")
    print(f"\n{tried} of {len(versions)} releases tried ({setup.built['created']} environments created, "
          f"{setup.built['reused']} reused, {setup.built['runs']} suite runs, {setup.built['cached']} reports from "
          f"the cache){'; left out (not installable): ' + ', '.join(search.skipped) if search.skipped else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
