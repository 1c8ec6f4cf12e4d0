"""What the target started and left, and what it wrote where it must not: found after each test, named.

- threads: alive after the test's teardown, not there before it, with the target's code on their stack;
- asyncio tasks: still pending when a harness has closed (every call it made has ended);
- sockets: created on the test's own thread (its event loop: the endpoint, async tasks, the
  lifespan) while the target's code was on the stack (the ``socket.__new__`` audit event), still
  open after the teardown (a worker thread's connection, reused by its next task, is not counted);
- child processes: alive after the teardown, when the target's code spawned a process during the test;
- files: opened for writing, created or renamed into place (the ``open``, ``os.mkdir``,
  ``os.rename`` and ``shutil.copyfile`` audit events) outside the directories the suite hands out
  (``env.data_dir``: every one is under the session's data root), while the target's code was on
  the stack. Only evidence blames the target: a file that merely appeared meanwhile (another process's,
  another run's ``report.json`` in the same folder) is never counted.

The audit hook looks at the stack only for those few events; the per-test work is a thread list
(:attr:`Watch.cost` adds it up).
"""

from __future__ import annotations

import _signal
import asyncio
import contextlib
import dis
import functools
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bgtasks_conformance.plugin.watchdog import live_threads
from bgtasks_conformance.target.frames import TargetCode, task_frames, thread_frames, where
from bgtasks_conformance.target.loader import TargetError

T = TypeVar("T")
RAISE_SIGNAL = "signal.raise_signal"  # no audit event of its own: the suite's wrapper of it reports it (see _install)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.fork", "os.spawn"})
_FILE_EVENTS = frozenset({"open", "os.mkdir", "os.rename", "shutil.copyfile"})
_REFUSED_EVENTS = frozenset({"os.exec", "os.kill", "os.killpg", "signal.pthread_kill", RAISE_SIGNAL})
_EVENTS = _FILE_EVENTS | _SPAWN_EVENTS | _REFUSED_EVENTS | {"socket.__new__"}
RUN_MARKER = "BGTASKS_CONFORMANCE_RUN"  # in the environment of every process this run starts: its process tree
_ALWAYS_ALLOWED = ("/dev/", "/proc/")
STACK_LIMIT = 60
_PYTEST, _PLUGGY = f"{os.sep}_pytest{os.sep}", f"{os.sep}pluggy{os.sep}"


class Leaked(TargetError):
    """The target left threads, tasks, sockets or processes behind, or wrote outside ``env.data_dir``."""


@dataclass
class Findings:
    files: dict[str, str] = field(default_factory=dict)  # path -> where the target's code wrote it
    written: set[str] = field(default_factory=set)  # every path written in this process (outside the data dirs)
    spawned: str = ""  # where the target's code spawned a process
    children: set[int] | None = None  # child pids when it did, before the spawn
    sockets: list[tuple[weakref.ref[Any], str]] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # exec and signals to the suite's own process, refused


class Watch:
    """The run's leak checks: one per process, fed by an audit hook, asked before and after each test."""

    def __init__(self, code: TargetCode) -> None:
        self.code = code
        self.allowed: list[str] = [os.devnull]
        if sys.pycache_prefix:  # bytecode caches (PYTHONPYCACHEPREFIX)
            self.allow(sys.pycache_prefix)
        self.findings = Findings()  # outside any test: the import, the preflight
        self.outside_tests: Findings | None = None
        self._threads: set[int] = set()
        self.cost = 0.0
        self.checks = 0
        self.active = True
        _install(self)

    def allow(self, root: str | Path) -> None:
        """Files under ``root`` are the target's to write (a data directory, the preflight's)."""
        self.allowed.append(os.path.join(os.path.abspath(root), ""))

    # -- per test ----------------------------------------------------------------------------
    def before_test(self) -> None:
        started = time.perf_counter()
        if self.outside_tests is None:
            self.outside_tests = self.findings
        self.findings = Findings()
        self._threads = {thread.ident or 0 for thread in live_threads()}
        self.cost += time.perf_counter() - started

    def after_test(self) -> list[str]:
        """What this test's target left, one line each (empty: nothing)."""
        started = time.perf_counter()
        found = self.findings
        problems = [f"file written outside env.data_dir: {path} (by {by})" for path, by in found.files.items()]
        problems += found.refused
        problems += [f"asyncio task left pending: {task}" for task in found.tasks]
        problems += self._threads_left()
        problems += self._sockets_left(found.sockets)
        if found.spawned:
            problems += [f"{'child' if pid in direct else 'descendant'} process left running: pid {pid} "
                         f"{_cmdline(pid)} (spawned at {found.spawned})"
                         for direct in [_children()] for pid in sorted(_tree() - (found.children or set()))]
        self.checks += 1
        self.cost += time.perf_counter() - started
        return problems

    def _sockets_left(self, created: list[tuple[weakref.ref[Any], str]]) -> list[str]:
        return [f"socket left open: {sock()!r} (created at {at})" for sock, at in created if _is_open(sock())]

    def _threads_left(self) -> list[str]:
        new = [t for t in live_threads() if (t.ident or 0) not in self._threads]
        if not new:
            return []
        frames = sys._current_frames()
        lines = []
        for thread in new:
            held = self.code.frames(thread_frames(frames.get(thread.ident or 0)))
            if held:
                kind = "daemon thread" if thread.daemon else "thread"
                lines.append(f"{kind} left running: {thread.name!r} at {where(held[-1])}")
        return lines

    # -- asyncio tasks -------------------------------------------------------------------------
    def tasks_left(self, before: set[asyncio.Task[Any]]) -> None:
        """After a harness closed: the tasks of this loop it did not have before, still pending."""
        current = asyncio.current_task()
        for task in asyncio.all_tasks() - before:
            if task is current or task.done() or _test_runner_task(task):
                continue
            frames = task_frames(task)
            held = self.code.frames(frames) or frames
            self.findings.tasks.append(f"{task.get_name()!r} at {where(held[-1])}" if held else repr(task))

    # -- the audit hook ------------------------------------------------------------------------
    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or not _writes(mode, flags):
                return
            self._wrote(path)
        elif event == "socket.__new__":
            at = self._target_frame() if threading.current_thread() is threading.main_thread() else ""
            if at:
                self.findings.sockets.append((weakref.ref(args[0]), at))
        elif event in _SPAWN_EVENTS:
            if not self.findings.spawned:
                at = self._target_frame()
                if at:
                    self.findings.children = _tree()
                    self.findings.spawned = at
        elif event in _REFUSED_EVENTS:
            self._refuse(event, args)
        elif event == "os.mkdir":
            self._wrote(args[0])
        elif event in ("os.rename", "shutil.copyfile"):
            self._wrote(args[1])

    def _refuse(self, event: str, args: tuple[Any, ...]) -> None:
        """``os.exec*`` and signals to this process from the target's code: refused (an exception there), recorded."""
        if event == "os.kill" and args[0] not in (0, os.getpid(), -os.getpgid(0)):
            return
        if event == "os.killpg" and args[0] not in (0, os.getpgid(0)):
            return
        at = self._target_frame()
        if not at:
            return
        what = {"os.exec": f"os.exec*({args[0]!r})", "signal.pthread_kill": f"signal.pthread_kill (signal {args[1]})",
                RAISE_SIGNAL: f"signal.raise_signal in the suite's own process (signal {args[1]})",
                }.get(event, f"{event} of the suite's own process (signal {args[1]})")
        line = f"{what} called at {at}: it would end or replace the suite's process; refused"
        self.findings.refused.append(line)
        raise Leaked(line)

    def _wrote(self, path: Any) -> None:
        if sys._getframe(3).f_code.co_filename.startswith("<frozen importlib"):  # an import's bytecode cache
            return
        try:
            name = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        if name.startswith(_ALWAYS_ALLOWED) or any(name.startswith(root) or name == root.rstrip(os.sep)
                                                   for root in self.allowed):
            return
        self.findings.written.add(name)  # seen here: the directory listings need not guess whose it is
        at = self._target_frame()
        if at:
            self.findings.files.setdefault(name, at)

    def _target_frame(self) -> str:
        frame = sys._getframe(2)
        for _ in range(STACK_LIMIT):
            if frame is None:
                return ""
            filename = frame.f_code.co_filename
            if self.code.owns(filename):
                return where(frame)
            if _PYTEST in filename or _PLUGGY in filename:  # what runs pytest (a test of pytester's) is not the target
                return ""
            frame = frame.f_back
        return ""


def _is_open(sock: Any) -> bool:
    return sock is not None and sock.fileno() != -1


def _writes(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _children() -> set[int]:
    pids: set[int] = set()
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as listing:
                pids.update(int(pid) for pid in listing.read().split())
    return pids


def _tree() -> set[int]:
    """This run's processes but itself: children, and any process started under it (double-forked, detached too),
    found by :data:`RUN_MARKER` in their environment (it holds this process's id)."""
    mark = f"{RUN_MARKER}={os.getpid()}".encode()
    pids = _children()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            with contextlib.suppress(OSError), open(f"/proc/{name}/environ", "rb") as environ:
                if mark in environ.read().split(b"\0"):
                    pids.add(int(name))
    return {pid for pid in pids if not _zombie(pid)}


def _zombie(pid: int) -> bool:
    """Ended, not yet reaped (or gone): not running."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return repr(raw.read().replace(b"\0", b" ").decode(errors="replace").strip())
    except OSError:
        return "(gone)"


_current: list[Watch] = []
_hooked: list[bool] = []


def _install(watch: Watch) -> None:
    """One audit hook for the process (it cannot be removed); it serves the newest active watch."""
    _current.append(watch)
    os.environ[RUN_MARKER] = str(os.getpid())  # inherited by whatever this run starts
    if _hooked:
        return
    _hooked.append(True)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _EVENTS and _current and _current[-1].active:
            _current[-1].audit(event, args)

    sys.addaudithook(hook)
    _wrap_raise_signal()


def _wrap_raise_signal() -> None:
    """``signal.raise_signal`` raises no audit event (``os.kill`` does): wrapped here, in ``signal`` and ``_signal``,
    before the target is imported, it reports to the hook first, which refuses it from the target's code as it
    refuses ``os.kill`` of this process. A reference taken before (or ``raise()`` through ctypes) escapes the
    wrapper; :func:`raised_here` then tells the signal handler what the interrupted frame was doing."""
    original = _signal.raise_signal

    @functools.wraps(original)
    def raise_signal(signalnum: Any, /) -> None:
        if _current and _current[-1].active:
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                _current[-1].audit(RAISE_SIGNAL, (os.getpid(), int(signalnum)))
        original(signalnum)

    signal.raise_signal = _signal.raise_signal = raise_signal


def raised_here(frame: Any) -> bool:
    """``frame`` (the one a signal interrupted) is in a call whose callable it loaded by the name ``raise_signal``, in
    the statement it is running: the signal is that frame's own act, delivered synchronously (the handler runs
    before ``raise_signal`` returns), not one from another process."""
    if frame is None:
        return False
    statement: list[dis.Instruction] = []
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.offset > frame.f_lasti:
            break
        if instruction.opname.startswith(_STATEMENT_ENDS):
            statement = []
        else:
            statement.append(instruction)
    return bool(statement) and statement[-1].opname.startswith("CALL") \
        and any(i.argval == "raise_signal" for i in statement)


_STATEMENT_ENDS = ("STORE_", "POP_TOP", "RESUME", "RETURN_", "JUMP_", "POP_JUMP_", "NOP")


def refuse_signal(signum: int, frame: Any) -> None:
    """A signal handler's check: ``signum`` raised by the target's code with a ``raise_signal`` the wrapper did not
    see is refused like the wrapped one (recorded, :class:`Leaked` raised where it was raised)."""
    watch = _current[-1] if _current and _current[-1].active else None
    if watch is None or frame is None or not watch.code.owns(frame.f_code.co_filename) or not raised_here(frame):
        return
    line = (f"signal.raise_signal in the suite's own process (signal {signum}) called at {where(frame)}: "
            "it would end or replace the suite's process; refused")
    watch.findings.refused.append(line)
    raise Leaked(line)


def uninstall(watch: Watch) -> None:
    watch.active = False
    if watch in _current:
        _current.remove(watch)


def _test_runner_task(task: asyncio.Task[Any]) -> bool:
    """anyio's pytest runner (4.x): the task awaiting a fixture's or test's step, pending while that step runs."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_name == "_call_in_runner_task" and "anyio" in code.co_filename


@contextlib.asynccontextmanager
async def tasks_checked(watch: Watch | None, opened: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """``opened`` (a harness), and after it closed, the tasks it left reported to ``watch``."""
    before = asyncio.all_tasks()
    async with opened as value:
        yield value
    if watch is not None:
        watch.tasks_left(before)
