"""Instrumentation of the framework's task machinery, installed only while one audit call runs.

Patched, and restored on exit: ``starlette.background.BackgroundTask.__init__`` and ``__call__`` (a task made,
started, ended, raised), ``BackgroundTasks.add_task`` (which collection it joined; FastAPI's ``add_task``
delegates to it, so FastAPI's injected tasks are seen too) and a ``background`` property on
``starlette.responses.Response`` (which collection or task a response carries, and who set it). Each event goes
into the call's :class:`~bgtasks_conformance.observe.timeline.Timeline`, beside the ASGI messages, so that
"started before the final body" is an order of events. The user's code is not changed.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette import background as sbg
from starlette import responses as sresponses

from bgtasks_conformance.observe.timeline import Timeline

_MISSING = object()


@dataclass(frozen=True)
class Role:
    """What a function of the app is: the endpoint or a dependency (with the line of its ``yield``, if any)."""

    kind: str  # "endpoint" | "dependency"
    name: str
    yield_line: int | None = None


def task_name(func: Any) -> str:
    """The task function's name, as a user knows it (``send_email``, ``Mailer.send``, ``partial(send)``)."""
    if isinstance(func, functools.partial):
        return f"partial({task_name(func.func)})"
    name = getattr(func, "__qualname__", None) or getattr(type(func), "__qualname__", repr(func))
    return str(name)


def yield_line(func: Callable[..., Any]) -> int | None:
    """The first line of a generator function's ``yield``, from its source (None if unknown)."""
    try:
        lines, start = inspect.getsourcelines(func)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return None
    body = tree.body[0] if tree.body else None
    found = [node.lineno for node in ast.walk(body) if isinstance(node, ast.Yield | ast.YieldFrom)] if body else []
    return start + min(found) - 1 if found else None


def code_of(call: Any) -> types.CodeType | None:
    """The code object a function, a class (its ``__init__``/``__call__``) or a callable object runs."""
    target = inspect.unwrap(call) if callable(call) else call
    if isinstance(target, functools.partial):
        target = target.func
    code = getattr(target, "__code__", None)
    if code is None and isinstance(target, type):
        code = getattr(target.__init__, "__code__", None)
    if code is None:
        code = getattr(type(target).__dict__.get("__call__"), "__code__", None)
    return code if isinstance(code, types.CodeType) else None


class Recorder:
    """Where the instrumented machinery reports, for one request: its timeline and the app's known functions."""

    def __init__(self, timeline: Timeline, roles: dict[types.CodeType, Role]) -> None:
        self.timeline = timeline
        self.roles = roles
        self.pinned: list[Any] = []  # keeps every recorded object alive: ids stay unique for the request

    def where(self) -> dict[str, Any]:
        """Who is calling: the innermost frame of the endpoint or a dependency on the stack, and its line."""
        frame = sys._getframe(2)
        while frame is not None:
            role = self.roles.get(frame.f_code)
            if role is not None:
                after = role.yield_line is not None and frame.f_lineno > role.yield_line
                position = ("after yield" if after else "before yield") if role.yield_line is not None else ""
                return {"by": role.kind, "by_name": role.name, "line": frame.f_lineno, "position": position}
            frame = frame.f_back
        return {"by": "other", "by_name": "", "line": None, "position": ""}

    def key(self, obj: Any) -> int:
        self.pinned.append(obj)
        return id(obj)


_active: Recorder | None = None


def _patched_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        original(self, func, *args, **kwargs)
        recorder = _active
        if recorder is not None:
            recorder.timeline.record("task.made", task=recorder.key(self), name=task_name(func),
                                     is_async=bool(getattr(self, "is_async", False)), **recorder.where())
    return __init__


def _patched_call(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def __call__(self: Any) -> None:
        recorder = _active
        if recorder is None:
            await original(self)
            return
        key = recorder.key(self)
        recorder.timeline.record("task.start", task=key, name=task_name(self.func))
        try:
            await original(self)
        except BaseException as error:
            recorder.timeline.record("task.error", task=key, name=task_name(self.func), error=type(error).__name__,
                                     message=str(error)[:200])
            raise
        recorder.timeline.record("task.end", task=key, name=task_name(self.func))
    return __call__


def _patched_add_task(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def add_task(self: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        original(self, func, *args, **kwargs)
        recorder = _active
        if recorder is not None and self.tasks:
            recorder.timeline.record("task.added", task=recorder.key(self.tasks[-1]), collection=recorder.key(self),
                                     name=task_name(func), **recorder.where())
    return add_task


def _background_property() -> property:
    def get(self: Any) -> Any:
        return self.__dict__.get("_bgtasks_background")

    def set_(self: Any, value: Any) -> None:
        self.__dict__["_bgtasks_background"] = value
        recorder = _active
        if recorder is not None:
            module = sys._getframe(1).f_globals.get("__name__", "")
            by_app = recorder.where()["by"] != "other" or module.split(".")[0] not in ("fastapi", "starlette")
            setter = "app" if by_app else "framework"
            recorder.timeline.record("response.background", response=recorder.key(self),
                                     background=None if value is None else recorder.key(value), setter=setter,
                                     setter_module=module)
    return property(get, set_)


@contextlib.contextmanager
def instrumented(recorder: Recorder) -> Iterator[Recorder]:
    """Patch the machinery for the duration of one audit call; everything is restored on exit."""
    global _active
    task, tasks, response = sbg.BackgroundTask, sbg.BackgroundTasks, sresponses.Response
    saved = (task.__init__, task.__call__, tasks.add_task, response.__dict__.get("background", _MISSING))
    task.__init__ = _patched_init(saved[0])  # type: ignore[method-assign]
    task.__call__ = _patched_call(saved[1])  # type: ignore[method-assign]
    tasks.add_task = _patched_add_task(saved[2])  # type: ignore[method-assign]
    response.background = _background_property()  # type: ignore[assignment]
    _active = recorder
    try:
        yield recorder
    finally:
        _active = None
        task.__init__, task.__call__, tasks.add_task = saved[:3]  # type: ignore[method-assign]
        if saved[3] is _MISSING:
            del response.background
        else:
            response.background = saved[3]  # type: ignore[assignment]
