"""The queue's own record of every task it was handed, kept in the broker's Redis, and read back for the suite.

The web side writes, before it publishes a request's chain, which queue id carries which task of which test
(``bgtasks:handed:<probe>``: queue id -> the task's id in its plan); Celery's result backend keeps each task's
state (STARTED, SUCCESS, FAILURE, and DEAD for one given up); the workers count deliveries. :func:`records`
(declared as ``conformance_queue["records"]``) joins them: a task handed over but never run (a link after a
failed or lost one) still has its record, so that nothing vanishes without a trace.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .celery_app import QUEUE

HANDED = "bgtasks:handed:"  # + the test's probe address: queue id -> task id
DELIVERIES = "bgtasks:deliveries"  # queue id -> how many times a worker took it
DEAD = "bgtasks:dead"  # the dead letters: queue ids given up after too many deliveries
META = "celery-task-meta-"  # Celery's result backend, on the same Redis
UNACKED = "unacked"  # kombu: delivery tag -> [message, exchange, routing key] while unacknowledged
FINAL = ("SUCCESS", "FAILURE", "DEAD")


RETRIES = 40  # a worker's client rides out a broker restart: up to about 20 s of retries, 0.5 s apart at most


@functools.cache
def client(broker_url: str, patient: bool = False) -> redis.Redis:
    """A client of the broker's Redis, one per URL and process (redis-py reconnects after a fork). A worker's is
    ``patient``: it retries while the broker is away, rather than fail the task; the web side's fails at once, so
    that a hand-over to an unreachable broker surfaces (DLV-007)."""
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES if patient else 0)
    return redis.Redis.from_url(broker_url, socket_timeout=10, socket_connect_timeout=5, decode_responses=True,
                                retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError])


def handed(broker_url: str, items: Iterable[tuple[str, Any]]) -> None:
    """Record, before the publish, the queue id of each scenario task (``items``: queue id, first argument)."""
    by_probe: dict[str, dict[str, str]] = {}
    for queue_id, plan in items:
        if isinstance(plan, Mapping) and "probe" in plan and "id" in plan:
            by_probe.setdefault(str(plan["probe"]), {})[queue_id] = str(plan["id"])
    if by_probe:
        pipe = client(broker_url).pipeline()
        for probe, tasks in by_probe.items():
            pipe.hset(HANDED + probe, mapping=tasks)
        pipe.execute()


def delivered(broker_url: str, queue_id: str) -> int:
    """Count one more delivery of ``queue_id``; how many there have been."""
    return int(client(broker_url, patient=True).hincrby(DELIVERIES, queue_id, 1))


def mark_done(broker_url: str, queue_id: str, deadline: float) -> None:
    """One write within ``deadline`` seconds, no retry: what the gallery's short_timeouts worker does after a task."""
    hasty = redis.Redis.from_url(broker_url, socket_timeout=deadline, socket_connect_timeout=deadline,
                                 retry=Retry(ExponentialBackoff(), 0))
    try:
        hasty.hset("bgtasks:done", queue_id, 1)
    finally:
        hasty.close()


def dead_letter(broker_url: str, queue_id: str) -> None:
    client(broker_url, patient=True).rpush(DEAD, queue_id)


def is_dead(broker_url: str, queue_id: str) -> bool:
    return queue_id in client(broker_url, patient=True).lrange(DEAD, 0, -1)


def _message_id(raw: str) -> str | None:
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if isinstance(message, list):  # an unacknowledged one: [message, exchange, routing key]
        message = message[0] if message and isinstance(message[0], dict) else {}
    return (message.get("headers") or {}).get("id") if isinstance(message, dict) else None


def in_broker(broker_url: str) -> set[str]:
    """The queue ids of the messages waiting in the queue or delivered and not yet acknowledged."""
    redis_client = client(broker_url)
    raw = [*redis_client.lrange(QUEUE, 0, -1), *redis_client.hvals(UNACKED)]
    return {found for found in map(_message_id, raw) if found}


def records(broker_url: str, probe: str) -> list[dict[str, Any]]:
    """The queue's record of each task handed over for the test whose probe is ``probe``."""
    redis_client = client(broker_url)
    tasks: dict[str, str] = redis_client.hgetall(HANDED + probe)
    ids = list(tasks)
    if not ids:
        return []
    metas = redis_client.mget([META + queue_id for queue_id in ids])
    counts = redis_client.hmget(DELIVERIES, ids)
    waiting = in_broker(broker_url)
    found = []
    for queue_id, meta, count in zip(ids, metas, counts, strict=True):
        state = json.loads(meta).get("status", "PENDING") if meta else "PENDING"
        found.append({"task": tasks[queue_id], "probe": probe, "state": state, "queued": queue_id in waiting,
                      "deliveries": int(count or 0), "queue_id": queue_id})
    return found
