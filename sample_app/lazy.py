"""Parts of the sample app built on their first request, so that a test pays only for what it calls.

Building a FastAPI route analyses its endpoint's signature (about a millisecond each); the app has some
thirty routes and a test calls one or two. Each part is still built from the factory call's own ``env``
and belongs to that app alone: nothing is kept between calls of the factory (CONTRACT.md section 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class OnFirstRequest:
    """An ASGI app that ``build`` makes on the first request (or the first look at its attributes)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    @property
    def built(self) -> ASGIApp:
        if self._app is None:
            self._app = self._build()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.built(scope, receive, send)

    def __getattr__(self, name: str) -> Any:  # app.router, app.routes ...: whoever looks inside builds it
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.built, name)


class FirstSegment(BaseRoute):
    """The routes ``build`` makes, built on the first request whose path starts with ``/<segment>``.

    Unlike ``Mount`` it keeps the path whole: the router's routes carry their full paths (``/guide/items/``)
    and run inside the app's own middleware and exception handlers, as routes it included would. ``segments``
    must name the first segment of every route ``build`` makes; the build checks that.
    """

    def __init__(self, segments: Iterable[str], build: Callable[[], Router]) -> None:
        self.segments = frozenset(segments)
        self.app = OnFirstRequest(lambda: self._checked(build()))

    def _checked(self, router: Router) -> Router:
        stray = {path.lstrip("/").split("/", 1)[0] for path in _paths(router)} - self.segments
        if stray:
            raise RuntimeError(f"routes under {sorted(stray)} are not in the segments {sorted(self.segments)}")
        return router

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path):]
        segment = path.lstrip("/").split("/", 1)[0]
        return (Match.FULL, {}) if segment in self.segments else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _paths(router: Router) -> list[str]:
    return [route.path for route in router.routes if isinstance(getattr(route, "path", None), str)]
