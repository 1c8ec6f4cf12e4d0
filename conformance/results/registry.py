"""The requirement registry: every requirement's ID, area, level and normative sentence.

The data lives in ``spec/requirements/*.toml``, one file per area. A spec test names its requirement with
:func:`requirement`; its docstring must be the registered sentence, word for word.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])


class Level(StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


MUST, SHOULD, MAY = Level.MUST, Level.SHOULD, Level.MAY


@dataclass(frozen=True)
class Requirement:
    id: str
    area: str
    level: Level
    sentence: str
    rationale: str = ""
    sources: tuple[str, ...] = ()
    capability: str | None = None
    versions: tuple[dict[str, Any], ...] = field(default=())


REQUIREMENT_MARK = "bgtasks_requirement"
NEEDS_MARK = "bgtasks_needs"
WIRE_MARK = "bgtasks_wire"
QUEUE_MARK = "bgtasks_queue"


def requirement(rid: str, level: Level) -> Callable[[F], F]:
    """Mark a spec test as the check of requirement ``rid`` at ``level``."""
    return getattr(pytest.mark, REQUIREMENT_MARK)(rid, level=Level(level))  # type: ignore[no-any-return]


def needs(capability: str) -> pytest.MarkDecorator:
    """The test needs a capability of the contract; a target lacking it skips, with its reason."""
    return getattr(pytest.mark, NEEDS_MARK)(capability)  # type: ignore[no-any-return]


wire_tier = getattr(pytest.mark, WIRE_MARK)  # a spec test of the wire tier (a real server on loopback)
queue_tier = getattr(pytest.mark, QUEUE_MARK)  # a spec test of the queue tier (a real Redis and real workers)


def normalise(text: str | None) -> str:
    return " ".join((text or "").split())


@cache
def load_registry() -> dict[str, Requirement]:
    """The spec's registry: every ``spec/requirements/*.toml``."""
    return read_registry(resources.files("bgtasks_conformance.spec").joinpath("requirements"))


def read_registry(folder: Any) -> dict[str, Requirement]:
    """The requirements in the TOML files of ``folder``; an ID registered twice is an error."""
    registry: dict[str, Requirement] = {}
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    entries = [entry for f in files for entry in tomllib.loads(f.read_text()).get("requirement", [])]
    for entry in entries:
        rid = entry["id"]
        if rid in registry:
            raise ValueError(f"requirement ID {rid} is registered twice")
        registry[rid] = Requirement(
            id=rid,
            area=entry["area"],
            level=Level(entry["level"]),
            sentence=normalise(entry["sentence"]),
            rationale=normalise(entry.get("rationale", "")),
            sources=tuple(entry.get("sources", ())),
            capability=entry.get("capability"),
            versions=tuple(entry.get("versions", ())),
        )
    return registry
