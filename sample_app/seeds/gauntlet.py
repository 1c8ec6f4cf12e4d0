"""Seed 000, "Sanctuary II - Background Operations": the notification log, the blocking
anti-pattern, and the report homework with its stretch goal (the task gets the model itself)."""

import time

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel

from bgtasks_conformance import TargetEnv


class ReportRequest(BaseModel):
    recipient_email: str
    report_name: str


SEGMENTS = ("gauntlet", "send-report-blocking", "generate-report")  # the first path segment of each route


def router(env: TargetEnv) -> APIRouter:
    router = APIRouter()

    @env.observed
    def write_notification_log(email: str, message: str = "") -> None:
        log_message = f"Notification for {email}: {message}\n"
        print(f"--- BACKGROUND TASK START: Writing log: '{log_message.strip()}' ---")
        time.sleep(env.work_seconds)
        with open(env.data_dir / "notification_log.txt", mode="a") as log_file:
            log_file.write(log_message)
        print(f"--- BACKGROUND TASK END: Log written for {email} ---")

    @router.post("/gauntlet/send-notification/{email}")
    async def send_notification(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        confirmation_message = f"Notification queued for {email}"
        background_tasks.add_task(write_notification_log, email, message=confirmation_message)
        return {"message": confirmation_message}

    @env.observed
    def generate_report(email: str) -> None:
        print(f"Generating report for {email}...")
        time.sleep(env.work_seconds)

    @env.observed
    def send_report_email(email: str) -> None:
        print("Report generated. Sending email...")
        time.sleep(env.work_seconds)
        print("Email sent.")

    @router.post("/send-report-blocking/{email}")
    async def send_report_blocking(email: str) -> dict[str, str]:
        """DON'T DO THIS FOR LONG TASKS: the client waits for both steps."""
        generate_report(email)
        send_report_email(email)
        return {"message": f"Report sent to {email}"}

    @env.observed
    def simulate_report_generation(report_request: ReportRequest) -> None:
        print(f"--- BACKGROUND TASK START: Generating report '{report_request.report_name}' ---")
        time.sleep(env.work_seconds)
        print(f"--- BACKGROUND TASK END: Report '{report_request.report_name}' "
              f"generated for {report_request.recipient_email} ---")

    @router.post("/generate-report")
    async def generate_report_endpoint(
        report_request: ReportRequest, background_tasks: BackgroundTasks
    ) -> dict[str, str]:
        background_tasks.add_task(simulate_report_generation, report_request)
        return {"message": f"Report '{report_request.report_name}' generation started "
                           f"for {report_request.recipient_email}."}

    return router
