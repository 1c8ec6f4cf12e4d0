"""Compare two JSON reports: every requirement whose outcome or observed behaviour changed.

``python -m bgtasks_conformance.compare OLD.json NEW.json`` prints both sides of each change and exits 1
when a requirement got worse (a regression), 0 otherwise. Worse means a higher rank:
passed and informational (a MAY that differs) 0; skipped and untested 1 (no longer checked);
expected-failure and non-strict 2 (a known deviation, a SHOULD not met); failed, target-error and
harness-error 3. A requirement only in NEW is a regression when it fails; one only in OLD is listed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
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
        """Observed keys whose value differs, as (old, new); ABSENT for a key one side lacks."""
        old, new = _observed(self.old), _observed(self.new)
        keys = sorted(set(old) | set(new))
        return {key: (old.get(key, ABSENT), new.get(key, ABSENT)) for key in keys
                if not _same(old.get(key, ABSENT), new.get(key, ABSENT))}


def _observed(record: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((record or {}).get("observed") or {})


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
    if new["outcome"] != old["outcome"] or not _same(_observed(old), _observed(new)):
        return CHANGED
    return None


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every requirement whose outcome or observed behaviour differs, in ID order."""
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


def _show(value: Any, limit: int = 200) -> str:
    text = value if value is ABSENT else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


UNEXPECTED_PASS = "unexpected pass: declared expected-failure: "


def declared(record: Mapping[str, Any] | None) -> str:
    """The expectation behind an expected-failure outcome (``reason (ranges) <link>``), or ""."""
    if record is None or record["outcome"] != EXPECTED_FAILURE:
        return ""
    details = [str(d) for d in record.get("details") or []]
    plain = [d for d in details if not d.startswith("unexpected pass")]  # tests of it that passed say so
    return plain[0] if plain else details[0].removeprefix(UNEXPECTED_PASS) if details else ""


def render(changes: Sequence[Change], versions: Mapping[str, tuple[str, str]]) -> str:
    lines = []
    if versions:
        lines.append("versions: " + ", ".join(f"{name} {a} -> {b}" for name, (a, b) in versions.items()))
    if not changes:
        lines.append("no requirement changed its outcome or observed behaviour")
    for change in changes:
        record = change.new or change.old or {}
        before, after = _outcome(change.old), _outcome(change.new)
        outcome = f"{before} -> {after}" if before != after else f"{after}, observed behaviour changed"
        lines.append(f"{change.kind} {change.id} [{record.get('level', '?')}]: {outcome}")
        for side, rec in (("old", change.old), ("new", change.new)):
            if declared(rec):
                lines.append(f"    {side} declared: {declared(rec)}")
        for key, (a, b) in change.observed_changes().items():
            lines.append(f"    observed {key}:")
            lines.append(f"      old: {_show(a)}")
            lines.append(f"      new: {_show(b)}")
    regressions = sum(c.regression for c in changes)
    lines.append(f"{len(changes)} changed, {regressions} regression{'s' if regressions != 1 else ''}")
    return "\n".join(lines) + "\n"


def _load(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"cannot read report {path}: {error}") from None
    if not isinstance(report, dict) or not isinstance(report.get("requirements"), list):
        raise SystemExit(f"{path} is not a conformance report (no requirements list); "
                         "write one with --bgtasks-report")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.compare", description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path, help="the report before (e.g. on the current versions)")
    parser.add_argument("new", type=Path, help="the report after (e.g. after the upgrade)")
    args = parser.parse_args(argv)
    old, new = _load(args.old), _load(args.new)
    changes = compare(old, new)
    print(render(changes, version_changes(old, new)), end="")
    return 1 if any(c.regression for c in changes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
