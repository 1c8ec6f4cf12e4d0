"""The scenario route in an app with registered exception handlers (CONTRACT.md section 7)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from bgtasks_conformance import TargetEnv

from .scenario import scenario_router


def with_exception_handlers(env: TargetEnv) -> FastAPI:
    """``/scenario`` with handlers for ``Exception`` (500) and ``HTTPException``; each reports its call."""
    app = FastAPI()
    app.include_router(scenario_router(env))

    def handled(handler: str, error: Exception, status: int) -> Response:
        env.probe.timeline.record(
            "handler.called", handler=handler, error=type(error).__name__, message=str(error), exception=error
        )
        return JSONResponse({"handled_by": handler, "error": type(error).__name__}, status_code=status)

    @app.exception_handler(Exception)
    async def on_exception(request: Request, error: Exception) -> Response:
        return handled("Exception", error, 500)

    @app.exception_handler(HTTPException)
    async def on_http_exception(request: Request, error: HTTPException) -> Response:
        return handled("HTTPException", error, error.status_code)

    return app
