"""The registry and the spec agree: every requirement tested, every test registered, SPEC.md in sync."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import spec
from bgtasks_conformance.results.registry import REQUIREMENT_MARK, Level, load_registry, normalise, read_registry
from bgtasks_conformance.results.specdoc import render

ID_PATTERN = re.compile(r"^[A-Z]+-\d{3}$")
ROOT = Path(__file__).resolve().parent.parent


def spec_tests() -> list[tuple[str, Any, str, Level]]:
    """(name, function, requirement ID, level) for every spec test function."""
    found = []
    for info in pkgutil.iter_modules(spec.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"bgtasks_conformance.spec.{info.name}")
        for name, obj in vars(module).items():
            for mark in getattr(obj, "pytestmark", []):
                if name.startswith("test_") and mark.name == REQUIREMENT_MARK:
                    found.append((f"{info.name}::{name}", obj, mark.args[0], Level(mark.kwargs["level"])))
    return found


def test_every_test_names_a_registered_requirement_at_its_level() -> None:
    registry = load_registry()
    problems = [f"{name} names {rid}, which is not registered" for name, _, rid, _ in spec_tests()
                if rid not in registry]
    problems += [f"{name}: level {level.value}, registered {registry[rid].level.value}"
                 for name, _, rid, level in spec_tests() if rid in registry and registry[rid].level is not level]
    assert not problems, "\n".join(problems)


def test_every_docstring_is_its_requirement_sentence() -> None:
    registry = load_registry()
    problems = [
        f"{name} ({rid}):\n  docstring: {normalise(func.__doc__)}\n  registered: {registry[rid].sentence}"
        for name, func, rid, _ in spec_tests()
        if rid in registry and normalise(func.__doc__) != registry[rid].sentence
    ]
    assert not problems, "\n".join(problems)


def test_every_registered_requirement_has_a_test() -> None:
    tested = {rid for _, _, rid, _ in spec_tests()}
    untested = sorted(set(load_registry()) - tested)
    assert not untested, f"registered but untested: {', '.join(untested)}"


def test_ids_are_well_formed() -> None:
    malformed = sorted(rid for rid in load_registry() if not ID_PATTERN.match(rid))
    assert not malformed, f"IDs are AREA-NNN: {malformed}"


def test_a_reused_id_is_refused(tmp_path: Path) -> None:
    entry = '[[requirement]]\nid = "X-001"\narea = "a"\nlevel = "MUST"\nsentence = "s"\n'
    (tmp_path / "a.toml").write_text(entry)
    (tmp_path / "b.toml").write_text(entry)
    with pytest.raises(ValueError, match="X-001 is registered twice"):
        read_registry(tmp_path)


def test_spec_document_is_in_sync() -> None:
    expected = render(list(load_registry().values()))
    current = (ROOT / "SPEC.md").read_text()
    assert current == expected, "SPEC.md is out of date: run python -m bgtasks_conformance.results.specdoc"


def test_a_frameworks_own_behaviour_is_a_may_or_needs_a_capability_and_says_why() -> None:
    """What only Starlette or FastAPI does is never a MUST that every implementation must meet."""
    described = {rid: req for rid, req in load_registry().items() if req.behaviour_of}
    assert described, "the registry marks no requirement as one framework's behaviour"
    problems = [f"{rid}: {req.behaviour_of}'s behaviour, but a {req.level.value} that needs no capability"
                for rid, req in described.items() if req.level is not Level.MAY and not req.capability]
    problems += [f"{rid}: its rationale does not name {req.behaviour_of}" for rid, req in described.items()
                 if req.behaviour_of not in req.rationale]
    assert not problems, "\n".join(problems)
