"""An executable specification and conformance suite for background tasks in FastAPI and Starlette.

Targets use :class:`TargetEnv` (handed to their factory); spec tests use the rest. The names are
imported when first used, so that the pytest entry point, which imports this package in every run
of an environment where the suite is installed, loads nothing of the harness.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bgtasks_conformance.drive.asgi_driver import AsgiCall, AsgiDriver, Response
    from bgtasks_conformance.harness import Harness, Timeouts, open_harness
    from bgtasks_conformance.observe.gates import Gate, GateTimeout
    from bgtasks_conformance.observe.probe import Probe
    from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline
    from bgtasks_conformance.results.registry import (
        MAY,
        MUST,
        SHOULD,
        Level,
        Requirement,
        needs,
        requirement,
        wire_tier,
    )
    from bgtasks_conformance.target.loader import Target, TargetEnv, TargetError
    from bgtasks_conformance.target.scenario import Plan, PlanError, ScenarioFailure, ScenarioModel

__version__ = "0.2.0"

_EXPORTS = {
    "bgtasks_conformance.drive.asgi_driver": ("AsgiCall", "AsgiDriver", "Response"),
    "bgtasks_conformance.harness": ("Harness", "Timeouts", "open_harness"),
    "bgtasks_conformance.observe.gates": ("Gate", "GateTimeout"),
    "bgtasks_conformance.observe.probe": ("Probe",),
    "bgtasks_conformance.observe.timeline": ("Event", "ExpectationFailed", "Timeline"),
    "bgtasks_conformance.results.registry": ("MAY", "MUST", "SHOULD", "Level", "Requirement", "needs", "requirement",
                                             "wire_tier"),
    "bgtasks_conformance.target.loader": ("Target", "TargetEnv", "TargetError"),
    "bgtasks_conformance.target.scenario": ("Plan", "PlanError", "ScenarioFailure", "ScenarioModel"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "MAY",
    "MUST",
    "SHOULD",
    "AsgiCall",
    "AsgiDriver",
    "Event",
    "ExpectationFailed",
    "Gate",
    "GateTimeout",
    "Harness",
    "Level",
    "Plan",
    "PlanError",
    "Probe",
    "Requirement",
    "Response",
    "ScenarioFailure",
    "ScenarioModel",
    "Target",
    "TargetEnv",
    "TargetError",
    "Timeline",
    "Timeouts",
    "needs",
    "open_harness",
    "requirement",
    "wire_tier",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'bgtasks_conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
