"""Error isolation: a task that raises cannot touch its response, is never lost, and harms no one else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bgtasks_conformance import MAY, MUST, AsgiCall, Harness, Response, needs, requirement
from bgtasks_conformance.observe.chains import causes, wrapping
from bgtasks_conformance.observe.events import assert_before, errored, finished, is_response_start, started
from bgtasks_conformance.target.contract import (
    ANY_CALLABLE,
    ASGI_MIDDLEWARE,
    BASE_HTTP_MIDDLEWARE,
    HANDLERS,
    MIDDLEWARE_PREFIXES,
)

pytestmark = pytest.mark.anyio

Observe = Callable[[str, Any], None]

HANDLERS_PREFIX = "/handlers"
FORMS = ["function", "async_function"]
BODIES = {
    "json": b'{"scheduled":["boom"]}',
    "stream": b"chunk-0\nchunk-1\nchunk-2\n",
}
STACKS = [
    pytest.param("", id="plain"),
    pytest.param(MIDDLEWARE_PREFIXES["base-http"], id="base-http", marks=needs(BASE_HTTP_MIDDLEWARE)),
    pytest.param(MIDDLEWARE_PREFIXES["pure-asgi"], id="pure-asgi", marks=needs(ASGI_MIDDLEWARE)),
    pytest.param(HANDLERS_PREFIX, id="handlers", marks=needs(HANDLERS)),
]
WITH_HANDLER = [STACKS[0], STACKS[3]]  # Starlette always has an HTTPException handler; /handlers has its own
HANDLED_ELSEWHERE = "Caught handled exception, but response already started."


@dataclass(frozen=True)
class Failure:
    call: AsgiCall
    before: Response  # what the client had when the task was let go
    error: BaseException  # what the task raised
    raised: BaseException | None  # what the app call raised


async def fail_after_response(
    harness: Harness, *, fail: str = "error", form: str = "function", prefix: str = "", kind: str = "json",
    after: tuple[dict[str, Any], ...] = (),
) -> Failure:
    """A task 'boom' holds until the client has the complete response, then raises; the call ends."""
    call = harness.scenario([{"id": "boom", "form": form, "gate": "boom", "fail": fail}, *after],
                            prefix=prefix, response={"kind": kind})
    before = await call.response()
    await harness.wait_started("boom")
    harness.open("boom")
    event = await harness.wait(errored("boom"), "task 'boom' to raise")
    return Failure(call, before, event["exception"], await call.finished())


def assert_response_kept(harness: Harness, call: AsgiCall, before: Response) -> None:
    """One response start, nothing sent after the final body, and the response as the client had it."""
    final = call.final_body_event()
    assert final is not None, (
        f"expected request {call.id} to complete, saw no final body; timeline:\n{harness.timeline.format()}")
    starts = harness.timeline.select(lambda e: is_response_start(e, call.id))
    sent = harness.timeline.select(lambda e: e.kind == "asgi.send" and e["call"] == call.id)
    late = [e for e in sent if e.seq > final.seq]
    assert len(starts) == 1 and not late, (
        f"request {call.id}: expected one http.response.start and nothing after the final body, saw "
        f"{len(starts)} start(s) and {len(late)} late message(s): "
        f"{[e.describe() for e in late]}; timeline:\n{harness.timeline.format()}"
    )
    after = call.assemble()
    assert after == before, f"expected the response the client had, {before}, saw {after}"


def assert_ended_cleanly(harness: Harness, call: AsgiCall, raised: BaseException | None) -> None:
    where = f"request {call.id} ({call.scope['path']})"
    assert raised is None, (
        f"expected {where} to end cleanly, saw it raise {raised!r}; timeline:\n{harness.timeline.format()}")


def how_surfaced(failure: Failure, caplog: pytest.LogCaptureFixture, *, chained: bool = False) -> str | None:
    """'propagated' (the app raised it), 'logged' (ERROR with its traceback) or None (lost)."""

    def holds(outer: BaseException | None) -> bool:
        return any(e is failure.error for e in causes(outer)) if chained else outer is failure.error

    if holds(failure.raised):
        return "propagated"
    errors = (r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info)
    return "logged" if any(holds(r.exc_info[1]) for r in errors if r.exc_info) else None


def lost(failure: Failure, harness: Harness) -> str:
    expected = (f"expected the task's {failure.error!r} to propagate out of the app call unchanged (the very "
                f"exception object) or be logged at ERROR with its traceback; ")
    timeline = f"; timeline:\n{harness.timeline.format()}"
    wrapped = wrapping(failure.raised, failure.error)
    if wrapped is not None:
        return (expected + f"saw it {wrapped} and nothing logged at ERROR: re-raise the task's exception itself, "
                f"or log it at ERROR with its traceback{timeline}")
    ending = "returned normally" if failure.raised is None else f"raised {failure.raised!r} instead"
    return expected + f"saw it lost: the app call {ending} and nothing was logged at ERROR{timeline}"


@requirement("ERR-001", MUST)
@pytest.mark.parametrize("prefix", STACKS)
@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize("form", FORMS)
async def test_failing_task_leaves_the_response_intact(
    harness: Harness, prefix: str, kind: str, form: str
) -> None:
    """When a background task raises, the response the client already has is unchanged: the same status,
    the same headers and the complete body, with no message sent after it."""
    failure = await fail_after_response(harness, form=form, prefix=prefix, kind=kind)
    assert (failure.before.status, failure.before.body) == (200, BODIES[kind]), (
        f"expected 200 {BODIES[kind]!r}, got {failure.before}")
    assert failure.before.header("content-type") is not None, f"expected a content-type, got {failure.before}"
    assert_response_kept(harness, failure.call, failure.before)


@requirement("ERR-002", MUST)
@pytest.mark.parametrize("prefix", STACKS)
@pytest.mark.parametrize("form", FORMS)
async def test_task_error_is_never_lost(
    harness: Harness, caplog: pytest.LogCaptureFixture, observe: Observe, prefix: str, form: str
) -> None:
    """An exception raised by a background task is never silently lost: it propagates out of the ASGI
    application unchanged (the very exception object, not wrapped), or the application logs it at ERROR
    level with its traceback."""
    failure = await fail_after_response(harness, form=form, prefix=prefix)
    surfaced = how_surfaced(failure, caplog)
    observe(f"surfaced[{prefix or '/'} {form}]", surfaced)
    assert surfaced is not None, lost(failure, harness)


@requirement("ERR-003", MUST)
@needs(HANDLERS)
@pytest.mark.parametrize("fail", ["error", "http_exception"])
@pytest.mark.parametrize("form", FORMS)
async def test_handler_response_never_reaches_the_client(harness: Harness, fail: str, form: str) -> None:
    """When a background task raises in an application with registered exception handlers, no handler's
    response reaches the client: the client's response is unchanged and no second http.response.start
    message is sent."""
    failure = await fail_after_response(harness, fail=fail, form=form, prefix=HANDLERS_PREFIX)
    assert failure.before.status == 200, f"expected 200, got {failure.before}"
    assert_response_kept(harness, failure.call, failure.before)


@requirement("ERR-004", MAY)
@needs(HANDLERS)
@pytest.mark.parametrize("fail", ["error", "http_exception"])
async def test_500_handler_sees_what_leaves_the_app(harness: Harness, observe: Observe, fail: str) -> None:
    """When a background task raises, the application's registered handler for Exception (500) is called
    once, with the exception that leaves the application, and a registered HTTPException handler is not
    called."""
    failure = await fail_after_response(harness, fail=fail, prefix=HANDLERS_PREFIX)
    calls = harness.timeline.select(lambda e: e.kind == "handler.called")
    observe(f"handlers_called[{fail}]", [[e["handler"], e["error"]] for e in calls])
    assert [(e["handler"], e["exception"]) for e in calls] == [("Exception", failure.raised)], (
        f"expected the Exception handler to be called once with {failure.raised!r} (what left the app); "
        f"saw {[e.describe() for e in calls]}; timeline:\n{harness.timeline.format()}"
    )


@requirement("ERR-005", MAY)
@pytest.mark.parametrize("form", FORMS)
async def test_remaining_tasks_do_not_run(harness: Harness, observe: Observe, form: str) -> None:
    """When a background task raises, the remaining tasks of the same response do not run."""
    after = ({"id": "after-sync"}, {"id": "after-async", "form": "async_function"})
    await fail_after_response(harness, form=form, after=after)
    ran = [e["task"] for e in harness.timeline.select(started()) if e["task"] != "boom"]
    observe(f"remaining_tasks_that_ran[{form}]", ran)
    assert ran == [], (
        f"expected no task to run after 'boom' raised, saw {ran} start; timeline:\n{harness.timeline.format()}")


@requirement("ERR-006", MUST)
@pytest.mark.parametrize("prefix", WITH_HANDLER)
@pytest.mark.parametrize("form", FORMS)
async def test_http_exception_in_a_task_is_no_response(
    harness: Harness, caplog: pytest.LogCaptureFixture, prefix: str, form: str
) -> None:
    """An HTTPException raised inside a background task does not become an HTTP response: the client
    keeps the response it already has, no second http.response.start message is sent, and the error still
    surfaces (it, or an exception it caused, propagates out of the application, or it is logged at ERROR
    level)."""
    failure = await fail_after_response(harness, fail="http_exception", form=form, prefix=prefix)
    assert failure.before.status == 200, f"expected 200, got {failure.before}"
    assert_response_kept(harness, failure.call, failure.before)
    assert how_surfaced(failure, caplog, chained=True) is not None, lost(failure, harness)


@requirement("ERR-007", MAY)
@pytest.mark.parametrize("prefix", WITH_HANDLER)
async def test_http_exception_surfaces_as_runtime_error(
    harness: Harness, observe: Observe, prefix: str
) -> None:
    """An HTTPException raised inside a background task surfaces as RuntimeError('Caught handled exception,
    but response already started.'), raised from that HTTPException."""
    failure = await fail_after_response(harness, fail="http_exception", prefix=prefix)
    raised = failure.raised
    cause = None if raised is None else raised.__cause__
    became = None if raised is None else {
        "type": type(raised).__name__, "message": str(raised), "cause": cause and type(cause).__name__,
    }
    observe(f"http_exception_became[{prefix or '/'}]", became)
    assert type(raised) is RuntimeError and str(raised) == HANDLED_ELSEWHERE and cause is failure.error, (
        f"expected RuntimeError({HANDLED_ELSEWHERE!r}) from {failure.error!r}; "
        f"saw the app call raise {raised!r} (cause {cause!r})"
    )


@requirement("ERR-008", MUST)
async def test_other_requests_in_flight_are_unaffected(harness: Harness) -> None:
    """A background task that raises does not affect other requests in flight: their responses are
    complete and unchanged, and their tasks, running at the time of the failure, run to the end."""
    others = {
        "other-sync": harness.scenario([{"id": "other-sync", "gate": "other-sync"}]),
        "other-async": harness.scenario(
            [{"id": "other-async", "form": "async_function", "gate": "other-async"}],
            response={"kind": "stream"},
        ),
    }
    before = {task: await call.response() for task, call in others.items()}
    for task in others:
        await harness.wait_started(task)
    await fail_after_response(harness)
    for task, call in others.items():
        assert_before(harness.timeline, started(task), errored("boom"),
                      first_is=f"task {task!r} starting", then_is="task 'boom' raising")
        harness.open(task)
        assert (await harness.wait(finished(task), f"task {task!r} to finish")).kind == "task.end", (
            f"expected task {task!r} to run to the end, saw it raise; timeline:\n{harness.timeline.format()}"
        )
        assert_ended_cleanly(harness, call, await call.finished())
        assert_response_kept(harness, call, before[task])


@requirement("ERR-009", MUST)
@needs(ANY_CALLABLE)  # a later task is a lambda
@pytest.mark.parametrize("fail", ["error", "http_exception"])
async def test_app_keeps_serving_after_a_failure(harness: Harness, fail: str) -> None:
    """After a background task has raised, the application keeps serving: later requests get their
    complete responses and their background tasks run."""
    await fail_after_response(harness, fail=fail)
    later = [("function", "json"), ("async_function", "stream"), ("lambda", "file")]
    for n, (form, kind) in enumerate(later):
        task = f"later-{n}"
        call = harness.scenario([{"id": task, "form": form}], response={"kind": kind})
        response = await call.response()
        assert response.status == 200 and response.body, (
            f"expected later request {n} to get 200 with a body, got {response}")
        assert (await harness.wait_finished(task)).kind == "task.end", (
            f"expected task {task!r} to run to the end, saw it raise; timeline:\n{harness.timeline.format()}"
        )
        assert_ended_cleanly(harness, call, await call.finished())
