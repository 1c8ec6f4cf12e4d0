"""The suite as a guest in a user's repository: installed, it changes nothing there until asked.

A throwaway copy of ``tests/guest_repo`` (its own ``spec`` and ``conformance`` packages, its own
``requirement`` marker, its own ``--target`` option, ``filterwarnings = ["error"]``, an async test under
anyio's own plugin, ``--strict-markers --strict-config``, no pytest-asyncio) gets a fresh virtual environment.
Its tests run once with the suite's dependencies but not the suite, then with the suite installed from a wheel, a path
or a git URL, non-editably: the two runs must be the same. Then the README's implementer command runs
there, under the project's own settings, and passes with its reports written. The same under pytest 8.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUEST = Path(__file__).resolve().parent / "guest_repo"
UV = Path(sysconfig.get_path("scripts")) / "uv"
IMPLEMENTER_COMMAND = ("bgtasks-conformance", "--bgtasks-target", "myapp.conformance:create_app")

pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists() or not UV.exists(),
                                reason="needs the suite's git checkout and uv (the test extra)")


def run(args: list[str], cwd: Path, timeout: float = 600, bytecode: bool = False) -> subprocess.CompletedProcess[str]:
    ours = ("PYTEST_", "BGTASKS_", "COVERAGE_", "VIRTUAL_")  # this run's, not the user's
    environ = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    if bytecode:  # as a user's Python: the build's imports may cache their bytecode
        environ.pop("PYTHONDONTWRITEBYTECODE", None)
        environ.pop("PYTHONPYCACHEPREFIX", None)
    else:
        environ["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout, check=False)


def checkout_state() -> set[str]:
    """Every path git sees as untracked or ignored in the checkout, but tox's own folder."""
    done = run(["git", "status", "--porcelain", "-z", "--ignored", "--untracked-files=all"], ROOT)
    return {entry[3:] for entry in done.stdout.split("\0") if entry and not entry[3:].startswith(".tox/")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    before = checkout_state()
    done = run([str(UV), "build", "--wheel", "--out-dir", str(out), str(ROOT)], out, bytecode=True)
    assert done.returncode == 0, done.stderr
    assert checkout_state() == before, "building the wheel wrote into the checkout"
    return next(out.glob("bgtasks_conformance-*.whl"))


class Guest:
    """A copy of the user repository with a virtual environment of its own."""

    def __init__(self, where: Path, pytest_spec: str) -> None:
        self.repo = where / "repo"
        shutil.copytree(GUEST, self.repo)
        self.venv = where / "venv"
        self.python = self.venv / "bin" / "python"
        done = run([str(UV), "venv", "-q", "--python", sys.executable, str(self.venv)], where)
        assert done.returncode == 0, done.stderr
        self.pytest_spec = pytest_spec

    def install(self, *requirements: str, no_deps: bool = False) -> None:
        args = [str(UV), "pip", "install", "-q", "--python", str(self.python), *requirements]
        done = run([*args, "--no-deps"] if no_deps else args, self.repo, bytecode=True)  # a build as a user's
        assert done.returncode == 0, done.stderr

    def pytest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([str(self.python), "-m", "pytest", *args], self.repo)

    def python_says(self, code: str) -> str:
        return run([str(self.python), "-c", code], self.repo).stdout.strip()

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([str(self.venv / "bin" / args[0]), *args[1:]], self.repo)


def dependencies_of(wheel: Path) -> list[str]:
    """The suite's declared dependencies, read from the wheel's metadata."""
    from zipfile import ZipFile

    with ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


def fixtures(user: Guest) -> list[str]:
    """``pytest --fixtures`` in the user's repository, but the header's list of installed plugins."""
    done = user.pytest("--fixtures")
    assert done.returncode == 0, done.stdout + done.stderr
    return [re.sub(r" in [\d.]+s", "", line) for line in done.stdout.splitlines() if not line.startswith("plugins:")]


def outcome_lines(done: subprocess.CompletedProcess[str]) -> tuple[int, list[str]]:
    """The exit code and every test's result line, without timings."""
    lines = [re.sub(r" in [\d.]+s.*", "", line) for line in done.stdout.splitlines()
             if line.startswith(("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")) or " passed" in line]
    return done.returncode, lines


@pytest.fixture(params=[("pytest>=9", "wheel"), ("pytest>=8,<9", "path"), ("pytest>=9", "git")],
                ids=["pytest9-wheel", "pytest8-path", "pytest9-git"])
def guest(request: pytest.FixtureRequest, tmp_path: Path, wheel: Path) -> Iterator[tuple[Guest, str]]:
    pytest_spec, source = request.param
    yield Guest(tmp_path, pytest_spec), source


def test_installed_the_suite_changes_nothing_until_asked_then_passes(guest: tuple[Guest, str], wheel: Path) -> None:
    user, source = guest
    user.install(guest[0].pytest_spec, *dependencies_of(wheel))
    assert user.python_says("import importlib.util; print(importlib.util.find_spec('pytest_asyncio'))") == "None", \
        "the suite's dependencies bring pytest-asyncio (its plugin would load in every run of the environment)"
    without = outcome_lines(user.pytest("-rA"))
    assert without[0] == 0 and "4 passed" in without[1][-1], without
    fixtures_without = fixtures(user)

    before = checkout_state()
    location = {"wheel": str(wheel), "path": str(ROOT), "git": f"bgtasks-conformance @ git+file://{ROOT}"}[source]
    user.install(location, no_deps=True)
    assert checkout_state() == before, f"installing from the {source} wrote into the checkout"

    with_suite = user.pytest("-rA")
    assert outcome_lines(with_suite) == without, with_suite.stdout + with_suite.stderr
    assert "bgtasks" not in with_suite.stdout.replace("bgtasks-conformance-", ""), with_suite.stdout
    assert user.pytest("-p", "no:randomly", "--markers").stdout.count("bgtasks") == 0
    assert fixtures(user) == fixtures_without  # no fixture of the suite's (its anyio_backend among them)

    tier = "all" if source == "wheel" else "asgi"  # the wire tier (20 s) once: under the project's filterwarnings
    reports = user.repo / "reports"
    done = user.command(*IMPLEMENTER_COMMAND, "--bgtasks-tier", tier,
                        "--bgtasks-report", "reports/run.json", "--bgtasks-junit", "reports/run.xml",
                        "--bgtasks-markdown", "reports/run.md")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    report = json.loads((reports / "run.json").read_text())
    assert report["header"]["target"] == "myapp.conformance:create_app"
    assert report["header"]["duration_seconds"] > 0
    assert report["summary"].get("passed", 0) > 20 and not {"failed", "target-error", "harness-error"} & set(
        report["summary"]), report["summary"]
    if source == "git":
        head = run(["git", "rev-parse", "HEAD"], ROOT).stdout.strip()
        assert report["header"]["suite_commit"].startswith(head), report["header"]["suite_commit"]
    assert ET.parse(reports / "run.xml").getroot().get("tests") == str(len(report["requirements"]))
    assert (reports / "run.md").read_text().startswith("## Background-task conformance")
    assert sorted(p.name for p in user.repo.iterdir()) == sorted([*(p.name for p in GUEST.iterdir()), "reports"])
