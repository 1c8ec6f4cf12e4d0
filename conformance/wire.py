"""The wire tier's view of one test: its app behind a real server, and a real HTTP client.

The client records what it received in the test's timeline (``client.response``, once the whole
body has arrived), next to the server's calls into the app and the tasks' own events, so the
same assertions that order ASGI messages order what went over the wire.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from . import events
from .harness import Harness
from .servers import LiveServer
from .timeline import Event, ExpectationFailed

_request_ids = itertools.count(1)


def client_response(request: int | None = None) -> events.Predicate:
    """The client has received a whole response (of ``request``, if given)."""
    return lambda e: e.kind == "client.response" and (request is None or e["request"] == request)


def server_returned(e: Event) -> bool:
    """The server's call into the app returned: for that request, every task has ended."""
    return e.kind == "server.return"


class Wire:
    """A harness's app served by ``server`` (uvicorn or hypercorn) and an httpx client for it."""

    def __init__(self, harness: Harness, server: LiveServer, client: httpx.AsyncClient) -> None:
        self.harness = harness
        self.server = server
        self.client = client

    @property
    def kind(self) -> str:
        return self.server.kind

    @property
    def timeline(self) -> Any:
        return self.harness.timeline

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send a request and read the whole response; ``client.response`` is recorded when it has arrived."""
        request = next(_request_ids)
        self.timeline.record("client.request", request=request, method=method, url=url)
        __tracebackhide__ = True
        wait = self.harness.timeouts.wait
        try:
            response = await self.client.request(method, url, timeout=wait, **options)
        except httpx.TimeoutException as error:
            raise ExpectationFailed(
                f"expected the whole response to {method} {url} from {self.kind} within {wait:g}s, "
                f"saw {type(error).__name__}; timeline:\n{self.timeline.format()}"
            ) from None
        self.timeline.record("client.response", request=request, status=response.status_code,
                             size=len(response.content))
        response.extensions["bgtasks_request"] = request
        return response

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def scenario(self, tasks: list[dict[str, Any]], *, prefix: str = "", **plan: Any) -> httpx.Response:
        """``POST {prefix}/scenario`` with these task specs, over the wire."""
        return await self.post(f"{prefix}/scenario", json={"tasks": tasks, **plan})

    async def all_calls_returned(self) -> None:
        """Wait until every call the server made into the app has returned (all their tasks ended)."""
        __tracebackhide__ = True
        calls = len(self.timeline.select(lambda e: e.kind == "server.call"))
        await self.timeline.wait_for_count(server_returned, calls, timeout=self.harness.timeouts.wait,
                                           expected=f"the server's {calls} calls into the app to return")
