"""RQ's own record of every job, read back for the suite (``conformance_queue["records"]``).

RQ keeps each job in a hash of the broker's Redis (``rq:job:<id>``) from the hand-over on: its status
(queued, deferred behind the job before it, started, finished, failed, ...) and its arguments. :func:`records`
reads them all and answers one record per scenario task of the test whose probe is ``probe`` (the plan, with the
probe's address, is the task's first argument): a job handed over but never run (deferred behind a failed one,
or behind one whose worker died) still has its record, so nothing vanishes without a trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

PREFIX = "rq:job:"
STATES = {JobStatus.FINISHED: "SUCCESS", JobStatus.FAILED: "FAILURE"}  # the contract's words; other statuses as RQ's
WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED)  # a job a worker will still take: its message is in the broker


def records(broker_url: str, probe: str) -> list[dict[str, Any]]:
    """``{"task", "probe", "state", "queued", "queue_id"}`` for each scenario task of ``probe``'s test."""
    connection = Redis.from_url(broker_url, socket_timeout=10, socket_connect_timeout=5)
    try:
        ids = [key.decode()[len(PREFIX):] for key in connection.scan_iter(match=f"{PREFIX}*", count=1000)
               if b":" not in key[len(PREFIX):]]  # not a job's dependents or dependencies set
        found = []
        for job in _jobs(ids, connection):
            plan = _plan(job)
            if plan is None or plan.get("probe") != probe:
                continue
            status = job.get_status(refresh=False)
            found.append({"task": plan["id"], "probe": probe, "queue_id": job.id, "queued": status in WAITING,
                          "state": STATES.get(status, str(getattr(status, "value", status)).upper())})
        return found
    finally:
        connection.close()


def _jobs(ids: list[str], connection: Redis) -> list[Job]:
    """The jobs of ``ids``. A hash without a job's data is none: after a broker lost its data, a worker's heartbeat
    for the job it runs writes ``last_heartbeat`` alone into a new hash, which RQ itself cannot read as a job."""
    try:
        return [job for job in Job.fetch_many(ids, connection=connection) if job is not None]
    except NoSuchJobError:  # one of them is such a hash: one by one
        jobs = []
        for job_id in ids:
            with contextlib.suppress(NoSuchJobError):
                jobs.append(Job.fetch(job_id, connection=connection))
        return jobs


def _plan(job: Job) -> Mapping[str, Any] | None:
    """The plan of a scenario task's job (``run(name, (plan, *args), kwargs)``), or None for any other job."""
    try:
        args = job.args
    except Exception:  # a job whose arguments cannot be read here: not one of the suite's
        return None
    inner = args[1] if len(args) > 1 and isinstance(args[1], tuple | list) else ()
    return inner[0] if inner and isinstance(inner[0], Mapping) and "id" in inner[0] else None


