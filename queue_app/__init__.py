"""A queue-backed implementation: FastAPI in front, Celery over a real Redis behind, workers in other processes.

Its drop-in for ``BackgroundTasks`` (:class:`~bgtasks_conformance.queue_app.tasks.QueueTasks`, the same
``add_task``) hands each request's tasks to Celery once the response is complete, as one chain in the
order added; ``celery worker`` processes run them and report to the test's probe over TCP. Run it with
the queue tier, which starts Redis and the workers::

    bgtasks-conformance --bgtasks-target bgtasks_conformance.queue_app:create_app --bgtasks-queue
"""

from bgtasks_conformance.target.queue import QueueSpec

from .app import create_app
from .celery_app import MAX_DELIVERIES, REDELIVERY_TIMEOUT

# Celery's default pool, prefork: each worker process forks its pool's processes, which run the tasks (the suite
# accepts a task run in any process below a worker it started). Two per worker keep the run light; "--pool solo"
# (the task in the worker process itself) passes too.
WORKER = ("{python}", "-m", "celery", "-A", "bgtasks_conformance.queue_app.worker", "worker", "--pool", "prefork",
          "--concurrency", "2", "--hostname", "{name}@%h", "--queues", "bgtasks", "--loglevel", "INFO",
          "--without-gossip", "--without-mingle", "--without-heartbeat")

# At-least-once: a task whose worker dies is delivered again within REDELIVERY_TIMEOUT (Redis's visibility timeout,
# which the workers' heartbeat keeps from touching a task that runs long); given up after MAX_DELIVERIES deliveries;
# the queue's record of every task handed over is read by records.records.
create_app.conformance_queue = QueueSpec(  # type: ignore[attr-defined]
    WORKER, delivery="at-least-once", redelivery_timeout=REDELIVERY_TIMEOUT, after_failure="stop", workers=3,
    records="bgtasks_conformance.queue_app.records:records", max_deliveries=MAX_DELIVERIES)

# What a queue cannot carry, by its nature (each requirement that needs it is skipped with this reason).
create_app.conformance_lacks = {  # type: ignore[attr-defined]
    "tasks-in-process": "the app call returns once the tasks are handed to the queue; they run later, in a worker "
                        "process (its clock, its logs), and what they raise stays there (the queue records it: "
                        "DLV-008)",
    "any-callable": "a queue carries a task by the name of an importable function: no lambda, closure, bound "
                    "method, callable object or functools.partial",
    "argument-identity": "arguments travel through Celery's JSON serializer: the task gets equal copies, never the "
                         "very objects; only JSON values (and datetime, Decimal, UUID) survive, a Pydantic model "
                         "cannot be handed over (DLV-004)",
    "context-variables": "a worker is another process: the request's ContextVars do not travel",
    "worker-threads": "sync tasks run in a worker process, not in the web process's threadpool",
    "event-loop": "async tasks run on the worker's own event loop, not the app's",
    "add-while-running": "a task in a worker has no request to add tasks to",
    "seed-endpoints": "this drop-in implements the scenario routes only",
    "exception-handlers": "a task's error happens in the worker, after the app call: no handler of the app sees it",
    "dependencies": "FastAPI's dependency injection hands out its own BackgroundTasks, not this drop-in",
    "starlette-background-tasks": "this drop-in replaces Starlette's BackgroundTasks: the tasks are handed to the "
                                  "queue, never run by Starlette's own collection",
    "frontend-routes": "a frontend() route group's tasks come from FastAPI's dependency injection, which hands out "
                       "its own BackgroundTasks, not this drop-in",
    "websocket-denial": "this drop-in implements the HTTP scenario routes only, not a WebSocket route denying its "
                        "handshake with a response",
}

__all__ = ["create_app"]
