"""The web side: the contract's scenario routes, with every task handed to RQ after the response."""

from __future__ import annotations

from fastapi import FastAPI

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.sample_app.queue_web import queue_web_app
from bgtasks_conformance.target.queue import BROKER_VAR

from .tasks import RQTasks, bound_to


def create_app(env: TargetEnv, *, tasks_class: type[RQTasks] = RQTasks) -> FastAPI:
    """The RQ-backed app; ``tasks_class`` plugs in another drop-in (the gallery's broken ones)."""
    if not env.broker_url:
        raise RuntimeError(f"the RQ app needs a broker: {BROKER_VAR} is not set (run the suite with "
                           "--bgtasks-queue, which starts Redis and the workers)")
    return queue_web_app(env, bound_to(env.broker_url, tasks_class), title="bgtasks RQ app")
