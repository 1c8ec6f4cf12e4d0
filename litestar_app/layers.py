"""The scenario route behind pure ASGI middleware (CONTRACT.md section 2) and with exception handlers (section 7).

Each is a Litestar ``Router`` at its prefix, so its middleware or handlers reach its routes and no other.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bgtasks_conformance import TargetEnv

from .scenario import scenario_handler


class PureAsgiPassthrough:
    """Pure ASGI middleware that forwards every message unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def forward(message: Message) -> None:
            await send(message)

        await self.app(scope, receive, forward)


def behind_pure_asgi_middleware(env: TargetEnv) -> Router:
    return Router("/mw/pure-asgi", route_handlers=[scenario_handler(env)], middleware=[PureAsgiPassthrough])


def with_exception_handlers(env: TargetEnv) -> Router:
    """``/handlers/scenario`` with handlers for ``Exception`` (500) and Litestar's ``HTTPException``."""

    def handled(handler: str, error: Exception, status: int) -> Response[Any]:
        env.probe.timeline.record(
            "handler.called", handler=handler, error=type(error).__name__, message=str(error), exception=error
        )
        return Response({"handled_by": handler, "error": type(error).__name__}, status_code=status)

    def on_exception(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        return handled("Exception", error, 500)

    def on_http_exception(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        status = error.status_code if isinstance(error, HTTPException) else 500
        return handled("HTTPException", error, status)

    return Router("/handlers", route_handlers=[scenario_handler(env)],
                  exception_handlers={Exception: on_exception, HTTPException: on_http_exception})
