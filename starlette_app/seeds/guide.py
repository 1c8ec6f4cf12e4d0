"""Seed 004, the guide: an item log and a welcome email, both from query parameters."""

from __future__ import annotations

from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv

from ..validation import query, validating


def routes(env: TargetEnv) -> list[Route]:
    @env.observed
    def write_log(message: str) -> None:
        with open(env.data_dir / "log.txt", "a") as log_file:
            log_file.write(message + "\n")

    @env.observed
    def send_email(to: str, subject: str, body: str) -> None:
        with open(env.data_dir / "emails.log", "a") as email_log:
            email_log.write(f"To: {to}\nSubject: {subject}\n\n{body}\n\n")

    @validating
    async def create_item(request: Request) -> JSONResponse:
        name = query(request, "name")
        background_tasks = BackgroundTasks()
        background_tasks.add_task(write_log, f"Item {name} was created.")
        return JSONResponse({"message": f"Item {name} created successfully!"}, background=background_tasks)

    @validating
    async def send_email_endpoint(request: Request) -> JSONResponse:
        email = query(request, "email")
        background_tasks = BackgroundTasks()
        background_tasks.add_task(send_email, email, "Welcome!", "Thank you for signing up!")
        return JSONResponse({"message": "Email will be sent soon"}, background=background_tasks)

    return [
        Route("/guide/items/", create_item, methods=["POST"]),
        Route("/send-email/", send_email_endpoint, methods=["POST"]),
    ]
