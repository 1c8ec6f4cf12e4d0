"""Seed 001, Alfred's Assistance: the activity log (EmailStr in the path) and the intel report homework."""

from __future__ import annotations

import os
import time
from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel

from bgtasks_conformance import TargetEnv

from ..tasks import Tasks
from ..validation import json_body, query, validate, validating
from .emails import Email


class IntelReportRequest(BaseModel):
    recipient_email: Email
    report_name: str


def handlers(env: TargetEnv) -> list[HTTPRouteHandler]:
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

    @post("/log-activity/{user_email:str}", status_code=200)
    @validating
    async def log_user_activity(request: Request[Any, Any, Any]) -> Response[Any]:
        user_email: str = validate(Email, request.path_params["user_email"], "path", "user_email")
        activity_description = query(request, "activity_description", "Generic activity logged.")
        background_tasks = Tasks()
        background_tasks.add_task(log_batcomputer_activity, user_email, activity=activity_description)
        return Response({"message": f"Activity logging initiated for {user_email}."},
                        background=background_tasks.background)

    @env.observed
    def simulate_intel_report_compilation(report_request: IntelReportRequest) -> None:
        print(f"--- ALFRED: Compiling report '{report_request.report_name}' for {report_request.recipient_email} ---")
        time.sleep(env.work_seconds)
        print(f"--- ALFRED: Report '{report_request.report_name}' sent to {report_request.recipient_email} ---")

    @post("/request-intel-report", status_code=200)
    @validating
    async def request_intel_report(request: Request[Any, Any, Any]) -> Response[Any]:
        report_request: IntelReportRequest = validate(IntelReportRequest, await json_body(request), "body")
        background_tasks = Tasks()
        background_tasks.add_task(simulate_intel_report_compilation, report_request)
        message = f"Alfred is compiling the report '{report_request.report_name}' for {report_request.recipient_email}."
        return Response({"message": message}, background=background_tasks.background)

    return [log_user_activity, request_intel_report]
