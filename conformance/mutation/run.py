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

SPEC = ("-m", "pytest", "--pyargs", "bgtasks_conformance.spec", "-x", "-q", "-p", "no:randomly",
        "-p", "no:cacheprovider")
KILLED, SURVIVED, INVALID, TIMEOUT = "killed", "survived", "invalid", "timeout"


@dataclass
class Outcome:
    """What a run did: its status, the seconds it took and a word on why (the failing test, the error)."""

    status: str
    seconds: float
    detail: str = ""


def _module(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".")


def _copy(files: dict[str, str], into: Path) -> None:
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


def run_spec(files: dict[str, str], timeout: float) -> Outcome:
    """The spec against the sample app with ``files`` (relative path -> source) in a throwaway framework copy.

    Invalid: a mutated module does not import (or the copy is not what is imported); killed: the spec
    exits nonzero or runs out of time; survived: it passes.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bgtasks-mutant-") as tmp:
        root = Path(tmp)
        copy, work = root / "framework", root / "work"
        work.mkdir()
        _copy(files, copy)
        copy = copy.resolve()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), *filter(None, [os.environ.get("PYTHONPATH")])]),
               "PYTHONDONTWRITEBYTECODE": "1"}
        modules = [_module(file) for file in files]
        check = ("import importlib, os\n"
                 f"for name in {modules!r}:\n"
                 "    module = importlib.import_module(name)\n"
                 f"    assert os.path.realpath(module.__file__).startswith({str(copy)!r}), \\\n"
                 "        f'{name} imported from {module.__file__}, not the mutated copy'\n")
        code, output = _run([sys.executable, "-c", check], work, env, timeout)
        if code != 0:
            last = [line for line in output.splitlines() if line.strip()]
            return Outcome(INVALID, time.monotonic() - started, (last[-1] if last else "no output")[:200])
        code, output = _run([sys.executable, *SPEC], work, env, timeout)
    seconds = time.monotonic() - started
    if code is None:
        return Outcome(TIMEOUT, seconds, f"the spec ran over {timeout:g} s")
    return Outcome(SURVIVED if code == 0 else KILLED, seconds, "" if code == 0 else _failure_line(output))
