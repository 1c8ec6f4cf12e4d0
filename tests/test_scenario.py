"""Scenario plans: bad plans are PlanErrors, and every callable form is the kind it claims."""

from __future__ import annotations

import datetime
import functools
import inspect
from pathlib import Path
from typing import Any

import pytest
from starlette._utils import is_async_callable
from starlette.exceptions import HTTPException

from bgtasks_conformance import PlanError, Probe, ScenarioFailure, ScenarioModel
from bgtasks_conformance.observe.events import ended, errored, started
from bgtasks_conformance.target.scenario import (
    ASYNC_FORMS,
    FORMS,
    MUTATION_MARK,
    SYNC_FORMS,
    TaskSpec,
    make_callable,
    schedule,
)

Added = list[tuple[Any, tuple[Any, ...], dict[str, Any]]]


class Recorder:
    """An ``add_task`` that keeps what it was given, to run later like the framework would."""

    def __init__(self) -> None:
        self.added: Added = []

    def __call__(self, func: Any, *args: Any, **kwargs: Any) -> None:
        self.added.append((func, args, kwargs))

    async def run_all(self) -> None:
        index = 0
        while index < len(self.added):  # tasks may add tasks while running
            func, args, kwargs = self.added[index]
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):
                await result
            index += 1


@pytest.fixture
def probe() -> Probe:
    return Probe(gate_timeout=5.0)


def plan_of(probe: Probe, tmp_path: Path, body: Any) -> tuple[Any, Recorder]:
    add = Recorder()
    return schedule(probe, tmp_path, body, add), add


# -- bad plans ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "a plan is a JSON object, not list"),
        ("tasks", "a plan is a JSON object, not str"),
        ({"tasks": [{"form": "function"}]}, "each task needs a string 'id'"),
        ({"tasks": [{"id": 1}]}, "each task needs a string 'id'"),
        ({"tasks": ["a"]}, "each task needs a string 'id'"),
        ({"tasks": [{"id": "a", "form": "coro"}]}, "task 'a': unknown form 'coro'; one of function,"),
        ({"tasks": [{"id": "a", "fail": "crash"}]}, "task 'a': 'fail' is one of ('error', 'http_exception')"),
        ({"tasks": [{"id": "a", "add": [{"id": "b", "form": "x"}]}]}, "task 'b': unknown form 'x'"),
        ({"response": {"kind": "xml"}}, "response kind is one of ('json', 'stream', 'file'), not 'xml'"),
        ({"tasks": {"id": "a"}}, "'tasks' is a list, not dict"),
        ({"tasks": [], "response": "json"}, "'response' is an object, not str"),
        ({"tasks": [{"id": "a", "args": 1}]}, "task 'a': 'args' is a list, not int"),
        ({"tasks": [{"id": "a", "kwargs": [1]}]}, "task 'a': 'kwargs' is an object, not list"),
        ({"tasks": [{"id": "a", "add": "b"}]}, "task 'a': 'add' is a list, not str"),
        ({"tasks": [{"id": "a", "gate": 3}]}, "task 'a': 'gate' is a string, not int"),
        ({"tasks": [], "response": {"chunks": "3"}}, "response 'chunks' is an integer, not str"),
        ({"tasks": [], "response": {"status": 200.5}}, "response 'status' is an integer, not float"),
        ({"tasks": [{"id": "a", "form": "lambda", "defaults": {"x": 1}}]},
         "task 'a': 'defaults' needs form function or async_function, not 'lambda'"),
        ({"tasks": [{"id": "a", "defaults": {"class": 1}}]}, "a default names a parameter, which 'class'"),
        ({"tasks": [{"id": "a", "defaults": {"kwargs": 1}}]}, "which 'kwargs' cannot be"),
        ({"tasks": [{"id": "a", "partial_args": [1]}]},
         "task 'a': 'partial_args'/'partial_kwargs' need a partial form, not 'function'"),
        ({"tasks": [{"id": "a", "form": "partial", "partial_kwargs": [1]}]},
         "task 'a': 'partial_kwargs' is an object, not list"),
    ],
)
def test_a_bad_plan_is_a_plan_error_and_adds_nothing(probe: Probe, tmp_path: Path, body: Any,
                                                     message: str) -> None:
    add = Recorder()
    with pytest.raises(PlanError) as caught:
        schedule(probe, tmp_path, body, add)
    assert message in str(caught.value)
    assert add.added == []
    assert list(probe.timeline) == []


# -- forms ------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", SYNC_FORMS)
def test_sync_forms_are_not_coroutine_functions(probe: Probe, form: str) -> None:
    task = make_callable(probe, TaskSpec("t", form=form), Recorder())
    assert not inspect.iscoroutinefunction(task)
    assert not is_async_callable(task)
    task(1, k=2)
    assert probe.timeline.first(started("t"))["args"] == (1,)
    assert probe.timeline.first(ended("t")) is not None


@pytest.mark.parametrize("form", ASYNC_FORMS)
@pytest.mark.anyio
async def test_async_forms_are_detected_as_async_by_starlette(probe: Probe, form: str) -> None:
    task = make_callable(probe, TaskSpec("t", form=form), Recorder())
    assert is_async_callable(task)
    await task(1, k=2)
    assert probe.timeline.first(started("t"))["kwargs"] == {"k": 2}
    assert probe.timeline.first(ended("t")) is not None


@pytest.mark.parametrize(
    ("form", "kind"),
    [("function", inspect.isfunction), ("async_function", inspect.iscoroutinefunction),
     ("partial", lambda t: isinstance(t, functools.partial)),
     ("async_partial", lambda t: isinstance(t, functools.partial)),
     ("bound_method", inspect.ismethod), ("async_bound_method", inspect.ismethod),
     ("callable_object", lambda t: not inspect.isroutine(t) and callable(t)),
     ("async_callable_object", lambda t: not inspect.isroutine(t) and callable(t)),
     ("lambda", lambda t: t.__name__ == "<lambda>")],
)
def test_each_form_is_the_callable_it_names(probe: Probe, form: str, kind: Any) -> None:
    assert kind(make_callable(probe, TaskSpec("t", form=form), Recorder()))


def test_every_form_is_sync_or_async() -> None:
    assert set(FORMS) == set(SYNC_FORMS) | set(ASYNC_FORMS)
    assert not set(SYNC_FORMS) & set(ASYNC_FORMS)


# -- schedule -----------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_schedule_adds_in_order_and_decodes_markers(probe: Probe, tmp_path: Path) -> None:
    body = {"tasks": [
        {"id": "a", "args": [{"$mutable": [1]}, {"$now": True}], "kwargs": {"m": {"$model": {"name": "n"}}}},
        {"id": "b", "form": "async_function", "args": [{"plain": 1}]},
    ]}
    plan, add = plan_of(probe, tmp_path, body)
    assert plan.task_ids == ["a", "b"]
    assert plan.json_body() == {"scheduled": ["a", "b"]}
    assert (plan.response_kind, plan.status, plan.file_path) == ("json", 200, None)
    assert plan.chunks == [b"chunk-0\n", b"chunk-1\n", b"chunk-2\n"]
    (_, args, kwargs), (_, b_args, _) = add.added
    assert args[0] == [1, MUTATION_MARK]
    assert isinstance(args[1], datetime.datetime)
    assert kwargs["m"] == ScenarioModel(name="n", size=0)
    assert b_args == ({"plain": 1},)
    assert [e["task"] for e in probe.timeline if e.kind == "task.add"] == ["a", "b"]
    await add.run_all()
    assert probe.timeline.first(started("a"))["args"][0] is args[0]
    assert [e["task"] for e in probe.timeline if e.kind == "task.now"] == ["a", "b"]


def test_a_file_plan_writes_its_file_in_the_data_dir(probe: Probe, tmp_path: Path) -> None:
    first, _ = plan_of(probe, tmp_path, {"response": {"kind": "file", "chunks": 2, "status": 201}})
    second, _ = plan_of(probe, tmp_path, {"response": {"kind": "file", "chunks": 1}})
    assert first.file_path is not None and first.file_path.parent == tmp_path
    assert first.file_path.read_bytes() == b"chunk-0\nchunk-1\n"
    assert first.status == 201
    assert second.file_path != first.file_path


@pytest.mark.parametrize(("fail", "error"), [("error", ScenarioFailure), ("http_exception", HTTPException)])
@pytest.mark.parametrize("form", ["function", "async_function"])
@pytest.mark.anyio
async def test_a_failing_task_reports_and_raises(probe: Probe, tmp_path: Path, fail: str, error: type,
                                                 form: str) -> None:
    _, add = plan_of(probe, tmp_path, {"tasks": [{"id": "f", "form": form, "fail": fail}]})
    with pytest.raises(error):
        await add.run_all()
    assert probe.timeline.first(errored("f"))["error"] == error.__name__
    assert probe.timeline.first(ended("f")) is None


@pytest.mark.anyio
async def test_a_running_task_adds_its_children(probe: Probe, tmp_path: Path) -> None:
    body = {"tasks": [{"id": "parent", "add": [{"id": "child", "form": "async_partial", "args": [1]}]}]}
    _, add = plan_of(probe, tmp_path, body)
    await add.run_all()
    assert [e["task"] for e in probe.timeline if e.kind == "task.start"] == ["parent", "child"]
    assert add.added[1][1] == (1,)
