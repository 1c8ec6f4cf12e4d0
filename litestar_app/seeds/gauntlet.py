"""Seed 000, Sanctuary II: the notification log, the blocking anti-pattern, the report homework."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel

from bgtasks_conformance import TargetEnv

from ..tasks import Tasks
from ..validation import json_body, validate, validating


class ReportRequest(BaseModel):
    recipient_email: str
    report_name: str


def handlers(env: TargetEnv) -> list[HTTPRouteHandler]:
    @env.observed
    def write_notification_log(email: str, message: str = "") -> None:
        log_message = f"Notification for {email}: {message}\n"
        print(f"--- BACKGROUND TASK START: Writing log: '{log_message.strip()}' ---")
        time.sleep(env.work_seconds)
        with open(env.data_dir / "notification_log.txt", mode="a") as log_file:
            log_file.write(log_message)
        print(f"--- BACKGROUND TASK END: Log written for {email} ---")

    @post("/gauntlet/send-notification/{email:str}", status_code=200)
    async def send_notification(request: Request[Any, Any, Any]) -> Response[Any]:
        email: str = request.path_params["email"]
        confirmation_message = f"Notification queued for {email}"
        background_tasks = Tasks()
        background_tasks.add_task(write_notification_log, email, message=confirmation_message)
        return Response({"message": confirmation_message}, background=background_tasks.background)

    @env.observed
    def generate_report(email: str) -> None:
        print(f"Generating report for {email}...")
        time.sleep(env.work_seconds)

    @env.observed
    def send_report_email(email: str) -> None:
        print("Report generated. Sending email...")
        time.sleep(env.work_seconds)
        print("Email sent.")

    @post("/send-report-blocking/{email:str}", status_code=200)
    async def send_report_blocking(request: Request[Any, Any, Any]) -> Response[Any]:
        """DON'T DO THIS FOR LONG TASKS: the work blocks the loop and the client waits for it."""
        email: str = request.path_params["email"]
        generate_report(email)
        send_report_email(email)
        return Response({"message": f"Report sent to {email}"})

    @env.observed
    def simulate_report_generation(report_request: ReportRequest) -> None:
        print(f"--- BACKGROUND TASK START: Generating report '{report_request.report_name}' ---")
        time.sleep(env.work_seconds)
        print(f"--- BACKGROUND TASK END: Report '{report_request.report_name}' "
              f"generated for {report_request.recipient_email} ---")

    @post("/generate-report", status_code=200)
    @validating
    async def generate_report_endpoint(request: Request[Any, Any, Any]) -> Response[Any]:
        report_request: ReportRequest = validate(ReportRequest, await json_body(request), "body")
        background_tasks = Tasks()
        background_tasks.add_task(simulate_report_generation, report_request)
        message = f"Report '{report_request.report_name}' generation started for {report_request.recipient_email}."
        return Response({"message": message}, background=background_tasks.background)

    return [send_notification, send_report_blocking, generate_report_endpoint]
