"""``WEBSOCKET /ws/denial``: the handshake is denied with the plan's response, its tasks attached (contract 4)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, BackgroundTasks, WebSocket
from fastapi.responses import JSONResponse, Response

from bgtasks_conformance import PlanError, TargetEnv
from bgtasks_conformance.target.contract import DENIAL_PATH

from .scenario import plan_response

Deny = Callable[[WebSocket, Response], Awaitable[None]]


async def send_denial(websocket: WebSocket, response: Response) -> None:
    """``websocket.send_denial_response`` (Starlette 0.37 and later); before it, the same ASGI call that method makes,
    which those releases' responses do not know how to answer (the WebSocket refuses their http.response.start)."""
    if hasattr(websocket, "send_denial_response"):
        await websocket.send_denial_response(response)
    else:
        await response(websocket.scope, websocket.receive, websocket.send)


def denial_router(env: TargetEnv, deny: Deny = send_denial) -> APIRouter:
    """The route; ``deny`` sends the denial response (the gallery plugs in broken ones)."""
    router = APIRouter()

    @router.websocket(DENIAL_PATH)
    async def denial(websocket: WebSocket) -> None:
        tasks = BackgroundTasks()
        try:
            plan = env.schedule(json.loads(websocket.query_params.get("plan", "")), tasks.add_task)
        except (PlanError, ValueError) as error:
            await deny(websocket, JSONResponse({"detail": str(error)}, status_code=400))
            return
        response = plan_response(plan)
        response.background = tasks
        await deny(websocket, response)

    return router
