"""Per-requirement outcomes, gathered from pytest's reports, and the terminal summary."""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgtasks_conformance.results.registry import Level, Requirement

PASSED = "passed"
FAILED = "failed"  # a MUST not met
NON_STRICT = "non-strict"  # a SHOULD not met
INFORMATIONAL = "informational"  # a MAY: implementation-defined, differs from the reference
SKIPPED = "skipped"  # the target lacks a capability, or its expectations file says skip
UNTESTED = "untested"  # registered, but no test of it ran
EXPECTED_FAILURE = "expected-failure"  # failed, as the implementer declared
TARGET_ERROR = "target-error"  # the target broke in a way the test did not ask about
HARNESS_ERROR = "harness-error"  # the suite itself broke: a bug to report to us
INCONCLUSIVE = "inconclusive"  # only a time bound was missed: the machine may be too slow; never the target's failure
OUTCOMES = (PASSED, FAILED, NON_STRICT, INFORMATIONAL, SKIPPED, UNTESTED, EXPECTED_FAILURE,
            TARGET_ERROR, HARNESS_ERROR, INCONCLUSIVE)
# A skipped variant does not hide one that passed: such a requirement is PASSED, with its skipped variants
# counted (RequirementResult.partial) wherever it is reported.
_SEVERITY = [UNTESTED, SKIPPED, PASSED, INCONCLUSIVE, EXPECTED_FAILURE, INFORMATIONAL, NON_STRICT, FAILED,
             TARGET_ERROR, HARNESS_ERROR]
_GRADED = {Level.MUST: FAILED, Level.SHOULD: NON_STRICT, Level.MAY: INFORMATIONAL}
_SUITE = Path(__file__).resolve().parents[1]  # the bgtasks_conformance package
BUNDLED_IMPLEMENTATIONS = ("sample_app", "starlette_app", "litestar_app", "queue_app")  # targets, not the suite
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


_INCONCLUSIVE_MARK = "inconclusive (a time bound, not the target): "


def inconclusive(message: str) -> None:
    """End the test as :data:`INCONCLUSIVE`: ``message`` says which bound, what was measured, which option raises it.

    A skip underneath (pytest reports it so, and a run of only these passes); :func:`grade` tells it apart.
    """
    import pytest

    __tracebackhide__ = True
    pytest.skip(_INCONCLUSIVE_MARK + message)


def is_suite_code(path: str | Path) -> bool:
    """Whether a file is the suite's own (harness or spec), not a bundled implementation nor anyone else's."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(_SUITE):
        return False
    return resolved.relative_to(_SUITE).parts[:1] not in [(name,) for name in BUNDLED_IMPLEMENTATIONS]


def _is_stdlib(path: str | Path) -> bool:
    resolved = Path(path).resolve()
    return resolved.is_relative_to(_STDLIB) and "site-packages" not in resolved.parts


def classify_failure(excinfo: Any, when: str) -> str:
    """FAILED for an assertion in a test; otherwise whose code broke: the target's or ours."""
    if excinfo is None:
        return FAILED if when == "call" else HARNESS_ERROR
    from bgtasks_conformance.plugin.watchdog import Expired
    from bgtasks_conformance.target.loader import TargetError

    if isinstance(excinfo.value, TargetError | Expired):  # Expired: the target outlived a bound of the watchdog
        return TARGET_ERROR
    if _is_assertion(excinfo.value):  # hypothesis reports several failing examples as a group
        return FAILED if when == "call" else HARNESS_ERROR
    return HARNESS_ERROR if _raised_by_suite(excinfo.traceback) else TARGET_ERROR


def _raised_by_suite(traceback: Any) -> bool:
    """The innermost frame that is not the standard library's (which may act for anyone) is the suite's."""
    for entry in reversed(list(traceback or [])):
        if not _is_stdlib(entry.path):
            return is_suite_code(entry.path)
    return False


def _is_assertion(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_assertion(inner) for inner in error.exceptions)
    return isinstance(error, AssertionError)


def failure_message(rid: str, level: Level, error: BaseException, limit: int = 1500) -> str:
    """``ID [LEVEL]: `` and the exception's own message (for an assertion: what was expected and seen)."""
    text = str(error) or type(error).__name__
    if isinstance(error, BaseExceptionGroup):
        text = "\n".join(str(inner) for inner in error.exceptions)
    return f"{rid} [{level.value}]: {shorten(text, limit)}"


TIMELINE = "timeline:\n"


def shorten(text: str, limit: int) -> str:
    """``text`` in at most about ``limit`` characters, keeping what says most.

    A failure message is a sentence (what was expected, what was seen), then ``timeline:`` and the
    events, then perhaps a hint (where the app waits). The sentence and the hint are kept; of the
    timeline, its last events, which show how the test ended; the earlier ones are counted.
    """
    if len(text) <= limit:
        return text
    head, marker, rest = text.partition(TIMELINE)
    if not marker:
        keep = max(limit - 40, 0)
        return f"{text[: keep * 2 // 3]} ... ({len(text) - keep} characters left out) ... {text[-(keep // 3):]}"
    lines = rest.split("\n")
    events = [line for line in lines if line.startswith("    ")]
    hints = [line for line in lines[len(events):] if line]  # what follows the timeline
    head = head if len(head) <= limit // 2 else head[: limit // 2 - 4] + " ..."
    tail = "\n".join(hints)
    room = limit - len(head) - len(marker) - len(tail) - 40
    kept: list[str] = []
    for line in reversed(events):
        if len(line) + 1 > room:
            break
        kept.insert(0, line)
        room -= len(line) + 1
    left_out = len(events) - len(kept)
    shown = ([f"    ... {left_out} earlier timeline lines left out"] if left_out else []) + kept
    return head + marker + "\n".join(shown) + (f"\n{tail}" if tail else "")


LACKS = "target lacks capability "


def lacks_reason(capability: str, why: str) -> str:
    """The skip reason of a test whose capability the target declared lacking."""
    return f"{LACKS}{capability!r}: {why}"


def lacked_capability(reason: str) -> str | None:
    """The capability a skip reason written by :func:`lacks_reason` names, or None for any other skip."""
    if not reason.startswith(LACKS):
        return None
    name, _, _ = reason[len(LACKS):].partition(": ")
    return name.strip("'\"")


DETAIL_LIMIT = 6000


def failure_detail(report: Any, limit: int = DETAIL_LIMIT) -> str:
    """pytest's account of a failure: whole, or its head and tail with the count of what was left out between."""
    return cut_middle(str(report.longrepr or ""), limit)


def cut_middle(text: str, limit: int) -> str:
    """``text`` in at most about ``limit`` characters: its head (the message) and tail, saying what was left out."""
    if len(text) <= limit:
        return text
    keep = max(limit - 60, 2)
    left_out = len(text) - keep
    return f"{text[: keep // 2]}\n... ({left_out} characters left out) ...\n{text[-(keep - keep // 2):]}"


UNEXPECTED_PASS = "unexpected pass: declared expected-failure: "


def variant_name(nodeid: str) -> str:
    """``test_slow_final_send[json-base-http]`` of a pytest node ID: the test and its parameters."""
    return nodeid.rsplit("::", 1)[-1]


def grade(report: Any) -> tuple[str, str]:
    """The outcome one pytest report contributes to its requirement, with its detail."""
    props = dict(report.user_properties)
    if "graded" in props:  # a SHOULD or MAY not met: graded by level when recorded
        return FAILED, props["graded"]
    if report.skipped and hasattr(report, "wasxfail"):
        return EXPECTED_FAILURE, props.get("expected", report.wasxfail)
    if report.skipped:
        longrepr = report.longrepr
        detail = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr or "")
        detail = detail.removeprefix("Skipped: ")  # pytest's prefix: the outcome says it already
        return (INCONCLUSIVE if _INCONCLUSIVE_MARK in detail else SKIPPED), detail
    if report.failed:
        return props.get("failure", FAILED), failure_detail(report)
    if hasattr(report, "wasxfail"):
        return PASSED, f"{UNEXPECTED_PASS}{props.get('expected', report.wasxfail)}"
    return PASSED, ""


@dataclass
class RequirementResult:
    requirement: Requirement
    outcome: str = UNTESTED
    tests: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    declared: dict[str, Any] | None = None  # the implementer's expectation that covers it (Expectation.as_json)
    strict: bool = False  # --bgtasks-strict: a SHOULD or MAY not met fails like a MUST
    # Per test (``test_name[params]``): its outcome, failure message and whether it passed although declared failing.
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)  # times, peaks: reported, never compared
    eras: dict[str, dict[str, str]] = field(default_factory=dict)  # distribution -> installed version and its range

    def variant(self, nodeid: str, outcome: str, message: str = "", detail: str = "") -> None:
        """What one test of the requirement contributed: the worst outcome of its phases, with its message."""
        if outcome == FAILED and not self.strict:
            outcome = _GRADED[self.requirement.level]
        entry = self.variants.setdefault(variant_name(nodeid), {"outcome": UNTESTED})
        if _SEVERITY.index(outcome) > _SEVERITY.index(entry["outcome"]):
            entry["outcome"] = outcome
        if message:
            entry["message"] = message
        if outcome == SKIPPED and detail:
            entry["reason"] = detail
        if detail.startswith(UNEXPECTED_PASS):
            entry["unexpected_pass"] = True

    def partial(self) -> dict[str, Any] | None:
        """For a requirement that passed with some variants skipped: how many, and why; else None."""
        skipped = {name: entry for name, entry in self.variants.items() if entry["outcome"] == SKIPPED}
        if self.outcome != PASSED or not skipped:
            return None
        reasons = sorted({entry.get("reason", "") for entry in skipped.values()} - {""})
        return {"variants": len(self.variants), "skipped": len(skipped), "reasons": reasons}

    def note(self) -> str:
        """``2 of 6 variants, 4 skipped: reason`` for a partial pass; empty otherwise."""
        partial = self.partial()
        if partial is None:
            return ""
        ran = partial["variants"] - partial["skipped"]
        why = ": " + "; ".join(partial["reasons"]) if partial["reasons"] else ""
        return f"{ran} of {partial['variants']} variants, {partial['skipped']} skipped{why}"

    def add(self, nodeid: str, outcome: str, detail: str = "", observed: Iterable[tuple[str, Any]] = (),
            declared: dict[str, Any] | None = None) -> None:
        if outcome == FAILED and not self.strict:
            outcome = _GRADED[self.requirement.level]
        if declared is not None:
            self.declared = declared
        if nodeid not in self.tests:
            self.tests.append(nodeid)
        if detail:
            self.details.append(detail)
        self.observed.update(observed)
        if _SEVERITY.index(outcome) > _SEVERITY.index(self.outcome):
            self.outcome = outcome


class Outcomes:
    def __init__(self, registry: dict[str, Requirement], strict: bool = False) -> None:
        self.results = {rid: RequirementResult(req, strict=strict) for rid, req in registry.items()}

    def record(
        self, rid: str, nodeid: str, outcome: str, detail: str = "", observed: Iterable[tuple[str, Any]] = (),
        declared: dict[str, Any] | None = None,
    ) -> None:
        self.results[rid].add(nodeid, outcome, detail, observed, declared)

    def recorded(self, rid: str, nodeid: str, outcome: str, message: str = "", detail: str = "", *,
                 measured: Iterable[tuple[str, Any]] = (), eras: Iterable[tuple[str, dict[str, str]]] = ()) -> None:
        """One test's own outcome and message, its measurements and the eras it expected."""
        result = self.results[rid]
        result.variant(nodeid, outcome, message, detail)
        result.measurements.update(measured)
        result.eras.update(eras)

    def timed(self, rid: str, seconds: float) -> None:
        """Add the time one phase (setup, call or teardown) of one of the requirement's tests took."""
        self.results[rid].seconds += seconds

    def failed_with(self, rid: str, message: str) -> None:
        """The failure message of one of the requirement's tests: what was expected, what was seen."""
        self.results[rid].messages.append(message)

    def unexpected_passes(self) -> list[str]:
        """``POST-005 test_x[plain-json]`` for every test that passed although an expectation declared it failing."""
        return [f"{rid} {name}" for rid, result in sorted(self.results.items())
                for name, entry in result.variants.items() if entry.get("unexpected_pass")]

    def ran_any(self) -> bool:
        """Whether any requirement was actually checked (not only skipped or untested)."""
        return any(result.outcome not in (SKIPPED, UNTESTED) for result in self.results.values())

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
            if result.partial() is not None:
                rows.append(f"{'':<{width}}  {'':<6}  {'':<10}  ({result.note()})")
        counts = self.counts()
        rows.append(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
        return rows


def skips_by_capability(variants: Iterable[tuple[str, Mapping[str, Mapping[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Every skipped test, grouped by why: a lacking capability (its name), or any other reason (the reason).

    ``variants``: per requirement ID, its variants (``RequirementResult.variants``, or a JSON report's). Each
    group: ``requirements`` it would enable (IDs), ``tests`` (how many variants), ``why`` (the target's own
    words, or the reason), ``capability`` (True when a capability is lacking).
    """
    groups: dict[str, dict[str, Any]] = {}
    for rid, entries in sorted(variants):
        for entry in entries.values():
            if entry.get("outcome") != SKIPPED:
                continue
            reason = entry.get("reason", "") or "no reason given"
            capability = lacked_capability(reason)
            key = capability if capability is not None else reason
            group = groups.setdefault(key, {"requirements": [], "tests": 0, "capability": capability is not None,
                                            "why": reason.partition(": ")[2] if capability is not None else reason})
            group["tests"] += 1
            if rid not in group["requirements"]:
                group["requirements"].append(rid)
    return groups


def how_to_enable(capability: str) -> str:
    """What an implementer does to have a lacking capability's requirements tested."""
    return (f"provide its routes (CONTRACT.md, capability {capability!r}) and remove {capability!r} from "
            "the factory's conformance_lacks")


def skip_lines(results: dict[str, RequirementResult]) -> list[str]:
    """One line per capability (or other reason) that skipped tests: what it would enable, how to get it."""
    lines = []
    for key, group in sorted(skips_by_capability((rid, r.variants) for rid, r in results.items()).items()):
        ids = ", ".join(group["requirements"])
        count = f"{_many(len(group['requirements']), 'requirement')}, {_many(group['tests'], 'test')}"
        if group["capability"]:
            lines.append(f"{key}: lacking ({group['why']}); would enable {ids} ({count}): {how_to_enable(key)}")
        else:
            lines.append(f"skipped ({key}): {ids} ({count})")
    return lines


def _many(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
