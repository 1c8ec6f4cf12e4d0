"""The drop-in for ``BackgroundTasks``: the same ``add_task``, but the tasks go to Celery, after the response.

``add_task(func, *args, **kwargs)`` takes what ``BackgroundTasks.add_task`` takes, and refuses at once
what a queue cannot carry: a task is an importable function, known to the worker by its name (no lambda,
no closure, no bound method, no ``functools.partial``). Starlette calls the tasks object once the response
is complete; only then are the tasks handed to Celery, as one chain in the order added: each is published
when the one before it has succeeded, so that the request's order holds whatever worker runs which task.
Before the publish, the queue id of each task is recorded (:mod:`.records`): a task that never runs still
has its record.
A hand-over that fails is logged at ERROR, with the tasks it concerned, and raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from celery import Celery, chain, uuid
from starlette.background import BackgroundTasks

from bgtasks_conformance.target.named import task_name

from . import records
from .celery_app import TASK, publisher

logger = logging.getLogger("bgtasks_conformance.queue_app")


class QueueTasks(BackgroundTasks):
    """Tasks of one request, for Celery over ``broker_url`` (see the module's docstring)."""

    broker_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.handed.append((task_name(func), args, kwargs))

    def celery(self) -> Celery:
        return publisher(self.broker_url)

    async def __call__(self) -> None:
        if self.handed:
            await anyio.to_thread.run_sync(self.hand_over)  # publishing blocks on the socket: off the loop

    def hand_over(self) -> None:
        app = self.celery()
        ids = [uuid() for _ in self.handed]  # the delivery id of each task, known before the publish
        signatures = [app.signature(TASK, args=(name, list(args), kwargs), immutable=True, task_id=queue_id)
                      for queue_id, (name, args, kwargs) in zip(ids, self.handed, strict=True)]
        try:
            records.handed(self.broker_url, [(queue_id, args[0] if args else None)
                                             for queue_id, (_, args, _) in zip(ids, self.handed, strict=True)])
            chain(*signatures).apply_async()
        except Exception:
            logger.exception("could not hand %d task(s) to the queue at %s: %s", len(self.handed), self.broker_url,
                             ", ".join(name for name, _, _ in self.handed))
            raise


def bound_to(broker_url: str, base: type[QueueTasks] = QueueTasks) -> type[QueueTasks]:
    """``base`` publishing to ``broker_url``: a class, as the scenario routes create one per request."""
    return type(base.__name__, (base,), {"broker_url": broker_url})
