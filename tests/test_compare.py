"""Comparing two reports: what changed, what got worse, and the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
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


# -- behaviour, not measurements: variants, declared reasons, exact fields, eras --------------------------------------
def test_measurements_and_eras_are_never_a_change() -> None:
    old = report(record("LOAD-001", "passed", {"load[uvicorn]": {"tasks_ended": 10}}))
    new = report(record("LOAD-001", "passed", {"load[uvicorn]": {"tasks_ended": 10}}), fastapi="0.121.0")
    old["requirements"][0] |= {"measurements": {"load[uvicorn]": {"seconds": 1.2, "most_requests_in_flight": 200}},
                               "eras": {"fastapi": {"version": "0.120.4", "range": ">=0.118"}}}
    new["requirements"][0] |= {"measurements": {"load[uvicorn]": {"seconds": 3.4, "most_requests_in_flight": 187}},
                               "eras": {"fastapi": {"version": "0.121.0", "range": ">=0.121"}}}
    assert compare(old, new) == []


def test_the_era_is_shown_beside_a_change() -> None:
    old = record("DEPS-003", "passed", {"era": "before-response"})
    new = record("DEPS-003", "passed", {"era": "after-tasks"})
    old["eras"] = {"fastapi": {"version": "0.117.1", "range": ">=0.106,<0.118"}}
    new["eras"] = {"fastapi": {"version": "0.118.0", "range": ">=0.118"}}
    text = render(compare(report(old), report(new)), {})
    assert "    era fastapi: 0.117.1 in >=0.106,<0.118 -> 0.118.0 in >=0.118\n" in text


def test_a_regression_names_the_failing_variant_and_its_message() -> None:
    message = "POST-005 [MUST]: expected no task start while the final send is held, saw task 'after' start\n  [1] ..."
    old = record("POST-005", "passed")
    new = record("POST-005", "failed")
    old["variants"] = {"test_slow[plain-json]": {"outcome": "passed"},
                       "test_slow[base-http-json]": {"outcome": "passed"}}
    new["variants"] = {"test_slow[plain-json]": {"outcome": "passed"},
                       "test_slow[base-http-json]": {"outcome": "failed", "message": message}}
    text = render(compare(report(old), report(new)), {})
    assert text.splitlines()[:4] == [
        "REGRESSION POST-005 [MUST]: passed -> failed",
        "    variant test_slow[base-http-json]: passed -> failed",
        "      POST-005 [MUST]: expected no task start while the final send is held, saw task 'after' start",
        "        [1] ...",
    ]
    assert "plain-json" not in text


def test_a_variant_change_inside_the_same_outcome_is_a_change() -> None:
    old = record("POST-006", "expected-failure")
    new = record("POST-006", "expected-failure")
    old["variants"] = {"t[async-stream]": {"outcome": "expected-failure"}, "t[sync-json]": {"outcome": "passed"}}
    new["variants"] = {"t[async-stream]": {"outcome": "expected-failure"},
                       "t[sync-json]": {"outcome": "expected-failure"}}
    [change] = compare(report(old), report(new))
    assert change.kind == "changed"
    assert render([change], {}).startswith("changed POST-006 [MUST]: expected-failure, variant outcomes changed\n"
                                           "    variant t[sync-json]: passed -> expected-failure\n")


def test_a_change_of_the_declared_reason_alone_is_shown() -> None:
    old = record("ERR-002", "expected-failure")
    new = record("ERR-002", "expected-failure")
    old["declared"] = {"reason": "holds the response", "link": "https://x/1", "when": {"starlette": "<0.29"}}
    new["declared"] = {"reason": "swallows the exception", "link": "https://x/2", "when": {"starlette": "<0.46"}}
    [change] = compare(report(old), report(new))
    assert render([change], {}).splitlines() == [
        "changed ERR-002 [MUST]: expected-failure, declared reason changed",
        "    declared reason changed:",
        "      old: holds the response (starlette <0.29) <https://x/1>",
        "      new: swallows the exception (starlette <0.46) <https://x/2>",
        "1 changed, 0 regressions",
    ]


def test_the_exact_differing_field_is_shown_whole() -> None:
    long = "x" * 500
    old = report(record("DISC-003", "passed", {"uvicorn stream before-body": {"tasks": {"a": "ended", "b": "ended"},
                                                                              "note": long}}))
    new = report(record("DISC-003", "passed", {"uvicorn stream before-body": {"tasks": {"a": "ended", "b": "cancelled"},
                                                                              "note": long}}))
    [change] = compare(old, new)
    assert change.observed_changes() == {"uvicorn stream before-body.tasks.b": ("ended", "cancelled")}
    old["requirements"][0]["observed"]["uvicorn stream before-body"]["note"] = long + "y"
    text = render(compare(old, new), {})
    assert f'      old: "{long}y"' in text and "…" not in text


def test_two_runs_of_the_same_versions_compare_as_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two real reports, both tiers, of the requirements whose observed values used to carry versions and timings."""
    reports = []
    for n in (1, 2):
        path = tmp_path / f"run{n}.json"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--pyargs", "bgtasks_conformance.spec", "-p", "no:cacheprovider", "-q",
             "--bgtasks-tier", "all", "--bgtasks-load-requests", "200", "--bgtasks-report", str(path),
             "-k", "LOAD or DISC-003 or SHUT-003 or DEPS-003 or DEPS-004 or DEPS-005 or DEPS-011 or POST-006"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-3000:]
        reports.append(str(path))
    assert main(reports) == 0
    assert capsys.readouterr().out == ("no change: no requirement changed its outcome or observed behaviour\n"
                                       "0 changed, 0 regressions\n")
