"""A worker: ``python -m bgtasks_conformance.rq_app.worker`` (the suite starts it, see ``__init__``).

RQ's default ``rq.Worker``, as ``rq worker`` runs it: it forks a work horse for each job (in a session
of its own), which runs the job and exits. Before it starts taking jobs it reports ready to the suite's
session probe (``BGTASKS_PROBE``), under the name the suite gave it (``BGTASKS_WORKER``).
"""

from __future__ import annotations

import gc
import os
import sys

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from rq import Worker

import bgtasks_conformance.target.named  # noqa: F401  (imported once here, inherited by every work horse)
from bgtasks_conformance.observe.remote import ENV_VAR, RemoteProbe
from bgtasks_conformance.target.queue import BROKER_VAR, WORKER_VAR

from . import jobs  # (likewise)
from .tasks import QUEUE

RETRIES = 40  # about 20 s of retries, 0.5 s apart at most: a worker rides out a broker's restart


def connect(broker_url: str) -> Redis:
    """The worker's client: it retries a command while the broker is away (RQ's worker quits on a connection error
    anywhere but in its wait for a job), with no socket timeout (a paused broker is waited for)."""
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)
    return Redis.from_url(broker_url, retry=retry, retry_on_error=[ConnectionError, TimeoutError])


def main() -> int:
    connection = connect(os.environ[BROKER_VAR])
    connection.ping()  # the broker answers: jobs can be taken
    worker = Worker([QUEUE], connection=connection, name=os.environ.get(WORKER_VAR) or None,
                    work_horse_killed_handler=jobs.report_killed)
    if os.environ.get(ENV_VAR):
        probe = RemoteProbe()
        probe.record("worker.ready", worker=os.environ.get(WORKER_VAR, ""), pid=os.getpid())
        probe.close()
    gc.freeze()  # what is imported now stays out of the collector: a work horse forked per job copies fewer pages
    worker.work(logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
