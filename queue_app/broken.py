"""Broken queue-backed implementations, for the self-check of the queue tier::

    python -m bgtasks_conformance.selfcheck --gallery bgtasks_conformance.queue_app.broken:GALLERY \\
        --reference bgtasks_conformance.queue_app:create_app --reference-tier asgi --option=--bgtasks-queue \\
        --areas delivery

Each is the queue app with one defect that real ones have.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from celery import chain
from fastapi import FastAPI

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.selfcheck import Broken
from bgtasks_conformance.target.queue import QueueSpec

from . import WORKER, create_app
from .celery_app import TASK, call
from .tasks import QueueTasks


class EnqueuesAtAdd(QueueTasks):
    """Publishes each task as it is added, in the endpoint: the worker runs it while the response is being sent."""

    def add_task(self, func: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().add_task(func, *args, **kwargs)
        self.hand_over()
        self.handed.clear()


class PublishesTwice(QueueTasks):
    """Hands the request's tasks over twice (a retry around a publish that had succeeded)."""

    def hand_over(self) -> None:
        super().hand_over()
        super().hand_over()


class NoChain(QueueTasks):
    """Publishes every task on its own: whichever worker is free runs it, the order and 'stop' are gone."""

    def hand_over(self) -> None:
        app = self.celery()
        for name, args, kwargs in self.handed:
            app.send_task(TASK, args=(name, list(args), kwargs))


class StringifiesArguments(QueueTasks):
    """Turns every argument into its string before the hand-over, so that any value "survives"."""

    def add_task(self, func: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        plan, *rest = args
        super().add_task(func, plan, *map(str, rest), **{key: str(value) for key, value in kwargs.items()})


class RunsInProcess(QueueTasks):
    """Runs the named functions in the web process instead of handing them over (a queue in name only)."""

    def hand_over(self) -> None:
        for name, args, kwargs in self.handed:
            call(name, list(args), kwargs)


class SwallowsHandOverErrors(QueueTasks):
    """A hand-over that fails is dropped without a word."""

    def hand_over(self) -> None:
        app = self.celery()
        try:
            chain(*[app.signature(TASK, args=(name, list(args), kwargs), immutable=True)
                    for name, args, kwargs in self.handed]).apply_async()
        except Exception:  # the defect
            pass


def enqueues_at_add(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=EnqueuesAtAdd)


def publishes_twice(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=PublishesTwice)


def no_chain(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=NoChain)


def stringifies_arguments(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=StringifiesArguments)


def runs_in_process(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=RunsInProcess)


def swallows_hand_over_errors(env: TargetEnv) -> FastAPI:
    return create_app(env, tasks_class=SwallowsHandOverErrors)


def acks_before_work(env: TargetEnv) -> FastAPI:
    """The queue app, served by workers that acknowledge a message as they take it (Celery's default)."""
    return create_app(env)


def declares_pickle(env: TargetEnv) -> FastAPI:
    """The queue app, declaring pickle while its hand-over uses Celery's JSON serializer."""
    return create_app(env)


_QUEUE: QueueSpec = create_app.conformance_queue  # type: ignore[attr-defined]
for _factory in (enqueues_at_add, acks_before_work, publishes_twice, no_chain, stringifies_arguments, runs_in_process,
                 swallows_hand_over_errors, declares_pickle):
    _factory.conformance_lacks = create_app.conformance_lacks  # type: ignore[attr-defined]
    _factory.conformance_queue = _QUEUE  # type: ignore[attr-defined]
acks_before_work.conformance_queue = QueueSpec(  # type: ignore[attr-defined]
    tuple(part.replace("queue_app.worker", "queue_app.broken_worker") for part in WORKER),
    delivery="at-least-once", after_failure=_QUEUE.after_failure, workers=_QUEUE.workers)
declares_pickle.conformance_queue = dataclasses.replace(_QUEUE, serializer="pickle")  # type: ignore[attr-defined]

_HERE = "bgtasks_conformance.queue_app.broken"
GALLERY: list[Broken] = [
    Broken("enqueues_at_add", f"{_HERE}:enqueues_at_add", frozenset({"DLV-001"}),
           "each task is published at add_task, before the response is complete"),
    Broken("acks_before_work", f"{_HERE}:acks_before_work", frozenset({"DLV-005"}),
           "workers acknowledge a message before its work: a killed worker loses its task"),
    Broken("publishes_twice", f"{_HERE}:publishes_twice", frozenset({"DLV-002", "DLV-009"}),
           "the tasks are handed over twice"),
    Broken("no_chain", f"{_HERE}:no_chain", frozenset({"DLV-003", "DLV-008"}),
           "each task published on its own: no order between workers, tasks after a failed one run"),
    Broken("stringifies_arguments", f"{_HERE}:stringifies_arguments", frozenset({"DLV-004"}),
           "arguments turned into strings so that everything 'survives' the serializer"),
    Broken("runs_in_process", f"{_HERE}:runs_in_process", frozenset({"DLV-002", "DLV-006"}),
           "the tasks run in the web process, which they die with"),
    Broken("swallows_hand_over_errors", f"{_HERE}:swallows_hand_over_errors", frozenset({"DLV-007"}),
           "a failed hand-over is dropped in silence"),
    Broken("declares_pickle", f"{_HERE}:declares_pickle", frozenset({"DLV-020"}),
           "declares pickle, but its arguments travel as JSON: a tuple arrives as a list"),
]
