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
    cut_middle,
    skip_lines,
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
        ("A-001", [SKIPPED, PASSED], PASSED),  # a skipped variant does not hide one that passed
        ("A-001", [SKIPPED, FAILED], FAILED),
        ("A-001", [SKIPPED, SKIPPED], SKIPPED),
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


LACKING = "target lacks capability 'base-http-middleware': no BaseHTTPMiddleware here"


def partly_skipped() -> Outcomes:
    """A-001 passed in its plain variants and was skipped behind BaseHTTPMiddleware; A-004 was skipped whole."""
    results = Outcomes(registry())
    for nodeid, outcome, detail in (("t.py::test_x[plain]", PASSED, ""), ("t.py::test_x[stream]", PASSED, ""),
                                    ("t.py::test_x[base-http]", SKIPPED, LACKING),
                                    ("t.py::test_y[base-http]", SKIPPED, LACKING)):
        results.record("A-001", nodeid, outcome, detail)
        results.recorded("A-001", nodeid, outcome, "", detail)
    results.record("A-004", "t.py::test_z", SKIPPED, LACKING)
    results.recorded("A-004", "t.py::test_z", SKIPPED, "", LACKING)
    return results


def test_a_pass_with_skipped_variants_says_how_many_and_why() -> None:
    results = partly_skipped()
    first = results.results["A-001"]
    assert first.outcome == PASSED
    assert first.partial() == {"variants": 4, "skipped": 2, "reasons": [LACKING]}
    assert first.note() == f"2 of 4 variants, 2 skipped: {LACKING}"
    assert results.results["A-004"].partial() is None  # skipped whole: nothing passed
    lines = results.lines()
    assert lines[1].strip() == f"({first.note()})"  # under A-001's line
    assert build_report(results, {})["requirements"][0]["partial"] == first.partial()


def test_skips_are_grouped_by_capability_with_how_to_enable_it() -> None:
    results = partly_skipped()
    results.record("A-002", "t.py::test_w", SKIPPED, "declared by the implementer: skip (r)")
    results.recorded("A-002", "t.py::test_w", SKIPPED, "", "declared by the implementer: skip (r)")
    assert skip_lines(results.results) == [
        "base-http-middleware: lacking (no BaseHTTPMiddleware here); would enable A-001, A-004 (2 requirements, "
        "3 tests): provide its routes (CONTRACT.md, capability 'base-http-middleware') and remove "
        "'base-http-middleware' from the factory's conformance_lacks",
        "skipped (declared by the implementer: skip (r)): A-002 (1 requirement, 1 test)",
    ]


def test_a_long_failure_keeps_its_head_and_says_what_was_left_out() -> None:
    text = "AssertionError: expected the task to run after the response" + "x" * 20000 + "THE END"
    cut = cut_middle(text, 1000)
    assert cut.startswith("AssertionError: expected the task to run after the response")
    assert cut.endswith("THE END") and len(cut) <= 1000 + 60
    assert f"({len(text) - 940} characters left out)" in cut
    assert cut_middle("short", 1000) == "short"
