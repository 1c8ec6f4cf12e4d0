"""Seed 001, Alfred's Assistance: the activity log (EmailStr in the path) and the intel report homework."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bgtasks_conformance import TargetEnv

from ..validation import json_body, query, validate, validating
from .emails import Email


class IntelReportRequest(BaseModel):
    recipient_email: Email
    report_name: str


def routes(env: TargetEnv) -> list[Route]:
    @env.observed
    def log_batcomputer_activity(user_email: str, activity: str = "") -> None:
        log_message = f"User {user_email} activity: {activity}\n"
        print(f"--- BACKGROUND TASK START: Logging activity: '{log_message.strip()}' ---")
        time.sleep(env.work_seconds)
        log_dir = env.data_dir / "batcomputer_logs"
        os.makedirs(log_dir, exist_ok=True)
        file_path = log_dir / "activity_log.txt"
        if not os.path.exists(file_path):
            print("--- BACKGROUND TASK: Creating log file ---")
        with open(file_path, mode="a") as log_file:
            log_file.write(log_message)
        print(f"--- BACKGROUND TASK END: Activity logged to '{file_path}' for {user_email} ---")

    @validating
    async def log_user_activity(request: Request) -> JSONResponse:
        user_email: str = validate(Email, request.path_params["user_email"], "path", "user_email")
        activity_description = query(request, "activity_description", "Generic activity logged.")
        background_tasks = BackgroundTasks()
        background_tasks.add_task(log_batcomputer_activity, user_email, activity=activity_description)
        return JSONResponse({"message": f"Activity logging initiated for {user_email}."},
                            background=background_tasks)

    @env.observed
    def simulate_intel_report_compilation(report_request: IntelReportRequest) -> None:
        print(f"--- ALFRED: Compiling report '{report_request.report_name}' "
              f"for {report_request.recipient_email} ---")
        time.sleep(env.work_seconds)
        print(f"--- ALFRED: Report '{report_request.report_name}' "
              f"sent to {report_request.recipient_email} ---")

    @validating
    async def request_intel_report(request: Request) -> JSONResponse:
        report_request: IntelReportRequest = validate(IntelReportRequest, await json_body(request), "body")
        background_tasks = BackgroundTasks()
        background_tasks.add_task(simulate_intel_report_compilation, report_request)
        message = (f"Alfred is compiling the report '{report_request.report_name}' "
                   f"for {report_request.recipient_email}.")
        return JSONResponse({"message": message}, background=background_tasks)

    return [
        Route("/log-activity/{user_email}", log_user_activity, methods=["POST"]),
        Route("/request-intel-report", request_intel_report, methods=["POST"]),
    ]
