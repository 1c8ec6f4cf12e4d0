"""``POST /scenario`` (CONTRACT.md section 3) and ``POST /sync/scenario`` (section 6) in plain Starlette."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio.from_thread
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bgtasks_conformance import Plan, PlanError, TargetEnv


def plan_response(plan: Plan, background: BackgroundTasks) -> Response:
    """The response a plan asks for, with the tasks as its background."""
    if plan.response_kind == "stream":

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in plan.chunks:
                yield chunk

        return StreamingResponse(chunks(), status_code=plan.status, media_type="text/plain",
                                 background=background)
    if plan.response_kind == "file":
        assert plan.file_path is not None
        return FileResponse(plan.file_path, status_code=plan.status, media_type="text/plain",
                            background=background)
    return JSONResponse(plan.json_body(), status_code=plan.status, background=background)


def run_scenario(env: TargetEnv, body: Any) -> Response:
    """Add the plan's tasks to a fresh ``BackgroundTasks`` and answer with the plan's response."""
    tasks = BackgroundTasks()
    try:
        plan = env.schedule(body, tasks.add_task)
    except PlanError as error:
        return JSONResponse({"detail": str(error)}, status_code=400)
    return plan_response(plan, tasks)


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise PlanError(f"a plan is JSON: {error}") from None


def scenario_route(env: TargetEnv, path: str = "/scenario") -> Route:
    """``POST /scenario`` (or the same at ``path``) as an ``async def`` endpoint."""

    async def scenario(request: Request) -> Response:
        try:
            body = _parsed(await request.body())
        except PlanError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        return run_scenario(env, body)

    return Route(path, scenario, methods=["POST"])


def sync_scenario_route(env: TargetEnv) -> Route:
    """``POST /sync/scenario`` as a plain ``def`` endpoint, which Starlette runs in a worker thread.

    Only reading the body needs the event loop (``anyio.from_thread.run``); the plan is scheduled,
    and its context set, here in the worker thread.
    """

    def sync_scenario(request: Request) -> Response:
        try:
            body = _parsed(anyio.from_thread.run(request.body))
        except PlanError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        return run_scenario(env, body)

    return Route("/sync/scenario", sync_scenario, methods=["POST"])
