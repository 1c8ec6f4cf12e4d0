"""The Celery side, shared by the web app (which publishes) and the workers (which run): one configuration.

Tasks are named importable functions: the message carries ``"module:qualname"``, the arguments and the
keyword arguments through Celery's JSON serializer, and the worker's one task, ``bgtasks.call``, imports
the function and calls it. Late acknowledgement with ``task_reject_on_worker_lost``: a worker killed in
the middle of a task leaves its message unacknowledged, and Redis's visibility timeout delivers it again.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
from typing import Any

from celery import Celery

QUEUE = "bgtasks"
TASK = "bgtasks.call"
# Redis delivers an unacknowledged message again this long after it was handed out. A task that runs
# longer is delivered twice (Celery's known Redis caveat): the suite's tasks hold for well under it.
VISIBILITY_TIMEOUT = 6
RESTORE_INTERVAL = 1  # how often a worker looks for such messages (kombu's sweep; throttle 1: every time)


def configure(app: Celery, broker_url: str, *, acks_late: bool = True) -> Celery:
    app.conf.update(
        broker_url=broker_url,
        result_backend=broker_url,  # the queue's own record of every task: SUCCESS, FAILURE
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=acks_late, task_reject_on_worker_lost=acks_late,
        worker_prefetch_multiplier=1,
        # ack_emulation off: Redis forgets a message as it hands it out (acknowledged before the work, for real:
        # with it on, kombu keeps the running message unacknowledged even with early ack, seen with the solo pool)
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT, "ack_emulation": acks_late,
                                  "unacked_restore_interval": RESTORE_INTERVAL, "unacked_restore_throttle": 1},
        result_backend_transport_options={"retry_policy": {"max_retries": 1}},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


@functools.cache
def publisher(broker_url: str) -> Celery:
    """The web side's Celery app for ``broker_url`` (one per broker: its connection pool is reused)."""
    return configure(Celery("bgtasks-web", set_as_current=False), broker_url)


def resolve(name: str) -> Any:
    """The function named ``module:qualname``."""
    module_name, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def call(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Run the named function; an ``async def`` on an event loop of its own, to the end."""
    func = resolve(name)
    if inspect.iscoroutinefunction(func):
        asyncio.run(func(*args, **kwargs))
    else:
        func(*args, **kwargs)
