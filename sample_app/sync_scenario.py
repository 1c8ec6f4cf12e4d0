"""``POST /sync/scenario``: the scenario route as a plain ``def`` endpoint (CONTRACT.md section 6).

FastAPI runs a ``def`` endpoint in a worker thread, so ``env.schedule`` (and whatever context a
plan sets) runs there too; the tasks and the response are those of ``/scenario``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body
from fastapi.responses import Response

from bgtasks_conformance import TargetEnv

from .scenario import run_scenario


def sync_scenario_router(env: TargetEnv, tasks_class: type[BackgroundTasks] | None = None) -> APIRouter:
    """``POST /sync/scenario``; ``tasks_class`` as for :func:`sample_app.scenario.scenario_router`."""
    router = APIRouter()

    @router.post("/sync/scenario")
    def sync_scenario(background_tasks: BackgroundTasks, body: Annotated[Any, Body()]) -> Response:
        return run_scenario(env, body, background_tasks, tasks_class)

    return router
