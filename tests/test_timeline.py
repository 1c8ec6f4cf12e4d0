"""The timeline: waits that wake across threads, time out with an explanation, and order checks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bgtasks_conformance import ExpectationFailed, Timeline
from bgtasks_conformance.observe.events import (
    assert_before,
    assert_task_order,
    ended,
    errored,
    final_body,
    finished,
    is_app_exit,
    is_response_start,
    started,
    task_order,
)

TINY = 0.05


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


def kind(name: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == name


@pytest.mark.anyio
async def test_wait_for_returns_the_first_match(timeline: Timeline) -> None:
    timeline.record("task.start", task="a")
    first = timeline.record("task.end", task="a", n=1)
    timeline.record("task.end", task="b", n=2)
    event = await timeline.wait_for(ended(), timeout=TINY, expected="a task to end")
    assert event is first
    assert (event.seq, event["n"], event.get("missing", "d")) == (2, 1, "d")


@pytest.mark.anyio
async def test_wait_for_count_returns_the_first_n(timeline: Timeline) -> None:
    for task in "abc":
        timeline.record("task.start", task=task)
    events = await timeline.wait_for_count(started(), 2, timeout=TINY, expected="two starts")
    assert [e["task"] for e in events] == ["a", "b"]


def record_starts_every(timeline: Timeline, interval: float, count: int) -> None:
    loop = asyncio.get_running_loop()
    for n in range(1, count + 1):
        loop.call_later(interval * n, lambda n=n: timeline.record("task.start", task=f"t{n}"))


@pytest.mark.anyio
async def test_a_stall_wait_bounds_the_gap_between_matches_not_the_whole_wait(timeline: Timeline) -> None:
    record_starts_every(timeline, 0.2, 4)  # the last at 0.8 s: past the timeout, but never 0.5 s without one
    events = await timeline.wait_for_count(started(), 4, timeout=0.5, expected="four starts", stall=True)
    assert [e["task"] for e in events] == ["t1", "t2", "t3", "t4"]


@pytest.mark.anyio
async def test_a_stall_wait_fails_when_nothing_new_comes(timeline: Timeline) -> None:
    timeline.record("task.start", task="only")
    with pytest.raises(ExpectationFailed, match=r"expected two starts with none new for 0.05s, saw 1 of 2"):
        await timeline.wait_for_count(started(), 2, timeout=0.05, expected="two starts", stall=True)


@pytest.mark.anyio
async def test_a_plain_count_wait_bounds_the_whole_wait(timeline: Timeline) -> None:
    record_starts_every(timeline, 0.2, 4)
    with pytest.raises(ExpectationFailed, match=r"expected four starts within 0.5s, saw [0-3] of 4"):
        await timeline.wait_for_count(started(), 4, timeout=0.5, expected="four starts")


@pytest.mark.anyio
async def test_a_wait_times_out_with_what_was_expected_and_the_timeline(timeline: Timeline) -> None:
    timeline.record("request", call=1, path="/scenario")
    timeline.record("task.start", task="a", args=("hidden",))
    with pytest.raises(ExpectationFailed) as caught:
        await timeline.wait_for(ended("a"), timeout=TINY, expected="task 'a' to end")
    message = str(caught.value)
    assert message.startswith("expected task 'a' to end within 0.05s, saw 0 of 1; timeline:\n")
    assert "    [1] request call=1 path='/scenario'" in message
    assert "    [2] task.start task='a' thread_name=" not in message  # the probe adds that; this did not
    assert "[2] task.start task='a'" in message
    assert "hidden" not in message


@pytest.mark.anyio
async def test_an_event_recorded_in_a_worker_thread_wakes_the_waiter(timeline: Timeline) -> None:
    # gather starts the waiter first: it is already waiting when the worker thread records.
    event, _ = await asyncio.gather(
        timeline.wait_for(kind("worker.done"), timeout=5.0, expected="the worker's event"),
        asyncio.to_thread(timeline.record, "worker.done"),
    )
    assert event.thread != threading.get_ident()
    assert not event.on_loop


@pytest.mark.anyio
async def test_events_made_on_the_loop_say_so(timeline: Timeline) -> None:
    assert timeline.record("here").on_loop
    assert timeline.record("here").thread == threading.get_ident()


@pytest.mark.anyio
async def test_expect_none_passes_when_nothing_happens(timeline: Timeline) -> None:
    timeline.record("task.start", task="other")
    await timeline.expect_none(started("forbidden"), within=TINY, forbidden="the forbidden task to start")


@pytest.mark.anyio
async def test_expect_none_fails_when_the_forbidden_event_appears(timeline: Timeline) -> None:
    with pytest.raises(ExpectationFailed) as caught:
        await asyncio.gather(
            timeline.expect_none(started("x"), within=5.0, forbidden="task x starting"),
            asyncio.to_thread(timeline.record, "task.start", task="x"),
        )
    assert str(caught.value).startswith(
        "expected no task x starting (watched for 5s), but saw [1] task.start"
    )


@pytest.mark.anyio
async def test_expect_none_fails_for_an_event_already_there(timeline: Timeline) -> None:
    timeline.record("task.error", task="x", error="ValueError")
    with pytest.raises(ExpectationFailed, match=r"but saw \[1\] task.error task='x' error='ValueError'"):
        await timeline.expect_none(errored("x"), within=TINY, forbidden="an error")


def test_wait_for_sync_blocks_a_thread_until_the_event(timeline: Timeline) -> None:
    recorder = threading.Thread(target=timeline.record, args=("late",))
    recorder.start()
    assert timeline.wait_for_sync(kind("late"), timeout=5.0, expected="late").kind == "late"
    recorder.join()
    with pytest.raises(ExpectationFailed, match=r"expected never within 0.05s; timeline:\n    \[1\] late"):
        timeline.wait_for_sync(kind("never"), timeout=TINY, expected="never")


# -- formatting -----------------------------------------------------------------------------
def test_format_shows_the_last_events(timeline: Timeline) -> None:
    assert timeline.format() == "    (nothing)"
    for n in range(5):
        timeline.record("tick", n=n, body_bytes=b"x" * 100, text="y" * 100)
    lines = timeline.format(limit=2).splitlines()
    assert lines[0] == "    ... 3 earlier events"
    assert lines[1].startswith("    [4] tick n=3 text='yyy")
    assert lines[1].endswith("...")
    assert "body_bytes" not in lines[1]
    assert len(timeline) == 5
    assert [e.seq for e in timeline] == [1, 2, 3, 4, 5]


# -- order assertions -----------------------------------------------------------------------
def record_response_then_task(timeline: Timeline) -> None:
    timeline.record("asgi.send", call=1, type="http.response.start", status=200)
    timeline.record("asgi.send", call=1, type="http.response.body", more_body=False)
    timeline.record("task.start", task="t")


def test_assert_before_passes_in_order(timeline: Timeline) -> None:
    record_response_then_task(timeline)
    body, start = assert_before(timeline, final_body(1), started("t"), first_is="body", then_is="start")
    assert (body.seq, start.seq) == (2, 3)


def test_assert_before_says_which_came_first(timeline: Timeline) -> None:
    record_response_then_task(timeline)
    with pytest.raises(ExpectationFailed) as caught:
        assert_before(timeline, started("t"), final_body(1),
                      first_is="the task's start", then_is="the final body")
    assert str(caught.value).startswith(
        "expected the task's start before the final body; the final body came first; timeline:\n"
    )


@pytest.mark.parametrize(
    ("first", "then", "missing"),
    [("t", "u", "task u never happened"), ("u", "t", "task u never happened"),
     ("u", "v", "task u and task v never happened")],
)
def test_assert_before_says_which_is_missing(timeline: Timeline, first: str, then: str, missing: str) -> None:
    record_response_then_task(timeline)
    with pytest.raises(ExpectationFailed, match=rf"; {missing}; timeline:"):
        assert_before(timeline, started(first), started(then),
                      first_is=f"task {first}", then_is=f"task {then}")


def test_predicates(timeline: Timeline) -> None:
    record_response_then_task(timeline)
    timeline.record("task.start", task="u")
    timeline.record("task.error", task="u")
    timeline.record("task.end", task="t")
    timeline.record("app.return", call=1)
    assert task_order(timeline) == ["t", "u"]
    assert task_order(timeline, "end") == ["t"]
    assert [e["task"] for e in timeline.select(finished())] == ["u", "t"]
    assert timeline.first(is_response_start)["status"] == 200
    assert timeline.first(lambda e: is_response_start(e, 2)) is None
    assert timeline.first(lambda e: is_app_exit(e, 1)).kind == "app.return"
    assert timeline.first(final_body(2)) is None


def test_assert_task_order_passes_for_the_exact_order(timeline: Timeline) -> None:
    for name in "abc":
        timeline.record("task.start", task=name)
    assert_task_order(timeline, ["a", "b", "c"])


@pytest.mark.parametrize(
    ("seen", "at", "expected_line", "saw_line"),
    [("acb", 1, "a b c", "a c b"), ("ab", 2, "a b c", "a b"), ("abcc", 3, "a b c", "a b c c"),
     ("", 0, "a b c", "(nothing)")],
)
def test_assert_task_order_shows_the_first_difference(timeline: Timeline, seen: str, at: int,
                                                      expected_line: str, saw_line: str) -> None:
    for name in seen:
        timeline.record("task.start", task=name)
    with pytest.raises(ExpectationFailed) as caught:
        assert_task_order(timeline, ["a", "b", "c"])
    message = str(caught.value)
    assert f"saw {len(seen)}, first difference at position {at}:" in message
    assert f"  expected [0:]: {expected_line}\n" in message
    assert f"  saw      [0:]: {saw_line}\n" in message
