"""Broken ASGI wrappers: the response side gets it wrong, whatever the tasks do."""

from __future__ import annotations

import math
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _HttpWrapper:
    """An ASGI wrapper whose defect is in HTTP calls (``http``); the lifespan passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class FinalChunkAfterTasks(_HttpWrapper):
    """Holds back the final body chunk until the app call returns, i.e. after every task."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[Message] = []

        async def hold_final(message: Message) -> None:
            final = message["type"] == "http.response.body" and not message.get("more_body", False)
            if final:
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_final)
        finally:
            for message in held:
                await send(message)


class ResponseAfterTasks(_HttpWrapper):
    """Buffers the whole response until the app call returns (an old BaseHTTPMiddleware bug)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        buffered: list[Message] = []
        try:
            await self.answer(scope, receive, buffered)
        finally:
            for message in buffered:
                await send(message)

    async def answer(self, scope: Scope, receive: Receive, buffered: list[Message]) -> None:
        """Run the app, keeping what it sends in ``buffered``."""

        async def buffer(message: Message) -> None:
            buffered.append(message)

        await self.app(scope, receive, buffer)


class SwallowsAppErrors:
    """Catches what the app raises after the response started, and says nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if not started:
                raise


class ErrorBecomes500(ResponseAfterTasks):
    """Waits for the tasks before answering, and answers 500 when one of them raised."""

    async def answer(self, scope: Scope, receive: Receive, buffered: list[Message]) -> None:
        try:
            await super().answer(scope, receive, buffered)
        except Exception:
            buffered[:] = [
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]},
                {"type": "http.response.body", "body": b"Internal Server Error"},
            ]


class StopsServingAfterError:
    """After any error escapes the app, answers every later request with 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.broken = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.broken:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"unavailable"})
            return
        try:
            await self.app(scope, receive, send)
        except Exception:
            self.broken = True
            raise


class DropsWorkWhenClientLeaves(_HttpWrapper):
    """Cancels the request, its tasks included, when the client disconnects before the final body chunk was
    handed to the server, and returns as if all was well (an optimisation: "no work for a client that left").

    After the request body, it alone reads what the server says and passes it on to the app, so it sees the
    disconnect whoever else is listening.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_read, final_sent = anyio.Event(), False
        passed_on, inbox = anyio.create_memory_object_stream[Message](math.inf)

        async def reading() -> Message:
            if request_read.is_set():
                return await inbox.receive()
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                request_read.set()
            return message

        async def sending(message: Message) -> None:
            nonlocal final_sent
            final_sent = final_sent or (message["type"] == "http.response.body" and not message.get("more_body"))
            await send(message)

        async with passed_on, inbox, anyio.create_task_group() as group:

            async def read_on() -> None:
                await request_read.wait()
                while True:
                    message = await receive()
                    await passed_on.send(message)
                    if message["type"] == "http.disconnect":
                        if not final_sent:
                            group.cancel_scope.cancel()
                        return

            group.start_soon(read_on)
            await self.app(scope, reading, sending)
            group.cancel_scope.cancel()


class TasksWaitForDisconnect(_HttpWrapper):
    """Once the final body chunk is sent, holds the app until the client leaves (``receive()`` answers
    ``http.disconnect``): the tasks, which run after that send returns, wait for a keep-alive client to close its
    connection (a response that listens for the disconnect and does not stop when its body is sent)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_then_wait(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                while (await receive())["type"] != "http.disconnect":
                    pass

        await self.app(scope, receive, send_then_wait)


class CancelsAppForOwnResponse(_HttpWrapper):
    """Middleware that answers a response of its own once the app has started its response, and cancels the app
    (as BaseHTTPMiddleware did when dispatch() returned early): the endpoint's tasks never run."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = anyio.Event()

        async def until_started(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
                await anyio.sleep_forever()

        async with anyio.create_task_group() as group:
            group.start_soon(self.app, scope, receive, until_started)
            await started.wait()
            group.cancel_scope.cancel()
        body = b'{"replaced":true}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class BodyAfterPathsend(_HttpWrapper):
    """Middleware that re-streams the response and closes it with an empty final body whatever came before, also
    after an ``http.response.pathsend`` (BaseHTTPMiddleware's ``should_close_body`` forgotten): the server refuses
    the message after the complete response, and the tasks never run."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def close_after_pathsend(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.pathsend":
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope, receive, close_after_pathsend)


class DropsDebugMessage(_HttpWrapper):
    """Middleware that passes on only the messages it knows: the http.response.debug extension message is lost."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def known_only(message: Message) -> None:
            if message["type"] != "http.response.debug":
                await send(message)

        await self.app(scope, receive, known_only)


class DropsDisconnect(_HttpWrapper):
    """Middleware that hands the app the client's messages but drops ``http.disconnect`` (it waits for the next
    message instead): a response that listens for the client leaving never hears it, and waits on a send the client
    stopped reading, its tasks with it."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def without_disconnect() -> Message:
            while True:
                message = await receive()
                if message["type"] != "http.disconnect":
                    return message
                await anyio.sleep_forever()  # what a server answers after a disconnect: http.disconnect again

        await self.app(scope, without_disconnect, send)


class OwnResponseLeavesAppWaiting(_HttpWrapper):
    """Middleware that answers a response of its own once the app has started its response, and lets the app run on
    with its sends discarded and the client's own receive() (BaseHTTPMiddleware without its receive_or_disconnect):
    an endpoint still waiting for its client waits until the client closes its connection, and its tasks with it."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = anyio.Event()

        async def discard(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await anyio.lowlevel.checkpoint()

        body = b'{"replaced":true}'
        async with anyio.create_task_group() as group:
            group.start_soon(self.app, scope, receive, discard)
            await started.wait()
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
