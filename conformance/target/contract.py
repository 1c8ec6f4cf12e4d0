"""The routes a target provides (CONTRACT.md is the prose), grouped by capability.

A target may declare that it lacks a capability (``create_app.conformance_lacks``); its routes
are then not required and the requirements that need it are skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

SCENARIO = "scenario"
MIDDLEWARE = "middleware"
SEEDS = "seed-endpoints"
SYNC_ENDPOINT = "sync-endpoint"
HANDLERS = "exception-handlers"
DEPENDENCIES = "dependencies"
CAPABILITIES = (SCENARIO, MIDDLEWARE, SEEDS, SYNC_ENDPOINT, HANDLERS, DEPENDENCIES)

MIDDLEWARE_PREFIXES = {"base-http": "/mw/base-http", "pure-asgi": "/mw/pure-asgi",
                       "dispatch-background": "/mw/dispatch-background"}


@dataclass(frozen=True)
class Route:
    capability: str
    method: str
    path: str
    purpose: str


ROUTES: tuple[Route, ...] = (
    Route(SCENARIO, "POST", "/scenario", "run a scenario plan"),
    Route(MIDDLEWARE, "POST", "/mw/base-http/scenario", "a scenario behind BaseHTTPMiddleware"),
    Route(MIDDLEWARE, "POST", "/mw/pure-asgi/scenario", "a scenario behind pure ASGI middleware"),
    Route(MIDDLEWARE, "POST", "/mw/dispatch-background/scenario",
          "a scenario behind BaseHTTPMiddleware whose dispatch() sets response.background"),
    Route(SYNC_ENDPOINT, "POST", "/sync/scenario", "a scenario from a plain def endpoint"),
    Route(HANDLERS, "POST", "/handlers/scenario", "a scenario in an app with exception handlers"),
    Route(DEPENDENCIES, "POST", "/deps/order", "tasks added by dependencies of every kind"),
    Route(DEPENDENCIES, "POST", "/deps/yield", "a task using what a yield dependency provides"),
    Route(DEPENDENCIES, "POST", "/deps/yield-exit-error", "a yield dependency whose exit code raises"),
    Route(DEPENDENCIES, "POST", "/deps/function-scope", "a yield dependency with scope='function'"),
    Route(DEPENDENCIES, "POST", "/deps/yield-exit-task", "a yield dependency that adds a task in its exit code"),
    Route(DEPENDENCIES, "POST", "/deps/yield-exit-task/function", "the same, declared with scope='function'"),
    Route(DEPENDENCIES, "POST", "/deps/yield-stream", "a stream whose generator uses a yielded resource"),
    Route(DEPENDENCIES, "POST", "/deps/response-background", "the endpoint returns Response(background=...)"),
    Route(DEPENDENCIES, "POST", "/deps/http-exception", "HTTPException raised after add_task"),
    Route(SEEDS, "POST", "/gauntlet/send-notification/preflight@example.com", "seed 000 send-notification"),
    Route(SEEDS, "POST", "/send-report-blocking/preflight@example.com", "seed 000 blocking anti-pattern"),
    Route(SEEDS, "POST", "/generate-report", "seed 000 homework"),
    Route(SEEDS, "POST", "/log-activity/preflight@example.com", "seed 001 log-activity"),
    Route(SEEDS, "POST", "/request-intel-report", "seed 001 homework"),
    Route(SEEDS, "POST", "/overview/send-notification/preflight@example.com", "seed 002 basic"),
    Route(SEEDS, "POST", "/overview/multiple/send-notification/preflight@example.com", "seed 002 multiple tasks"),
    Route(SEEDS, "POST", "/process/", "seed 002 sync task"),
    Route(SEEDS, "POST", "/async/process/", "seed 002 async task"),
    Route(SEEDS, "POST", "/overview/items/", "seed 002 database dependency"),
    Route(SEEDS, "POST", "/register/", "seed 002 register"),
    Route(SEEDS, "POST", "/upload/", "seed 002 upload"),
    Route(SEEDS, "POST", "/chapter8/send-notification/preflight@example.com", "seed 003 send-notification"),
    Route(SEEDS, "POST", "/guide/items/", "seed 004 items"),
    Route(SEEDS, "POST", "/send-email/", "seed 004 send-email"),
)


def unknown_capabilities(lacks: dict[str, str]) -> list[str]:
    return sorted(set(lacks) - set(CAPABILITIES))
