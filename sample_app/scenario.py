"""The generic ``/scenario`` route: the harness builds the tasks, FastAPI schedules and runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTasks as StarletteBackgroundTasks

from bgtasks_conformance import Plan, PlanError, TargetEnv


def plan_response(plan: Plan) -> Response:
    """The response a plan asks for: JSON, a stream of its chunks, or its file."""
    if plan.response_kind == "stream":

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in plan.chunks:
                yield chunk

        return StreamingResponse(chunks(), status_code=plan.status, media_type="text/plain")
    if plan.response_kind == "file":
        assert plan.file_path is not None
        return FileResponse(plan.file_path, status_code=plan.status, media_type="text/plain")
    return JSONResponse(plan.json_body(), status_code=plan.status)


def scenario_router(env: TargetEnv, tasks_class: type[BackgroundTasks] | None = None) -> APIRouter:
    """``POST /scenario``; with ``tasks_class``, the tasks go into an instance of that class instead
    of the injected ``BackgroundTasks`` (how a custom implementation is plugged in)."""
    router = APIRouter()

    @router.post("/scenario")
    async def scenario(request: Request, background_tasks: BackgroundTasks) -> Response:
        return run_scenario(env, await request.json(), background_tasks, tasks_class)

    return router


def run_scenario(
    env: TargetEnv, body: object, background_tasks: BackgroundTasks, tasks_class: type[BackgroundTasks] | None
) -> Response:
    """Schedule the plan's tasks and build its response (a plain function: any endpoint kind calls it)."""
    tasks = tasks_class() if tasks_class is not None else background_tasks
    try:
        plan = env.schedule(body, tasks.add_task)
    except PlanError as error:
        return JSONResponse({"detail": str(error)}, status_code=400)
    response = plan_response(plan)
    if tasks_class is not None:
        response.background = tasks
    return response


def starlette_tasks_router(env: TargetEnv, tasks_class: type[StarletteBackgroundTasks] | None = None) -> APIRouter:
    """``POST /starlette-tasks/scenario``: the endpoint's own ``starlette.background.BackgroundTasks()`` (not FastAPI's
    subclass, which runs its tasks with code of its own) as the response's background; ``tasks_class`` replaces it."""
    router = APIRouter()

    @router.post("/starlette-tasks/scenario")
    async def starlette_tasks(request: Request) -> Response:
        tasks = (tasks_class or StarletteBackgroundTasks)()
        try:
            plan = env.schedule(await request.json(), tasks.add_task)
        except PlanError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        response = plan_response(plan)
        response.background = tasks
        return response

    return router
