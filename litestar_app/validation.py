"""Request validation as CONTRACT.md section 5 asks: pydantic checks, errors take FastAPI's 422 shape.

Litestar validates declared parameters itself and answers 400 in its own shape; the seed endpoints
take the raw ``Request`` instead and check with pydantic, so that a failure is ``{"detail": [{"type",
"loc", "msg", "input", "ctx"?}, ...]}`` with ``loc`` starting where the value came from.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from email.message import Message
from typing import Any

from litestar import Request, Response
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

AnyRequest = Request[Any, Any, Any]
Endpoint = Callable[..., Awaitable[Response[Any]]]
REQUIRED: Any = object()


class Invalid(Exception):
    """The request fails validation; ``errors`` are FastAPI-shaped error entries."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def validating(endpoint: Endpoint) -> Endpoint:
    """The endpoint, answering 422 with the errors when it raises :class:`Invalid`."""

    @functools.wraps(endpoint)
    async def checked(*args: Any, **kwargs: Any) -> Response[Any]:
        try:
            return await endpoint(*args, **kwargs)
        except Invalid as error:
            return Response({"detail": to_jsonable_python(error.errors, fallback=str)}, status_code=422)

    return checked


def missing(*loc: str | int) -> dict[str, Any]:
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def validate(kind: Any, value: Any, *loc: str | int) -> Any:
    """``value`` validated as ``kind`` (a type pydantic knows), or :class:`Invalid` located at ``loc``."""
    try:
        return _adapter(kind).validate_python(value, from_attributes=True)
    except ValidationError as error:
        raise Invalid([_entry(entry, loc) for entry in error.errors(include_url=False)]) from None


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _entry(entry: Any, loc: tuple[str | int, ...]) -> dict[str, Any]:
    shaped = {"type": entry["type"], "loc": [*loc, *entry["loc"]], "msg": entry["msg"], "input": entry["input"]}
    if "ctx" in entry:
        shaped["ctx"] = entry["ctx"]
    return shaped


async def json_body(request: AnyRequest) -> Any:
    """The body as FastAPI reads it: JSON unless another content type is declared; empty is missing."""
    body = await request.body()
    if not body:
        raise Invalid([missing("body")])
    if not _declares_json(request.headers.get("content-type")):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise Invalid([{"type": "json_invalid", "loc": ["body", error.pos], "msg": "JSON decode error",
                        "input": {}, "ctx": {"error": error.msg}}]) from None


def _declares_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def query(request: AnyRequest, name: str, default: Any = REQUIRED) -> str:
    """A query parameter (a ``str``); a missing one is a 422 unless it has a default."""
    if name in request.query_params:
        return str(request.query_params[name])
    if default is REQUIRED:
        raise Invalid([missing("query", name)])
    return default  # type: ignore[no-any-return]
