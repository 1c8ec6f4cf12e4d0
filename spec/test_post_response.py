"""Post-response execution: a background task runs after the response is complete, never before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bgtasks_conformance import MUST, Harness, needs, requirement
from bgtasks_conformance.drive.asgi_driver import AsgiCall
from bgtasks_conformance.observe.events import assert_before, assert_task_order, ended, final_body, started, task_order
from bgtasks_conformance.observe.timeline import ExpectationFailed
from bgtasks_conformance.results.versions import expected
from bgtasks_conformance.target.contract import (
    ASGI_MIDDLEWARE,
    BASE_HTTP_MIDDLEWARE,
    LIVE_EVENT_GATE,
    MIDDLEWARE_PREFIXES,
    OWN_RESPONSE_LIVE,
    SEEDS,
    STARLETTE_RESPONSES,
    TEMPLATE_PATH,
)
from bgtasks_conformance.target.scenario import SYNC_FORMS

pytestmark = pytest.mark.anyio

HELD = {"id": "held", "gate": "held"}


async def response_complete_while_held(harness: Harness, *, prefix: str = "", form: str = "function",
                                       **plan: object) -> bytes:
    """Start a scenario whose one task holds on a gate; the response must complete meanwhile, the task then end."""
    call = harness.scenario([{**HELD, "form": form}], prefix=prefix, **plan)
    response = await call.response()
    await harness.wait_started("held")
    assert_before(harness.timeline, final_body(call.id), started("held"),
                  first_is="the final body chunk", then_is="the task's start")
    harness.open("held")
    finish = await harness.wait_finished("held")
    assert finish.kind == "task.end", (
        f"expected the held task to run to its end once released, saw it {finish.describe()} (a task cancelled "
        f"after the response is lost work); timeline:\n{harness.timeline.format()}")
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    return response.body


@requirement("POST-001", MUST)
@pytest.mark.parametrize("form", ["function", "async_function"])
async def test_no_task_starts_before_the_final_body(harness: Harness, form: str) -> None:
    """No background task starts before the final http.response.body message (more_body false) of its response has
    been sent.
    """
    call = harness.scenario([{"id": "first", "form": form}, {"id": "second", "form": form}])
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 200, f"expected 200, got {response}"
    for task in ("first", "second"):
        await harness.wait_finished(task)  # at once in process; a queue's worker runs them after the app call
        assert_before(harness.timeline, final_body(call.id), started(task),
                      first_is="the final body chunk", then_is=f"task {task!r} starting")


@requirement("POST-002", MUST)
@pytest.mark.parametrize("form", (*SYNC_FORMS[:1], "async_function"))
async def test_response_is_complete_while_a_task_runs(harness: Harness, form: str) -> None:
    """The client receives the complete response (status, headers and whole body) while a background task is still
    running.
    """
    call = harness.scenario([{**HELD, "form": form}])
    response = await call.response()
    await harness.wait_started("held")
    assert (response.status, response.header("content-type")) == (200, "application/json"), (
        f"expected 200 application/json, got {response}")
    assert response.json() == {"scheduled": ["held"]}, f"expected {{'scheduled': ['held']}}, got {response.text}"
    ended = harness.timeline.first(lambda e: e.kind == "task.end")
    assert ended is None, f"expected the task still running, saw {ended and ended.describe()}"
    harness.open("held")
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"


@requirement("POST-003", MUST)
async def test_streaming_response_completes_before_tasks(harness: Harness) -> None:
    """For a streaming response, no background task starts before the final chunk has been sent, and the client has
    every chunk while a task is still running.
    """
    body = await response_complete_while_held(harness, response={"kind": "stream", "chunks": 4})
    assert body == b"chunk-0\nchunk-1\nchunk-2\nchunk-3\n", f"expected the four chunks, saw {body!r}"


@requirement("POST-004", MUST)
async def test_file_response_completes_before_tasks(harness: Harness) -> None:
    """For a file response, no background task starts before the whole file has been sent, and the client has the
    file while a task is still running.
    """
    body = await response_complete_while_held(harness, response={"kind": "file", "chunks": 3})
    assert body == b"chunk-0\nchunk-1\nchunk-2\n", f"expected the file's three chunks, saw {body!r}"


STACKS = [
    pytest.param("", id="plain"),
    pytest.param(MIDDLEWARE_PREFIXES["base-http"], id="base-http", marks=needs(BASE_HTTP_MIDDLEWARE)),
    pytest.param(MIDDLEWARE_PREFIXES["pure-asgi"], id="pure-asgi", marks=needs(ASGI_MIDDLEWARE)),
]


@requirement("POST-005", MUST)
@pytest.mark.parametrize("kind", ["json", "stream", "file"])
@pytest.mark.parametrize("prefix", STACKS)  # variants named stack first (base-http-json): POST-005[base-http-*]
async def test_slow_final_send_holds_back_the_tasks(harness: Harness, kind: str, prefix: str) -> None:
    """When sending the final body chunk is slow, no background task starts until that send has returned."""
    send = harness.hold_final_send()
    call = harness.post(f"{prefix}/scenario", json={"tasks": [{"id": "after"}], "response": {"kind": kind}},
                        send_gate=send)
    await harness.wait(lambda e: e.kind == "send.held", "the final body send to be held")
    await harness.expect_none(started("after"), "task start while the final send is still in progress")
    send.open()
    await call.response()
    await harness.wait_finished("after")
    assert_before(harness.timeline, final_body(call.id), started("after"),
                  first_is="the final send returning", then_is="the task's start")


# The held task in both forms: only an async one can be interrupted by a cancellation (Starlette 0.20 cancelled the
# tasks behind BaseHTTPMiddleware after the response; a sync task in its worker thread ran on unharmed).
HELD_FORMS = [pytest.param("function", id="sync"), pytest.param("async_function", id="async")]


@requirement("POST-006", MUST)
@needs(BASE_HTTP_MIDDLEWARE)
@pytest.mark.parametrize("kind", ["json", "stream"])
@pytest.mark.parametrize("form", HELD_FORMS)
async def test_base_http_middleware_keeps_tasks_after_the_response(harness: Harness, kind: str, form: str) -> None:
    """With BaseHTTPMiddleware in the stack, no background task starts before the final body chunk has been sent,
    the client has the complete response while a task is still running, and a held task, sync or async, runs to its
    end once released: the middleware does not cancel it.
    """
    await response_complete_while_held(harness, prefix=MIDDLEWARE_PREFIXES["base-http"], response={"kind": kind},
                                       form=form)


@requirement("POST-007", MUST)
@needs(ASGI_MIDDLEWARE)
@pytest.mark.parametrize("kind", ["json", "stream"])
async def test_pure_asgi_middleware_keeps_tasks_after_the_response(harness: Harness, kind: str) -> None:
    """With pure ASGI middleware in the stack, no background task starts before the final body chunk has been sent,
    and the client has the complete response while a task is still running.
    """
    await response_complete_while_held(harness, prefix=MIDDLEWARE_PREFIXES["pure-asgi"], response={"kind": kind})


@requirement("POST-008", MUST)
@needs(SEEDS)
async def test_blocking_endpoint_makes_the_client_wait(harness: Harness) -> None:
    """Work done inside the endpoint, as in the send-report-blocking anti-pattern, ends before the response starts:
    the client waits for it.
    """
    call = harness.post("/send-report-blocking/thanos@titan.net")
    response, _ = await harness.complete(call)
    assert response.json() == {"message": "Report sent to thanos@titan.net"}, (
        f"expected {{'message': 'Report sent to thanos@titan.net'}}, got {response.text}")
    response_start = harness.timeline.first(lambda e: e.kind == "asgi.send" and e["call"] == call.id)
    for work in ("generate_report", "send_report_email"):
        end = await harness.wait(lambda e, w=work: e.kind == "task.end" and e["task"] == w, f"{work} to end")
        assert response_start is not None and end.seq < response_start.seq, (
            f"expected {work} to end before the response started, saw {end.describe()} after "
            f"{response_start and response_start.describe()}; timeline:\n{harness.timeline.format()}"
        )


@requirement("POST-009", MUST)
@needs(BASE_HTTP_MIDDLEWARE)
@pytest.mark.parametrize("kind", ["json", "stream"])
async def test_background_set_in_dispatch_runs_after_the_response(harness: Harness, kind: str) -> None:
    """A background task that a BaseHTTPMiddleware's dispatch() sets as response.background, after call_next has
    returned the response, runs once after the final body chunk has been sent.
    """
    task = "dispatch_background"
    call = harness.scenario([], prefix=MIDDLEWARE_PREFIXES["dispatch-background"], response={"kind": kind})
    response = await call.response()
    assert response.status == 200, f"expected 200, got {response}"
    raised = await call.finished()  # the app call returns only after the response's background has run
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    timeline = harness.timeline
    assert timeline.first(lambda e: e.kind == "task.add" and e["task"] == task) is not None, (
        f"expected dispatch() to set {task!r} as the response's background, saw no task.add; timeline:\n"
        f"{timeline.format()}")
    runs = [e.kind for e in timeline.select(lambda e: e.kind.startswith("task.") and e.get("task") == task)
            if e.kind != "task.add"]
    assert runs == ["task.start", "task.end"], (
        f"expected {task!r}, set in dispatch() after call_next, to run once after the response, saw "
        f"{runs or 'it never start (dropped silently)'}; timeline:\n{timeline.format()}")
    assert_before(timeline, final_body(call.id), started(task), first_is="the final body chunk",
                  then_is=f"{task!r} starting")


# -- issue 21 ----------------------------------------------------------------------------------------
KINDS = ["json", "stream", "file"]


@requirement("POST-010", MUST)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prefix", STACKS)
async def test_tasks_do_not_wait_for_a_keep_alive_client_to_leave(harness: Harness, kind: str, prefix: str) -> None:
    """The background tasks of a plain, streaming or file response start once its final body chunk has been sent,
    without waiting for the client to leave: a keep-alive client, to which the server answers http.disconnect only
    when it closes the connection, gets the tasks run while it stays.
    """
    call = harness.post(f"{prefix}/scenario", json={"tasks": [{"id": "after"}], "response": {"kind": kind}},
                        keep_alive=True)
    await call.response()
    try:
        await harness.timeline.wait_for(ended("after"), timeout=harness.timeouts.wait, expected="")
    except ExpectationFailed:
        raise ExpectationFailed(
            f"expected task 'after' to run once the final body of the {kind} response was sent, while the "
            f"keep-alive client stays connected; saw it not end within {harness.timeouts.wait:g}s: the tasks wait "
            f"for the client to leave (http.disconnect), which a keep-alive client does only when it closes the "
            f"connection\n{call.where_waiting() or ''}\ntimeline:\n{harness.timeline.format()}") from None
    assert_before(harness.timeline, final_body(call.id), started("after"),
                  first_is="the final body chunk", then_is="the task's start")
    left = harness.timeline.first(lambda e: e.kind == "client.disconnect")
    assert left is None, f"expected the client still connected, saw {left and left.describe()}"
    call.disconnect()  # the client closes its connection: an app still listening may end now
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"


ASGI_2_4 = "2.4"  # send() raises OSError once the client has left
FILE_OR_STREAM = {"stream": {"kind": "stream", "chunks": 3}, "file": {"kind": "file", "chunks": 3}}


@requirement("POST-011", MUST)
@pytest.mark.parametrize("kind", list(FILE_OR_STREAM))
async def test_asgi_2_4_response_read_to_its_end_runs_its_tasks(harness: Harness, kind: str) -> None:
    """Under a server of ASGI spec 2.4, whose send() raises OSError once the client has left, a streaming or file
    response that the client reads to its end is sent whole, and its background tasks run after its final body
    chunk.
    """
    call = harness.post("/scenario", json={"tasks": [{"id": "first"}, {"id": "second", "form": "async_function"}],
                                           "response": FILE_OR_STREAM[kind]}, spec_version=ASGI_2_4)
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.body == b"chunk-0\nchunk-1\nchunk-2\n", f"expected the three chunks, got {response.body!r}"
    await harness.wait_finished("second")  # at once in process; a queue's worker runs them after the app call
    assert_task_order(harness.timeline, ["first", "second"], "end")
    assert_before(harness.timeline, final_body(call.id), started("first"),
                  first_is="the final body chunk", then_is="the first task's start")


async def leave_after_the_start(harness: Harness, kind: str) -> tuple[BaseException | None, Any]:
    """Under ASGI 2.4, the client leaves once it has the response start: what the app call raised, and the start of
    the task 'lost' if it started."""
    call = harness.post("/scenario", json={"tasks": [{"id": "lost"}], "response": FILE_OR_STREAM[kind]},
                        spec_version=ASGI_2_4, leave_after_messages=1)
    raised = await call.finished()
    if raised is None:  # returned: a task still running would end soon (a queue's worker, a detached task)
        try:
            await harness.timeline.wait_for(ended("lost"), timeout=harness.timeouts.wait, expected="")
        except ExpectationFailed:
            pass
    return raised, harness.timeline.first(ended("lost"))


@requirement("POST-012", MUST)
@pytest.mark.parametrize("kind", list(FILE_OR_STREAM))
async def test_asgi_2_4_client_leaving_mid_response_loses_nothing_silently(
    harness: Harness, kind: str, observe: Callable[[str, Any], None]
) -> None:
    """Under a server of ASGI spec 2.4, when the client leaves in the middle of a streaming or file response, no
    background task is lost silently: each task runs to its end, or else the app call raises, so that the server sees
    the failure.
    """
    raised, ended_at = await leave_after_the_start(harness, kind)
    observe(f"after-leaving[{kind}]", f"call {'returned' if raised is None else f'raised {type(raised).__name__}'}, "
                                      f"task {'ended' if ended_at else 'not run'}")
    assert raised is not None or ended_at is not None, (
        f"expected the task to run to its end, or else the app call to raise, when the client leaves a {kind} response "
        f"under ASGI 2.4 (its send raises OSError); saw the app call return as if all was well and the task never "
        f"end; timeline:\n{harness.timeline.format()}")


def raised_as(raised: BaseException | None, name: str) -> bool:
    """``raised`` is the exception an era names: ``ExceptionGroup`` is a group holding the send's OSError."""
    if name == "ExceptionGroup":
        return isinstance(raised, BaseExceptionGroup) and any(isinstance(e, OSError) for e in raised.exceptions)
    return raised is not None and type(raised).__name__ == name


@requirement("POST-014", MUST)
@needs(STARLETTE_RESPONSES)
@pytest.mark.parametrize("kind", list(FILE_OR_STREAM))
async def test_asgi_2_4_client_leaving_raises_as_starlette_does(
    harness: Harness, kind: str, record_era: Callable[[str, Any], None]
) -> None:
    """Under a server of ASGI spec 2.4, when the client leaves in the middle of a Starlette streaming or file response,
    the app call raises the exception the installed Starlette release raises there, and the response's tasks do not
    run.
    """
    era = expected("POST-014", "starlette")
    record_era("starlette", era)
    raised, _ = await leave_after_the_start(harness, kind)
    ran = harness.timeline.first(started("lost"))
    assert raised_as(raised, era[kind]) and ran is None, (
        f"expected the client leaving after the response start of a {kind} response under ASGI 2.4 to make the app "
        f"call raise {era[kind]} and the task not to run ({era['expect']}); saw the app call "
        f"{'return' if raised is None else f'raise {raised!r}'} and the task "
        f"{'run' if ran is not None else 'not run'}; timeline:\n{harness.timeline.format()}")


@requirement("POST-013", MUST)
@needs(BASE_HTTP_MIDDLEWARE)
async def test_dispatch_answering_its_own_response_keeps_the_endpoints_tasks(harness: Harness) -> None:
    """When a BaseHTTPMiddleware's dispatch() awaits call_next and then returns a response of its own instead, the
    client receives that response, and the background tasks of the endpoint's discarded response still run, each
    once, in order, after the final body chunk.
    """
    tasks = [{"id": "first", "form": "async_function"}, {"id": "second", "form": "function"}]
    call = harness.scenario(tasks, prefix=MIDDLEWARE_PREFIXES["own-response"])
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.json() == {"replaced": True}, f"expected dispatch()'s own {{'replaced': true}}, got {response}"
    timeline = harness.timeline
    try:  # at once in process; a queue's worker runs them after the app call
        await timeline.wait_for(ended("second"), timeout=harness.timeouts.wait, expected="")
    except ExpectationFailed:
        pass  # said below, with what did run
    assert task_order(timeline, "end") == ["first", "second"], (
        f"expected the endpoint's tasks ['first', 'second'] to run to their end, in order, though dispatch() "
        f"answered another response; saw {task_order(timeline, 'end') or 'none end'}; timeline:\n{timeline.format()}")
    assert_task_order(timeline, ["first", "second"])
    assert_before(timeline, final_body(call.id), started("first"),
                  first_is="the final body chunk", then_is="the first task's start")


@requirement("POST-015", MUST)
@pytest.mark.parametrize("prefix", STACKS)
async def test_a_file_sent_by_path_is_complete_before_its_tasks(harness: Harness, prefix: str) -> None:
    """Under a server that offers the http.response.pathsend extension, a file response is complete, whole, before any
    of its background tasks starts, whether the file goes by path or as a body, with or without middleware in the
    stack.
    """
    call = harness.post(f"{prefix}/scenario", json={"tasks": [{"id": "after"}], "response": {"kind": "file",
                                                                                            "chunks": 3}},
                        pathsend=True)
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.body == b"chunk-0\nchunk-1\nchunk-2\n", f"expected the file's three chunks, got {response.body!r}"
    await harness.wait_finished("after")
    assert_before(harness.timeline, final_body(call.id), started("after"),
                  first_is="the file's final message (by path or as a body)", then_is="the task's start")


@requirement("POST-016", MUST)
@needs(BASE_HTTP_MIDDLEWARE)
async def test_middleware_passes_a_template_pages_debug_message_first_and_its_task_runs_after(
        harness: Harness) -> None:
    """A BaseHTTPMiddleware passes a response's extension messages on: a template page (Starlette's Jinja2Templates)
    behind it, under a server offering the http.response.debug extension, reaches the server with its debug message
    (the template and its context) first, then the response start and the whole page; its background task runs
    after the final body chunk."""
    call = harness.start("GET", TEMPLATE_PATH, debug=True)
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    timeline = harness.timeline
    sent = timeline.select(lambda e: e.kind == "asgi.send" and e["call"] == call.id)
    kinds = [e["type"] for e in sent]
    assert kinds[:2] == ["http.response.debug", "http.response.start"], (
        f"expected the page's http.response.debug message first, then its response start; saw the messages {kinds}; "
        f"timeline:\n{timeline.format()}")
    debug = sent[0]
    assert (debug["template"], debug["context"]) == ("page.html", ["greeting", "request"]), (
        f"expected the debug message to name the template 'page.html' and its context ['greeting', 'request'], "
        f"saw template {debug['template']!r} and context {debug['context']}")
    assert (response.status, response.body) == (200, b"<p>hello</p>"), (
        f"expected 200 with the page b'<p>hello</p>', got {response}")
    await harness.wait_finished("template_task")
    assert task_order(timeline) == ["template_task"], (
        f"expected the page's one task to run once, saw {task_order(timeline)}; timeline:\n{timeline.format()}")
    assert_before(timeline, final_body(call.id), started("template_task"),
                  first_is="the page's final body chunk", then_is="its task's start")


# -- A client that leaves a response that still waits for it: the response ends and its tasks run (raw ASGI tier).
# The raw driver advertises the ASGI spec version each test names. Under 2.3 a server answers http.disconnect from
# receive() when the client leaves, and nothing says when a send() to a client that stopped reading returns:
# Starlette listens for the disconnect while it sends, and cancels the send.
PAIR = [{"id": "first", "form": "function"}, {"id": "second", "form": "async_function"}]
PAIR_ORDER = [task["id"] for task in PAIR]


async def tasks_end(harness: Harness, call: AsgiCall, expected: str) -> None:
    """Wait for the last task to end; else fail with ``expected`` and what ran, where the app waits, the timeline."""
    __tracebackhide__ = True
    try:
        await harness.timeline.wait_for(ended(PAIR_ORDER[-1]), timeout=harness.timeouts.wait, expected="")
    except ExpectationFailed:
        raise ExpectationFailed(
            f"{expected}; saw {task_order(harness.timeline, 'end') or 'no task'} end within "
            f"{harness.timeouts.wait:g}s and the app call {'ended' if call.task.done() else 'still running'}"
            f"\n{call.where_waiting() or ''}\ntimeline:\n{harness.timeline.format()}") from None
    assert_task_order(harness.timeline, PAIR_ORDER, "end")


@requirement("POST-018", MUST)
@pytest.mark.parametrize("kind", ["stream", "file"])
async def test_a_client_that_stops_reading_then_leaves_does_not_strand_the_tasks(harness: Harness, kind: str) -> None:
    """Under a server of ASGI spec 2.3 whose send() waits while the client does not read and is not woken when the
    client leaves, a client that reads the start of a streaming or file response, stops reading and then leaves
    (receive() answers http.disconnect) does not strand the response's background tasks: the response ends and its
    tasks run, in order.
    """
    call = harness.post("/scenario", json={"tasks": PAIR, "response": {"kind": kind, "chunks": 3}},
                        spec_version="2.3", stop_reading_after=1)
    stalled = await harness.wait(lambda e: e.kind == "asgi.send.stalled" and e["call"] == call.id,
                                 "the first body send to wait (the client stopped reading after the response start)")
    assert harness.timeline.first(ended()) is None, f"expected no task to end before the client left, saw {stalled}"
    call.disconnect()
    await tasks_end(harness, call, (
        f"expected the {kind} response to end once the client left (receive() answering http.disconnect), though "
        f"its send {stalled.describe()} still waits, and its tasks {PAIR_ORDER} then to run in order: a response that "
        f"waits only for its send strands its tasks"))
    raised = await call.finished()
    assert raised is None, f"expected the app call to return once the tasks ran, saw it raise {raised!r}"


# The live stream learns that the client left in Starlette's own listening (ASGI 2.3, no event ever comes), or by
# asking request.is_disconnected() before its next event (ASGI 2.4: Starlette does not listen; one event comes).
# The client stays (keep-alive), or the server answers http.disconnect once the response is complete (as uvicorn does
# on a connection that closes): then the endpoint learns it from the server and the middleware at the same moment.
LIVE = [pytest.param("2.3", True, False, id="asgi-2.3-listening"),
        pytest.param("2.3", False, False, id="asgi-2.3-listening-closing"),
        pytest.param("2.4", True, True, id="asgi-2.4-next-event")]


@requirement("POST-019", MUST)
@needs(BASE_HTTP_MIDDLEWARE)
@pytest.mark.parametrize(("spec_version", "keep_alive", "event"), LIVE)
async def test_an_endpoint_behind_a_replaced_response_is_told_the_client_left(
    harness: Harness, spec_version: str, keep_alive: bool, event: bool
) -> None:
    """Behind a BaseHTTPMiddleware whose dispatch() answered a response of its own, an endpoint whose live stream
    still waits for its client is told that the client left (receive() answers http.disconnect) once that response
    has been sent, so that the stream ends and its background tasks run, even while a keep-alive client stays
    connected, whether the stream waits in Starlette's own listening (ASGI spec 2.3) or asks request.is_disconnected()
    before its next event (ASGI spec 2.4).
    """
    call = harness.post(OWN_RESPONSE_LIVE, json={"tasks": PAIR}, keep_alive=keep_alive, spec_version=spec_version)
    response = await call.response()
    assert response.json() == {"replaced": True}, f"expected dispatch()'s own {{'replaced': true}}, got {response}"
    added = [e["task"] for e in harness.timeline.select(lambda e: e.kind == "task.add")]
    assert added == PAIR_ORDER, (
        f"expected the endpoint behind dispatch() to schedule {PAIR_ORDER} before dispatch() answered, saw "
        f"{added or 'none'}: dispatch() answers whatever the endpoint did, so a target without "
        f"POST {OWN_RESPONSE_LIVE} (contract version 4, CONTRACT.md section 17) looks like this")
    if event:
        harness.open(LIVE_EVENT_GATE)  # the next event comes once dispatch()'s response was sent
    how = ("asked request.is_disconnected() before its next event" if event
           else "waits for the next event while Starlette's StreamingResponse listens for http.disconnect")
    client = "a keep-alive client that stays" if keep_alive else "a server that answers http.disconnect then"
    await tasks_end(harness, call, (
        f"expected the endpoint's live stream, which {how}, to be told the client left (http.disconnect) once "
        f"dispatch()'s own response was sent (ASGI spec {spec_version}, {client}), so that it ends and its tasks "
        f"{PAIR_ORDER} run in order"))
    left = harness.timeline.first(lambda e: e.kind == "client.disconnect")
    assert left is None, f"expected the client still connected, saw {left and left.describe()}"
    call.disconnect()
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
