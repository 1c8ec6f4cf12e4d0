"""The audit's checks, and the registry of per-endpoint requirements the run's outcomes and reports are keyed by."""

from __future__ import annotations

from dataclasses import dataclass

from bgtasks_conformance.results.registry import Level, Requirement

FASTAPI_DOCS = "https://fastapi.tiangolo.com/tutorial/background-tasks/"
YIELD_DOCS = "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/"
STARLETTE_DOCS = "https://www.starlette.io/background/"
MIDDLEWARE_DOCS = "https://www.starlette.io/middleware/#limitations"


@dataclass(frozen=True)
class Check:
    key: str  # AUDIT-<key>
    level: Level
    sentence: str  # of one endpoint: "{endpoint}" is replaced
    spec_ids: tuple[str, ...]  # the spec's requirements the check applies to the app
    docs: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"AUDIT-{self.key}"

    def rid(self, endpoint: str) -> str:
        """The requirement ID of this check on one endpoint: ``AUDIT-DROPPED[POST /items]``."""
        return f"{self.id}[{endpoint}]"


CHECKS = (
    Check("DROPPED", Level.MUST, "{endpoint}: every background task it adds runs (none dropped).",
          ("DEPS-006", "DEPS-007", "DEPS-008", "DEPS-009", "DEPS-011"), (FASTAPI_DOCS, YIELD_DOCS)),
    Check("EARLY", Level.MUST, "{endpoint}: no background task starts before the final response body is sent.",
          ("POST-001", "POST-006"), (STARLETTE_DOCS, MIDDLEWARE_DOCS)),
    Check("ERRORS", Level.MUST, "{endpoint}: no background task raises, and no task's exception is lost.",
          ("ERR-002", "ERR-005"), (STARLETTE_DOCS, MIDDLEWARE_DOCS)),
    Check("BLOCKING", Level.MUST, "{endpoint}: no async background task blocks the event loop.",
          ("SYNC-006",), ("https://fastapi.tiangolo.com/async/",)),
    Check("DETACHED", Level.MUST, "{endpoint}: every background task has ended when the app call returns.",
          ("POST-002",), (STARLETTE_DOCS,)),
)


def audit_registry(endpoints: list[str]) -> dict[str, Requirement]:
    """One requirement per endpoint and check, in the registry's form (area ``audit``)."""
    registry = {}
    for endpoint in endpoints:
        for check in CHECKS:
            rid = check.rid(endpoint)
            registry[rid] = Requirement(
                id=rid, area="audit", level=check.level, sentence=check.sentence.format(endpoint=endpoint),
                rationale=f"the spec's {', '.join(check.spec_ids)} applied to the app's own endpoint",
                sources=check.docs,
            )
    return registry
