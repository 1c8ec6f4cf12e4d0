"""A third implementation of the contract, on Litestar (CONTRACT.md section 10), written from CONTRACT.md."""

from .app import create_app

# What Litestar cannot provide; the requirements that need it are skipped with this reason.
create_app.conformance_lacks = {  # type: ignore[attr-defined]
    "base-http-middleware": "Litestar has no BaseHTTPMiddleware (Starlette's dispatch/call_next middleware that "
                            "re-streams the response); all of its middleware is pure ASGI",
    "dependencies": "Litestar's dependency injection has no BackgroundTasks parameter that dependencies and the "
                    "endpoint share: tasks belong to the response it returns (these routes show FastAPI's Depends)",
    "starlette-background-tasks": "Litestar has its own BackgroundTasks (litestar.background_tasks), not "
                                  "Starlette's",
    "starlette-responses": "Litestar's responses are its own, not Starlette's StreamingResponse and FileResponse",
    "frontend-routes": "Litestar has no frontend() route group (FastAPI's static route group that resolves its "
                       "router's dependencies)",
    "websocket-denial": "Litestar 2 has no way to deny a WebSocket handshake with an HTTP response: it names the "
                        "websocket.http.response extension's messages in its types, but nothing of it sends them",
}
# What Litestar knowingly does differently, with the upstream links (the suite reads this file).
create_app.conformance_expectations = "expectations.toml"  # type: ignore[attr-defined]

__all__ = ["create_app"]
