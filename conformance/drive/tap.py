"""An ASGI recorder between a real server and one app: every call, and what passes through it.

For a server of one test's own (:mod:`bgtasks_conformance.drive.served`): unlike the shared servers'
:class:`~bgtasks_conformance.drive.servers.Switchboard`, it passes the lifespan through to the app and records
what the server hands the app and takes from it, so a test sees when the server noticed that the
client went away.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from bgtasks_conformance.observe.timeline import Timeline

ASGIApp = Callable[..., Any]
_call_ids = itertools.count(1)


class Tap:
    """An ASGI wrapper between a server and one app: records each call and what passes through it.

    Events: ``server.call`` (with the scope's ASGI ``spec_version``), ``server.receive`` (each
    message the server hands over, as soon as it has it), ``server.send`` (each message the
    server took; ``server.send.error`` if its ``send`` raised), ``server.return`` or
    ``server.raise``, and ``server.lifespan`` for the lifespan messages both ways.

    The app reads the request from the server itself; once it has the whole request, a reader
    takes the server's further messages as they come and hands them to the app in order, so the
    moment the server reports the client gone (``http.disconnect``) is seen even when the app is
    not listening. ``hold_send=n`` holds the app's n-th send (1 is
    ``http.response.start``) until the server has reported the client gone: what a send does when
    the client stopped reading and the server's write buffer is full (``server.send.hold``, then
    ``server.send.release`` or ``server.send.cancelled``).
    """

    def __init__(self, app: ASGIApp, timeline: Timeline, *, hold_send: int | None = None,
                 hold_timeout: float = 10.0) -> None:
        self.app = app
        self.timeline = timeline
        self.hold_send = hold_send
        self.hold_timeout = hold_timeout
        self._holding: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def release(self) -> None:
        """Let every held send go on now (from any thread): a test that ends early releases its holds."""
        self.hold_send = None
        for loop, gone in list(self._holding):
            try:
                loop.call_soon_threadsafe(gone.set)
            except RuntimeError:  # that server's loop is closed
                pass

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), self._lifespan_send(send))
            return
        call = _TappedCall(self, next(_call_ids), receive, send)
        spec_version = scope.get("asgi", {}).get("spec_version", "2.0")
        self.timeline.record("server.call", call=call.id, path=scope.get("path"), spec_version=spec_version)
        try:
            await self.app(scope, call.receive, call.send)
        except BaseException as error:
            self.timeline.record("server.raise", call=call.id, error=type(error).__name__, exception=error)
            raise
        else:
            self.timeline.record("server.return", call=call.id)
        finally:
            call.stop_reading()

    def _lifespan_receive(self, receive: Callable[..., Any]) -> Callable[..., Any]:
        async def tapped() -> dict[str, Any]:
            message = await receive()
            self.timeline.record("server.lifespan", direction="receive", type=message["type"])
            return message

        return tapped

    def _lifespan_send(self, send: Callable[..., Any]) -> Callable[..., Any]:
        async def tapped(message: dict[str, Any]) -> None:
            self.timeline.record("server.lifespan", direction="send", type=message["type"])
            await send(message)

        return tapped


class _TappedCall:
    """One HTTP call through a :class:`Tap`."""

    def __init__(self, tap: Tap, call: int, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        self.tap = tap
        self.id = call
        self.record = tap.timeline.record
        self._receive = receive
        self._send = send
        self._inbox: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._gone = asyncio.Event()
        self._sends = 0

    def stop_reading(self) -> None:
        if self._reader is not None:
            self._reader.cancel()

    async def receive(self) -> dict[str, Any]:
        if self._reader is None:  # the request itself: straight from the server
            message: dict[str, Any] = await self._receive()
            self._received(message)
            if message["type"] == "http.disconnect":
                self._gone.set()
            elif not message.get("more_body", False):
                self._reader = asyncio.ensure_future(self._read())
            return message
        if self._reader.done() and self._inbox.empty():  # the client is gone: the server's own answer
            return await self._receive()  # type: ignore[no-any-return]
        queued = await self._inbox.get()
        if isinstance(queued, BaseException):
            raise queued
        return queued

    def _received(self, message: dict[str, Any]) -> None:
        self.record("server.receive", call=self.id, type=message["type"], more_body=message.get("more_body", False))

    async def _read(self) -> None:
        """Take the server's messages after the request, until it reports the client gone."""
        try:
            while True:
                message = await self._receive()
                self._received(message)
                self._inbox.put_nowait(message)
                if message["type"] == "http.disconnect":
                    self._gone.set()
                    return
        except Exception as error:  # the app's next receive raises it
            self.record("server.receive.error", call=self.id, error=type(error).__name__)
            self._inbox.put_nowait(error)

    async def send(self, message: dict[str, Any]) -> None:
        self._sends += 1
        number, kind = self._sends, message["type"]
        if number == self.tap.hold_send:
            await self._hold(number, kind)
        try:
            await self._send(message)
        except BaseException as error:
            self.record("server.send.error", call=self.id, n=number, type=kind, error=type(error).__name__)
            raise
        self.record("server.send", call=self.id, n=number, type=kind, more_body=message.get("more_body", False))

    async def _hold(self, number: int, kind: str) -> None:
        holding = (asyncio.get_running_loop(), self._gone)
        self.tap._holding.append(holding)  # first: a test that sees the hold may release it at once
        self.record("server.send.hold", call=self.id, n=number, type=kind)
        try:
            await asyncio.wait_for(self._gone.wait(), self.tap.hold_timeout)
        except TimeoutError:
            self.record("server.send.release", call=self.id, n=number, why="timeout")
        except asyncio.CancelledError:
            self.record("server.send.cancelled", call=self.id, n=number, type=kind)
            raise
        else:
            self.record("server.send.release", call=self.id, n=number, why="client gone")
        finally:
            self.tap._holding.remove(holding)
