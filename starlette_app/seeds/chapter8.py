"""Seed 003, chapter 8: a notification logged in the background."""

from __future__ import annotations

from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv


def routes(env: TargetEnv) -> list[Route]:
    @env.observed
    def write_log(message: str) -> None:
        with open(env.data_dir / "log.txt", mode="a") as log_file:
            log_file.write(message + "\n")
        print(f"Log written: {message}")

    async def send_notification(request: Request) -> JSONResponse:
        email = request.path_params["email"]
        background_tasks = BackgroundTasks()
        background_tasks.add_task(write_log, f"Notification sent to: {email}")
        return JSONResponse({"message": "Notification sent successfully!"}, background=background_tasks)

    return [Route("/chapter8/send-notification/{email}", send_notification, methods=["POST"])]
