"""The scenario's tasks as importable functions, for a queue whose worker knows its tasks by name.

``env.schedule(body, add_task, by_name=True)`` adds :func:`scenario_task` (a plain ``def``) or
:func:`async_scenario_task` (an ``async def``) with the task's plan as the first argument: its id, gate,
failure and the address of the test's probe. Wherever they run, they report to that probe over TCP
(:class:`~bgtasks_conformance.observe.remote.RemoteProbe`), with where they ran (host, process, worker),
and hold on its gates, as the in-process tasks do.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib
import inspect
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from bgtasks_conformance.observe.remote import RemoteProbe
from bgtasks_conformance.target.queue import WORKER_VAR
from bgtasks_conformance.target.scenario import ScenarioFailure

_probes: dict[str, RemoteProbe] = {}
_KEPT = 4  # connections kept per process: a test's probe lives for one test
_running: dict[str, Any] = {}  # what the queue said about the delivery that runs now (see ``delivery``)


def task_name(func: Callable[..., Any]) -> str:
    """``module:qualname`` of an importable function; ``TypeError`` saying why anything else is refused."""
    if isinstance(func, functools.partial):
        raise TypeError(f"{func!r}: a functools.partial cannot be carried by name; add the function itself "
                        "with the arguments")
    if inspect.ismethod(func):
        raise TypeError(f"{func!r}: a bound method carries its object, which a queue cannot; add a module-level "
                        "function")
    if not inspect.isfunction(func):
        raise TypeError(f"{func!r}: only functions can be carried by name (not {type(func).__name__} objects)")
    if func.__name__ == "<lambda>" or "<locals>" in func.__qualname__:
        raise TypeError(f"{func.__qualname__}: a lambda or a function defined inside another has no importable "
                        "name; define it at module level")
    return f"{func.__module__}:{func.__qualname__}"


def resolve(name: str) -> Any:
    """The function named ``module:qualname``."""
    module_name, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


@contextlib.contextmanager
def delivery(**details: Any) -> Iterator[None]:
    """Around one task run by a worker: ``details`` (the queue's task id, redelivered, ...) go with its start."""
    _running.update(details)
    try:
        yield
    finally:
        _running.clear()


def probe_at(address: str) -> RemoteProbe:
    """One connection per probe address and process, the oldest closed when a new test's probe appears."""
    if address not in _probes:
        while len(_probes) >= _KEPT:
            _probes.pop(next(iter(_probes))).close()
        _probes[address] = RemoteProbe(address)
    return _probes[address]


def where() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "worker": os.environ.get(WORKER_VAR, ""),
            "worker_thread": threading.current_thread().name, **_running}


def _start(plan: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> RemoteProbe:
    probe = probe_at(plan["probe"])
    probe.started(plan["id"], args, kwargs, **where())
    return probe


def _finish(probe: RemoteProbe, plan: dict[str, Any]) -> None:
    probe.record("task.now", task=plan["id"], now=datetime.datetime.now())
    if plan.get("fail") == "error":
        raise ScenarioFailure(f"task {plan['id']} failed as planned")
    if plan.get("fail") == "http_exception":
        from starlette.exceptions import HTTPException

        raise HTTPException(status_code=418, detail=f"task {plan['id']} raised HTTPException as planned")


def scenario_task(plan: dict[str, Any], /, *args: Any, **kwargs: Any) -> None:
    """A scenario task, sync: reports, holds on its gate, fails if planned, reports its end."""
    probe = _start(plan, args, kwargs)
    try:
        probe.hold(plan.get("gate"), create=True)
        _finish(probe, plan)
    except BaseException as error:
        probe.failed(plan["id"], error)
        raise
    probe.ended(plan["id"])


async def async_scenario_task(plan: dict[str, Any], /, *args: Any, **kwargs: Any) -> None:
    """A scenario task, async: the same, with its gate held in a thread so that its loop stays free."""
    import asyncio

    probe = _start(plan, args, kwargs)
    try:
        await asyncio.to_thread(probe.hold, plan.get("gate"), create=True)
        _finish(probe, plan)
    except BaseException as error:
        probe.failed(plan["id"], error)
        raise
    probe.ended(plan["id"])
