"""The routes a target provides (CONTRACT.md is the prose), grouped by capability.

A target may declare that it lacks a capability (``create_app.conformance_lacks``); its routes
are then not required and the requirements that need it are skipped with the reason.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

# The contract's version (CHANGELOG.md has its history): 1, 2026-11-23, the first routes; 2, 2026-12-02, the
# routes for version-dependent behaviour (section 11) and "middleware" split in two; 3, 2026-12-06, Starlette's own
# BackgroundTasks, a dispatch() answering its own response, route groups' dependencies (issue 21); 4, 2026-12-07, a
# WebSocket handshake denied with a response that carries tasks (websocket-denial), a route declaring
# status_code=202, a frontend() group whose dependency sets a header, a template page behind BaseHTTPMiddleware,
# a live stream behind a dispatch() answering its own response (issue 21). Routes a target misses while it has the
# rest of the contract (an implementation of an older version) are reported untested with the fix; they never stop
# the run (target/preflight.py).
CONTRACT_VERSION = 4
CHANGELOG_URL = "CHANGELOG.md, section \"Contract\""

SCENARIO = "scenario"
BASE_HTTP_MIDDLEWARE = "base-http-middleware"  # Starlette's BaseHTTPMiddleware
ASGI_MIDDLEWARE = "asgi-middleware"  # pure ASGI middleware: every ASGI framework can have it
SEEDS = "seed-endpoints"
SYNC_ENDPOINT = "sync-endpoint"
HANDLERS = "exception-handlers"
DEPENDENCIES = "dependencies"
STARLETTE_TASKS = "starlette-background-tasks"  # Starlette's own starlette.background.BackgroundTasks
FRONTEND_ROUTES = "frontend-routes"  # FastAPI's frontend() route group: static files under the router's dependencies
WEBSOCKET_DENIAL = "websocket-denial"  # a WebSocket handshake answered with an HTTP response (websocket.http.response)
# What a target on another framework lacks by nature; no routes of its own.
STARLETTE_RESPONSES = "starlette-responses"  # the responses are Starlette's (StreamingResponse, FileResponse ...)
# What a target that runs its tasks elsewhere (a queue's workers) lacks by nature; no routes of their own.
IN_PROCESS_TASKS = "tasks-in-process"  # tasks run in the web process, inside the app call, which ends with them
ANY_CALLABLE = "any-callable"  # lambdas, closures, bound methods, callable objects, partials as tasks
ARGUMENT_IDENTITY = "argument-identity"  # the task gets the very objects added, and sees later changes
CONTEXT_VARIABLES = "context-variables"  # the task sees the request's ContextVars
WORKER_THREADS = "worker-threads"  # sync tasks run in a thread of the web process's threadpool
EVENT_LOOP = "event-loop"  # async tasks run on the app's own event loop
ADD_WHILE_RUNNING = "add-while-running"  # a running task adds tasks to its own response
IN_PROCESS = (IN_PROCESS_TASKS, ANY_CALLABLE, ARGUMENT_IDENTITY, CONTEXT_VARIABLES, WORKER_THREADS,
              EVENT_LOOP, ADD_WHILE_RUNNING)
CAPABILITIES = (SCENARIO, BASE_HTTP_MIDDLEWARE, ASGI_MIDDLEWARE, SEEDS, SYNC_ENDPOINT, HANDLERS, DEPENDENCIES,
                STARLETTE_TASKS, FRONTEND_ROUTES, STARLETTE_RESPONSES, *IN_PROCESS, WEBSOCKET_DENIAL)
# Names a target may still use from earlier releases, and what they became.
RENAMED = {"middleware": (BASE_HTTP_MIDDLEWARE, ASGI_MIDDLEWARE)}

MIDDLEWARE_PREFIXES = {"base-http": "/mw/base-http", "pure-asgi": "/mw/pure-asgi",
                       "dispatch-background": "/mw/dispatch-background", "own-response": "/mw/own-response"}
STARLETTE_TASKS_PREFIX = "/starlette-tasks"
GROUP_PREFIX = "/deps/group"
FRONTEND_PATH = "/deps/group/site/index.html"
DENIAL_PATH = "/ws/denial"  # a WebSocket route; its plan is the query parameter "plan" (JSON)
WEBSOCKET = "WEBSOCKET"  # a route's method when it is a WebSocket route
FRONTEND_HEADER_PATH = "/deps/group/site-header/index.html"  # a frontend() group whose dependency sets a header
TEMPLATE_PATH = "/mw/base-http/template"  # a Jinja2 template page behind BaseHTTPMiddleware
OWN_RESPONSE_LIVE = "/mw/own-response/live"  # a live stream behind a dispatch() answering its own response
LIVE_EVENT_GATE = "live.event"  # the live stream's next event: the gate the test opens


@dataclass(frozen=True)
class Route:
    capability: str
    method: str
    path: str
    purpose: str
    since: int = 1  # the contract version that added the route


ROUTES: tuple[Route, ...] = (
    Route(SCENARIO, "POST", "/scenario", "run a scenario plan"),
    Route(BASE_HTTP_MIDDLEWARE, "POST", "/mw/base-http/scenario", "a scenario behind BaseHTTPMiddleware"),
    Route(ASGI_MIDDLEWARE, "POST", "/mw/pure-asgi/scenario", "a scenario behind pure ASGI middleware"),
    Route(BASE_HTTP_MIDDLEWARE, "POST", "/mw/dispatch-background/scenario",
          "a scenario behind BaseHTTPMiddleware whose dispatch() sets response.background", since=2),
    Route(BASE_HTTP_MIDDLEWARE, "POST", "/mw/own-response/scenario",
          "a scenario behind BaseHTTPMiddleware whose dispatch() answers a response of its own", since=3),
    Route(BASE_HTTP_MIDDLEWARE, "POST", OWN_RESPONSE_LIVE,
          "a live stream (one chunk per event) behind BaseHTTPMiddleware whose dispatch() answers its own response",
          since=4),
    Route(STARLETTE_TASKS, "POST", "/starlette-tasks/scenario",
          "a scenario whose response's background is Starlette's own BackgroundTasks", since=3),
    Route(SYNC_ENDPOINT, "POST", "/sync/scenario", "a scenario from a plain def endpoint"),
    Route(HANDLERS, "POST", "/handlers/scenario", "a scenario in an app with exception handlers"),
    Route(DEPENDENCIES, "POST", "/deps/order", "tasks added by dependencies of every kind"),
    Route(DEPENDENCIES, "POST", "/deps/yield", "a task using what a yield dependency provides"),
    Route(DEPENDENCIES, "POST", "/deps/yield-exit-error", "a yield dependency whose exit code raises"),
    Route(DEPENDENCIES, "POST", "/deps/function-scope", "a yield dependency with scope='function'"),
    Route(DEPENDENCIES, "POST", "/deps/yield-exit-task", "a yield dependency that adds a task in its exit code",
          since=2),
    Route(DEPENDENCIES, "POST", "/deps/yield-exit-task/function", "the same, declared with scope='function'", since=2),
    Route(DEPENDENCIES, "POST", "/deps/yield-stream", "a stream whose generator uses a yielded resource", since=2),
    Route(DEPENDENCIES, "POST", "/deps/response-background", "the endpoint returns Response(background=...)"),
    Route(DEPENDENCIES, "POST", "/deps/group/order", "tasks added by a route group's dependencies", since=3),
    Route(DEPENDENCIES, "POST", "/deps/group/response-background",
          "a route group's tasks when the endpoint returns Response(background=...)", since=3),
    Route(FRONTEND_ROUTES, "GET", FRONTEND_PATH, "a static file of a frontend() route group with dependencies",
          since=3),
    Route(DEPENDENCIES, "POST", "/deps/http-exception", "HTTPException raised after add_task"),
    Route(DEPENDENCIES, "POST", "/deps/accepted", "a path operation declared with status_code=202 whose dependencies "
          "and endpoint add tasks", since=4),
    Route(FRONTEND_ROUTES, "GET", FRONTEND_HEADER_PATH, "a static file of a frontend() route group whose dependency "
          "adds a task and sets a response header", since=4),
    Route(BASE_HTTP_MIDDLEWARE, "GET", TEMPLATE_PATH, "a Jinja2 template page with a background task, behind "
          "BaseHTTPMiddleware", since=4),
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
    Route(WEBSOCKET_DENIAL, WEBSOCKET, DENIAL_PATH, "deny the handshake with the plan's response, its tasks attached",
          since=4),
)


def denial_url(plan: dict[str, Any]) -> str:
    """The URL of the WebSocket denial route with ``plan`` (a scenario plan) in its query string."""
    return f"{DENIAL_PATH}?{urlencode({'plan': json.dumps(plan)})}"


def unknown_capabilities(lacks: dict[str, str]) -> list[str]:
    return sorted(set(lacks) - set(CAPABILITIES))


def unknown_capability_hint(name: str) -> str:
    """What to write instead of ``name``, which is not a capability: the closest name, and the valid ones."""
    if name in RENAMED:
        return f"split into {' and '.join(repr(n) for n in RENAMED[name])}: declare the one(s) you lack"
    close = difflib.get_close_matches(name, CAPABILITIES, n=1, cutoff=0.6)
    valid = ", ".join(CAPABILITIES)
    return (f"did you mean {close[0]!r}? " if close else "") + f"not a capability of the contract; valid: {valid}"
