"""The wire tier's view of one test: its app behind a real server, and a real HTTP client.

The client records what it received in the test's timeline (``client.response``, once the whole
body has arrived), and every request carries its number in the ``x-bgtasks-request`` header. On
the server side, :func:`recorded` stands between the server and the app and records, under that
number, the app call (``app.call``, then ``app.return`` or ``app.error``) and every message the
app hands to the server (``asgi.send``, once the server's ``send`` has returned), in the same
vocabulary as the raw-ASGI driver: the same predicates order what went over the wire.

Each request goes over a connection of its own (no keep-alive): uvicorn closes a connection when
the app raises after the response, which would break a later request that reused it. What
keep-alive does is checked on its own (WIRE-002).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from typing import Any

import httpx

from bgtasks_conformance.drive.servers import LiveServer
from bgtasks_conformance.harness import Harness
from bgtasks_conformance.observe import events
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Predicate, Timeline

REQUEST_HEADER = "x-bgtasks-request"
ASGIApp = Callable[..., Any]
NO_KEEP_ALIVE = httpx.Limits(max_connections=None, max_keepalive_connections=0)

_request_ids = itertools.count(1)


def new_request_id() -> int:
    return next(_request_ids)


def client_response(request: int | None = None) -> Predicate:
    """The client has received a whole response (of ``request``, if given)."""
    return lambda e: e.kind == "client.response" and (request is None or e["request"] == request)


def request_id(response: httpx.Response) -> int:
    """The number a response's request carried (the ``call`` of its server-side events)."""
    return int(response.extensions["bgtasks_request"])


class Calls:
    """Counts the server's calls into the app (from the server's thread); waited on from a test's loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.returned = 0
        self.most_in_progress = 0
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def begin(self) -> None:
        with self._lock:
            self.started += 1
            self.most_in_progress = max(self.most_in_progress, self.started - self.returned)

    def end(self) -> None:
        with self._lock:
            self.returned += 1
            ready = [w for w in self._waiters if w[0] <= self.returned]
            self._waiters = [w for w in self._waiters if w[0] > self.returned]
        for _, loop, future in ready:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed: its waiter is gone
                pass

    async def wait_returned(self, count: int, timeout: float) -> bool:
        """Whether ``count`` calls have returned within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (count, loop, future)
        with self._lock:
            if self.returned >= count:
                return True
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            return False
        return True

    async def wait_idle(self, timeout: float) -> bool:
        """Whether every call started so far has returned within ``timeout`` seconds."""
        with self._lock:
            started = self.started
        return await self.wait_returned(started, timeout)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def recorded(app: ASGIApp, timeline: Timeline, calls: Calls) -> ASGIApp:
    """``app``, recording each HTTP call and what it sends, under the request's number."""

    async def recording(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        call = _number(scope)
        calls.begin()
        timeline.record("app.call", call=call, path=scope.get("path"), client=_client(scope))

        async def recording_send(message: dict[str, Any]) -> None:
            data = _describe(call, message)
            try:
                await send(message)
            except BaseException as error:  # the server refused it: still a message the app sent
                timeline.record("asgi.send", **data, refused=type(error).__name__)
                raise
            timeline.record("asgi.send", **data)

        try:
            await app(scope, receive, recording_send)
        except BaseException as error:
            timeline.record("app.error", call=call, error=type(error).__name__, message=str(error)[:200],
                            exception=error)
            raise
        else:
            timeline.record("app.return", call=call)
        finally:
            calls.end()

    return recording


def _client(scope: dict[str, Any]) -> str | None:
    """The client's address as the server saw it: one per connection."""
    client = scope.get("client")
    return None if client is None else f"{client[0]}:{client[1]}"


def _number(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == REQUEST_HEADER.encode():
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _describe(call: int | None, message: dict[str, Any]) -> dict[str, Any]:
    kind = message["type"]
    data: dict[str, Any] = {"call": call, "type": kind}
    if kind == "http.response.start":
        data["status"] = message.get("status")
    elif kind == "http.response.body":
        data["more_body"] = bool(message.get("more_body", False))
        data["size"] = len(message.get("body", b""))
    return data


def messages_of(timeline: Timeline, call: int) -> list[Event]:
    return timeline.select(lambda e: e.kind == "asgi.send" and e["call"] == call)


class Wire:
    """A harness's app served by ``server`` (uvicorn or hypercorn) and an httpx client for it."""

    def __init__(self, harness: Harness, server: LiveServer, client: httpx.AsyncClient, calls: Calls) -> None:
        self.harness = harness
        self.server = server
        self.client = client
        self.calls = calls

    @property
    def kind(self) -> str:
        return self.server.kind

    @property
    def timeline(self) -> Timeline:
        return self.harness.timeline

    async def request(self, method: str, url: str, *, client: httpx.AsyncClient | None = None,
                      **options: Any) -> httpx.Response:
        """Send a request and read the whole response; ``client.response`` is recorded when it has arrived."""
        request = new_request_id()
        self.timeline.record("client.request", request=request, method=method, url=url)
        __tracebackhide__ = True
        wait = self.harness.timeouts.wait
        headers = {**options.pop("headers", {}), REQUEST_HEADER: str(request)}
        try:
            response = await (client or self.client).request(method, url, timeout=wait, headers=headers, **options)
        except httpx.HTTPError as error:
            raise ExpectationFailed(
                f"expected the whole response to request {request} ({method} {url}) from {self.kind} within "
                f"{wait:g}s, saw {type(error).__name__}: {error}; timeline:\n{self.timeline.format()}"
            ) from None
        self.timeline.record("client.response", request=request, status=response.status_code,
                             size=len(response.content))
        response.extensions["bgtasks_request"] = request
        return response

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def scenario(self, tasks: list[dict[str, Any]], *, prefix: str = "", client: httpx.AsyncClient | None = None,
                       **plan: Any) -> httpx.Response:
        """``POST {prefix}/scenario`` with these task specs, over the wire (through ``client``, if given)."""
        return await self.post(f"{prefix}/scenario", json={"tasks": tasks, **plan}, client=client)

    async def call_ended(self, response: httpx.Response) -> Event:
        """Wait until the server's call into the app for ``response``'s request has returned or raised."""
        __tracebackhide__ = True
        call = request_id(response)
        return await self.harness.wait(lambda e: events.is_app_exit(e, call),
                                       f"the app call of request {call} to return (all its tasks ended)")

    async def all_calls_returned(self) -> None:
        """Wait until every call the server made into the app has returned (all their tasks ended)."""
        __tracebackhide__ = True
        wait = self.harness.timeouts.wait
        if not await self.calls.wait_idle(wait):
            raise ExpectationFailed(
                f"expected the server's {self.calls.started} calls into the app to return within {wait:g}s, "
                f"{self.calls.returned} did; timeline:\n{self.timeline.format()}"
            )
