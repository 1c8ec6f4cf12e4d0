"""The matrix page in a real browser: headless Chromium renders the grid; the test reads the rendered DOM."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.matrix import build_matrix, render_html
from tests.browser import needs_chromium, render

pytestmark = needs_chromium("the matrix page; its structure is tested in test_matrix.py")


def record(rid: str, outcome: str, **more: Any) -> dict[str, Any]:
    return {"id": rid, "area": {"POST": "post-response", "DEPS": "dependencies", "ERR": "errors"}[rid.split("-")[0]],
            "level": "MUST", "sentence": f"The sentence of {rid}.", "outcome": outcome, "observed": {}, "details": [],
            **more}


def report(starlette: str, *records: dict[str, Any]) -> dict[str, Any]:
    return {"summary": {}, "requirements": list(records),
            "header": {"target": "t", "versions": {"fastapi": "0.165.0", "starlette": starlette}}}


def reports() -> dict[str, dict[str, Any]]:
    same = [record(f"POST-00{n}", "passed") for n in range(1, 6)] + [record("ERR-001", "passed")]
    declared = {"reason": "BaseHTTPMiddleware drops it", "link": "https://github.com/encode/starlette/pull/2688",
                "when": {"starlette": ">=0.38.3,<0.38.5"}}
    return {
        "matrix-starlette0384": report("0.38.4", *same, record("POST-009", "expected-failure", declared=declared),
                                       record("DEPS-003", "passed", observed={"era": "after-tasks"})),
        "matrix-starlette0385": report("0.38.5", *same, record("POST-009", "passed"),
                                       record("DEPS-003", "passed", observed={"era": "before-response"})),
    }


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "matrix.html"
    path.write_text(render_html(build_matrix(reports())))
    return path


def test_the_differences_view_shows_only_the_rows_that_differ(page: Path, tmp_path: Path) -> None:
    dom = render(page, tmp_path, "--dump-dom", "--virtual-time-budget=2000")
    shown = re.search(r'id="shown" data-shown="(\d+)">(\d+) of (\d+)<', dom)
    assert shown is not None, f"the page's script did not count the rows; rendered DOM:\n{dom[:2000]}"
    assert shown.groups() == ("2", "2", "8"), "POST-009 and DEPS-003 differ; the six others are the same"
    assert re.search(r'<tr class="req-row" data-id="POST-009">.*?class="o expected-failure"[^>]*>xf<', dom)
    screenshot = tmp_path / "matrix.png"
    render(page, tmp_path, f"--screenshot={screenshot}")
    assert screenshot.is_file() and screenshot.stat().st_size > 1000


def test_the_full_view_shows_every_requirement(page: Path, tmp_path: Path) -> None:
    dom = render(page, tmp_path, "--dump-dom", "--virtual-time-budget=2000", url_suffix="#all")
    assert 'data-shown="8">8 of 8<' in dom
