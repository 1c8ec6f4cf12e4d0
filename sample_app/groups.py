"""Tasks added by a route group's dependencies (CONTRACT.md section 12), as a sub-app mounted at ``/deps/group``.

A router with ``APIRouter(dependencies=[...])`` included with ``include_router(..., dependencies=[...])``, and,
where FastAPI has it, the router's ``frontend()`` route group serving a static file under the same dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from bgtasks_conformance import TargetEnv

FRONTEND = hasattr(APIRouter, "frontend")  # FastAPI's frontend() route group (static builds, FastAPI 0.16x)
FRONTEND_FILE = b"<p>frontend</p>\n"
FRONTEND_HEADER = ("x-group-dependency", "set")  # the header the frontend group's dependency sets (CONTRACT.md 15)

Adder = Callable[[BackgroundTasks, str, Callable[..., Any]], None]
OwnBackground = Callable[[BackgroundTasks, Callable[[], None]], Any]
HeaderTarget = Callable[[Response], Response]


def own_background_only(injected: BackgroundTasks, own: Callable[[], None]) -> Any:
    """The endpoint's own background: one task, the injected tasks left out (FastAPI then drops them)."""
    return BackgroundTask(own)


def same_response(response: Response) -> Response:
    """Where the frontend group's dependency sets its header: the Response FastAPI injected."""
    return response


def group_app(env: TargetEnv, *, adder: Adder | None = None,
              own_background: OwnBackground = own_background_only, header_target: HeaderTarget = same_response,
              before_frontend: Callable[[APIRouter], None] | None = None) -> FastAPI:
    """The sub-app to mount at ``/deps/group``; ``adder``, ``own_background``, ``header_target`` and
    ``before_frontend`` (routes added to the header group ahead of its frontend()) let the gallery break it."""
    timeline = env.probe.timeline

    def add(background_tasks: BackgroundTasks, task: str, func: Callable[..., Any]) -> None:
        timeline.record("task.add", task=task)
        background_tasks.add_task(func)

    add_task = adder or add

    def reporter(who: str) -> Callable[[BackgroundTasks], None]:
        task = f"added-by.{who}"

        def dependency(background_tasks: BackgroundTasks) -> None:
            add_task(background_tasks, task, env.observed(lambda: None, name=task))

        return dependency

    group = APIRouter(dependencies=[Depends(reporter("group"))])

    @group.post("/order")
    async def order(background_tasks: BackgroundTasks) -> dict[str, str]:
        add(background_tasks, "added-by.endpoint", env.observed(lambda: None, name="added-by.endpoint"))
        return {"group": "order"}

    @group.post("/response-background", dependencies=[Depends(reporter("dependency"))])
    async def response_background(background_tasks: BackgroundTasks) -> JSONResponse:
        add(background_tasks, "added-by.endpoint", env.observed(lambda: None, name="added-by.endpoint"))
        own = env.observed(lambda: None, name="own_background")
        return JSONResponse({"background": "task"}, background=own_background(background_tasks, own))

    if FRONTEND:
        site = env.data_dir / "frontend"
        site.mkdir(exist_ok=True)
        (site / "index.html").write_bytes(FRONTEND_FILE)
        group.frontend("/site", directory=str(site))

    app = FastAPI()
    app.include_router(group, dependencies=[Depends(reporter("include"))])
    if FRONTEND:  # issue 21: a frontend() group whose dependency adds a task and sets a header (contract 4)
        task = "added-by.frontend-header"

        def labels(background_tasks: BackgroundTasks, response: Response) -> None:
            add_task(background_tasks, task, env.observed(lambda: None, name=task))
            header_target(response).headers[FRONTEND_HEADER[0]] = FRONTEND_HEADER[1]

        headed = APIRouter(dependencies=[Depends(labels)])
        if before_frontend is not None:
            before_frontend(headed)
        headed.frontend("/site-header", directory=str(site))
        app.include_router(headed)
    return app
