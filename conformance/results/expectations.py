"""Implementer expectation files: known deviations, declared instead of hidden.

A TOML file of ``[[expect]]`` entries::

    [[expect]]
    requirement = "POST-006"          # an ID, or a pattern: "POST-*", "ERR-00?"; with variants: "POST-005[base-http-*]"
    outcome = "expected-failure"      # or "skip"
    reason = "BaseHTTPMiddleware holds the response until the tasks end"
    link = "https://github.com/encode/starlette/issues/919"   # optional
    when = { starlette = "<0.29" }    # optional: version ranges of installed distributions

A pattern in brackets after the ID names test variants: it is matched against the parameters of each
test of the requirement (``base-http-json`` of ``test_...[base-http-json]``), and the entry covers only
the variants it matches; without brackets it covers every test of the requirement. A declared variant
that passes is reported as an unexpected pass, by name. An entry applies when every range in ``when``
holds for what is installed. ``expected-failure``
turns the requirement's failure into ``expected-failure``; if it passes instead, that is reported
as an unexpected pass. ``skip`` skips it with the reason. An entry whose pattern matches no
registered requirement is reported; under ``--bgtasks-strict`` both are errors. An entry whose pattern
covers every requirement (``"*"``, ``"*[*]"``) is refused: it would turn any run into a pass.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from bgtasks_conformance.results.versions import in_range, installed

OUTCOMES = ("expected-failure", "skip")
_KEYS = {"requirement", "outcome", "reason", "link", "when"}
FIX = ("; write [[expect]] tables with requirement, outcome and reason (README: Known deviations: the expectations "
       "file)")


class ExpectationsError(ValueError):
    """The expectations file is not valid; the message names the entry and the problem."""


@dataclass(frozen=True)
class Expectation:
    requirement: str
    outcome: str
    reason: str
    link: str = ""
    when: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def id_pattern(self) -> str:
        """The requirement part of ``requirement`` (``POST-005`` of ``POST-005[base-http-*]``)."""
        return self.requirement.split("[", 1)[0]

    @property
    def variant_pattern(self) -> str | None:
        """The variant part (``base-http-*`` of ``POST-005[base-http-*]``), or None: every variant."""
        if "[" not in self.requirement:
            return None
        return self.requirement.split("[", 1)[1].removesuffix("]")

    def matches(self, rid: str) -> bool:
        return fnmatch.fnmatchcase(rid, self.id_pattern)

    def covers(self, rid: str, variant: str) -> bool:
        """Whether the entry names this test: ``variant`` is its parameters ("" for a test without any)."""
        pattern = self.variant_pattern
        return self.matches(rid) and (pattern is None or fnmatch.fnmatchcase(variant, pattern))

    def applies(self) -> bool:
        """Every version range in ``when`` holds for the installed distributions."""
        for distribution, spec in self.when.items():
            version = installed(distribution)
            if version is None or not in_range(version, spec):
                return False
        return True

    def describe(self) -> str:
        ranges = ", ".join(f"{d} {s}" for d, s in self.when.items())
        return f"{self.reason}" + (f" ({ranges})" if ranges else "") + (f" <{self.link}>" if self.link else "")

    def as_json(self) -> dict[str, Any]:
        """The entry as the reports carry it: every field apart, nothing to parse back."""
        return {"requirement": self.requirement, "outcome": self.outcome, "reason": self.reason, "link": self.link,
                "when": dict(self.when), "source": self.source}


def parse(text: str, source: str = "<expectations>") -> list[Expectation]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExpectationsError(f"{source}: not valid TOML: {error}{FIX}") from None
    unknown_top = set(raw) - {"expect"}
    if unknown_top:
        raise ExpectationsError(f"{source}: unknown top-level keys {sorted(unknown_top)}; use [[expect]] tables")
    entries = raw.get("expect", [])
    if not isinstance(entries, list):
        raise ExpectationsError(f"{source}: write each entry as an [[expect]] table (double brackets)")
    lines = _entry_lines(text)
    return [_entry(entry, f"{source}:{lines[n - 1]} (entry {n})" if n <= len(lines) else f"{source} entry {n}")
            for n, entry in enumerate(entries, 1)]


def _entry(entry: Any, where: str) -> Expectation:
    if not isinstance(entry, dict):
        raise ExpectationsError(f"{where}: an [[expect]] table, not {type(entry).__name__}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ExpectationsError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    for key in ("requirement", "outcome", "reason"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ExpectationsError(f"{where}: {key!r} is required (a non-empty string)")
    requirement = entry["requirement"]
    if "[" in requirement and (not requirement.endswith("]") or not requirement.split("[", 1)[1][:-1]
                               or "[" in requirement.split("[", 1)[1]):
        raise ExpectationsError(f"{where}: requirement {requirement!r}: name variants as ID[PATTERN], e.g. "
                                "\"POST-005[base-http-*]\" (one pair of brackets, at the end)")
    if entry["outcome"] not in OUTCOMES:
        raise ExpectationsError(f"{where}: outcome is one of {OUTCOMES}, not {entry['outcome']!r}")
    when = entry.get("when", {})
    if not isinstance(when, dict) or not all(isinstance(v, str) for v in when.values()):
        raise ExpectationsError(f"{where}: 'when' maps distribution names to version ranges, e.g. "
                                "{ fastapi = \">=0.106,<0.118\" }")
    for distribution, spec in when.items():
        try:
            SpecifierSet(spec)
        except InvalidSpecifier:
            raise ExpectationsError(f"{where}: {distribution} range {spec!r} is not a version range") from None
    return Expectation(entry["requirement"], entry["outcome"], entry["reason"], entry.get("link", ""),
                       dict(when), where)


def load(path: Path) -> list[Expectation]:
    if not path.is_file():
        raise ExpectationsError(f"expectations file {path} does not exist")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ExpectationsError(f"expectations file {path} cannot be read ({error.strerror}); make it readable"
                                ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise ExpectationsError(f"{path}:{line}: not UTF-8 text (byte {raw[error.start]:#04x}); an expectations file "
                                f"is TOML text of [[expect]] tables{FIX}") from None
    return parse(text, str(path))


def _entry_lines(text: str) -> list[int]:
    """The line of each ``[[expect]]`` header, in order (to name an entry by its line)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip().replace(" ", "").startswith("[[expect]]")]


def unmatched(expectations: Iterable[Expectation], ids: Iterable[str]) -> list[Expectation]:
    """Entries whose pattern names no registered requirement."""
    ids = list(ids)
    return [e for e in expectations if not any(e.matches(rid) for rid in ids)]


def too_broad(expectations: Iterable[Expectation], ids: Iterable[str]) -> str | None:
    """One line for the first entry whose pattern covers every registered requirement (it would hide any failure)."""
    ids = list(ids)
    for entry in expectations:
        if ids and all(entry.matches(rid) for rid in ids):
            return (f"{entry.source}: requirement {entry.requirement!r} covers every requirement ({len(ids)}), "
                    "which would turn any run into a pass; name the requirements the deviation is about, "
                    "e.g. \"POST-006\" or \"POST-*\"")
    return None


def for_requirement(expectations: Iterable[Expectation], rid: str) -> Expectation | None:
    """The first entry that names every variant of ``rid`` and applies to what is installed."""
    return next((e for e in expectations if e.matches(rid) and e.variant_pattern is None and e.applies()), None)


def for_variant(expectations: Iterable[Expectation], rid: str, variant: str) -> Expectation | None:
    """The first entry that covers this test of ``rid`` (``variant``: its parameters) and applies."""
    return next((e for e in expectations if e.covers(rid, variant) and e.applies()), None)
