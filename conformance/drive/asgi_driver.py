"""A raw ASGI driver: calls the app directly and records every message it sends.

Unlike ``TestClient`` and ``ASGITransport``, nothing here waits for the background tasks: the
test sees the response the moment the app hands over its final body chunk, and can watch the
tasks run afterwards. A send can be held on a gate (a slow socket) and the client can leave.

It speaks the ASGI HTTP spec as uvicorn and hypercorn do: the first ``receive()`` gives the whole
request body (``http.request``, ``more_body`` false); the next one blocks until the response is
complete or the client leaves, then answers ``http.disconnect``, as does every call after that.
``send()`` takes ``http.response.start``, then ``http.response.body`` messages until one has
``more_body`` false; any other message, or one out of that order, is recorded and refused with the
``RuntimeError`` uvicorn raises. Every ``receive()`` and what it returned is in the timeline
(``asgi.receive``; ``asgi.receive.wait`` when it had to block), so a failure shows where the app waited.

Two modes a test may ask for per request: ``keep_alive`` (a keep-alive client, or a server that answers
``http.disconnect`` only once the connection closes: ``receive()`` blocks after the response is complete
until the test calls :meth:`AsgiCall.disconnect`), and ``spec_version="2.4"`` (``send()`` raises ``OSError``
once the client has left, as ASGI 2.4 servers do), with ``leave_after_messages=n`` (the client leaves once
it has ``n`` messages, the response start included). ``pathsend=True`` offers the ``http.response.pathsend``
extension: the app may then complete its response with that message instead of a body, which is recorded as
the final ``http.response.body`` with the file's content (what the server sends), marked ``pathsend``.

:meth:`AsgiDriver.websocket` opens a WebSocket handshake instead (``scope["type"] == "websocket"``) that offers the
``websocket.http.response`` extension by default: the first ``receive()`` gives ``websocket.connect``, the next one
blocks until the handshake is over (denied, closed) or the client leaves, then answers ``websocket.disconnect``.
``send()`` takes ``websocket.accept`` or ``websocket.close``, or a denial response: ``websocket.http.response.start``,
then ``websocket.http.response.body`` messages until one has ``more_body`` false, recorded as the HTTP ones are (the
response and its final body are found the same way); anything else is refused with uvicorn's ``RuntimeError``.

``debug=True`` offers the ``http.response.debug`` extension (as Starlette's TestClient does): the app may send that
message, with its ``info`` (a template response's template and context), before its response start; it is recorded
with the template's name and the context's keys.

``stop_reading_after=n``: the client stops reading once it has ``n`` messages; every later ``send()`` waits
(``asgi.send.stalled``), as a send to a full socket does, and the client leaving does not wake it (ASGI before
2.4 says nothing of such a send): only the app cancelling it ends it (``asgi.send.cancelled``), else after
twice the driver's timeout it raises ``OSError`` (a write timeout).
"""

from __future__ import annotations

import asyncio
import itertools
import json as jsonlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from bgtasks_conformance.observe import events
from bgtasks_conformance.observe.gates import Gate
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline

ASGIApp = Any
FINAL_SEND_GATE = "send.final"
PATHSEND = "http.response.pathsend"  # the ASGI extension: the server sends a file by path
DENIAL = "websocket.http.response"  # the ASGI extension: a WebSocket handshake answered with an HTTP response
DEBUG = "http.response.debug"  # Starlette's TestClient's extension: a template response's template and context
# How long a task of this request may hold on its gate while the response is incomplete before the wait for the
# response fails (fail fast): time for a helper the test started to open it; the test itself opens it only once it
# has the response, which waits for the task, so the response would never come within the wait timeout.
HELD_GRACE = 0.05
GATE_EVENTS = ("gate.wait", "gate.pass", "gate.open")

_call_ids = itertools.count(1)


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON fails the test as the target's answer, not the suite's."""
        __tracebackhide__ = True
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            raise AssertionError(f"expected a JSON body, got status {self.status} with body "
                                 f"{self.body[:200]!r}") from None

    @property
    def text(self) -> str:
        return self.body.decode()


def _malformed(kind: str, message: dict[str, Any]) -> str | None:
    """What breaks the spec in the fields of a response start or body message (an HTTP response's, or a WebSocket
    denial's, ``kind`` naming which), in uvicorn's words, or None."""
    if kind.endswith("http.response.start"):
        if not isinstance(message.get("status"), int):
            return f"{kind} 'status' must be an int, got {message.get('status')!r}."
        headers = message.get("headers", [])
        if not all(len(pair) == 2 and all(isinstance(p, (bytes, bytearray)) for p in pair) for pair in headers):
            return f"{kind} 'headers' must be an iterable of [name, value] byte strings."
    elif not isinstance(message.get("body", b""), (bytes, bytearray, memoryview)):
        return f"{kind} 'body' must be bytes, got {type(message.get('body')).__name__}."
    return None


def _scope(kind: str, url: str, headers: list[tuple[bytes, bytes]], spec_version: str,
           **fields: Any) -> dict[str, Any]:
    """The scope of a request or a WebSocket handshake to ``url`` from the driver's client, ``fields`` added."""
    path, raw_path, query = request_target(url)
    return {"type": kind, "asgi": {"version": "3.0", "spec_version": spec_version}, "http_version": "1.1",
            "path": path, "raw_path": raw_path, "query_string": query, "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}, **fields}


class AsgiCall:
    """One request in flight: the app runs as an asyncio task while the test watches."""

    def __init__(
        self,
        app: ASGIApp,
        timeline: Timeline,
        scope: dict[str, Any],
        body: bytes,
        *,
        send_gate: Gate | None,
        raise_after_disconnect: bool,
        timeout: float,
        calls: list[AsgiCall] | None = None,
        keep_alive: bool = False,
        leave_after_messages: int | None = None,
        stop_reading_after: int | None = None,
    ) -> None:
        self.id = next(_call_ids)
        self._calls = calls if calls is not None else []  # the driver's: whose tasks a held gate may be
        self.timeline = timeline
        self.scope = scope
        self.timeout = timeout
        self._body = body
        self._body_sent = False
        self._send_gate = send_gate
        self._raise_after_disconnect = raise_after_disconnect
        self._keep_alive = keep_alive  # receive() answers http.disconnect only once the client leaves
        self._leave_after_messages = leave_after_messages  # the client leaves once it has this many messages
        self._sent = 0
        self._stop_reading_after = stop_reading_after  # the client reads no message after this many
        self._disconnected = asyncio.Event()
        self._over = asyncio.Event()  # the response is complete or the client left: receive() answers disconnect
        self._state = "start"  # what send() takes next: "start", "body", then "complete"
        self._receives = 0
        self.waiting: Event | None = None  # the asgi.receive.wait of a receive() that has not returned yet
        self.websocket = scope["type"] == "websocket"
        self._prefix = "websocket." if self.websocket else ""  # of the response's message types (a denial's)
        self._request = timeline.record("request", call=self.id, method=scope.get("method", "WEBSOCKET"),
                                        path=scope["path"])
        self._gated = gated_tasks(body)
        self.task = asyncio.ensure_future(self._run(app))

    async def _run(self, app: ASGIApp) -> BaseException | None:
        try:
            await app(self.scope, self._receive, self._send)
        except BaseException as error:  # recorded: the test decides what it means
            self.timeline.record(
                "app.error", call=self.id, error=type(error).__name__, message=str(error), exception=error
            )
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            return error
        self.timeline.record("app.return", call=self.id)
        return None

    async def _receive(self) -> dict[str, Any]:
        self._receives += 1
        n = self._receives
        if not self._body_sent and self.websocket:
            self._body_sent = True
            self.timeline.record("asgi.receive", call=self.id, n=n, type="websocket.connect")
            return {"type": "websocket.connect"}
        if not self._body_sent:
            self._body_sent = True
            self.timeline.record("asgi.receive", call=self.id, n=n, type="http.request", size=len(self._body),
                                 more_body=False)
            return {"type": "http.request", "body": self._body, "more_body": False}
        over = self._disconnected if self._keep_alive else self._over
        if not over.is_set():
            self.waiting = self.timeline.record("asgi.receive.wait", call=self.id, n=n, response=self._state)
            try:
                await over.wait()
            except asyncio.CancelledError:
                self.timeline.record("asgi.receive", call=self.id, n=n, type=None, cancelled=True)
                raise
            finally:
                self.waiting = None
        why = "client left" if self._disconnected.is_set() else "response complete"
        if self.websocket:  # uvicorn's code once a denial response is complete or the client left
            self.timeline.record("asgi.receive", call=self.id, n=n, type="websocket.disconnect", why=why, code=1006)
            return {"type": "websocket.disconnect", "code": 1006}
        self.timeline.record("asgi.receive", call=self.id, n=n, type="http.disconnect", why=why)
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if self._disconnected.is_set() and self._raise_after_disconnect:
            self.timeline.record("asgi.send.refused", call=self.id, type=message.get("type"), error="OSError")
            raise OSError("client disconnected")  # what ASGI spec 2.4 servers do
        if self._stop_reading_after is not None and self._sent >= self._stop_reading_after:
            await self._stall(message)
        kind = message.get("type")
        violation = self._violation(message)
        if kind == DEBUG and violation is None:
            info = message["info"]
            self.timeline.record("asgi.send", call=self.id, type=kind, template=getattr(info["template"], "name", None),
                                 context=sorted(info["context"]))
            return
        pathsend = kind == PATHSEND and violation is None
        if pathsend:  # the server sends the file as the response's final body
            message = {"type": "http.response.body", "body": Path(message["path"]).read_bytes(), "more_body": False}
            kind = "http.response.body"
        start_type, body_type = f"{self._prefix}http.response.start", f"{self._prefix}http.response.body"
        more_body = bool(message.get("more_body", False))
        final = kind == body_type and not more_body
        if final and violation is None and self._send_gate is not None:
            self.timeline.record("send.held", call=self.id, type=kind)
            await self._send_gate.wait_async(self.timeout)
        data: dict[str, Any] = {"call": self.id, "type": kind}
        if kind == start_type:
            data["status"] = message.get("status")
            data["headers"] = [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                               for k, v in message.get("headers", [])] if violation is None else []
        elif kind == body_type:
            body = message.get("body", b"")
            data["more_body"] = more_body
            data["body_bytes"] = bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else b""
            data["size"] = len(data["body_bytes"])
            if pathsend:
                data["pathsend"] = True
        elif kind == "websocket.close":
            data["code"] = message.get("code", 1000)
        if violation is not None:
            self.timeline.record("asgi.send", **data, violation=violation)
            raise RuntimeError(violation)
        self.timeline.record("asgi.send", **data)
        if kind == start_type:
            self._state = "body"
        elif kind == "websocket.accept":
            self._state = "open"
        elif final or kind == "websocket.close":
            self._state = "complete"
            self._over.set()
        self._sent += 1
        if self._sent == self._leave_after_messages and not final:
            self.disconnect()

    async def _stall(self, message: dict[str, Any]) -> None:
        """The client reads no more: the send waits until the app cancels it, else raises ``OSError`` in the end."""
        self.timeline.record("asgi.send.stalled", call=self.id, type=message.get("type"),
                             more_body=bool(message.get("more_body", False)))
        try:
            await asyncio.wait_for(asyncio.Event().wait(), self.timeout * 2)
        except asyncio.CancelledError:
            self.timeline.record("asgi.send.cancelled", call=self.id, type=message.get("type"))
            raise
        except TimeoutError:
            self.timeline.record("asgi.send.refused", call=self.id, type=message.get("type"), error="OSError")
            raise OSError("the client stopped reading: the write timed out") from None

    def _violation(self, message: dict[str, Any]) -> str | None:
        """What breaks the ASGI HTTP spec in this message at this point (uvicorn's words), or None."""
        kind = message.get("type")
        if self.websocket:
            return self._websocket_violation(message)
        if self._state == "complete":
            return f"Unexpected ASGI message {kind!r} sent, after response already completed."
        expected = "http.response.start" if self._state == "start" else "http.response.body"
        if kind == DEBUG and self._state == "start" and DEBUG in self.scope.get("extensions", {}):
            info = message.get("info")
            if not isinstance(info, dict) or not {"template", "context"} <= info.keys():
                return f"http.response.debug 'info' must be a dict with 'template' and 'context', got {info!r}."
            return None
        if kind == PATHSEND and self._state == "body" and PATHSEND in self.scope.get("extensions", {}):
            path = message.get("path")
            if not isinstance(path, str) or not Path(path).is_file():
                return f"http.response.pathsend 'path' must name a file, got {path!r}."
            return None
        if kind != expected:
            return f"Expected ASGI message {expected!r}, but got {kind!r}."
        return _malformed(kind, message)

    def _websocket_violation(self, message: dict[str, Any]) -> str | None:
        """What breaks the ASGI WebSocket spec (and its denial extension) in this message now (uvicorn's words)."""
        kind = message.get("type")
        if self._state == "complete":
            return f"Unexpected ASGI message {kind!r}, after sending 'websocket.close'."
        if self._state == "open":
            ok = kind in ("websocket.send", "websocket.close")
            return None if ok else f"Expected ASGI message 'websocket.send' or 'websocket.close', but got {kind!r}."
        if self._state == "body":
            if kind != "websocket.http.response.body":
                return f"Expected ASGI message 'websocket.http.response.body' but got {kind!r}."
            return _malformed(kind, message)
        if kind == "websocket.http.response.start" and DENIAL not in self.scope.get("extensions", {}):
            return ("websocket.http.response.start sent, but the server did not offer the websocket.http.response "
                    "extension.")
        if kind not in ("websocket.accept", "websocket.close", "websocket.http.response.start"):
            return ("Expected ASGI message 'websocket.accept', 'websocket.close' or 'websocket.http.response.start' "
                    f"but got {kind!r}.")
        if kind == "websocket.http.response.start":
            return _malformed(kind, message)
        return None

    def where_waiting(self) -> str | None:
        """Where the app waits, if it waits in ``receive()``: one line for a failure message."""
        waiting = self.waiting
        if waiting is None or self.task.done():
            return None
        state = {"start": "before its response start", "body": "with its response incomplete (no final body yet)"}
        return (f"request {self.id} ({self.scope['path']}): the app is waiting in receive() since [{waiting.seq}], "
                f"{state.get(self._state, 'after its response was complete')}; the request body was sent whole "
                f"(more_body false), so the next receive() answers http.disconnect only once the response is "
                f"complete or the client leaves (ASGI HTTP spec): an app that waits for a message before it "
                f"finishes its response waits forever")

    def disconnect(self) -> None:
        """The client goes away: ``receive`` answers ``http.disconnect`` from now on."""
        self.timeline.record("client.disconnect", call=self.id)
        self._disconnected.set()
        self._over.set()

    def _with_hint(self, error: ExpectationFailed) -> ExpectationFailed:
        hint = self.where_waiting()
        return ExpectationFailed(f"{error}\n{hint}") if hint else error

    async def response(self, timeout: float | None = None) -> Response:
        """Wait for the final body chunk and return the response as the client has it.

        Fails fast when the wait is already contradicted: a task of this request holds on its gate while
        the response is incomplete (it started before the response was complete) and nobody opens the gate
        within ``HELD_GRACE``: that response waits for the task, whose gate the test opens only after it.
        """
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        limit = timeout or self.timeout
        deadline = loop.time() + limit
        expected = f"the complete response to request {self.id} ({self.scope['path']})"
        seen = self._request.seq
        while True:
            try:
                moved = await self.timeline.wait_for(
                    lambda e, after=seen: self._done(e) or (e.seq > after and e.kind in GATE_EVENTS),
                    timeout=max(0.0, deadline - loop.time()), expected=expected)
            except ExpectationFailed:
                raise self._with_hint(ExpectationFailed(
                    f"expected {expected} within {limit:g}s, saw 0 of 1; timeline:\n{self.timeline.format()}"
                )) from None
            if self.timeline.first(self._done) is not None:
                break
            seen = moved.seq
            held = self._held()
            if held is not None:
                await self._fail_if_still_held(held, min(HELD_GRACE, max(0.0, deadline - loop.time())), limit)
                seen = self.timeline.events[-1].seq
        if self.timeline.first(lambda e: events.is_final_body(e, self.id)) is None:
            raise ExpectationFailed(
                f"the app returned without completing the response to request {self.id}; "
                f"timeline:\n{self.timeline.format()}"
            )
        return self.assemble()

    def _done(self, event: Event) -> bool:
        return events.is_final_body(event, self.id) or events.is_app_exit(event, self.id)

    def _held(self) -> Event | None:
        """The ``gate.wait`` of a task of this request still holding (no pass, no open since), if any: a gate its
        plan names, or any gate while no other request runs."""
        holding: dict[str, Event] = {}
        for event in self.timeline.events:
            if event.seq <= self._request.seq or event.kind not in GATE_EVENTS:
                continue
            gate = event["gate"]
            if event.kind == "gate.wait" and (gate in self._gated or self._alone()):
                holding[gate] = event
            else:
                holding.pop(gate, None)
        return min(holding.values(), key=lambda e: e.seq, default=None)

    def _alone(self) -> bool:
        """No other request of the driver is running: a task that holds now is this request's."""
        return all(call is self or call.task.done() for call in self._calls)

    async def _fail_if_still_held(self, held: Event, grace: float, limit: float) -> None:
        """Wait ``grace`` for the response or the held gate's release; still held: the response is contradicted."""
        __tracebackhide__ = True
        gate = held["gate"]
        try:
            await self.timeline.wait_for(
                lambda e: self._done(e) or (e.seq > held.seq and e.kind in ("gate.pass", "gate.open")
                                            and e["gate"] == gate),
                timeout=grace, expected="")
        except ExpectationFailed:
            raise ExpectationFailed(
                f"expected the complete response to request {self.id} ({self.scope['path']}), but saw its task "
                f"{self._gated.get(gate, gate)!r} start and hold on its gate {gate!r} [{held.seq}] while the "
                f"response was incomplete: the response waits for the task, and the gate opens only once the response "
                f"is complete, so it would not come within {limit:g}s (failed fast); "
                f"timeline:\n{self.timeline.format()}"
            ) from None

    def assemble(self) -> Response:
        """The response from what was sent so far (the final chunk may be missing)."""
        sent = self.timeline.select(lambda e: e.kind == "asgi.send" and e["call"] == self.id
                                    and "violation" not in e.data)
        start = next((e for e in sent if e["type"] == f"{self._prefix}http.response.start"), None)
        if start is None:
            raise ExpectationFailed(
                f"request {self.id} sent no {self._prefix}http.response.start; timeline:\n{self.timeline.format()}"
            )
        body = b"".join(e["body_bytes"] for e in sent if e["type"] == f"{self._prefix}http.response.body")
        return Response(start["status"], start["headers"], body)

    async def finished(self, timeout: float | None = None) -> BaseException | None:
        """Wait until the app call returns (all its tasks done); return what it raised, if anything."""
        __tracebackhide__ = True
        try:
            return await asyncio.wait_for(asyncio.shield(self.task), timeout or self.timeout)
        except TimeoutError:
            raise self._with_hint(ExpectationFailed(
                f"expected the app call for request {self.id} to return within "
                f"{timeout or self.timeout:g}s; timeline:\n{self.timeline.format()}"
            )) from None

    def final_body_event(self) -> Event | None:
        return self.timeline.first(lambda e: events.is_final_body(e, self.id))


def gated_tasks(body: bytes) -> dict[str, str]:
    """A scenario plan's gates and the tasks holding on them (``{gate: task id}``), nested tasks included."""
    try:
        plan = jsonlib.loads(body) if body else None
    except ValueError:
        return {}
    found: dict[str, str] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("gate"), str):
                found[value["gate"]] = str(value.get("id", "?"))
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(plan.get("tasks") if isinstance(plan, dict) else None)
    return found


def request_target(url: str) -> tuple[str, bytes, bytes]:
    """``path``, ``raw_path`` and ``query_string`` of ``url`` as an HTTP server puts them in the scope.

    The path may be written percent-encoded or not: characters a request line cannot carry (space,
    ``<``, CR, LF, non-ASCII ...) are encoded for ``raw_path``, as a client sends them, and ``path`` is
    the percent-decoded ``raw_path``, as uvicorn decodes it. Nothing is stripped (``urlsplit`` drops CR/LF).
    """
    target, _, query = url.partition("#")[0].partition("?")
    raw_path = quote(target, safe="/%!$&'()*+,;=:@~")
    return unquote(raw_path), raw_path.encode("ascii"), query.encode()


def spec_at_least(spec_version: str, least: tuple[int, int]) -> bool:
    """Whether an ASGI ``spec_version`` such as ``"2.4"`` is ``least`` or later."""
    return tuple(int(part) for part in spec_version.split(".")[:2]) >= least


class AsgiDriver:
    """Starts requests against one app, all recorded into one timeline."""

    def __init__(self, app: ASGIApp, timeline: Timeline, *, timeout: float = 5.0, spec_version: str = "2.3"):
        self.app = app
        self.timeline = timeline
        self.timeout = timeout
        self.spec_version = spec_version
        self.calls: list[AsgiCall] = []

    def start(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        send_gate: Gate | None = None,
        raise_after_disconnect: bool = False,
        keep_alive: bool = False,
        spec_version: str | None = None,
        leave_after_messages: int | None = None,
        pathsend: bool = False,
        debug: bool = False,
        stop_reading_after: int | None = None,
    ) -> AsgiCall:
        """Start a request; ``send_gate`` holds the final body send until the test opens it.

        ``keep_alive``: ``receive()`` answers ``http.disconnect`` only once the test calls ``disconnect()``, not
        when the response is complete. ``spec_version`` (default the driver's): the scope's ASGI spec version;
        ``"2.4"`` or later makes ``send()`` raise ``OSError`` after the client left, as those servers do.
        ``leave_after_messages``: the client leaves once it has received that many messages (the start counts).
        ``pathsend``: the scope offers the ``http.response.pathsend`` extension; ``debug``: ``http.response.debug``.
        ``stop_reading_after``: the client reads no message after that many; later sends wait (see the module).
        """
        spec_version = spec_version or self.spec_version
        raise_after_disconnect = raise_after_disconnect or spec_at_least(spec_version, (2, 4))
        header_list = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if json is not None:
            body = jsonlib.dumps(json).encode()
            header_list.append((b"content-type", b"application/json"))
        header_list.append((b"content-length", str(len(body)).encode()))
        header_list.append((b"host", b"testserver"))
        scope = _scope("http", url, header_list, spec_version, method=method.upper(), scheme="http")
        extensions = {name: {} for name, offered in ((PATHSEND, pathsend), (DEBUG, debug)) if offered}
        if extensions:
            scope["extensions"] = extensions
        call = AsgiCall(
            self.app,
            self.timeline,
            scope,
            body,
            send_gate=send_gate,
            raise_after_disconnect=raise_after_disconnect,
            timeout=self.timeout,
            calls=self.calls,
            keep_alive=keep_alive,
            leave_after_messages=leave_after_messages,
            stop_reading_after=stop_reading_after,
        )
        self.calls.append(call)
        return call

    def websocket(
        self,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        denial: bool = True,
        send_gate: Gate | None = None,
        keep_alive: bool = False,
    ) -> AsgiCall:
        """Start a WebSocket handshake; ``denial``: the scope offers the ``websocket.http.response`` extension, so the
        app may answer with an HTTP response (:meth:`AsgiCall.response` returns it). ``send_gate`` holds the final
        denial body send; ``keep_alive``: ``receive()`` answers ``websocket.disconnect`` only once the test calls
        ``disconnect()``."""
        header_list = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers] + [
            (b"host", b"testserver"), (b"connection", b"upgrade"), (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13")]
        scope = _scope("websocket", url, header_list, self.spec_version, scheme="ws", subprotocols=[],
                       extensions={DENIAL: {}} if denial else {})
        call = AsgiCall(self.app, self.timeline, scope, b"", send_gate=send_gate, raise_after_disconnect=False,
                        timeout=self.timeout, calls=self.calls, keep_alive=keep_alive)
        self.calls.append(call)
        return call

    def where_waiting(self) -> str | None:
        """The calls whose app waits in ``receive()`` now, one line each (None: none waits)."""
        lines = [line for call in self.calls if (line := call.where_waiting()) is not None]
        return "\n".join(lines) or None

    async def finish_all(self, timeout: float) -> None:
        """Let every call return; cancel what is still running after ``timeout``."""
        pending = [call.task for call in self.calls if not call.task.done()]
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=timeout)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running, timeout=timeout)


class Lifespan:
    """Runs the app's lifespan protocol, if it speaks it, around a test."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        try:
            await self.app(scope, self._inbox.get, self._outbox.put)
        except Exception:  # an app without lifespan support may raise: the ASGI spec allows it
            pass
        await self._outbox.put({"type": "lifespan.unsupported"})

    async def startup(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await asyncio.wait_for(self._outbox.get(), self.timeout)
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app's lifespan startup failed: {reply.get('message', '')}")
        if reply["type"] == "lifespan.unsupported":
            self._task = None

    async def shutdown(self) -> None:
        if self._task is None:
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self._outbox.get(), self.timeout)
        finally:
            self._task.cancel()
