"""Failure messages an implementer can act on: each says what was seen, where, and what to do."""

from __future__ import annotations

import json
import textwrap

import pytest

from bgtasks_conformance.drive.served import held_after_serving
from bgtasks_conformance.observe.chains import wrapped_in, wrapping
from bgtasks_conformance.observe.timeline import Timeline
from bgtasks_conformance.results.outcomes import shorten

from .conftest import RunPytest


# -- a task's exception, wrapped -------------------------------------------------------------------
def raise_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        raise outer from inner
    except BaseException as error:
        return error


def test_a_wrapped_exception_is_found_and_described() -> None:
    task_error = ValueError("boom")
    by_cause = raise_from(RuntimeError("after the response"), task_error)
    assert wrapped_in(by_cause, task_error) == "__cause__"
    assert wrapping(by_cause, task_error) == (
        "wrapped in RuntimeError('after the response') (the task's exception is its __cause__)")
    twice = raise_from(KeyError("outer"), by_cause)
    assert wrapped_in(twice, task_error) == "__cause__.__cause__"
    grouped = ExceptionGroup("unhandled errors in a TaskGroup", [KeyError("other"), task_error])
    assert wrapped_in(grouped, task_error) == "exceptions[1]"
    try:
        try:
            raise task_error
        except ValueError:
            raise LookupError("while handling") from None
    except LookupError as error:
        suppressed = error
    assert wrapped_in(suppressed, task_error) == "__context__"


@pytest.mark.parametrize("outer", [None, "itself", "unrelated"])
def test_an_exception_that_is_not_wrapped_is_not_called_wrapped(outer: str | None) -> None:
    task_error = ValueError("boom")
    raised = {None: None, "itself": task_error, "unrelated": RuntimeError("other")}[outer]
    assert wrapped_in(raised, task_error) is None and wrapping(raised, task_error) is None


# -- a server that finished serving --------------------------------------------------------------
def test_a_server_held_by_its_default_executor_is_named_so() -> None:
    timeline = Timeline()
    timeline.record("task.add", task="held")
    timeline.record("task.start", task="held", thread_name="asyncio_0")
    assert held_after_serving(timeline, "uvicorn") is None  # still serving: nothing to say yet
    served = timeline.record("server.served", server="uvicorn")
    assert held_after_serving(timeline, "uvicorn") == (
        f"uvicorn finished serving at [{served.seq}] (its serve() returned), but the process it runs in could not "
        "exit: closing its event loop waits for the loop's default executor, as asyncio.run() does at exit; still "
        "running there: task 'held' (thread asyncio_0), run with loop.run_in_executor(None, ...) (the loop's default "
        "executor); a sync task run in the loop's default executor holds the server's shutdown until it ends")
    timeline.record("server.stopped", server="uvicorn")
    assert held_after_serving(timeline, "uvicorn") is None


# -- long messages in the reports ------------------------------------------------------------------
def test_a_long_message_keeps_the_sentence_the_hint_and_the_timelines_tail() -> None:
    events = [f"    [{n}] task.start task='t{n}'" for n in range(1, 201)]
    text = ("expected uvicorn to stop; saw it still running; timeline:\n" + "\n".join(events)
            + "\nrequest 3 (/scenario): the app is waiting in receive() since [7]")
    short = shorten(text, 1500)
    assert len(short) <= 1500
    assert short.startswith("expected uvicorn to stop; saw it still running; timeline:\n    ... ")
    assert "earlier timeline lines left out\n" in short
    assert short.endswith("    [200] task.start task='t200'\nrequest 3 (/scenario): the app is waiting in receive() "
                          "since [7]")
    assert "[1] task.start" not in short


def test_a_short_message_is_left_whole_and_one_without_a_timeline_keeps_both_ends() -> None:
    assert shorten("expected a; saw b", 1500) == "expected a; saw b"
    text = "expected " + "x" * 3000 + " the end"
    short = shorten(text, 1500)
    assert short.startswith("expected xxx") and short.endswith("x the end") and "characters left out" in short
    assert len(short) <= 1500


# -- end to end: what a target sees -----------------------------------------------------------------
WAITS_FOR_A_MESSAGE = '''
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


class WaitsBeforeTheEnd:
    """Before it passes on the final body chunk, waits for a message from the client, which never comes."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        streaming = False

        async def sending(message):
            nonlocal streaming
            if message["type"] == "http.response.start":
                streaming = (b"content-type", b"text/plain; charset=utf-8") in message["headers"]
            if streaming and message["type"] == "http.response.body" and not message.get("more_body", False):
                await receive()
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def create_app(env):
    async def scenario(request: Request):
        tasks = BackgroundTasks()
        plan = env.schedule(await request.json(), tasks.add_task)

        async def chunks():
            for chunk in plan.chunks:
                yield chunk

        if plan.response_kind == "stream":
            return StreamingResponse(chunks(), media_type="text/plain", background=tasks)
        return JSONResponse(plan.json_body(), background=tasks)

    return WaitsBeforeTheEnd(Starlette(routes=[Route("/scenario", scenario, methods=["POST"])]))


create_app.conformance_lacks = {name: "not here" for name in (
    "base-http-middleware", "asgi-middleware", "seed-endpoints", "sync-endpoint", "exception-handlers",
    "dependencies")}
'''


def test_a_stream_that_waits_in_receive_is_told_where_it_waits(scratch: pytest.Pytester, run_pytest: RunPytest) -> None:
    (scratch.path / "waits.py").write_text(textwrap.dedent(WAITS_FOR_A_MESSAGE))
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", "waits:create_app",
                        "-k", "POST-003", "--bgtasks-wait-timeout", "0.5", "--bgtasks-report", "report.json")
    assert result.ret != pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    entry = next(e for e in json.loads((scratch.path / "report.json").read_text())["requirements"]
                 if e["id"] == "POST-003")
    assert entry["outcome"] == "failed" and entry["messages"], entry
    for message in entry["messages"]:
        assert "the app is waiting in receive() since [" in message, message
        assert "with its response incomplete (no final body yet); the request body was sent whole" in message


def test_the_preflight_says_where_an_app_that_never_completes_its_response_waits(
    scratch: pytest.Pytester, run_pytest: RunPytest
) -> None:
    source = textwrap.dedent(WAITS_FOR_A_MESSAGE).replace('== "stream"', '!= "stream"')  # JSON waits too
    (scratch.path / "waits_always.py").write_text(source)
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "--bgtasks-target", "waits_always:create_app")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "  [[] ] tasks of /scenario report to the probe: env.schedule() added the task, but the response of POST "
        "/scenario never completed (no final http.response.body within 3s), and a task runs only after it; request "
        "* (/scenario): the app is waiting in receive() since *, with its response incomplete (no final body yet)*"])
