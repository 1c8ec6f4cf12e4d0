"""What a queue-backed target declares about itself: its worker command and its delivery guarantee.

A factory that hands its tasks to a queue sets ``create_app.conformance_queue`` (a dict); the queue tier
(``--bgtasks-queue``) then starts a Redis and that many worker processes for it. Every problem with the
declaration is one :class:`~bgtasks_conformance.target.loader.TargetError`-worthy message.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

BROKER_VAR = "BGTASKS_BROKER_URL"  # the Redis URL the app and its workers use, set by the suite
WORKER_VAR = "BGTASKS_WORKER"  # the name the suite gave a worker process
DELIVERIES = ("at-least-once", "at-most-once")
AFTER_FAILURE = ("stop", "run")
# What carries a task's arguments to the worker: "json" (JSON values only; anything else is refused at the hand-over)
# or "pickle" (any object pickle carries, e.g. RQ's default serializer). DLV-004 and DLV-020 check the declaration.
SERIALIZERS = ("json", "pickle")
FAULT_KEYS = ("records", "max_deliveries")  # what the fault requirements (spec/test_faults.py) read
EXAMPLE = ('create_app.conformance_queue = {"worker": ["{python}", "-m", "celery", "-A", "myapp.worker", "worker"], '
           '"delivery": "at-least-once"}')


@dataclass(frozen=True)
class QueueSpec:
    """``worker``: the argv of one worker process (``{python}`` is this interpreter, ``{name}`` the worker's
    name); ``delivery``: what a worker killed in the middle of a task leads to; ``redelivery_timeout``: how
    long after that the task is delivered again at the latest; ``after_failure``: what the later tasks of a
    request do when one raises; ``workers``: how many worker processes serve the session; ``serializer``: what
    carries the arguments to the worker (one of :data:`SERIALIZERS`)."""

    worker: tuple[str, ...]
    delivery: str = "at-least-once"
    redelivery_timeout: float = 20.0
    after_failure: str = "stop"
    workers: int = 2
    serializer: str = "json"
    records: str | None = None  # "module:function": function(broker_url, probe) -> the queue's record of each task
    max_deliveries: int | None = None  # deliveries of a task whose process dies every time, before it is given up

    def command(self, name: str) -> list[str]:
        return [part.replace("{python}", sys.executable).replace("{name}", name) for part in self.worker]


def parse_queue(raw: Any) -> QueueSpec:
    """The declaration as a :class:`QueueSpec`; ``ValueError`` with the fix when it is not one."""
    if isinstance(raw, QueueSpec):
        return raw
    if not isinstance(raw, Mapping) or not raw.get("worker"):
        raise ValueError(f"conformance_queue is a dict with the worker's command, e.g. {EXAMPLE}")
    worker = raw["worker"]
    if isinstance(worker, str) or not all(isinstance(part, str) for part in worker):
        raise ValueError(f"conformance_queue['worker'] is a list of strings (an argv), not {worker!r}")
    unknown = sorted(set(raw) - {"worker", "delivery", "redelivery_timeout", "after_failure", "workers",
                                  "serializer", *FAULT_KEYS})
    if unknown:
        raise ValueError(f"conformance_queue has unknown keys {unknown}; see {EXAMPLE}")
    spec = QueueSpec(tuple(worker), str(raw.get("delivery", "at-least-once")),
                     float(raw.get("redelivery_timeout", 20.0)), str(raw.get("after_failure", "stop")),
                     int(raw.get("workers", 2)), str(raw.get("serializer", "json")))
    spec = replace(spec, **fault_keys(raw))
    if spec.delivery not in DELIVERIES:
        raise ValueError(f"conformance_queue['delivery'] is one of {', '.join(DELIVERIES)}, not {spec.delivery!r}")
    if spec.after_failure not in AFTER_FAILURE:
        raise ValueError(f"conformance_queue['after_failure'] is one of {', '.join(AFTER_FAILURE)}, "
                         f"not {spec.after_failure!r}")
    if spec.serializer not in SERIALIZERS:
        raise ValueError(f"conformance_queue['serializer'] is one of {', '.join(SERIALIZERS)} (what carries the "
                         f"arguments to the worker), not {spec.serializer!r}")
    if spec.workers < 2 or not spec.redelivery_timeout > 0:
        raise ValueError("conformance_queue needs 'workers' >= 2 (order is proved with several) and a positive "
                         "'redelivery_timeout'")
    return spec


def fault_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``records`` and ``max_deliveries`` as given; ``ValueError`` with the fix when they are not what is asked."""
    found: dict[str, Any] = {}
    records = raw.get("records")
    if records is not None:
        if not isinstance(records, str) or ":" not in records:
            raise ValueError(f"conformance_queue['records'] names a function as 'module:function', not {records!r}")
        found["records"] = records
    deliveries = raw.get("max_deliveries")
    if deliveries is not None:
        if isinstance(deliveries, bool) or not isinstance(deliveries, int) or deliveries < 1:
            raise ValueError(f"conformance_queue['max_deliveries'] is an integer >= 1, not {deliveries!r}")
        found["max_deliveries"] = deliveries
    return found


def declared_queue(factory: Any) -> QueueSpec | None:
    raw = getattr(factory, "conformance_queue", None)
    return None if raw is None else parse_queue(raw)
