"""Every run bounded, from one place: the target's import, each factory call, each test, the end of the run.

pytest-timeout's approach, in the suite: one monitor thread watches the phase that is running. When
a phase outlives its bound, the monitor takes the stacks of every thread and of the tasks of every
running event loop (``sys._current_frames``, ``asyncio.all_tasks``), names the target's frames in
them, and interrupts the main thread with ``SIGALRM``: its handler raises :class:`Expired` (a
``BaseException``, so that neither the target's ``except Exception`` nor hypothesis's shrinking
catches it) where the main thread is. A test whose bound expired is graded target-error with that
message (also when the exception landed in one of the target's own tasks) and the run stops after
it. The main thread then has ``grace`` seconds (twice ``--bgtasks-wait-timeout``, plus one) to leave the
phase (the test's teardown); it is interrupted again each time they pass, and after the third
interruption the run is stopped hard: the message and the stacks go to the terminal (faulthandler's dump as
well), the reports are written, and the process ends with ``os._exit(1)``. After the reports are
written, :func:`arm_exit` bounds the end of the process: threads the target leaves running (a
non-daemon thread keeps the interpreter from exiting) have ``--bgtasks-exit-timeout`` seconds,
then their stacks are printed and the process ends with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bgtasks_conformance.target.frames import TargetCode, dump

_exit = os._exit  # the real one: no_forced_exit replaces os._exit while the suite calls the target
MAX_SIGNALS = 3  # interruptions of an expired phase before the hard stop
CULPRITS_SHOWN = 6


class Expired(BaseException):  # a BaseException, like KeyboardInterrupt
    """A watched phase outlived its bound; the message says which, how long, and where the target's code was."""


class ForcedExit(BaseException):
    """The target called ``os._exit`` while the suite was calling it (an import, a factory call)."""


@dataclass
class Phase:
    what: str  # "the import of tgt", "test test_x[...]"
    seconds: float
    option: str  # the option that sets the bound
    deadline: float
    message: str = ""  # set when it expired
    signals: int = 0
    ended: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Interrupt only for the target: while no frame of its code is seen, the wait is the run's own (pytest removing
    # earlier runs' temporary directories on a loaded machine, say) and the bound starts again; the watchdog
    # process's bound for the block still holds.
    target_only: bool = False

    @property
    def expired(self) -> bool:
        return bool(self.message)


class Watchdog:
    """Bounds nested phases of the main thread; one monitor thread for the run."""

    def __init__(self, code: TargetCode, grace: float, hard_stop: Callable[[Phase], None] | None = None) -> None:
        self.code = code
        self.grace = grace
        self.hard_stop = hard_stop  # writes the reports before the process ends
        self._phases: list[Phase] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._signal_ok = hasattr(signal, "pthread_kill") and threading.current_thread() is threading.main_thread()
        self._previous_handler: Any = None
        if self._signal_ok:
            self._previous_handler = signal.signal(signal.SIGALRM, self._on_signal)

    # -- phases -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def bounded(self, what: str, seconds: float, option: str, *,
                convert: Callable[[str], BaseException] | None = None, target_only: bool = False) -> Iterator[Phase]:
        """Watch the block; ``convert`` turns an expiry into the caller's own error (e.g. a ``TargetError``);
        ``target_only``: see :class:`Phase`."""
        phase = Phase(what, seconds, option, time.monotonic() + seconds, target_only=target_only)
        with self._wake:
            self._phases.append(phase)
            self._start()
            self._wake.notify()
        try:
            yield phase
        except Expired as error:
            if convert is None or not phase.expired:
                raise
            raise convert(phase.message) from error
        finally:
            phase.ended = True  # first: the signal handler and the monitor leave an ended phase alone
            with self._wake:
                if phase in self._phases:
                    self._phases.remove(phase)
                self._wake.notify()
        if phase.expired and convert is not None:  # the exception landed in a thread or task of the target
            raise convert(phase.message)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._signal_ok and signal.getsignal(signal.SIGALRM) == self._on_signal:
            signal.signal(signal.SIGALRM, self._previous_handler)

    # -- the monitor --------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._monitor, name="bgtasks-watchdog", daemon=True)
            self._thread.start()

    def _monitor(self) -> None:
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                due = [p for p in self._phases if p.deadline <= now and not p.ended]
                if due:
                    self._expire(due[-1], now)
                    continue
                waits = [p.deadline - now for p in self._phases if not p.ended]
                self._wake.wait(min(waits) if waits else None)

    def _expire(self, phase: Phase, now: float) -> None:
        """Called with the lock held: first the message, then up to three interruptions, then the hard stop."""
        if not phase.expired:
            culprits, lines = dump(self.code, skip_thread=threading.get_ident())
            if phase.target_only and not culprits:
                phase.deadline = now + phase.seconds  # not the target's wait: no interruption
                return
            phase.message = self.describe(phase, culprits, lines)
        if phase.signals >= MAX_SIGNALS or not self._signal_ok or not self._handler_ours():
            self._stop_hard(phase)  # nothing else can interrupt the main thread (or the target took SIGALRM)
            return
        phase.signals += 1
        phase.deadline = now + self.grace
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)

    def _handler_ours(self) -> bool:
        """SIGALRM still raises :class:`Expired`: a target that ignores, blocks or resets it is stopped hard."""
        return signal.getsignal(signal.SIGALRM) == self._on_signal and not _main_blocks(signal.SIGALRM)

    def describe(self, phase: Phase, culprits: list[str], lines: list[str]) -> str:
        """The expiry's message: where the target's code held the block (``culprits``), then the dump (``lines``)."""
        head = f"bgtasks watchdog: {phase.what} did not end within {phase.seconds:g}s ({phase.option})"
        if culprits:
            shown = culprits[:CULPRITS_SHOWN]
            head += "; the target's code held it at:\n" + "\n".join(f"  {line}" for line in shown)
            if len(culprits) > len(shown):
                head += f"\n  ... and {len(culprits) - len(shown)} more"
        else:
            head += "; no frame of the target's code was seen in any thread or task"
        return head + "\n" + "\n".join(lines)

    def _on_signal(self, signum: int, frame: Any) -> None:
        expired = [p for p in self._phases if p.expired and not p.ended]
        if expired:
            raise Expired(expired[-1].message)
        if callable(self._previous_handler):
            self._previous_handler(signum, frame)

    def _stop_hard(self, phase: Phase) -> None:
        text = (f"{phase.message}\nbgtasks watchdog: the main thread did not leave {phase.what} after "
                f"{phase.signals} interruptions {self.grace:g}s apart; stopping the run (exit 1) with the reports "
                "written\n")
        write_terminal(text)
        with contextlib.suppress(Exception):
            faulthandler.dump_traceback(file=_terminal[0] if _terminal else 2, all_threads=True)
        if self.hard_stop is not None:
            with contextlib.suppress(BaseException):
                self.hard_stop(phase)
        _exit(1)


_terminal: list[int] = []  # a copy of the original standard error, taken before the target runs


def keep_terminal(config: Any) -> None:
    """Keep a descriptor of the run's real standard error: pytest's capture (or the target) may hold fd 2 later."""
    if _terminal:
        return
    capture = getattr(config.pluginmanager.getplugin("capturemanager"), "_global_capturing", None)
    original = getattr(getattr(capture, "err", None), "targetfd_save", None)  # pytest's fd capture keeps it there
    with contextlib.suppress(OSError):
        _terminal.append(os.dup(original if isinstance(original, int) else 2))


def terminal_fd() -> int:
    """The kept copy of the run's real standard error (fd 2 before :func:`keep_terminal`)."""
    return _terminal[0] if _terminal else 2


def _main_blocks(signum: int) -> bool:
    """Whether the main thread blocks ``signum`` (its mask, from /proc; False where that cannot be read)."""
    try:
        with open(f"/proc/self/task/{threading.main_thread().native_id}/status") as status:
            mask = next((int(line.split()[1], 16) for line in status if line.startswith("SigBlk:")), 0)
    except (OSError, ValueError):
        return False
    return bool(mask >> (signum - 1) & 1)


def write_terminal(text: str) -> None:
    """To the real standard error, whatever pytest captures and whatever the target closed."""
    data = text.encode(errors="replace")
    fd = _terminal[0] if _terminal else 2
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data):]


# -- forced exits -------------------------------------------------------------------------------
@contextlib.contextmanager
def no_forced_exit(what: str, convert: Callable[[str], BaseException]) -> Iterator[None]:
    """While the suite calls the target: ``sys.exit`` and ``os._exit`` become the caller's error, named."""
    def refuse(status: int) -> None:
        raise ForcedExit(status)

    os._exit = refuse
    try:
        yield
    except ForcedExit as error:
        raise convert(f"{what} called os._exit({error.args[0]}){_called_at(error)}; the suite stopped it. "
                      "Do not end the process from the target's code") from None
    except SystemExit as error:
        raise convert(f"{what} called sys.exit({error.code!r}){_called_at(error)}; the suite stopped it. "
                      "Do not end the process from the target's code") from None
    finally:
        os._exit = _exit


def _called_at(error: BaseException) -> str:
    tb = error.__traceback__
    last = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name != "refuse":
            last = tb
        tb = tb.tb_next
    return f" at {last.tb_frame.f_code.co_filename}:{last.tb_lineno}" if last is not None else ""


# -- the end of the process ---------------------------------------------------------------------
def arm_exit(seconds: float, status: int, code: TargetCode, only_if_threads: bool = False) -> None:
    """If the process is still alive ``seconds`` from now, print why and end it with ``status`` (1 if it was 0).

    Alive: non-daemon threads the target left (found in ``threading._active``, not through
    ``threading.enumerate``, which a target can patch), or an ``atexit`` handler that does not return.
    With ``only_if_threads`` (an xdist worker, which waits for its controller), only such threads count.
    """
    def left_threads() -> list[threading.Thread]:
        return [t for t in live_threads() if not t.daemon and t is not threading.main_thread()]

    if only_if_threads and not left_threads():
        return

    def watch() -> None:
        threading.Event().wait(seconds)  # a bound: by then the process should have ended
        left = left_threads()
        if only_if_threads and not left:
            return
        culprits, lines = dump(code, skip_thread=threading.get_ident())
        why = (f"non-daemon threads still running: {', '.join(repr(t.name) for t in left)}" if left else
               "the main thread is still running (an atexit handler, or the interpreter's shutdown)")
        text = (f"bgtasks watchdog: the process did not exit within {seconds:g}s of the end of the run "
                f"(--bgtasks-exit-timeout): {why}"
                + ("; the target's code:\n" + "\n".join(f"  {c}" for c in culprits) if culprits else "")
                + "\n" + "\n".join(lines) + f"\nbgtasks watchdog: the reports are written; ending the process "
                f"(os._exit({status or 1}))\n")
        write_terminal(text)
        _exit(status or 1)  # the run passed, but the target kept the process alive

    threading.Thread(target=watch, name="bgtasks-exit-watchdog", daemon=True).start()


def live_threads() -> list[threading.Thread]:
    """Every running Python thread, from the threading module's own table (a patched ``enumerate`` hides some)."""
    table = getattr(threading, "_active", None)
    found = list(table.values()) if isinstance(table, dict) else threading.enumerate()
    return [t for t in found if isinstance(t, threading.Thread) and t.is_alive()]
