"""Seed 000, Sanctuary II: the notification log, the blocking anti-pattern, the report homework."""

from __future__ import annotations

import time

from pydantic import BaseModel
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv

from ..validation import json_body, validate, validating


class ReportRequest(BaseModel):
    recipient_email: str
    report_name: str


def routes(env: TargetEnv) -> list[Route]:
    @env.observed
    def write_notification_log(email: str, message: str = "") -> None:
        log_message = f"Notification for {email}: {message}\n"
        print(f"--- BACKGROUND TASK START: Writing log: '{log_message.strip()}' ---")
        time.sleep(env.work_seconds)
        with open(env.data_dir / "notification_log.txt", mode="a") as log_file:
            log_file.write(log_message)
        print(f"--- BACKGROUND TASK END: Log written for {email} ---")

    async def send_notification(request: Request) -> JSONResponse:
        email: str = request.path_params["email"]
        confirmation_message = f"Notification queued for {email}"
        background_tasks = BackgroundTasks()
        background_tasks.add_task(write_notification_log, email, message=confirmation_message)
        return JSONResponse({"message": confirmation_message}, background=background_tasks)

    @env.observed
    def generate_report(email: str) -> None:
        print(f"Generating report for {email}...")
        time.sleep(env.work_seconds)

    @env.observed
    def send_report_email(email: str) -> None:
        print("Report generated. Sending email...")
        time.sleep(env.work_seconds)
        print("Email sent.")

    async def send_report_blocking(request: Request) -> JSONResponse:
        """DON'T DO THIS FOR LONG TASKS: the work blocks the loop and the client waits for it."""
        email: str = request.path_params["email"]
        generate_report(email)
        send_report_email(email)
        return JSONResponse({"message": f"Report sent to {email}"})

    @env.observed
    def simulate_report_generation(report_request: ReportRequest) -> None:
        print(f"--- BACKGROUND TASK START: Generating report '{report_request.report_name}' ---")
        time.sleep(env.work_seconds)
        print(f"--- BACKGROUND TASK END: Report '{report_request.report_name}' "
              f"generated for {report_request.recipient_email} ---")

    @validating
    async def generate_report_endpoint(request: Request) -> JSONResponse:
        report_request: ReportRequest = validate(ReportRequest, await json_body(request), "body")
        background_tasks = BackgroundTasks()
        background_tasks.add_task(simulate_report_generation, report_request)
        message = (f"Report '{report_request.report_name}' generation started "
                   f"for {report_request.recipient_email}.")
        return JSONResponse({"message": message}, background=background_tasks)

    return [
        Route("/gauntlet/send-notification/{email}", send_notification, methods=["POST"]),
        Route("/send-report-blocking/{email}", send_report_blocking, methods=["POST"]),
        Route("/generate-report", generate_report_endpoint, methods=["POST"]),
    ]
