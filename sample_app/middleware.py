"""The scenario route mounted behind each kind of middleware."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from bgtasks_conformance import PlanError, TargetEnv
from bgtasks_conformance.target.contract import LIVE_EVENT_GATE

from .scenario import scenario_router
from .templates import template_router


class PureAsgiPassthrough:
    """Pure ASGI middleware that forwards every message unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def forward(message: Any) -> None:
            await send(message)

        await self.app(scope, receive, forward)


def base_http_passthrough(*routers: APIRouter) -> FastAPI:
    """The routers behind a BaseHTTPMiddleware whose dispatch() passes every request on."""
    app = FastAPI()
    for router in routers:
        app.include_router(router)

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        return await call_next(request)

    return app


def pure_asgi_passthrough(router: APIRouter) -> FastAPI:
    """The router behind :class:`PureAsgiPassthrough`."""
    app = FastAPI()
    app.include_router(router)
    app.add_middleware(PureAsgiPassthrough)
    return app


def behind_base_http_middleware(env: TargetEnv, tasks_class: type[BackgroundTasks] | None = None) -> FastAPI:
    return base_http_passthrough(scenario_router(env, tasks_class), template_router(env))


def behind_pure_asgi_middleware(env: TargetEnv, tasks_class: type[BackgroundTasks] | None = None) -> FastAPI:
    return pure_asgi_passthrough(scenario_router(env, tasks_class))


def dispatch_sets_background(env: TargetEnv, tasks_class: type[BackgroundTasks] | None = None) -> FastAPI:
    """The scenario route behind a BaseHTTPMiddleware whose dispatch() sets ``response.background``."""
    app = FastAPI()
    app.include_router(scenario_router(env, tasks_class))

    @env.observed
    def dispatch_background() -> None:
        pass

    @app.middleware("http")
    async def sets_background(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        env.probe.timeline.record("task.add", task="dispatch_background")
        response.background = BackgroundTask(dispatch_background)
        return response

    return app


def dispatch_returns_own_response(env: TargetEnv, tasks_class: type[BackgroundTasks] | None = None) -> FastAPI:
    """The scenario route behind a BaseHTTPMiddleware whose dispatch() awaits call_next, then answers a response of
    its own (``{"replaced": true}``) instead of the one call_next returned."""
    app = FastAPI()
    app.include_router(scenario_router(env, tasks_class))

    @app.post("/live")
    async def live(request: Request, background_tasks: BackgroundTasks) -> Response:
        return live_stream(env, request, await request.json(), background_tasks, tasks_class)

    @app.middleware("http")
    async def own_response(request: Request, call_next: Any) -> Response:
        await call_next(request)
        return JSONResponse({"replaced": True})

    return app


def live_stream(env: TargetEnv, request: Request, body: object, background_tasks: BackgroundTasks,
                tasks_class: type[BackgroundTasks] | None) -> Response:
    """A live stream, as server-sent events are: the plan's first chunk, then one chunk per event (the gate
    ``live.event`` opening), asking before each whether the client left and ending if it did; it waits for its
    client otherwise (contract section 17)."""
    tasks = tasks_class() if tasks_class is not None else background_tasks
    try:
        plan = env.schedule(body, tasks.add_task)
    except PlanError as error:
        return JSONResponse({"detail": str(error)}, status_code=400)
    next_event = env.probe.gate(LIVE_EVENT_GATE)

    async def events() -> Any:
        yield plan.chunks[0] if plan.chunks else b""
        while True:
            await next_event.wait_async(env.probe.gate_timeout)
            if await request.is_disconnected():
                return
            yield b"event\n"

    response = StreamingResponse(events(), media_type="text/plain")
    if tasks_class is not None:
        response.background = tasks
    return response
