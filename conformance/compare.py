"""Compare two JSON reports: every requirement whose outcome or observed behaviour changed.

``python -m bgtasks_conformance.compare OLD.json NEW.json`` prints both sides of each change and exits 1
when a requirement got worse (a regression), 0 otherwise. Worse means a higher rank:
passed and informational (a MAY that differs) 0; skipped and untested 1 (no longer checked);
expected-failure and non-strict 2 (a known deviation, a SHOULD not met); failed, target-error and
harness-error 3. A requirement only in NEW is a regression when it fails; one only in OLD is listed.

Behaviour is what is compared: the outcome, each test variant's outcome, the observed values and the
declared reason of an expected failure. Measurements (times, peaks) and the version era a test matched
are shown beside a change, never a change by themselves. Every differing field is printed whole.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgtasks_conformance.results.outcomes import (
    EXPECTED_FAILURE,
    FAILED,
    HARNESS_ERROR,
    INFORMATIONAL,
    NON_STRICT,
    PASSED,
    SKIPPED,
    TARGET_ERROR,
    UNEXPECTED_PASS,
    UNTESTED,
)

RANK = {PASSED: 0, INFORMATIONAL: 0, SKIPPED: 1, UNTESTED: 1, EXPECTED_FAILURE: 2, NON_STRICT: 2,
        FAILED: 3, TARGET_ERROR: 3, HARNESS_ERROR: 3}
FAILING_RANK = 3
ABSENT = "(absent)"

REGRESSION, IMPROVED, CHANGED, ADDED, REMOVED = "REGRESSION", "improved", "changed", "added", "removed"


@dataclass(frozen=True)
class Change:
    id: str
    kind: str  # REGRESSION, improved, changed, added, removed
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    @property
    def regression(self) -> bool:
        return self.kind == REGRESSION

    def observed_changes(self) -> dict[str, tuple[Any, Any]]:
        """The observed fields whose value differs, down to the innermost key (``case.tasks.held``), as (old, new);
        ABSENT for a field one side lacks."""
        return _leaf_changes(_observed(self.old), _observed(self.new))

    def variant_changes(self) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """Test variants whose outcome differs (or that only one side ran), as (old, new) variant records."""
        old, new = _variants(self.old), _variants(self.new)
        if not old or not new:  # a report from before variants were recorded: nothing to compare them with
            return {}
        absent = {"outcome": ABSENT}
        return {name: (old.get(name, absent), new.get(name, absent)) for name in sorted(set(old) | set(new))
                if old.get(name, absent)["outcome"] != new.get(name, absent)["outcome"]}

    def declared_change(self) -> tuple[str, str] | None:
        """The declared reason of an expected failure, when it differs: (old, new)."""
        before, after = declared(self.old), declared(self.new)
        return (before, after) if before != after and before and after else None


def _observed(record: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((record or {}).get("observed") or {})


def _variants(record: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    return dict((record or {}).get("variants") or {})


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key in sorted(value, key=str):
            yield from _leaves(value[key], f"{path}.{key}" if path else str(key))
    else:
        yield path, value


def _leaf_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    before, after = dict(_leaves(old, "")), dict(_leaves(new, ""))
    changes = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, ABSENT), after.get(key, ABSENT)
        if not _same(a, b):
            changes[key] = (a, b)
    return changes


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def rank(outcome: str) -> int:
    return RANK.get(outcome, FAILING_RANK)  # an outcome this suite does not know is treated as failing


def _kind(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str | None:
    if old is None and new is not None:
        return REGRESSION if rank(new["outcome"]) >= FAILING_RANK else ADDED
    if new is None:
        return REMOVED
    assert old is not None
    if rank(new["outcome"]) > rank(old["outcome"]):
        return REGRESSION
    if rank(new["outcome"]) < rank(old["outcome"]):
        return IMPROVED
    probe = Change("", CHANGED, old, new)
    if (new["outcome"] != old["outcome"] or probe.observed_changes() or probe.variant_changes()
            or probe.declared_change()):
        return CHANGED
    return None


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every requirement whose outcome, variants, observed behaviour or declared reason differs, in ID order."""
    before = {r["id"]: r for r in old.get("requirements", [])}
    after = {r["id"]: r for r in new.get("requirements", [])}
    changes = []
    for rid in sorted(set(before) | set(after)):
        kind = _kind(before.get(rid), after.get(rid))
        if kind is not None:
            changes.append(Change(rid, kind, before.get(rid), after.get(rid)))
    return changes


def version_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    before = old.get("header", {}).get("versions", {})
    after = new.get("header", {}).get("versions", {})
    return {name: (before.get(name, ABSENT), after.get(name, ABSENT))
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)}


def _outcome(record: Mapping[str, Any] | None) -> str:
    return record["outcome"] if record is not None else ABSENT


def _show(value: Any) -> str:
    return value if value is ABSENT else json.dumps(value, default=str)


def declared(record: Mapping[str, Any] | None) -> str:
    """The expectation behind an expected-failure outcome (``reason (ranges) <link>``), or ""."""
    if record is None or record["outcome"] != EXPECTED_FAILURE:
        return ""
    entry = record.get("declared")
    if isinstance(entry, Mapping) and entry.get("reason"):  # schema 2: the expectation's fields
        ranges = ", ".join(f"{d} {s}" for d, s in (entry.get("when") or {}).items())
        return (str(entry["reason"]) + (f" ({ranges})" if ranges else "")
                + (f" <{entry['link']}>" if entry.get("link") else ""))
    details = [str(d) for d in record.get("details") or []]
    plain = [d for d in details if not d.startswith("unexpected pass")]  # tests of it that passed say so
    return plain[0] if plain else details[0].removeprefix(UNEXPECTED_PASS) if details else ""


def _indented(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in str(text).splitlines() or [""]]


def _eras(change: Change) -> list[str]:
    before, after = (change.old or {}).get("eras") or {}, (change.new or {}).get("eras") or {}
    lines = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        side = [f"{e['version']} in {e['range']}" if e else ABSENT for e in (a, b)]
        lines.append(f"    era {name}: {side[0]} -> {side[1]}" if a != b else f"    era {name}: {side[1]}")
    return lines


def _messages(change: Change) -> list[str]:
    """For a requirement that got worse without variants to show: its first failure message, whole."""
    record = change.new or {}
    if change.variant_changes() or rank(record.get("outcome", PASSED)) < FAILING_RANK:
        return []
    messages = record.get("messages") or []
    return _indented(messages[0], "      ") if messages else []


def render(changes: Sequence[Change], versions: Mapping[str, tuple[str, str]]) -> str:
    lines = []
    if versions:
        lines.append("versions: " + ", ".join(f"{name} {a} -> {b}" for name, (a, b) in versions.items()))
    if not changes:
        lines.append("no change: no requirement changed its outcome or observed behaviour")
    for change in changes:
        record = change.new or change.old or {}
        before, after = _outcome(change.old), _outcome(change.new)
        what = [name for name, differs in (("variant outcomes changed", change.variant_changes()),
                                           ("declared reason changed", change.declared_change()),
                                           ("observed behaviour changed", change.observed_changes())) if differs]
        outcome = f"{before} -> {after}" if before != after else f"{after}, {', '.join(what)}"
        lines.append(f"{change.kind} {change.id} [{record.get('level', '?')}]: {outcome}")
        lines += _eras(change)
        reason = change.declared_change()
        if reason is not None:
            lines += ["    declared reason changed:", f"      old: {reason[0]}", f"      new: {reason[1]}"]
        else:
            for side, rec in (("old", change.old), ("new", change.new)):
                if declared(rec):
                    lines.append(f"    {side} declared: {declared(rec)}")
        for name, (a, b) in change.variant_changes().items():
            unexpected = " (passed although declared failing)" if b.get("unexpected_pass") else ""
            lines.append(f"    variant {name}: {a['outcome']} -> {b['outcome']}{unexpected}")
            if b.get("message"):
                lines += _indented(b["message"], "      ")
        lines += _messages(change)
        for key, (a, b) in change.observed_changes().items():
            lines += [f"    observed {key}:", f"      old: {_show(a)}", f"      new: {_show(b)}"]
    regressions = sum(c.regression for c in changes)
    lines.append(f"{len(changes)} changed, {regressions} regression{'s' if regressions != 1 else ''}")
    return "\n".join(lines) + "\n"


def load_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"cannot read report {path}: {error}") from None
    if not isinstance(report, dict) or not isinstance(report.get("requirements"), list):
        raise SystemExit(f"{path} is not a conformance report (no requirements list); "
                         "write one with --bgtasks-report")
    return report


_load = load_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.compare", description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path, help="the report before (e.g. on the current versions)")
    parser.add_argument("new", type=Path, help="the report after (e.g. after the upgrade)")
    args = parser.parse_args(argv)
    old, new = load_report(args.old), load_report(args.new)
    changes = compare(old, new)
    print(render(changes, version_changes(old, new)), end="")
    return 1 if any(c.regression for c in changes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
