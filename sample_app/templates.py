"""A template page (Starlette's Jinja2Templates) with a background task: ``GET /template`` (CONTRACT.md section 16).

Starlette's template response sends an ``http.response.debug`` message (the template and its context) before its
response start when the server offers that extension; middleware in front must pass it on.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.responses import Response

from bgtasks_conformance import TargetEnv

TEMPLATE = "page.html"
GREETING = "hello"


def render_page(env: TargetEnv, request: Request, background: Any) -> Response:
    """``page.html`` rendered with ``{"greeting": "hello"}``, ``background`` its tasks (jinja2 imported only here)."""
    from starlette.templating import Jinja2Templates

    directory = env.data_dir / "templates"
    directory.mkdir(exist_ok=True)
    (directory / TEMPLATE).write_text("<p>{{ greeting }}</p>", encoding="utf-8")
    templates = Jinja2Templates(directory=str(directory))
    parameters = list(inspect.signature(templates.TemplateResponse).parameters)
    if parameters[:1] == ["name"]:  # Starlette < 0.29: TemplateResponse(name, context), the request in the context
        return templates.TemplateResponse(TEMPLATE, {"request": request, "greeting": GREETING}, background=background)
    return templates.TemplateResponse(request, TEMPLATE, {"greeting": GREETING}, background=background)


def template_router(env: TargetEnv) -> APIRouter:
    """``GET /template``: the page, with one background task (``template_task``) added to the injected tasks."""
    router = APIRouter()

    @env.observed
    def template_task() -> None:
        pass

    @router.get("/template")
    async def template_page(request: Request, background_tasks: BackgroundTasks) -> Response:
        env.probe.timeline.record("task.add", task="template_task")
        background_tasks.add_task(template_task)
        return render_page(env, request, background_tasks)

    return router
