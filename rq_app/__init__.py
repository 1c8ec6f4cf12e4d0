"""A second queue-backed implementation, on another engine: FastAPI in front, RQ over a real Redis behind.

Written from the README's queue section and CONTRACT.md alone, with RQ's defaults: its default
``rq.Worker`` forks a work horse per job, its default serializer is pickle. Its drop-in for
``BackgroundTasks`` (:class:`~bgtasks_conformance.rq_app.tasks.RQTasks`, the same ``add_task``) hands
each request's tasks to RQ once the response is complete, each job depending on the one before it. Run
it with the queue tier, which starts Redis and the workers::

    bgtasks-conformance --bgtasks-target bgtasks_conformance.rq_app:create_app --bgtasks-queue
"""

from typing import Any

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.target.queue import QueueSpec


def create_app(env: TargetEnv, **options: Any) -> Any:
    """The RQ-backed FastAPI app (built in ``app``: a worker, which imports this package, needs no FastAPI)."""
    from .app import create_app as build

    return build(env, **options)


WORKER = ("{python}", "-m", "bgtasks_conformance.rq_app.worker")

# RQ redelivers nothing by itself: a job whose worker was killed stays "started" until a worker's maintenance finds
# its heartbeat expired (at least a minute later) and moves it to the failed jobs (calling its failure callback, which
# reports FAILURE): at-most-once, each task delivered once (max_deliveries 1: a work horse that dies fails its job,
# reported FAILURE by the worker). Its default serializer, pickle, carries any object pickle can. RQ's own record of
# each job (its hash in Redis: queued, deferred, started, finished, failed) is what ``records`` reads back.
create_app.conformance_queue = QueueSpec(  # type: ignore[attr-defined]
    WORKER, delivery="at-most-once", redelivery_timeout=5, after_failure="stop", workers=3, serializer="pickle",
    records="bgtasks_conformance.rq_app.records:records", max_deliveries=1)

# What a queue cannot carry, by its nature (each requirement that needs it is skipped with this reason).
create_app.conformance_lacks = {  # type: ignore[attr-defined]
    "tasks-in-process": "the app call returns once the tasks are handed to RQ; they run later, in a work horse a "
                        "worker forked (its clock, its logs), and what they raise stays there (RQ records it: DLV-008)",
    "any-callable": "RQ carries a task by the name of an importable function here: no lambda, closure, bound "
                    "method, callable object or functools.partial",
    "argument-identity": "arguments travel through RQ's serializer (pickle): the task gets equal copies, never the "
                         "very objects",
    "context-variables": "a work horse is another process: the request's ContextVars do not travel",
    "worker-threads": "sync tasks run in a work horse, not in the web process's threadpool",
    "event-loop": "async tasks run on the work horse's own event loop, not the app's",
    "add-while-running": "a task in a work horse has no request to add tasks to",
    "seed-endpoints": "this drop-in implements the scenario routes only",
    "exception-handlers": "a task's error happens in the work horse, after the app call: no handler of the app sees "
                          "it",
    "dependencies": "FastAPI's dependency injection hands out its own BackgroundTasks, not this drop-in",
    "starlette-background-tasks": "this drop-in replaces Starlette's BackgroundTasks: the tasks are handed to the "
                                  "queue, never run by Starlette's own collection",
    "frontend-routes": "a frontend() route group's tasks come from FastAPI's dependency injection, which hands out "
                       "its own BackgroundTasks, not this drop-in",
    "websocket-denial": "this drop-in implements the HTTP scenario routes only, not a WebSocket route denying its "
                        "handshake with a response",
}

__all__ = ["create_app"]
