"""What a spec test records besides pass or fail: behaviour, measurements, and the era it expected.

Three kinds, kept apart in the report so that ``compare`` and the matrix judge behaviour only:

- ``observe(key, value)``: what the target did (behaviour). Compared between runs.
- ``measure(key, value)``: times, peaks, counts that depend on the machine or the server's version
  (``measurements``). Reported, never compared as behaviour.
- ``record_era(distribution, table)``: which ``[[requirement.versions]]`` table the installed version
  matched (``eras``: the version and its range). Shown beside a change, never a change by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bgtasks_conformance.results.versions import installed

OBSERVED, MEASURED, ERA = "observed", "measured", "era"

Record = Callable[[str, Any], None]
RecordEra = Callable[[str, Mapping[str, Any]], None]


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Record:
    """Record a measurement (``measure("seconds", 1.2)``): reported beside the result, never compared."""

    def record(key: str, value: Any) -> None:
        request.node.user_properties.append((MEASURED, (key, value)))

    return record


@pytest.fixture
def record_era(request: pytest.FixtureRequest) -> RecordEra:
    """Record the version era a test expected: ``record_era("fastapi", table)``."""

    def record(distribution: str, table: Mapping[str, Any]) -> None:
        request.node.user_properties.append((ERA, (distribution, era_entry(distribution, table))))

    return record


def era_entry(distribution: str, table: Mapping[str, Any]) -> dict[str, str]:
    """``{"version": "0.120.4", "range": ">=0.118"}``: the installed version and the range it matched."""
    version = installed(distribution)
    return {"version": str(version) if version is not None else "not installed", "range": str(table[distribution])}


def collected(props: list[tuple[str, Any]], kind: str) -> list[tuple[str, Any]]:
    """The ``(key, value)`` pairs of one kind a test recorded."""
    return [value for key, value in props if key == kind]
