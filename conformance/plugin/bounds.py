"""The pytest face of the watchdog and the leak checks: every phase of a run bounded, every test checked.

Installed by :mod:`bgtasks_conformance.plugin.core` in runs that ask for the suite. Bounds (options
``--bgtasks-import-timeout``, ``--bgtasks-factory-timeout``, ``--bgtasks-test-timeout``,
``--bgtasks-exit-timeout``; README "Bounds and leaks"): the target's import, the preflight and each
factory call end the run before any test with one message (exit 4); a test that outlives its bound
is graded target-error with the stacks, and the run stops after it (exit 1, reports written).
After each test, what the target left (:mod:`bgtasks_conformance.plugin.leaks`) grades it
target-error with the list.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bgtasks_conformance.plugin.leaks import Leaked, Watch, refuse_signal, uninstall
from bgtasks_conformance.plugin.reaper import Reaper
from bgtasks_conformance.plugin.settings import settings
from bgtasks_conformance.plugin.watchdog import (
    MAX_SIGNALS,
    Expired,
    Phase,
    Watchdog,
    arm_exit,
    keep_terminal,
    no_forced_exit,
    terminal_fd,
    write_terminal,
)
from bgtasks_conformance.results.registry import REQUIREMENT_MARK
from bgtasks_conformance.target.frames import TargetCode, target_root, where
from bgtasks_conformance.target.loader import TargetChoice, TargetError

HardStop = Callable[[pytest.Item | None, str], None]
Snapshot = Callable[[], tuple[dict[str, Any], dict[str, str]] | None]  # the reports as they stand, and their paths
REAPER_SLACK = 5.0  # the watchdog process acts this long after the watchdog thread's hard stop was due


class Bounds:
    """One per run: the watchdog, the leak watch, and the hooks that use them."""

    def __init__(self, config: pytest.Config, choice: TargetChoice, hard_stop: HardStop,
                 snapshot: Snapshot | None = None) -> None:
        chosen = settings(config)
        self.config = config
        self.settings = chosen
        self.code = TargetCode(target_root(choice.spec))
        self.watchdog = Watchdog(self.code, grace=2 * chosen.wait_timeout + 1, hard_stop=self._hard_stop)
        self.reaper = Reaper(terminal_fd())  # the last resort, when the watchdog thread cannot run (the GIL held)
        self._snapshot = snapshot
        self.watch = Watch(self.code)  # blames by evidence (the target's frames), never by what appeared meanwhile
        self.status: int | None = None
        self._hard_stop_reports = hard_stop
        self._item: pytest.Item | None = None
        self._expired_reported = False
        self._stopped = False
        self._signalled: list[int] = []  # SIGINT or SIGTERM received (a user's Ctrl-C, CI cancelling)
        self._interrupts: list[KeyboardInterrupt] = []  # the ones raised for them
        self._signals = _take_signals(self._signalled, self._interrupts)

    # -- phases outside tests ---------------------------------------------------------------------
    @contextlib.contextmanager
    def calling_target(self, what: str, seconds: float, option: str) -> Iterator[Phase]:
        """Bounded, and no exit forced: a problem becomes a :class:`TargetError` naming ``what``."""
        with self._reaped(what, seconds, option), \
                self.watchdog.bounded(what, seconds, option, convert=TargetError) as phase, \
                no_forced_exit(what, TargetError):
            yield phase

    @contextlib.contextmanager
    def _reaped(self, what: str, seconds: float, option: str, requirement: str = "") -> Iterator[None]:
        """The watchdog process armed for the block: it acts only if the watchdog thread's hard stop did not."""
        faulthandler.enable(file=terminal_fd(), all_threads=True)  # its stacks, if the process sends SIGABRT
        if self._snapshot is not None:
            self.reaper.reports(self._snapshot)
        key = f"{what}#{id(what)}"
        self.reaper.arm(key, seconds + self.watchdog.grace * (MAX_SIGNALS + 1) + REAPER_SLACK, what=what,
                        bound=seconds, option=option, requirement=requirement)
        try:
            yield
        finally:
            self.reaper.disarm(key)

    def factory_guard(self, spec: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
        seconds = self.settings.factory_timeout
        return lambda: self.calling_target(f"the factory {spec}", seconds, "--bgtasks-factory-timeout")

    def _hard_stop(self, phase: Phase) -> None:
        self._hard_stop_reports(self._item, phase.message)

    # -- hooks ----------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[Any]:
        if item.get_closest_marker(REQUIREMENT_MARK) is None:  # not a spec test: a test of the user's own is theirs
            return (yield)
        self._item = item
        self._expired_reported = False
        what, option = f"the test {item.nodeid}", "--bgtasks-test-timeout"
        marker = item.get_closest_marker(REQUIREMENT_MARK)
        with self._reaped(what, self.settings.test_timeout, option, str(marker.args[0]) if marker else ""), \
                self.watchdog.bounded(what, self.settings.test_timeout, option) as phase:
            item.stash[_phase_key] = phase
            result = yield
        self._item = None
        return result

    @pytest.hookimpl(wrapper=True, trylast=True)  # innermost: inside pytest's capture of the call
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """A KeyboardInterrupt no SIGINT delivered was raised by the target: its error, not the user's Ctrl-C.
        And ``sys.stdout``/``sys.stderr`` cannot be closed by the target (pytest's capture writes there after)."""
        if item.get_closest_marker(REQUIREMENT_MARK) is None:
            return (yield)
        kept = {name: getattr(sys, name) for name in ("stdout", "stderr")}
        guards = {name: _Unclosable(stream, name, self.code) for name, stream in kept.items()}
        for name, guard in guards.items():
            setattr(sys, name, guard)
        try:
            result = yield
        except KeyboardInterrupt as error:
            raise self._interrupt(item, error) from None
        finally:
            for name, stream in kept.items():
                if getattr(sys, name) is guards[name]:
                    setattr(sys, name, stream)
        closed = [guard.closed_at for guard in guards.values() if guard.closed_at]
        if closed:
            raise TargetError("the target closed the suite's standard streams: " + "; ".join(closed)
                              + " (kept open); a background task must not close them")
        return result

    def _interrupt(self, item: pytest.Item, error: KeyboardInterrupt) -> BaseException:
        """The error to raise for ``error``: itself after a real SIGINT or SIGTERM, else the target's error."""
        if self._signalled or item.get_closest_marker(REQUIREMENT_MARK) is None:
            return error
        at = next((where(frame) for frame, _ in reversed(list(_tb_frames(error)))
                   if self.code.owns(frame.f_code.co_filename)), "(no frame of the target's code)")
        return TargetError(f"the target raised KeyboardInterrupt at {at} (no SIGINT was received: not a "
                           "Ctrl-C); a background task must not raise it")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.code.tests.update(str(item.path) for item in session.items)  # a test's own frames are not the target's

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self) -> None:
        self.watch.before_test()

    def pytest_runtest_makereport(self, call: pytest.CallInfo[None]) -> None:
        if call.excinfo is not None and call.excinfo.errisinstance(Expired):
            self._expired_reported = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Iterator[None]:
        try:
            yield
        except Expired:
            self._expired_reported = True  # the teardown's report carries it
            raise
        except KeyboardInterrupt as error:  # a loop the target's KeyboardInterrupt broke, closing
            raise self._interrupt(item, error) from None
        finally:
            problems = self.watch.after_test()
            if item.get_closest_marker(REQUIREMENT_MARK) is None:  # a test of the user's own: not the target's
                problems = []
            phase = item.stash.get(_phase_key, None)
            expired = phase is not None and phase.expired
            if expired:
                self._stopped = True
                item.session.shouldstop = (f"bgtasks watchdog: {item.nodeid} outlived its bound "
                                           "(--bgtasks-test-timeout); the run stops here")
            if expired and not self._expired_reported:
                problems.insert(0, phase.message if phase else "")
            if problems:
                raise Leaked(f"the target left behind or wrote ({len(problems)}):\n"
                             + "\n".join(f"  {line}" for line in problems))
        return None

    @pytest.hookimpl(wrapper=True, trylast=True)  # innermost: the terminal's summary comes after it, whatever happens
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        found = self.watch.outside_tests or self.watch.findings
        if found.files and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self._stopped and session.exitstatus == pytest.ExitCode.INTERRUPTED:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the watchdog stopped it: a target-error
        try:
            what = "the end of the run (session teardown, the reports)"
            with self._reaped(what, self.settings.exit_timeout, "--bgtasks-exit-timeout"), \
                    self.watchdog.bounded(what, self.settings.exit_timeout, "--bgtasks-exit-timeout", target_only=True):
                yield
        except KeyboardInterrupt as error:
            if not any(error is raised for raised in self._interrupts):
                raise
            # the user's Ctrl-C once more: a task that stored it (anyio's test runner) raises it again at its teardown
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        except Expired as error:  # e.g. an event loop closing on a task that swallows its cancellation
            write_terminal(f"{error}\nbgtasks watchdog: the run ends here (exit 1), the reports are written\n")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            self._hard_stop_reports(None, str(error))
        self.status = int(session.exitstatus)
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        found = self.watch.outside_tests or self.watch.findings
        for path, by in found.files.items():
            terminalreporter.write_line(f"bgtasks: outside any test (the import, the preflight), the target wrote "
                                        f"{path} (at {by}), outside env.data_dir: the run fails")
        if self.watch.checks and self.config.get_verbosity() > 0:
            terminalreporter.write_line(f"bgtasks leak checks: {self.cost_line()}")

    def cost_line(self) -> str:
        per_test = self.watch.cost / max(self.watch.checks, 1) * 1e6
        return f"{self.watch.checks} tests, {self.watch.cost * 1e3:.1f} ms in all, {per_test:.0f} µs per test"

    def close(self, status: int, outermost: bool) -> None:
        self.watchdog.close()
        _restore_signals(self._signals)
        uninstall(self.watch)
        if outermost and hasattr(self.config, "workerinput"):
            # an xdist worker lives on until the controller ends it (after every worker finished, and
            # execnet bounds that): only threads the target left are a reason to end it early
            arm_exit(self.settings.exit_timeout, self.status if self.status is not None else status, self.code,
                     only_if_threads=True)
            self.reaper.close()
        elif outermost:
            arm_exit(self.settings.exit_timeout, self.status if self.status is not None else status, self.code)
            self.reaper.arm("exit", self.settings.exit_timeout + REAPER_SLACK, what="the end of the process",
                            bound=self.settings.exit_timeout, option="--bgtasks-exit-timeout")
        else:
            self.reaper.close()


class _Unclosable:
    """A standard stream the target may write to but not close: ``close()`` is recorded, with where it was called."""

    def __init__(self, stream: Any, name: str, code: TargetCode) -> None:
        self._stream, self._name, self._code = stream, name, code
        self.closed_at = ""

    def close(self) -> None:
        frame = sys._getframe(1)
        while frame is not None and not self._code.owns(frame.f_code.co_filename):
            frame = frame.f_back
        self.closed_at = self.closed_at or f"sys.{self._name}.close() at {where(frame) if frame else '(unknown)'}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _tb_frames(error: BaseException) -> Iterator[tuple[Any, int]]:
    tb = error.__traceback__
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _take_signals(received: list[int], raised: list[KeyboardInterrupt]) -> dict[int, Any]:
    """SIGINT and SIGTERM noted, then as before (SIGTERM as a KeyboardInterrupt: pytest then writes the reports).
    One the target's code raised in itself (``raise_signal``) is refused there instead: its act, not a Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}

    def noted(signum: int, frame: Any) -> None:
        refuse_signal(signum, frame)  # raises Leaked where the target raised it
        received.append(signum)
        before = previous.get(signum)
        try:
            if signum == signal.SIGINT and callable(before):
                before(signum, frame)
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name} received")
        except KeyboardInterrupt as error:
            raised.append(error)
            raise

    for signum in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(signum)
        if before in (signal.SIG_IGN, None):  # ignored on purpose (nohup, a parent's choice): left so
            continue
        previous[signum] = signal.signal(signum, noted)
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, handler)


_phase_key = pytest.StashKey[Phase]()
_bounds_key = pytest.StashKey[Bounds]()


def install(config: pytest.Config, choice: TargetChoice, hard_stop: HardStop,
            snapshot: Snapshot | None = None) -> Bounds:
    keep_terminal(config)  # before the target runs: a hard stop must reach the terminal past pytest's capture
    bounds = Bounds(config, choice, hard_stop, snapshot)
    config.stash[_bounds_key] = bounds
    config.pluginmanager.register(bounds, "bgtasks_conformance.plugin.bounds")
    return bounds


def of(config: pytest.Config) -> Bounds | None:
    return config.stash.get(_bounds_key, None)
