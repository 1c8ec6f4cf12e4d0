"""``POST /scenario`` (CONTRACT.md section 3) and ``POST /sync/scenario`` (section 6) on Litestar."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body
from litestar.response import File, Stream

from bgtasks_conformance import Plan, PlanError, TargetEnv

from .tasks import Tasks


def plan_response(plan: Plan, tasks: Tasks) -> Response[Any]:
    """The response a plan asks for, with the tasks as its background."""
    if plan.response_kind == "stream":

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in plan.chunks:
                yield chunk

        return Stream(chunks(), status_code=plan.status, media_type="text/plain", background=tasks.background)
    if plan.response_kind == "file":
        assert plan.file_path is not None
        return File(plan.file_path, status_code=plan.status, media_type="text/plain", background=tasks.background,
                    content_disposition_type="inline")
    return Response(plan.json_body(), status_code=plan.status, media_type="application/json",
                    background=tasks.background)


def run_scenario(env: TargetEnv, body: Any) -> Response[Any]:
    """Add the plan's tasks to this request's :class:`Tasks` and answer with the plan's response."""
    tasks = Tasks()
    try:
        plan = env.schedule(body, tasks.add_task)
    except PlanError as error:
        return Response({"detail": str(error)}, status_code=400)
    return plan_response(plan, tasks)


def scenario_handler(env: TargetEnv) -> HTTPRouteHandler:
    """A fresh ``POST /scenario`` handler (``async def``), for the app or a router of its own."""

    @post("/scenario", status_code=200)
    async def scenario(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError as error:
            return Response({"detail": f"a plan is JSON: {error}"}, status_code=400)
        return run_scenario(env, body)

    return scenario


def sync_scenario_handler(env: TargetEnv) -> HTTPRouteHandler:
    """``POST /sync/scenario`` as a plain ``def`` handler, which Litestar runs in a worker thread.

    Litestar reads and parses the body on the event loop before it calls the handler (``data``);
    the plan is scheduled, and its context set, in the worker thread.
    """

    @post("/sync/scenario", status_code=200, sync_to_thread=True)
    def sync_scenario(data: Annotated[Any, Body()]) -> Response[Any]:
        return run_scenario(env, data)

    return sync_scenario
