"""Markdown and JUnit renderings of a report, and the generated SPEC.md."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from bgtasks_conformance.results import specdoc
from bgtasks_conformance.results.report import render_junit, render_markdown

REPORT = {
    "header": {"target": "mod:create_app", "versions": {"fastapi": "0.165.0"}},
    "summary": {"passed": 1, "failed": 1, "skipped": 1, "informational": 1},
    "requirements": [
        {"id": "A-001", "area": "a", "level": "MUST", "sentence": "one | two", "outcome": "passed",
         "observed": {}, "details": []},
        {"id": "A-002", "area": "a", "level": "MUST", "sentence": "s", "outcome": "failed",
         "observed": {}, "details": ["expected x; saw y"]},
        {"id": "A-003", "area": "a", "level": "SHOULD", "sentence": "s", "outcome": "skipped",
         "observed": {}, "details": ["target lacks capability"]},
        {"id": "A-004", "area": "a", "level": "MAY", "sentence": "s", "outcome": "informational",
         "observed": {"ran": False}, "details": ["differs"]},
    ],
}


def test_markdown_lists_every_requirement_with_its_outcome_and_observations() -> None:
    text = render_markdown(REPORT)
    assert "`mod:create_app`" in text and "fastapi 0.165.0" in text
    assert "| ❌ | A-002 | MUST | failed | s |" in text
    assert "one \\| two" in text
    assert "observed: `ran=False`" in text


def test_junit_has_one_case_per_requirement() -> None:
    suite = ET.fromstring(render_junit(REPORT))
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = {case.get("name").split()[0]: case for case in suite.iter("testcase")}
    assert cases["A-002"].find("failure").text == "expected x; saw y"
    assert cases["A-003"].find("skipped") is not None
    assert "informational" in cases["A-004"].find("system-out").text


def test_specdoc_writes_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "SPEC.md"
    assert specdoc.main(["--check", str(path)]) == 1
    assert specdoc.main([str(path)]) == 0
    assert specdoc.main(["--check", str(path)]) == 0
    assert "| POST-001 | MUST |" in path.read_text()
