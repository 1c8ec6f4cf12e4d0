"""A second implementation of the contract, with Starlette alone (CONTRACT.md section 9)."""

from .app import create_app

# What Starlette cannot provide; the requirements that need it are skipped with this reason.
create_app.conformance_lacks = {  # type: ignore[attr-defined]
    "dependencies": "Starlette has no dependency injection: no Depends, no yield dependencies, no "
                    "BackgroundTasks injected into dependencies and the endpoint alike (a FastAPI feature)",
    "frontend-routes": "Starlette has no frontend() route group: FastAPI's static route group that resolves its "
                       "router's dependencies",
}

__all__ = ["create_app"]
