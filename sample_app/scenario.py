"""The generic ``/scenario`` route: the harness builds the tasks, FastAPI schedules and runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from conformance import PlanError, TargetEnv


def scenario_router(env: TargetEnv) -> APIRouter:
    router = APIRouter()

    @router.post("/scenario")
    async def scenario(request: Request, background_tasks: BackgroundTasks) -> Response:
        try:
            plan = env.schedule(await request.json(), background_tasks.add_task)
        except PlanError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        if plan.response_kind == "stream":

            async def chunks() -> AsyncIterator[bytes]:
                for chunk in plan.chunks:
                    yield chunk

            return StreamingResponse(chunks(), status_code=plan.status, media_type="text/plain")
        if plan.response_kind == "file":
            assert plan.file_path is not None
            return FileResponse(plan.file_path, status_code=plan.status, media_type="text/plain")
        return JSONResponse(plan.json_body(), status_code=plan.status)

    return router
