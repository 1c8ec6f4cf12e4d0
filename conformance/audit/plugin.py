"""The audit as a pytest run: one item per endpoint and check, graded and reported as the spec's tests are.

Registered by the core plugin when ``--bgtasks-app`` is given; it then collects the audit's items instead of
the spec. Each endpoint is called once, lazily, by its first item, on one event loop that lives for the run
(the app's lifespan runs around the whole audit).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.audit import checks, generate
from bgtasks_conformance.audit.app import AppError, load_app
from bgtasks_conformance.audit.calls import Observation, observe
from bgtasks_conformance.audit.checks_registry import CHECKS, Check, audit_registry
from bgtasks_conformance.audit.examples import NO_EXAMPLES, Examples, ExamplesError, load
from bgtasks_conformance.audit.routes import DiscoveryError, Endpoint, components, discover
from bgtasks_conformance.drive.asgi_driver import Lifespan
from bgtasks_conformance.plugin import bounds
from bgtasks_conformance.plugin.entry import dest
from bgtasks_conformance.plugin.settings import settings
from bgtasks_conformance.results.registry import REQUIREMENT_MARK, Requirement
from bgtasks_conformance.target.loader import TargetError

EXAMPLE_HINT = ('add an example request with what it needs to the file given with --bgtasks-audit-examples, e.g.\n'
                '    [["{label}"]]\n    headers = {{ Authorization = "Bearer <test token>" }}\n'
                '    json = {{ ... }}{path_hint}')


@dataclass
class Audit:
    """The run's app, endpoints and options, the loop its calls run on, and each endpoint's observations."""

    spec: str
    app: Any
    endpoints: list[Endpoint]
    examples: Examples
    examples_path: str | None
    requests_per_endpoint: int
    lag_threshold: float
    timeout: float
    components: dict[str, Any]
    runner: asyncio.Runner | None = None
    lifespan: Lifespan | None = None
    results: dict[str, tuple[list[Observation], str]] = field(default_factory=dict)

    def observations(self, endpoint: Endpoint) -> tuple[list[Observation], str]:
        """The endpoint's observations (its requests sent on first use) and a note on requests not sent."""
        if endpoint.label not in self.results:
            self.results[endpoint.label] = self._run(endpoint)
        return self.results[endpoint.label]

    def _run(self, endpoint: Endpoint) -> tuple[list[Observation], str]:
        if self.runner is None:
            self.runner = asyncio.Runner()
            self.lifespan = Lifespan(self.app, self.timeout)
            self.runner.run(self.lifespan.startup())
        generated, note = generate.generated(endpoint, self.components, self.requests_per_endpoint)
        examples = [] if endpoint.note else self.examples.for_endpoint(endpoint.label)
        requests = [self.examples.with_defaults(r) for r in [*examples, *generated]]
        observed = [self.runner.run(observe(self.app, request, endpoint.roles, self.timeout)) for request in requests]
        return observed, note

    def close(self) -> None:
        if self.runner is not None:
            try:
                if self.lifespan is not None:
                    self.runner.run(self.lifespan.shutdown())
            finally:
                self.runner.close()
                self.runner = None


_audit_key = pytest.StashKey[Audit]()


def prepare_audit(config: pytest.Config, wait_timeout: float) -> dict[str, Requirement]:
    """Load the app, discover its endpoints, read the examples; the registry of the run's per-endpoint checks."""
    spec = str(config.getoption(dest("--bgtasks-app")))
    examples_path = config.getoption(dest("--bgtasks-audit-examples"))
    watched = bounds.of(config)
    bounded = watched.calling_target(f"the import of the app {spec}", settings(config).import_timeout,
                                     "--bgtasks-import-timeout") if watched is not None else contextlib.nullcontext()
    try:
        with bounded:  # an import that hangs or calls sys.exit() is a usage error naming it, as for a target
            app = load_app(spec, config.invocation_params.dir)
        endpoints = discover(app)
        examples = load(_resolve(config, examples_path)) if examples_path else NO_EXAMPLES
    except (AppError, DiscoveryError, ExamplesError, TargetError) as error:
        raise pytest.UsageError(str(error)) from None
    labels = {e.label for e in endpoints}
    unknown = sorted(set(examples.requests) - labels)
    if unknown:
        raise pytest.UsageError(f"--bgtasks-audit-examples {examples_path}: no endpoint {', '.join(unknown)}; the app "
                                f"has {', '.join(sorted(labels))}")
    audit = Audit(spec, app, endpoints, examples, examples_path, _count(config), _lag(config), wait_timeout,
                  components(app))
    config.stash[_audit_key] = audit
    config.add_cleanup(audit.close)
    if not config.pluginmanager.has_plugin(__name__):
        config.pluginmanager.register(__import__(__name__, fromlist=["_"]), __name__)
    return audit_registry([e.label for e in endpoints])


def _resolve(config: pytest.Config, path: str) -> Path:
    given = Path(path)
    return given if given.is_absolute() else config.invocation_params.dir / given


def _count(config: pytest.Config) -> int:
    text = str(config.getoption(dest("--bgtasks-audit-requests")))
    if not text.isdigit():
        raise pytest.UsageError(f"--bgtasks-audit-requests {text!r}: give a whole number of generated requests per "
                                "endpoint, e.g. --bgtasks-audit-requests 3 (0: only the examples)")
    return int(text)


def _lag(config: pytest.Config) -> float:
    text = str(config.getoption(dest("--bgtasks-audit-lag")))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise pytest.UsageError(f"--bgtasks-audit-lag {text!r}: give the loop lag in seconds that counts as blocking, "
                                "e.g. --bgtasks-audit-lag 0.1")
    return value


class AuditCollector(pytest.Collector):
    """The app under audit: its endpoints' checks."""

    def collect(self) -> list[pytest.Item]:
        audit = self.config.stash[_audit_key]
        return [AuditItem.from_parent(self, name=check.rid(endpoint.label), endpoint=endpoint, check=check)
                for endpoint in audit.endpoints for check in CHECKS]


class AuditFinding(AssertionError):
    """The endpoint does not pass the check: the findings, one paragraph each."""


class AuditItem(pytest.Item):
    def __init__(self, *, endpoint: Endpoint, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.check = check
        self.add_marker(getattr(pytest.mark, REQUIREMENT_MARK)(check.rid(endpoint.label), level=check.level))
        self.extra_keyword_matches.add(check.id)

    def runtest(self) -> None:
        audit = self.config.stash[_audit_key]
        observations, note = audit.observations(self.endpoint)
        reached = [obs for obs in observations if obs.reached()]
        if not reached:
            pytest.skip(not_reached(self.endpoint, observations, note, audit.examples_path))
        verdict = checks.EVALUATE[self.check.key](self.endpoint.label, reached, audit.lag_threshold)
        for key, value in {"requests": len(reached), **verdict.observed}.items():
            self.user_properties.append(("observed", (key, value)))
        if verdict.findings:
            raise AuditFinding("\n".join(verdict.findings))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, AuditFinding):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.config.stash[_audit_key].spec, None, self.name


def not_reached(endpoint: Endpoint, observations: list[Observation], note: str, examples_path: str | None) -> str:
    """Why the endpoint's code never ran, and how to add an example that reaches it."""
    statuses = sorted({str(obs.status) for obs in observations})
    if endpoint.note and not observations:
        return f"not reached: {endpoint.label}: {endpoint.note}"
    seen = (f"all {len(observations)} requests got a client error (status {', '.join(statuses)}) before any "
            "background task was made") if observations else f"no request could be made ({note or 'none generated'})"
    params = [part.split("}")[0] for part in endpoint.path.split("{")[1:]]
    path_hint = "\n    path = { " + ", ".join(f"{p} = ..." for p in params) + " }" if params else ""
    where = f" ({examples_path})" if examples_path else ""
    return (f"not reached: {endpoint.label}: {seen}; {EXAMPLE_HINT.format(label=endpoint.label, path_hint=path_hint)}"
            f"{where}")


def pytest_collection(session: pytest.Session) -> bool | None:
    """Collect the audit's items instead of the spec (in xdist's controller, nothing: its workers collect)."""
    config = session.config
    if _audit_key not in config.stash or (getattr(config.option, "dist", "no") != "no"
                                          and not hasattr(config, "workerinput")):
        return None
    from _pytest.runner import collect_one_node

    collector = AuditCollector.from_parent(session, name="bgtasks-audit", nodeid="bgtasks-audit")
    report = collect_one_node(collector)
    session.ihook.pytest_collectreport(report=report)
    items = [node for node in report.result if isinstance(node, pytest.Item)]
    if report.failed:
        raise pytest.UsageError(f"the audit's collection failed: {report.longreprtext}")
    session.items = items
    session.testscollected = len(items)
    config.hook.pytest_collection_modifyitems(session=session, config=config, items=session.items)
    config.hook.pytest_collection_finish(session=session)
    return True
