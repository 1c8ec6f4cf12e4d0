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
import inspect
import logging
import os
import threading
import time
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job, JobStatus

from bgtasks_conformance.observe.remote import RemoteProbe
from bgtasks_conformance.target import named
from bgtasks_conformance.target.named import resolve
from bgtasks_conformance.target.queue import BROKER_VAR, WORKER_VAR

SUCCESS, FAILURE = "SUCCESS", "FAILURE"  # the contract's words for RQ's "finished" and "failed"


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
    """The worker's hook for a work horse that died in the middle of a job. RQ records the job as failed right after
    this hook returns, in the same thread: a thread of the worker waits for that record and then reports it, so that
    the state reported is the one recorded (never raised into RQ, never in the way of its next work horse)."""
    threading.Thread(target=_report_once_recorded, args=(job,), name="bgtasks-rq-killed", daemon=True).start()


def _report_once_recorded(job: Any, within: float = 10.0) -> None:
    connection = Redis.from_url(os.environ[BROKER_VAR], socket_timeout=5, socket_connect_timeout=5)
    try:
        deadline = time.monotonic() + within
        status = job.get_status(refresh=False)
        while time.monotonic() < deadline:  # polling Redis: RQ's record of a killed horse's job has no event
            status = Job.fetch(job.id, connection=connection, serializer=job.serializer).get_status()
            if status in (JobStatus.FAILED, JobStatus.FINISHED):
                break
            time.sleep(0.02)
        _report(job, SUCCESS if status == JobStatus.FINISHED else FAILURE)
    except Exception:
        logging.getLogger("bgtasks_conformance.rq_app").exception("could not report job %s's killed work horse",
                                                                   job.id)
    finally:
        connection.close()


def _report(job: Any, state: str) -> None:
    """``queue.state`` for a scenario task (its plan, with the probe's address, is the function's first argument)."""
    args = job.args[1] if len(job.args) > 1 else ()
    plan = args[0] if args and isinstance(args[0], dict) else None
    if plan is None or "probe" not in plan:
        return
    data = {"task": plan["id"], "state": state, "queue_id": job.id, "worker": os.environ.get(WORKER_VAR, "")}
    try:
        if get_current_job() is not None:  # in the work horse, which exits after this job: its cached connection
            named.probe_at(plan["probe"]).record("queue.state", **data)
            return
        probe = RemoteProbe(plan["probe"])  # in the worker itself: no connection that its next horses would inherit
        try:
            probe.record("queue.state", **data)
        finally:
            probe.close()
    except (OSError, EOFError):  # that test's probe is gone: nobody to tell
        pass
