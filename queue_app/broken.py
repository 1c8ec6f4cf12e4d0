"""Broken queue-backed implementations, for the self-check of the queue tier::

    python -m bgtasks_conformance.selfcheck --gallery bgtasks_conformance.queue_app.broken:GALLERY \\
        --reference bgtasks_conformance.queue_app:create_app --reference-tier asgi --option=--bgtasks-queue \\
        --areas delivery

Each is the queue app with one defect that real ones have.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.selfcheck import Broken
from bgtasks_conformance.target.queue import QueueSpec

from . import WORKER, create_app
from .tasks import QueueTasks


class EnqueuesAtAdd(QueueTasks):
    """Publishes each task as it is added, in the endpoint: the worker runs it while the response is being sent."""

    def add_task(self, func: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().add_task(func, *args, **kwargs)
        self.hand_over()
        self.handed.clear()


def enqueues_at_add(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=EnqueuesAtAdd)


def acks_before_work(env: TargetEnv) -> FastAPI:
    """The queue app, served by workers that acknowledge a message as they take it (Celery's default)."""
    return create_app(env)


_QUEUE: QueueSpec = create_app.conformance_queue  # type: ignore[attr-defined]
for _factory in (enqueues_at_add, acks_before_work):
    _factory.conformance_lacks = create_app.conformance_lacks  # type: ignore[attr-defined]
    _factory.conformance_queue = _QUEUE  # type: ignore[attr-defined]
acks_before_work.conformance_queue = QueueSpec(  # type: ignore[attr-defined]
    tuple(part.replace("queue_app.worker", "queue_app.broken_worker") for part in WORKER),
    delivery="at-least-once", after_failure=_QUEUE.after_failure, workers=_QUEUE.workers)

_HERE = "bgtasks_conformance.queue_app.broken"
GALLERY: list[Broken] = [
    Broken("enqueues_at_add", f"{_HERE}:enqueues_at_add", frozenset({"DLV-001"}),
           "each task is published at add_task, before the response is complete"),
    Broken("acks_before_work", f"{_HERE}:acks_before_work", frozenset({"DLV-005"}),
           "workers acknowledge a message before its work: a killed worker loses its task"),
]
