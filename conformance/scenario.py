"""Scenario plans: the JSON a test sends to ``/scenario``, turned into tasks the target adds.

A plan names each task's callable form (function, partial, bound method, ...), its arguments,
the gate it holds on and whether it fails. The target passes the plan and its ``add_task`` to
:meth:`conformance.TargetEnv.schedule`; the harness builds the callables and calls ``add_task``
once per task, so the target's own scheduling and execution are what the suite observes.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException

from .probe import Probe

AddTask = Callable[..., Any]

SYNC_FORMS = ("function", "partial", "bound_method", "callable_object", "lambda")
ASYNC_FORMS = ("async_function", "async_partial", "async_bound_method", "async_callable_object")
FORMS = SYNC_FORMS + ASYNC_FORMS
FAILURES = ("error", "http_exception")
RESPONSE_KINDS = ("json", "stream", "file")
MUTATION_MARK = "mutated-after-add_task"


class PlanError(ValueError):
    """The plan a test (or a user) sent is not valid."""


class ScenarioFailure(RuntimeError):
    """The error a task raises when its plan says ``"fail": "error"``."""


class ScenarioModel(BaseModel):
    """The Pydantic model a ``{"$model": {...}}`` argument becomes."""

    name: str
    size: int = 0


@dataclass(frozen=True)
class TaskSpec:
    id: str
    form: str = "function"
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    gate: str | None = None
    fail: str | None = None
    add: tuple[TaskSpec, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> TaskSpec:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            raise PlanError(f"each task needs a string 'id': {raw!r}")
        form = raw.get("form", "function")
        if form not in FORMS:
            raise PlanError(f"task {raw['id']!r}: unknown form {form!r}; one of {', '.join(FORMS)}")
        fail = raw.get("fail")
        if fail is not None and fail not in FAILURES:
            raise PlanError(f"task {raw['id']!r}: 'fail' is one of {FAILURES}, not {fail!r}")
        return cls(
            id=raw["id"],
            form=form,
            args=tuple(raw.get("args", ())),
            kwargs=dict(raw.get("kwargs", {})),
            gate=raw.get("gate"),
            fail=fail,
            add=tuple(cls.parse(child) for child in raw.get("add", ())),
        )


@dataclass
class Plan:
    """What the target needs to build its response after :meth:`schedule` added the tasks."""

    task_ids: list[str]
    response_kind: str
    chunks: list[bytes]
    status: int
    file_path: Path | None = None

    def json_body(self) -> dict[str, Any]:
        return {"scheduled": self.task_ids}


def parse_plan(body: Any) -> tuple[list[TaskSpec], Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        raise PlanError(f"a plan is a JSON object, not {type(body).__name__}")
    tasks = [TaskSpec.parse(raw) for raw in body.get("tasks", ())]
    response = body.get("response", {})
    if response.get("kind", "json") not in RESPONSE_KINDS:
        raise PlanError(f"response kind is one of {RESPONSE_KINDS}, not {response.get('kind')!r}")
    return tasks, response


def schedule(probe: Probe, data_dir: Path, body: Any, add_task: AddTask) -> Plan:
    """Build every task of the plan and add it through ``add_task``; return the response plan."""
    tasks, response = parse_plan(body)
    mutables: list[list[Any]] = []
    for spec in tasks:
        _add(probe, spec, add_task, mutables)
    for value in mutables:  # after add_task returned: the task must see this change
        value.append(MUTATION_MARK)
    kind = response.get("kind", "json")
    chunks = [f"chunk-{n}\n".encode() for n in range(int(response.get("chunks", 3)))]
    plan = Plan([spec.id for spec in tasks], kind, chunks, int(response.get("status", 200)))
    if kind == "file":
        plan.file_path = data_dir / f"scenario-{len(list(data_dir.glob('scenario-*')))}.txt"
        plan.file_path.write_bytes(b"".join(chunks))
    return plan


def _add(probe: Probe, spec: TaskSpec, add_task: AddTask, mutables: list[list[Any]]) -> None:
    args = tuple(_decode(value, mutables) for value in spec.args)
    kwargs = {key: _decode(value, mutables) for key, value in spec.kwargs.items()}
    task = make_callable(probe, spec, add_task)
    probe.timeline.record("task.add", task=spec.id, args=args, kwargs=kwargs)
    add_task(task, *args, **kwargs)


def _decode(value: Any, mutables: list[list[Any]]) -> Any:
    """Turn ``{"$mutable": [...]}``, ``{"$now": true}`` and ``{"$model": {...}}`` into objects."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "$mutable":
            mutable = list(inner)
            mutables.append(mutable)
            return mutable
        if key == "$now":
            return datetime.datetime.now()
        if key == "$model":
            return ScenarioModel(**inner)
    return value


# -- the task bodies and their callable forms ---------------------------------------------------
def _run_sync(probe: Probe, spec: TaskSpec, add_task: AddTask, *args: Any, **kwargs: Any) -> None:
    probe.started(spec.id, args, kwargs)
    try:
        probe.hold(spec.gate, create=True)
        _finish(probe, spec, add_task)
    except BaseException as error:
        probe.failed(spec.id, error)
        raise
    probe.ended(spec.id)


async def _run_async(probe: Probe, spec: TaskSpec, add_task: AddTask, *args: Any, **kwargs: Any) -> None:
    probe.started(spec.id, args, kwargs)
    try:
        await probe.hold_async(spec.gate, create=True)
        _finish(probe, spec, add_task)
    except BaseException as error:
        probe.failed(spec.id, error)
        raise
    probe.ended(spec.id)


def _finish(probe: Probe, spec: TaskSpec, add_task: AddTask) -> None:
    probe.timeline.record("task.now", task=spec.id, now=datetime.datetime.now())
    if spec.fail == "error":
        raise ScenarioFailure(f"task {spec.id} failed as planned")
    if spec.fail == "http_exception":
        raise HTTPException(status_code=418, detail=f"task {spec.id} raised HTTPException as planned")
    for child in spec.add:
        _add(probe, child, add_task, [])


class _Runner:
    """Holds what a task body needs, for the bound-method and callable-object forms."""

    def __init__(self, probe: Probe, spec: TaskSpec, add_task: AddTask) -> None:
        self.bound = (probe, spec, add_task)

    def run(self, *args: Any, **kwargs: Any) -> None:
        _run_sync(*self.bound, *args, **kwargs)

    async def run_async(self, *args: Any, **kwargs: Any) -> None:
        await _run_async(*self.bound, *args, **kwargs)


class _CallableTask(_Runner):
    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.run(*args, **kwargs)


class _AsyncCallableTask(_Runner):
    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        await self.run_async(*args, **kwargs)


def make_callable(probe: Probe, spec: TaskSpec, add_task: AddTask) -> Callable[..., Any]:
    """The task as the callable form the spec names."""
    bound = (probe, spec, add_task)
    if spec.form == "function":

        def scenario_task(*args: Any, **kwargs: Any) -> None:
            _run_sync(*bound, *args, **kwargs)

        return scenario_task
    if spec.form == "async_function":

        async def async_scenario_task(*args: Any, **kwargs: Any) -> None:
            await _run_async(*bound, *args, **kwargs)

        return async_scenario_task
    forms: dict[str, Callable[[], Callable[..., Any]]] = {
        "partial": lambda: functools.partial(_run_sync, *bound),
        "async_partial": lambda: functools.partial(_run_async, *bound),
        "bound_method": lambda: _Runner(*bound).run,
        "async_bound_method": lambda: _Runner(*bound).run_async,
        "callable_object": lambda: _CallableTask(*bound),
        "async_callable_object": lambda: _AsyncCallableTask(*bound),
        "lambda": lambda: lambda *args, **kwargs: _run_sync(*bound, *args, **kwargs),
    }
    return forms[spec.form]()
