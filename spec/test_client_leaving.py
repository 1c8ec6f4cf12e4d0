"""A client that leaves a response that still waits for it: the response ends and its tasks run (raw ASGI tier).

The raw driver advertises the ASGI spec version each test names. Under 2.3 a server answers ``http.disconnect``
from ``receive()`` when the client leaves, and nothing says when a ``send()`` to a client that stopped reading
returns: Starlette listens for the disconnect while it sends, and cancels the send.
"""

from __future__ import annotations

import pytest

from bgtasks_conformance import MUST, Harness, needs, requirement
from bgtasks_conformance.drive.asgi_driver import AsgiCall
from bgtasks_conformance.observe.events import assert_task_order, ended, task_order
from bgtasks_conformance.observe.timeline import ExpectationFailed
from bgtasks_conformance.target.contract import BASE_HTTP_MIDDLEWARE, LIVE_EVENT_GATE, OWN_RESPONSE_LIVE

pytestmark = pytest.mark.anyio

TASKS = [{"id": "first", "form": "function"}, {"id": "second", "form": "async_function"}]
ORDER = [task["id"] for task in TASKS]


async def tasks_end(harness: Harness, call: AsgiCall, expected: str) -> None:
    """Wait for the last task to end; else fail with ``expected`` and what ran, where the app waits, the timeline."""
    __tracebackhide__ = True
    try:
        await harness.timeline.wait_for(ended(ORDER[-1]), timeout=harness.timeouts.wait, expected="")
    except ExpectationFailed:
        raise ExpectationFailed(
            f"{expected}; saw {task_order(harness.timeline, 'end') or 'no task'} end within "
            f"{harness.timeouts.wait:g}s and the app call {'ended' if call.task.done() else 'still running'}"
            f"\n{call.where_waiting() or ''}\ntimeline:\n{harness.timeline.format()}") from None
    assert_task_order(harness.timeline, ORDER, "end")


@requirement("POST-018", MUST)
@pytest.mark.parametrize("kind", ["stream", "file"])
async def test_a_client_that_stops_reading_then_leaves_does_not_strand_the_tasks(harness: Harness, kind: str) -> None:
    """Under a server of ASGI spec 2.3 whose send() waits while the client does not read and is not woken when the
    client leaves, a client that reads the start of a streaming or file response, stops reading and then leaves
    (receive() answers http.disconnect) does not strand the response's background tasks: the response ends and its
    tasks run, in order.
    """
    call = harness.post("/scenario", json={"tasks": TASKS, "response": {"kind": kind, "chunks": 3}},
                        spec_version="2.3", stop_reading_after=1)
    stalled = await harness.wait(lambda e: e.kind == "asgi.send.stalled" and e["call"] == call.id,
                                 "the first body send to wait (the client stopped reading after the response start)")
    assert harness.timeline.first(ended()) is None, f"expected no task to end before the client left, saw {stalled}"
    call.disconnect()
    await tasks_end(harness, call, (
        f"expected the {kind} response to end once the client left (receive() answering http.disconnect), though "
        f"its send {stalled.describe()} still waits, and its tasks {ORDER} then to run in order: a response that "
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
    call = harness.post(OWN_RESPONSE_LIVE, json={"tasks": TASKS}, keep_alive=keep_alive, spec_version=spec_version)
    response = await call.response()
    assert response.json() == {"replaced": True}, f"expected dispatch()'s own {{'replaced': true}}, got {response}"
    added = [e["task"] for e in harness.timeline.select(lambda e: e.kind == "task.add")]
    assert added == ORDER, (f"expected the endpoint behind dispatch() to schedule {ORDER} before dispatch() answered, "
                            f"saw {added or 'none'}: dispatch() answers whatever the endpoint did, so a target without "
                            f"POST {OWN_RESPONSE_LIVE} (contract version 4, CONTRACT.md section 17) looks like this")
    if event:
        harness.open(LIVE_EVENT_GATE)  # the next event comes once dispatch()'s response was sent
    how = ("asked request.is_disconnected() before its next event" if event
           else "waits for the next event while Starlette's StreamingResponse listens for http.disconnect")
    client = "a keep-alive client that stays" if keep_alive else "a server that answers http.disconnect then"
    await tasks_end(harness, call, (
        f"expected the endpoint's live stream, which {how}, to be told the client left (http.disconnect) once "
        f"dispatch()'s own response was sent (ASGI spec {spec_version}, {client}), so that it ends and its tasks "
        f"{ORDER} run in order"))
    left = harness.timeline.first(lambda e: e.kind == "client.disconnect")
    assert left is None, f"expected the client still connected, saw {left and left.describe()}"
    call.disconnect()
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
