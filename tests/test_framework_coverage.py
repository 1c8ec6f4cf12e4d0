"""Measuring the frameworks' background-task code: only what runs after measuring starts counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgtasks_conformance.results.framework_coverage import FileCoverage, as_json, import_time_lines, lines


def test_import_time_lines_are_module_and_class_level_and_signatures(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\n\nclass A:\n    x = 1\n\n    def f(\n        self,\n    ):\n        return 2\n")
    assert import_time_lines(str(source)) == {1, 3, 4, 6, 7, 8}


def test_a_run_reports_the_framework_lines_it_exercised(pytester: pytest.Pytester) -> None:
    """In a subprocess: one coverage tracer per process (the project's own tests run under coverage)."""
    result = pytester.runpytest_subprocess(
        "--pyargs", "bgtasks_conformance.spec", "-p", "no:cacheprovider", "-k", "POST-001",
                                           "--bgtasks-framework-coverage", "--bgtasks-report", "r.json")
    result.stdout.fnmatch_lines(["*frameworks' background-task code exercised*", "starlette.background *lines*"])
    header = json.loads((pytester.path / "r.json").read_text())["header"]
    measured = {m["module"]: m for m in header["framework_coverage"]}
    assert 0 < measured["starlette.background"]["executed"] <= measured["starlette.background"]["statements"]


def test_results_render_as_json_and_lines() -> None:
    result = FileCoverage("m", "/m.py", 3, 4, [9])
    assert as_json([result]) == [{"module": "m", "executed": 3, "statements": 4, "percent": 75.0,
                                  "missing_lines": [9]}]
    assert lines([result]) == ["m                               3/4    lines ( 75.0%)"]
