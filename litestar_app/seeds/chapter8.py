"""Seed 003, chapter 8: a notification logged in the background."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from bgtasks_conformance import TargetEnv

from ..tasks import Tasks


def handlers(env: TargetEnv) -> list[HTTPRouteHandler]:
    @env.observed
    def write_log(message: str) -> None:
        with open(env.data_dir / "log.txt", mode="a") as log_file:
            log_file.write(message + "\n")
        print(f"Log written: {message}")

    @post("/chapter8/send-notification/{email:str}", status_code=200)
    async def send_notification(request: Request[Any, Any, Any]) -> Response[Any]:
        email: str = request.path_params["email"]
        background_tasks = Tasks()
        background_tasks.add_task(write_log, f"Notification sent to: {email}")
        return Response({"message": "Notification sent successfully!"}, background=background_tasks.background)

    return [send_notification]
