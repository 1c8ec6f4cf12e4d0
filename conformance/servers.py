"""Real ASGI servers on loopback: uvicorn and hypercorn, each in its own thread and event loop.

A :class:`LiveServer` binds 127.0.0.1 on a free port itself (so there is no race for the port),
hands the listening socket to the server, and runs it in a thread. ``stop()`` asks for the
server's own graceful shutdown (what SIGTERM does), waits for the thread, forces the server down
if it does not end in time, and fails loudly if the thread still lives: nothing is leaked.

A :class:`Switchboard` lets one long-lived server serve many tests: it forwards each request to
the app of the test that runs now and records, in that test's timeline, when the server's call
into the app starts and returns.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from .timeline import Timeline

ASGIApp = Callable[..., Any]
SERVERS = ("uvicorn", "hypercorn")
SERVER_LOGGERS = {"uvicorn": "uvicorn.error", "hypercorn": "hypercorn.error"}

_call_ids = itertools.count(1)


class ServerError(RuntimeError):
    """A server did not start, or did not stop."""


class LiveServer:
    """``kind`` ("uvicorn" or "hypercorn") serving ``app`` on 127.0.0.1 in a thread.

    ``graceful_timeout`` is the server's own limit on waiting for running requests (and so their
    background tasks) at shutdown; ``None`` waits without limit.
    """

    def __init__(self, kind: str, app: ASGIApp, *, graceful_timeout: float | None = None) -> None:
        if kind not in SERVERS:
            raise ServerError(f"unknown server {kind!r}; choose one of {', '.join(SERVERS)}")
        self.kind = kind
        self.app = app
        self.graceful_timeout = graceful_timeout
        self.error: BaseException | None = None
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=2048)
        self.port: int = self._socket.getsockname()[1]
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._uvicorn: Any = None
        self._main: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=f"bgtasks-{kind}-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float) -> LiveServer:
        """Start serving; return once the app's lifespan startup is done (requests queue until then)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop(timeout)
            raise ServerError(f"{self.kind} did not finish starting within {timeout:g}s")
        if self.error is not None:
            raise ServerError(f"{self.kind} failed to start: {self.error!r}") from self.error
        return self

    def request_shutdown(self) -> None:
        """Begin the server's graceful shutdown, as a signal would; returns at once."""
        if self.kind == "uvicorn" and self._uvicorn is not None:
            self._uvicorn.should_exit = True
        elif self._loop is not None and self._shutdown is not None:
            self._call_in_loop(self._shutdown.set)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the server thread to end; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def force_stop(self) -> None:
        """Stop without waiting for running requests: what a second signal does."""
        if self._uvicorn is not None:
            self._uvicorn.force_exit = True
            self._uvicorn.should_exit = True
        if self._main is not None:
            self._call_in_loop(self._main.cancel)

    def stop(self, timeout: float) -> None:
        """Graceful shutdown, forced after ``timeout``; raises if the thread still lives after that."""
        if not self._thread.is_alive():
            self._close_socket()
            return
        self.request_shutdown()
        if not self.join(timeout):
            self.force_stop()
            if not self.join(timeout):
                raise ServerError(f"{self.kind} on port {self.port} did not stop within {2 * timeout:g}s")
        self._close_socket()

    # -- the server thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            with asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                runner.run(self._serve())
        except BaseException as error:  # reported by start(), kept for the test
            self.error = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._main = asyncio.current_task()
        app = _signal_ready(self.app, self._ready)
        if self.kind == "uvicorn":
            await self._serve_uvicorn(app)
        else:
            await self._serve_hypercorn(app)

    async def _serve_uvicorn(self, app: ASGIApp) -> None:
        import uvicorn

        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False,
                                timeout_graceful_shutdown=self._whole_seconds())
        self._uvicorn = uvicorn.Server(config)
        await self._uvicorn.serve(sockets=[self._socket])

    def _whole_seconds(self) -> int | None:
        """uvicorn takes whole seconds; anything below one second rounds up to one."""
        if self.graceful_timeout is None:
            return None
        return max(1, round(self.graceful_timeout))

    async def _serve_hypercorn(self, app: ASGIApp) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{self._socket.detach()}"]  # hypercorn owns the socket from here on
        config.accesslog = None
        config.errorlog = logging.getLogger(SERVER_LOGGERS["hypercorn"])  # no handler of hypercorn's own
        config.graceful_timeout = self.graceful_timeout  # type: ignore[assignment]  # None: no limit
        self._shutdown = asyncio.Event()
        await serve(app, config, shutdown_trigger=self._shutdown.wait)  # type: ignore[arg-type]

    def _call_in_loop(self, callback: Callable[[], Any]) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(callback)
            except RuntimeError:  # the loop already closed: the server is down
                pass

    def _close_socket(self) -> None:
        if self._socket.fileno() != -1:
            self._socket.close()


def _signal_ready(app: ASGIApp, ready: threading.Event) -> ASGIApp:
    """``app``, setting ``ready`` once its lifespan startup has answered (or the app declined lifespan)."""

    async def watched(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def watching_send(message: dict[str, Any]) -> None:
            await send(message)
            if message["type"].startswith("lifespan.startup."):
                ready.set()

        try:
            await app(scope, receive, watching_send)
        finally:
            ready.set()

    return watched


class Switchboard:
    """An ASGI app that forwards each HTTP request to the app routed to it now.

    The server's lifespan is answered here; each routed app's own lifespan is its test's business.
    """

    def __init__(self) -> None:
        self._route: tuple[ASGIApp, Timeline] | None = None

    def route(self, app: ASGIApp, timeline: Timeline) -> None:
        self._route = (app, timeline)

    def clear(self) -> None:
        self._route = None

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            await _null_lifespan(receive, send)
            return
        if self._route is None:
            await _unrouted(send)
            return
        app, timeline = self._route
        call = next(_call_ids)
        timeline.record("server.call", call=call, path=scope.get("path"))
        try:
            await app(scope, receive, send)
        except BaseException as error:
            timeline.record("server.raise", call=call, error=type(error).__name__, exception=error)
            raise
        finally:
            timeline.record("server.return", call=call)


async def _null_lifespan(receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _unrouted(send: Callable[..., Any]) -> None:
    body = b"no test is routed to this server now"
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class LogToTimeline(logging.Handler):
    """Records a server's error log (``uvicorn.error``, ``hypercorn.error``) as ``server.log`` events."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(level=logging.WARNING)
        self.timeline = timeline

    def emit(self, record: logging.LogRecord) -> None:
        self.timeline.record("server.log", logger=record.name, level=record.levelname,
                             message=record.getMessage()[:200], has_traceback=record.exc_info is not None)
