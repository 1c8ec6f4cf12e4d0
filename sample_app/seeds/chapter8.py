"""Seed 003, "Chapter 8: Background Tasks": a notification whose log line is written afterwards."""

from fastapi import APIRouter, BackgroundTasks

from bgtasks_conformance import TargetEnv

SEGMENTS = ("chapter8",)  # the first path segment of each route


def router(env: TargetEnv) -> APIRouter:
    router = APIRouter()

    @env.observed
    def write_log(message: str) -> None:
        with open(env.data_dir / "log.txt", mode="a") as log_file:
            log_file.write(message + "\n")
        print(f"Log written: {message}")

    @router.post("/chapter8/send-notification/{email}")
    async def send_notification(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        log_message = f"Notification sent to: {email}"
        background_tasks.add_task(write_log, log_message)
        return {"message": "Notification sent successfully!"}

    return router
