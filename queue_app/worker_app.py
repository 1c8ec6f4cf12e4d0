"""What every worker of the queue app is: ``build()`` makes its Celery app; ``worker.py`` is the one to start.

It knows one task, ``bgtasks.call``, which runs a named importable function. It reports to the probe
what the queue does: that it is ready (to ``BGTASKS_PROBE``, the suite's session probe), and, for the
scenario's tasks, the state Celery recorded for each (``queue.state``: SUCCESS, FAILURE) to that
test's probe.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from bgtasks_conformance.observe.remote import ENV_VAR, RemoteProbe
from bgtasks_conformance.target import named
from bgtasks_conformance.target.queue import BROKER_VAR, WORKER_VAR

from .celery_app import TASK, call, configure


def build(acks_late: bool = True) -> Celery:
    app = configure(Celery("bgtasks-worker"), os.environ[BROKER_VAR], acks_late=acks_late)

    @app.task(name=TASK, bind=True)
    def run(self: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        info = self.request.delivery_info or {}
        with named.delivery(queue_id=self.request.id, redelivered=bool(info.get("redelivered"))):
            call(name, args, kwargs)

    return app


@signals.worker_ready.connect
def report_ready(**_: Any) -> None:
    if os.environ.get(ENV_VAR):
        probe = RemoteProbe()
        probe.record("worker.ready", worker=os.environ.get(WORKER_VAR, ""), pid=os.getpid())
        probe.close()


@signals.task_postrun.connect
def report_state(task_id: str, args: Any = None, state: str | None = None, **_: Any) -> None:
    """The state the queue recorded for a scenario task (its plan is the function's first argument)."""
    plan = args[1][0] if args and len(args) > 1 and args[1] and isinstance(args[1][0], dict) else None
    if plan and "probe" in plan:
        try:
            named.probe_at(plan["probe"]).record("queue.state", task=plan["id"], state=state, queue_id=task_id,
                                                 worker=os.environ.get(WORKER_VAR, ""))
        except (OSError, EOFError):  # that test's probe is gone: nobody to tell
            pass
