"""An executable specification and conformance suite for background tasks in FastAPI and Starlette.

Targets use :class:`TargetEnv` (handed to their factory); spec tests use the rest.
"""

from .asgi_driver import AsgiCall, AsgiDriver, Response
from .gates import Gate, GateTimeout
from .harness import Harness, Timeouts, open_harness
from .probe import Probe
from .registry import MAY, MUST, SHOULD, Level, Requirement, needs, requirement
from .scenario import Plan, PlanError, ScenarioFailure, ScenarioModel
from .target import Target, TargetEnv, TargetError
from .timeline import Event, ExpectationFailed, Timeline

__version__ = "0.1.0"

__all__ = [
    "MAY", "MUST", "SHOULD", "AsgiCall", "AsgiDriver", "Event", "ExpectationFailed", "Gate",
    "GateTimeout", "Harness", "Level", "Plan", "PlanError", "Probe", "Requirement", "Response",
    "ScenarioFailure", "ScenarioModel", "Target", "TargetEnv", "TargetError", "Timeline",
    "Timeouts", "needs", "open_harness", "requirement",
]
