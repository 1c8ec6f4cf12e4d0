"""Client disconnect under real servers: what becomes of the tasks when the client leaves early.

Each test has a server of its own. A raw client sends ``POST /scenario`` and closes the connection
at a known point; the server's next send waits until the server reports the client gone, so the
disconnect always lands at that point. The test then waits for the server's call into the app to
end and reads every task's fate from the timeline. Timing is not the verdict: that wait goes on while the
timeline grows (a busy machine), and a check that fails only because the server reported the client gone
after --bgtasks-gate-timeout (so the disconnect did not land at its point) is inconclusive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bgtasks_conformance import MAY, MUST, SHOULD, Harness, needs, requirement, wire_tier
from bgtasks_conformance.drive.served import added, call_summary, fates, served, tasks_outcome, unaccounted
from bgtasks_conformance.drive.servers import HEADERS_SENT_ALONE, sends_headers_alone
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline
from bgtasks_conformance.plugin.core import HarnessFactory
from bgtasks_conformance.results.outcomes import inconclusive
from bgtasks_conformance.results.versions import expected, installed
from bgtasks_conformance.target.contract import BASE_HTTP_MIDDLEWARE, MIDDLEWARE_PREFIXES

pytestmark = [pytest.mark.anyio, wire_tier]

# Where the client closes: (the app's send that waits until the server reports the client gone, what it is).
# At once, the response start waits too, so that the disconnect always comes before the response.
POINTS: dict[str, tuple[int | None, str]] = {
    "at-once": (1, "right after sending the request"),
    "before-response": (1, "once the endpoint has scheduled its tasks, before any byte of the response"),
    "after-headers": (2, "after reading the status line and headers"),
    "after-first-chunk": (3, "after reading the headers and the first chunk"),
}
PLAIN_POINTS = ("at-once", "before-response", "after-headers")
STREAM_POINTS = (*PLAIN_POINTS, "after-first-chunk")
CASES = [("json", point) for point in PLAIN_POINTS] + [("stream", point) for point in STREAM_POINTS]
TASKS = [{"id": "first", "form": "async_function"}, {"id": "second", "form": "function"}]
ORDER = [task["id"] for task in TASKS]
# The stacks a client leaves: the plain route, and the same behind BaseHTTPMiddleware, which re-streams the response
# from a task of its own (variants named stack first: DISC-001[base-http-*]).
STACKS = [pytest.param("", id="plain"),
          pytest.param(MIDDLEWARE_PREFIXES["base-http"], id="base-http", marks=needs(BASE_HTTP_MIDDLEWARE))]


@pytest.fixture
async def bare(harness_factory: HarnessFactory) -> AsyncIterator[Harness]:
    """A fresh app whose lifespan the server runs."""
    async with harness_factory(lifespan=False) as harness:
        yield harness


async def leave_early(harness: Harness, server: str, response: str, point: str, prefix: str = "") -> Timeline:
    """Serve the app, send the plan, close the connection at ``point``; the timeline once the call ended."""
    hold, _ = POINTS[point]
    if point == "after-headers" and not sends_headers_alone(server):
        pytest.skip(f"{server} {installed(server)} sends the headers only with the first body chunk, so a client "
                    f"cannot leave between the two (needs {server} {HEADERS_SENT_ALONE[server]})")
    async with served(harness, server, hold_send=hold) as live:
        client = await live.connect()
        await client.send("POST", f"{prefix}/scenario", {"tasks": TASKS, "response": {"kind": response}})
        if point == "before-response":
            await live.wait(lambda e: e.kind == "server.send.hold", "the response start to wait (the endpoint ran)")
        elif point == "after-headers":
            await client.read_head()
        elif point == "after-first-chunk":
            await client.read_until(b"chunk-0\n", "the first chunk")
        await client.close()
        await patiently(live.call_ended, harness.timeline)
    return harness.timeline


PATIENCE = 6  # bounds waited for in all, while the run still progresses (a busy machine), before giving up


async def patiently(wait: Callable[[], Awaitable[Any]], timeline: Timeline) -> Any:
    """``wait()``; when its bound passes while the timeline still grows, wait again (up to :data:`PATIENCE` times)."""
    __tracebackhide__ = True
    for attempt in range(1, PATIENCE + 1):
        seen = len(timeline.events)
        try:
            return await wait()
        except ExpectationFailed:
            if len(timeline.events) == seen or attempt == PATIENCE:  # a stall (or patience spent): the failure
                raise
    return None


def conclusive(timeline: Timeline, failing: bool) -> None:
    """Inconclusive when the check fails and the disconnect did not land at its point in time: the server did not
    report the client gone within --bgtasks-gate-timeout (a busy machine), so the case did not happen as designed."""
    __tracebackhide__ = True
    late = timeline.first(lambda e: e.kind == "server.send.release" and e["why"] == "timeout")
    if failing and late is not None:
        inconclusive(f"the server did not report the client gone within --bgtasks-gate-timeout, so the send it held "
                     f"went on ({late.describe()}) and the disconnect did not land at its point; on a busy machine "
                     "raise --bgtasks-gate-timeout")


def record(observe: Callable[[str, Any], None], case: str, timeline: Timeline, **more: Any) -> None:
    """What became of the tasks and the call in this case (``server response point``), for the report."""
    observe(case, {"tasks": fates(timeline), **call_summary(timeline), **more})


def stream_fate(timeline: Timeline) -> str:
    """``completed``: the app sent the stream's last message; ``cut``: a send of it was cancelled first."""
    def last_sent(e: Event) -> bool:
        return e.kind == "server.send" and e["type"] == "http.response.body" and not e["more_body"]

    if timeline.first(last_sent) is not None:
        return "completed"
    if timeline.first(lambda e: e.kind in ("server.send.error", "server.send.cancelled")) is not None:
        return "cut"
    return "unfinished"


@requirement("DISC-001", MUST)
@pytest.mark.parametrize(("response", "point"), CASES)
@pytest.mark.parametrize("prefix", STACKS)
async def test_no_task_is_lost_silently_when_the_client_leaves(
    bare: Harness, server_kind: str, response: str, point: str, prefix: str, observe: Callable[[str, Any], None]
) -> None:
    """When the client disconnects before or while reading the response, plain or streaming, no scheduled background
    task is lost silently: each one runs to its end or raises, or else the app call raises, so that the server sees
    the failure.
    """
    timeline = await leave_early(bare, server_kind, response, point, prefix)
    record(observe, f"{server_kind} {prefix}{response} {point}", timeline)
    lost = unaccounted(timeline)
    conclusive(timeline, bool(lost))
    assert not lost, (f"under {server_kind}, a client leaving {POINTS[point][1]} ({prefix}/scenario, {response} "
                      f"response): expected every task to end or raise, or else the app call to raise; saw {lost} "
                      f"unfinished and the call returned normally; timeline:\n{timeline.format()}")


@requirement("DISC-002", SHOULD)
@pytest.mark.parametrize("point", PLAIN_POINTS)
@pytest.mark.parametrize("prefix", STACKS)
async def test_the_tasks_of_a_plain_response_run_when_the_client_leaves(
    bare: Harness, server_kind: str, point: str, prefix: str, observe: Callable[[str, Any], None]
) -> None:
    """When the client disconnects before or while reading a plain response, every background task the endpoint
    scheduled still runs to its end, in order.
    """
    timeline = await leave_early(bare, server_kind, "json", point, prefix)
    record(observe, f"{server_kind} {prefix}json {point}", timeline)
    assert added(timeline) == ORDER, (f"expected the endpoint to schedule {ORDER} before the client left "
                                      f"{POINTS[point][1]}, saw {added(timeline)}; timeline:\n{timeline.format()}")
    ended = [e["task"] for e in timeline.select(lambda e: e.kind == "task.end")]
    assert ended == ORDER, (f"under {server_kind}, a client leaving {POINTS[point][1]} ({prefix}/scenario): "
                            f"expected {ORDER} to run to "
                            f"their end in order, saw {fates(timeline)}; timeline:\n{timeline.format()}")


@requirement("DISC-003", MAY)
@pytest.mark.parametrize("point", STREAM_POINTS)
async def test_a_stream_and_its_tasks_when_the_client_leaves(
    bare: Harness, server_kind: str, point: str, observe: Callable[[str, Any], None],
    record_era: Callable[[str, Any], None],
) -> None:
    """When the client disconnects before or while reading a streaming response, the stream and its background tasks
    fare as in the reference under the same server: under uvicorn the stream runs to its end and every task runs;
    under hypercorn the stream is cancelled at the send after the disconnect and every task still runs.
    """
    era = expected("DISC-003", server_kind)
    observe(f"era {server_kind}", f"tasks {era['outcome']}, stream {era['stream']}")  # the server version: eras
    record_era(server_kind, era)
    timeline = await leave_early(bare, server_kind, "stream", point)
    seen = {"outcome": tasks_outcome(timeline), "stream": stream_fate(timeline)}
    record(observe, f"{server_kind} stream {point}", timeline, stream=seen["stream"])
    want = {"outcome": era["outcome"], "stream": era["stream"]}
    conclusive(timeline, seen != want)
    assert seen == want, (f"under {server_kind}, a client leaving a stream {POINTS[point][1]}: expected {want} "
                          f"({era['expect']}), saw {seen}, tasks {fates(timeline)}; timeline:\n{timeline.format()}")
