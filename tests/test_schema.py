"""The JSON report's schema (conformance/results/report.schema.json) holds for reports real runs wrote."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bgtasks_conformance.results.outcomes import OUTCOMES
from bgtasks_conformance.results.report import SCHEMA_FILE, SCHEMA_VERSION
from tests.suite_runs import Run

jsonschema = pytest.importorskip("jsonschema", reason="the test extra installs jsonschema: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def problems(validator: Any, report: dict[str, Any]) -> list[str]:
    return [f"{error.json_path}: {error.message[:300]}" for error in validator.iter_errors(report)]


def test_the_schema_names_the_versions_and_outcomes_the_suite_writes() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema"]["const"] == SCHEMA_VERSION
    assert tuple(schema["$defs"]["outcome"]["enum"]) == OUTCOMES


def test_a_green_run_report_is_valid(validator: Any, green: Run) -> None:
    report = green.report
    assert problems(validator, report) == []
    assert report["summary"].get("passed", 0) > 0 and "failed" not in report["summary"]


def test_a_red_run_report_is_valid(validator: Any, red: Run) -> None:
    report = red.report
    assert problems(validator, report) == []
    failed = [r for r in report["requirements"] if r["outcome"] == "failed"]
    assert failed and all(r["messages"] for r in failed), "a failed requirement carries its messages"


@pytest.mark.parametrize(
    ("spoil", "where"),
    [
        (lambda r: r.update(schema=2), "$.schema"),
        (lambda r: r["requirements"][0].update(outcome="pass"), "$.requirements[0].outcome"),
        (lambda r: r["requirements"][0].pop("level"), "$.requirements[0]"),
        (lambda r: r["requirements"][0]["variants"].update({"t[x]": {"outcome": "passed", "colour": "red"}}),
         "$.requirements[0].variants['t[x]']"),
        (lambda r: r["requirements"][0].update(outcome="failed", partial={"variants": 3, "skipped": 1, "reasons": []}),
         "$.requirements[0].outcome"),
        (lambda r: r["header"].update(duration_seconds=-1), "$.header.duration_seconds"),
        (lambda r: r["summary"].update(excellent=1), "$.summary"),
    ],
)
def test_an_invalid_report_fails_validation(validator: Any, red: Run, spoil: Any, where: str) -> None:
    report = copy.deepcopy(red.report)
    spoil(report)
    found = problems(validator, report)
    assert found, "the spoiled report was accepted"
    assert any(line.startswith(where) for line in found), found



def test_compare_reads_a_version_2_report_against_a_version_3_one(green: Run) -> None:
    from bgtasks_conformance.compare import compare

    new = green.report
    old = copy.deepcopy(new)
    old["schema"] = 2
    for record in old["requirements"]:  # what version 3 added
        del record["partial"]
        for variant in record["variants"].values():
            variant.pop("reason", None)
    assert [change for change in compare(old, new) if change.regression] == []
