"""A realistic multi-endpoint FastAPI app for the audit's tests: a database dependency (sqlite, in memory, through
a yield dependency), a header-token auth dependency, a BaseHTTPMiddleware, correct endpoints, and one endpoint
for each background-task pitfall the audit must flag (marked PITFALL)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

TOKEN = "test-token"
ADMIN_TOKEN = "admin-token"
done: list[str] = []  # what the tasks did (the tests read nothing from it: the audit observes the machinery)


class Item(BaseModel):
    name: str
    price: float


class Order(BaseModel):
    item_id: int
    quantity: int


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    """One transaction per request, committed when the request is over."""
    connection: sqlite3.Connection = request.app.state.db
    try:
        yield connection
        connection.commit()
    except Exception:
        connection.rollback()
        raise


def require_token(x_token: Annotated[str, Header()]) -> str:
    if x_token not in (TOKEN, ADMIN_TOKEN):
        raise HTTPException(status_code=401, detail="bad token")
    return x_token


def require_admin(x_token: Annotated[str, Depends(require_token)]) -> str:
    if x_token != ADMIN_TOKEN:
        raise HTTPException(status_code=403, detail="admins only")
    return x_token


def audit_trail(background_tasks: BackgroundTasks) -> Iterator[None]:
    """PITFALL: the task added after the yield is dropped on FastAPI >= 0.118 (default scope)."""
    yield
    background_tasks.add_task(write_trail, "item published")


Db = Annotated[sqlite3.Connection, Depends(get_db)]
Auth = Annotated[str, Depends(require_token)]


def index_item(item_id: int, name: str) -> None:
    done.append(f"indexed {item_id} {name}")


async def send_welcome(email: str) -> None:
    await asyncio.sleep(0)
    done.append(f"welcomed {email}")


def write_audit_log(event: str) -> None:
    done.append(event)


def notify_subscribers(item_id: int) -> None:
    done.append(f"notified {item_id}")


def write_trail(event: str) -> None:
    done.append(event)


def notify_cancellation(order_id: int) -> None:
    done.append(f"cancelled {order_id}")


def build_report(name: str) -> None:
    raise ValueError(f"report template {name!r} is missing")


async def make_thumbnail(size: int) -> None:
    time.sleep(0.3)  # PITFALL: a blocking call in an async def task blocks the event loop
    done.append(f"thumbnail {size}")


def render_invoice(order_id: int) -> None:
    time.sleep(0.15)  # correct: a blocking call in a plain def task runs in the thread pool, the loop stays free
    done.append(f"invoice {order_id}")


async def export_rows() -> None:
    await asyncio.sleep(0)
    done.append("exported")


async def deliver_webhook() -> None:
    await asyncio.sleep(0.02)
    done.append("delivered")


class EagerResponse(JSONResponse):
    """PITFALL: a custom response that runs its background before it sends the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        background, self.background = self.background, None
        if background is not None:
            await background()
        await super().__call__(scope, receive, send)


class FireAndForgetResponse(JSONResponse):
    """PITFALL: a custom response that detaches its background from the app call."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        background, self.background = self.background, None
        await super().__call__(scope, receive, send)
        if background is not None:
            self._detached = asyncio.ensure_future(background())


def create_app() -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = sqlite3.connect(":memory:", check_same_thread=False)
        app.state.db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        app.state.db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER, quantity INTEGER)")
        app.state.db.execute("INSERT INTO items (id, name, price) VALUES (1, 'book', 3.5)")
        app.state.db.commit()
        yield
        app.state.db.close()

    app = FastAPI(lifespan=lifespan)

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["x-elapsed"] = f"{time.perf_counter() - started:.4f}"
        return response

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/items")
    def create_item(item: Item, db: Db, auth: Auth, background_tasks: BackgroundTasks) -> dict[str, Any]:
        cursor = db.execute("INSERT INTO items (name, price) VALUES (?, ?)", (item.name, item.price))
        background_tasks.add_task(index_item, cursor.lastrowid, item.name)
        return {"id": cursor.lastrowid, "name": item.name}

    @app.get("/items/{item_id}")
    def read_item(item_id: int, db: Db, auth: Auth) -> dict[str, Any]:
        row = db.execute("SELECT id, name, price FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise HTTPException(status_code=404, detail="no such item")
        return {"id": row[0], "name": row[1], "price": row[2]}

    @app.post("/items/{item_id}/publish")
    def publish_item(item_id: int, db: Db, auth: Auth, background_tasks: BackgroundTasks) -> JSONResponse:
        """PITFALL: the returned response's own background replaces the injected tasks (write_audit_log)."""
        if db.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
            raise HTTPException(status_code=404, detail="no such item")
        background_tasks.add_task(write_audit_log, f"published {item_id}")
        return JSONResponse({"published": item_id}, background=BackgroundTask(notify_subscribers, item_id))

    @app.post("/items/{item_id}/archive", dependencies=[Depends(audit_trail)])
    def archive_item(item_id: int, db: Db, auth: Auth) -> dict[str, int]:
        if db.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
            raise HTTPException(status_code=404, detail="no such item")
        return {"archived": item_id}

    @app.post("/orders")
    async def place_order(order: Order, db: Db, auth: Auth, background_tasks: BackgroundTasks) -> dict[str, int]:
        cursor = db.execute("INSERT INTO orders (item_id, quantity) VALUES (?, ?)", (order.item_id, order.quantity))
        background_tasks.add_task(write_audit_log, f"order {cursor.lastrowid}")
        background_tasks.add_task(send_welcome, "buyer@example.com")
        return {"id": cursor.lastrowid or 0}

    @app.post("/orders/{order_id}/cancel")
    def cancel_order(order_id: int, db: Db, auth: Auth, background_tasks: BackgroundTasks) -> dict[str, int]:
        """PITFALL: the task is added before the HTTPException, so it never runs."""
        background_tasks.add_task(notify_cancellation, order_id)
        if db.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is None:
            raise HTTPException(status_code=404, detail="no such order")
        return {"cancelled": order_id}

    @app.post("/reports/{name}")
    async def request_report(name: str, auth: Auth, background_tasks: BackgroundTasks) -> dict[str, str]:
        """PITFALL: the task raises after the response."""
        background_tasks.add_task(build_report, name)
        return {"queued": name}

    @app.post("/thumbnails")
    async def thumbnails(auth: Auth, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(make_thumbnail, 128)
        return {"status": "queued"}

    @app.post("/invoices")
    async def invoices(auth: Auth, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(render_invoice, 7)
        return {"status": "rendering"}

    @app.post("/exports")
    async def exports(auth: Auth) -> EagerResponse:
        return EagerResponse({"status": "exporting"}, background=BackgroundTask(export_rows))

    @app.post("/webhooks")
    async def webhooks(auth: Auth) -> FireAndForgetResponse:
        return FireAndForgetResponse({"status": "sent"}, background=BackgroundTask(deliver_webhook))

    @app.post("/signup")
    async def signup(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(send_welcome, email)
        background_tasks.add_task(write_audit_log, "signup")
        return {"message": "welcome"}

    @app.get("/admin/stats", dependencies=[Depends(require_admin)])
    def admin_stats(db: Db) -> dict[str, int]:
        return {"items": db.execute("SELECT COUNT(*) FROM items").fetchone()[0]}

    return app


app = create_app()
