"""The web side of a queue-backed drop-in: the contract's scenario routes, every task handed over after the response.

Engine-neutral: ``queue_app`` (Celery) and ``rq_app`` (RQ) each pass their ``BackgroundTasks`` drop-in, already
bound to the session's broker; the drop-in's ``add_task`` takes functions by name (``env.schedule(...,
by_name=True)``) and its ``__call__``, which Starlette makes once the response is complete, is the hand-over.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTasks

from bgtasks_conformance import PlanError, TargetEnv

from .middleware import (
    base_http_passthrough,
    dispatch_returns_own_response,
    dispatch_sets_background,
    pure_asgi_passthrough,
)
from .scenario import plan_response
from .templates import template_router


def run_scenario(env: TargetEnv, body: Any, tasks_class: type[BackgroundTasks]) -> Response:
    tasks = tasks_class()
    try:
        plan = env.schedule(body, tasks.add_task, by_name=True)
    except PlanError as error:
        return JSONResponse({"detail": str(error)}, status_code=400)
    response = plan_response(plan)
    response.background = tasks  # Starlette calls it once the response is complete: the hand-over
    return response


def scenario_router(env: TargetEnv, tasks_class: type[BackgroundTasks]) -> APIRouter:
    router = APIRouter()

    @router.post("/scenario")
    async def scenario(request: Request) -> Response:
        return run_scenario(env, json.loads(await request.body()), tasks_class)

    @router.post("/sync/scenario")
    def sync_scenario(body: Annotated[Any, Body()]) -> Response:
        return run_scenario(env, body, tasks_class)

    return router


def queue_web_app(env: TargetEnv, tasks_class: type[BackgroundTasks], *, title: str) -> FastAPI:
    """The scenario routes, also behind each kind of middleware, with ``tasks_class`` carrying every task."""
    app = FastAPI(title=title)
    app.include_router(scenario_router(env, tasks_class))
    # POST-016: a template page's messages through BaseHTTPMiddleware (Starlette's behaviour, its task in process)
    app.mount("/mw/base-http", base_http_passthrough(scenario_router(env, tasks_class), template_router(env)))
    app.mount("/mw/pure-asgi", pure_asgi_passthrough(scenario_router(env, tasks_class)))
    # POST-009 checks what BaseHTTPMiddleware does with a background its dispatch() sets on call_next's response,
    # and POST-013 a dispatch() answering its own response: Starlette's behaviour, in the web process, whatever
    # carries the endpoints' tasks (the sample app's routes)
    app.mount("/mw/dispatch-background", dispatch_sets_background(env))
    app.mount("/mw/own-response", dispatch_returns_own_response(env))
    return app
