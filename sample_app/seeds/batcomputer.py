"""Seed 001, "Alfred's Assistance": activity logging (with the stretch goal's creation notice)
and the intel-report homework, whose task receives the validated model itself."""

import os
import time

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel

from bgtasks_conformance import TargetEnv

from .emails import Email

CREATING_LOG_FILE = "--- BACKGROUND TASK: Creating log file ---"


class IntelReportRequest(BaseModel):
    recipient_email: Email
    report_name: str


SEGMENTS = ("log-activity", "request-intel-report")  # the first path segment of each route


def router(env: TargetEnv) -> APIRouter:
    router = APIRouter()

    @env.observed
    def log_batcomputer_activity(user_email: str, activity: str = "") -> None:
        log_message = f"User {user_email} activity: {activity}\n"
        print(f"--- BACKGROUND TASK START: Logging activity: '{log_message.strip()}' ---")
        time.sleep(env.work_seconds)
        log_dir = env.data_dir / "batcomputer_logs"
        os.makedirs(log_dir, exist_ok=True)
        file_path = os.path.join(log_dir, "activity_log.txt")
        if not os.path.exists(file_path):
            print(CREATING_LOG_FILE)
        with open(file_path, mode="a") as log_file:
            log_file.write(log_message)
        print(f"--- BACKGROUND TASK END: Activity logged to '{file_path}' for {user_email} ---")

    @router.post("/log-activity/{user_email}")
    async def log_user_activity(
        user_email: Email,
        background_tasks: BackgroundTasks,
        activity_description: str = "Generic activity logged.",
    ) -> dict[str, str]:
        confirmation_message = f"Activity logging initiated for {user_email}."
        background_tasks.add_task(log_batcomputer_activity, user_email, activity=activity_description)
        return {"message": confirmation_message}

    @env.observed
    def simulate_intel_report_compilation(report_request: IntelReportRequest) -> None:
        print(f"--- BACKGROUND TASK START: Alfred compiles '{report_request.report_name}' "
              f"for {report_request.recipient_email} ---")
        time.sleep(env.work_seconds)
        print(f"--- BACKGROUND TASK END: Intel report '{report_request.report_name}' "
              f"sent to {report_request.recipient_email} ---")

    @router.post("/request-intel-report")
    async def request_intel_report(
        report_request: IntelReportRequest, background_tasks: BackgroundTasks
    ) -> dict[str, str]:
        background_tasks.add_task(simulate_intel_report_compilation, report_request)
        return {"message": f"Alfred is compiling the report '{report_request.report_name}' "
                           f"for {report_request.recipient_email}."}

    return router
