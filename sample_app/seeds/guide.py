"""Seed 004, the background-tasks guide: an item log line and a logged welcome email."""

from fastapi import APIRouter, BackgroundTasks

from bgtasks_conformance import TargetEnv

SEGMENTS = ("guide", "send-email")  # the first path segment of each route


def router(env: TargetEnv) -> APIRouter:
    router = APIRouter()

    @env.observed
    def write_log(message: str) -> None:
        with open(env.data_dir / "log.txt", "a") as log_file:
            log_file.write(f"{message}\n")

    @env.observed
    def send_email(to: str, subject: str, body: str) -> None:
        with open(env.data_dir / "emails.log", "a") as email_log:
            email_log.write(f"To: {to}\nSubject: {subject}\n\n{body}\n\n")

    @router.post("/guide/items/")
    async def create_item(name: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(write_log, f"Item {name} was created.")
        return {"message": f"Item {name} created successfully!"}

    @router.post("/send-email/")
    async def send_email_endpoint(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(send_email, email, "Welcome!", "Thank you for signing up!")
        return {"message": "Email will be sent soon"}

    return router
