"""The reference implementation of the contract (CONTRACT.md)."""

from __future__ import annotations

from fastapi import BackgroundTasks, FastAPI

from bgtasks_conformance import TargetEnv

from .dependencies import dependencies_app
from .groups import group_app
from .handlers import with_exception_handlers
from .lazy import FirstSegment, OnFirstRequest
from .middleware import (
    behind_base_http_middleware,
    behind_pure_asgi_middleware,
    dispatch_returns_own_response,
    dispatch_sets_background,
)
from .scenario import scenario_router, starlette_tasks_router
from .seeds import seed_routes
from .sync_scenario import sync_scenario_router
from .websocket import denial_router


def create_app(env: TargetEnv, *, tasks_class: type[BackgroundTasks] | None = None) -> FastAPI:
    """Build the sample app; its tasks report to ``env.probe`` and write under ``env.data_dir``.

    ``tasks_class`` plugs a custom ``BackgroundTasks`` into the scenario routes. Every part but
    ``/scenario`` is built from this ``env`` on its first request (``sample_app/lazy.py``): a test pays
    only for the routes it calls.
    """
    app = FastAPI(title="bgtasks sample app")
    app.include_router(scenario_router(env, tasks_class))
    app.router.routes.append(FirstSegment(["starlette-tasks"], lambda: starlette_tasks_router(env, tasks_class)))
    app.router.routes.append(FirstSegment(["sync"], lambda: sync_scenario_router(env, tasks_class)))
    app.mount("/mw/base-http", OnFirstRequest(lambda: behind_base_http_middleware(env, tasks_class)))
    app.mount("/mw/pure-asgi", OnFirstRequest(lambda: behind_pure_asgi_middleware(env, tasks_class)))
    app.mount("/mw/dispatch-background", OnFirstRequest(lambda: dispatch_sets_background(env, tasks_class)))
    app.mount("/mw/own-response", OnFirstRequest(lambda: dispatch_returns_own_response(env, tasks_class)))
    app.mount("/handlers", OnFirstRequest(lambda: with_exception_handlers(env)))
    app.mount("/deps/group", OnFirstRequest(lambda: group_app(env)))  # before /deps, which would match it
    app.mount("/deps", OnFirstRequest(lambda: dependencies_app(env)))
    app.router.routes.extend(seed_routes(env))
    app.include_router(denial_router(env))
    return app
