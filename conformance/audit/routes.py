"""Route discovery: FastAPI's OpenAPI operations, or a plain Starlette app's routes, as endpoints to call."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

from bgtasks_conformance.audit.instrument import Role, code_of, yield_line

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class DiscoveryError(Exception):
    """The app has no routes the audit can find; the message says what was given and what to give."""


@dataclass
class Endpoint:
    method: str
    path: str  # the template: /items/{item_id}
    operation: dict[str, Any] | None = None  # its OpenAPI operation, when the app has a schema
    roles: dict[types.CodeType, Role] = field(default_factory=dict)  # the endpoint's and dependencies' code
    note: str = ""  # why the audit cannot generate requests for it, if so

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _dependency_roles(dependant: Any, roles: dict[types.CodeType, Role]) -> None:
    for sub in getattr(dependant, "dependencies", ()):
        call = getattr(sub, "call", None)
        code = code_of(call) if call is not None else None
        if code is not None and code not in roles:
            generator = code.co_flags & (0x20 | 0x200)  # CO_GENERATOR | CO_ASYNC_GENERATOR
            roles[code] = Role("dependency", getattr(call, "__qualname__", code.co_name),
                               yield_line(call) if generator else None)
        _dependency_roles(sub, roles)


def _roles(route: Any) -> dict[types.CodeType, Role]:
    roles: dict[types.CodeType, Role] = {}
    code = code_of(route.endpoint)
    if code is not None:
        roles[code] = Role("endpoint", getattr(route.endpoint, "__qualname__", code.co_name))
    dependant = getattr(route, "dependant", None)
    if dependant is not None:
        _dependency_roles(dependant, roles)
    return roles


def discover(app: Any) -> list[Endpoint]:
    """Every HTTP endpoint of ``app``, sorted by path then method; the OpenAPI operation attached where known."""
    routes = getattr(app, "routes", None)
    if routes is None:
        raise DiscoveryError(f"{type(app).__name__} has no routes: give the FastAPI or Starlette application itself "
                             "(not an app wrapped in middleware), e.g. --bgtasks-app myapp.main:app")
    operations: dict[tuple[str, str], dict[str, Any]] = {}
    schema: dict[str, Any] = {}
    if callable(getattr(app, "openapi", None)):
        schema = app.openapi()
        for path, item in (schema.get("paths") or {}).items():
            for method, operation in item.items():
                if method.upper() in HTTP_METHODS:
                    operations[method.upper(), path] = operation
    endpoints = []
    for route in routes:
        methods = getattr(route, "methods", None)
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if path is None:
            continue
        if not methods or not hasattr(route, "endpoint"):  # listed, never silently left out
            kind = "a WebSocket route: the audit calls HTTP endpoints only" if "WebSocket" in type(route).__name__ \
                else f"a mounted application ({type(getattr(route, 'app', route)).__name__}): audit it on its own " \
                     "with --bgtasks-app"
            endpoints.append(Endpoint("ANY", getattr(route, "path", path) or "/", None, {}, kind))
            continue
        if str(getattr(route.endpoint, "__module__", "")).startswith("fastapi."):
            continue  # FastAPI's own documentation routes (/docs, /redoc, /openapi.json)
        for method in sorted(set(methods) - {"HEAD"}):
            operation = operations.get((method, path))
            endpoints.append(Endpoint(method, path, operation, _roles(route)))
    if not endpoints:
        raise DiscoveryError(f"{type(app).__name__} has no HTTP routes to audit")
    return sorted(endpoints, key=lambda e: (e.path, e.method))


def components(app: Any) -> dict[str, Any]:
    """The OpenAPI components (schemas referenced by ``$ref``), or {}."""
    return (app.openapi().get("components") or {}) if callable(getattr(app, "openapi", None)) else {}
