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
from rq import Worker

import bgtasks_conformance.target.named  # noqa: F401  (imported once here, inherited by every work horse)
from bgtasks_conformance.observe.remote import ENV_VAR, RemoteProbe
from bgtasks_conformance.target.queue import BROKER_VAR, WORKER_VAR

from . import jobs  # noqa: F401  (likewise)
from .tasks import QUEUE


def main() -> int:
    connection = Redis.from_url(os.environ[BROKER_VAR])
    connection.ping()  # the broker answers: jobs can be taken
    worker = Worker([QUEUE], connection=connection, name=os.environ.get(WORKER_VAR) or None)
    if os.environ.get(ENV_VAR):
        probe = RemoteProbe()
        probe.record("worker.ready", worker=os.environ.get(WORKER_VAR, ""), pid=os.getpid())
        probe.close()
    gc.freeze()  # what is imported now stays out of the collector: a work horse forked per job copies fewer pages
    worker.work(logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
