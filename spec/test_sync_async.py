"""Sync and async tasks: where each kind of callable runs, and what it sees of the request."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bgtasks_conformance import MAY, MUST, SHOULD, AsgiCall, Harness, needs, requirement
from bgtasks_conformance.observe.events import assert_before, assert_task_order, ended, final_body, finished, started
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline
from bgtasks_conformance.target.contract import ANY_CALLABLE, CONTEXT_VARIABLES, SYNC_ENDPOINT
from bgtasks_conformance.target.scenario import ASYNC_FORMS, SYNC_FORMS

pytestmark = pytest.mark.anyio

SYNC_PREFIX = "/sync"  # CONTRACT.md section 6: /scenario as a plain def endpoint
CONTEXT = "request-7"
Observe = Callable[[str, Any], None]


def loop_thread(call: AsgiCall) -> int:
    """The thread of the event loop serving ``call``: the one its final body was sent from."""
    sent = call.final_body_event()
    assert sent is not None and sent.on_loop, (
        f"expected request {call.id}'s final body sent from an event loop, saw {sent and sent.describe()}")
    return sent.thread


def where(start: Event) -> str:
    return f"task {start['task']!r} started in {start['thread_name']!r} (on an event loop: {start.on_loop})"


def gate_waiting(gate: str) -> Callable[[Event], bool]:
    return lambda e: e.kind == "gate.wait" and e["gate"] == gate


async def awaited_on_the_loop(harness: Harness, form: str) -> None:
    """A task of ``form``, held on a gate, starts on the request's loop thread and runs to its end."""
    call = harness.scenario([{"id": "a", "form": form, "gate": "a"}])
    await call.response()
    start = await harness.wait_started("a")
    harness.open("a")
    await harness.wait(ended("a"), f"the {form} task to run to its end once its gate opened")
    assert start.on_loop and start.thread == loop_thread(call), (
        f"expected the event loop's thread, saw {where(start)}; timeline:\n{harness.timeline.format()}"
    )


@requirement("SYNC-001", MUST)
async def test_async_task_is_awaited_on_the_loop(harness: Harness) -> None:
    """An async def task is awaited on the event loop that serves the request, in that loop's thread,
    to its end."""
    await awaited_on_the_loop(harness, "async_function")


@requirement("SYNC-002", MUST)
@pytest.mark.parametrize("form", SYNC_FORMS)
async def test_sync_task_runs_in_a_worker_thread(harness: Harness, form: str) -> None:
    """A plain def task (function, partial, bound method, callable object or lambda) runs in a worker thread,
    never on the event loop's thread."""
    call = harness.scenario([{"id": "s", "form": form}])
    await call.response()
    start = await harness.wait_started("s")
    await harness.wait_finished("s")
    assert not start.on_loop and start.thread != loop_thread(call), (
        f"expected a worker thread, saw {where(start)}; timeline:\n{harness.timeline.format()}"
    )


@requirement("SYNC-003", MUST)
async def test_app_answers_while_a_sync_task_runs(harness: Harness) -> None:
    """While a plain def task is running, the app still answers other requests completely."""
    first = harness.scenario([{"id": "held", "gate": "held"}])
    await first.response()
    await harness.wait(gate_waiting("held"), "the sync task to hold on its gate")
    second = harness.scenario([{"id": "other", "form": "async_function"}])
    response = await second.response()
    assert response.status == 200, f"expected 200, got {response}"
    assert response.json() == {"scheduled": ["other"]}, f"expected {{'scheduled': ['other']}}, got {response}"
    await harness.wait_finished("other")
    raised = await second.finished()
    assert raised is None, f"expected the second request to end cleanly, saw it raise {raised!r}"
    harness.open("held")
    await harness.wait(ended("held"), "the held task to end once its gate opened")
    assert_before(harness.timeline, final_body(second.id), finished("held"),
                  first_is="the second request's complete response", then_is="the held sync task finishing")


@requirement("SYNC-004", MUST)
@pytest.mark.parametrize("form", [form for form in ASYNC_FORMS if form != "async_function"])
async def test_async_callables_of_every_form_are_awaited(harness: Harness, form: str) -> None:
    """A functools.partial of an async function, an object with an async def __call__ and a bound async
    method are recognised as async: each is awaited on the event loop, to its end."""
    await awaited_on_the_loop(harness, form)


@contextmanager
def warnings_recorded(timeline: Timeline) -> Iterator[None]:
    """Every warning, from any thread, becomes a ``warning`` event instead of being shown.

    Entered inside the test body: pytest resets the warning machinery between setup and call.
    """

    def record(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        timeline.record("warning", category=category.__name__, message=str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        yield


def awaited_or_warned(event: Event) -> bool:
    never_awaited = event.kind == "warning" and event["category"] == "RuntimeWarning"
    return started("returned")(event) or (never_awaited and "was never awaited" in event["message"])


@requirement("SYNC-005", SHOULD)
async def test_returned_coroutine_is_not_dropped_silently(harness: Harness, observe: Observe) -> None:
    """When a plain def task returns a coroutine, that coroutine is awaited, or a warning says that it was
    never awaited."""
    with warnings_recorded(harness.timeline):
        call = harness.scenario([{"id": "returned", "form": "sync_returning_coroutine"}, {"id": "after"}])
        await call.response()
        await harness.wait_finished("after")
        # The coroutine is dropped wherever its last reference goes (loop or worker thread):
        # wait for its trace, not for a moment.
        trace = await harness.wait(awaited_or_warned, "the returned coroutine to start, or a "
                                   "RuntimeWarning that it was never awaited")
        if trace.kind == "task.start":
            await harness.wait(ended("returned"), "the awaited coroutine to run to its end")
    observe("returned_coroutine", "awaited" if trace.kind == "task.start" else f"warned: {trace['message']}")


@requirement("SYNC-006", MAY)
async def test_blocking_async_task_blocks_the_loop(harness: Harness, observe: Observe) -> None:
    """An async def task that makes a blocking call (instead of awaiting) blocks the event loop: nothing
    else runs on the loop until that call returns."""
    loop = asyncio.get_running_loop()
    timeline = harness.timeline

    def tick(event: Event) -> bool:
        return event.kind == "loop.tick"

    def watch() -> bool:
        """In a helper thread: does the loop run a callback while the task blocks on its gate?"""
        try:
            timeline.wait_for_sync(gate_waiting("blocker"), timeout=harness.timeouts.wait,
                                   expected="the blocking task to hold on its gate")
            loop.call_soon_threadsafe(timeline.record, "loop.tick")
            try:
                timeline.wait_for_sync(tick, timeout=harness.timeouts.quiet, expected="a loop tick")
            except ExpectationFailed:
                return True
            return False
        finally:
            harness.open("blocker")

    watcher = asyncio.ensure_future(asyncio.to_thread(watch))
    call = harness.scenario([{"id": "blocker", "form": "async_blocking", "gate": "blocker"}])
    await call.response()
    no_tick_while_held = await watcher
    ticked = await harness.wait(tick, "the loop to run the callback scheduled from the helper thread")
    end = await harness.wait(ended("blocker"), "the blocking task to end once its gate opened")
    blocked = no_tick_while_held and ticked.seq > end.seq
    observe("blocking_async_task_blocked_the_loop", blocked)
    assert blocked, (
        "expected the loop to run no callback while the async task was blocked in a blocking wait, saw "
        f"{'a callback run before the task ended' if no_tick_while_held else 'a callback run while it was held'}; "
        f"timeline:\n{timeline.format()}"
    )


async def contexts_seen(harness: Harness, prefix: str = "") -> dict[str, str | None]:
    """Set the plan's context where the endpoint runs; what each task saw of it."""
    tasks = [{"id": "sync", "form": "function"}, {"id": "async", "form": "async_function"}]
    call = harness.scenario(tasks, prefix=prefix, context=CONTEXT)
    response = await call.response()
    # fail fast: an endpoint that failed scheduled no task, which the waits below would wait out
    assert response.status == 200, f"expected 200 and the tasks {[t['id'] for t in tasks]} to start, got {response}"
    starts = [await harness.wait_started(spec["id"]) for spec in tasks]
    return {start["task"]: start.get("context") for start in starts}


@requirement("SYNC-007", SHOULD)
async def test_async_endpoint_context_reaches_the_tasks(harness: Harness) -> None:
    """A ContextVar set in an async def endpoint before add_task is seen with that value by the request's
    tasks, sync and async."""
    seen = await contexts_seen(harness)
    assert seen == {"sync": CONTEXT, "async": CONTEXT}, f"the tasks saw {seen}, expected {CONTEXT!r} in both"


@requirement("SYNC-008", MAY)
@needs(SYNC_ENDPOINT)
@needs(CONTEXT_VARIABLES)
async def test_sync_endpoint_context_reaches_the_tasks(harness: Harness, observe: Observe) -> None:
    """A ContextVar set in a plain def endpoint before add_task is seen with that value by the request's
    tasks, sync and async."""
    seen = await contexts_seen(harness, SYNC_PREFIX)
    observe("sync_endpoint_context_seen_by_tasks", seen)
    assert seen == {"sync": CONTEXT, "async": CONTEXT}, f"the tasks saw {seen}, expected {CONTEXT!r} in both"


@requirement("SYNC-009", MUST)
@needs(SYNC_ENDPOINT)
@needs(ANY_CALLABLE)  # one of its tasks is a lambda
async def test_sync_endpoint_tasks_run_after_the_response(harness: Harness) -> None:
    """Tasks added in a plain def endpoint run after its response is complete, each once, in the order
    added, as from an async def endpoint."""
    ids = ["one", "two", "three"]
    tasks = [{"id": name, "form": form} for name, form in zip(ids, ("function", "async_function", "lambda"),
                                                               strict=True)]
    call = harness.scenario(tasks, prefix=SYNC_PREFIX)
    response = await call.response()
    assert response.status == 200, f"expected 200, got {response}"
    assert response.json() == {"scheduled": ids}, f"expected {{'scheduled': {ids}}}, got {response}"
    for name in ids:
        await harness.wait_finished(name)
    raised = await call.finished()
    assert raised is None, f"expected the request to end cleanly, saw it raise {raised!r}"
    assert_before(harness.timeline, final_body(call.id), started(),
                  first_is="the final body chunk", then_is="the first task's start")
    assert_task_order(harness.timeline, ids)
    assert_task_order(harness.timeline, ids, "end")
