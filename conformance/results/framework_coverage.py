"""Which lines of the frameworks' background-task code a run exercised (``--bgtasks-framework-coverage``).

Measures the modules where background tasks are stored, run and attached to responses, with
coverage.py, in the process that runs the tests (so run without ``-n``). Lines that run at import
(module and class level, signatures) are left out: only function bodies count.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODULES = (
    "starlette.background",
    "starlette.responses",
    "starlette.middleware.base",
    "starlette.concurrency",
    "fastapi.background",
    "fastapi.routing",
    "fastapi.dependencies.utils",
)


@dataclass(frozen=True)
class FileCoverage:
    module: str
    path: str
    executed: int
    statements: int
    missing: list[int]

    @property
    def percent(self) -> float:
        return 100.0 * self.executed / self.statements if self.statements else 100.0


def module_files() -> dict[str, str]:
    """Installed source files of :data:`MODULES` (modules that are not installed are left out)."""
    files = {}
    for name in MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            continue
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            files[name] = str(Path(spec.origin).resolve())
    return files


class FrameworkCoverage:
    def __init__(self, data_file: str | None = None) -> None:
        import coverage

        self.files = module_files()
        self._cov = coverage.Coverage(data_file=data_file, include=list(self.files.values()), config_file=False)

    def start(self) -> None:
        self._cov.start()

    def stop(self) -> list[FileCoverage]:
        self._cov.stop()
        results = []
        for module, path in self.files.items():
            _, statements, _, missing, _ = self._cov.analysis2(path)
            at_import = import_time_lines(path)  # ran before measuring began: not the run's doing
            body = [n for n in statements if n not in at_import]
            left = [n for n in missing if n not in at_import]
            results.append(FileCoverage(module, path, len(body) - len(left), len(body), left))
        return results


def import_time_lines(path: str) -> set[int]:
    """Lines of statements that run when the module is imported: module and class level."""
    tree = ast.parse(Path(path).read_text())
    found: set[int] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.update(range(first, node.body[0].lineno))  # the signature, not the body
            elif isinstance(node, ast.ClassDef):
                found.update(range(first, node.body[0].lineno))
                visit(node.body)
            else:
                found.update(range(first, (node.end_lineno or node.lineno) + 1))

    visit(tree.body)
    return found


def as_json(results: list[FileCoverage]) -> list[dict[str, Any]]:
    return [{"module": r.module, "executed": r.executed, "statements": r.statements,
             "percent": round(r.percent, 1), "missing_lines": r.missing} for r in results]


def lines(results: list[FileCoverage]) -> list[str]:
    return [f"{r.module:<28} {r.executed:>4}/{r.statements:<4} lines ({r.percent:5.1f}%)" for r in results]
