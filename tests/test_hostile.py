"""Hostile targets and bad input: every run ends within its documented bound, with the cause named.

Each test writes a deliberately bad target (or passes a bad option) into a scratch directory, runs
the suite there in a subprocess as a user would, and asserts the exit code, a bound on the wall
time of that subprocess (a bound, not a measurement of the suite's speed) and the message.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# Small bounds, so that each case ends in seconds (README "Bounds and leaks" gives the defaults).
FAST = ("--bgtasks-wait-timeout", "0.5", "--bgtasks-gate-timeout", "2", "--bgtasks-test-timeout", "5",
        "--bgtasks-factory-timeout", "1", "--bgtasks-import-timeout", "1", "--bgtasks-exit-timeout", "1")
STARTUP = 20.0  # pytest's start, the import of the frameworks, the preflight: slack on a busy 2-core machine

# The contract's /scenario only; after the preflight, ``before()`` runs in the endpoint and ``extra`` is one more task.
BASE = '''
import json
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.responses import JSONResponse
from starlette.routing import Route

LACKS = {n: "hostile test target" for n in ("base-http-middleware", "asgi-middleware", "seed-endpoints",
                                             "sync-endpoint", "exception-handlers", "dependencies")}


def make(env, extra=None, before=None, wrap=None):
    async def scenario(request):
        body = json.loads(await request.body())
        tasks = BackgroundTasks()
        in_test = body.get("tasks") and "preflight" not in [task.get("id") for task in body["tasks"]]
        plan = env.schedule(body, wrap(tasks.add_task) if wrap and in_test else tasks.add_task)
        if in_test:
            if before is not None:
                before()
            if extra is not None:
                tasks.add_task(extra)
        return JSONResponse(plan.json_body(), background=tasks)

    return Starlette(routes=[Route("/scenario", scenario, methods=["POST"])])
'''

HOSTILE = {
    "factory_hang": '''
import threading, hbase
def create_app(env):
    threading.Event().wait()
create_app.conformance_lacks = hbase.LACKS
''',
    "import_hang": '''
import threading
threading.Event().wait()
''',
    "same_app": '''
import hbase
APPS = []
def create_app(env):
    if not APPS:
        APPS.append(hbase.make(env))
    return APPS[0]
create_app.conformance_lacks = hbase.LACKS
''',
    "sync_block": '''
import threading, hbase
def block_forever():
    threading.Event().wait()
def create_app(env):
    return hbase.make(env, extra=block_forever)
create_app.conformance_lacks = hbase.LACKS
''',
    "async_swallow": '''
import asyncio, hbase
async def swallow_cancellation():
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass
def create_app(env):
    return hbase.make(env, extra=swallow_cancellation)
create_app.conformance_lacks = hbase.LACKS
''',
    "non_daemon": '''
import threading, hbase
STOP = threading.Event()
threading.Thread(target=STOP.wait, name="left-by-the-target").start()
def create_app(env):
    return hbase.make(env)
create_app.conformance_lacks = hbase.LACKS
''',
    "gate_ignored": '''
import asyncio, inspect, threading, hbase
def ignore_gates(add_task):
    def add(func, *args, **kwargs):
        def ignoring_its_gate(*a, **k):
            threading.Event().wait(30)  # 30 s of work first, whatever the task's gate says
            result = func(*a, **k)
            if inspect.isawaitable(result):
                asyncio.run(result)
        add_task(ignoring_its_gate, *args, **kwargs)
    return add
def create_app(env):
    return hbase.make(env, wrap=ignore_gates)
create_app.conformance_lacks = hbase.LACKS
''',
    "leaky": '''
import asyncio, socket, subprocess, sys, threading, hbase
KEEP = []
async def linger():
    await asyncio.Event().wait()
def hold():
    threading.Event().wait()
def leak():
    KEEP.append(asyncio.ensure_future(linger()))
    threading.Thread(target=hold, daemon=True, name="leaked-daemon").start()
    KEEP.append(socket.socket())
    KEEP.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    with open("access.log", "a") as log:
        log.write("POST /scenario\\n")
def create_app(env):
    return hbase.make(env, before=leak)
create_app.conformance_lacks = hbase.LACKS
''',
    "import_os_exit": "import os\nos._exit(3)\n",
    "import_sys_exit": "import sys\nsys.exit('leaving')\n",
}


@dataclass
class Run:
    ret: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


Hostile = Callable[..., Run]


@pytest.fixture
def hostile(scratch: pytest.Pytester) -> Hostile:
    """Run the suite against ``HOSTILE[name]`` (or the sample app) in a subprocess, timed."""
    scratch.makepyfile(hbase=BASE)

    def run(name: str | None, *args: str, bound: float) -> Run:
        target = ()
        if name is not None:
            scratch.makepyfile(**{name: HOSTILE[name]})
            target = ("--bgtasks-target", f"{name}:create_app")
        started = time.monotonic()
        result = scratch.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "bgtasks_conformance.spec",
                                              *target, *args, timeout=bound + 30)
        seconds = time.monotonic() - started
        done = Run(result.ret, result.stdout.str(), result.stderr.str(), seconds)
        _kill_children(done.text)
        if seconds >= bound:  # over: is the machine slow right now? the start-up slack scales with it, measured
            startup = startup_now(scratch.path)
            bound += max(0.0, 2 * startup - STARTUP)
            assert seconds < bound, (f"took {seconds:.1f}s, the bound is {bound:.1f}s (a start-up here takes "
                                     f"{startup:.1f}s now):\n{done.text[-3000:]}")
        return done

    return run


def startup_now(where: Path) -> float:
    """The seconds a start of the suite takes on this machine now (pytest, the frameworks' import, the collection):
    ``STARTUP`` is slack for it on a busy 2-core machine; a machine slower than that (a CPU burner) gets twice this."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "bgtasks_conformance.spec",
                    "--collect-only", "-q"], cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=600, check=False)
    return time.monotonic() - started


def at(name: str, code: str) -> str:
    """``name.py:N in FUNCTION`` for the first line of ``HOSTILE[name]`` (as written) that contains ``code``."""
    lines = HOSTILE[name].strip().splitlines()
    number = next(n for n, line in enumerate(lines, 1) if code in line)
    function = next((m.group(1) for line in reversed(lines[:number])
                     if (m := re.match(r"\s*(?:async )?def (\w+)", line))), "<module>")
    return f"{name}.py:{number} in {function}"


def _kill_children(text: str) -> None:
    """Processes a leaky target spawned (the suite reports them; the test stops them)."""
    for pid in re.findall(r"child process left running: pid (\d+)", text):
        with contextlib.suppress(OSError):
            os.kill(int(pid), signal.SIGKILL)


def one_line_usage_error(run: Run, *fragments: str) -> str:
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.text[-3000:]
    errors = [line for line in run.err.splitlines() if line.strip()]
    assert len(errors) == 1, "expected one line on stderr:\n" + run.err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "INTERNALERROR" not in run.text
    return errors[0]


# -- hangs: each ends within its bound, with the target's code named --------------------------
def test_a_factory_that_never_returns(hostile: Hostile) -> None:
    run = hostile("factory_hang", *FAST, bound=1 + STARTUP)
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.text
    assert "the factory factory_hang:create_app did not end within 1s (--bgtasks-factory-timeout)" in run.err
    assert f"{at('factory_hang', 'Event().wait')} (thread 'MainThread')" in run.err, run.err


def test_a_module_whose_import_never_returns(hostile: Hostile) -> None:
    run = hostile("import_hang", *FAST, bound=1 + STARTUP)
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.text
    assert "the import of the target import_hang:create_app did not end within 1s (--bgtasks-import-timeout)" in run.err
    assert at("import_hang", "Event().wait") in run.err


def test_a_factory_that_returns_the_same_app_twice(hostile: Hostile) -> None:
    run = hostile("same_app", *FAST, bound=STARTUP)
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.text
    assert "[ ] each factory call returns a new app: the factory returned the same Starlette object on two calls" \
        in run.err


def test_a_sync_task_that_blocks_its_thread_forever(hostile: Hostile) -> None:
    """Each test fails at its own waits and names the thread; the process still exits after --bgtasks-exit-timeout."""
    run = hostile("sync_block", *FAST, "-k", "ARGS-001", bound=4 * 5 + 1 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert re.search(rf"thread left running: 'AnyIO worker thread' at .*{at('sync_block', 'wait')}", run.out)
    assert "the process did not exit within 1s of the end of the run (--bgtasks-exit-timeout)" in run.err
    assert at("sync_block", "wait") in run.err


def test_an_async_task_that_swallows_its_cancellation(hostile: Hostile) -> None:
    run = hostile("async_swallow", *FAST, "-k", "ARGS-001", bound=5 + 3 * 2 + 1 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert at("async_swallow", "asyncio.sleep") in run.text
    assert re.search(r"ARGS-001 +MUST +TARGET-ERROR", run.out), run.out[-3000:]


def test_a_non_daemon_thread_left_running(hostile: Hostile) -> None:
    """The run passes, but the target keeps the interpreter alive: it ends after --bgtasks-exit-timeout, exit 1."""
    run = hostile("non_daemon", *FAST, "-k", "ARGS-001", bound=1 + STARTUP)
    assert run.ret == 1, run.text[-3000:]
    assert "non-daemon threads still running: 'left-by-the-target'" in run.err
    assert "ending the process (os._exit(1))" in run.err


def test_a_task_that_ignores_its_gate_is_bounded(hostile: Hostile) -> None:
    """The first test that outlives --bgtasks-test-timeout is a target-error and stops the run. The wait timeout is
    longer than that bound here: with short waits each test fails on its own first, and none outlives it."""
    run = hostile("gate_ignored", *FAST, "--bgtasks-wait-timeout", "10", "-k", "ORDER-00",
                  bound=5 + 3 * 2 + 1 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert "did not end within 5s (--bgtasks-test-timeout)" in run.out
    assert at("gate_ignored", "wait(30)") in run.out
    assert "outlived its bound (--bgtasks-test-timeout); the run stops here" in run.out
    assert re.search(r"ORDER-\d+ +MUST +TARGET-ERROR", run.out), run.out[-3000:]


# -- leaks -------------------------------------------------------------------------------------
def test_leaks_and_stray_files_are_named(hostile: Hostile, scratch: pytest.Pytester) -> None:
    run = hostile("leaky", *FAST, "-k", "ARGS-001", "-x", bound=5 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    for expected in (
        rf"file written outside env.data_dir: {re.escape(str(scratch.path / 'access.log'))} "
        rf"\(by .*{at('leaky', 'with open')}\)",
        rf"asyncio task left pending: 'Task-\d+' at .*{at('leaky', 'asyncio.Event().wait')}",
        rf"daemon thread left running: 'leaked-daemon' at .*{at('leaky', 'threading.Event().wait')}",
        rf"socket left open: <socket\.socket .*> \(created at .*{re.escape(at('leaky', 'socket.socket()'))}\)",
        rf"child process left running: pid \d+ '.*time\.sleep\(60\)' \(spawned at .*{at('leaky', 'Popen')}\)",
    ):
        assert re.search(expected, run.out), expected + "\n" + run.out[-4000:]
    assert re.search(r"ARGS-001 +MUST +TARGET-ERROR", run.out)


def test_the_sample_app_leaks_nothing(hostile: Hostile, scratch: pytest.Pytester) -> None:
    report = scratch.path / "report.json"
    run = hostile(None, "-k", "ARGS or ORDER", "--bgtasks-report", str(report), bound=60)
    assert run.ret == pytest.ExitCode.OK, run.text[-3000:]
    assert "left running" not in run.out and "outside env.data_dir" not in run.out
    pytesters = {"stdout", "stderr"}  # runpytest_subprocess's own files and runpytest-N directories
    written = {p.name for p in scratch.path.iterdir() if p.name not in pytesters and not p.name.startswith("runpytest")}
    assert written == {"hbase.py", "report.json", "tox.ini"}


# -- forced exits and bad input: one line each -------------------------------------------------
@pytest.mark.parametrize(("name", "called"),
                         [("import_os_exit", "os._exit(3)"), ("import_sys_exit", "sys.exit('leaving')")])
def test_an_exit_forced_during_the_import(hostile: Hostile, name: str, called: str) -> None:
    run = hostile(name, bound=STARTUP)
    one_line_usage_error(run, f"the import of the target {name}:create_app called {called} at ", f"{name}.py:2")


@pytest.mark.parametrize(("option", "value"), [
    ("--bgtasks-wait-timeout", "nan"), ("--bgtasks-load-timeout", "nan"), ("--bgtasks-test-timeout", "inf"),
    ("--bgtasks-import-timeout", "0"), ("--bgtasks-factory-timeout", "-1"), ("--bgtasks-exit-timeout", "soon"),
])
def test_a_timeout_that_is_not_a_finite_positive_number(hostile: Hostile, option: str, value: str) -> None:
    run = hostile(None, option, value, bound=STARTUP)
    one_line_usage_error(run, f"{option} {value!r}: give a finite, positive number of seconds")


def test_a_server_named_twice(hostile: Hostile) -> None:
    run = hostile(None, "--bgtasks-servers", "uvicorn,uvicorn", bound=STARTUP)
    one_line_usage_error(run, "uvicorn named twice; name each server once")


def test_a_report_path_that_is_a_directory(hostile: Hostile, scratch: pytest.Pytester) -> None:
    (scratch.path / "reports").mkdir()
    run = hostile(None, "--bgtasks-report", "reports", bound=STARTUP)
    one_line_usage_error(run, "--bgtasks-report reports: is a directory; name a file in a writable directory")


def test_an_expectations_file_that_is_not_text(hostile: Hostile, scratch: pytest.Pytester) -> None:
    (scratch.path / "expect.toml").write_bytes(b"[[expect]]\nrequirement = \"POST-001\"\n\x89PNG\r\n\x1a\n\x00\xff")
    run = hostile(None, "--bgtasks-expectations", "expect.toml", bound=STARTUP)
    one_line_usage_error(run, "expect.toml:3: not UTF-8 text (byte 0x89)", "[[expect]] tables")


def test_an_expectations_entry_is_named_by_its_line(hostile: Hostile, scratch: pytest.Pytester) -> None:
    (scratch.path / "expect.toml").write_text('[[expect]]\nrequirement = "POST-001"\noutcome = "skip"\nreason = "x"\n\n'
                                              '[[expect]]\nrequirement = "POST-002"\noutcome = "maybe"\nreason = "y"\n')
    run = hostile(None, "--bgtasks-expectations", "expect.toml", bound=STARTUP)
    one_line_usage_error(run, "expect.toml:6 (entry 2): outcome is one of")


@pytest.mark.parametrize("profile", ["bgtasks-fats", "thorogh"])
def test_a_misspelt_hypothesis_profile(hostile: Hostile, profile: str) -> None:
    run = hostile(None, "--hypothesis-profile", profile, bound=STARTUP)
    one_line_usage_error(run, f"--hypothesis-profile {profile!r}", "registered profiles: ", "bgtasks-thorough")
