"""The scenario route behind each kind of middleware (CONTRACT.md section 2)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask, BackgroundTasks
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgtasks_conformance import PlanError, TargetEnv
from bgtasks_conformance.target.contract import LIVE_EVENT_GATE

from .scenario import scenario_route


class PureAsgiPassthrough:
    """Pure ASGI middleware that forwards every message unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def forward(message: Message) -> None:
            await send(message)

        await self.app(scope, receive, forward)


async def passthrough(request: Request, call_next: RequestResponseEndpoint) -> Response:
    """The ``dispatch`` of a ``BaseHTTPMiddleware`` that changes nothing."""
    return await call_next(request)


def template_route(env: TargetEnv) -> Route:
    """``GET /template``: a Jinja2 template page with one background task (CONTRACT.md section 15)."""

    @env.observed
    def template_task() -> None:
        pass

    async def template_page(request: Request) -> Response:
        from starlette.templating import Jinja2Templates  # jinja2 imported only when the page is asked for

        directory = env.data_dir / "templates"
        directory.mkdir(exist_ok=True)
        (directory / "page.html").write_text("<p>{{ greeting }}</p>", encoding="utf-8")
        templates = Jinja2Templates(directory=str(directory))
        env.probe.timeline.record("task.add", task="template_task")
        tasks = BackgroundTasks([BackgroundTask(template_task)])
        if list(inspect.signature(templates.TemplateResponse).parameters)[:1] == ["name"]:  # Starlette < 0.29
            return templates.TemplateResponse("page.html", {"request": request, "greeting": "hello"}, background=tasks)
        return templates.TemplateResponse(request, "page.html", {"greeting": "hello"}, background=tasks)

    return Route("/template", template_page, methods=["GET"])


def behind_base_http_middleware(env: TargetEnv) -> Starlette:
    return Starlette(routes=[scenario_route(env), template_route(env)],
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=passthrough)])


def behind_pure_asgi_middleware(env: TargetEnv) -> Starlette:
    return Starlette(routes=[scenario_route(env)], middleware=[Middleware(PureAsgiPassthrough)])


def dispatch_sets_background(env: TargetEnv) -> Starlette:
    """The scenario route behind a BaseHTTPMiddleware whose dispatch() sets ``response.background``."""

    @env.observed
    def dispatch_background() -> None:
        pass

    async def sets_background(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        env.probe.timeline.record("task.add", task="dispatch_background")
        response.background = BackgroundTask(dispatch_background)
        return response

    return Starlette(routes=[scenario_route(env)],
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=sets_background)])


def dispatch_returns_own_response(env: TargetEnv) -> Starlette:
    """The scenario route behind a BaseHTTPMiddleware whose dispatch() awaits call_next, then answers a response of
    its own (``{"replaced": true}``) instead of the one call_next returned."""

    async def own_response(request: Request, call_next: RequestResponseEndpoint) -> Response:
        await call_next(request)
        return JSONResponse({"replaced": True})

    return Starlette(routes=[scenario_route(env), Route("/live", live_route(env), methods=["POST"])],
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=own_response)])


def live_route(env: TargetEnv) -> Any:
    """``POST /live``: a live stream, as server-sent events are (CONTRACT.md section 17)."""

    async def live(request: Request) -> Response:
        tasks = BackgroundTasks()
        try:
            plan = env.schedule(await request.json(), tasks.add_task)
        except PlanError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        next_event = env.probe.gate(LIVE_EVENT_GATE)

        async def events() -> AsyncIterator[bytes]:
            yield plan.chunks[0] if plan.chunks else b""
            while True:
                await next_event.wait_async(env.probe.gate_timeout)
                if await request.is_disconnected():
                    return
                yield b"event\n"

        return StreamingResponse(events(), media_type="text/plain", background=tasks)

    return live
