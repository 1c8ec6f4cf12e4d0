"""Predicates over timeline events, and order assertions that explain themselves."""

from __future__ import annotations

from collections.abc import Callable

from bgtasks_conformance.observe.timeline import Event, ExpectationFailed, Timeline

BODY_TYPES = ("http.response.body", "websocket.http.response.body")  # a WebSocket denial response's too
START_TYPES = ("http.response.start", "websocket.http.response.start")


def is_final_body(event: Event, call: int | None = None) -> bool:
    """The ``http.response.body`` message (or a WebSocket denial response's) with ``more_body`` false: the response
    is complete."""
    return (
        event.kind == "asgi.send"
        and event["type"] in BODY_TYPES
        and "violation" not in event.data  # refused by the driver: it did not complete the response
        and not event["more_body"]
        and (call is None or event["call"] == call)
    )


def is_response_start(event: Event, call: int | None = None) -> bool:
    return (
        event.kind == "asgi.send"
        and event["type"] in START_TYPES
        and (call is None or event["call"] == call)
    )


def is_app_exit(event: Event, call: int | None = None) -> bool:
    return event.kind in ("app.return", "app.error") and (call is None or event["call"] == call)


def task(kind: str, name: str | None = None) -> Callable[[Event], bool]:
    """Matches ``task.<kind>`` events (start, end, error, add), of one task or of any."""
    return lambda e: e.kind == f"task.{kind}" and (name is None or e["task"] == name)


def started(name: str | None = None) -> Callable[[Event], bool]:
    return task("start", name)


def ended(name: str | None = None) -> Callable[[Event], bool]:
    return task("end", name)


def errored(name: str | None = None) -> Callable[[Event], bool]:
    return task("error", name)


def finished(name: str | None = None) -> Callable[[Event], bool]:
    """A task is finished when it ended or raised."""
    return lambda e: e.kind in ("task.end", "task.error") and (name is None or e["task"] == name)


def final_body(call: int | None = None) -> Callable[[Event], bool]:
    return lambda e: is_final_body(e, call)


def assert_before(
    timeline: Timeline,
    first: Callable[[Event], bool],
    then: Callable[[Event], bool],
    *,
    first_is: str,
    then_is: str,
) -> tuple[Event, Event]:
    """Both events happened, and the first ``first`` came before the first ``then``."""
    __tracebackhide__ = True
    a, b = timeline.first(first), timeline.first(then)
    if a is None or b is None or a.seq > b.seq:
        missing = " and ".join(n for n, e in ((first_is, a), (then_is, b)) if e is None)
        seen = f"{missing} never happened" if missing else f"{then_is} came first"
        raise ExpectationFailed(
            f"expected {first_is} before {then_is}; {seen}; timeline:\n{timeline.format()}"
        )
    return a, b


def task_order(timeline: Timeline, kind: str = "start") -> list[str]:
    """Task ids in the order their ``task.<kind>`` events happened."""
    return [e["task"] for e in timeline.select(task(kind))]


def assert_task_order(timeline: Timeline, expected: list[str], kind: str = "start") -> None:
    """The ``task.<kind>`` events name exactly ``expected``, in that order: each task once."""
    __tracebackhide__ = True
    seen = task_order(timeline, kind)
    if seen == expected:
        return
    pairs = enumerate(zip(seen, expected, strict=False))
    at = next((n for n, (got, want) in pairs if got != want), min(len(seen), len(expected)))
    around = slice(max(0, at - 3), at + 8)
    raise ExpectationFailed(
        f"expected task.{kind} of {len(expected)} tasks in the order added, each once; saw {len(seen)}, "
        f"first difference at position {at}:\n"
        f"  expected [{around.start}:]: {' '.join(expected[around]) or '(nothing)'}\n"
        f"  saw      [{around.start}:]: {' '.join(seen[around]) or '(nothing)'}\n"
        f"timeline:\n{timeline.format()}"
    )
