"""Seed 004, the guide: an item log and a welcome email, both from query parameters."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from bgtasks_conformance import TargetEnv

from ..tasks import Tasks
from ..validation import query, validating


def handlers(env: TargetEnv) -> list[HTTPRouteHandler]:
    @env.observed
    def write_log(message: str) -> None:
        with open(env.data_dir / "log.txt", "a") as log_file:
            log_file.write(message + "\n")

    @env.observed
    def send_email(to: str, subject: str, body: str) -> None:
        with open(env.data_dir / "emails.log", "a") as email_log:
            email_log.write(f"To: {to}\nSubject: {subject}\n\n{body}\n\n")

    @post("/guide/items/", status_code=200)
    @validating
    async def create_item(request: Request[Any, Any, Any]) -> Response[Any]:
        name = query(request, "name")
        background_tasks = Tasks()
        background_tasks.add_task(write_log, f"Item {name} was created.")
        return Response({"message": f"Item {name} created successfully!"}, background=background_tasks.background)

    @post("/send-email/", status_code=200)
    @validating
    async def send_email_endpoint(request: Request[Any, Any, Any]) -> Response[Any]:
        email = query(request, "email")
        background_tasks = Tasks()
        background_tasks.add_task(send_email, email, "Welcome!", "Thank you for signing up!")
        return Response({"message": "Email will be sent soon"}, background=background_tasks.background)

    return [create_item, send_email_endpoint]
