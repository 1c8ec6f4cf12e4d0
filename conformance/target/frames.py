"""Whose code a frame is, and the stacks of threads and asyncio tasks, with the target's frames named.

The watchdog and the leak checks say where the target's code held a thread or a task; this module
decides which files are the target's (its package, or any file that is neither the suite's, nor
the standard library's, nor an installed distribution's) and formats stacks to show them.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import sys
import sysconfig
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from bgtasks_conformance.results.outcomes import is_suite_code

_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
# The environment's console scripts (``bin/pytest``, ``bin/bgtasks-conformance``): the runner's, never the target's.
_SCRIPTS = frozenset(Path(folder).resolve()
                     for folder in {sysconfig.get_path("scripts"), str(Path(sys.executable).parent)})
_INSTALLED = ("site-packages", "dist-packages")
SUITE_PACKAGE = "bgtasks_conformance"
STACK_DEPTH = 8  # innermost frames shown per thread or task


def target_root(spec: str) -> Path | None:
    """The file or package directory of the target's top-level module, found without importing it."""
    parts = spec.partition(":")[0].split(".")
    top = ".".join(parts[:2]) if parts[0] == SUITE_PACKAGE and len(parts) > 1 else parts[0]  # a bundled one
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations))).resolve()
    return Path(found.origin).resolve() if found.origin else None


@dataclass(frozen=True)
class TargetCode:
    """Which source files are the target's."""

    root: Path | None = None
    tests: set[str] = field(default_factory=set)  # the run's test modules: never the target's

    def owns(self, filename: str) -> bool:
        return filename not in self.tests and _owns(self.root, filename)

    def frames(self, frames: Iterable[FrameType]) -> list[FrameType]:
        return [frame for frame in frames if self.owns(frame.f_code.co_filename)]


@functools.lru_cache(maxsize=4096)
def _owns(root: Path | None, filename: str) -> bool:
    if filename.startswith("<"):
        return False
    path = Path(filename).resolve()
    if is_suite_code(path):
        return False
    if root is not None and (path == root or path.is_relative_to(root)):
        return True
    if path.is_relative_to(_STDLIB) or path.parent in _SCRIPTS:
        return False
    return not any(part in _INSTALLED for part in path.parts)


def where(frame: FrameType) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def thread_frames(frame: FrameType | None) -> list[FrameType]:
    """A thread's frames, outermost first."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def task_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames of a task's chain of awaited coroutines, outermost first."""
    frames = []
    awaited: Any = task.get_coro()
    for _ in range(100):  # a chain, never a cycle; bounded all the same
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return frames


def running_loops(frames_by_thread: dict[int, FrameType]) -> Iterator[tuple[int, asyncio.AbstractEventLoop]]:
    """The event loops running in each thread, found on its stack (``run_forever``'s ``self``)."""
    for ident, top in frames_by_thread.items():
        for frame in thread_frames(top):
            if frame.f_code.co_name == "run_forever" and isinstance(frame.f_locals.get("self"),
                                                                    asyncio.AbstractEventLoop):
                yield ident, frame.f_locals["self"]
                break


def loop_tasks(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    try:
        return [task for task in asyncio.all_tasks(loop) if not task.done()]
    except RuntimeError:  # the set changed while read from another thread
        return []


def _stack_lines(frames: list[FrameType], code: TargetCode, indent: str) -> list[str]:
    shown = frames[-STACK_DEPTH:]
    lines = [f"{indent}... {len(frames) - len(shown)} outer frames"] if len(frames) > len(shown) else []
    for frame in shown:
        mark = ">> " if code.owns(frame.f_code.co_filename) else "   "
        lines.append(f"{indent}{mark}{where(frame)}")
    return lines


def dump(code: TargetCode, *, skip_thread: int | None = None) -> tuple[list[str], list[str]]:
    """(where the target's code is, innermost first per thread or task; the full dump of threads and tasks)."""
    current = sys._current_frames()
    names = {thread.ident: thread for thread in threading.enumerate()}
    culprits: list[str] = []
    lines = ["threads (>> marks the target's code):"]
    for ident, top in current.items():
        if ident == skip_thread:
            continue
        thread = names.get(ident)
        label = f"thread {thread.name!r}{' (daemon)' if thread.daemon else ''}" if thread else f"thread {ident}"
        frames = thread_frames(top)
        lines.append(f"  {label}:")
        lines.extend(_stack_lines(frames, code, "    "))
        culprits.extend(f"{where(frame)} ({label})" for frame in code.frames(frames)[-1:])
    for ident, loop in running_loops(current):
        thread = names.get(ident)
        tasks = loop_tasks(loop)
        lines.append(f"  asyncio tasks of the loop in thread {thread.name if thread else ident!r}: {len(tasks)}")
        for task in tasks:
            frames = task_frames(task)
            label = f"task {task.get_name()!r} ({_coro_name(task)})"
            lines.append(f"    {label}:")
            lines.extend(_stack_lines(frames, code, "      "))
            culprits.extend(f"{where(frame)} ({label})" for frame in code.frames(frames)[-1:])
    return culprits, lines


def _coro_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", type(coro).__name__))


def code_of(func: Any) -> CodeType | None:
    return getattr(getattr(func, "__func__", func), "__code__", None)
