"""Per-requirement outcomes and the JSON report built from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgtasks_conformance.results.outcomes import (
    FAILED,
    HARNESS_ERROR,
    INFORMATIONAL,
    NON_STRICT,
    PASSED,
    SKIPPED,
    TARGET_ERROR,
    UNTESTED,
    Outcomes,
)
from bgtasks_conformance.results.registry import Level, Requirement
from bgtasks_conformance.results.report import SCHEMA_VERSION, build_report, write_json


def registry() -> dict[str, Requirement]:
    return {rid: Requirement(rid, "AREA", level, f"sentence of {rid}")
            for rid, level in (("A-001", Level.MUST), ("A-002", Level.SHOULD), ("A-003", Level.MAY),
                               ("A-004", Level.MUST))}


@pytest.mark.parametrize(
    ("rid", "outcomes", "graded"),
    [
        ("A-001", [PASSED, FAILED, PASSED], FAILED),
        ("A-002", [PASSED, FAILED], NON_STRICT),
        ("A-003", [FAILED, PASSED], INFORMATIONAL),
        ("A-001", [SKIPPED, PASSED], SKIPPED),
        ("A-001", [FAILED, TARGET_ERROR], TARGET_ERROR),
        ("A-004", [HARNESS_ERROR, TARGET_ERROR], HARNESS_ERROR),
    ],
)
def test_the_worst_outcome_wins_and_failures_are_graded_by_level(rid: str, outcomes: list[str],
                                                                 graded: str) -> None:
    results = Outcomes(registry())
    for n, outcome in enumerate(outcomes):
        results.record(rid, f"test_{n % 2}", outcome, f"detail {n}" if outcome != PASSED else "")
    assert results.results[rid].outcome == graded
    assert results.results[rid].tests == ["test_0", "test_1"][: len(outcomes)]


@pytest.mark.parametrize("rid", ["A-001", "A-002", "A-003"])
def test_under_strict_every_level_not_met_is_failed(rid: str) -> None:
    results = Outcomes(registry(), strict=True)
    results.record(rid, "test_0", FAILED, "expected x; saw y")
    assert results.results[rid].outcome == FAILED  # the summary says what the exit code says


def test_the_declaration_travels_as_fields() -> None:
    results = Outcomes(registry())
    declared = {"requirement": "A-*", "outcome": "expected-failure", "reason": "r", "link": "", "when": {},
                "source": "x.toml entry 1"}
    results.record("A-001", "test_0", "expected-failure", "r", declared=declared)
    report = build_report(results, {})
    assert next(r for r in report["requirements"] if r["id"] == "A-001")["declared"] == declared
    assert next(r for r in report["requirements"] if r["id"] == "A-002")["declared"] is None


def test_the_report_has_every_requirement(tmp_path: Path) -> None:
    results = Outcomes(registry())
    results.record("A-001", "spec/test_a.py::test_one", FAILED, "AssertionError: late", [("ran", False)])
    results.record("A-002", "spec/test_a.py::test_two", PASSED)
    lines = results.lines()
    assert lines[0].split()[:3] == ["A-001", "MUST", "FAILED"]
    assert lines[-1] == "1 failed, 1 passed, 2 untested"
    path = tmp_path / "nested" / "report.json"
    write_json(path, build_report(results, {"target": "x:y"}))
    report = json.loads(path.read_text())
    assert report["schema"] == SCHEMA_VERSION
    assert report["header"]["target"] == "x:y"
    assert {"python", "platform", "time"} <= set(report["header"])
    assert report["summary"] == {FAILED: 1, PASSED: 1, UNTESTED: 2}
    first = report["requirements"][0]
    assert (first["id"], first["level"], first["outcome"], first["observed"]) == ("A-001", "MUST", FAILED,
                                                                                  {"ran": False})
    assert first["tests"] == ["spec/test_a.py::test_one"]
    assert first["details"] == ["AssertionError: late"]
    assert [r["id"] for r in report["requirements"]] == ["A-001", "A-002", "A-003", "A-004"]
