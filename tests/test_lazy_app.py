"""The sample app's parts built on first request (sample_app/lazy.py): built once, only when called, and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import NoMatchFound

from bgtasks_conformance import TargetEnv
from bgtasks_conformance.drive.asgi_driver import AsgiDriver
from bgtasks_conformance.observe.probe import Probe
from bgtasks_conformance.observe.timeline import Timeline
from bgtasks_conformance.sample_app import create_app
from bgtasks_conformance.sample_app.lazy import FirstSegment, OnFirstRequest


def router_with(*paths: str) -> APIRouter:
    router = APIRouter()
    for path in paths:
        router.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    return router


async def get(app: FastAPI, path: str) -> int:
    driver = AsgiDriver(app, Timeline(), timeout=5)
    return (await driver.start("GET", path).response()).status


@pytest.mark.anyio
async def test_a_part_is_built_on_its_first_request_and_only_once() -> None:
    built: list[str] = []

    def build() -> APIRouter:
        built.append("router")
        return router_with("/guide/items/", "/send-email/")

    app = FastAPI()
    app.router.routes.append(FirstSegment(["guide", "send-email"], build))
    assert await get(app, "/elsewhere") == 404
    assert built == []
    assert await get(app, "/guide/items/") == 200
    assert await get(app, "/send-email/") == 200
    assert built == ["router"]


@pytest.mark.anyio
async def test_a_route_outside_the_declared_segments_fails_the_build() -> None:
    app = FastAPI()
    app.router.routes.append(FirstSegment(["guide"], lambda: router_with("/guide/items/", "/stray/")))
    call = AsgiDriver(app, Timeline(), timeout=5).start("GET", "/guide/items/")
    assert (await call.response()).status == 500
    error = await call.finished()
    assert isinstance(error, RuntimeError)
    assert str(error) == "routes under ['stray'] are not in the segments ['guide']"


def test_first_segment_matches_http_paths_by_their_first_segment_only() -> None:
    route = FirstSegment(["guide"], lambda: router_with("/guide/x"))
    http = {"type": "http", "path": "/guide/x", "root_path": ""}
    assert route.matches(http)[0].name == "FULL"
    assert route.matches({**http, "path": "/guidebook/x"})[0].name == "NONE"
    assert route.matches({**http, "path": "/api/guide/x", "root_path": "/api"})[0].name == "FULL"
    assert route.matches({"type": "lifespan"})[0].name == "NONE"
    with pytest.raises(NoMatchFound):
        route.url_path_for("anything")


def test_looking_inside_a_lazy_app_builds_it() -> None:
    inner = FastAPI()
    lazy = OnFirstRequest(lambda: inner)
    assert lazy.router is inner.router
    with pytest.raises(AttributeError):
        lazy._private  # noqa: B018 (the attribute access is the test)


@pytest.mark.anyio
async def test_each_app_builds_its_own_parts_from_its_own_env(tmp_path: Path) -> None:
    """Two apps from two envs share nothing: each /deps part reports to its own probe."""
    timelines = [Timeline(), Timeline()]
    apps = [create_app(TargetEnv(Probe(timeline), tmp_path / str(n))) for n, timeline in enumerate(timelines)]
    for app, timeline in zip(apps, timelines, strict=True):
        driver = AsgiDriver(app, timeline, timeout=5)
        call = driver.start("POST", "/deps/yield", json={})
        assert (await call.response()).status == 200
        await call.finished()
    for timeline in timelines:
        assert [e["dependency"] for e in timeline.select(lambda e: e.kind == "dependency.enter")] == ["yield"]
