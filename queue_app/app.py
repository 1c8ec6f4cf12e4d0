"""The web side: the contract's scenario routes, with every task handed to Celery after the response."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bgtasks_conformance import PlanError, TargetEnv
from bgtasks_conformance.sample_app.middleware import (
    PureAsgiPassthrough,
    dispatch_returns_own_response,
    dispatch_sets_background,
)
from bgtasks_conformance.sample_app.scenario import plan_response
from bgtasks_conformance.target.queue import BROKER_VAR

from .tasks import QueueTasks, bound_to


def run_scenario(env: TargetEnv, body: Any, tasks_class: type[QueueTasks]) -> Response:
    tasks = tasks_class()
    try:
        plan = env.schedule(body, tasks.add_task, by_name=True)
    except PlanError as error:
        return JSONResponse({"detail": str(error)}, status_code=400)
    response = plan_response(plan)
    response.background = tasks  # Starlette calls it once the response is complete: the hand-over
    return response


def scenario_router(env: TargetEnv, tasks_class: type[QueueTasks]) -> APIRouter:
    router = APIRouter()

    @router.post("/scenario")
    async def scenario(request: Request) -> Response:
        return run_scenario(env, json.loads(await request.body()), tasks_class)

    @router.post("/sync/scenario")
    def sync_scenario(body: Annotated[Any, Body()]) -> Response:
        return run_scenario(env, body, tasks_class)

    return router


def create_app(env: TargetEnv, *, tasks_class: type[QueueTasks] = QueueTasks) -> FastAPI:
    """The queue-backed app; ``tasks_class`` plugs in another drop-in (the gallery's broken ones)."""
    if not env.broker_url:
        raise RuntimeError(f"the queue app needs a broker: {BROKER_VAR} is not set (run the suite with "
                           "--bgtasks-queue, which starts Redis and the workers)")
    bound = bound_to(env.broker_url, tasks_class)
    app = FastAPI(title="bgtasks queue app")
    app.include_router(scenario_router(env, bound))
    base_http = FastAPI()
    base_http.include_router(scenario_router(env, bound))

    @base_http.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        return await call_next(request)

    pure = FastAPI()
    pure.include_router(scenario_router(env, bound))
    pure.add_middleware(PureAsgiPassthrough)
    app.mount("/mw/base-http", base_http)
    app.mount("/mw/pure-asgi", pure)
    # POST-009 checks what BaseHTTPMiddleware does with a background its dispatch() sets on call_next's response:
    # Starlette's behaviour, in the web process, whatever carries the endpoints' tasks (the sample app's route)
    app.mount("/mw/dispatch-background", dispatch_sets_background(env))
    # POST-013: a dispatch() answering its own response instead of call_next's: Starlette's behaviour, likewise
    app.mount("/mw/own-response", dispatch_returns_own_response(env))
    return app
