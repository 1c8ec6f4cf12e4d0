"""The raw ASGI driver against hand-written apps: what it records, holds, and reports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bgtasks_conformance import AsgiDriver, ExpectationFailed, Gate, Timeline
from bgtasks_conformance.drive.asgi_driver import Lifespan, Response
from bgtasks_conformance.drive.raw_client import RawClient
from bgtasks_conformance.drive.servers import SERVERS, LiveServer
from bgtasks_conformance.observe.events import final_body, is_app_exit

pytestmark = pytest.mark.anyio

TINY = 0.05
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


async def send_response(send: Send, chunks: tuple[bytes, ...] = (b'{"a": ', b"1}")) -> None:
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"x-seen", b"yes")]})
    for n, chunk in enumerate(chunks):
        await send({"type": "http.response.body", "body": chunk, "more_body": n < len(chunks) - 1})


def app_that(after_response: Callable[[Receive, Send], Awaitable[None]] | None = None,
             respond: bool = True) -> tuple[App, list[Any]]:
    """An app that reads the request, responds, then does ``after_response``; ``seen`` keeps what it got."""
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope)
        seen.append(await receive())
        if respond:
            await send_response(send)
        if after_response is not None:
            await after_response(receive, send)

    return app, seen


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


def driver(app: App, timeline: Timeline) -> AsgiDriver:
    return AsgiDriver(app, timeline, timeout=5.0)


def sent(timeline: Timeline, call_id: int) -> list[tuple[str, Any]]:
    messages = [e for e in timeline if e.kind == "asgi.send" and e["call"] == call_id]
    return [(e["type"], e.get("more_body")) for e in messages]


async def test_a_body_that_is_not_json_fails_as_the_targets_answer() -> None:
    response = Response(500, [], b"Internal Server Error")
    with pytest.raises(AssertionError, match=r"expected a JSON body, got status 500 with body b'Internal Server"):
        response.json()


async def test_every_message_and_the_return_are_recorded(timeline: Timeline) -> None:
    app, seen = app_that()
    call = driver(app, timeline).start("post", "/items/?q=1", json={"name": "x"}, headers=[("X-Token", "t")])
    response = await call.response()
    assert await call.finished() is None
    assert sent(timeline, call.id) == [("http.response.start", None), ("http.response.body", True),
                                       ("http.response.body", False)]
    start = timeline.first(lambda e: e.kind == "asgi.send")
    assert (start["status"], start["headers"][1]) == (201, ("x-seen", "yes"))
    assert [e["size"] for e in timeline if e.get("type") == "http.response.body"] == [6, 2]
    assert [e.kind for e in timeline] == ["request", "asgi.receive", "asgi.send", "asgi.send", "asgi.send",
                                          "app.return"]
    assert (response.status, response.header("X-SEEN"), response.header("nope")) == (201, "yes", None)
    assert (response.json(), response.text) == ({"a": 1}, '{"a": 1}')
    assert call.final_body_event() is timeline.first(final_body(call.id))
    scope, request = seen
    assert (scope["method"], scope["path"], scope["query_string"]) == ("POST", "/items/", b"q=1")
    assert (b"x-token", b"t") in scope["headers"]
    assert (b"content-type", b"application/json") in scope["headers"]
    assert (b"content-length", b"13") in scope["headers"]
    assert request == {"type": "http.request", "body": b'{"name": "x"}', "more_body": False}


@pytest.mark.parametrize(("url", "path", "raw_path"), [
    ("/a/Bruce Wayne <b@w.com>", "/a/Bruce Wayne <b@w.com>", b"/a/Bruce%20Wayne%20%3Cb@w.com%3E"),
    ("/a/b%40w.com%0D%0A", "/a/b@w.com\r\n", b"/a/b%40w.com%0D%0A"),
    ("/a/b@w.com\r\nBcc", "/a/b@w.com\r\nBcc", b"/a/b@w.com%0D%0ABcc"),
])
async def test_the_path_is_decoded_and_raw_path_encoded(
    timeline: Timeline, url: str, path: str, raw_path: bytes
) -> None:
    """As a server has them: ``path`` percent-decoded, ``raw_path`` as sent; CR/LF are kept, not stripped."""
    app, seen = app_that()
    assert await driver(app, timeline).start("post", f"{url}?q=%20").finished() is None
    assert (seen[0]["path"], seen[0]["raw_path"], seen[0]["query_string"]) == (path, raw_path, b"q=%20")


async def test_an_error_is_recorded_with_the_exception(timeline: Timeline) -> None:
    async def fail(receive: Receive, send: Send) -> None:
        raise ValueError("task failed")

    app, _ = app_that(fail)
    call = driver(app, timeline).start("GET", "/", body=b"raw")
    assert (await call.response()).status == 201
    raised = await call.finished()
    assert isinstance(raised, ValueError)
    error = timeline.first(lambda e: is_app_exit(e, call.id))
    assert (error.kind, error["error"], error["message"], error["exception"]) == (
        "app.error", "ValueError", "task failed", raised)


async def test_send_gate_holds_the_final_body_until_opened(timeline: Timeline) -> None:
    app, _ = app_that()
    gate = Gate("send.final")
    call = driver(app, timeline).start("POST", "/", send_gate=gate)
    held = await timeline.wait_for(lambda e: e.kind == "send.held", timeout=5.0, expected="a held send")
    assert held["type"] == "http.response.body"
    await timeline.expect_none(final_body(call.id), within=TINY, forbidden="the final body while held")
    assert sent(timeline, call.id) == [("http.response.start", None), ("http.response.body", True)]
    gate.open()
    assert (await call.response()).body == b'{"a": 1}'


async def test_a_send_gate_never_opened_fails_the_send(timeline: Timeline) -> None:
    app, _ = app_that()
    call = AsgiDriver(app, timeline, timeout=TINY).start("POST", "/", send_gate=Gate("never"))
    assert "gate 'never' was not opened" in str(await call.finished(timeout=5.0))


async def test_disconnect_makes_receive_answer_http_disconnect(timeline: Timeline) -> None:
    """A long poll: the app waits in receive() before it responds; the client leaving ends the wait."""
    async def long_poll(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.extend([await receive(), await receive(), await receive()])

    seen: list[Message] = []
    call = driver(long_poll, timeline).start("POST", "/")
    waiting = await timeline.wait_for(lambda e: e.kind == "asgi.receive.wait", timeout=5.0, expected="a wait")
    assert (waiting["n"], waiting["response"]) == (2, "start")
    await timeline.expect_none(lambda e: is_app_exit(e, call.id), within=TINY, forbidden="the app to return")
    call.disconnect()
    assert await call.finished() is None
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect", "http.disconnect"]
    received = [(e["n"], e["type"], e.get("why")) for e in timeline if e.kind == "asgi.receive"]
    assert received == [(1, "http.request", None), (2, "http.disconnect", "client left"),
                        (3, "http.disconnect", "client left")]
    assert [e.kind for e in timeline][-3:] == ["asgi.receive", "asgi.receive", "app.return"]


@pytest.mark.parametrize("raise_after_disconnect", [True, False])
async def test_send_after_a_disconnect(timeline: Timeline, raise_after_disconnect: bool) -> None:
    async def send_late(receive: Receive, send: Send) -> None:
        await receive()  # until the client leaves
        await send_response(send, (b"late",))

    app, _ = app_that(send_late, respond=False)
    call = driver(app, timeline).start("POST", "/", raise_after_disconnect=raise_after_disconnect)
    call.disconnect()
    raised = await call.finished()
    if raise_after_disconnect:
        assert isinstance(raised, OSError)
        assert str(raised) == "client disconnected"
        assert sent(timeline, call.id) == []
    else:
        assert raised is None
        assert (await call.response()).body == b"late"


async def test_response_fails_clearly_when_the_app_returns_without_one(timeline: Timeline) -> None:
    async def start_only(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})

    call = driver(start_only, timeline).start("POST", "/half")
    with pytest.raises(ExpectationFailed, match=rf"(?s)the app returned without completing the response to "
                                                rf"request {call.id}; timeline:\n.*http.response.start"):
        await call.response()
    assert call.assemble().status == 200
    assert call.final_body_event() is None


async def test_assemble_without_a_start_fails_clearly(timeline: Timeline) -> None:
    app, _ = app_that(respond=False)
    call = driver(app, timeline).start("POST", "/silent")
    await call.finished()
    with pytest.raises(ExpectationFailed, match=rf"request {call.id} sent no http.response.start"):
        call.assemble()


async def test_response_and_finished_time_out_clearly(timeline: Timeline) -> None:
    async def wait_for_the_client(receive: Receive, send: Send) -> None:
        await receive()

    app, _ = app_that(wait_for_the_client, respond=False)
    call = driver(app, timeline).start("POST", "/stuck")
    with pytest.raises(ExpectationFailed, match=rf"expected the complete response to request {call.id} "
                                                r"\(/stuck\) within 0.05s"):
        await call.response(timeout=TINY)
    with pytest.raises(ExpectationFailed, match=rf"expected the app call for request {call.id} to return "
                                                r"within 0.05s; timeline:\n    \[1\] request"):
        await call.finished(timeout=TINY)
    assert not call.task.done()  # a timed-out wait leaves the app running
    call.disconnect()
    assert await call.finished() is None


async def test_finish_all_cancels_what_still_runs(timeline: Timeline) -> None:
    async def forever(receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    app, _ = app_that(forever)
    done_app, _ = app_that()
    drive = driver(app, timeline)
    stuck = drive.start("POST", "/forever")
    await stuck.response()
    done = AsgiDriver(done_app, timeline).start("POST", "/done")
    drive.calls.append(done)
    await done.finished()
    await drive.finish_all(TINY)
    assert stuck.task.done()
    assert timeline.first(lambda e: is_app_exit(e, stuck.id))["error"] == "CancelledError"
    await AsgiDriver(app, timeline).finish_all(TINY)  # nothing started: nothing to do


# -- lifespan ---------------------------------------------------------------------------------
def lifespan_app(reply: str = "complete") -> tuple[App, list[str]]:
    log: list[str] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            log.append(message["type"])
            if message["type"] == "lifespan.startup" and reply == "failed":
                await send({"type": "lifespan.startup.failed", "message": "no database"})
                return
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return

    return app, log


async def test_lifespan_runs_startup_and_shutdown() -> None:
    app, log = lifespan_app()
    lifespan = Lifespan(app, timeout=5.0)
    await lifespan.startup()
    assert log == ["lifespan.startup"]
    await lifespan.shutdown()
    assert log == ["lifespan.startup", "lifespan.shutdown"]


async def test_lifespan_tolerates_an_app_that_raises_for_it() -> None:
    async def http_only(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise RuntimeError(f"unsupported scope {scope['type']}")

    lifespan = Lifespan(http_only, timeout=5.0)
    await lifespan.startup()
    await lifespan.shutdown()


async def test_a_failed_startup_says_why() -> None:
    app, _ = lifespan_app(reply="failed")
    with pytest.raises(RuntimeError, match="the app's lifespan startup failed: no database"):
        await Lifespan(app, timeout=5.0).startup()


@pytest.mark.parametrize(
    ("url", "path", "raw_path", "query"),
    [
        ("/items/?q=1&r=2", "/items/", b"/items/", b"q=1&r=2"),
        ("/a b", "/a b", b"/a%20b", b""),
        ("/a%20b?x=%20", "/a b", b"/a%20b", b"x=%20"),
        ("/caf\u00e9#part", "/caf\u00e9", b"/caf%C3%A9", b""),
        ("/mail/a@b.c", "/mail/a@b.c", b"/mail/a@b.c", b""),
    ],
)
async def test_the_scope_has_the_path_as_a_server_puts_it(timeline: Timeline, url: str, path: str,
                                                          raw_path: bytes, query: bytes) -> None:
    app, seen = app_that()
    await driver(app, timeline).start("GET", url).finished()
    scope = seen[0]
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (path, raw_path, query)


# -- the ASGI HTTP spec: receive -------------------------------------------------------------------
# "http.disconnect: sent to the application if receive is called after a response has been sent or
# after the HTTP connection has been closed" (ASGI HTTP spec); uvicorn and hypercorn do the same.
def received(timeline: Timeline) -> list[tuple[int, str | None, str | None]]:
    return [(e["n"], e["type"], e.get("why")) for e in timeline if e.kind == "asgi.receive"]


async def test_receive_after_the_response_answers_http_disconnect_at_once(timeline: Timeline) -> None:
    async def listen_twice(receive: Receive, send: Send) -> None:
        seen.extend([await receive(), await receive()])

    app, seen = app_that(listen_twice)
    call = driver(app, timeline).start("POST", "/")
    assert await call.finished() is None  # the client never left: the response being complete is enough
    assert seen[2:] == [{"type": "http.disconnect"}, {"type": "http.disconnect"}]
    assert received(timeline) == [(1, "http.request", None), (2, "http.disconnect", "response complete"),
                                  (3, "http.disconnect", "response complete")]
    assert not timeline.select(lambda e: e.kind == "asgi.receive.wait")  # nothing to wait for


async def listening_app(partial_sent: asyncio.Event, let_finish: asyncio.Event, log: list[Any]) -> App:
    """Reads the body, listens in a task while it sends a partial body, then the final chunk when told."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        log.append(await receive())
        listener = asyncio.ensure_future(receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        partial_sent.set()
        await let_finish.wait()
        log.append(("listener done before the final body", listener.done()))
        await send({"type": "http.response.body", "body": b"end"})
        log.append(await listener)

    return app


async def test_receive_blocks_until_the_response_is_complete(timeline: Timeline) -> None:
    partial, finish, log = asyncio.Event(), asyncio.Event(), []
    call = driver(await listening_app(partial, finish, log), timeline).start("POST", "/")
    await partial.wait()
    waiting = await timeline.wait_for(lambda e: e.kind == "asgi.receive.wait", timeout=5.0, expected="a wait")
    assert (waiting["n"], waiting["response"]) == (2, "body")
    await timeline.expect_none(lambda e: e.kind == "asgi.receive" and e["n"] == 2, within=TINY,
                               forbidden="receive() to return while the response is incomplete")
    finish.set()
    assert await call.finished() is None
    assert log[1:] == [("listener done before the final body", False), {"type": "http.disconnect"}]
    final = call.final_body_event()
    answer = timeline.first(lambda e: e.kind == "asgi.receive" and e["n"] == 2)
    assert final is not None and answer is not None and final.seq < answer.seq
    assert answer["why"] == "response complete"


async def test_a_held_final_send_keeps_receive_waiting(timeline: Timeline) -> None:
    """The response is complete when the final send returns, not when it starts: a slow socket."""
    gate = Gate("send.final")
    partial, finish, log = asyncio.Event(), asyncio.Event(), []
    finish.set()
    call = driver(await listening_app(partial, finish, log), timeline).start("POST", "/", send_gate=gate)
    await timeline.wait_for(lambda e: e.kind == "send.held", timeout=5.0, expected="the final send held")
    await timeline.expect_none(lambda e: e.kind == "asgi.receive" and e["n"] == 2, within=TINY,
                               forbidden="receive() to return while the final send is held")
    gate.open()
    assert await call.finished() is None
    assert log[-1] == {"type": "http.disconnect"}


async def test_a_cancelled_receive_is_recorded(timeline: Timeline) -> None:
    async def cancel_a_receive(receive: Receive, send: Send) -> None:
        listener = asyncio.ensure_future(receive())
        await timeline.wait_for(lambda e: e.kind == "asgi.receive.wait", timeout=5.0, expected="the wait")
        listener.cancel()
        await asyncio.wait({listener})
        await send_response(send)

    app, _ = app_that(cancel_a_receive, respond=False)
    call = driver(app, timeline).start("POST", "/")
    assert await call.finished() is None
    assert timeline.first(lambda e: e.kind == "asgi.receive" and e["n"] == 2).get("cancelled") is True


async def test_a_wait_that_times_out_says_the_app_waits_in_receive(timeline: Timeline) -> None:
    """An app that waits for a message before it finishes its response: the failure says where it waits."""
    async def wait_before_the_end(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await receive()  # waits: the client stays until the response is complete
        await send({"type": "http.response.body", "body": b""})

    drive = driver(wait_before_the_end, timeline)
    call = drive.start("POST", "/stream")
    hint = (rf"request {call.id} \(/stream\): the app is waiting in receive\(\) since \[\d+\], with its response "
            r"incomplete \(no final body yet\); the request body was sent whole \(more_body false\), so the next "
            r"receive\(\) answers http.disconnect only once the response is complete or the client leaves")
    with pytest.raises(ExpectationFailed, match=rf"(?s)expected the complete response.*\n{hint}"):
        await call.response(timeout=TINY)
    with pytest.raises(ExpectationFailed, match=rf"(?s)to return within.*\n{hint}"):
        await call.finished(timeout=TINY)
    assert drive.where_waiting() is not None and drive.where_waiting().startswith(f"request {call.id} (/stream)")
    call.disconnect()
    assert await call.finished() is None
    assert drive.where_waiting() is None


# -- the ASGI HTTP spec: send ------------------------------------------------------------------------
START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b"x"}


@pytest.mark.parametrize(("messages", "refused"), [
    pytest.param([BODY], "Expected ASGI message 'http.response.start', but got 'http.response.body'.",
                 id="body-before-start"),
    pytest.param([START, START], "Expected ASGI message 'http.response.body', but got 'http.response.start'.",
                 id="two-starts"),
    pytest.param([START, BODY, START], "Unexpected ASGI message 'http.response.start' sent, after response "
                 "already completed.", id="start-after-the-end"),
    pytest.param([START, BODY, BODY], "Unexpected ASGI message 'http.response.body' sent, after response "
                 "already completed.", id="body-after-the-end"),
    pytest.param([{"type": "http.response.start", "status": "200", "headers": []}],
                 "http.response.start 'status' must be an int, got '200'.", id="status-str"),
    pytest.param([{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}],
                 "http.response.start 'headers' must be an iterable of [name, value] byte strings.", id="str-headers"),
    pytest.param([START, {"type": "http.response.body", "body": "x"}],
                 "http.response.body 'body' must be bytes, got str.", id="str-body"),
    pytest.param([{"type": "http.nonsense"}], "Expected ASGI message 'http.response.start', but got 'http.nonsense'.",
                 id="unknown-type"),
])
async def test_a_message_out_of_order_or_malformed_is_recorded_and_refused(
    timeline: Timeline, messages: list[Message], refused: str
) -> None:
    """As uvicorn and hypercorn do, the send raises; the timeline keeps the message with what was wrong."""
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    call = driver(app, timeline).start("POST", "/")
    raised = await call.finished()
    assert isinstance(raised, RuntimeError) and str(raised) == refused
    last = [e for e in timeline if e.kind == "asgi.send"][-1]
    assert (last["type"], last["violation"]) == (messages[-1]["type"], refused)


async def test_a_refused_message_does_not_complete_the_response(timeline: Timeline) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        with pytest.raises(RuntimeError):
            await send(BODY)
        await send(START)
        await send({"type": "http.response.body", "body": b"ok", "more_body": False})

    call = driver(app, timeline).start("POST", "/")
    assert (await call.response()).body == b"ok"
    assert await call.finished() is None


# -- the driver against the real servers ------------------------------------------------------------
def spec_probe(log: Timeline) -> App:
    """Records what receive() gives, and whether a listener returned while the response was incomplete."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (request := await receive()).get("more_body"):  # hypercorn sends the body, then b"" to end it
            pass
        log.record("got", message=request["type"])
        listener = asyncio.ensure_future(receive())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"pa", "more_body": True})
        done, _ = await asyncio.wait({listener}, timeout=TINY)  # a quiet window, as expect_none watches
        log.record("got", message="returned before the final body" if done else "still waiting")
        await send({"type": "http.response.body", "body": b"rt"})
        log.record("got", message=(await listener)["type"])
        again = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait({again}, timeout=TINY)
        log.record("got", message=again.result()["type"] if done else "still waiting")
        again.cancel()

    return app


@pytest.mark.parametrize("where", ["driver", *SERVERS])
async def test_receive_behaves_as_under_the_real_servers(where: str) -> None:
    """The same app sees the same receive() under the driver, uvicorn and hypercorn."""
    log = Timeline()
    app = spec_probe(log)
    if where == "driver":
        await AsgiDriver(app, Timeline()).start("POST", "/", body=b"{}").finished()
    else:
        server = await asyncio.to_thread(LiveServer(where, app).start, 5.0)
        try:
            client = await RawClient.connect(server.port, log, 5.0)
            await client.send("POST", "/", {})
            await client.read_until(b"part", "the whole body")
            await log.wait_for(lambda e: e.kind == "got" and e["message"] == "http.disconnect", timeout=5.0,
                               expected="the listener's disconnect")
            await log.wait_for_count(lambda e: e.kind == "got", 4, timeout=5.0, expected="all four receives")
            await client.close()
        finally:
            await asyncio.to_thread(server.stop, 5.0)
    # The spec: http.disconnect whenever receive() is called after the response; uvicorn does that, hypercorn
    # puts one http.disconnect in the queue when the stream closes and the next receive() waits.
    again = "still waiting" if where == "hypercorn" else "http.disconnect"
    assert [e["message"] for e in log if e.kind == "got"] == [
        "http.request", "still waiting", "http.disconnect", again]


# -- issue 21: a keep-alive client, ASGI 2.4 -----------------------------------------------------------
async def test_a_keep_alive_client_answers_http_disconnect_only_when_it_leaves(timeline: Timeline) -> None:
    async def listen_after(receive: Receive, send: Send) -> None:
        seen.append(await receive())

    app, seen = app_that(listen_after)
    call = driver(app, timeline).start("POST", "/", keep_alive=True)
    response = await call.response()
    assert response.body == b'{"a": 1}'
    waiting = await timeline.wait_for(lambda e: e.kind == "asgi.receive.wait", timeout=5.0, expected="a wait")
    assert waiting["response"] == "complete"
    await timeline.expect_none(lambda e: is_app_exit(e, call.id), within=TINY, forbidden="the app to return")
    call.disconnect()
    assert await call.finished() is None
    assert received(timeline)[-1] == (2, "http.disconnect", "client left")


async def test_asgi_2_4_scope_and_a_client_leaving_after_some_messages(timeline: Timeline) -> None:
    app, seen = app_that()
    call = driver(app, timeline).start("POST", "/", spec_version="2.4", leave_after_messages=1)
    raised = await call.finished()
    assert seen[0]["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert isinstance(raised, OSError), raised  # the first body chunk's send, after the client left
    assert sent(timeline, call.id) == [("http.response.start", None)]
    refused = timeline.first(lambda e: e.kind == "asgi.send.refused")
    assert refused is not None and (refused["type"], refused["error"]) == ("http.response.body", "OSError")


async def test_leaving_after_the_final_message_changes_nothing(timeline: Timeline) -> None:
    app, seen = app_that()
    call = driver(app, timeline).start("POST", "/", spec_version="2.4", leave_after_messages=3)
    assert await call.finished() is None
    assert seen[0]["asgi"]["spec_version"] == "2.4"
    assert timeline.first(lambda e: e.kind == "client.disconnect") is None


async def test_pathsend_completes_the_response_with_the_files_content(timeline: Timeline, tmp_path: Any) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"by path")

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope.get("extensions"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    seen: list[Any] = []
    call = driver(app, timeline).start("GET", "/", pathsend=True)
    assert (await call.response()).body == b"by path"
    assert await call.finished() is None
    assert seen == [{"http.response.pathsend": {}}]
    final = call.final_body_event()
    assert final is not None and final["pathsend"] is True


async def test_pathsend_without_the_extension_is_refused(timeline: Timeline, tmp_path: Any) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(tmp_path)})

    raised = await driver(app, timeline).start("GET", "/").finished()
    assert isinstance(raised, RuntimeError) and "'http.response.pathsend'" in str(raised), raised


DENY_START: Message = {"type": "websocket.http.response.start", "status": 403, "headers": [(b"x-why", b"no")]}


async def test_a_websocket_denial_is_recorded_as_a_response(timeline: Timeline) -> None:
    """The handshake offers the extension; receive() gives websocket.connect, then websocket.disconnect once denied."""
    got: list[Any] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        got.extend([scope["type"], scope["extensions"], scope["query_string"], await receive()])
        await send(DENY_START)
        await send({"type": "websocket.http.response.body", "body": b"de", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"nied"})
        got.append(await receive())

    call = driver(app, timeline).websocket("/ws?plan=1")
    response = await call.response()
    assert (response.status, response.header("x-why"), response.body) == (403, "no", b"denied")
    assert await call.finished() is None
    assert got == ["websocket", {"websocket.http.response": {}}, b"plan=1", {"type": "websocket.connect"},
                   {"type": "websocket.disconnect", "code": 1006}]
    assert sent(timeline, call.id) == [("websocket.http.response.start", None),
                                       ("websocket.http.response.body", True), ("websocket.http.response.body", False)]
    final = call.final_body_event()
    assert final is not None and final["type"] == "websocket.http.response.body"


@pytest.mark.parametrize(("messages", "denial", "refused"), [
    pytest.param([{"type": "http.response.start", "status": 403, "headers": []}], True,
                 "Expected ASGI message 'websocket.accept', 'websocket.close' or 'websocket.http.response.start' but "
                 "got 'http.response.start'.", id="http-start-in-a-websocket-scope"),
    pytest.param([DENY_START], False, "websocket.http.response.start sent, but the server did not offer the "
                 "websocket.http.response extension.", id="denial-not-offered"),
    pytest.param([DENY_START, {"type": "http.response.body", "body": b""}], True,
                 "Expected ASGI message 'websocket.http.response.body' but got 'http.response.body'.",
                 id="http-body-after-a-denial-start"),
    pytest.param([{"type": "websocket.close"}, DENY_START], True, "Unexpected ASGI message "
                 "'websocket.http.response.start', after sending 'websocket.close'.", id="denial-after-close"),
    pytest.param([{"type": "websocket.accept"}, DENY_START], True, "Expected ASGI message 'websocket.send' or "
                 "'websocket.close', but got 'websocket.http.response.start'.", id="denial-after-accept"),
])
async def test_a_websocket_message_out_of_order_is_recorded_and_refused(
    timeline: Timeline, messages: list[Message], denial: bool, refused: str
) -> None:
    """As uvicorn does: the send raises with its words, and the message is kept with what was wrong."""
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    call = driver(app, timeline).websocket("/ws", denial=denial)
    raised = await call.finished()
    assert isinstance(raised, RuntimeError) and str(raised) == refused, raised
    last = [e for e in timeline if e.kind == "asgi.send"][-1]
    assert (last["type"], last["violation"]) == (messages[-1]["type"], refused)
    assert call.final_body_event() is None


async def test_a_handshake_closed_without_a_denial_gives_no_response(timeline: Timeline) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1000})

    call = driver(app, timeline).websocket("/ws")
    with pytest.raises(ExpectationFailed, match="the app returned without completing the response"):
        await call.response()
    closed = [e for e in timeline if e.kind == "asgi.send"]
    assert [(e["type"], e["code"]) for e in closed] == [("websocket.close", 1000)]


class _Template:
    name = "page.html"


@pytest.mark.parametrize(("offered", "info", "refused"), [
    (True, {"template": _Template(), "context": {"greeting": "hi"}}, None),
    (False, {"template": _Template(), "context": {}}, "Expected ASGI message 'http.response.start'"),
    (True, {"context": {}}, "http.response.debug 'info' must be a dict with 'template' and 'context'"),
])
async def test_the_debug_extension_takes_one_message_before_the_start_when_offered(
        timeline: Timeline, offered: bool, info: dict[str, Any], refused: str | None) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope.get("extensions"))
        await send({"type": "http.response.debug", "info": info})
        await send_response(send)

    seen: list[Any] = []
    raised = await driver(app, timeline).start("GET", "/", debug=offered).finished()
    assert seen == [{"http.response.debug": {}} if offered else None]
    if refused is None:
        assert raised is None
        debug = timeline.first(lambda e: e.kind == "asgi.send" and e["type"] == "http.response.debug")
        assert debug is not None and (debug["template"], debug["context"]) == ("page.html", ["greeting"])
    else:
        assert isinstance(raised, RuntimeError) and refused in str(raised), raised


# -- issue 21: a client that stops reading ------------------------------------------------------------
async def test_a_client_that_stopped_reading_leaves_the_send_waiting_until_the_app_cancels_it(
    timeline: Timeline,
) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        sending = asyncio.ensure_future(send({"type": "http.response.body", "body": b"x", "more_body": True}))
        assert (await receive())["type"] == "http.disconnect"  # the client left; the send still waits
        assert not sending.done()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending

    call = driver(app, timeline).start("POST", "/", stop_reading_after=1)
    stalled = await timeline.wait_for(lambda e: e.kind == "asgi.send.stalled", timeout=5.0, expected="a stalled send")
    assert (stalled["type"], stalled["more_body"]) == ("http.response.body", True)
    call.disconnect()
    assert await call.finished() is None
    assert sent(timeline, call.id) == [("http.response.start", None)]
    assert timeline.first(lambda e: e.kind == "asgi.send.cancelled") is not None


async def test_a_stalled_send_nobody_cancels_ends_in_oserror(timeline: Timeline) -> None:
    app, _ = app_that()
    call = AsgiDriver(app, timeline, timeout=TINY).start("POST", "/", stop_reading_after=1)
    raised = await call.finished(timeout=5.0)
    assert isinstance(raised, OSError) and "stopped reading" in str(raised), raised
    refused = timeline.first(lambda e: e.kind == "asgi.send.refused")
    assert refused is not None and refused["error"] == "OSError"
