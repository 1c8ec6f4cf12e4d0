"""Comparing two reports: what changed, what got worse, and the exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.compare import ABSENT, REGRESSION, compare, declared, main, render, version_changes


def record(rid: str, outcome: str, observed: dict[str, Any] | None = None, details: list[str] | None = None,
           level: str = "MUST") -> dict[str, Any]:
    return {"id": rid, "level": level, "sentence": f"sentence of {rid}", "outcome": outcome,
            "observed": observed or {}, "details": details or []}


def report(*records: dict[str, Any], fastapi: str = "0.117.1") -> dict[str, Any]:
    return {"schema": 1, "header": {"versions": {"fastapi": fastapi, "starlette": "0.48.0"}},
            "requirements": list(records)}


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("passed", "failed", REGRESSION),
        ("passed", "target-error", REGRESSION),
        ("passed", "expected-failure", REGRESSION),
        ("passed", "non-strict", REGRESSION),
        ("passed", "skipped", REGRESSION),
        ("expected-failure", "failed", REGRESSION),
        ("failed", "passed", "improved"),
        ("expected-failure", "passed", "improved"),
        ("passed", "informational", "changed"),
        ("failed", "harness-error", "changed"),
    ],
)
def test_an_outcome_change_is_graded(old: str, new: str, kind: str) -> None:
    [change] = compare(report(record("POST-006", old)), report(record("POST-006", new)))
    assert (change.id, change.kind) == ("POST-006", kind)


def test_unchanged_requirements_are_not_listed() -> None:
    same = report(record("A-001", "passed", {"k": [1, 2]}), record("A-002", "skipped"))
    assert compare(same, json.loads(json.dumps(same))) == []


def test_an_observed_change_with_the_same_outcome_lists_both_sides() -> None:
    old = report(record("DEPS-003", "passed", {"era": "before-response", "same": 1}))
    new = report(record("DEPS-003", "passed", {"era": "after-tasks", "same": 1, "extra": True}))
    [change] = compare(old, new)
    assert change.kind == "changed" and not change.regression
    assert change.observed_changes() == {"era": ("before-response", "after-tasks"), "extra": (ABSENT, True)}
    text = render([change], {})
    assert text.startswith("changed DEPS-003 [MUST]: passed, observed behaviour changed\n")
    assert '    observed era:\n      old: "before-response"\n      new: "after-tasks"' in text


def test_requirements_present_on_one_side_only() -> None:
    old = report(record("A-001", "passed"), record("A-002", "passed"))
    new = report(record("A-002", "passed"), record("A-003", "passed"), record("A-004", "failed"))
    kinds = {c.id: c.kind for c in compare(old, new)}
    assert kinds == {"A-001": "removed", "A-003": "added", "A-004": REGRESSION}


def test_a_declared_expected_failure_is_shown_with_its_reason() -> None:
    declared = "BaseHTTPMiddleware holds the response (starlette <0.29) <https://example.org/2194>"
    changes = compare(report(record("POST-006", "passed")),
                      report(record("POST-006", "expected-failure", details=[declared])))
    text = render(changes, {"starlette": ("0.48.0", "0.27.0")})
    assert text.splitlines()[:3] == [
        "versions: starlette 0.48.0 -> 0.27.0",
        "REGRESSION POST-006 [MUST]: passed -> expected-failure",
        f"    new declared: {declared}",
    ]
    assert text.endswith("1 changed, 1 regression\n")


def test_version_changes_name_both_sides() -> None:
    assert version_changes(report(fastapi="0.117.1"), report(fastapi="0.165.0")) == {
        "fastapi": ("0.117.1", "0.165.0")}


def _write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_the_command_exits_1_on_a_regression_and_0_otherwise(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.json", report(record("ERR-002", "passed")))
    bad = _write(tmp_path / "bad.json", report(record("ERR-002", "failed"), fastapi="0.165.0"))
    assert main([good, bad]) == 1
    out = capsys.readouterr().out
    assert "versions: fastapi 0.117.1 -> 0.165.0" in out
    assert "REGRESSION ERR-002 [MUST]: passed -> failed" in out
    assert main([bad, good]) == 0
    assert "improved ERR-002 [MUST]: failed -> passed" in capsys.readouterr().out
    assert main([good, good]) == 0
    assert "no requirement changed" in capsys.readouterr().out


def test_a_file_that_is_not_a_report_is_refused(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", report())
    with pytest.raises(SystemExit, match="not a conformance report"):
        main([good, _write(tmp_path / "other.json", {"hello": 1})])
    with pytest.raises(SystemExit, match="cannot read report"):
        main([good, str(tmp_path / "missing.json")])


def test_the_declaration_behind_an_expected_failure() -> None:
    text = "reason (starlette <0.29) <https://example.org/1>"
    passed_too = f"unexpected pass: declared expected-failure: {text}"
    assert declared(record("A-001", "expected-failure", details=[passed_too, text])) == text
    assert declared(record("A-001", "expected-failure", details=[passed_too])) == text
    assert declared(record("A-001", "passed", details=[text])) == ""
