"""The drop-in for ``BackgroundTasks``: the same ``add_task``, but the tasks go to RQ, after the response.

``add_task(func, *args, **kwargs)`` refuses at once what a queue cannot carry by name (a lambda, a
closure, a bound method, a ``functools.partial``, a callable object). Starlette calls the tasks object
once the response is complete; only then are the tasks handed to RQ, in the order added, each job
depending on the one before it (``depends_on``): RQ enqueues a job once the job before it has finished,
and never when it failed, so the request's order holds whichever worker takes which job. The arguments
go through RQ's serializer, pickle by default: every job is serialized before the first is enqueued, so
a value pickle cannot carry refuses the whole request's hand-over. A failed hand-over is logged at ERROR
with the tasks it concerned, and raised.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import anyio
from redis import Redis
from rq import Callback, Queue
from starlette.background import BackgroundTasks

from bgtasks_conformance.target.named import task_name

from .jobs import report_failure, report_success, run

QUEUE = "bgtasks"
logger = logging.getLogger("bgtasks_conformance.rq_app")


@functools.cache
def queue_for(broker_url: str) -> Queue:
    """The web side's queue on ``broker_url`` (one per broker: its connection pool is reused)."""
    return Queue(QUEUE, connection=Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=10))


class RQTasks(BackgroundTasks):
    """Tasks of one request, for RQ over ``broker_url`` (see the module's docstring)."""

    broker_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.handed.append((task_name(func), args, kwargs))

    async def __call__(self) -> None:
        if self.handed:
            await anyio.to_thread.run_sync(self.hand_over)  # enqueueing blocks on the socket: off the loop

    def hand_over(self) -> None:
        try:
            self.enqueue(queue_for(self.broker_url))
        except Exception:
            logger.exception("could not hand %d task(s) to the queue at %s: %s", len(self.handed), self.broker_url,
                             ", ".join(name for name, _, _ in self.handed))
            raise

    def enqueue(self, queue: Queue) -> None:
        for handed in self.handed:  # all or nothing: what the serializer refuses stops the hand-over before any job
            queue.serializer.dumps(handed)
        previous = None
        for handed in self.handed:
            previous = queue.enqueue_call(run, args=handed, depends_on=previous,
                                          on_success=Callback(report_success), on_failure=Callback(report_failure))


def bound_to(broker_url: str, base: type[RQTasks] = RQTasks) -> type[RQTasks]:
    """``base`` enqueueing on ``broker_url``: a class, as the scenario routes create one per request."""
    return type(base.__name__, (base,), {"broker_url": broker_url})
