"""The contract (CONTRACT.md) implemented with Starlette alone: no FastAPI, no dependency injection."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from bgtasks_conformance import TargetEnv

from .handlers import with_exception_handlers
from .middleware import (
    behind_base_http_middleware,
    behind_pure_asgi_middleware,
    dispatch_returns_own_response,
    dispatch_sets_background,
)
from .scenario import scenario_route, sync_scenario_route
from .seeds import seed_routes
from .websocket import denial_route


def create_app(env: TargetEnv) -> Starlette:
    """Build the app; its tasks report to ``env.probe`` and write under ``env.data_dir``."""
    routes: list[BaseRoute] = [
        scenario_route(env),
        scenario_route(env, "/starlette-tasks/scenario"),  # /scenario's BackgroundTasks is Starlette's own already
        sync_scenario_route(env),
        Mount("/mw/base-http", behind_base_http_middleware(env)),
        Mount("/mw/pure-asgi", behind_pure_asgi_middleware(env)),
        Mount("/mw/dispatch-background", dispatch_sets_background(env)),
        Mount("/mw/own-response", dispatch_returns_own_response(env)),
        Mount("/handlers", with_exception_handlers(env)),
        *seed_routes(env),
        denial_route(env),
    ]
    return Starlette(routes=routes)
