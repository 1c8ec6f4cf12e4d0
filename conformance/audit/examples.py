"""The team's example requests, from ``--bgtasks-audit-examples FILE`` (TOML), and the requests the audit sends.

The file::

    [defaults]                       # added to every request, generated or not (e.g. the test user's token)
    headers = { Authorization = "Bearer test-token" }

    [["POST /items/{item_id}"]]      # one table per example request of an endpoint, as many as wanted
    path = { item_id = 1 }
    query = { notify = true }
    headers = { X-Request-Id = "audit" }
    json = { name = "book", price = 3.5 }
"""

from __future__ import annotations

import json as jsonlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

KEYS = ("path", "query", "headers", "json")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ExamplesError(Exception):
    """The examples file is unusable; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class AuditRequest:
    """One request the audit sends to an endpoint."""

    method: str
    path: str  # the template
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    source: str = "generated"

    def url(self) -> str:
        path = self.path
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", quote(_text(value), safe=""))
        pairs = [(k, _text(v)) for k, value in self.query.items()
                 for v in (value if isinstance(value, list) else [value])]
        return path + ("?" + urlencode(pairs) if pairs else "")

    def key(self) -> str:
        """What makes two requests the same (to send each once)."""
        return jsonlib.dumps([self.url(), sorted(self.headers.items()), self.json], sort_keys=True, default=str)

    def describe(self) -> str:
        body = f" json={jsonlib.dumps(self.json)[:120]}" if self.json is not None else ""
        return f"{self.method} {self.url()}{body} ({self.source})"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Examples:
    defaults: dict[str, dict[str, Any]]
    requests: dict[str, list[AuditRequest]]  # "POST /items" -> its examples

    def for_endpoint(self, label: str) -> list[AuditRequest]:
        return self.requests.get(label, [])

    def with_defaults(self, request: AuditRequest) -> AuditRequest:
        """The request with the default headers and query added: a generated request takes the defaults' values
        (the team's test token rather than a random one), an example keeps its own."""
        defaults_headers, defaults_query = self.defaults.get("headers", {}), self.defaults.get("query", {})
        if request.source == "generated":
            headers = {**{k: v for k, v in request.headers.items() if k.lower() not in
                          {d.lower() for d in defaults_headers}}, **defaults_headers}
            query = {**request.query, **defaults_query}
        else:
            headers = {**defaults_headers, **request.headers}
            query = {**defaults_query, **request.query}
        return AuditRequest(request.method, request.path, request.path_params, query, headers, request.json,
                            request.source)


NO_EXAMPLES = Examples({}, {})


def load(path: Path) -> Examples:
    """Read and check the examples file; every problem is one :class:`ExamplesError` naming the fix."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ExamplesError(f"--bgtasks-audit-examples {path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ExamplesError(f"--bgtasks-audit-examples {path}: not valid TOML ({error})") from None
    defaults = data.pop("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - {"headers", "query"}:
        raise ExamplesError(f"{path}: [defaults] takes only headers and query tables")
    requests: dict[str, list[AuditRequest]] = {}
    for label, entries in data.items():
        method, _, route = label.partition(" ")
        if method.upper() not in HTTP_METHODS or not route.startswith("/"):
            raise ExamplesError(f'{path}: entry {label!r}: name it "METHOD /path" as in the app, e.g. '
                                '[["POST /items/{item_id}"]]')
        entries = entries if isinstance(entries, list) else [entries]
        for n, entry in enumerate(entries, 1):
            unknown = set(entry) - set(KEYS) if isinstance(entry, dict) else {"(not a table)"}
            if unknown:
                raise ExamplesError(f"{path}: entry {label!r} #{n}: unknown keys {sorted(unknown)}; "
                                    f"use {', '.join(KEYS)}")
            missing = [name for name in _params(route) if name not in entry.get("path", {})]
            if missing:
                raise ExamplesError(f"{path}: entry {label!r} #{n}: give the path parameters "
                                    f"{', '.join(missing)} in path = {{ ... }}")
            requests.setdefault(f"{method.upper()} {route}", []).append(AuditRequest(
                method.upper(), route, dict(entry.get("path", {})), dict(entry.get("query", {})),
                {str(k): _text(v) for k, v in entry.get("headers", {}).items()}, entry.get("json"),
                f"example #{n} from {path.name}"))
    return Examples({k: {str(n): _text(v) if k == "headers" else v for n, v in dict(t).items()}
                     for k, t in defaults.items()}, requests)


def _params(route: str) -> list[str]:
    names, rest = [], route
    while "{" in rest:
        rest = rest.split("{", 1)[1]
        names.append(rest.split("}", 1)[0].split(":", 1)[0])
    return names
