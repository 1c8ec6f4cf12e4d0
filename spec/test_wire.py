"""The wire tier: the requirements that concern the wire, under real servers (uvicorn, hypercorn) on loopback.

Every test runs once per server. The client is httpx over TCP; the server-side events (``app.call``,
``asgi.send``, ``app.return``/``app.error``) are recorded between the server and the app under the
request's number (``bgtasks_conformance.drive.wire``), so the order of what the server was handed and what the
tasks did is asserted as in the raw-ASGI tier, and what the client received is what went over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from bgtasks_conformance import MAY, MUST, needs, requirement, wire_tier
from bgtasks_conformance.drive.servers import SERVER_LOGGERS
from bgtasks_conformance.drive.wire import Wire, client_response, messages_of, request_id
from bgtasks_conformance.observe.chains import wrapping
from bgtasks_conformance.observe.events import assert_before, errored, final_body, finished, started
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed
from bgtasks_conformance.target.contract import BASE_HTTP_MIDDLEWARE, MIDDLEWARE_PREFIXES
from bgtasks_conformance.target.scenario import ASYNC_FORMS, SYNC_FORMS

pytestmark = [pytest.mark.anyio, wire_tier]

Observe = Callable[[str, Any], None]
FORMS = ["function", "async_function"]
BODIES = {
    "json": b'{"scheduled":["boom"]}',
    "stream": b"chunk-0\nchunk-1\nchunk-2\n",
    "file": b"chunk-0\nchunk-1\nchunk-2\n",
}
MIXED = [form for pair in itertools.zip_longest(SYNC_FORMS, ASYNC_FORMS) for form in pair if form]
# The plain route, and the same behind BaseHTTPMiddleware (which re-streams the response from a task of its own).
STACKS = [pytest.param("", id="plain"),
          pytest.param(MIDDLEWARE_PREFIXES["base-http"], id="base-http", marks=needs(BASE_HTTP_MIDDLEWARE))]


def show(wire: Wire) -> str:
    return f"under {wire.kind}; timeline:\n{wire.timeline.format()}"


async def complete_while_held(wire: Wire, form: str = "function", **plan: Any) -> httpx.Response:
    """One task holds on a gate: the client has the whole response meanwhile, and the server was handed
    the final body before the task started; then the task runs to its end and the app call returns."""
    response = await wire.scenario([{"id": "held", "form": form, "gate": "held"}], **plan)
    call = request_id(response)
    ended = wire.timeline.first(finished("held"))
    assert ended is None, f"the task had finished before the client had the response: {ended.describe()}; {show(wire)}"
    assert response.status_code == 200, f"expected status 200, saw {response.status_code}: {response.text}"
    await wire.harness.wait_started("held")
    assert_before(wire.timeline, final_body(call), started("held"),
                  first_is=f"the final body of request {call} handed to the server", then_is="the task's start")
    wire.harness.open("held")
    assert (await wire.harness.wait_finished("held")).kind == "task.end", f"the task did not end; {show(wire)}"
    assert (await wire.call_ended(response)).kind == "app.return", f"the app call raised; {show(wire)}"
    return response


@requirement("POST-002", MUST)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefix", STACKS)
async def test_client_has_the_whole_response_while_a_task_is_held(wire: Wire, form: str, prefix: str) -> None:
    """The client receives the complete response (status, headers and whole body) while a background task is still
    running.
    """
    response = await complete_while_held(wire, form, prefix=prefix)
    assert response.headers.get("content-type") == "application/json", f"headers: {dict(response.headers)}"
    assert response.json() == {"scheduled": ["held"]}, f"body: {response.content!r}"


@requirement("POST-003", MUST)
async def test_client_has_every_chunk_while_a_task_is_held(wire: Wire) -> None:
    """For a streaming response, no background task starts before the final chunk has been sent, and the client has
    every chunk while a task is still running.
    """
    response = await complete_while_held(wire, response={"kind": "stream", "chunks": 4})
    assert response.content == b"chunk-0\nchunk-1\nchunk-2\nchunk-3\n", f"body: {response.content!r}"


@requirement("POST-004", MUST)
async def test_client_has_the_file_while_a_task_is_held(wire: Wire) -> None:
    """For a file response, no background task starts before the whole file has been sent, and the client has the
    file while a task is still running.
    """
    response = await complete_while_held(wire, "async_function", response={"kind": "file", "chunks": 3})
    assert response.content == BODIES["file"], f"body: {response.content!r}"


# -- a failing task ---------------------------------------------------------------------------------
async def fail_after_response(wire: Wire, *, form: str = "function", kind: str = "json",
                              fail: str = "error", prefix: str = "") -> tuple[httpx.Response, BaseException, Event]:
    """Task 'boom' holds until the client has the whole response, then raises; the app call ends.

    Returns the response, what the task raised, and how the app call ended (``app.return``/``app.error``).
    """
    response = await wire.scenario([{"id": "boom", "form": form, "gate": "boom", "fail": fail}],
                                   response={"kind": kind}, prefix=prefix)
    assert wire.timeline.first(finished("boom")) is None, f"'boom' finished before the response arrived; {show(wire)}"
    assert (response.status_code, response.content) == (200, BODIES[kind]), (
        f"expected status 200 and body {BODIES[kind]!r} while 'boom' was held, saw {response.status_code} "
        f"{response.content!r}"
    )
    await wire.harness.wait_started("boom")
    wire.harness.open("boom")
    error = (await wire.harness.wait(errored("boom"), "task 'boom' to raise"))["exception"]
    return response, error, await wire.call_ended(response)


def causes(error: BaseException | None) -> Iterator[BaseException]:
    """``error``, what it was raised from or while handling, and what an exception group holds: every
    exception whose traceback a log record of ``error`` shows."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending += [error.__cause__, error.__context__]
        if isinstance(error, BaseExceptionGroup):
            pending += list(error.exceptions)


def logged_by_the_app(caplog: pytest.LogCaptureFixture, error: BaseException) -> bool:
    """An ERROR record with a traceback that carries ``error``, from a logger other than the servers'."""
    return any(record.levelno >= logging.ERROR and record.exc_info and error in causes(record.exc_info[1])
               for record in caplog.records if record.name not in SERVER_LOGGERS.values())


@requirement("ERR-001", MUST)
@pytest.mark.parametrize("kind", ["json", "stream"])
@pytest.mark.parametrize("form", FORMS)
async def test_failing_task_leaves_the_response_intact(wire: Wire, form: str, kind: str) -> None:
    """When a background task raises, the response the client already has is unchanged: the same status,
    the same headers and the complete body, with no message sent after it."""
    response, _, _ = await fail_after_response(wire, form=form, kind=kind)
    assert response.headers.get("content-type"), f"no content-type header: {dict(response.headers)}"
    call = request_id(response)
    sent = messages_of(wire.timeline, call)
    final = next((e for e in sent if final_body(call)(e)), None)
    starts = [e for e in sent if e["type"] == "http.response.start"]
    late = [e.describe() for e in sent if final is None or e.seq > final.seq]
    assert final is not None and len(starts) == 1 and not late, (
        f"request {call}: expected one http.response.start and nothing after the final body, saw {len(starts)} "
        f"start(s) and after the final body {late}; {show(wire)}"
    )


@requirement("ERR-002", MUST)
@pytest.mark.parametrize("form", FORMS)
async def test_task_error_reaches_the_server(
    wire: Wire, caplog: pytest.LogCaptureFixture, observe: Observe, form: str
) -> None:
    """An exception raised by a background task is never silently lost: it propagates out of the ASGI
    application unchanged (the very exception object, not wrapped), or the application logs it at ERROR
    level with its traceback."""
    _, error, ended = await fail_after_response(wire, form=form)
    propagated = ended.kind == "app.error" and ended["exception"] is error
    surfaced = "propagated" if propagated else "logged" if logged_by_the_app(caplog, error) else None
    observe(f"surfaced[{wire.kind} {form}]", surfaced)
    wrapped = wrapping(ended.get("exception"), error) if ended.kind == "app.error" else None
    how = f"left the app {wrapped}, not unchanged," if wrapped else "neither propagated unchanged"
    assert surfaced is not None, (
        f"the task's {error!r} {how} nor was logged by the app: the app call to {wire.kind} "
        f"ended with {ended.describe()} and the app logged nothing at ERROR with its traceback; {show(wire)}"
    )


def in_the_server_log(error: BaseException) -> Callable[[Event], bool]:
    return lambda e: (e.kind == "server.log" and e["level"] in ("ERROR", "CRITICAL") and e["has_traceback"]
                      and error in causes(e.get("exception")))


@requirement("WIRE-001", MUST)
@pytest.mark.parametrize("fail", ["error", "http_exception"])
@pytest.mark.parametrize("prefix", STACKS)
async def test_task_error_is_in_the_error_log(
    wire: Wire, caplog: pytest.LogCaptureFixture, observe: Observe, fail: str, prefix: str
) -> None:
    """When a background task raises under a real server, its exception appears in the error log at ERROR level
    with its traceback, written by the server or by the application: a failing task is never lost silently."""
    _, error, _ = await fail_after_response(wire, fail=fail, prefix=prefix)
    if logged_by_the_app(caplog, error):
        observe(f"logged_by[{wire.kind} {prefix}{fail}]", "application")
        return
    event = await wire.harness.wait(in_the_server_log(error), f"the task's {error!r} in {wire.kind}'s error log at "
                                    "ERROR with its traceback (the application did not log it)")
    observe(f"logged_by[{wire.kind} {prefix}{fail}]", f"{event['logger']}: {event['message'].splitlines()[0]}")


@requirement("ERR-009", MUST)
@pytest.mark.parametrize("fail", ["error", "http_exception"])
async def test_server_keeps_serving_after_a_failure(wire: Wire, fail: str) -> None:
    """After a background task has raised, the application keeps serving: later requests get their
    complete responses and their background tasks run."""
    await fail_after_response(wire, fail=fail)
    later = [("function", "json", b'{"scheduled":["later-0"]}'), ("async_function", "stream", BODIES["stream"]),
             ("lambda", "file", BODIES["file"])]
    for n, (form, kind, body) in enumerate(later):
        task = f"later-{n}"
        response = await wire.scenario([{"id": task, "form": form}], response={"kind": kind})
        assert (response.status_code, response.content) == (200, body), (
            f"later request {n} ({kind}) to {wire.kind} got {response.status_code} {response.content!r}"
        )
        assert (await wire.harness.wait_finished(task)).kind == "task.end", f"{task!r} did not end; {show(wire)}"
        assert (await wire.call_ended(response)).kind == "app.return", f"request {n} raised; {show(wire)}"


@requirement("WIRE-002", MAY)
async def test_failure_spares_the_next_request_on_the_connection(wire: Wire, observe: Observe) -> None:
    """When a background task raises, a request the client has already sent on the same keep-alive connection
    still gets its complete response, and its task runs."""
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield b'{"tasks": [{"id": "next"}]'
        await release.wait()
        yield b"}"

    one_connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=wire.server.url, limits=one_connection) as client:
        first = await wire.scenario([{"id": "boom", "gate": "boom", "fail": "error"}], client=client)
        second = asyncio.ensure_future(wire.post("/scenario", content=held_body(), client=client,
                                                 headers={"content-type": "application/json"}))
        calls = await wire.timeline.wait_for_count(lambda e: e.kind == "app.call", 2, expected="the second request "
                                                   "to reach the app", timeout=wire.harness.timeouts.wait)
        same = calls[0]["client"] == calls[1]["client"]
        wire.harness.open("boom")
        if (await wire.call_ended(first)).kind == "app.error":  # the server handles it: logs, maybe closes
            await wire.harness.wait(lambda e: e.kind == "server.log", f"{wire.kind} to log the task's error")
        release.set()
        try:
            response = await second
            outcome = f"answered {response.status_code}"
        except ExpectationFailed as error:
            outcome = str(error).split(";")[0]
    observe(f"next_request_on_the_connection[{wire.kind}]", f"same connection: {same}; {outcome}")
    assert same, f"the client did not reuse its connection: {calls[0]['client']} then {calls[1]['client']}"
    assert outcome == "answered 200", f"under {wire.kind}, {outcome}"
    await wire.harness.wait_finished("next")


# -- sync tasks and other requests ------------------------------------------------------------------
def gate_waiting(gate: str) -> Callable[[Event], bool]:
    return lambda e: e.kind == "gate.wait" and e["gate"] == gate


@requirement("SYNC-003", MUST)
@pytest.mark.parametrize("form", ["function", "callable_object"])
async def test_server_answers_while_a_sync_task_runs(wire: Wire, form: str) -> None:
    """While a plain def task is running, the app still answers other requests completely."""
    await wire.scenario([{"id": "held", "form": form, "gate": "held"}])
    await wire.harness.wait(gate_waiting("held"), "the sync task to hold on its gate")
    second = await wire.scenario([{"id": "other", "form": "async_function"}])
    assert second.json() == {"scheduled": ["other"]}, f"the second response: {second.content!r}"
    await wire.harness.wait_finished("other")
    assert (await wire.call_ended(second)).kind == "app.return", f"the second request raised; {show(wire)}"
    wire.harness.open("held")
    await wire.harness.wait_finished("held")
    assert_before(wire.timeline, client_response(request_id(second)), finished("held"),
                  first_is="the client's second complete response", then_is="the held sync task finishing")


# -- order and exactly once, per request --------------------------------------------------------------
async def concurrent_requests(wire: Wire, count: int = 3) -> dict[str, list[str]]:
    """``count`` requests at once, each with one task of every form (sync and async alternating);
    each request's task ids by request, once every call has returned."""
    plans = {f"r{r}": [f"r{r}-t{k}-{form}" for k, form in enumerate(MIXED[r:] + MIXED[:r])] for r in range(count)}
    responses = await asyncio.gather(*(
        wire.scenario([{"id": task, "form": task.rsplit("-", 1)[1]} for task in tasks]) for tasks in plans.values()
    ))
    for response, tasks in zip(responses, plans.values(), strict=True):
        assert response.json() == {"scheduled": tasks}, f"{response.status_code} {response.content!r}"
    for response in responses:
        await wire.call_ended(response)
    return plans


def seen(wire: Wire, kind: str, prefix: str) -> list[str]:
    return [e["task"] for e in wire.timeline.select(lambda e: e.kind == f"task.{kind}")
            if e["task"].startswith(f"{prefix}-")]


@requirement("ORDER-001", MUST)
async def test_each_request_runs_its_tasks_in_order(wire: Wire) -> None:
    """The tasks of one response run in the order they were added, whatever mix of sync and async callables
    they are."""
    for request, tasks in (await concurrent_requests(wire)).items():
        assert seen(wire, "start", request) == tasks, (
            f"request {request}: expected the tasks to start in the order added:\n  {tasks}\nsaw\n"
            f"  {seen(wire, 'start', request)}\n{show(wire)}"
        )


@requirement("ORDER-003", MUST)
async def test_each_task_of_each_request_runs_once(wire: Wire) -> None:
    """Each added task runs exactly once."""
    plans = await concurrent_requests(wire)
    last = wire.timeline.events[-1]
    await wire.harness.expect_none(lambda e: e.kind == "task.start" and e.seq > last.seq,
                                   "a task starting after every request's call had returned")
    for request, tasks in plans.items():
        for kind in ("start", "end"):
            counts = {task: seen(wire, kind, request).count(task) for task in tasks}
            wrong = {task: n for task, n in counts.items() if n != 1}
            assert not wrong, f"request {request}: task.{kind} not exactly once: {wrong}; {show(wire)}"
