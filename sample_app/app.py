"""The reference implementation of the contract (CONTRACT.md)."""

from __future__ import annotations

from fastapi import FastAPI

from conformance import TargetEnv

from .middleware import behind_base_http_middleware, behind_pure_asgi_middleware
from .scenario import scenario_router


def create_app(env: TargetEnv) -> FastAPI:
    """Build the sample app; its tasks report to ``env.probe`` and write under ``env.data_dir``."""
    app = FastAPI(title="bgtasks sample app")
    app.include_router(scenario_router(env))
    app.mount("/mw/base-http", behind_base_http_middleware(env))
    app.mount("/mw/pure-asgi", behind_pure_asgi_middleware(env))
    return app
create_app.conformance_lacks = {"seed-endpoints": "TEMPORARY"}  # type: ignore[attr-defined]
