"""``WEBSOCKET /ws/denial`` (CONTRACT.md, contract 4) in plain Starlette: the handshake denied with the plan's
response, its tasks attached."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from bgtasks_conformance import PlanError, TargetEnv
from bgtasks_conformance.target.contract import DENIAL_PATH

from .scenario import _parsed, run_scenario


async def send_denial(websocket: WebSocket, response: Response) -> None:
    """``websocket.send_denial_response`` (Starlette 0.37 and later); before it, the same ASGI call that method makes,
    which those releases' responses do not know how to answer (the WebSocket refuses their http.response.start)."""
    if hasattr(websocket, "send_denial_response"):
        await websocket.send_denial_response(response)
    else:
        await response(websocket.scope, websocket.receive, websocket.send)


def denial_route(env: TargetEnv) -> WebSocketRoute:
    """The route: the plan comes in the query parameter ``plan``; the response goes back as the denial."""

    async def denial(websocket: WebSocket) -> None:
        try:
            body = _parsed(websocket.query_params.get("plan", "").encode())
        except PlanError as error:
            await send_denial(websocket, JSONResponse({"detail": str(error)}, status_code=400))
            return
        await send_denial(websocket, run_scenario(env, body))

    return WebSocketRoute(DENIAL_PATH, denial)
