"""Broken queue-backed implementations, for the self-check of the queue tier::

    python -m bgtasks_conformance.selfcheck --gallery bgtasks_conformance.queue_app.broken:GALLERY \\
        --reference bgtasks_conformance.queue_app:create_app --reference-tier asgi --option=--bgtasks-queue \\
        --areas delivery

Each is the queue app with one defect that real ones have.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from celery import chain, uuid
from fastapi import FastAPI

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.selfcheck import Broken
from bgtasks_conformance.target.queue import QueueSpec

from . import WORKER, create_app, records
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


class OneMessage(QueueTasks):
    """Hands a request's tasks over as one message, a list the worker runs in a loop: a worker that dies in the
    middle strands the list, and its redelivery runs the tasks before the killed one again."""

    def hand_over(self) -> None:
        items = [[name, list(args), kwargs] for name, args, kwargs in self.handed]
        self.celery().send_task(TASK, args=(f"{__name__}:run_list", [items], {}))


def run_list(items: list[list[Any]]) -> None:
    """The worker's side of :class:`OneMessage`."""
    for name, args, kwargs in items:
        call(name, args, kwargs)


class NoRecords(QueueTasks):
    """Publishes the chain without recording its tasks first: a task that never runs leaves no trace."""

    def hand_over(self) -> None:
        app = self.celery()
        chain(*[app.signature(TASK, args=(name, list(args), kwargs), immutable=True)
                for name, args, kwargs in self.handed]).apply_async()


_REMEMBERED: dict[str, list[list[tuple[str, str]]]] = {}  # probe -> each chain handed over: (queue id, task id)
_REMEMBERED_LOCK = threading.Lock()


class RemembersHandOvers(QueueTasks):
    """Keeps its own record of each chain it hands over, outside the broker (in the app's memory, where an app keeps
    it in its database), and reports a task 'queued' until a worker records its end (or one before it failed): the
    tasks a broker restarted empty has lost stay 'queued' for ever, and nobody is told they are gone."""

    def hand_over(self) -> None:
        app = self.celery()
        ids = [uuid() for _ in self.handed]
        by_probe: dict[str, list[tuple[str, str]]] = {}
        for queue_id, (_, args, _) in zip(ids, self.handed, strict=True):
            plan = args[0] if args else None
            if isinstance(plan, Mapping) and "probe" in plan and "id" in plan:
                by_probe.setdefault(str(plan["probe"]), []).append((queue_id, str(plan["id"])))
        with _REMEMBERED_LOCK:
            for probe, handed in by_probe.items():
                _REMEMBERED.setdefault(probe, []).append(handed)
        chain(*[app.signature(TASK, args=(name, list(args), kwargs), immutable=True, task_id=queue_id)
                for queue_id, (name, args, kwargs) in zip(ids, self.handed, strict=True)]).apply_async()


def remembered_records(broker_url: str, probe: str) -> list[dict[str, Any]]:
    """The records of :class:`RemembersHandOvers`: the state from Celery's result backend, and 'queued' for a task
    with no final state there unless one before it in its chain failed (the defect: it never asks the broker)."""
    with _REMEMBERED_LOCK:
        chains = [list(handed) for handed in _REMEMBERED.get(probe, [])]
    client = records.client(broker_url)
    found = []
    for handed in chains:
        metas = client.mget([records.META + queue_id for queue_id, _ in handed])
        stopped = False
        for (queue_id, task), meta in zip(handed, metas, strict=True):
            state = json.loads(meta).get("status", "PENDING") if meta else "PENDING"
            waiting = state not in records.FINAL and not stopped
            found.append({"task": task, "probe": probe, "queue_id": queue_id, "queued": waiting,
                          "state": "CANCELLED" if stopped and state not in records.FINAL else state})
            stopped = stopped or state in ("FAILURE", "DEAD")
    return found


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


def factory(name: str, tasks_class: type[QueueTasks], worker: str | None = None, **declared: Any) -> Any:
    """Another broken implementation: the queue app with ``tasks_class``, served by the broken worker ``worker``
    (an app of :mod:`.broken_worker`), declaring ``declared`` on top of the reference's declaration."""

    def create(env: TargetEnv) -> FastAPI:
        return create_app(env, tasks_class=tasks_class)

    command = _QUEUE.worker if worker is None else tuple(
        part.replace("queue_app.worker", f"queue_app.broken_worker:{worker}") for part in _QUEUE.worker)
    create.__name__ = create.__qualname__ = name
    create.conformance_lacks = create_app.conformance_lacks  # type: ignore[attr-defined]
    create.conformance_queue = replace(_QUEUE, worker=command, **declared)  # type: ignore[attr-defined]
    return create


_QUEUE: QueueSpec = create_app.conformance_queue  # type: ignore[attr-defined]
for _factory in (enqueues_at_add, acks_before_work, publishes_twice, no_chain, stringifies_arguments, runs_in_process,
                 swallows_hand_over_errors):
    _factory.conformance_lacks = create_app.conformance_lacks  # type: ignore[attr-defined]
    _factory.conformance_queue = _QUEUE  # type: ignore[attr-defined]
acks_before_work.conformance_queue = QueueSpec(  # type: ignore[attr-defined]
    tuple(part.replace("queue_app.worker", "queue_app.broken_worker") for part in WORKER),
    delivery="at-least-once", after_failure=_QUEUE.after_failure, workers=_QUEUE.workers)

# The faults' gallery (spec/test_faults.py): each factory is a module attribute, for --bgtasks-target.
short_visibility = factory("short_visibility", QueueTasks, "no_heartbeat")
fresh_delivery_id = factory("fresh_delivery_id", QueueTasks, "fresh_delivery_id")
list_in_one_message = factory("list_in_one_message", OneMessage)
loses_silently = factory("loses_silently", NoRecords, "app", delivery="at-most-once")
records_only_what_ran = factory("records_only_what_ran", NoRecords, "records_at_run")
short_broker_timeouts = factory("short_broker_timeouts", QueueTasks, "short_timeouts")
gives_up_on_the_broker = factory("gives_up_on_the_broker", QueueTasks, "gives_up")
no_dead_letter = factory("no_dead_letter", QueueTasks, "no_dead_letter")
queued_for_ever = factory("queued_for_ever", RemembersHandOvers,
                          records=f"{__name__}:remembered_records")  # DLV-017: a broker restarted empty
# The serializer's (DLV-020): the queue app declaring pickle while Celery's JSON serializer carries its arguments.
declares_pickle = factory("declares_pickle", QueueTasks, serializer="pickle")

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
    Broken("short_visibility", f"{_HERE}:short_visibility", frozenset({"DLV-010"}),
           "Redis's visibility timeout alone, shorter than a slow task: it runs twice"),
    Broken("fresh_delivery_id", f"{_HERE}:fresh_delivery_id", frozenset({"DLV-011"}),
           "a new delivery id on every delivery: an idempotent task cannot recognise a duplicate"),
    Broken("list_in_one_message", f"{_HERE}:list_in_one_message", frozenset({"DLV-012"}),
           "a request's tasks in one message: a dead worker's list is redelivered whole, its first tasks run twice"),
    Broken("loses_silently", f"{_HERE}:loses_silently", frozenset({"DLV-012"}),
           "at-most-once, and the tasks after the killed one vanish without a record"),
    Broken("records_only_what_ran", f"{_HERE}:records_only_what_ran", frozenset({"DLV-013"}),
           "the queue records a task only when a worker runs it: those after a failed one leave no trace"),
    Broken("short_broker_timeouts", f"{_HERE}:short_broker_timeouts", frozenset({"DLV-014"}),
           "a one-second deadline on a write to the broker after the work: a pause records tasks that ran as failed"),
    Broken("gives_up_on_the_broker", f"{_HERE}:gives_up_on_the_broker", frozenset({"DLV-015"}),
           "workers that do not reconnect to a restarted broker (they leave it to a supervisor): its tasks stall"),
    Broken("no_dead_letter", f"{_HERE}:no_dead_letter", frozenset({"DLV-016"}),
           "no bound on deliveries: a poison message is delivered for ever"),
    Broken("queued_for_ever", f"{_HERE}:queued_for_ever", frozenset({"DLV-017"}),
           "its own record of the hand-overs, outside the broker, says 'queued' until a worker ends the task: what a "
           "broker restarted empty lost stays 'queued' for ever, unnoticed"),
]
FAULT_GALLERY: list[Broken] = [b for b in GALLERY[7:] if b.name != "declares_pickle"]  # spec/test_faults.py's
# cases alone (DLV-010 to DLV-017); declares_pickle is the serializer's (DLV-020)
