"""Real runs of the suite, in a subprocess as a user runs it, for the tests of what they write."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BROKEN = "bgtasks_conformance.sample_app.broken.catalog:email_loosened"  # accepts invalid e-mail addresses


@dataclass
class Run:
    exit_code: int
    output: str
    directory: Path

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.directory / "report.json").read_text())  # type: ignore[no-any-return]

    @property
    def html(self) -> Path:
        return self.directory / "report.html"


def run_suite(directory: Path, *args: str) -> Run:
    """``pytest --pyargs bgtasks_conformance.spec ARGS`` in ``directory``, writing the JSON and HTML reports there."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--pyargs",
               "bgtasks_conformance.spec", "--bgtasks-report", "report.json", "--bgtasks-html", "report.html", *args]
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=600, check=False)
    run = Run(done.returncode, done.stdout + done.stderr, directory)
    assert (directory / "report.json").is_file(), f"the run wrote no report (exit {done.returncode}):\n{run.output}"
    return run


def green_run(directory: Path) -> Run:
    """The bundled sample app, the ASGI tier: every requirement that runs passes (exit 0)."""
    run = run_suite(directory)
    assert run.exit_code == 0, f"the sample app's run was expected green, exit {run.exit_code}:\n{run.output[-3000:]}"
    return run


def red_run(directory: Path) -> Run:
    """A broken implementation, its seed and e-mail requirements only: some MUSTs fail (exit 1)."""
    run = run_suite(directory, "--bgtasks-target", BROKEN, "-k", "SEED or EMAIL")
    assert run.exit_code == 1, f"the broken target's run was expected red, exit {run.exit_code}:\n{run.output[-3000:]}"
    return run


@pytest.fixture(scope="session")
def green(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One green run for every module that reads it (the schema's and the HTML report's tests)."""
    return green_run(tmp_path_factory.mktemp("green"))


@pytest.fixture(scope="session")
def red(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return red_run(tmp_path_factory.mktemp("red"))
