"""Machine-readable reports: one JSON document per run, with a versioned schema."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Any

from bgtasks_conformance.results.outcomes import Outcomes

SCHEMA_VERSION = 1


def build_report(outcomes: Outcomes, header: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "header": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **header,
        },
        "summary": outcomes.counts(),
        "requirements": [
            {
                "id": rid,
                "area": result.requirement.area,
                "level": result.requirement.level.value,
                "sentence": result.requirement.sentence,
                "outcome": result.outcome,
                "tests": result.tests,
                "observed": result.observed,
                "details": result.details,
                "messages": result.messages,
                "seconds": round(result.seconds, 4),
            }
            for rid, result in sorted(outcomes.results.items())
        ],
    }


def suite_commit() -> str:
    """The git commit the installed suite was built from (recorded in the wheel), or "unknown"."""
    try:
        from bgtasks_conformance._build import COMMIT
    except ImportError:
        return "unknown"
    return str(COMMIT)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_json(path: Path, report: dict[str, Any]) -> None:
    _write(path, json.dumps(report, indent=2, default=str) + "\n")


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    _write(path, render_markdown(report))


def write_junit(path: Path, report: dict[str, Any]) -> None:
    _write(path, render_junit(report))


_MARKS = {"passed": "✅", "failed": "❌", "non-strict": "⚠️", "informational": "ℹ️", "skipped": "⏭️",
          "untested": "❔", "expected-failure": "☑️", "target-error": "💥", "harness-error": "🛠️"}


def render_markdown(report: dict[str, Any]) -> str:
    """A summary fit for a CI step summary: counts, then every requirement that did not pass."""
    header = report["header"]
    counts = ", ".join(f"{n} {name}" for name, n in sorted(report["summary"].items()))
    lines = [
        f"## Background-task conformance: `{header.get('target', '?')}`",
        "",
        f"{counts} · " + " · ".join(f"{k} {v}" for k, v in header.get("versions", {}).items()),
        "",
        "| | ID | level | outcome | requirement |",
        "| --- | --- | --- | --- | --- |",
    ]
    for record in report["requirements"]:
        sentence = record["sentence"].replace("|", "\\|")
        observed = record.get("observed") or {}
        if observed:
            sentence += "<br>observed: " + ", ".join(f"`{k}={v!r}`" for k, v in observed.items())
        lines.append(f"| {_MARKS.get(record['outcome'], '')} | {record['id']} | {record['level']} | "
                     f"{record['outcome']} | {sentence} |")
    return "\n".join(lines) + "\n"


def render_junit(report: dict[str, Any]) -> str:
    """JUnit XML with one test case per requirement (not per pytest test)."""
    from xml.etree import ElementTree as ET

    records = report["requirements"]
    failing = {"failed", "target-error", "harness-error"}
    suite = ET.Element("testsuite", name="bgtasks-conformance", tests=str(len(records)),
                       failures=str(sum(r["outcome"] in failing for r in records)),
                       skipped=str(sum(r["outcome"] in ("skipped", "untested") for r in records)))
    properties = ET.SubElement(suite, "properties")
    for key, value in report["header"].items():
        ET.SubElement(properties, "property", name=key, value=str(value))
    for record in records:
        case = ET.SubElement(suite, "testcase", classname=f"bgtasks.{record['area']}",
                             name=f"{record['id']} [{record['level']}] {record['sentence']}")
        detail = "\n\n".join(record.get("details") or [])
        if record["outcome"] in failing:
            ET.SubElement(case, "failure", message=record["outcome"]).text = detail
        elif record["outcome"] in ("skipped", "untested"):
            ET.SubElement(case, "skipped", message=detail or record["outcome"])
        elif record["outcome"] != "passed":
            ET.SubElement(case, "system-out").text = f"{record['outcome']}: {detail}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
