"""The pytest plugin: options, the target, per-test harness fixtures, the requirement summary.

Registered as a ``pytest11`` entry point, it stays inert (no header, no target import) unless the
run collects the spec or a target is named explicitly.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.harness import Harness, Timeouts, open_harness
from bgtasks_conformance.plugin import ast_guard, bounds
from bgtasks_conformance.plugin.entry import EXPECTATIONS_INI, TARGET_INI, dest, suite_requested
from bgtasks_conformance.plugin.leaks import tasks_checked
from bgtasks_conformance.plugin.profiles import (
    DEFAULT_HYPOTHESIS_PROFILE,
    current_profile,
    register_profiles,
    unknown_profile,
)
from bgtasks_conformance.plugin.queue import start_queue
from bgtasks_conformance.plugin.recording import ERA, MEASURED, collected, measure, record_era  # noqa: F401
from bgtasks_conformance.plugin.settings import settings
from bgtasks_conformance.plugin.watchdog import write_terminal
from bgtasks_conformance.results import expectations
from bgtasks_conformance.results.expectations import Expectation
from bgtasks_conformance.results.framework_coverage import FileCoverage, FrameworkCoverage
from bgtasks_conformance.results.framework_coverage import as_json as coverage_json
from bgtasks_conformance.results.framework_coverage import lines as coverage_lines
from bgtasks_conformance.results.outcomes import (
    FAILED,
    TARGET_ERROR,
    UNTESTED,
    Outcomes,
    classify_failure,
    cut_middle,
    failure_detail,
    failure_message,
    grade,
    lacks_reason,
    skip_lines,
)
from bgtasks_conformance.results.registry import NEEDS_MARK, REQUIREMENT_MARK, Level, Requirement, load_registry
from bgtasks_conformance.results.report import (
    build_report,
    suite_commit,
    write_html,
    write_json,
    write_junit,
    write_markdown,
)
from bgtasks_conformance.target.contract import CONTRACT_VERSION
from bgtasks_conformance.target.loader import (
    Target,
    TargetChoice,
    TargetError,
    choose_target,
    load_target,
)
from bgtasks_conformance.target.preflight import adopt_missing_routes, require_contract, untested_lines

VERSIONED_PACKAGES = ("fastapi", "starlette", "pydantic", "email-validator", "anyio", "httpx")
EXTRA_PACKAGES = ("pydantic-core", "python-multipart", "uvicorn", "hypercorn", "pytest", "hypothesis")

_choice_key = pytest.StashKey[TargetChoice]()
_active_key = pytest.StashKey[bool]()
_target_key = pytest.StashKey[Target]()
_outcomes_key = pytest.StashKey[Outcomes]()
_expectations_key = pytest.StashKey[list[Expectation]]()
_started_key = pytest.StashKey[float]()
_deferred_key = pytest.StashKey[bool]()
_framework_key = pytest.StashKey[FrameworkCoverage]()
_framework_results_key = pytest.StashKey[list[FileCoverage]]()
_unwritten_key = pytest.StashKey[set[Path]]()  # reports that could not be written
_registry_key = pytest.StashKey[dict[str, Requirement]]()  # the audit's per-endpoint checks, when it runs


def _registry(config: pytest.Config) -> dict[str, Requirement]:
    """The requirements of the run: the spec's, or the audit's per-endpoint checks (--bgtasks-app)."""
    return config.stash.get(_registry_key, None) or load_registry()


@pytest.hookimpl(tryfirst=True)  # before hypothesis's plugin loads --hypothesis-profile, which may name ours
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{REQUIREMENT_MARK}(id, level): the spec requirement a test checks")
    config.addinivalue_line("markers", f"{NEEDS_MARK}(capability): a contract capability the test needs")
    _guard_ast_parse(config)
    choice = choose_target(config.getoption(dest("--bgtasks-target")), config.getini(TARGET_INI))
    if config.getoption(dest("--bgtasks-app")):  # the audit of a team's own app (audit/plugin.py)
        choice = TargetChoice(config.getoption(dest("--bgtasks-app")), "--bgtasks-app option (audit)")
    config.stash[_choice_key] = choice
    config.stash[_started_key] = time.monotonic()
    config.stash[_active_key] = suite_requested(config)
    settings(config)  # every option checked before anything else happens
    if not config.stash[_active_key]:  # registered by a conftest (the project's own tests): fixtures only
        _hypothesis_profiles(config)
        return
    config.add_cleanup(gc.unfreeze)  # registered first, so it runs last: after pytest's final gc.collect()
    _freeze_at_exit()
    problem = unknown_profile(config.getoption("hypothesis_profile", None))
    if problem:  # before hypothesis's own plugin raises it as an internal error
        raise pytest.UsageError(problem)
    bounds.install(config, choice, functools.partial(_reports_after_hard_stop, config),
                   functools.partial(_report_snapshot, config))
    _import_hypothesis_unrewritten(config)
    if _xdist_controller(config):
        # The controller runs no test: it checks the target while its workers start (pytest_collection).
        _hypothesis_profiles(config)  # hypothesis's plugin loads the named profile here too
        config.stash[_deferred_key] = True
        return
    _prepare(config)
    if config.getoption(dest("--bgtasks-framework-coverage")) and not hasattr(config, "workerinput"):
        measured = FrameworkCoverage(data_file=None)
        measured.start()
        config.stash[_framework_key] = measured


def _guard_ast_parse(config: pytest.Config) -> None:
    """For the run: one thread at a time in ``ast.parse`` where CPython needs it (:mod:`.ast_guard`).

    Servers and worker threads format the tracebacks they log while pytest formats a failure.
    """
    guard = contextlib.ExitStack()
    guard.enter_context(ast_guard.guarded())
    config.add_cleanup(guard.close)


def _prepare(config: pytest.Config) -> None:
    """Hypothesis set up, the target loaded and (except in xdist's workers) checked: a usage error if it fails."""
    _private_hypothesis_home(config)  # under xdist's controller too: hypothesis writes failing-example patches
    _hypothesis_profiles(config)
    if config.getoption(dest("--bgtasks-app")):  # the audit: the app's endpoints instead of a target and the spec
        from bgtasks_conformance.audit.plugin import prepare_audit

        if config.getoption(dest("--bgtasks-expectations")):
            raise pytest.UsageError("--bgtasks-expectations declares a target's known deviations from the spec; the "
                                    "audit (--bgtasks-app) takes none: drop it, and follow an accepted finding with "
                                    "python -m bgtasks_conformance.compare before.json after.json")
        config.stash[_registry_key] = prepare_audit(config, settings(config).wait_timeout)
        config.stash[_expectations_key] = []
        config.stash[_outcomes_key] = Outcomes(_registry(config), strict=settings(config).strict)
        return
    watched = bounds.of(config)
    chosen, choice = settings(config), config.stash[_choice_key]
    try:
        with watched.calling_target(f"the import of the target {choice.spec}", chosen.import_timeout,
                                    "--bgtasks-import-timeout"):
            target = load_target(choice, config.invocation_params.dir)
        target.guard = watched.factory_guard(choice.spec)
        start_queue(config, target)  # the queue tier's Redis and workers: the preflight's task goes through them
        if not hasattr(config, "workerinput"):  # xdist workers trust the controller's preflight
            with watched.calling_target(f"the preflight of the target {choice.spec}", chosen.test_timeout,
                                        "--bgtasks-test-timeout"):
                require_contract(target, allow=watched.watch.allow)
        else:  # what the controller's preflight found missing is untested here too (target/preflight.py)
            with watched.calling_target(f"the route check of the target {choice.spec}", chosen.test_timeout,
                                        "--bgtasks-test-timeout"):
                adopt_missing_routes(target, allow=watched.watch.allow)
    except TargetError as error:
        watched.status = pytest.ExitCode.USAGE_ERROR
        raise pytest.UsageError(str(error)) from None
    config.stash[_target_key] = target
    config.stash[_expectations_key] = _load_expectations(config, target)
    config.stash[_outcomes_key] = Outcomes(load_registry(), strict=settings(config).strict)


def _xdist_controller(config: pytest.Config) -> bool:
    """The process that hands the tests out to pytest-xdist's workers (and collects nothing itself)."""
    return getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """Under xdist, the controller loads and checks the target here: its workers are already starting up."""
    if session.config.stash.get(_deferred_key, False):
        session.config.stash[_deferred_key] = False
        _prepare(session.config)


def _hypothesis_profiles(config: pytest.Config) -> None:
    """Register the profiles; load the fast one, unless a profile other than hypothesis's default is loaded."""
    from hypothesis import settings as hypothesis_settings

    register_profiles()
    previous = current_profile()
    if previous == "default":
        hypothesis_settings.load_profile(DEFAULT_HYPOTHESIS_PROFILE)
        config.add_cleanup(lambda: hypothesis_settings.load_profile(previous))


def _hypothesis_profile() -> str | None:
    """The hypothesis profile the run used (None if the run never loaded hypothesis)."""
    module = sys.modules.get("hypothesis")
    return current_profile() if module is not None else None


def _import_hypothesis_unrewritten(config: pytest.Config) -> None:
    """Leave hypothesis's own modules to the plain import system.

    pytest rewrites the asserts of every module of a distribution that has a pytest plugin, so all of
    hypothesis (some seventy modules); where bytecode is not cached (PYTHONDONTWRITEBYTECODE)
    that costs most of a second at every start. Only hypothesis's internal asserts would lose pytest's
    messages; the spec's own asserts are rewritten as before.
    """
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set) and "hypothesis" not in sys.modules:
        marked.discard("hypothesis")


def _private_hypothesis_home(config: pytest.Config) -> None:
    """Hypothesis writes its caches and example database under a temporary directory, not the cwd."""
    from hypothesis.configuration import set_hypothesis_home_dir

    home = tempfile.mkdtemp(prefix="bgtasks-hypothesis-", dir=scratch_parent())
    set_hypothesis_home_dir(home)
    config.add_cleanup(lambda: (set_hypothesis_home_dir(None), shutil.rmtree(home, ignore_errors=True)))


def _load_expectations(config: pytest.Config, target: Target) -> list[Expectation]:
    """From ``--bgtasks-expectations``, else the ini option, else the factory's ``conformance_expectations``."""
    path = config.getoption(dest("--bgtasks-expectations")) or config.getini(EXPECTATIONS_INI) or target.expectations
    if not path:
        return []
    try:
        entries = expectations.load(Path(path))
    except expectations.ExpectationsError as error:
        raise pytest.UsageError(str(error)) from None
    broad = expectations.too_broad(entries, load_registry())
    if broad:
        raise pytest.UsageError(broad)
    stray = expectations.unmatched(entries, load_registry())
    if stray and _strict(config):
        raise pytest.UsageError("expectations that match no requirement (an error under --bgtasks-strict):\n"
                                + "\n".join(f"  {e.source}: {e.requirement!r}" for e in stray))
    return entries


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not config.stash.get(_active_key, False):
        return []
    choice = config.stash[_choice_key]
    versions = ", ".join(f"{name} {_version(name)}" for name in VERSIONED_PACKAGES)
    return [
        f"bgtasks target: {choice.spec} (from {choice.source})",
        f"bgtasks versions: Python {platform.python_version()}, {versions}",
        f"bgtasks contract: version {CONTRACT_VERSION}",
        *untested_lines(target.lacks if (target := config.stash.get(_target_key, None)) is not None else {}),
    ]


@functools.cache
def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash.get(_target_key, None)
    registry = _registry(config)
    declarations: dict[tuple[str, str], Expectation | None] = {}  # per variant: each looks up installed versions
    for item in items:
        marker = item.get_closest_marker(REQUIREMENT_MARK)
        if marker is None:
            continue
        rid = marker.args[0]
        if rid not in registry:
            raise pytest.UsageError(f"{item.nodeid} names requirement {rid}, which is not registered "
                                    "in spec/requirements/")
        item.extra_keyword_matches.add(rid)  # select by requirement: -k DEPS-001, -k DEPS
        needed = [registry[rid].capability or "", *(mark.args[0] for mark in item.iter_markers(NEEDS_MARK))]
        lacking = next((capability for capability in needed if target is not None and capability in target.lacks), None)
        if lacking is not None:  # the requirement's capability, or one the test needs
            item.add_marker(pytest.mark.skip(reason=lacks_reason(lacking, target.lacks[lacking])))
        variant = item.callspec.id if hasattr(item, "callspec") else ""
        if (rid, variant) not in declarations:  # a declaration may name variants: POST-005[base-http-*]
            declarations[rid, variant] = expectations.for_variant(config.stash.get(_expectations_key, []), rid,
                                                                  variant)
        declared = declarations[rid, variant]
        if declared is not None:
            item.user_properties.append(("expected", declared.describe()))
            item.user_properties.append(("declared", declared.as_json()))
            reason = f"declared by the implementer: {declared.describe()}"
            # Not strict: a declared variant that passes is reported by name (its variant record and the summary's
            # "declared expected-failure, but passed" line), without failing the run.
            xfail = pytest.mark.xfail(reason=reason, strict=False)
            mark = pytest.mark.skip(reason=reason) if declared.outcome == "skip" else xfail
            item.add_marker(mark)


@functools.cache
def _freeze_at_exit() -> None:
    """At exit, hand every object to the permanent generation: the interpreter's last garbage collection then
    skips the heap a run built (a few tenths of a second); objects are freed all the same when the process ends."""
    atexit.register(gc.freeze)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Spare the garbage collector the imports and the collected tests: every full collection would walk them."""
    if session.config.stash.get(_active_key, False):
        gc.freeze()


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def conformance_target(pytestconfig: pytest.Config) -> Target:
    target = pytestconfig.stash.get(_target_key, None)
    if target is None:  # not active (a harness test asked for it): load it now
        try:
            target = load_target(pytestconfig.stash[_choice_key])
        except TargetError as error:
            pytest.fail(str(error), pytrace=False)
        pytestconfig.stash[_target_key] = target
    return target


@pytest.fixture(scope="session")
def timeouts(pytestconfig: pytest.Config) -> Timeouts:
    chosen = settings(pytestconfig)
    return Timeouts(wait=chosen.wait_timeout, gate=chosen.gate_timeout, quiet=chosen.quiet_timeout)


HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture(scope="session")
def data_root(pytestconfig: pytest.Config) -> Iterator[Path]:
    """Where the harnesses' data directories go: one scratch directory for the session, removed after it."""
    root = Path(tempfile.mkdtemp(prefix="bgtasks-data-", dir=scratch_parent()))
    watched = bounds.of(pytestconfig)
    if watched is not None:  # every env.data_dir is under it
        watched.watch.allow(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def scratch_parent(environ: Mapping[str, str] = os.environ, shm: str = "/dev/shm") -> str | None:
    """Where the run's scratch directories go: RAM-backed ``/dev/shm`` where there is one and ``TMPDIR`` does not
    name another place, else the temporary directory (``None``).

    A run makes a directory for every test and every hypothesis example; on some disks (ext4 mounted with
    ``discard``) removing each costs milliseconds, most of a second a run.
    """
    if environ.get("TMPDIR") or not os.path.isdir(shm) or not os.access(shm, os.W_OK | os.X_OK):
        return None
    return shm


@pytest.fixture
def harness_factory(
    conformance_target: Target, timeouts: Timeouts, data_root: Path, request: pytest.FixtureRequest
) -> HarnessFactory:
    """Fresh harnesses on demand, each with a new empty directory of its own (for hypothesis examples).

    ``mkdtemp`` under one session directory instead of ``tmp_path``, which costs a millisecond or two a test.
    """
    prefix = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40] + "-"
    watched = bounds.of(request.config)

    def factory(**options: Any) -> AbstractAsyncContextManager[Harness]:
        data_dir = Path(tempfile.mkdtemp(dir=data_root, prefix=prefix))
        return tasks_checked(watched and watched.watch, open_harness(conformance_target, data_dir, timeouts, **options))

    return factory


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The spec's async tests and fixtures run on asyncio, through anyio's pytest plugin (``pytest.mark.anyio``).

    Registered only in runs that ask for the suite: anyio's own default (every backend in anyio 3) stays
    the user's elsewhere.
    """
    return "asyncio"


@pytest.fixture
async def harness(harness_factory: HarnessFactory) -> AsyncIterator[Harness]:
    """A fresh app, probe and data directory for one test."""
    async with harness_factory() as fresh:
        yield fresh


# -- outcomes -------------------------------------------------------------------------------------
@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Record what the target did (``observe("remaining_tasks_ran", False)``) in the reports."""

    def record(key: str, value: Any) -> None:
        request.node.user_properties.append(("observed", (key, value)))

    return record


def _strict(config: pytest.Config) -> bool:
    return settings(config).strict


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Tag reports with their requirement; a SHOULD or MAY not met does not fail a lenient run."""
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker(REQUIREMENT_MARK)
    if marker is None:
        return
    level = Level(marker.kwargs.get("level", Level.MUST))
    rid = marker.args[0]
    report.user_properties.append(("requirement", rid))
    report.user_properties.append(("level", level.value))
    if hasattr(report, "wasxfail") and call.excinfo is not None:  # a declared failure: its message, for the variant
        report.user_properties.append(("message", failure_message(rid, level, call.excinfo.value)))
    if not report.failed:
        return
    requirement = _registry(item.config).get(rid)
    report.sections.append(("requirement", f"{rid} [{level.value}] {requirement.sentence if requirement else ''}"))
    kind = classify_failure(call.excinfo, report.when)
    report.user_properties.append(("failure", kind))
    if call.excinfo is not None:
        report.user_properties.append(("message", failure_message(rid, level, call.excinfo.value)))
    if kind == FAILED and level is not Level.MUST and not _strict(item.config):
        report.outcome = "skipped"
        report.wasxfail = f"{level.value} not met ({'non-strict' if level is Level.SHOULD else 'informational'})"
        report.user_properties.append(("graded", failure_detail(report)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = report.user_properties
    rid = dict(props).get("requirement")
    outcomes = _outcomes_of(report)
    if rid is None or outcomes is None or rid not in outcomes.results:
        return
    outcomes.timed(rid, report.duration)
    if "message" in dict(props):
        outcomes.failed_with(rid, dict(props)["message"])
    if report.when != "call" and report.passed:
        return
    outcome, detail = grade(report)
    outcomes.record(rid, report.nodeid, outcome, detail, [value for key, value in props if key == "observed"],
                    declared=dict(props).get("declared"))
    outcomes.recorded(rid, report.nodeid, outcome, dict(props).get("message", ""), detail,
                      measured=collected(props, MEASURED), eras=collected(props, ERA))


# A stack: a session run inside another (pytester's in-process runs) must not take over its reports.
_session_config: list[pytest.Config] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _session_config.append(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _session_config:
        _session_config.remove(config)
    watched = bounds.of(config)
    if watched is not None:  # the end of the process bounded (only in the outermost run: not under pytester)
        watched.close(pytest.ExitCode.TESTS_FAILED, outermost=not _session_config)


def _outcomes_of(report: pytest.TestReport) -> Outcomes | None:
    return _session_config[-1].stash.get(_outcomes_key, None) if _session_config else None


def _outcomes_to_summarise(config: pytest.Config) -> Outcomes | None:
    """The run's outcomes where this process reports them: not an xdist worker, nor a collection alone."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return None
    return config.stash.get(_outcomes_key, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run in which no requirement ran fails; the reports are written here."""
    config = session.config
    outcomes = _outcomes_to_summarise(config)
    if outcomes is None:
        return
    if not outcomes.ran_any() and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
    measured = config.stash.get(_framework_key, None)
    if measured is not None:
        config.stash[_framework_results_key] = measured.stop()
    _write_reports(config, outcomes)
    if config.stash.get(_unwritten_key, None) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


def _reports_after_hard_stop(config: pytest.Config, item: pytest.Item | None, message: str) -> None:
    """The watchdog ends the process: the test it stopped is a target-error, and the reports are written."""
    outcomes = config.stash.get(_outcomes_key, None)
    if outcomes is None or hasattr(config, "workerinput"):
        return
    marker = item.get_closest_marker(REQUIREMENT_MARK) if item is not None else None
    if item is not None and marker is not None and marker.args[0] in outcomes.results:
        outcomes.record(marker.args[0], item.nodeid, TARGET_ERROR, message)
        outcomes.failed_with(marker.args[0], cut_middle(message, 1500))
    _write_reports(config, outcomes)


def _report_snapshot(config: pytest.Config) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The reports as they stand, for the watchdog process (plugin/reaper.py): none asked for, none built."""
    outcomes = config.stash.get(_outcomes_key, None)
    paths = {option: str(path) for option, path in settings(config).reports.items()}
    if outcomes is None or not paths or hasattr(config, "workerinput"):
        return None
    return build_report(outcomes, _report_header(config)), paths


def _write_reports(config: pytest.Config, outcomes: Outcomes) -> None:
    report = build_report(outcomes, _report_header(config))
    writers = {"--bgtasks-report": write_json, "--bgtasks-markdown": write_markdown, "--bgtasks-junit": write_junit,
               "--bgtasks-html": write_html}
    for option, path in settings(config).reports.items():
        try:
            writers[option](path, report)
        except OSError as error:  # replaced by a directory, a full device...: one line, and the run fails
            config.stash.setdefault(_unwritten_key, set()).add(path)
            write_terminal(f"bgtasks: {option} {path}: the report could not be written "
                           f"({error.strerror or error}); name a regular file in a writable directory\n")


def _report_header(config: pytest.Config) -> dict[str, Any]:
    choice = config.stash[_choice_key]
    return {
        "suite_version": _version("bgtasks-conformance"),
        "suite_commit": suite_commit(),
        "target": choice.spec,
        "target_source": choice.source,
        "expectations": [e.as_json() for e in config.stash.get(_expectations_key, [])],
        "strict": _strict(config),
        "versions": {name: _version(name) for name in VERSIONED_PACKAGES + EXTRA_PACKAGES},
        "framework_coverage": coverage_json(config.stash.get(_framework_results_key, [])),
        "duration_seconds": round(time.monotonic() - config.stash.get(_started_key, time.monotonic()), 3),
        "hypothesis_profile": _hypothesis_profile(),
        "leak_checks": _leak_checks(config),
    }


def _leak_checks(config: pytest.Config) -> str | None:
    watched = bounds.of(config)
    return watched.cost_line() if watched is not None else None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    outcomes = _outcomes_to_summarise(config)
    if outcomes is None:
        return
    terminalreporter.section("background-task conformance: requirements")
    if config.get_verbosity() < 0:  # -q hides the header: say here what was tested, with what
        for line in pytest_report_header(config):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"bgtasks hypothesis profile: {_hypothesis_profile()}")
    for line in outcomes.lines():
        terminalreporter.write_line(line)
    skipped = skip_lines(outcomes.results)
    if skipped:
        terminalreporter.section("bgtasks skipped, by capability")
        for line in skipped:
            terminalreporter.write_line(line)
    framework = config.stash.get(_framework_results_key, None)
    if framework is not None:
        terminalreporter.section("frameworks' background-task code exercised")
        for line in coverage_lines(framework):
            terminalreporter.write_line(line)
    tier = settings(config).tier
    if tier != "all" and outcomes.counts().get(UNTESTED):
        terminalreporter.write_line(f"untested: their tests are not in the {tier} tier or were deselected "
                                    "(--bgtasks-tier all runs both tiers)")
    if not outcomes.ran_any():
        terminalreporter.write_line("no requirement ran: every one was skipped, deselected or untested (exit 5)")
    for line in outcomes.unexpected_passes():
        terminalreporter.write_line(f"declared expected-failure, but passed: {line}")
    stray = expectations.unmatched(config.stash.get(_expectations_key, []), outcomes.results)
    for entry in stray:
        terminalreporter.write_line(f"expectation matches no requirement: {entry.source}: {entry.requirement!r}")
    for path in settings(config).reports.values():
        if path not in config.stash.get(_unwritten_key, set()):
            terminalreporter.write_line(f"report written to {path}")
