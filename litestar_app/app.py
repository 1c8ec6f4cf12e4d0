"""The contract (CONTRACT.md) implemented on Litestar: its own BackgroundTask(s), routers, handlers."""

from __future__ import annotations

from litestar import Litestar

from bgtasks_conformance import TargetEnv

from .layers import behind_pure_asgi_middleware, with_exception_handlers
from .scenario import scenario_handler, sync_scenario_handler
from .seeds import seed_handlers


def create_app(env: TargetEnv) -> Litestar:
    """Build the app; its tasks report to ``env.probe`` and write under ``env.data_dir``.

    No OpenAPI schema (nothing here serves it) and no logging config: Litestar's default one would
    reconfigure the process's logging at startup, and the suite's own test process is not ours to change.
    """
    handlers = [
        scenario_handler(env),
        sync_scenario_handler(env),
        behind_pure_asgi_middleware(env),
        with_exception_handlers(env),
        *seed_handlers(env),
    ]
    return Litestar(route_handlers=handlers, openapi_config=None, logging_config=None)
