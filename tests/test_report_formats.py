"""Markdown and JUnit renderings of a report, and the generated SPEC.md."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from bgtasks_conformance.results import specdoc
from bgtasks_conformance.results.report import render_junit, render_markdown

REPORT = {
    "header": {"target": "mod:create_app", "versions": {"fastapi": "0.165.0"}, "strict": False,
               "duration_seconds": 1.5, "time": "2026-12-02T00:00:00+00:00"},
    "summary": {"passed": 1, "failed": 1, "skipped": 1, "informational": 1, "target-error": 1, "expected-failure": 1},
    "requirements": [
        {"id": "A-001", "area": "a", "level": "MUST", "sentence": "one | two", "outcome": "passed",
         "observed": {}, "details": [], "messages": [], "seconds": 0.25},
        {"id": "A-002", "area": "a", "level": "MUST", "sentence": "s", "outcome": "failed",
         "observed": {}, "details": ["Traceback ... AssertionError"],
         "messages": ["A-002 [MUST]: expected x; saw y"], "seconds": 0.5},
        {"id": "A-003", "area": "a", "level": "SHOULD", "sentence": "s", "outcome": "skipped",
         "observed": {}, "details": ["target lacks capability"], "messages": []},
        {"id": "B-001", "area": "b", "level": "MAY", "sentence": "s", "outcome": "informational",
         "observed": {"ran": False}, "details": ["differs"], "messages": ["B-001 [MAY]: expected ran; saw not"]},
        {"id": "B-002", "area": "b", "level": "MUST", "sentence": "s", "outcome": "target-error",
         "observed": {}, "details": ["RuntimeError: app crashed"], "messages": ["B-002 [MUST]: app crashed"]},
        {"id": "B-003", "area": "b", "level": "MUST", "sentence": "s", "outcome": "expected-failure",
         "observed": {}, "details": ["known"], "messages": [],
         "declared": {"requirement": "B-003", "outcome": "expected-failure", "reason": "upstream bug",
                      "link": "https://example.org/1", "when": {}, "source": "x.toml entry 1"}},
    ],
}


def test_markdown_leads_with_what_did_not_pass_then_counts_per_area() -> None:
    text = render_markdown(REPORT)
    assert "`mod:create_app`" in text and "fastapi 0.165.0" in text
    assert "SHOULD and MAY reported, not failing" in text
    not_passed = text[text.index("### Not passed"):text.index("### Per area")]
    rows = [line.split("|")[1].strip() for line in not_passed.splitlines()
            if line.startswith("| ") and "---" not in line]
    assert rows[:5] == ["ID", "B-002", "A-002", "B-001", "B-003"]  # errors, failures, MAYs, declared
    assert "| A-003 | SHOULD |" not in text  # a skip is not a row: it is grouped, collapsed, by capability
    assert "| A-002 | MUST | failed | A-002 [MUST]: expected x; saw y |" in text
    assert "observed: ran=False" in text
    assert "declared: upstream bug <https://example.org/1>" in text
    assert "A-001" not in text  # passed rows are counted, not listed
    assert "| area | target-error | failed | informational | expected-failure | skipped | passed |" in text
    assert "| a |  | 1 |  |  | 1 | 1 |" in text and "| b | 1 |  | 1 | 1 |  |  |" in text


GREEN = {
    "header": {"target": "mod:create_app", "versions": {}},
    "summary": {"passed": 1, "skipped": 2},
    "requirements": [
        {"id": "A-001", "area": "a", "level": "MUST", "sentence": "s", "outcome": "passed", "observed": {},
         "details": [], "messages": [],
         "partial": {"variants": 3, "skipped": 1, "reasons": ["target lacks capability 'mw': none here"]},
         "variants": {"t[plain]": {"outcome": "passed"}, "t[json]": {"outcome": "passed"},
                      "t[mw]": {"outcome": "skipped", "reason": "target lacks capability 'mw': none here"}}},
        *({"id": f"B-00{n}", "area": "b", "level": "MUST", "sentence": "s", "outcome": "skipped", "observed": {},
           "details": [], "messages": [],
           "variants": {"t": {"outcome": "skipped", "reason": "target lacks capability 'mw': none here"}}}
          for n in (1, 2)),
    ],
}


def test_a_green_markdown_groups_its_skips_collapsed_by_capability() -> None:
    text = render_markdown(GREEN)
    assert "### Not passed" not in text and "Every requirement that ran passed." in text
    assert "- **A-001**: 2 of 3 variants passed, 1 skipped: target lacks capability 'mw': none here" in text
    details = text[text.index("<details>"):text.index("</details>")]
    assert "<summary>2 requirements skipped; the skips by capability or reason (1)</summary>" in details
    rows = [line for line in details.splitlines() if line.startswith("| `")]
    assert rows == ["| `mw` (none here) | A-001, B-001, B-002 | provide its routes (CONTRACT.md, capability 'mw') "
                    "and remove 'mw' from the factory's conformance_lacks |"]


def test_junit_keeps_the_whole_failure_message() -> None:
    message = "A-002 [MUST]: expected the task after the response; saw " + "e" * 5000 + " END OF MESSAGE"
    record = {**REPORT["requirements"][1], "messages": [message]}
    failure = ET.fromstring(render_junit({**REPORT, "requirements": [record]})).find("testcase/failure")
    assert failure.get("message") == message
    assert failure.text.startswith(message) and "AssertionError" in failure.text


def test_markdown_says_strict_when_strict() -> None:
    assert "strict: SHOULD and MAY count" in render_markdown({**REPORT, "header": {**REPORT["header"], "strict": True}})


def test_junit_names_cases_by_id_with_messages_times_and_errors() -> None:
    suite = ET.fromstring(render_junit(REPORT))
    counts = (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped"))
    assert counts == ("6", "1", "1", "1")
    assert suite.get("time") == "0.750"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"A-001", "A-002", "A-003", "B-001", "B-002", "B-003"}
    assert cases["A-002"].get("classname") == "bgtasks.a" and cases["A-002"].get("time") == "0.500"
    failure = cases["A-002"].find("failure")
    assert failure.get("message") == "A-002 [MUST]: expected x; saw y" and "AssertionError" in failure.text
    assert cases["B-002"].find("error").get("message") == "B-002 [MUST]: app crashed"
    assert cases["A-003"].find("skipped") is not None
    assert "informational" in cases["B-001"].find("system-out").text
    props = {p.get("name"): p.get("value") for p in cases["A-001"].iter("property")}
    assert props == {"level": "MUST", "sentence": "one | two", "outcome": "passed"}


def test_specdoc_writes_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "SPEC.md"
    assert specdoc.main(["--check", str(path)]) == 1
    assert specdoc.main([str(path)]) == 0
    assert specdoc.main(["--check", str(path)]) == 0
    assert "| POST-001 | MUST |" in path.read_text()
