"""WebSocket denial responses: a handshake answered with an HTTP response keeps the response's background tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bgtasks_conformance import MUST, Harness, needs, requirement
from bgtasks_conformance.drive.asgi_driver import AsgiCall, Response
from bgtasks_conformance.observe.events import assert_before, assert_task_order, final_body, started, task_order
from bgtasks_conformance.observe.timeline import ExpectationFailed
from bgtasks_conformance.results.versions import expected
from bgtasks_conformance.target.contract import WEBSOCKET_DENIAL, denial_url

pytestmark = pytest.mark.anyio

TASKS = [{"id": "first", "form": "async_function"}, {"id": "second", "form": "function"}]
CHUNKS = 3


def sent(harness: Harness, call: AsgiCall) -> list[str]:
    """The message types the server accepted from this call, in order."""
    return [e["type"] for e in harness.timeline.select(
        lambda e: e.kind == "asgi.send" and e["call"] == call.id and "violation" not in e.data)]


async def denied_then_tasks(harness: Harness, call: AsgiCall) -> None:
    """The denial response reached the client whole; the app call returned; both tasks ran in order after it."""
    __tracebackhide__ = True
    raised = await call.finished()
    assert raised is None, (f"expected the app call to return once the tasks ran, saw it raise {raised!r}; "
                            f"timeline:\n{harness.timeline.format()}")
    ended = task_order(harness.timeline, "end")
    assert ended == ["first", "second"], (
        f"expected the denial response's tasks ['first', 'second'] to run to their end, in order, by the time the app "
        f"call returned; saw {ended or 'none end'}; timeline:\n{harness.timeline.format()}")
    assert_task_order(harness.timeline, ["first", "second"])
    assert_before(harness.timeline, final_body(call.id), started("first"),
                  first_is="the final websocket.http.response.body message", then_is="the first task's start")


async def refused(harness: Harness, call: AsgiCall, era: dict[str, Any]) -> None:
    """The era where the response cannot deny: the app call raises, nothing reaches the client, no task runs."""
    __tracebackhide__ = True
    raised = await call.finished()
    messages = sent(harness, call)
    ran = harness.timeline.first(started())
    assert raised is not None and not messages and ran is None, (
        f"expected the WebSocket to refuse the response ({era['expect']}): the app call raising, no message sent, no "
        f"task run; saw the app call {'return' if raised is None else f'raise {raised!r}'}, messages {messages}, "
        f"{'a task run' if ran else 'no task run'}; timeline:\n{harness.timeline.format()}")


async def denied(harness: Harness, requirement_id: str, record_era: Callable[[str, Any], None],
                 plan: dict[str, Any]) -> tuple[AsgiCall, Response | None]:
    """Open the handshake the plan denies; its response, or None once the era's refusal is checked."""
    __tracebackhide__ = True
    era = expected(requirement_id, "starlette")
    record_era("starlette", era)
    call = harness.websocket(denial_url(plan))
    if era["outcome"] == "refused":
        await refused(harness, call, era)
        return call, None
    try:
        return call, await call.response()
    except ExpectationFailed as error:
        raise ExpectationFailed(f"expected the handshake denied with the plan's response: {error}") from None


@requirement("WS-001", MUST)
@needs(WEBSOCKET_DENIAL)
async def test_a_denial_response_runs_its_tasks_after_its_body(
    harness: Harness, record_era: Callable[[str, Any], None]
) -> None:
    """When a response with background tasks denies a WebSocket handshake (the websocket.http.response extension), the
    client receives it whole, as websocket.http.response.start and websocket.http.response.body messages, and its tasks
    then run, each once, in order, after its final body message, as they would over HTTP; before Starlette 0.37, which
    has no denial responses, the WebSocket refuses the response's http.response.start, the app call raises and no task
    runs.
    """
    call, response = await denied(harness, "WS-001", record_era, {"tasks": TASKS, "response": {"status": 403}})
    if response is None:
        return
    assert (response.status, response.json()) == (403, {"scheduled": ["first", "second"]}), (
        f"expected the denial response 403 {{'scheduled': ['first', 'second']}}, got {response}")
    assert sent(harness, call) == ["websocket.http.response.start", "websocket.http.response.body"], (
        f"expected websocket.http.response.start then one websocket.http.response.body, saw {sent(harness, call)}; "
        f"timeline:\n{harness.timeline.format()}")
    await denied_then_tasks(harness, call)


@requirement("WS-002", MUST)
@needs(WEBSOCKET_DENIAL)
async def test_a_streamed_denial_response_runs_its_tasks_after_its_last_chunk(
    harness: Harness, record_era: Callable[[str, Any], None]
) -> None:
    """When a streaming response with background tasks denies a WebSocket handshake, the client receives every chunk,
    as websocket.http.response.body messages ending with one whose more_body is false, and its tasks then run, each
    once, in order, after that final message; before Starlette 1.0, whose StreamingResponse sends its messages
    unprefixed in a WebSocket scope, the WebSocket refuses them, the app call raises and no task runs.
    """
    plan = {"tasks": TASKS, "response": {"kind": "stream", "chunks": CHUNKS, "status": 403}}
    call, response = await denied(harness, "WS-002", record_era, plan)
    if response is None:
        return
    chunks = "".join(f"chunk-{n}\n" for n in range(CHUNKS)).encode()
    assert (response.status, response.body) == (403, chunks), (
        f"expected the denial stream 403 {chunks!r}, got {response.status} {response.body!r}")
    types = sent(harness, call)
    assert types[:1] == ["websocket.http.response.start"] and set(types[1:]) == {"websocket.http.response.body"}, (
        f"expected websocket.http.response.start then websocket.http.response.body messages only, saw {types}; "
        f"timeline:\n{harness.timeline.format()}")
    await denied_then_tasks(harness, call)
