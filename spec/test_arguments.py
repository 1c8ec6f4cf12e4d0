"""Argument passing: what add_task(func, *args, **kwargs) hands to the task, and when."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bgtasks_conformance import MUST, Harness, ScenarioModel, requirement
from bgtasks_conformance.observe.events import assert_before, finished, started, task
from bgtasks_conformance.plugin.core import HarnessFactory
from bgtasks_conformance.target.contract import ANY_CALLABLE, IN_PROCESS_TASKS
from bgtasks_conformance.target.loader import Target
from bgtasks_conformance.target.scenario import ASYNC_FORMS, FORMS, MUTATION_MARK

from .strategies import IDENTIFIER_CHARS, any_text, words

pytestmark = pytest.mark.anyio

SYNC_AND_ASYNC = ("function", "async_function")
Received = tuple[tuple[Any, ...], dict[str, Any]]


async def run_task(harness: Harness, spec: dict[str, Any], *, straggle: float | None = None) -> Received:
    """Schedule one task, let it finish without error, and return the arguments it received; with ``straggle``,
    it must have finished at most that many seconds after the app call returned (tasks that run inside the call)."""
    call = harness.scenario([{"id": "t", **spec}])
    response = await call.response()
    assert response.status == 200, f"expected POST /scenario to answer 200, got {response.status}: {response.text}"
    if straggle is None:
        await harness.wait_finished("t")
    else:
        await call.finished()
        await harness.timeline.wait_for(finished("t"), timeout=straggle,
                                        expected="task 't' to finish by the time the app call returned")
    assert harness.timeline.first(task("error", "t")) is None, (
        f"expected the task to end without an error, saw it raise; timeline:\n{harness.timeline.format()}"
    )
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    return harness.started_args("t")


def exact(value: Any) -> Any:
    """``value`` with each scalar's type and repr spelled out: ``True`` is not ``1``, ``1.0`` is not ``1``."""
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [exact(item) for item in value]
    return type(value).__name__, repr(value)


def added_args(harness: Harness, name: str = "t") -> Received:
    """The objects the harness passed to add_task for task ``name``."""
    event = harness.timeline.first(task("add", name))
    assert event is not None, (
        f"expected task {name!r} to be added, saw no task.add; timeline:\n{harness.timeline.format()}")
    return event["args"], event["kwargs"]


@requirement("ARGS-001", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_positional_arguments_arrive_in_order(harness: Harness, form: str) -> None:
    """Positional arguments given to add_task reach the task as positional arguments, all of them, in the
    order given."""
    sent = ["first", 2, 3.5, True, None, ["nested", 1], {"k": "v"}, ""]
    args, kwargs = await run_task(harness, {"form": form, "args": sent})
    assert args == tuple(sent), f"expected the positional arguments {tuple(sent)!r}, saw {args!r}"
    assert exact(args) == exact(tuple(sent)), f"expected the types {exact(tuple(sent))}, saw {exact(args)}"
    assert kwargs == {}, f"expected no keyword arguments, saw {kwargs!r}"


@requirement("ARGS-002", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_keyword_arguments_arrive_by_name(harness: Harness, form: str) -> None:
    """Keyword arguments given to add_task reach the task as keyword arguments of the same names and values,
    and no others."""
    sent = {"email": "thanos@titan.net", "message": "", "count": 0, "flag": False, "none": None,
            "args": [1, 2], "kwargs": {"nested": True}}
    args, kwargs = await run_task(harness, {"form": form, "kwargs": sent})
    assert args == (), f"expected no positional arguments, saw {args!r}"
    assert kwargs == sent, f"expected the keyword arguments {sent!r}, saw {kwargs!r}"
    assert exact(kwargs) == exact(sent), f"expected the types {exact(sent)}, saw {exact(kwargs)}"


@requirement("ARGS-003", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_mixed_arguments_arrive_in_order_and_by_name(harness: Harness, form: str) -> None:
    """When add_task is given both positional and keyword arguments, the task receives the positional ones in
    order and the keyword ones by name."""
    args, kwargs = await run_task(harness, {"form": form, "args": ["thanos@titan.net", 3],
                                            "kwargs": {"message": "snap", "urgent": True}})
    expected_args, expected_kwargs = exact(("thanos@titan.net", 3)), exact({"message": "snap", "urgent": True})
    assert exact(args) == expected_args, f"expected the positional arguments {expected_args}, saw {exact(args)}"
    assert exact(kwargs) == expected_kwargs, f"expected the keyword arguments {expected_kwargs}, saw {exact(kwargs)}"


@requirement("ARGS-004", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_task_defaults_apply_to_arguments_not_passed(harness: Harness, form: str) -> None:
    """A parameter of the task that add_task did not pass takes the task's own default value, and a passed one
    overrides its default."""
    # The task is a real function declaring (*args, subject="default subject", message="", **kwargs).
    spec = {"form": form, "args": ["thanos@titan.net"], "kwargs": {"subject": "passed subject"},
            "defaults": {"subject": "default subject", "message": ""}}
    args, kwargs = await run_task(harness, spec)
    assert args == ("thanos@titan.net",), f"expected the positional arguments ('thanos@titan.net',), saw {args!r}"
    expected = {"subject": "passed subject", "message": ""}
    assert kwargs == expected, f"expected the keyword arguments {expected!r}, saw {kwargs!r}"


@requirement("ARGS-005", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_pydantic_model_arrives_as_the_same_instance(harness: Harness, form: str) -> None:
    """A Pydantic model instance passed to add_task reaches the task as that same instance, not a copy or a
    re-validated model."""
    args, kwargs = await run_task(harness, {"form": form, "args": [{"$model": {"name": "report", "size": 3}}],
                                            "kwargs": {"request": {"$model": {"name": "intel"}}}})
    sent_args, sent_kwargs = added_args(harness)
    expected = ScenarioModel(name="report", size=3)
    assert isinstance(args[0], ScenarioModel) and args[0] == expected, f"expected {expected!r}, saw {args[0]!r}"
    assert args[0] is sent_args[0], (
        f"expected the model object passed (id {id(sent_args[0])}), saw another: {args[0]!r} (id {id(args[0])})")
    assert kwargs.get("request") is sent_kwargs["request"], (
        f"expected the keyword model object passed (id {id(sent_kwargs['request'])}), "
        f"saw {kwargs.get('request')!r} (id {id(kwargs.get('request'))})")


@requirement("ARGS-006", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_mutable_argument_is_the_very_object(harness: Harness, form: str) -> None:
    """A mutable object passed to add_task reaches the task as that very object, so a change made to it after
    add_task returned is seen by the task."""
    args, kwargs = await run_task(harness, {"form": form, "args": [{"$mutable": ["original"]}],
                                            "kwargs": {"items": {"$mutable": []}}})
    sent_args, sent_kwargs = added_args(harness)
    assert args[0] is sent_args[0], f"expected the very list passed, {sent_args[0]!r}, saw a copy: {args[0]!r}"
    assert kwargs.get("items") is sent_kwargs["items"], (
        f"expected the very list passed as items, {sent_kwargs['items']!r}, saw {kwargs.get('items')!r}")
    assert args[0] == ["original", MUTATION_MARK], f"expected {['original', MUTATION_MARK]!r}, saw {args[0]!r}"
    assert kwargs["items"] == [MUTATION_MARK], f"expected items {[MUTATION_MARK]!r}, saw {kwargs['items']!r}"
    assert_before(harness.timeline, lambda e: e.kind == "args.mutate", started("t"),
                  first_is="the change made after add_task", then_is="the task's start")


@requirement("ARGS-007", MUST)
@pytest.mark.parametrize("form", ["partial", "async_partial"])
async def test_partial_runs_with_bound_and_added_arguments(harness: Harness, form: str) -> None:
    """A functools.partial, of a sync or an async function, runs with its bound arguments followed by those
    given to add_task, and keywords given to add_task override the bound ones."""
    spec = {"form": form, "partial_args": ["bound-1", "bound-2"],
            "partial_kwargs": {"shared": "bound", "only_bound": 1},
            "args": ["added-1"], "kwargs": {"shared": "added", "only_added": 2}}
    args, kwargs = await run_task(harness, spec)
    expected_args = ("bound-1", "bound-2", "added-1")
    expected_kwargs = {"shared": "added", "only_bound": 1, "only_added": 2}
    assert args == expected_args, f"expected the positional arguments {expected_args!r}, saw {args!r}"
    assert kwargs == expected_kwargs, f"expected the keyword arguments {expected_kwargs!r}, saw {kwargs!r}"


@requirement("ARGS-008", MUST)
@pytest.mark.parametrize("form", ["bound_method", "async_bound_method"])
async def test_bound_method_runs_with_the_arguments(harness: Harness, form: str) -> None:
    """A bound method, sync or async, runs on its instance with the arguments given to add_task."""
    args, kwargs = await run_task(harness, {"form": form, "args": ["a", 1], "kwargs": {"k": "v"}})
    assert (args, kwargs) == (("a", 1), {"k": "v"}), f"expected ('a', 1), {{'k': 'v'}}, saw {args!r}, {kwargs!r}"


@requirement("ARGS-009", MUST)
@pytest.mark.parametrize("form", ["callable_object", "async_callable_object"])
async def test_callable_object_runs_with_the_arguments(harness: Harness, form: str) -> None:
    """A callable object, with a sync or an async __call__, runs with the arguments given to add_task."""
    args, kwargs = await run_task(harness, {"form": form, "args": ["a", [1]], "kwargs": {"k": {"x": None}}})
    assert (args, kwargs) == (("a", [1]), {"k": {"x": None}}), (
        f"expected ('a', [1]), {{'k': {{'x': None}}}}, saw {args!r}, {kwargs!r}")


@requirement("ARGS-010", MUST)
async def test_lambda_runs_with_the_arguments(harness: Harness) -> None:
    """A lambda runs with the arguments given to add_task."""
    args, kwargs = await run_task(harness, {"form": "lambda", "args": [0, "b"], "kwargs": {"c": 1.5}})
    assert (args, kwargs) == ((0, "b"), {"c": 1.5}), f"expected (0, 'b'), {{'c': 1.5}}, saw {args!r}, {kwargs!r}"


ADDED_AT = datetime.datetime(2024, 5, 4, 12, 0, 0)
LATER = datetime.timedelta(hours=3, microseconds=7)


@requirement("ARGS-011", MUST)
@pytest.mark.parametrize("form", SYNC_AND_ASYNC)
async def test_arguments_are_evaluated_when_add_task_is_called(harness: Harness, form: str) -> None:
    """Arguments are evaluated when add_task is called: the task receives the values of that moment, while its
    body runs later and sees the clock of the later moment, in a worker thread as on the event loop."""
    now = {"$now": True}
    spec = {"id": "later", "form": form, "gate": "later", "args": [now], "kwargs": {"at": now}}
    with freeze_time(ADDED_AT, real_asyncio=True) as clock:
        call = harness.scenario([spec])
        await call.response()
        await harness.wait_started("later")
        clock.tick(LATER)
        harness.open("later")
        body_ran = await harness.wait(task("now", "later"), "the task body to read the clock")
        await harness.wait_finished("later")
    args, kwargs = harness.started_args("later")
    assert (args, kwargs) == ((ADDED_AT,), {"at": ADDED_AT}), (
        f"expected the add-time values ({ADDED_AT!r},), {{'at': {ADDED_AT!r}}}, saw {args!r}, {kwargs!r}")
    assert body_ran["now"] == ADDED_AT + LATER, (
        f"expected the task body to see the later clock, {ADDED_AT + LATER}, saw {body_ran['now']}")
    in_worker = body_ran.thread != threading.get_ident() and not body_ran.on_loop
    assert in_worker == (form == "function"), (
        f"expected a sync task in a worker thread, an async one on the loop; saw the {form} "
        f"{'in a worker thread' if in_worker else 'on the loop'}")
    assert await call.finished() is None


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | any_text(max_size=12)
                | st.floats(allow_nan=False, allow_infinity=False))
# Keys never start with "$", so no value looks like an argument marker ({"$now": true} ...).
JSON_KEYS = any_text(max_size=8).filter(lambda key: not key.startswith("$"))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=12,
)
# Keyword names stay clear of add_task's own parameter names (Starlette's is `func`).
KEYWORD_NAMES = words(IDENTIFIER_CHARS, min_size=0).map("kw_{}".format)  # kw_[a-z0-9_]{0,8}


def each_form_first(test: Any) -> Any:
    """One explicit example per callable form, run before the generated ones: every run covers every form, and a
    form that fails is reported as it is, without shrinking."""
    for form in reversed(FORMS):
        test = example(form=form, sent_args=[None, True, -7, 2.5, "é✓", [1, {"k": []}]],
                       sent_kwargs={"kw_a": {"n": None, "l": [0.0, "s"]}, "kw_": False})(test)
    return test


@requirement("ARGS-012", MUST)
@settings(deadline=None, database=None, report_multiple_bugs=False,  # examples: the hypothesis profile (README)
          # harness_factory hands out a fresh harness per example, so sharing it is safe.
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.sampled_from(FORMS), sent_args=st.lists(JSON_VALUES, max_size=4),
       sent_kwargs=st.dictionaries(KEYWORD_NAMES, JSON_VALUES, max_size=4))
@each_form_first
async def test_json_values_round_trip(
    harness_factory: HarnessFactory, conformance_target: Target, form: str, sent_args: list[Any],
    sent_kwargs: dict[str, Any],
) -> None:
    """Any JSON value (nested lists and objects, strings, integers, floats, booleans, null) passed to add_task
    positionally or by keyword reaches the task exactly equal, with the same types."""
    if ANY_CALLABLE in conformance_target.lacks:  # a queue carries importable functions only
        form = "async_function" if form in ASYNC_FORMS else "function"
    # Hypothesis replays a failing example many times while it shrinks it: where the app call ends with its
    # tasks, a task not finished a short while after it returned counts as lost (ARGS-009 waits the full timeout).
    in_call = IN_PROCESS_TASKS not in conformance_target.lacks
    async with harness_factory() as harness:
        args, kwargs = await run_task(harness, {"form": form, "args": sent_args, "kwargs": sent_kwargs},
                                      straggle=harness.timeouts.quiet if in_call else None)
    expected = (tuple(sent_args), sent_kwargs)
    assert (args, kwargs) == expected, f"expected the arguments {expected!r}, saw {(args, kwargs)!r}"
    assert exact((args, kwargs)) == exact(expected), (
        f"expected the types {exact(expected)}, saw {exact((args, kwargs))}")
