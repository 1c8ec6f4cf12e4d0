"""Machine-readable reports: one JSON document per run, with a versioned schema."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Any

from bgtasks_conformance.results.outcomes import Outcomes, how_to_enable, skips_by_capability
from bgtasks_conformance.target.contract import CONTRACT_VERSION

SCHEMA_VERSION = 3  # 2: "declared" as fields, header expectations as fields, a real duration;
# 3: "partial" (a pass with skipped variants), a skipped variant's "reason" (report.schema.json)
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
FAILING = ("failed", "target-error", "harness-error")
ERRORS = ("target-error", "harness-error")  # the test could not check the requirement: JUnit <error>
NOT_RUN = ("skipped", "untested", "inconclusive")  # inconclusive: only a time bound missed (a slow machine)


def build_report(outcomes: Outcomes, header: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "header": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "contract": CONTRACT_VERSION,  # the contract version the suite checks (CHANGELOG.md)
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
                "declared": result.declared,
                "seconds": round(result.seconds, 4),
                "variants": result.variants,
                "measurements": result.measurements,
                "eras": result.eras,
                "partial": result.partial(),
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


def write_html(path: Path, report: dict[str, Any]) -> None:
    from bgtasks_conformance.results.html import render_html

    _write(path, render_html(report))


# Marks that need no emoji font: plain text in any terminal, browser or CI page.
_MARKS = {"passed": "pass", "failed": "FAIL", "non-strict": "should", "informational": "may", "skipped": "skip",
          "inconclusive": "slow?",
          "untested": "-", "expected-failure": "xfail", "target-error": "ERROR", "harness-error": "BUG"}
_ORDER = ("harness-error", "target-error", "failed", "non-strict", "informational", "expected-failure", "inconclusive",
          "skipped", "untested", "passed")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(report: dict[str, Any]) -> str:
    """A summary fit for a CI step summary: what did not pass first, then counts per area."""
    header = report["header"]
    records = report["requirements"]
    counts = ", ".join(f"{n} {name}" for name, n in sorted(report["summary"].items()))
    mode = "strict: SHOULD and MAY count" if header.get("strict") else "SHOULD and MAY reported, not failing"
    lines = [
        f"## Background-task conformance: `{header.get('target', '?')}`",
        "",
        f"**{counts}** ({mode}; {header.get('duration_seconds', '?')} s)",
        "",
        "versions: " + ", ".join(f"{k} {v}" for k, v in header.get("versions", {}).items()),
        "",
    ]
    attention = [r for r in records if r["outcome"] not in ("passed", "untested", "skipped")]
    attention.sort(key=lambda r: (_ORDER.index(r["outcome"]) if r["outcome"] in _ORDER else 0, r["id"]))
    if attention:
        lines += ["### Not passed", "", "| ID | level | outcome | what was seen |", "| --- | --- | --- | --- |"]
        for record in attention:
            lines.append(f"| {record['id']} | {record['level']} | {record['outcome']} | {_cell(_seen(record))} |")
        lines.append("")
    else:
        lines += ["Every requirement that ran passed.", ""]
    lines += _partial_section(records) + _skipped_section(records)
    areas: dict[str, dict[str, int]] = {}
    for record in records:
        row = areas.setdefault(record["area"], {})
        row[record["outcome"]] = row.get(record["outcome"], 0) + 1
    shown = [name for name in _ORDER if any(name in row for row in areas.values())]
    lines += ["### Per area", "", "| area | " + " | ".join(shown) + " |", "| --- |" + " --- |" * len(shown)]
    for area, row in sorted(areas.items()):
        lines.append(f"| {area} | " + " | ".join(str(row.get(name, "")) for name in shown) + " |")
    return "\n".join(lines) + "\n"


def _partial_section(records: list[dict[str, Any]]) -> list[str]:
    """Requirements that passed with some variants skipped: one line each, the count and why."""
    partial = [r for r in records if r.get("partial")]
    if not partial:
        return []
    lines = ["### Passed in part", ""]
    for record in partial:
        done = record["partial"]
        lines.append(f"- **{record['id']}**: {done['variants'] - done['skipped']} of {done['variants']} variants "
                     f"passed, {done['skipped']} skipped: {_cell('; '.join(done['reasons']))}")
    return [*lines, ""]


def _skipped_section(records: list[dict[str, Any]]) -> list[str]:
    """The skips, grouped by the capability (or reason) behind them, collapsed: a green run stays short."""
    skipped = [r for r in records if r["outcome"] == "skipped"]
    groups = skips_by_capability((r["id"], r.get("variants") or {}) for r in records)
    for record in skipped:  # a skipped requirement whose variants were not recorded: its first detail says why
        if not any(record["id"] in group["requirements"] for group in groups.values()):
            reason = (record.get("details") or ["no reason given"])[0]
            group = groups.setdefault(reason, {"requirements": [], "tests": 0, "capability": False, "why": reason})
            group["requirements"].append(record["id"])
    if not groups:
        return []
    lines = [f"<details><summary>{len(skipped)} requirements skipped; the skips by capability or reason "
             f"({len(groups)})</summary>", "",
             "| capability or reason | requirements it would enable | how |", "| --- | --- | --- |"]
    for key, group in sorted(groups.items()):
        how = how_to_enable(key) if group["capability"] else ""
        name = f"`{key}` ({group['why']})" if group["capability"] else key
        lines.append(f"| {_cell(name)} | {', '.join(group['requirements'])} | {_cell(how)} |")
    return [*lines, "", "</details>", ""]


def _seen(record: dict[str, Any], limit: int | None = 300) -> str:
    """One line for a requirement that did not pass: its failure message, declaration or skip reason."""
    declared = record.get("declared")
    if record["outcome"] == "expected-failure" and declared:
        link = f" <{declared['link']}>" if declared.get("link") else ""
        return f"declared: {declared['reason']}{link}"
    text = (record.get("messages") or record.get("details") or [""])[0]
    text = text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
    observed = record.get("observed") or {}
    if observed:
        text += " (observed: " + ", ".join(f"{k}={v!r}" for k, v in observed.items()) + ")"
    return text


def render_junit(report: dict[str, Any]) -> str:
    """JUnit XML with one test case per requirement, named by its ID (stable when a sentence is edited)."""
    from xml.etree import ElementTree as ET

    records = report["requirements"]
    total = sum(r.get("seconds", 0.0) for r in records)
    suite = ET.Element("testsuite", name="bgtasks-conformance", tests=str(len(records)),
                       failures=str(sum(r["outcome"] == "failed" for r in records)),
                       errors=str(sum(r["outcome"] in ERRORS for r in records)),
                       skipped=str(sum(r["outcome"] in NOT_RUN for r in records)),
                       time=f"{total:.3f}", timestamp=str(report["header"].get("time", "")))
    properties = ET.SubElement(suite, "properties")
    for key, value in report["header"].items():
        ET.SubElement(properties, "property", name=key, value=json.dumps(value) if isinstance(value, dict | list)
                      else str(value))
    for record in records:
        case = ET.SubElement(suite, "testcase", classname=f"bgtasks.{record['area']}", name=record["id"],
                             time=f"{record.get('seconds', 0.0):.3f}")
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="level", value=record["level"])
        ET.SubElement(props, "property", name="sentence", value=record["sentence"])
        ET.SubElement(props, "property", name="outcome", value=record["outcome"])
        detail = "\n\n".join(record.get("details") or [])
        message = (record.get("messages") or [f"{record['id']} [{record['level']}]: {record['outcome']}"])[0]
        if record["outcome"] == "failed" or record["outcome"] in ERRORS:  # every message whole, then pytest's text
            detail = "\n\n".join([*(record.get("messages") or []), detail]).strip()
        if record["outcome"] == "failed":
            ET.SubElement(case, "failure", message=message, type=record["outcome"]).text = detail
        elif record["outcome"] in ERRORS:
            ET.SubElement(case, "error", message=message, type=record["outcome"]).text = detail
        elif record["outcome"] in NOT_RUN:
            ET.SubElement(case, "skipped", message=detail or record["outcome"])
        elif record["outcome"] != "passed":
            ET.SubElement(case, "system-out").text = f"{record['outcome']}: {_seen(record)}\n\n{detail}".strip()
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
