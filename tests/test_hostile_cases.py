# ruff: noqa: F811  (the ``hostile`` fixture is imported from tests/test_hostile.py, and taken by name)
"""Issue 19's hostile cases: each run ends within its bound, names the target's code, writes its report, fails.

Built like tests/test_hostile.py (its ``hostile`` fixture runs the suite in a subprocess against a
scratch target); the targets here take SIGALRM, hide threads, hang at exit, empty ``sys.path``,
declare ``conformance_lacks`` wrongly, or point the reports where they cannot be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading

import pytest

from tests.test_hostile import BASE, FAST, HOSTILE, STARTUP, Hostile, at, hostile, one_line_usage_error  # noqa: F401

HOSTILE.update({
    "alarm_ignored": '''
import signal, time, hbase
async def take_the_alarm():
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(60)  # holds the event loop's thread
def create_app(env):
    return hbase.make(env, extra=take_the_alarm)
create_app.conformance_lacks = hbase.LACKS
''',
    "alarm_reset": '''
import signal, time, hbase
async def reset_the_alarm():
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    time.sleep(60)  # holds the event loop's thread
def create_app(env):
    return hbase.make(env, extra=reset_the_alarm)
create_app.conformance_lacks = hbase.LACKS
''',
    "hidden_thread": '''
import threading, hbase
STOP = threading.Event()
HIDDEN = threading.Thread(target=STOP.wait, name="hidden-by-the-target")
HIDDEN.start()
_enumerate = threading.enumerate
threading.enumerate = lambda: [t for t in _enumerate() if t is not HIDDEN]
def create_app(env):
    return hbase.make(env)
create_app.conformance_lacks = hbase.LACKS
''',
    "atexit_sleeps": '''
import atexit, threading, hbase
def linger_at_exit():
    threading.Event().wait(120)
atexit.register(linger_at_exit)
def create_app(env):
    return hbase.make(env)
create_app.conformance_lacks = hbase.LACKS
''',
    "empties_path": '''
import sys, hbase
def create_app(env):
    sys.path.clear()
    return hbase.make(env)
create_app.conformance_lacks = hbase.LACKS
''',
    "lacks_list": '''
import hbase
def create_app(env):
    return hbase.make(env)
create_app.conformance_lacks = ["sync-endpoint"]
''',
    "lacks_int": '''
import hbase
def create_app(env):
    return hbase.make(env)
create_app.conformance_lacks = 3
''',
    "lacks_raising": '''
import hbase
class Factory:
    def __call__(self, env):
        return hbase.make(env)
    @property
    def conformance_lacks(self):
        raise RuntimeError("not today")
create_app = Factory()
''',
    "report_to_dir": '''
import os, hbase
os.makedirs("report.json", exist_ok=True)  # the report path, replaced by a directory after the options were checked
def create_app(env):
    return hbase.make(env)
create_app.conformance_lacks = hbase.LACKS
''',
})


def report_of(path: os.PathLike[str]) -> dict[str, object]:
    with open(path) as raw:
        return json.load(raw)


# -- SIGALRM taken by the target: the hard stop speaks past pytest's capture, writes the report -------
@pytest.mark.parametrize("name", ["alarm_ignored", "alarm_reset"])
def test_a_task_that_takes_sigalrm_is_stopped_hard_and_says_so(hostile: Hostile, scratch: pytest.Pytester,
                                                                name: str) -> None:
    report = scratch.path / "out" / "report.json"
    run = hostile(name, *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report), bound=5 + STARTUP)
    assert run.ret == 1, run.text[-3000:]  # not 142 (killed by SIGALRM), not 0
    assert "did not end within 5s (--bgtasks-test-timeout)" in run.err, run.text[-3000:]
    assert at(name, "time.sleep(60)") in run.err, run.err[-3000:]
    assert "stopping the run (exit 1) with the reports written" in run.err
    outcomes = {r["id"]: r["outcome"] for r in report_of(report)["requirements"]}
    assert outcomes["ARGS-001"] == "target-error", outcomes


# -- the end of the process: threads found without trusting the target, atexit bounded --------------
def test_a_non_daemon_thread_hidden_from_threading_enumerate(hostile: Hostile) -> None:
    run = hostile("hidden_thread", *FAST, "-k", "ARGS-001", bound=1 + STARTUP)
    assert run.ret == 1, run.text[-3000:]
    assert "non-daemon threads still running: 'hidden-by-the-target'" in run.err, run.err[-3000:]


def test_an_atexit_handler_that_never_returns(hostile: Hostile, scratch: pytest.Pytester) -> None:
    report = scratch.path / "report.json"
    run = hostile("atexit_sleeps", *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report), bound=1 + STARTUP)
    assert run.ret == 1, run.text[-3000:]
    assert "the process did not exit within 1s of the end of the run (--bgtasks-exit-timeout)" in run.err
    assert at("atexit_sleeps", "Event().wait(120)") in run.err, run.err[-3000:]
    assert report_of(report)["requirements"]


# -- bad declarations: one line naming the target --------------------------------------------------
@pytest.mark.parametrize(("name", "fragment"), [
    ("lacks_list", "conformance_lacks is list, not a mapping of capability names to reasons"),
    ("lacks_int", "conformance_lacks is int, not a mapping of capability names to reasons"),
    ("lacks_raising", "reading its conformance_lacks raised RuntimeError: not today"),
])
def test_conformance_lacks_of_a_wrong_type_or_raising(hostile: Hostile, name: str, fragment: str) -> None:
    run = hostile(name, bound=STARTUP)
    one_line_usage_error(run, f"target '{name}:create_app'", fragment)


def test_a_factory_that_empties_sys_path(hostile: Hostile) -> None:
    run = hostile("empties_path", bound=STARTUP)
    one_line_usage_error(run, "target empties_path:create_app", "the factory removed", "entries from sys.path")


@pytest.mark.parametrize("pattern", ["*", "*[*]", "*-*"])
def test_an_expectation_that_covers_every_requirement(hostile: Hostile, scratch: pytest.Pytester,
                                                      pattern: str) -> None:
    (scratch.path / "expect.toml").write_text(f'[[expect]]\nrequirement = "{pattern}"\noutcome = "skip"\n'
                                              'reason = "everything"\n')
    run = hostile(None, "--bgtasks-expectations", "expect.toml", bound=STARTUP)
    one_line_usage_error(run, f"expect.toml:1 (entry 1): requirement {pattern!r} covers every requirement")


# -- option values the platform cannot represent, report paths that are not regular files ----------
def test_a_timeout_too_large_to_wait_for(hostile: Hostile) -> None:
    run = hostile(None, "--bgtasks-test-timeout", "1e308", bound=STARTUP)
    one_line_usage_error(run, "--bgtasks-test-timeout '1e308': at most 86400 seconds")


def test_a_report_path_that_is_a_device(hostile: Hostile) -> None:
    run = hostile(None, "--bgtasks-report", "/dev/full", bound=STARTUP)
    one_line_usage_error(run, "--bgtasks-report /dev/full: is not a regular file")


def test_a_report_path_that_is_a_fifo(hostile: Hostile, scratch: pytest.Pytester) -> None:
    os.mkfifo(scratch.path / "report.json")
    run = hostile(None, "--bgtasks-junit", "report.json", bound=STARTUP)
    one_line_usage_error(run, "--bgtasks-junit report.json: is not a regular file")


def test_a_report_replaced_by_a_directory_during_the_run(hostile: Hostile, scratch: pytest.Pytester) -> None:
    run = hostile("report_to_dir", *FAST, "-k", "ARGS-001", "--bgtasks-report", "report.json", bound=5 + STARTUP)
    assert run.ret != 0, run.text[-3000:]
    assert "INTERNALERROR" not in run.text and "Traceback" not in run.text, run.text[-3000:]
    lines = [line for line in run.err.splitlines() if "the report could not be written" in line]
    assert len(lines) == 1 and re.search(r"--bgtasks-report \S*report\.json: the report could not be written "
                                         r"\(Is a directory\)", lines[0]), run.err[-3000:]
    assert "report written to" not in run.out


# -- a task that ends or replaces the process, or a process tree left behind -----------------------
HOSTILE.update({
    "execs": '''
import os, sys, hbase
def replace_the_process():
    os.execv(sys.executable, [sys.executable, "-c", "pass"])
def create_app(env):
    return hbase.make(env, extra=replace_the_process)
create_app.conformance_lacks = hbase.LACKS
''',
    "sigterm_self": '''
import os, signal, hbase
def terminate_the_process():
    os.kill(os.getpid(), signal.SIGTERM)
def create_app(env):
    return hbase.make(env, extra=terminate_the_process)
create_app.conformance_lacks = hbase.LACKS
''',
    "sigint_self": '''
import os, signal, hbase
async def interrupt_the_process():
    os.kill(0, signal.SIGINT)
def create_app(env):
    return hbase.make(env, extra=interrupt_the_process)
create_app.conformance_lacks = hbase.LACKS
''',
    "raises_interrupt": '''
import hbase
async def raise_an_interrupt():
    raise KeyboardInterrupt
def create_app(env):
    return hbase.make(env, extra=raise_an_interrupt)
create_app.conformance_lacks = hbase.LACKS
''',
    "grandchild": '''
import subprocess, sys, hbase
DETACHED = "import os, time; os.setsid(); time.sleep(60)"
CHILD = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {DETACHED!r}])"
def detach_a_grandchild():
    subprocess.run([sys.executable, "-c", CHILD])
def create_app(env):
    return hbase.make(env, extra=detach_a_grandchild)
create_app.conformance_lacks = hbase.LACKS
''',
})


@pytest.mark.parametrize(("name", "refused"), [
    ("execs", "os.exec*("),
    ("sigterm_self", "os.kill of the suite's own process (signal 15)"),
    ("sigint_self", "os.kill of the suite's own process (signal 2)"),
])
def test_a_task_that_ends_or_replaces_the_process(hostile: Hostile, scratch: pytest.Pytester, name: str,
                                                  refused: str) -> None:
    report = scratch.path / "report.json"
    run = hostile(name, *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report), bound=5 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    code = {"execs": "os.execv", "sigterm_self": "os.kill", "sigint_self": "os.kill"}[name]
    assert f"{refused}" in run.out and at(name, code) in run.out, run.out[-3000:]
    assert re.search(r"ARGS-001 +MUST +TARGET-ERROR", run.out), run.out[-3000:]
    outcomes = {r["id"]: r["outcome"] for r in report_of(report)["requirements"]}
    assert outcomes["ARGS-001"] == "target-error", outcomes


def test_a_task_that_raises_keyboard_interrupt(hostile: Hostile, scratch: pytest.Pytester) -> None:
    report = scratch.path / "report.json"
    run = hostile("raises_interrupt", *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report), bound=5 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert f"the target raised KeyboardInterrupt at {scratch.path}" in run.out, run.out[-3000:]
    outcomes = {r["id"]: r["outcome"] for r in report_of(report)["requirements"]}
    assert outcomes["ARGS-001"] == "target-error", outcomes


def test_a_detached_grandchild_left_running(hostile: Hostile) -> None:
    run = hostile("grandchild", *FAST, "-k", "ARGS-001", "-x", bound=5 + STARTUP)
    pids = re.findall(r"descendant process left running: pid (\d+) '.*os\.setsid\(\).*' \(spawned at .*"
                      + re.escape(at("grandchild", "subprocess.run")), run.out)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(int(pid), signal.SIGKILL)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert pids, run.out[-3000:]


# -- the GIL held in C: the watchdog thread cannot run; the watchdog process stops the run -----------
HOSTILE.update({
    "holds_the_gil": '''
import hbase
def sum_forever():
    sum(range(10**14))  # C code: never gives the GIL back to the watchdog thread
def create_app(env):
    return hbase.make(env, extra=sum_forever)
create_app.conformance_lacks = hbase.LACKS
''',
})


def test_a_task_that_holds_the_gil_in_c(hostile: Hostile, scratch: pytest.Pytester) -> None:
    """Bound: the test's 5 s, the thread's 4 grace periods of 2 s, the process's 5 s slack, 3 s for SIGABRT."""
    report = scratch.path / "report.json"
    run = hostile("holds_the_gil", *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report),
                  bound=5 + 4 * 2 + 5 + 3 + STARTUP)
    assert run.ret not in (0, pytest.ExitCode.INTERRUPTED), run.text[-3000:]
    assert "bgtasks watchdog process: the test " in run.err and "--bgtasks-test-timeout" in run.err, run.err[-3000:]
    assert re.search(r'holds_the_gil\.py", line \d+ in sum_forever', run.err), run.err[-3000:]  # faulthandler's
    header = report_of(report)["header"]
    assert "did not end within 5s" in str(header.get("stopped")), header
    outcomes = {r["id"]: r["outcome"] for r in report_of(report)["requirements"]}
    assert outcomes["ARGS-001"] == "target-error", outcomes


# -- closed standard streams: tolerated, named --------------------------------------------------------------
HOSTILE.update({
    "closes_streams": '''
import os, sys, hbase
def close_the_terminal():
    sys.stdout.close()
    sys.stderr.close()
    os.close(1)
    os.close(2)
def create_app(env):
    return hbase.make(env, extra=close_the_terminal)
create_app.conformance_lacks = hbase.LACKS
''',
})


def test_a_task_that_closes_stdout_and_stderr(hostile: Hostile, scratch: pytest.Pytester) -> None:
    report = scratch.path / "report.json"
    run = hostile("closes_streams", *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report), bound=5 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert "Traceback" not in run.err and "INTERNALERROR" not in run.text, run.err[-3000:]
    assert f"the target closed the suite's standard streams: sys.stdout.close() at {scratch.path}" in run.out, \
        run.out[-3000:]
    assert at("closes_streams", "sys.stdout.close()") in run.out
    outcomes = {r["id"]: r["outcome"] for r in report_of(report)["requirements"]}
    assert outcomes["ARGS-001"] == "target-error", outcomes


def test_an_xdist_worker_is_not_ended_while_it_waits_for_its_controller() -> None:
    """A worker lives on until the controller ends it: with no thread of the target's left, its exit bound is not
    armed (armed, it ended a worker that finished early with os._exit, and coverage lost that worker's data)."""
    from bgtasks_conformance.plugin.watchdog import arm_exit
    from bgtasks_conformance.target.frames import TargetCode

    def watchdogs() -> int:
        return sum(t.name == "bgtasks-exit-watchdog" for t in threading.enumerate())

    before = watchdogs()
    arm_exit(0.001, 0, TargetCode(), only_if_threads=True)
    assert watchdogs() == before, "the exit bound was armed in a worker with no thread of the target's left"


# -- raise_signal (no audit event, unlike os.kill): the target's act, refused like os.kill; a real Ctrl-C stays one ----
RAISES = '''
import signal, hbase
raise_signal = {taken}
{kind}def raise_it():
    raise_signal(signal.{signal})
def create_app(env):
    return hbase.make(env, extra=raise_it)
create_app.conformance_lacks = hbase.LACKS
'''
UNWRAPPED = 'getattr(signal.raise_signal, "__wrapped__", signal.raise_signal)'  # past the suite's wrapper
HOSTILE.update({
    "raise_sigint": RAISES.format(taken="signal.raise_signal", kind="async ", signal="SIGINT"),
    "raise_sigterm": RAISES.format(taken="signal.raise_signal", kind="", signal="SIGTERM"),  # a worker thread's
    "raise_sigint_unwrapped": RAISES.format(taken=UNWRAPPED, kind="async ", signal="SIGINT"),
    "raise_sigterm_unwrapped": RAISES.format(taken=UNWRAPPED, kind="async ", signal="SIGTERM"),
    "ctrl_c": '''
import os, time, hbase
async def hold_the_loop():
    os.write(int(os.environ["BGTASKS_TEST_READY_FD"]), b"running")
    time.sleep(30)  # the target's code is the frame the user's Ctrl-C interrupts
def create_app(env):
    return hbase.make(env, extra=hold_the_loop)
create_app.conformance_lacks = hbase.LACKS
''',
})


@pytest.mark.parametrize(("name", "signum"), [("raise_sigint", 2), ("raise_sigterm", 15),
                                              ("raise_sigint_unwrapped", 2), ("raise_sigterm_unwrapped", 15)])
def test_a_task_that_raises_a_signal_in_the_suites_process(hostile: Hostile, scratch: pytest.Pytester, name: str,
                                                           signum: int) -> None:
    """``signal.raise_signal`` has no audit event: graded target-error naming the call, as ``os.kill`` of itself is."""
    report = scratch.path / "report.json"
    run = hostile(name, *FAST, "-k", "ARGS-001", "--bgtasks-report", str(report), bound=5 + STARTUP)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    refused = f"signal.raise_signal in the suite's own process (signal {signum}) called at "
    assert refused in run.out and at(name, "raise_signal(signal.") in run.out, run.out[-3000:]
    assert re.search(r"ARGS-001 +MUST +TARGET-ERROR", run.out), run.out[-3000:]
    outcomes = {r["id"]: r["outcome"] for r in report_of(report)["requirements"]}
    assert outcomes["ARGS-001"] == "target-error", outcomes


def test_a_ctrl_c_from_another_process_is_still_the_users(scratch: pytest.Pytester) -> None:
    """SIGINT sent by this test (the user's Ctrl-C) while the target's code runs: an interrupted run (exit 2), not the
    target's act, even though the target's frame is the one the signal interrupts."""
    scratch.makepyfile(hbase=BASE, ctrl_c=HOSTILE["ctrl_c"])
    ready, write_end = os.pipe()
    env = {**os.environ, "BGTASKS_TEST_READY_FD": str(write_end),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(scratch.path), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "bgtasks_conformance.spec",
               "--bgtasks-target", "ctrl_c:create_app", *FAST, "-k", "ARGS-001", "--bgtasks-report", "report.json"]
    run = subprocess.Popen(command, cwd=scratch.path, env=env, pass_fds=(write_end,), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(write_end)
    try:
        started = select.select([ready], [], [], STARTUP + 30)[0] and os.read(ready, 100)
        assert started == b"running", f"the target's task did not start within {STARTUP + 30}s; saw {started!r}"
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=30)
    finally:
        os.close(ready)
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "refused" not in output and "the target raised KeyboardInterrupt" not in output, output[-3000:]
    assert "KeyboardInterrupt" in output and "Traceback" not in output, output[-3000:]  # pytest's own summary
    assert report_of(scratch.path / "report.json")["requirements"], "no report written after the Ctrl-C"


# -- the watchdog process waits for the run's end without polling (a pidfd), or polls where there is none ------
@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polled"])
def test_the_watchdog_process_waits_for_the_run_to_end(pidfd: bool) -> None:
    from bgtasks_conformance.plugin.reaper import _Watched

    if pidfd and not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open on this platform")
    ready, write_end = os.pipe()
    run = subprocess.Popen([sys.executable, "-c", "import os, sys, time; os.write(int(sys.argv[1]), b'up'); "
                            "time.sleep(120)", str(write_end)], pass_fds=(write_end,))
    os.close(write_end)
    try:
        assert select.select([ready], [], [], 60)[0] and os.read(ready, 2) == b"up", "the process did not start"
        with _Watched(run.pid) as watched:
            if not pidfd and watched.pidfd is not None:  # as where there is no pidfd_open
                os.close(watched.pidfd)
                watched.pidfd = None
            assert (watched.pidfd is not None) is pidfd
            assert not watched.gone(0.01), "a running process was reported gone"
            watched.kill(signal.SIGKILL)
            assert watched.gone(30), "the killed process was not seen gone within 30s"
    finally:
        os.close(ready)
        run.kill()
        run.wait()
    assert run.returncode == -signal.SIGKILL
