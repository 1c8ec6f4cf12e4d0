"""The broken implementations, each a factory the suite can be pointed at like any other target.

Each is the sample app with one defect: a broken ``BackgroundTasks`` plugged into the scenario
routes, a broken ASGI layer around the app, or one route replaced by a subtly wrong version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.background import BackgroundTasks as StarletteTasks
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.sample_app import create_app
from bgtasks_conformance.sample_app.dependencies import dependencies_app
from bgtasks_conformance.sample_app.groups import group_app
from bgtasks_conformance.sample_app.middleware import live_stream
from bgtasks_conformance.sample_app.scenario import run_scenario, scenario_router
from bgtasks_conformance.sample_app.websocket import denial_router
from bgtasks_conformance.target.contract import GROUP_PREFIX, MIDDLEWARE_PREFIXES

from . import tasks, wrappers


def _with_tasks(tasks_class: type[StarletteTasks]) -> Callable[[TargetEnv], FastAPI]:
    def factory(env: TargetEnv) -> FastAPI:
        return create_app(env, tasks_class=tasks_class)

    return factory


def _wrapped(wrapper: Callable[[ASGIApp], ASGIApp]) -> Callable[[TargetEnv], ASGIApp]:
    def factory(env: TargetEnv) -> ASGIApp:
        return wrapper(create_app(env))

    return factory


def _override(app: FastAPI, router: APIRouter) -> FastAPI:
    """Put ``router``'s routes in front of the app's, so they answer instead of the originals."""
    app.router.routes[:0] = router.routes
    return app


# -- a broken BackgroundTasks in the scenario routes ------------------------------------------------
starts_at_add = _with_tasks(tasks.StartsAtAdd)
reversed_order = _with_tasks(tasks.Reversed)
concurrent = _with_tasks(tasks.Concurrent)
runs_twice = _with_tasks(tasks.RunsTwice)
loses_added_while_running = _with_tasks(tasks.Snapshot)
drops_kwargs = _with_tasks(tasks.DropsKwargs)
copies_arguments = _with_tasks(tasks.CopiesArguments)
misdetects_async = _with_tasks(tasks.MisdetectsAsync)
sync_on_loop = _with_tasks(tasks.SyncOnLoop)
swallows_errors = _with_tasks(tasks.SwallowsErrors)
continues_after_error = _with_tasks(tasks.ContinuesAfterError)
reversed_args = _with_tasks(tasks.ReversedArgs)
keeps_results = _with_tasks(tasks.KeepsResults)
own_loop = _with_tasks(tasks.OwnLoop)
fresh_context = _with_tasks(tasks.FreshContext)
detached_tasks = _with_tasks(tasks.Detached)
quits_when_cancelled = _with_tasks(tasks.QuitsWhenCancelled)
continues_after_cancel = _with_tasks(tasks.ContinuesAfterCancel)

# -- a broken layer around the app ------------------------------------------------------------------
final_chunk_after_tasks = _wrapped(wrappers.FinalChunkAfterTasks)
response_after_tasks = _wrapped(wrappers.ResponseAfterTasks)
swallows_app_errors = _wrapped(wrappers.SwallowsAppErrors)
error_becomes_500 = _wrapped(wrappers.ErrorBecomes500)
stops_serving_after_error = _wrapped(wrappers.StopsServingAfterError)
drops_work_when_client_leaves = _wrapped(wrappers.DropsWorkWhenClientLeaves)


# -- one route replaced -----------------------------------------------------------------------------
class LooseIntelReportRequest(BaseModel):
    recipient_email: str  # EmailStr loosened to str
    report_name: str


def email_loosened(env: TargetEnv) -> FastAPI:
    """The seed 001 routes with ``EmailStr`` replaced by ``str``."""
    router = APIRouter()

    @env.observed
    def log_batcomputer_activity(user_email: str, activity: str = "") -> None:
        (env.data_dir / "activity_log.txt").open("a").write(f"User {user_email} activity: {activity}\n")

    @env.observed
    def simulate_intel_report_compilation(report_request: LooseIntelReportRequest) -> None:
        pass

    @router.post("/log-activity/{user_email}")
    async def log_user_activity(
        user_email: str, background_tasks: BackgroundTasks, activity_description: str = "Generic activity logged."
    ) -> dict[str, Any]:
        background_tasks.add_task(log_batcomputer_activity, user_email, activity=activity_description)
        return {"message": f"Activity logging initiated for {user_email}."}

    @router.post("/request-intel-report")
    async def request_intel_report(
        report_request: LooseIntelReportRequest, background_tasks: BackgroundTasks
    ) -> dict[str, Any]:
        background_tasks.add_task(simulate_intel_report_compilation, report_request)
        return {"message": f"Alfred is compiling the intel report '{report_request.report_name}' "
                           f"for {report_request.recipient_email}."}

    return _override(create_app(env), router)


def log_file_message_every_time(env: TargetEnv) -> FastAPI:
    """The log-activity stretch goal without its check: 'Creating log file' on every call."""
    router = APIRouter()

    @env.observed
    def log_batcomputer_activity(user_email: str, activity: str = "") -> None:
        print("--- BACKGROUND TASK: Creating log file ---")
        log_dir = env.data_dir / "batcomputer_logs"
        log_dir.mkdir(exist_ok=True)
        with (log_dir / "activity_log.txt").open("a") as log_file:
            log_file.write(f"User {user_email} activity: {activity}\n")

    @router.post("/log-activity/{user_email}")
    async def log_user_activity(
        user_email: str, background_tasks: BackgroundTasks, activity_description: str = "Generic activity logged."
    ) -> dict[str, Any]:
        background_tasks.add_task(log_batcomputer_activity, user_email, activity=activity_description)
        return {"message": f"Activity logging initiated for {user_email}."}

    return _override(create_app(env), router)


def blocking_in_background(env: TargetEnv) -> FastAPI:
    """The send-report-blocking endpoint "fixed" by moving its work into background tasks."""
    router = APIRouter()

    @env.observed
    def generate_report(email: str) -> None:
        print(f"Generating report for {email}...")

    @env.observed
    def send_report_email(email: str) -> None:
        print("Email sent.")

    @router.post("/send-report-blocking/{email}")
    async def send_report_blocking(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
        background_tasks.add_task(generate_report, email)
        background_tasks.add_task(send_report_email, email)
        return {"message": f"Report sent to {email}"}

    return _override(create_app(env), router)


# -- one /deps route replaced: the same dependencies, a subtly wrong endpoint -------------------------
def _replace_deps_route(app: FastAPI, path: str, build: Callable[[dict[str, Any]], Callable[..., Any]]) -> FastAPI:
    """Swap the endpoint of ``/deps{path}``; ``build`` gets the original route's parameter dependencies
    by parameter name, and the new route keeps the original's route-level dependencies."""
    deps = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/deps")
    routers = [deps.router]  # FastAPI >= 0.16x keeps included routers whole: look inside them too
    routers += [r.original_router for r in deps.router.routes if hasattr(r, "original_router")]
    routes, index, original = next((router.routes, i, r) for router in routers for i, r in enumerate(router.routes)
                                   if isinstance(r, APIRoute) and r.path == path)
    calls = {d.name: d.call for d in original.dependant.dependencies if d.name}
    routes[index] = APIRoute(path, build(calls), methods=["POST"], dependencies=original.dependencies)
    return app


def _adder(env: TargetEnv) -> Callable[[StarletteTasks, str, Callable[..., Any]], None]:
    def add(background_tasks: StarletteTasks, task: str, func: Callable[..., Any], *args: Any) -> None:
        env.probe.timeline.record("task.add", task=task)
        background_tasks.add_task(func, *args)

    return add


def fresh_tasks_in_endpoint(env: TargetEnv) -> FastAPI:
    """/deps/order's endpoint adds to a BackgroundTasks of its own, seeded with the injected one's tasks."""
    add = _adder(env)

    def report(who: str, tasks_id: int) -> None:
        pass

    def build(calls: dict[str, Any]) -> Callable[..., Any]:
        async def order(
            background_tasks: BackgroundTasks,
            annotated: None = Depends(calls["annotated"]),  # plain defaults: ``calls`` is local, and
            plain: None = Depends(calls["plain"]),  # annotations are strings resolved in the globals
            by_class: Any = Depends(calls["by_class"]),  # noqa: B008
        ) -> JSONResponse:
            own = BackgroundTasks(background_tasks.tasks)
            add(own, "added-by.endpoint", env.observed(report, name="added-by.endpoint"), "endpoint", id(own))
            return JSONResponse({"background_tasks": id(own)}, background=own)

        return order

    return _replace_deps_route(create_app(env), "/order", build)


def empty_background_keeps_tasks(env: TargetEnv) -> FastAPI:
    """/deps/response-background's "empty" BackgroundTasks is built from the injected one's tasks."""
    add = _adder(env)

    def build(calls: dict[str, Any]) -> Callable[..., Any]:
        async def response_background(
            background_tasks: BackgroundTasks, _: None = Depends(calls["_"]), background: str = "task"
        ) -> JSONResponse:
            add(background_tasks, "rb.injected", env.observed(lambda: None, name="rb.injected"))
            own = (BackgroundTask(env.observed(lambda: None, name="own_background")) if background == "task"
                   else BackgroundTasks(background_tasks.tasks))
            return JSONResponse({"background": background}, background=own)

        return response_background

    return _replace_deps_route(create_app(env), "/response-background", build)


def http_error_keeps_tasks(env: TargetEnv) -> FastAPI:
    """/deps/http-exception answers its HTTPException as a response that still carries the tasks."""
    add = _adder(env)

    def build(calls: dict[str, Any]) -> Callable[..., Any]:
        def where_or_error(background_tasks: BackgroundTasks, where: str = "endpoint") -> str | HTTPException:
            try:
                return str(calls["where"](background_tasks, where))
            except HTTPException as error:
                return error

        async def http_exception(
            background_tasks: BackgroundTasks, where: str | HTTPException = Depends(where_or_error),  # noqa: B008
        ) -> JSONResponse:
            error = where
            if not isinstance(error, HTTPException):
                add(background_tasks, "raise.endpoint", env.observed(lambda: None, name="raise.endpoint"))
                error = HTTPException(status_code=409, detail="raised by the endpoint after add_task")
            return JSONResponse({"detail": error.detail}, status_code=error.status_code, background=background_tasks)

        return http_exception

    return _replace_deps_route(create_app(env), "/http-exception", build)


def exit_task_runs(env: TargetEnv) -> FastAPI:
    """/deps/yield-exit-task's endpoint adds added_on_exit itself, so it runs where the exit code's add is dropped."""
    add = _adder(env)

    def build(calls: dict[str, Any]) -> Callable[..., Any]:
        async def with_exit_task(background_tasks: BackgroundTasks, _: None = Depends(calls["_"])) -> dict[str, str]:
            add(background_tasks, "added_on_exit", env.observed(lambda: None, name="added_on_exit"))
            return {"scope": "default"}

        return with_exit_task

    return _replace_deps_route(create_app(env), "/yield-exit-task", build)


def stream_resource_closed(env: TargetEnv) -> FastAPI:
    """/deps/yield-stream's endpoint closes the dependency's resource before it streams."""

    def build(calls: dict[str, Any]) -> Callable[..., Any]:
        async def stream_with_resource(resource: Any = Depends(calls["resource"])) -> StreamingResponse:  # noqa: B008
            resource.closed = True

            async def chunks() -> AsyncIterator[bytes]:
                for n in range(3):
                    env.probe.timeline.record("resource.use", resource=resource.name, closed=resource.closed, chunk=n)
                    yield f"chunk-{n}\n".encode()

            return StreamingResponse(chunks(), media_type="text/plain")

        return stream_with_resource

    return _replace_deps_route(create_app(env), "/yield-stream", build)


def dispatch_background_lost(env: TargetEnv) -> FastAPI:
    """The dispatch-background middleware answers a copy of call_next's response: the background set on it is lost
    (Starlette 0.38.3 and 0.38.4's bug, made on purpose)."""
    inner = FastAPI()
    inner.include_router(scenario_router(env))

    @env.observed
    def dispatch_background() -> None:
        pass

    @inner.middleware("http")
    async def sets_background(request: Request, call_next: Any) -> Response:
        response: Any = await call_next(request)
        env.probe.timeline.record("task.add", task="dispatch_background")
        response.background = BackgroundTask(dispatch_background)
        return StreamingResponse(response.body_iterator, status_code=response.status_code,
                                 headers=dict(response.headers))

    app = create_app(env)
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/mw/dispatch-background")
    mount.app = inner
    return app


# -- issue 21 ---------------------------------------------------------------------------------------------
tasks_wait_for_disconnect = _wrapped(wrappers.TasksWaitForDisconnect)
body_after_pathsend = _wrapped(wrappers.BodyAfterPathsend)


def _replace_mount(app: FastAPI, path: str, inner: ASGIApp) -> FastAPI:
    """Serve ``inner`` at the mount ``path`` instead of the original sub-application."""
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == path)
    mount.app = inner
    return app


def own_response_cancels_app(env: TargetEnv) -> FastAPI:
    """The own-response middleware cancels the endpoint's app when it answers its own response: the tasks are lost."""
    inner = FastAPI()
    inner.include_router(scenario_router(env))
    cancelling = wrappers.CancelsAppForOwnResponse(inner)
    return _replace_mount(create_app(env), MIDDLEWARE_PREFIXES["own-response"], cancelling)


def group_tasks_elsewhere(env: TargetEnv) -> FastAPI:
    """The route group's dependencies add their tasks to a BackgroundTasks of their own, which no response runs."""

    def elsewhere(background_tasks: BackgroundTasks, task: str, func: Callable[..., Any]) -> None:
        env.probe.timeline.record("task.add", task=task)
        BackgroundTasks().add_task(func)

    return _replace_mount(create_app(env), GROUP_PREFIX, group_app(env, adder=elsewhere))


def group_tasks_run_at_once(env: TargetEnv) -> FastAPI:
    """The route group's dependencies do their work at once, before the response, instead of adding a task."""

    def at_once(background_tasks: BackgroundTasks, task: str, func: Callable[..., Any]) -> None:
        env.probe.timeline.record("task.add", task=task)
        func()

    return _replace_mount(create_app(env), GROUP_PREFIX, group_app(env, adder=at_once))


def group_tasks_kept(env: TargetEnv) -> FastAPI:
    """A route group's endpoint returning Response(background=...) keeps the injected tasks beside its own."""

    def merged(injected: BackgroundTasks, own: Callable[[], None]) -> Any:
        return BackgroundTasks([*injected.tasks, BackgroundTask(own)])

    return _replace_mount(create_app(env), GROUP_PREFIX, group_app(env, own_background=merged))


class _Asgi24Stream(StreamingResponse):
    """A StreamingResponse that gets ASGI 2.4 wrong: ``skip`` its background, or ``swallow`` the client leaving."""

    mode = "skip"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("asgi", {}).get("spec_version") != "2.4":
            await super().__call__(scope, receive, send)
            return
        try:
            await self.stream_response(send)
        except OSError:
            return  # swallow: the client left, the app call returns as if all was well, the tasks lost silently
        if self.mode != "skip":
            await self.background()  # type: ignore[misc]


class _SwallowingStream(_Asgi24Stream):
    mode = "swallow"


class _ListeningStream(StreamingResponse):
    """Under ASGI 2.4 too, streams in a task group beside a listener for http.disconnect (Starlette 0.31 to 0.41): the
    send's OSError leaves the app call inside an ExceptionGroup."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async with anyio.create_task_group() as group:

            async def stream_then_stop() -> None:
                await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream_then_stop)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()
        if self.background is not None:
            await self.background()


def _with_stream_class(env: TargetEnv, stream_class: type[StreamingResponse]) -> FastAPI:
    """``/scenario`` with its streams built from ``stream_class``."""
    router = APIRouter()

    @router.post("/scenario")
    async def scenario(request: Request, background_tasks: BackgroundTasks) -> Response:
        response = run_scenario(env, await request.json(), background_tasks, None)
        if isinstance(response, StreamingResponse):
            response = stream_class(response.body_iterator, status_code=response.status_code,
                                    media_type=response.media_type)
        return response

    return _override(create_app(env), router)


def stream_skips_tasks_on_asgi_2_4(env: TargetEnv) -> FastAPI:
    """Under ASGI 2.4 a stream sent whole skips its background tasks."""
    return _with_stream_class(env, _Asgi24Stream)


def stream_listens_on_asgi_2_4(env: TargetEnv) -> FastAPI:
    """Under ASGI 2.4 a stream still listens for the disconnect, as Starlette 0.31 to 0.41 did."""
    return _with_stream_class(env, _ListeningStream)


def stream_swallows_client_leaving_on_asgi_2_4(env: TargetEnv) -> FastAPI:
    """Under ASGI 2.4 a stream whose client left returns as if all was well: its tasks are lost silently."""
    return _with_stream_class(env, _SwallowingStream)


# -- WebSocket denial responses (contract 4) ---------------------------------------------------------
def _denied_by(deny: Callable[[Any, Response], Any]) -> Callable[[TargetEnv], FastAPI]:
    """The sample app whose ``/ws/denial`` sends its denial response with ``deny``."""

    def factory(env: TargetEnv) -> FastAPI:
        return _override(create_app(env), denial_router(env, deny))

    return factory


async def _deny_dropping_background(websocket: Any, response: Response) -> None:
    """A denial helper that sends the response without its background: the tasks are lost."""
    response.background = None
    await websocket.send_denial_response(response)


async def _deny_after_background(websocket: Any, response: Response) -> None:
    """A denial helper that runs the background first, then sends the response without it."""
    background, response.background = response.background, None
    if background is not None:
        await background()
    await websocket.send_denial_response(response)


denial_drops_background = _denied_by(_deny_dropping_background)
denial_tasks_before_body = _denied_by(_deny_after_background)


# -- issue 21: contract 4 ---------------------------------------------------------------------------------
def accepted_answers_200(env: TargetEnv) -> FastAPI:
    """The route that must declare status_code=202 answers the default 200."""
    return _replace_mount(create_app(env), "/deps", dependencies_app(env, accepted_status=200))


def frontend_header_lost(env: TargetEnv) -> FastAPI:
    """The frontend group's dependency sets its header on a Response of its own, which is never sent."""
    return _replace_mount(create_app(env), GROUP_PREFIX, group_app(env, header_target=lambda injected: Response()))


def frontend_post_resolves_dependencies(env: TargetEnv) -> FastAPI:
    """The group's files served by a hand-written route for every method, under the group's dependencies: a POST
    resolves them (their tasks added) before its 405, which drops the tasks."""

    def by_hand(router: APIRouter) -> None:
        @router.api_route("/site-header/{path:path}", methods=["GET", "HEAD", "POST"])
        async def serve(request: Request, path: str, response: Response) -> Response:
            if request.method not in ("GET", "HEAD"):
                raise HTTPException(status_code=405, detail="Method Not Allowed")
            served = FileResponse(env.data_dir / "frontend" / path)
            served.headers.update(response.headers)  # the dependency's header, as frontend() applies it
            return served

    return _replace_mount(create_app(env), GROUP_PREFIX, group_app(env, before_frontend=by_hand))


drops_debug_message = _wrapped(wrappers.DropsDebugMessage)


drops_disconnect = _wrapped(wrappers.DropsDisconnect)


def own_response_leaves_app_waiting(env: TargetEnv) -> FastAPI:
    """The own-response middleware lets the endpoint's app run on with the client's receive(): a live stream behind it
    is never told that the response is over."""
    inner = FastAPI()
    inner.include_router(scenario_router(env))

    @inner.post("/live")
    async def live(request: Request, background_tasks: BackgroundTasks) -> Response:
        return live_stream(env, request, await request.json(), background_tasks, None)

    waiting = wrappers.OwnResponseLeavesAppWaiting(inner)
    return _replace_mount(create_app(env), MIDDLEWARE_PREFIXES["own-response"], waiting)
