"""Seed 002, the background-tasks overview: one endpoint per example it gives.

The overview leaves its helpers undefined; here they are the smallest things that leave an effect
under ``env.data_dir`` (CONTRACT.md section 5). The items endpoint enters ``get_database`` itself (an
async context manager), which hands out the one in-memory database of this app: Litestar's ``Provide``
would do it too, but its inferred dependencies are deprecated and their markers differ by release.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel

from bgtasks_conformance import TargetEnv

from ..tasks import Tasks
from ..validation import Invalid, json_body, missing, validate, validating
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

    def create_item(self, item: Item) -> CreatedItem:
        created = CreatedItem(id=len(self.items) + 1, **item.model_dump())
        self.items[created.id] = created
        return created


def handlers(env: TargetEnv) -> list[HTTPRouteHandler]:
    database = Database()

    def append(name: str, text: str) -> None:
        with open(env.data_dir / name, mode="a") as file:
            file.write(text)

    def responding(body: dict[str, Any], background_tasks: Tasks) -> Response[Any]:
        return Response(body, background=background_tasks.background)

    # -- basic: one task ------------------------------------------------------------------------
    @env.observed
    def write_notification(email: str, message: str = "") -> None:
        with open(env.data_dir / "log.txt", mode="w") as email_file:
            email_file.write(f"notification for {email}: {message}")

    @post("/overview/send-notification/{email:str}", status_code=200)
    async def send_notification(request: Request[Any, Any, Any]) -> Response[Any]:
        email: str = request.path_params["email"]
        background_tasks = Tasks()
        background_tasks.add_task(write_notification, email, message="some notification")
        return responding({"message": "Notification sent in the background"}, background_tasks)

    # -- multiple tasks -------------------------------------------------------------------------
    @env.observed
    def write_log(message: str) -> None:
        append("log.txt", message)

    @env.observed
    def send_email(email: str, message: str = "") -> None:
        pass  # the overview's "Email sending logic here"

    @post("/overview/multiple/send-notification/{email:str}", status_code=200)
    async def send_notification_multiple(request: Request[Any, Any, Any]) -> Response[Any]:
        email: str = request.path_params["email"]
        background_tasks = Tasks()
        background_tasks.add_task(send_email, email, message="Thank you for using our service")
        background_tasks.add_task(write_log, f"Email sent to {email}")
        return responding({"message": "Message sent"}, background_tasks)

    # -- sync and async task functions ----------------------------------------------------------
    @env.observed
    def process_data(data: dict[str, Any]) -> None:
        time.sleep(env.work_seconds)  # heavy_computation(data)
        append("processed.log", f"process_data: {json.dumps(data, sort_keys=True)}\n")

    @env.observed
    async def async_process_data(data: dict[str, Any]) -> None:
        await asyncio.sleep(env.work_seconds)  # await async_heavy_computation(data)
        append("processed.log", f"async_process_data: {json.dumps(data, sort_keys=True)}\n")

    def processing(path: str, task: Any) -> HTTPRouteHandler:
        @post(path, status_code=200)
        @validating
        async def process_endpoint(request: Request[Any, Any, Any]) -> Response[Any]:
            data = validate(dict, await json_body(request), "body")
            background_tasks = Tasks()
            background_tasks.add_task(task, data)
            return responding({"status": "processing started"}, background_tasks)

        return process_endpoint

    # -- with a database ------------------------------------------------------------------------
    @asynccontextmanager
    async def get_database() -> AsyncIterator[Database]:
        yield database

    @env.observed
    def update_search_index(item_id: int) -> None:
        append("search_index.txt", f"{item_id}: {database.items[item_id].name}\n")

    @env.observed
    def send_welcome_email(email: str, name: str | None = None) -> None:
        append("welcome_emails.log", f"Welcome email to {email}" + (f" ({name})" if name else "") + "\n")

    @post("/overview/items/", status_code=200)
    @validating
    async def create_item(request: Request[Any, Any, Any]) -> Response[Any]:
        item: Item = validate(Item, await json_body(request), "body")
        async with get_database() as db:
            created_item = db.create_item(item)
        background_tasks = Tasks()
        background_tasks.add_task(update_search_index, created_item.id)
        background_tasks.add_task(send_welcome_email, created_item.user_email)
        return responding(created_item.model_dump(), background_tasks)

    # -- use cases ------------------------------------------------------------------------------
    @post("/register/", status_code=200)
    @validating
    async def register_user(request: Request[Any, Any, Any]) -> Response[Any]:
        created_user: UserCreate = validate(UserCreate, await json_body(request), "body")
        database.users[created_user.email] = created_user  # create_user_in_db(user)
        background_tasks = Tasks()
        background_tasks.add_task(send_welcome_email, created_user.email, created_user.name)
        return responding({"message": "User registered successfully"}, background_tasks)

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

    @post("/upload/", status_code=200)
    @validating
    async def upload_file(request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        file = form.get("file")
        if file is None:
            raise Invalid([missing("body", "file")])
        if not isinstance(file, UploadFile):
            raise Invalid([{"type": "value_error", "loc": ["body", "file"],
                            "msg": f"Value error, Expected UploadFile, received: {type(file)}",
                            "input": file, "ctx": {"error": {}}}])
        file_path = await save_upload_file(file)
        await file.close()
        background_tasks = Tasks()
        background_tasks.add_task(process_uploaded_file, file_path)
        background_tasks.add_task(generate_thumbnails, file_path)
        return responding({"message": "File uploaded and processing started"}, background_tasks)

    return [
        send_notification,
        send_notification_multiple,
        processing("/process/", process_data),
        processing("/async/process/", async_process_data),
        create_item,
        register_user,
        upload_file,
    ]
