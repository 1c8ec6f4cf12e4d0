"""Seed 002, the FastAPI background-tasks overview: one endpoint per example it gives.

The overview leaves helpers such as ``save_to_database`` and ``create_item_in_db`` undefined; here
they are the smallest things that leave an observable effect under ``env.data_dir`` (CONTRACT.md 5).
"""

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, UploadFile
from pydantic import BaseModel

from bgtasks_conformance import TargetEnv

from .emails import Email


class Item(BaseModel):
    name: str
    description: str | None = None
    user_email: str


class CreatedItem(Item):
    id: int


class UserCreate(BaseModel):
    email: Email
    name: str


class Database:
    """The per-app in-memory database behind ``get_database``."""

    def __init__(self) -> None:
        self.items: dict[int, CreatedItem] = {}
        self.users: dict[str, UserCreate] = {}


SEGMENTS = ("overview", "process", "async", "register", "upload")  # the first path segment of each route


def router(env: TargetEnv) -> APIRouter:
    router = APIRouter()
    database = Database()

    def append(name: str, text: str) -> None:
        with open(env.data_dir / name, mode="a") as file:
            file.write(text)

    # -- basic: one task --------------------------------------------------------------------
    @env.observed
    def write_notification(email: str, message: str = "") -> None:
        with open(env.data_dir / "log.txt", mode="w") as email_file:
            content = f"notification for {email}: {message}"
            email_file.write(content)

    @router.post("/overview/send-notification/{email}")
    async def send_notification(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(write_notification, email, message="some notification")
        return {"message": "Notification sent in the background"}

    # -- multiple tasks ---------------------------------------------------------------------
    @env.observed
    def write_log(message: str) -> None:
        append("log.txt", message)

    @env.observed
    def send_email(email: str, message: str = "") -> None:
        pass  # Email sending logic here

    @router.post("/overview/multiple/send-notification/{email}")
    async def send_notification_multiple(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(send_email, email, message="Thank you for using our service")
        background_tasks.add_task(write_log, f"Email sent to {email}")
        return {"message": "Message sent"}

    # -- sync and async task functions ------------------------------------------------------
    @env.observed
    def process_data(data: dict) -> None:
        time.sleep(env.work_seconds)  # heavy_computation(data)
        append("processed.log", f"process_data: {json.dumps(data, sort_keys=True)}\n")

    @env.observed
    async def async_process_data(data: dict) -> None:
        await asyncio.sleep(env.work_seconds)  # await async_heavy_computation(data)
        append("processed.log", f"async_process_data: {json.dumps(data, sort_keys=True)}\n")

    @router.post("/process/")
    async def process_endpoint(data: dict, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(process_data, data)
        return {"status": "processing started"}

    @router.post("/async/process/")
    async def async_process_endpoint(data: dict, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(async_process_data, data)
        return {"status": "processing started"}

    # -- with dependencies ------------------------------------------------------------------
    def get_database() -> Iterator[Database]:
        yield database

    @env.observed
    def update_search_index(item_id: int) -> None:
        append("search_index.txt", f"{item_id}: {database.items[item_id].name}\n")

    @env.observed
    def send_welcome_email(email: str, name: str | None = None) -> None:
        append("welcome_emails.log", f"Welcome email to {email}" + (f" ({name})" if name else "") + "\n")

    @router.post("/overview/items/")
    async def create_item(
        item: Item, background_tasks: BackgroundTasks, db: Annotated[Database, Depends(get_database)]
    ) -> CreatedItem:
        created_item = CreatedItem(id=len(db.items) + 1, **item.model_dump())
        db.items[created_item.id] = created_item
        background_tasks.add_task(update_search_index, created_item.id)
        background_tasks.add_task(send_welcome_email, created_item.user_email)
        return created_item

    # -- use cases --------------------------------------------------------------------------
    @router.post("/register/")
    async def register_user(user: UserCreate, background_tasks: BackgroundTasks) -> dict[str, str]:
        created_user = user  # create_user_in_db(user)
        database.users[created_user.email] = created_user
        background_tasks.add_task(send_welcome_email, created_user.email, created_user.name)
        return {"message": "User registered successfully"}

    @env.observed
    def process_uploaded_file(file_path: str) -> None:
        size = Path(file_path).stat().st_size
        Path(f"{file_path}.processed").write_text(f"processed {size} bytes\n")

    @env.observed
    def generate_thumbnails(file_path: str) -> None:
        Path(f"{file_path}.thumbnail").write_text(f"thumbnail of {Path(file_path).name}\n")

    async def save_upload_file(file: UploadFile) -> str:
        uploads = env.data_dir / "uploads"
        uploads.mkdir(exist_ok=True)
        file_path = uploads / Path(file.filename or "upload").name
        file_path.write_bytes(await file.read())
        return str(file_path)

    @router.post("/upload/")
    async def upload_file(file: UploadFile, background_tasks: BackgroundTasks) -> dict[str, str]:
        file_path = await save_upload_file(file)
        background_tasks.add_task(process_uploaded_file, file_path)
        background_tasks.add_task(generate_thumbnails, file_path)
        return {"message": "File uploaded and processing started"}

    return router
