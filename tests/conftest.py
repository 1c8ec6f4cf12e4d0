"""Fixtures for the harness's own tests: throwaway target modules and pytest runs as a user runs them."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.target.loader import ENV_VAR, Target, TargetChoice, load_target

# The harness's fixtures for tests that use them without collecting the spec (the entry point registers
# these plugins only in runs that ask for the suite).
# tests.suite_runs: the real runs of the suite that several modules read (green, red)
pytest_plugins = ["pytester", "bgtasks_conformance.plugin.core", "bgtasks_conformance.plugin.wire", "tests.suite_runs"]

collect_ignore = ["guest_repo"]  # a user's repository, for test_guest.py: its tests are its own

MakeModule = Callable[[str, str], str]
RunPytest = Callable[..., pytest.RunResult]

INI = "[pytest]\n"


def scenario_only(env: TargetEnv) -> Starlette:
    """The smallest target: ``POST /scenario`` done as the contract says, nothing else."""

    async def scenario(request: Request) -> JSONResponse:
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)
        return JSONResponse(plan.json_body(), background=tasks)

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeModule]:
    """Write ``name.py`` on a private sys.path entry; the module is forgotten after the test."""
    folder = tmp_path / "modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    written: list[str] = []

    def make(name: str, source: str) -> str:
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield make
    for name in written:
        sys.modules.pop(name, None)


@pytest.fixture
def load(make_module: MakeModule) -> Callable[[str], Target]:
    """Write a module ``tgt`` from source and load ``tgt:create_app`` as the --bgtasks-target option would."""

    def loader(source: str) -> Target:
        make_module("tgt", source)
        return load_target(TargetChoice("tgt:create_app", "--bgtasks-target option"))

    return loader


@pytest.fixture
def scratch(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A scratch directory for pytest runs: its own ini, no target named by the environment."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    pytester.makeini(INI)
    return pytester


@pytest.fixture
def run_pytest(scratch: pytest.Pytester) -> RunPytest:
    """Run ``pytest ARGS`` in a subprocess from the scratch directory, as a user would."""

    def run(*args: str) -> pytest.RunResult:
        return scratch.runpytest_subprocess("-p", "no:cacheprovider", *args)

    return run
