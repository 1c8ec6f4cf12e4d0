"""The version matrix: the conformance suite in one tox environment per era of FastAPI behaviour.

``python -m bgtasks_conformance.matrix [--jobs 2] [--out DIR] [--envs NAME,...] [--recreate] [--render-only]``
runs the ``matrix-*`` environments of tox.ini in parallel, each writing its JSON report to
``DIR/reports/ENV.json``, then writes ``DIR/matrix.md`` and ``DIR/matrix.html``: one row per
requirement, one column per environment. It exits 1 when an environment has a failing requirement
(failed, target-error, harness-error) or wrote no report. Arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgtasks_conformance.compare import declared
from bgtasks_conformance.results.outcomes import (
    EXPECTED_FAILURE,
    FAILED,
    HARNESS_ERROR,
    PASSED,
    TARGET_ERROR,
    UNTESTED,
)
from bgtasks_conformance.results.report import suite_commit

ROOT = Path.cwd()  # the matrix runs from a checkout of the suite (its tox.ini), not from the installed package
DIR_VARIABLE = "BGTASKS_MATRIX_DIR"  # tox.ini writes the reports to {env:BGTASKS_MATRIX_DIR}/ENV.json
FAILING = frozenset({FAILED, TARGET_ERROR, HARNESS_ERROR})
NO_REPORT = "no report"  # the environment wrote no report (install or collection failed)
ABSENT = "absent"  # the report does not know the requirement (an older suite)
SHOWN_VERSIONS = ("fastapi", "starlette", "pydantic")

# The matrix environments of tox.ini and what each column stands for.
ENVS: dict[str, str] = {
    "matrix-fastapi0105": "FastAPI < 0.106: yield-dependency exit after the tasks; Starlette 0.27",
    "matrix-fastapi0117": "FastAPI 0.106 - 0.117: yield-dependency exit before the response",
    "matrix-fastapi0120": "FastAPI 0.118 - 0.120: exit after the tasks again",
    "matrix-fastapi0121": "FastAPI >= 0.121: Depends(scope='function')",
    "matrix-newest": "the newest FastAPI and Starlette",
    "matrix-lowstarlette": "the newest FastAPI with the lowest Starlette it allows",
    "matrix-starlette0204": "Starlette 0.20.4 alone (the Starlette-only app): BaseHTTPMiddleware cancels async tasks",
    "matrix-starlette0210": "Starlette 0.21.0 alone: the cancellation fixed",
    "matrix-starlette0384": "Starlette 0.38.4: a background set in dispatch() is dropped",
    "matrix-starlette0385": "Starlette 0.38.5: restored",
    "matrix-starlette0453": "Starlette 0.45.3: the last that swallows task exceptions behind BaseHTTPMiddleware",
    "matrix-starlette0170": "Starlette 1.7.0: the slow-send race behind BaseHTTPMiddleware fixed (1.6 has it)",
}
# The order of the columns on the page: by Starlette, then FastAPI (the envs above are in tox.ini's order).
COLUMN_ORDER = ("matrix-starlette0204", "matrix-starlette0210", "matrix-fastapi0105", "matrix-starlette0384",
                "matrix-starlette0385", "matrix-starlette0453", "matrix-fastapi0117", "matrix-fastapi0120",
                "matrix-fastapi0121", "matrix-lowstarlette", "matrix-starlette0170", "matrix-newest")


@dataclass
class Cell:
    outcome: str
    observed: dict[str, Any] = field(default_factory=dict)
    declared: str = ""  # the reason of a declared expected failure
    link: str = ""
    unexpected_pass: bool = False  # a test passed although an expectation declared it failing
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # the tests that did not pass, by name

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING or self.outcome == NO_REPORT


@dataclass
class Column:
    env: str
    era: str
    report: dict[str, Any] | None

    @property
    def label(self) -> str:
        return self.env.removeprefix("matrix-")

    @property
    def versions(self) -> dict[str, str]:
        return dict((self.report or {}).get("header", {}).get("versions", {}))

    def version_line(self, sep: str = " · ") -> str:
        if self.report is None:
            return NO_REPORT
        return sep.join(f"{name} {self.versions.get(name, '?')}" for name in SHOWN_VERSIONS)

    def summary(self) -> str:
        if self.report is None:
            return "no report: see tox.log"
        counts = self.report.get("summary", {})
        return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


@dataclass
class Row:
    id: str
    level: str
    sentence: str
    cells: dict[str, Cell]
    observed_diff: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> env -> value
    area: str = ""

    @property
    def differs(self) -> bool:
        """Worth a look: the outcome is not the same everywhere, behaviour differs, or something is not green."""
        outcomes = {cell.outcome for cell in self.cells.values()}
        return (len(outcomes) > 1 or bool(self.observed_diff) or any(c.failing or c.unexpected_pass
                                                                       for c in self.cells.values()))


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[Row]
    wall_seconds: float | None = None
    jobs: int | None = None
    commit: str | None = None  # the suite's checkout, when the reports' copies cannot tell

    def failing_envs(self) -> list[str]:
        return [c.env for c in self.columns
                if c.report is None or any(row.cells[c.env].failing for row in self.rows)]

    @property
    def ok(self) -> bool:
        return not self.failing_envs()


_LINK = re.compile(r"\s*<(https?://[^>\s]+)>\s*$")
_GITHUB = re.compile(r"https://github\.com/([^/]+)/([^/]+)/(?:pull|issues)/(\d+)")


def split_declared(text: str) -> tuple[str, str]:
    """``"reason (ranges) <link>"`` (an expectation's description) as (reason with ranges, link)."""
    match = _LINK.search(text)
    return (text[: match.start()].strip(), match.group(1)) if match else (text.strip(), "")


def short_link(url: str) -> str:
    """``owner/repo#123`` for a GitHub issue or pull request, else the URL."""
    match = _GITHUB.match(url)
    return f"{match.group(1)}/{match.group(2)}#{match.group(3)}" if match else url


def _cell(record: Mapping[str, Any] | None, has_report: bool) -> Cell:
    if not has_report:
        return Cell(NO_REPORT)
    if record is None:
        return Cell(ABSENT)
    cell = Cell(record["outcome"], dict(record.get("observed") or {}))
    if cell.outcome == EXPECTED_FAILURE:
        cell.declared, cell.link = split_declared(declared(record))
    variants = record.get("variants") or {}
    cell.unexpected_pass = any(v.get("unexpected_pass") for v in variants.values()) or (
        cell.outcome == PASSED and any(str(d).startswith("unexpected pass") for d in record.get("details") or []))
    cell.variants = {name: dict(v) for name, v in variants.items() if v.get("outcome") != PASSED}
    return cell


def _observed_diff(cells: Mapping[str, Cell]) -> dict[str, dict[str, Any]]:
    """Observed keys whose values differ between the environments that observed them (a skipped test, or one
    that does not apply there, observes nothing: no difference)."""
    seen = {env: cell.observed for env, cell in cells.items() if cell.outcome not in (NO_REPORT, ABSENT)}
    keys = sorted({key for observed in seen.values() for key in observed})
    diff = {}
    for key in keys:
        values = {env: observed[key] for env, observed in seen.items() if key in observed}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            diff[key] = values
    return diff


def build_matrix(reports: Mapping[str, Mapping[str, Any] | None], eras: Mapping[str, str] | None = None,
                 *, wall_seconds: float | None = None, jobs: int | None = None,
                 commit: str | None = None) -> Matrix:
    """Rows of requirements, columns of environments (in the order given); ``None``: no report."""
    eras = ENVS if eras is None else eras
    columns = [Column(env, eras.get(env, ""), dict(report) if report is not None else None)
               for env, report in reports.items()]
    records: dict[str, dict[str, Mapping[str, Any]]] = {}
    for column in columns:
        for record in (column.report or {}).get("requirements", []):
            records.setdefault(record["id"], {})[column.env] = record
    rows = []
    for rid in sorted(records):
        first = next(iter(records[rid].values()))
        cells = {c.env: _cell(records[rid].get(c.env), c.report is not None) for c in columns}
        rows.append(Row(rid, first.get("level", ""), first.get("sentence", ""), cells, _observed_diff(cells),
                        first.get("area", rid.split("-")[0].lower())))
    return Matrix(columns, rows, wall_seconds, jobs, commit)


# -- rendering ------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _verdict(matrix: Matrix) -> str:
    untested = sorted({row.id for row in matrix.rows for cell in row.cells.values() if cell.outcome == UNTESTED})
    note = f" ({len(untested)} requirements untested in some environment: {', '.join(untested)})" if untested else ""
    if matrix.ok:
        return "every environment meets every requirement it tested, or declares a known upstream bug" + note
    return "failing: " + ", ".join(matrix.failing_envs()) + note


def _run_line(matrix: Matrix) -> str:
    header = next((c.report["header"] for c in matrix.columns if c.report), {})
    commit = header.get("suite_commit", "unknown")
    commit = matrix.commit if commit == "unknown" and matrix.commit else commit
    targets: dict[str, list[str]] = {}
    for column in matrix.columns:
        if column.report:
            targets.setdefault(column.report["header"].get("target", "?"), []).append(column.env)
    if len(targets) > 1:  # the Starlette-only columns run another app: say which column runs which
        named = [f"`{target}` ({', '.join(env.removeprefix('matrix-') for env in envs)})"
                 for target, envs in targets.items()]
        parts = ["targets " + "; ".join(named)]
    else:
        parts = [f"target `{next(iter(targets), '?')}`"]
    parts.append(f"suite commit `{commit}`")
    if matrix.wall_seconds is not None:
        jobs = f" with {matrix.jobs} parallel jobs" if matrix.jobs else ""
        parts.append(f"ran in {_duration(matrix.wall_seconds)}{jobs}")
    return " · ".join(parts)


def _value(value: Any) -> str:
    """The whole value (never cut: the field that differs may be at its end)."""
    return json.dumps(value, default=str)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_row(first: str, second: str, cells: Iterable[str]) -> str:
    return "| " + " | ".join([first, second, *cells]) + " |"


def _md_head(column: Column) -> str:
    return f"**{column.label}**<br>{column.version_line('<br>')}"


def _md_cell(cell: Cell) -> str:
    text = f"**{cell.outcome}**" if cell.failing else cell.outcome  # the word alone: no mark repeating it
    if cell.unexpected_pass:
        text += " (unexpected: an expected failure was declared)"
    if cell.declared:
        text += f"<br>{_md(cell.declared)}"
    if cell.link:
        text += f" [{short_link(cell.link)}]({cell.link})"
    return text


def render_markdown(matrix: Matrix) -> str:
    verdict = "OK:" if matrix.ok else "NOT OK:"
    lines = [
        "# Background-task conformance: version matrix",
        "",
        f"{verdict} {_verdict(matrix)}",
        "",
        _run_line(matrix),
        "",
        _md_row("requirement", "level", [_md_head(c) for c in matrix.columns]),
        "| --- | --- |" + " --- |" * len(matrix.columns),
        _md_row("*era*", "", [_md(c.era) for c in matrix.columns]),
        _md_row("*summary*", "", [c.summary() for c in matrix.columns]),
    ]
    for row in matrix.rows:
        lines.append(_md_row(row.id, row.level, [_md_cell(row.cells[c.env]) for c in matrix.columns]))
    differing = [row for row in matrix.rows if row.observed_diff]
    if differing:
        lines += ["", "## Observed behaviour that differs between environments", ""]
        for row in differing:
            for key, values in row.observed_diff.items():
                sides = [f"{env.removeprefix('matrix-')} `{_md(_value(v))}`" for env, v in values.items()]
                lines.append(f"- **{row.id}** `{_md(key)}`: " + " · ".join(sides))
    lines += ["", "Outcomes in **bold** fail the run; `absent`: the suite that wrote the report did not know the "
              "requirement; `no report`: the environment wrote none."]
    return "\n".join(lines) + "\n"


def render_html(matrix: Matrix) -> str:
    """The page: one compact grid (:mod:`bgtasks_conformance.matrix_html`)."""
    from bgtasks_conformance.matrix_html import render_page

    return render_page(matrix)


# -- running --------------------------------------------------------------------------------------
def tox_command(envs: Sequence[str], jobs: int, *, recreate: bool = False,
                pytest_args: Sequence[str] = ()) -> list[str]:
    """The one tox invocation that runs ``envs``, ``jobs`` at a time."""
    if importlib.util.find_spec("tox") is not None:
        tox = [sys.executable, "-m", "tox"]
    elif shutil.which("tox"):
        tox = ["tox"]
    else:
        raise SystemExit("the version matrix needs tox and tox-uv: python -m pip install tox tox-uv")
    command = [*tox, "-p", str(jobs), "--parallel-no-spinner", "-e", ",".join(envs)]
    if recreate:
        command.append("-r")
    if pytest_args:
        command += ["--", *pytest_args]
    return command


def run_tox(command: Sequence[str], reports_dir: Path, log: Path) -> int:
    """Run tox from the checkout, echoing its output and keeping it in ``log``; its exit status."""
    environ = {**os.environ, DIR_VARIABLE: str(reports_dir)}
    with log.open("w") as sink, subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sink.write(line)
    return process.returncode


def load_reports(reports_dir: Path, envs: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    reports: dict[str, dict[str, Any] | None] = {}
    for env in envs:
        path = reports_dir / f"{env}.json"
        try:
            reports[env] = json.loads(path.read_text()) if path.is_file() else None
        except json.JSONDecodeError:
            reports[env] = None
    return reports


def write_matrix(matrix: Matrix, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    markdown, page = out / "matrix.md", out / "matrix.html"
    markdown.write_text(render_markdown(matrix))
    page.write_text(render_html(matrix))
    return markdown, page


def _envs(value: str) -> list[str]:
    names = [n if n.startswith("matrix-") else f"matrix-{n}" for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENVS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown environments {unknown}; known: {', '.join(ENVS)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.matrix", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="environments run at once (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / ".tox" / "matrix",
                        help="where reports/, tox.log, matrix.md and matrix.html go (default .tox/matrix)")
    parser.add_argument("--envs", type=_envs, default=list(COLUMN_ORDER), help="a subset, e.g. fastapi0105,newest")
    parser.add_argument("--recreate", action="store_true", help="rebuild the environments (newest versions)")
    parser.add_argument("--render-only", action="store_true", help="only render the reports already there")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest in every environment")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not (ROOT / "tox.ini").is_file():
        parser.error(f"the matrix runs from a checkout of the suite; no tox.ini in {ROOT}")
    out: Path = args.out.resolve()
    reports_dir = out / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    status, seconds = 0, None
    if not args.render_only:
        for env in args.envs:  # a stale report must never stand in for an environment that broke
            (reports_dir / f"{env}.json").unlink(missing_ok=True)
        started = time.monotonic()
        command = tox_command(args.envs, args.jobs, recreate=args.recreate, pytest_args=args.pytest_args)
        status = run_tox(command, reports_dir, out / "tox.log")
        seconds = time.monotonic() - started
    matrix = build_matrix(load_reports(reports_dir, args.envs), wall_seconds=seconds, jobs=args.jobs,
                          commit=suite_commit())
    markdown, page = write_matrix(matrix, out)
    print(f"\nversion matrix: {_verdict(matrix)}\n  {markdown}\n  {page}")
    if status and matrix.ok:
        print(f"tox exited {status} although every report is clean; see {out / 'tox.log'}")
    return 0 if matrix.ok and not status else 1


if __name__ == "__main__":
    raise SystemExit(main())
