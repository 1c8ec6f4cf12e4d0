"""The Celery side, shared by the web app (which publishes) and the workers (which run): one configuration.

Tasks are named importable functions: the message carries ``"module:qualname"``, the arguments and the
keyword arguments through Celery's JSON serializer, and the worker's one task, ``bgtasks.call``, imports
the function and calls it. Late acknowledgement with ``task_reject_on_worker_lost``: a worker killed in
the middle of a task leaves its message unacknowledged, and Redis's visibility timeout delivers it again.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

from celery import Celery

from bgtasks_conformance.target.named import resolve

QUEUE = "bgtasks"
TASK = "bgtasks.call"
# Redis delivers an unacknowledged message again this long after it was last seen alive. Alone, that runs a task
# longer than it twice (Celery's known Redis caveat); each worker's heartbeat (worker_app.keep_visible) marks the
# messages it holds as alive every HEARTBEAT seconds, so only those of a dead worker are delivered again.
VISIBILITY_TIMEOUT = 6
RESTORE_INTERVAL = 1  # how often a worker looks for such messages (kombu's sweep; throttle 1: every time)
HEARTBEAT = 1.0
REDELIVERY_TIMEOUT = 10  # declared: the visibility timeout, a sweep, and the time a busy machine takes
MAX_DELIVERIES = 3  # a task whose process dies this many times is given up (dead-lettered) at its next delivery
UNACKED_INDEX = "unacked_index"  # kombu's sorted set of the delivered, unacknowledged messages, by time


# A worker rides out a broker that is away for a while (restarted, paused): its result writes and the publish of
# a chain's next task retry for about 20 s, rather than record a task that ran as failed, or lose the rest of its
# chain. The web side's publish gives up within a second, so that an unreachable broker surfaces (DLV-007).
PATIENT = {"max_retries": 40, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.5}
HASTY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def configure(app: Celery, broker_url: str, *, acks_late: bool = True, patient: bool = False) -> Celery:
    app.conf.update(
        broker_url=broker_url,
        result_backend=broker_url,  # the queue's own record of every task: SUCCESS, FAILURE
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=acks_late, task_reject_on_worker_lost=acks_late,
        task_track_started=True,  # the record says STARTED while it runs (and if its worker dies)
        worker_prefetch_multiplier=1,
        # ack_emulation off: Redis forgets a message as it hands it out (acknowledged before the work, for real:
        # with it on, kombu keeps the running message unacknowledged even with early ack, seen with the solo pool)
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT, "ack_emulation": acks_late,
                                  "unacked_restore_interval": RESTORE_INTERVAL, "unacked_restore_throttle": 1},
        result_backend_transport_options={"retry_policy": PATIENT if patient else {"max_retries": 1}},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_publish_retry_policy=PATIENT if patient else HASTY,
        result_backend_always_retry=patient, result_backend_max_retries=PATIENT["max_retries"],
        result_backend_base_sleep_between_retries_ms=50, result_backend_max_sleep_between_retries_ms=500,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


@functools.cache
def publisher(broker_url: str) -> Celery:
    """The web side's Celery app for ``broker_url`` (one per broker: its connection pool is reused)."""
    return configure(Celery("bgtasks-web", set_as_current=False), broker_url)


def call(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Run the named function; an ``async def`` on an event loop of its own, to the end."""
    func = resolve(name)
    if inspect.iscoroutinefunction(func):
        asyncio.run(func(*args, **kwargs))
    else:
        func(*args, **kwargs)
