"""Multiple tasks on one response: in the order added, one at a time, each exactly once."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bgtasks_conformance import MUST, AsgiCall, Harness, needs, requirement
from bgtasks_conformance.observe.events import assert_before, assert_task_order, ended, final_body, started
from bgtasks_conformance.plugin.core import HarnessFactory
from bgtasks_conformance.target.contract import ANY_CALLABLE, STARLETTE_TASKS, STARLETTE_TASKS_PREFIX
from bgtasks_conformance.target.scenario import ASYNC_FORMS, FORMS, SYNC_FORMS

pytestmark = pytest.mark.anyio

TaskPlan = dict[str, Any]
# Sync and async forms alternating: every switch between a worker thread and the loop is crossed.
MIXED = [form for pair in itertools.zip_longest(SYNC_FORMS, ASYNC_FORMS) for form in pair if form]
FUNCTIONS = ["function", "async_function"]  # the forms every implementation carries, a queue's by name too


def plan_of(forms: list[str]) -> list[TaskPlan]:
    return [{"id": f"t{n:03d}-{form}", "form": form} for n, form in enumerate(forms)]


def ids_of(tasks: list[TaskPlan]) -> list[str]:
    return [spec["id"] for spec in tasks]


async def run_all(
    harness: Harness, tasks: list[TaskPlan], count: int | None = None, *, straggle: float | None = None
) -> AsgiCall:
    """Schedule the tasks; wait until the call returned and ``count`` tasks (default: all planned) ended,
    at most ``straggle`` seconds after the call returned (default: while one ends every wait timeout)."""
    call = harness.scenario(tasks)
    response = await call.response()
    assert response.status == 200, f"expected POST /scenario to answer 200, got {response.status}: {response.text}"
    raised = await call.finished()  # first: with the tasks done, the count below is one look
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    count = len(tasks) if count is None else count
    await harness.timeline.wait_for_count(ended(), count, timeout=straggle or harness.timeouts.wait,
                                          expected=f"{count} tasks to end", stall=straggle is None)
    return call


@requirement("ORDER-001", MUST)
@pytest.mark.parametrize("forms", [MIXED, MIXED[::-1]], ids=["sync-first", "async-first"])
async def test_tasks_run_in_the_order_added(harness: Harness, forms: list[str]) -> None:
    """The tasks of one response run in the order they were added, whatever mix of sync and async callables
    they are."""
    tasks = plan_of(forms)
    await run_all(harness, tasks)
    assert_task_order(harness.timeline, ids_of(tasks))


@requirement("ORDER-002", MUST)
@pytest.mark.parametrize(("first", "second"), [
    ("function", "async_function"), ("async_function", "function"),
    pytest.param("function", "partial", marks=needs(ANY_CALLABLE)),
    pytest.param("async_function", "async_partial", marks=needs(ANY_CALLABLE))])
async def test_next_task_waits_for_the_previous_one(harness: Harness, first: str, second: str) -> None:
    """A task starts only after the task added before it has ended: the tasks of one response never
    overlap."""
    call = harness.scenario([{"id": "first", "form": first, "gate": "first"},
                             {"id": "second", "form": second}])
    await call.response()
    await harness.wait_started("first")
    await harness.expect_none(started("second"), "the second task starting while the first is still running")
    harness.open("first")
    await harness.wait_started("second")
    assert_before(harness.timeline, ended("first"), started("second"),
                  first_is="the first task's end", then_is="the second task's start")


@requirement("ORDER-003", MUST)
@pytest.mark.parametrize("forms", [pytest.param(list(FORMS), id="every-form", marks=needs(ANY_CALLABLE)),
                                   pytest.param(FUNCTIONS * 3, id="functions")])
async def test_each_task_runs_exactly_once(harness: Harness, forms: list[str]) -> None:
    """Each added task runs exactly once."""
    tasks = plan_of(forms)
    await run_all(harness, tasks)
    last_end = harness.timeline.select(ended())[-1]
    await harness.expect_none(lambda e: e.kind == "task.start" and e.seq > last_end.seq,
                              "a task starting again after every task had run")
    assert_task_order(harness.timeline, ids_of(tasks))
    assert_task_order(harness.timeline, ids_of(tasks), "end")


@requirement("ORDER-004", MUST)
@pytest.mark.parametrize("adder", ["function", "async_function"])
async def test_task_added_while_running_runs_last(harness: Harness, adder: str) -> None:
    """A task added while the tasks of a response are running (a running task calls add_task) still runs,
    after every task added before it."""
    added = [{"id": "added-async", "form": "async_function"}, {"id": "added-sync", "form": "function"}]
    tasks = [{"id": "adder", "form": adder, "add": added}, {"id": "planned", "form": "lambda"}]
    call = await run_all(harness, tasks, count=4)
    assert call.assemble().json() == {"scheduled": ["adder", "planned"]}, (
        f"expected {{'scheduled': ['adder', 'planned']}}, got {call.assemble()}")
    assert_task_order(harness.timeline, ["adder", "planned", "added-async", "added-sync"])


@requirement("ORDER-005", MUST)
@pytest.mark.parametrize("forms", [pytest.param(MIXED, id="every-form", marks=needs(ANY_CALLABLE)),
                                   pytest.param(FUNCTIONS, id="functions")])
async def test_hundreds_of_tasks_all_run_in_order(harness: Harness, forms: list[str]) -> None:
    """Hundreds of tasks on one response all run, each once, in the order added."""
    tasks = plan_of([forms[n % len(forms)] for n in range(300)])
    await run_all(harness, tasks)
    assert_task_order(harness.timeline, ids_of(tasks))
    assert_task_order(harness.timeline, ids_of(tasks), "end")


# -- any plan -------------------------------------------------------------------------------------
def words(alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    """Strings over ``alphabet``, built so that hypothesis need not compute its unicode tables (a second)."""
    return st.lists(st.sampled_from(alphabet), max_size=max_size).map("".join)


ARGUMENTS = st.none() | st.booleans() | st.integers() | words("az09 _-é✓", 8)
KEYWORDS = words("abcxyz_", 6).map("kw_{}".format)  # never add_task's own `func`


@st.composite
def task_trees(draw: st.DrawFn, depth: int = 2) -> TaskPlan:
    """A task of any form with arguments, which adds up to two such tasks (to ``depth``) while it runs."""
    return {
        "form": draw(st.sampled_from(FORMS)),
        "args": draw(st.lists(ARGUMENTS, max_size=3)),
        "kwargs": draw(st.dictionaries(KEYWORDS, ARGUMENTS, max_size=2)),
        "add": draw(st.lists(task_trees(depth - 1), max_size=2)) if depth else [],
    }


def named(tasks: list[TaskPlan], prefix: str = "t") -> list[TaskPlan]:
    """The same tree with unique ids that show where each task sits: t1, t1.0, t1.0.1 ..."""
    return [{**spec, "id": f"{prefix}{n}", "add": named(spec["add"], f"{prefix}{n}.")}
            for n, spec in enumerate(tasks)]


def expected_runs(tasks: list[TaskPlan]) -> list[TaskPlan]:
    """The model: one queue in the order added; a running task's additions join its end."""
    queue, runs = deque(tasks), []
    while queue:
        spec = queue.popleft()
        runs.append(spec)
        queue.extend(spec["add"])
    return runs


def leaf(form: str, n: int) -> TaskPlan:
    return {"form": form, "args": [n], "kwargs": {"kw_n": n}, "add": []}


# Tried first in every run, so that every form is covered: each form once, the first adding two more tasks.
EACH_FORM = [{**leaf(FORMS[0], 0), "add": [leaf("async_function", 90), leaf("function", 91)]},
             *(leaf(form, n) for n, form in enumerate(FORMS[1:], 1))]


@requirement("ORDER-006", MUST)
@settings(deadline=None, database=None, report_multiple_bugs=False,  # examples: the profile (README)
          # harness_factory hands out a fresh harness per example, so sharing it is safe.
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(task_trees(), min_size=1, max_size=5))
@example(plan=EACH_FORM)
async def test_any_plan_runs_each_task_once_in_order(
    harness_factory: HarnessFactory, plan: list[TaskPlan]
) -> None:
    """For any plan of sync and async tasks of any callable form, with any arguments and with tasks added
    while running, every task runs exactly once, with its arguments, in the order added."""
    tasks = named(plan)
    runs = expected_runs(tasks)
    async with harness_factory() as harness:
        # Hypothesis replays a failing plan many times while it shrinks it: a task still missing a
        # short while after the call returned counts as lost here (ORDER-003/004 wait the full timeout).
        await run_all(harness, tasks, count=len(runs), straggle=harness.timeouts.quiet)
        assert_task_order(harness.timeline, ids_of(runs))
        for spec in runs:
            received, sent = harness.started_args(spec["id"]), (tuple(spec["args"]), spec["kwargs"])
            assert received == sent, f"expected task {spec['id']} ({spec['form']}) to get {sent!r}, got {received!r}"


@requirement("ORDER-007", MUST)
@needs(STARLETTE_TASKS)
async def test_starlettes_own_collection_runs_each_task_once_in_order(harness: Harness) -> None:
    """A response whose background is Starlette's own BackgroundTasks collection runs every task added to it, each
    once, in the order added, after the final body chunk."""
    tasks = plan_of(["async_function", "function", "async_function", "function"])
    call = harness.scenario(tasks, prefix=STARLETTE_TASKS_PREFIX)
    response, raised = await harness.complete(call)  # the app call returns once the tasks have run
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.json() == {"scheduled": ids_of(tasks)}, f"expected the plan's ids, got {response.text}"
    await harness.timeline.wait_for_count(ended(), len(tasks), timeout=harness.timeouts.wait,
                                          expected=f"{len(tasks)} tasks to end", stall=True)
    assert_task_order(harness.timeline, ids_of(tasks))
    assert_task_order(harness.timeline, ids_of(tasks), "end")
    assert_before(harness.timeline, final_body(call.id), started(ids_of(tasks)[0]),
                  first_is="the final body chunk", then_is="the first task's start")
