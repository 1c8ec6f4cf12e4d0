"""Expectations that depend on the installed framework version.

A requirement whose behaviour changed between releases lists one ``[[requirement.versions]]``
table per era in its TOML entry, e.g. ``fastapi = ">=0.106,<0.118"``, ``outcome = "..."`` (a
keyword the test asserts) and ``expect = "..."`` (the same in prose).
:func:`expected` picks the one table whose range holds the installed version; a test asserts
what it says, so every era is checked, never skipped.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from bgtasks_conformance.results.registry import load_registry


class VersionExpectationError(LookupError):
    """No era (or more than one) of a requirement matches what is installed."""


def installed(distribution: str) -> Version | None:
    """The installed version of ``distribution`` (comparable), or ``None`` if it is not installed."""
    try:
        return Version(metadata.version(distribution))
    except metadata.PackageNotFoundError:
        return None


def in_range(version: Version, spec: str) -> bool:
    """Whether ``version`` lies in a range such as ``">=0.106,<0.118"`` (pre-releases count)."""
    return SpecifierSet(spec).contains(version, prereleases=True)


def expected(requirement_id: str, distribution: str = "fastapi") -> dict[str, Any]:
    """The era table of ``requirement_id`` that covers the installed ``distribution``."""
    eras = [era for era in load_registry()[requirement_id].versions if distribution in era]
    if not eras:
        raise VersionExpectationError(f"{requirement_id} lists no {distribution} version ranges")
    version = installed(distribution)
    if version is None:
        raise VersionExpectationError(
            f"{requirement_id}: what to expect depends on the {distribution} version, "
            f"and {distribution} is not installed"
        )
    matching = [era for era in eras if in_range(version, era[distribution])]
    if len(matching) != 1:
        ranges = ", ".join(repr(era[distribution]) for era in eras)
        raise VersionExpectationError(
            f"{requirement_id}: {distribution} {version} matches {len(matching)} of its version "
            f"ranges ({ranges}); exactly one must match"
        )
    return matching[0]
