"""Per-requirement outcomes, gathered from pytest's reports, and the terminal summary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .registry import Level, Requirement

PASSED, FAILED, NON_STRICT, INFORMATIONAL, SKIPPED, UNTESTED, ERROR = (
    "passed", "failed", "non-strict", "informational", "skipped", "untested", "error",
)
_SEVERITY = [PASSED, SKIPPED, INFORMATIONAL, NON_STRICT, FAILED, ERROR]
_GRADED = {Level.MUST: FAILED, Level.SHOULD: NON_STRICT, Level.MAY: INFORMATIONAL}


@dataclass
class RequirementResult:
    requirement: Requirement
    outcome: str = UNTESTED
    tests: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)

    def add(self, nodeid: str, outcome: str, detail: str = "", observed: Iterable[tuple[str, Any]] = ()) -> None:
        if outcome == FAILED:
            outcome = _GRADED[self.requirement.level]
        if nodeid not in self.tests:
            self.tests.append(nodeid)
        if detail:
            self.details.append(detail)
        self.observed.update(observed)
        if self.outcome == UNTESTED or _SEVERITY.index(outcome) > _SEVERITY.index(self.outcome):
            self.outcome = outcome


class Outcomes:
    def __init__(self, registry: dict[str, Requirement]) -> None:
        self.results = {rid: RequirementResult(req) for rid, req in registry.items()}

    def record(
        self, rid: str, nodeid: str, outcome: str, detail: str = "", observed: Iterable[tuple[str, Any]] = ()
    ) -> None:
        self.results[rid].add(nodeid, outcome, detail, observed)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results.values():
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return counts

    def lines(self) -> list[str]:
        width = max((len(rid) for rid in self.results), default=8)
        rows = []
        for rid, result in sorted(self.results.items()):
            req = result.requirement
            sentence = req.sentence if len(req.sentence) <= 90 else req.sentence[:87] + "..."
            rows.append(f"{rid:<{width}}  {req.level.value:<6}  {result.outcome.upper():<10}  {sentence}")
        counts = self.counts()
        rows.append(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
        return rows
