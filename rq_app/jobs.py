"""What a work horse runs: :func:`run` calls a named importable function; the callbacks report what RQ recorded.

A job's function is always :func:`run` with ``(name, args, kwargs)``: ``name`` is the task's
``module:qualname``, the arguments travel through RQ's serializer (pickle by default). RQ calls
:func:`report_success` or :func:`report_failure` once the job has returned or raised (and
:func:`report_failure` for a job its maintenance finds abandoned by a worker that died), the worker
:func:`report_killed` when the work horse running a job died (RQ fails the job); for a scenario task they
tell the test's probe the state RQ records for it (``queue.state``: SUCCESS or FAILURE).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
from typing import Any

from rq import get_current_job

from bgtasks_conformance.target import named
from bgtasks_conformance.target.queue import WORKER_VAR

SUCCESS, FAILURE = "SUCCESS", "FAILURE"  # the contract's words for RQ's "finished" and "failed"


def resolve(name: str) -> Any:
    """The function named ``module:qualname``."""
    module_name, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def run(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The job: the named function with its arguments; an ``async def`` on an event loop of its own, to its end."""
    job = get_current_job()
    with named.delivery(queue_id=job.id if job is not None else None):
        func = resolve(name)
        if inspect.iscoroutinefunction(func):
            asyncio.run(func(*args, **kwargs))
        else:
            func(*args, **kwargs)


def report_success(job: Any, connection: Any, result: Any, *_: Any, **__: Any) -> None:
    _report(job, SUCCESS)


def report_failure(job: Any, connection: Any, *_: Any, **__: Any) -> None:
    _report(job, FAILURE)


def report_killed(job: Any, retpid: int, ret_val: int, rusage: Any) -> None:
    """The worker's hook for a work horse that died in the middle of a job (RQ then fails the job): FAILURE. It runs
    in the worker itself, before RQ records the failure: whatever goes wrong here is logged, never raised into RQ."""
    try:
        _report(job, FAILURE)
    except Exception:
        logging.getLogger("bgtasks_conformance.rq_app").exception("could not report job %s's killed work horse",
                                                                   job.id)


def _report(job: Any, state: str) -> None:
    """``queue.state`` for a scenario task (its plan, with the probe's address, is the function's first argument)."""
    args = job.args[1] if len(job.args) > 1 else ()
    plan = args[0] if args and isinstance(args[0], dict) else None
    if plan is None or "probe" not in plan:
        return
    try:
        named.probe_at(plan["probe"]).record("queue.state", task=plan["id"], state=state, queue_id=job.id,
                                             worker=os.environ.get(WORKER_VAR, ""))
    except (OSError, EOFError):  # that test's probe is gone: nobody to tell
        pass
