"""The broken implementations, each a factory the suite can be pointed at like any other target.

Each is the sample app with one defect: a broken ``BackgroundTasks`` plugged into the scenario
routes, a broken ASGI layer around the app, or one route replaced by a subtly wrong version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI
from pydantic import BaseModel
from starlette.background import BackgroundTasks as StarletteTasks
from starlette.types import ASGIApp

from conformance import TargetEnv
from sample_app import create_app

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

# -- a broken layer around the app ------------------------------------------------------------------
final_chunk_after_tasks = _wrapped(wrappers.FinalChunkAfterTasks)
response_after_tasks = _wrapped(wrappers.ResponseAfterTasks)
swallows_app_errors = _wrapped(wrappers.SwallowsAppErrors)
error_becomes_500 = _wrapped(wrappers.ErrorBecomes500)
stops_serving_after_error = _wrapped(wrappers.StopsServingAfterError)


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
