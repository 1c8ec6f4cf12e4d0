"""The pytest plugin as a user meets it: one clear usage error for a bad target, the header, skips."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import MUST, SHOULD, sample_app, spec
from bgtasks_conformance.plugin import core as plugin
from bgtasks_conformance.plugin import entry
from bgtasks_conformance.results.outcomes import FAILED, NON_STRICT, PASSED, SKIPPED, TARGET_ERROR, UNTESTED
from bgtasks_conformance.results.registry import load_registry
from bgtasks_conformance.target.loader import ENV_VAR

from .conftest import INI, RunPytest

# A target with ``POST /scenario`` only; it declares every other capability as lacking.
SCENARIO_ONLY = """
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance.target.contract import CAPABILITIES


def create_app(env):
    async def scenario(request):
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)
        return JSONResponse(plan.json_body(), background=tasks)

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])


create_app.conformance_lacks = {name: "this target has /scenario only" for name in CAPABILITIES
                                if name != "scenario"}
"""

USES_EMAIL_STR = """
from pydantic import BaseModel, EmailStr

class Subscriber(BaseModel):
    email: EmailStr

def create_app(env):
    raise AssertionError("never called")
"""

# Runs before the target in the subprocess: the interpreter behaves as if email-validator were absent.
BLOCK_EMAIL_VALIDATOR = "import sys\nsys.modules['email_validator'] = None\n"


def assert_usage_error(result: pytest.RunResult, *fragments: str) -> str:
    """Exit code 4, the message once on stderr, and not one test run, failed or errored."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    err = result.stderr.str()
    assert err.count("ERROR:") == 1, err
    for fragment in fragments:
        assert fragment in err
    out = result.stdout.str()
    assert not re.search(r"\b\d+ (passed|failed|errors?|skipped)\b", out), out
    assert "Traceback" not in out + err
    return err


# -- end to end: one subprocess per distinct error path ---------------------------------------
def test_a_missing_dependency_at_import_is_one_usage_error(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    pytester.makepyfile(emailapp=USES_EMAIL_STR, conftest=BLOCK_EMAIL_VALIDATOR)
    assert_usage_error(
        run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", "emailapp:create_app"),
        "target 'emailapp:create_app' (--bgtasks-target option) needs the email-validator package",
        "Install it: pip install 'email-validator>=2'",
    )


def test_a_factory_that_raises_is_one_usage_error(pytester: pytest.Pytester, run_pytest: RunPytest) -> None:
    pytester.makepyfile(badmod="def create_app(env):\n    raise RuntimeError('DATABASE_URL is not set')\n")
    assert_usage_error(
        run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", "badmod:create_app"),
        "target badmod:create_app (--bgtasks-target option): "
        "the factory raised RuntimeError: DATABASE_URL is not set",
        "Fix the factory",
    )


def test_missing_routes_are_one_checklist(pytester: pytest.Pytester, run_pytest: RunPytest) -> None:
    lacks_seeds_only = "\ncreate_app.conformance_lacks = {'seed-endpoints': 'later'}\n"
    pytester.makepyfile(partial=SCENARIO_ONLY + lacks_seeds_only)
    err = assert_usage_error(
        run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", "partial:create_app"),
        "does not provide what the contract asks",
        "[x] POST /scenario",
        "[ ] POST /mw/base-http/scenario: answered 404; add this route",
        "declare the capability as lacking",
    )
    assert "seed" not in err.replace("'seed-endpoints'", "")


OUTCOMES = """
import pytest

from bgtasks_conformance import MUST, SHOULD, needs, requirement
from bgtasks_conformance.results.registry import load_registry

# Requirements without a capability of their own (one the target lacks would skip them all)
MUSTS = sorted(r.id for r in load_registry().values() if r.level is MUST and not r.capability)
SHOULDS = sorted(r.id for r in load_registry().values() if r.level is SHOULD and not r.capability)


def test_an_inner_session_first(pytester):
    # a session run in process (pytester) must not take over the outer session's outcomes
    pytester.makepyfile("def test_inner(): pass")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@requirement(MUSTS[0], MUST)
@needs("base-http-middleware")
def test_lacking():
    raise AssertionError("a lacking capability must skip, not run")


@requirement(MUSTS[1], MUST)
def test_passes(conformance_target):
    assert conformance_target.choice.spec == "fromenv:create_app"


@requirement(MUSTS[2], MUST)
def test_fails():
    raise AssertionError("the target did not conform")


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


@requirement(MUSTS[3], MUST)
def test_errors(broken):
    pass


@requirement(SHOULDS[0], SHOULD)
def test_should_not_met():
    raise AssertionError("a SHOULD not met")
"""


def test_a_good_target_runs_with_header_skips_and_outcomes(
    pytester: pytest.Pytester, run_pytest: RunPytest, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(fromenv=SCENARIO_ONLY, test_outcomes=OUTCOMES)
    pytester.makeini(INI + "bgtasks_target = nothere:nope\n")  # the environment variable wins
    monkeypatch.setenv(ENV_VAR, "fromenv:create_app")
    result = run_pytest("-p", "pytester", "-rs", "--bgtasks-report", "out/report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str() + result.stderr.str()
    musts = sorted(r.id for r in load_registry().values() if r.level is MUST and not r.capability)
    should = sorted(r.id for r in load_registry().values() if r.level is SHOULD and not r.capability)[0]
    result.stdout.fnmatch_lines([
        f"bgtasks target: fromenv:create_app (from {ENV_VAR} environment variable)",
        "bgtasks versions: Python *, fastapi *, starlette *, pydantic *, email-validator *, anyio *, httpx *",
        "*background-task conformance: requirements*",
    ])
    expected = {musts[0]: SKIPPED, musts[1]: PASSED, musts[2]: FAILED, musts[3]: TARGET_ERROR,
                should: NON_STRICT}
    for rid, outcome in expected.items():
        result.stdout.fnmatch_lines([f"{rid} * {outcome.upper()} *"])
    result.stdout.fnmatch_lines([
        "report written to out/report.json",
        "SKIPPED * target lacks capability 'base-http-middleware': this target has /scenario only",
        "*1 failed, 2 passed, 1 skipped, 1 xfailed, 1 error*",
    ])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["header"]["target"] == "fromenv:create_app"
    assert report["header"]["target_source"] == f"{ENV_VAR} environment variable"
    outcomes = {r["id"]: r["outcome"] for r in report["requirements"]}
    assert {rid: outcomes[rid] for rid in expected} == expected
    assert set(outcomes.values()) - set(expected.values()) == {UNTESTED}
    details = {r["id"]: r["details"] for r in report["requirements"]}
    assert "the target did not conform" in details[musts[2]][0]
    assert "fixture broke" in details[musts[3]][0]
    assert "target lacks capability 'base-http-middleware'" in details[musts[0]][0]


# -- in process: configuration only, no session ---------------------------------------------
@pytest.fixture
def scenario_target(scratch: pytest.Pytester) -> str:
    scratch.makepyfile(inimod=SCENARIO_ONLY)
    scratch.syspathinsert()
    return "inimod:create_app"


def test_the_ini_option_names_the_target(scratch: pytest.Pytester, scenario_target: str) -> None:
    scratch.makeini(f"{INI}bgtasks_target = {scenario_target}\n")
    assert plugin.pytest_report_header(scratch.parseconfigure()) == []  # named, but the run does not ask for the suite
    config = scratch.parseconfigure("--pyargs", "bgtasks_conformance.spec")
    header = plugin.pytest_report_header(config)
    assert header[0] == f"bgtasks target: {scenario_target} (from bgtasks_target ini key)"
    versions = r"bgtasks versions: Python [\d.]+, fastapi [\d.]+, starlette [\d.]+, pydantic .*"
    assert re.fullmatch(versions, header[1])


def test_a_bad_target_is_a_usage_error_in_configure(scratch: pytest.Pytester) -> None:
    with pytest.raises(pytest.UsageError, match=r"'nocolon' \(--bgtasks-target option\) is not of the form"):
        scratch.parseconfigure("--bgtasks-target", "nocolon")


@pytest.mark.parametrize("option", ["--bgtasks-wait-timeout", "--bgtasks-gate-timeout", "--bgtasks-quiet-timeout",
                                    "--bgtasks-load-timeout"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_timeouts_must_be_finite_and_positive(scratch: pytest.Pytester, option: str, value: str) -> None:
    with pytest.raises(pytest.UsageError, match=rf"^{option} '{value}': give a finite, positive number of seconds"):
        scratch.parseconfigure(option, value)


def test_inert_without_the_spec(scratch: pytest.Pytester) -> None:
    config = scratch.parseconfigure()
    assert plugin.pytest_report_header(config) == []


SPEC_DIR = Path(spec.__file__).parent
PACKAGE_DIR = entry.PACKAGE_DIR  # bgtasks_conformance's own folder (in an editable install: conformance/)
SAMPLE_APP_DIR = Path(sample_app.__file__).parent


@pytest.mark.parametrize(
    ("args", "active"),
    [
        (("--pyargs", "bgtasks_conformance.spec"), True),
        (("--pyargs", "bgtasks_conformance.spec.test_post_response"), True),
        (("--pyargs", "spec"), False),  # a user's own package named spec
        (("--pyargs", "bgtasks_conformance.specification"), False),
        ((str(SPEC_DIR),), True),
        ((f"{SPEC_DIR / 'test_post_response.py'}::test_x",), True),
        ((str(PACKAGE_DIR),), True),
        ((str(PACKAGE_DIR.parent),), False),  # site-packages, or a repository with a venv in it
        ((str(SAMPLE_APP_DIR),), False),
        ((), False),
        (("--bgtasks-target", "x:y"), True),
        (("--bgtasks-tier", "all"), True),
        (("--bgtasks-tier", "asgi"), False),  # the default: names nothing
    ],
)
def test_requested_only_by_the_spec_or_a_suite_option(scratch: pytest.Pytester, args: tuple[str, ...],
                                                      active: bool) -> None:
    config = scratch.parseconfig(*args)
    assert entry.suite_requested(config) is active


class FakeItem:
    """Just what ``pytest_collection_modifyitems`` reads and writes."""

    def __init__(self, *marks: pytest.MarkDecorator) -> None:
        self.nodeid = "spec/test_x.py::test_x"
        self.marks = [mark.mark for mark in marks]
        self.added: list[Any] = []
        self.extra_keyword_matches: set[str] = set()

    def get_closest_marker(self, name: str) -> Any:
        return next(self.iter_markers(name), None)

    def iter_markers(self, name: str) -> Any:
        return (mark for mark in self.marks if mark.name == name)

    def add_marker(self, marker: Any) -> None:
        self.added.append(marker)


def test_an_unregistered_requirement_is_a_usage_error(scratch: pytest.Pytester) -> None:
    config = scratch.parseconfig()
    item = FakeItem(pytest.mark.bgtasks_requirement("NOPE-999", level=MUST))
    with pytest.raises(pytest.UsageError, match=r"test_x names requirement NOPE-999, which is not regist"):
        plugin.pytest_collection_modifyitems(config, [item])  # type: ignore[list-item]


def test_version_of_a_missing_distribution() -> None:
    assert plugin._version("no-such-distribution-xyz") == "not installed"


def test_a_lacking_capability_skips_with_the_reason(scratch: pytest.Pytester, scenario_target: str) -> None:
    config = scratch.parseconfigure("--bgtasks-target", scenario_target)
    lacking = FakeItem(pytest.mark.bgtasks_requirement("POST-001", level=MUST),
                       pytest.mark.bgtasks_needs("base-http-middleware"))
    provided = FakeItem(pytest.mark.bgtasks_requirement("POST-001", level=MUST), pytest.mark.bgtasks_needs("scenario"))
    unmarked = FakeItem(pytest.mark.bgtasks_needs("base-http-middleware"))
    plugin.pytest_collection_modifyitems(config, [lacking, provided, unmarked])  # type: ignore[list-item]
    assert [mark.kwargs["reason"] for mark in lacking.added] == [
        "target lacks capability 'base-http-middleware': this target has /scenario only"
    ]
    assert provided.added == unmarked.added == []
    assert lacking.extra_keyword_matches == {"POST-001"}
