"""The second implementation: Starlette alone, no FastAPI, and the whole spec either passes or skips."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bgtasks_conformance import starlette_app
from bgtasks_conformance.results.outcomes import INFORMATIONAL, PASSED, SKIPPED
from bgtasks_conformance.results.registry import Level, load_registry
from bgtasks_conformance.target.contract import CAPABILITIES, DEPENDENCIES, FRONTEND_ROUTES

from .conftest import RunPytest

PACKAGE = Path(starlette_app.__file__).resolve().parent


def imported_modules(source: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement of ``source`` names (absolute ones)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_source_imports_no_fastapi() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 5, f"expected the package's modules under {PACKAGE}"
    offending = {str(path.relative_to(PACKAGE)): sorted(name for name in imported_modules(path)
                                                        if name.split(".")[0] == "fastapi")
                 for path in sources}
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_app_builds_with_fastapi_unimportable(tmp_path: Path) -> None:
    """Nothing it imports, directly or not, needs FastAPI: it builds with ``import fastapi`` failing."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["fastapi"] = None  # any import of fastapi now raises ImportError
        from pathlib import Path
        from bgtasks_conformance import Probe, TargetEnv
        from bgtasks_conformance.starlette_app import create_app
        app = create_app(TargetEnv(Probe(), Path({str(tmp_path)!r})))
        print(type(app).__module__, type(app).__name__)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["starlette.applications", "Starlette"]


def test_it_lacks_only_dependency_injection() -> None:
    lacks = starlette_app.create_app.conformance_lacks
    assert set(lacks) <= set(CAPABILITIES)
    assert set(lacks) == {DEPENDENCIES, FRONTEND_ROUTES}, "declare lacking only what Starlette cannot honestly provide"
    assert "dependency injection" in lacks[DEPENDENCIES]


def test_the_spec_passes_or_skips_with_the_reason(scratch: pytest.Pytester, run_pytest: RunPytest) -> None:
    result = run_pytest("--pyargs", "bgtasks_conformance.spec",
                        "--bgtasks-target", "bgtasks_conformance.starlette_app:create_app", "-rs",
                        "--bgtasks-tier", "all",
                        "--bgtasks-load-requests", "200", "--bgtasks-report", "out/report.json")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, output
    report = json.loads((scratch.path / "out" / "report.json").read_text())
    outcomes = {entry["id"]: entry["outcome"] for entry in report["requirements"]}
    registry = load_registry()
    assert set(outcomes) == set(registry)
    needs_dependencies = {rid for rid, req in registry.items() if req.capability in (DEPENDENCIES, FRONTEND_ROUTES)}
    assert needs_dependencies, "the registry names no requirement that needs dependency injection"
    needs_dependencies |= {rid for rid, req in registry.items() if req.area == "delivery"}  # the opt-in queue tier
    assert {rid for rid, outcome in outcomes.items() if outcome == SKIPPED} == needs_dependencies
    # Everything else passes; a MAY may differ from the reference, and is then only informational.
    others = {rid: outcome for rid, outcome in outcomes.items() if rid not in needs_dependencies}
    allowed = {rid: {PASSED, INFORMATIONAL} if registry[rid].level is Level.MAY else {PASSED}
               for rid in others}
    assert {rid: o for rid, o in others.items() if o not in allowed[rid]} == {}
    result.stdout.fnmatch_lines(["SKIPPED * target lacks capability 'dependencies': Starlette has no "
                                 "dependency injection*"])
    assert " FAILED " not in result.stdout.str()
