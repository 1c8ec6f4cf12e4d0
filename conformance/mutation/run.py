"""Runs the spec against a mutant: a throwaway copy of the framework first on PYTHONPATH, one subprocess each."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bgtasks_conformance.mutation.generate import framework_root

KILLED, SURVIVED, INVALID, TIMEOUT = "killed", "survived", "invalid", "timeout"
# ERROR: the run could not judge the mutant (no selected test was collected); NOT_REACHED: no test runs its code
ERROR, NOT_REACHED = "error", "not reached"


@dataclass
class Outcome:
    """What a run did: its status, the seconds it took and a word on why (the failing test, the error)."""

    status: str
    seconds: float
    detail: str = ""
    tests: int = 0


def _module(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".")


def copy_framework(files: dict[str, str], into: Path) -> None:
    """Copies each file's top-level package into ``into`` and writes the given sources over its files."""
    for top in sorted({file.split("/", 1)[0] for file in files}):
        shutil.copytree(framework_root(f"{top}/") / top, into / top,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for file, source in files.items():
        (into / file).write_text(source, encoding="utf-8")


_LIVE: set[subprocess.Popen[str]] = set()
_LIVE_LOCK = threading.Lock()


_STOPPING = threading.Event()


def stopping() -> bool:
    """Whether the command was interrupted (a run's outcome then means nothing)."""
    return _STOPPING.is_set()


class Stopped(Exception):
    """The command was interrupted: no further run starts."""


def stop_all() -> None:
    """Kills the process group of every run still going, and starts none after (an interrupted command)."""
    _STOPPING.set()
    with _LIVE_LOCK:
        for process in _LIVE:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Runs a command in its own process group; on timeout kills the whole group. ``(exit code or None, output)``."""
    with _LIVE_LOCK:
        if _STOPPING.is_set():
            raise Stopped
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        _LIVE.add(process)
    with process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return None, output
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(process)
    return process.returncode, output


def _failure_line(output: str) -> str:
    """The first ``FAILED``/``ERROR`` line of pytest's summary, or its last line."""
    lines = [line for line in output.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith(("FAILED", "ERROR"))), lines[-1] if lines else "")[:200]


@dataclass(frozen=True)
class Suite:
    """A test suite mutants are run against: this project's spec, or a framework's own tests in their env."""

    name: str
    python: str
    args: tuple[str, ...]
    cwd: Path | None = None
    pyargs: str | None = None
    env: tuple[tuple[str, str], ...] = ()

    def narrowed(self, tests: list[str]) -> list[str]:
        """Arguments that collect only the files of ``tests`` (the plugin then keeps only those tests)."""
        paths = sorted({test.split("::", 1)[0] for test in tests})
        if self.pyargs is None:
            return paths
        return ["--pyargs", *(f"{self.pyargs}.{Path(path).stem}" for path in paths)]


PLUGIN = "bgtasks_mutation_plugin"
PYTEST = ("-m", "pytest", "-q", "-rfE", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", PLUGIN)


def suite_env(suite: Suite, root: Path, framework: Path | None, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a run: the mutated framework copy (if any), then the plugin, first on PYTHONPATH."""
    plugin = root / "plugin"
    plugin.mkdir(exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("pytest_plugin.py"), plugin / f"{PLUGIN}.py")
    paths = [str(framework)] if framework is not None else []
    paths += [str(plugin), *filter(None, [os.environ.get("PYTHONPATH")])]
    # an outer coverage run's settings (its subprocess measurement, its data file) stay out of these runs
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")}
    return {**inherited, **dict(suite.env), **extra, "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONDONTWRITEBYTECODE": "1"}


def run_tests(suite: Suite, files: dict[str, str], tests: list[str], timeout: float,
              stop_first: bool = True, record: Path | None = None) -> Outcome:
    """``tests`` of ``suite`` with ``files`` (relative path -> source) in a throwaway framework copy.

    Invalid: a mutated module does not import (or the copy is not what is imported); killed: a test fails
    (``-x``: the first failure ends the run), a test is skipped (it ran on the unmutated framework: the mutant
    made it untested, which a report and ``compare`` show) or the run exceeds ``timeout``; survived: every
    test passes.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bgtasks-mutant-") as tmp:
        root = Path(tmp)
        copy, work = root / "framework", root / "work"
        work.mkdir()
        copy_framework(files, copy)
        copy = copy.resolve()
        select = root / "select.txt"
        select.write_text("".join(f"{test}\n" for test in tests), encoding="utf-8")
        skips = root / "skips.txt"
        extra = {"BGTASKS_MUTATION_SELECT": str(select), "BGTASKS_MUTATION_SKIPS": str(skips)}
        if record is not None:
            extra["BGTASKS_MUTATION_RECORD"] = str(record)
        env = suite_env(suite, root, copy, extra)
        modules = [_module(file) for file in files]
        check = ("import importlib, os\n"
                 f"for name in {modules!r}:\n"
                 "    module = importlib.import_module(name)\n"
                 f"    assert os.path.realpath(module.__file__).startswith({str(copy)!r}), \\\n"
                 "        f'{name} imported from {module.__file__}, not the mutated copy'\n")
        code, output = _run([suite.python, "-c", check], work, env, timeout)
        if code != 0:
            last = [line for line in output.splitlines() if line.strip()]
            return Outcome(INVALID, time.monotonic() - started, (last[-1] if last else "no output")[:200])
        command = [suite.python, *PYTEST, *(["-x"] if stop_first else []), *suite.narrowed(tests)]
        code, output = _run(command, suite.cwd or work, env, timeout)
        skipped = skips.read_text(encoding="utf-8").splitlines() if skips.exists() else []
    seconds = time.monotonic() - started
    if code is None:
        return Outcome(TIMEOUT, seconds, f"the tests ran over {timeout:g} s")
    if code == 5:
        return Outcome(ERROR, seconds, "no test ran: the selected tests were not collected (" +
                       _failure_line(output) + ")")
    if code == 0 and skipped:
        return Outcome(KILLED, seconds, f"SKIPPED (untested under the mutant) {skipped[0]}"[:200])
    return Outcome(SURVIVED if code == 0 else KILLED, seconds, "" if code == 0 else _failure_line(output))


def spec_suite() -> Suite:
    """This project's spec against the sample app (its default run: the raw ASGI tier), in this environment."""
    return Suite(name="spec", python=sys.executable, args=("--pyargs", "bgtasks_conformance.spec"),
                 pyargs="bgtasks_conformance.spec")
