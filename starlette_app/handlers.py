"""The scenario route in an app with registered exception handlers (CONTRACT.md section 7)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bgtasks_conformance import TargetEnv

from .scenario import scenario_route


def with_exception_handlers(env: TargetEnv) -> Starlette:
    """``/scenario`` with handlers for ``Exception`` (500) and ``HTTPException``; each reports its call."""

    def handled(handler: str, error: Exception, status: int) -> Response:
        env.probe.timeline.record(
            "handler.called", handler=handler, error=type(error).__name__, message=str(error), exception=error
        )
        return JSONResponse({"handled_by": handler, "error": type(error).__name__}, status_code=status)

    async def on_exception(request: Request, error: Exception) -> Response:
        return handled("Exception", error, 500)

    async def on_http_exception(request: Request, error: Exception) -> Response:
        status = error.status_code if isinstance(error, HTTPException) else 500
        return handled("HTTPException", error, status)

    return Starlette(routes=[scenario_route(env)],
                     exception_handlers={Exception: on_exception, HTTPException: on_http_exception})
