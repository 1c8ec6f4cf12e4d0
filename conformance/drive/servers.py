"""Real ASGI servers on loopback: uvicorn and hypercorn, each in its own thread and event loop.

A :class:`LiveServer` binds 127.0.0.1 on a free port itself (so there is no race for the port),
hands the listening socket to the server, and runs it in a thread. ``stop()`` asks for the
server's own graceful shutdown (what SIGTERM does), waits for the thread, forces the server down
if it does not end in time, and fails loudly if the thread still lives: nothing is leaked.

A :class:`Switchboard` lets one long-lived server serve many tests: it forwards each request to
the app of the test that runs now and records, in that test's timeline, when the server's call
into the app starts and returns (:class:`bgtasks_conformance.drive.tap.Tap` does more, for a server of one
test's own).

Given a timeline, a server records its own life in it (``server.ready``, ``server.stopping`` when
a graceful shutdown is asked for, ``server.force``, ``server.served`` when its serve() has returned,
``server.stopped`` when its thread's event loop is closed too) and what its own thread logs, from
INFO up, as ``server.log``. Between ``server.served`` and ``server.stopped`` the loop waits for its
default executor's threads, as ``asyncio.run`` does when a server process exits.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bgtasks_conformance.observe.timeline import Timeline

ASGIApp = Callable[..., Any]
from bgtasks_conformance.plugin.entry import SERVERS  # noqa: E402  (the names the options accept)

SERVER_LOGGERS = {"uvicorn": "uvicorn.error", "hypercorn": "hypercorn.error"}
# What a server logs (at INFO) when its graceful shutdown starts waiting for running tasks; None: nothing.
WAITING_LOGS: dict[str, str | None] = {"uvicorn": "Waiting for background tasks to complete", "hypercorn": None}


class _ServerDefault:
    def __repr__(self) -> str:
        return "SERVER_DEFAULT"


SERVER_DEFAULT: Any = _ServerDefault()
"""``graceful_timeout=SERVER_DEFAULT``: leave the server's own default (see :func:`default_graceful_timeout`)."""

_call_ids = itertools.count(1)


class ServerError(RuntimeError):
    """A server did not start, or did not stop."""


# Since which release a server writes the status line and headers as soon as the app sends them (hypercorn 0.16
# holds them back until the first body chunk, so no client can stop reading between the two).
HEADERS_SENT_ALONE = {"uvicorn": ">=0.24", "hypercorn": ">=0.17"}


def sends_headers_alone(kind: str) -> bool:
    """Whether the installed ``kind`` writes the headers before the app sends its first body chunk."""
    from bgtasks_conformance.results.versions import in_range, installed

    version = installed(kind)
    return version is not None and in_range(version, HEADERS_SENT_ALONE[kind])


def default_graceful_timeout(kind: str) -> float | None:
    """The graceful-shutdown timeout ``kind`` uses when not told one, read from its own config."""
    if kind == "uvicorn":
        import uvicorn

        return uvicorn.Config(app=None).timeout_graceful_shutdown  # type: ignore[arg-type]
    if kind == "hypercorn":
        from hypercorn.config import Config

        return float(Config().graceful_timeout)
    raise ServerError(f"unknown server {kind!r}; choose one of {', '.join(SERVERS)}")


class LiveServer:
    """``kind`` ("uvicorn" or "hypercorn") serving ``app`` on 127.0.0.1 in a thread.

    ``graceful_timeout`` is the server's own limit on waiting for running requests (and so their
    background tasks) at shutdown; ``None`` waits without limit, ``SERVER_DEFAULT`` leaves the
    server's default. ``timeline``, if given, receives the server's life events.
    """

    def __init__(self, kind: str, app: ASGIApp, *, graceful_timeout: float | None = None,
                 timeline: Timeline | None = None) -> None:
        if kind not in SERVERS:
            raise ServerError(f"unknown server {kind!r}; choose one of {', '.join(SERVERS)}")
        self.kind = kind
        self.app = app
        self.timeline = timeline
        if graceful_timeout is SERVER_DEFAULT:
            graceful_timeout = default_graceful_timeout(kind)
        self.graceful_timeout: float | None = graceful_timeout
        self.error: BaseException | None = None
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=2048)
        self.port: int = self._socket.getsockname()[1]
        self._ready = threading.Event()
        self._startup: list[dict[str, Any]] = []
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
    @property
    def effective_graceful_timeout(self) -> float | None:
        """The limit the server really applies (uvicorn rounds to whole seconds)."""
        return self._whole_seconds() if self.kind == "uvicorn" else self.graceful_timeout

    def start(self, timeout: float) -> LiveServer:
        """Start serving; return once the app's lifespan startup is done (requests queue until then)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop(timeout)
            raise ServerError(f"{self.kind} did not finish starting within {timeout:g}s")
        if self.error is not None or self._startup_failed():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.stop(timeout)
            self._close_socket()
            why = [f"the app's lifespan startup answered {self._startup[0]}" if self._startup
                   else "the app's lifespan did not answer its startup"]
            if self.error is not None:
                why.append(f"the server ended with {self.error!r}")
            raise ServerError(f"{self.kind} failed to start: {'; '.join(why)}") from self.error
        self._record("server.ready", port=self.port, graceful_timeout=self.effective_graceful_timeout)
        return self

    def _startup_failed(self) -> bool:
        """The app answered its lifespan startup with a failure, or (uvicorn, which then exits) raised instead."""
        if self._startup:
            return self._startup[0]["type"] != "lifespan.startup.complete"
        return self.kind == "uvicorn" or not self._thread.is_alive()  # hypercorn goes on without a lifespan

    def request_shutdown(self) -> None:
        """Begin the server's graceful shutdown, as a signal would; returns at once."""
        self._record("server.stopping", graceful_timeout=self.effective_graceful_timeout)
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
        self._record("server.force")
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
            with _own_log(self.timeline, self.kind), asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                try:
                    runner.run(self._serve())
                finally:
                    # The server is done; closing its loop next waits for the loop's default executor.
                    self._record("server.served")
        except BaseException as error:  # reported by start(), kept for the test
            self.error = error
        finally:
            self._ready.set()
            self._record("server.stopped", error=None if self.error is None else repr(self.error))

    def _record(self, kind: str, **data: Any) -> None:
        if self.timeline is not None:
            self.timeline.record(kind, server=self.kind, **data)

    async def _serve(self) -> None:
        self._main = asyncio.current_task()
        app = _signal_ready(self.app, self._ready, self._startup)
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
        fd = self._socket.detach()
        config.bind = [f"fd://{fd}"]  # hypercorn owns the socket from here on, once its app has started
        config.accesslog = None
        config.errorlog = logging.getLogger(SERVER_LOGGERS["hypercorn"])  # no handler of hypercorn's own
        config.graceful_timeout = self.graceful_timeout  # type: ignore[assignment]  # None: no limit
        self._shutdown = asyncio.Event()
        try:
            await serve(app, config, shutdown_trigger=self._shutdown.wait)  # type: ignore[arg-type]
        finally:
            if self._startup and self._startup[0]["type"] != "lifespan.startup.complete":
                os.close(fd)  # hypercorn gave up on the failed startup before it took the socket

    def _call_in_loop(self, callback: Callable[[], Any]) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(callback)
            except RuntimeError:  # the loop already closed: the server is down
                pass

    def _close_socket(self) -> None:
        if self._socket.fileno() != -1:
            self._socket.close()


_info_lock = threading.Lock()
_info_users: dict[str, tuple[int, int]] = {}  # logger name -> (servers logging INFO to a timeline, saved level)


@contextmanager
def _own_log(timeline: Timeline | None, kind: str) -> Iterator[None]:
    """While it runs, this thread's server log (INFO and up) and asyncio's go to ``timeline`` as ``server.log``."""
    if timeline is None:
        yield
        return
    handler = LogToTimeline(timeline, logging.INFO, thread=threading.get_ident())
    loggers = [logging.getLogger(SERVER_LOGGERS[kind]), logging.getLogger("asyncio")]
    _lower_to_info(loggers[0].name)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        _restore_level(loggers[0].name)


def _lower_to_info(name: str) -> None:
    """Let INFO records of logger ``name`` through (uvicorn logs what its shutdown waits for at INFO)."""
    logger = logging.getLogger(name)
    with _info_lock:
        users, saved = _info_users.get(name, (0, logger.level))
        if users == 0 and logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        _info_users[name] = (users + 1, saved)


def _restore_level(name: str) -> None:
    with _info_lock:
        users, saved = _info_users.pop(name)
        if users > 1:
            _info_users[name] = (users - 1, saved)
        else:
            logging.getLogger(name).setLevel(saved)


def _signal_ready(app: ASGIApp, ready: threading.Event, answer: list[dict[str, Any]]) -> ASGIApp:
    """``app``, setting ``ready`` once its lifespan startup has answered (kept in ``answer``) or the app gave up."""

    async def watched(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def watching_send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup."):
                answer.append(message)  # first: a server may raise on a failed startup
            try:
                await send(message)
            finally:
                if answer:
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
    """Records a server's error log (``uvicorn.error``, ``hypercorn.error``) as ``server.log`` events.

    ``thread``, if given, keeps only the records logged from that thread (one server's own).
    """

    def __init__(self, timeline: Timeline, level: int = logging.WARNING, thread: int | None = None) -> None:
        super().__init__(level=level)
        self.timeline = timeline
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return (self.thread is None or record.thread == self.thread) and bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        self.timeline.record("server.log", logger=record.name, level=record.levelname,
                             message=record.getMessage()[:200], has_traceback=record.exc_info is not None,
                             exception=record.exc_info[1] if record.exc_info else None)
