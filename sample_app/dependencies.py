"""The dependencies routes (CONTRACT.md section 8), as a sub-app mounted at ``/deps``.

The sub-app has its own app-level and router-level dependencies, so they reach only these routes.
Every task is added through :func:`add`, which records ``task.add`` before ``add_task``.
"""

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from bgtasks_conformance import ScenarioFailure, TargetEnv

FUNCTION_SCOPE = "scope" in inspect.signature(Depends).parameters  # FastAPI >= 0.121


@dataclass
class Resource:
    """What a yield dependency provides: open until its exit code runs."""

    name: str
    closed: bool = False


def dependencies_app(env: TargetEnv, *, accepted_status: int = 202) -> FastAPI:
    """The sub-app to mount at ``/deps``; ``accepted_status`` (what ``/deps/accepted`` declares) lets the gallery
    break it."""
    timeline = env.probe.timeline

    def add(background_tasks: BackgroundTasks, task: str, func: Callable[..., Any], *args: Any) -> None:
        timeline.record("task.add", task=task)
        background_tasks.add_task(func, *args)

    def report(who: str, tasks_id: int) -> None:
        """The task each participant adds: who added it, and to which BackgroundTasks object."""

    def reporter(background_tasks: BackgroundTasks, who: str) -> None:
        task = f"added-by.{who}"
        add(background_tasks, task, env.observed(report, name=task), who, id(background_tasks))

    # -- /deps/order: every kind of dependency ----------------------------------------------
    async def app_level(background_tasks: BackgroundTasks) -> None:
        reporter(background_tasks, "app")

    async def router_level(background_tasks: BackgroundTasks) -> None:
        reporter(background_tasks, "router")

    async def decorator_level(background_tasks: BackgroundTasks) -> None:
        reporter(background_tasks, "decorator")

    async def sub_dependency(background_tasks: BackgroundTasks) -> None:
        reporter(background_tasks, "sub")

    def plain_dependency(background_tasks: BackgroundTasks, _: None = Depends(sub_dependency)) -> None:
        reporter(background_tasks, "plain")

    class ClassDependency:
        def __init__(self, background_tasks: BackgroundTasks) -> None:
            reporter(background_tasks, "class")

    async def annotated_dependency(background_tasks: BackgroundTasks) -> None:
        reporter(background_tasks, "annotated")

    # -- yield dependencies -----------------------------------------------------------------
    def yielding(name: str, *, fail: bool = False) -> Callable[[], AsyncIterator[Resource]]:
        async def dependency() -> AsyncIterator[Resource]:
            resource = Resource(name)
            timeline.record("dependency.enter", dependency=name)
            try:
                yield resource
            finally:
                resource.closed = True
                timeline.record("dependency.exit", dependency=name)
            if fail:
                raise ScenarioFailure(f"the exit code of dependency {name!r} failed as planned")

        return dependency

    @env.observed
    def use_resource(resource: Resource) -> None:
        timeline.record("resource.use", resource=resource.name, closed=resource.closed)

    @env.observed
    def after_exit_error() -> None:
        pass

    function_scoped = yielding("function-scope")
    scoped = Depends(function_scoped, scope="function") if FUNCTION_SCOPE else Depends(function_scoped)

    # -- Response(background=...) and HTTPException -----------------------------------------
    @env.observed
    def own_background() -> None:
        pass

    def discarded(task: str) -> Callable[[], None]:
        return env.observed(lambda: None, name=task)

    def adds_to_discard(background_tasks: BackgroundTasks) -> None:
        add(background_tasks, "rb.dependency", discarded("rb.dependency"))

    def adds_then_raises(background_tasks: BackgroundTasks, where: str = "endpoint") -> str:
        add(background_tasks, "raise.dependency", discarded("raise.dependency"))
        if where == "dependency":
            raise HTTPException(status_code=409, detail="raised by the dependency after add_task")
        return where

    router = APIRouter(dependencies=[Depends(router_level)])

    @router.post("/order", dependencies=[Depends(decorator_level)])
    async def order(
        background_tasks: BackgroundTasks,
        annotated: Annotated[None, Depends(annotated_dependency)],
        plain: None = Depends(plain_dependency),
        by_class: ClassDependency = Depends(),  # noqa: B008 (the classic class-dependency form)
    ) -> dict[str, int]:
        reporter(background_tasks, "endpoint")
        return {"background_tasks": id(background_tasks)}

    @router.post("/yield")
    async def with_yield(
        background_tasks: BackgroundTasks, resource: Annotated[Resource, Depends(yielding("yield"))]
    ) -> dict[str, bool]:
        add(background_tasks, "use_resource", use_resource, resource)
        return {"closed": resource.closed}

    @router.post("/yield-exit-error")
    async def with_failing_exit(
        background_tasks: BackgroundTasks, _: Annotated[Resource, Depends(yielding("exit-error", fail=True))]
    ) -> dict[str, str]:
        add(background_tasks, "after_exit_error", after_exit_error)
        return {"status": "returned"}

    @router.post("/function-scope")
    async def with_function_scope(
        background_tasks: BackgroundTasks, resource: Annotated[Resource, scoped]
    ) -> dict[str, str]:
        add(background_tasks, "use_resource", use_resource, resource)
        return {"scope": "function" if FUNCTION_SCOPE else "default"}

    @router.post("/response-background")
    async def response_background(
        background_tasks: BackgroundTasks,
        _: Annotated[None, Depends(adds_to_discard)],
        background: str = "task",
    ) -> JSONResponse:
        add(background_tasks, "rb.injected", discarded("rb.injected"))
        own = BackgroundTask(own_background) if background == "task" else BackgroundTasks()
        return JSONResponse({"background": background}, background=own)

    @router.post("/http-exception")
    async def http_exception(
        background_tasks: BackgroundTasks, where: Annotated[str, Depends(adds_then_raises)]
    ) -> dict[str, str]:
        add(background_tasks, "raise.endpoint", discarded("raise.endpoint"))
        raise HTTPException(status_code=409, detail="raised by the endpoint after add_task")

    # -- issue 21: a declared status code (202 Accepted: the conventional answer for work done later) -------
    @router.post("/accepted", status_code=accepted_status)
    async def accepted(background_tasks: BackgroundTasks) -> dict[str, bool]:
        reporter(background_tasks, "endpoint")
        return {"accepted": True}

    # -- issue 14: a task added in a yield dependency's exit code; a stream using a yielded resource -----
    @env.observed
    def added_on_exit() -> None:
        pass

    def adds_on_exit(name: str) -> Callable[[BackgroundTasks], AsyncIterator[None]]:
        async def dependency(background_tasks: BackgroundTasks) -> AsyncIterator[None]:
            timeline.record("dependency.enter", dependency=name)
            yield None
            timeline.record("dependency.exit", dependency=name)
            add(background_tasks, "added_on_exit", added_on_exit)

        return dependency

    exit_task_default = Depends(adds_on_exit("exit-task"))
    exit_task_function = (Depends(adds_on_exit("exit-task"), scope="function") if FUNCTION_SCOPE
                          else Depends(adds_on_exit("exit-task")))

    @router.post("/yield-exit-task")
    async def with_exit_task(_: Annotated[None, exit_task_default]) -> dict[str, str]:
        return {"scope": "default"}

    @router.post("/yield-exit-task/function")
    async def with_function_scope_exit_task(_: Annotated[None, exit_task_function]) -> dict[str, str]:
        return {"scope": "function" if FUNCTION_SCOPE else "default"}

    @router.post("/yield-stream")
    async def stream_with_resource(
        resource: Annotated[Resource, Depends(yielding("yield-stream"))]
    ) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(3):
                timeline.record("resource.use", resource=resource.name, closed=resource.closed, chunk=n)
                yield f"chunk-{n}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    app = FastAPI(dependencies=[Depends(app_level)])
    app.include_router(router)
    return app
