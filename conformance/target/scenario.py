"""Scenario plans: the JSON a test sends to ``/scenario``, turned into tasks the target adds.

A plan names each task's callable form (function, partial, bound method, ...), its arguments,
the gate it holds on and whether it fails. The target passes the plan and its ``add_task`` to
:meth:`bgtasks_conformance.TargetEnv.schedule`; the harness builds the callables and calls ``add_task``
once per task, so the target's own scheduling and execution are what the suite observes.
"""

from __future__ import annotations

import datetime
import functools
import keyword
import threading
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException

from bgtasks_conformance.observe.probe import Probe

AddTask = Callable[..., Any]

SYNC_FORMS = ("function", "partial", "bound_method", "callable_object", "lambda")
ASYNC_FORMS = ("async_function", "async_partial", "async_bound_method", "async_callable_object")
FORMS = SYNC_FORMS + ASYNC_FORMS
# Forms that show a hazard, not a way to write a task: a plain def returning its coroutine unawaited,
# and an async def that blocks its thread (the probe's blocking wait, as time.sleep would).
HAZARD_FORMS = ("sync_returning_coroutine", "async_blocking")
PLAN_FORMS = FORMS + HAZARD_FORMS
FAILURES = ("error", "http_exception")
RESPONSE_KINDS = ("json", "stream", "file")
MUTATION_MARK = "mutated-after-add_task"

# What a plan's "context" sets before the tasks are added, as an endpoint sets a request id.
REQUEST_CONTEXT: ContextVar[str | None] = ContextVar("bgtasks_request_context", default=None)


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
    defaults: Mapping[str, Any] = field(default_factory=dict)
    partial_args: tuple[Any, ...] = ()
    partial_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> TaskSpec:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            raise PlanError(f"each task needs a string 'id': {raw!r}")
        for name, kind in _TASK_FIELDS.items():
            if name in raw:
                _typed(raw[name], kind, f"task {raw['id']!r}: {name!r}")
        form = raw.get("form", "function")
        if form not in PLAN_FORMS:
            raise PlanError(f"task {raw['id']!r}: unknown form {form!r}; one of {', '.join(PLAN_FORMS)}")
        fail = raw.get("fail")
        if fail is not None and fail not in FAILURES:
            raise PlanError(f"task {raw['id']!r}: 'fail' is one of {FAILURES}, not {fail!r}")
        defaults = dict(raw.get("defaults", {}))
        binds = bool(raw.get("partial_args") or raw.get("partial_kwargs"))
        _check_form_options(raw["id"], form, defaults, binds)
        return cls(
            id=raw["id"],
            form=form,
            args=tuple(raw.get("args", ())),
            kwargs=dict(raw.get("kwargs", {})),
            gate=raw.get("gate"),
            fail=fail,
            add=tuple(cls.parse(child) for child in raw.get("add", ())),
            defaults=defaults,
            partial_args=tuple(raw.get("partial_args", ())),
            partial_kwargs=dict(raw.get("partial_kwargs", {})),
        )


def _check_form_options(task: str, form: str, defaults: Mapping[str, Any], binds: bool) -> None:
    """``defaults`` belong to the function forms, ``partial_args``/``partial_kwargs`` to the partials."""
    if defaults and form not in ("function", "async_function"):
        raise PlanError(f"task {task!r}: 'defaults' needs form function or async_function, not {form!r}")
    for name in defaults:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name in _VARIADIC:
            raise PlanError(f"task {task!r}: a default names a parameter, which {name!r} cannot be")
    if binds and form not in ("partial", "async_partial"):
        raise PlanError(f"task {task!r}: 'partial_args'/'partial_kwargs' need a partial form, not {form!r}")


_VARIADIC = ("args", "kwargs")

# What each task field is in JSON; a value of another type is a PlanError, not a crash later on.
_TASK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "args": list, "kwargs": Mapping, "gate": (str, type(None)), "add": list,
    "defaults": Mapping, "partial_args": list, "partial_kwargs": Mapping,
}
_TYPE_NAMES = {list: "a list", Mapping: "an object", str: "a string", int: "an integer"}


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is of the JSON type ``kind``, else a :class:`PlanError` naming ``what``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise PlanError(f"{what} is {_TYPE_NAMES[kinds[0]]}, not {type(value).__name__}")
    return value


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
    tasks = [TaskSpec.parse(raw) for raw in _typed(body.get("tasks", []), list, "'tasks'")]
    response = _typed(body.get("response", {}), Mapping, "'response'")
    if response.get("kind", "json") not in RESPONSE_KINDS:
        raise PlanError(f"response kind is one of {RESPONSE_KINDS}, not {response.get('kind')!r}")
    for name in ("chunks", "status"):  # checked before any task is added
        _typed(response.get(name, 0), int, f"response {name!r}")
    return tasks, response


def schedule(probe: Probe, data_dir: Path, body: Any, add_task: AddTask, remote: str | None = None) -> Plan:
    """Build every task of the plan and add it through ``add_task``; return the response plan.

    ``remote``: the probe's address; the function forms become importable functions that report there
    (:mod:`bgtasks_conformance.target.named`), for a queue that carries tasks by name.
    """
    tasks, response = parse_plan(body)
    if remote is not None:
        _check_named(tasks)
    if body.get("context") is not None:  # set where the endpoint runs: its context, its thread
        REQUEST_CONTEXT.set(str(body["context"]))
    mutables: list[list[Any]] = []
    for spec in tasks:
        _add(probe, spec, add_task, mutables, remote)
    for value in mutables:  # after add_task returned: the task must see this change
        value.append(MUTATION_MARK)
        probe.timeline.record("args.mutate", value=value)
    kind = response.get("kind", "json")
    chunks = [f"chunk-{n}\n".encode() for n in range(int(response.get("chunks", 3)))]
    plan = Plan([spec.id for spec in tasks], kind, chunks, int(response.get("status", 200)))
    if kind == "file":
        plan.file_path = data_dir / f"scenario-{len(list(data_dir.glob('scenario-*')))}.txt"
        plan.file_path.write_bytes(b"".join(chunks))
    return plan


def _add(probe: Probe, spec: TaskSpec, add_task: AddTask, mutables: list[list[Any]], remote: str | None = None
         ) -> None:
    args = tuple(_decode(value, mutables) for value in spec.args)
    kwargs = {key: _decode(value, mutables) for key, value in spec.kwargs.items()}
    probe.timeline.record("task.add", task=spec.id, args=args, kwargs=kwargs)
    if remote is not None and spec.form in ("function", "async_function"):
        from bgtasks_conformance.target import named

        task = named.scenario_task if spec.form == "function" else named.async_scenario_task
        add_task(task, {"id": spec.id, "gate": spec.gate, "fail": spec.fail, "probe": remote}, *args, **kwargs)
        return
    add_task(make_callable(probe, spec, add_task), *args, **kwargs)


def _check_named(tasks: list[TaskSpec]) -> None:
    """What a task handed over by name cannot be: a plan error before any task is added."""
    for spec in tasks:
        if spec.add:
            raise PlanError(f"task {spec.id!r}: a task handed to a queue by name cannot add tasks while it runs")
        if spec.defaults:
            raise PlanError(f"task {spec.id!r}: 'defaults' need a function built in process, not one known by name")


def _decode(value: Any, mutables: list[list[Any]]) -> Any:
    """Turn ``{"$mutable": [...]}``, ``{"$now": true}``, ``{"$model": {...}}``, ``{"$tuple": [...]}`` and
    ``{"$lock": true}`` into objects."""
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
        if key == "$tuple":  # what a JSON serializer turns into a list (DLV-020)
            return tuple(inner)
        if key == "$lock":  # what no serializer carries, like a database session or a connection (DLV-004)
            return threading.Lock()
    return value


# -- the task bodies and their callable forms ---------------------------------------------------
def _run_sync(probe: Probe, spec: TaskSpec, add_task: AddTask, /, *args: Any, **kwargs: Any) -> None:
    probe.started(spec.id, args, kwargs, **_seen_context())
    try:
        probe.hold(spec.gate, create=True)
        _finish(probe, spec, add_task)
    except BaseException as error:
        probe.failed(spec.id, error)
        raise
    probe.ended(spec.id)


async def _run_async(probe: Probe, spec: TaskSpec, add_task: AddTask, /, *args: Any, **kwargs: Any) -> None:
    probe.started(spec.id, args, kwargs, **_seen_context())
    try:
        await probe.hold_async(spec.gate, create=True)
        _finish(probe, spec, add_task)
    except BaseException as error:
        probe.failed(spec.id, error)
        raise
    probe.ended(spec.id)


def _seen_context() -> dict[str, str]:
    """``{"context": value}`` when the task sees a plan's context in its own context, else nothing."""
    value = REQUEST_CONTEXT.get()
    return {} if value is None else {"context": value}


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

    def run(self, /, *args: Any, **kwargs: Any) -> None:
        _run_sync(*self.bound, *args, **kwargs)

    async def run_async(self, /, *args: Any, **kwargs: Any) -> None:
        await _run_async(*self.bound, *args, **kwargs)


class _CallableTask(_Runner):
    def __call__(self, /, *args: Any, **kwargs: Any) -> None:
        self.run(*args, **kwargs)


class _AsyncCallableTask(_Runner):
    async def __call__(self, /, *args: Any, **kwargs: Any) -> None:
        await self.run_async(*args, **kwargs)


def make_callable(probe: Probe, spec: TaskSpec, add_task: AddTask) -> Callable[..., Any]:
    """The task as the callable form the spec names."""
    bound = (probe, spec, add_task)
    if spec.form == "function":

        def scenario_task(*args: Any, **kwargs: Any) -> None:
            _run_sync(*bound, *args, **kwargs)

        return _declaring(spec.defaults, scenario_task, is_async=False)
    if spec.form == "async_function":

        async def async_scenario_task(*args: Any, **kwargs: Any) -> None:
            await _run_async(*bound, *args, **kwargs)

        return _declaring(spec.defaults, async_scenario_task, is_async=True)
    partial_args = (*bound, *spec.partial_args)
    forms: dict[str, Callable[[], Callable[..., Any]]] = {
        "partial": lambda: functools.partial(_run_sync, *partial_args, **spec.partial_kwargs),
        "async_partial": lambda: functools.partial(_run_async, *partial_args, **spec.partial_kwargs),
        "bound_method": lambda: _Runner(*bound).run,
        "async_bound_method": lambda: _Runner(*bound).run_async,
        "callable_object": lambda: _CallableTask(*bound),
        "async_callable_object": lambda: _AsyncCallableTask(*bound),
        "lambda": lambda: lambda *args, **kwargs: _run_sync(*bound, *args, **kwargs),
        "sync_returning_coroutine": lambda: _returning_coroutine(bound),
        "async_blocking": lambda: _blocking_async(bound),
    }
    return forms[spec.form]()


def _declaring(
    defaults: Mapping[str, Any], task: Callable[..., Any], *, is_async: bool
) -> Callable[..., Any]:
    """``task`` behind a real function whose keyword-only parameters have ``defaults`` as defaults.

    The parameters are ordinary Python defaults (so the language, not the harness, fills in what
    the caller did not pass); the function hands each parameter's value on among the keywords.
    """
    if not defaults:
        return task
    declared = ", ".join(f"{name}=_defaults[{name!r}]" for name in defaults)
    passed = ", ".join(f"{name}={name}" for name in defaults)
    prefix, wait = ("async ", "await ") if is_async else ("", "")
    source = (
        f"{prefix}def scenario_task_with_defaults(*args, {declared}, **kwargs):\n"
        f"    return {wait}_task(*args, {passed}, **kwargs)\n"
    )
    namespace: dict[str, Any] = {"_defaults": dict(defaults), "_task": task}
    exec(source, namespace)  # the only way to give a function parameters named at run time
    return namespace["scenario_task_with_defaults"]  # type: ignore[no-any-return]


def _returning_coroutine(bound: tuple[Probe, TaskSpec, AddTask]) -> Callable[..., Any]:
    def sync_task_returning_coroutine(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        return _run_async(*bound, *args, **kwargs)  # not awaited here: only a caller can

    return sync_task_returning_coroutine


def _blocking_async(bound: tuple[Probe, TaskSpec, AddTask]) -> Callable[..., Any]:
    async def blocking_async_task(*args: Any, **kwargs: Any) -> None:
        _run_sync(*bound, *args, **kwargs)  # holds its gate with a blocking wait, like time.sleep

    return blocking_async_task
