"""Requests generated from an endpoint's OpenAPI operation with hypothesis and hypothesis-jsonschema.

Path, query and header parameters and a JSON body are drawn from their schemas (``$ref`` resolved against the
app's components); generation is derandomised, so the same app gets the same requests in every run.
"""

from __future__ import annotations

from typing import Any

from bgtasks_conformance.audit.examples import AuditRequest
from bgtasks_conformance.audit.routes import Endpoint

LOCATIONS = ("path", "query", "header")
SAFE_HEADER = frozenset(range(0x20, 0x7F))


def _header_safe(value: Any) -> bool:
    text = str(value)
    return bool(text) and all(ord(c) in SAFE_HEADER for c in text) and text.strip() == text


MAX_ITEMS = 4  # generated arrays stay short: the audit calls endpoints, it does not load-test them


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/"):
        found: Any = components
        for part in ref.removeprefix("#/components/").split("/"):
            found = found.get(part, {})
        return _resolve({**found, **{k: v for k, v in schema.items() if k != "$ref"}}, components)
    return schema


def schema_strategy(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A strategy for ``schema``: objects, arrays and unions are composed here (hypothesis-jsonschema's object
    strategy fails on current hypothesis: ``'many' object has no attribute 'more'``), every other schema (strings
    with formats and patterns, numbers with bounds, enums, constants) is hypothesis-jsonschema's."""
    from hypothesis import strategies as st
    from hypothesis_jsonschema import from_schema

    schema = _resolve(schema, components)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return st.one_of([schema_strategy(part, components) for part in schema[union]])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return schema_strategy(schema["allOf"][0], components)
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {name: schema_strategy(sub, components) for name, sub in properties.items() if name in required},
            optional={name: schema_strategy(sub, components) for name, sub in properties.items()
                      if name not in required})
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        low = int(schema.get("minItems", 0))
        return st.lists(schema_strategy(schema["items"], components), min_size=low,
                        max_size=max(low, min(int(schema.get("maxItems", MAX_ITEMS)), MAX_ITEMS)))
    return from_schema({k: v for k, v in schema.items() if k not in ("title", "description", "examples")} or {})


def _path_safe(value: Any) -> bool:
    return str(value) not in ("", ".", "..")


def _strategy(endpoint: Endpoint, components: dict[str, Any]) -> Any:
    from hypothesis import strategies as st

    def schema_of(schema: dict[str, Any]) -> Any:
        return schema_strategy(schema, components)

    operation = endpoint.operation or {}
    parts: dict[str, Any] = {}
    for location in LOCATIONS:
        params = [p for p in operation.get("parameters", []) if p.get("in") == location]
        required = {p["name"]: schema_of(p.get("schema", {})) for p in params if p.get("required")}
        optional = {p["name"]: schema_of(p.get("schema", {})) for p in params if not p.get("required")}
        if location == "header":
            required = {k: v.filter(_header_safe) for k, v in required.items()}
            optional = {k: v.filter(_header_safe) for k, v in optional.items()}
        if location == "path":
            required = {k: v.filter(_path_safe) for k, v in {**required, **optional}.items()}
            optional = {}
        parts[location] = st.fixed_dictionaries(required, optional=optional)
    body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
    parts["json"] = schema_of(body.get("schema", {})) if body is not None else st.none()
    return st.fixed_dictionaries(parts)


def generated(endpoint: Endpoint, components: dict[str, Any], count: int) -> tuple[list[AuditRequest], str]:
    """Up to ``count`` distinct requests for the endpoint, and a note when its schema could not be used."""
    if endpoint.note:
        return [], endpoint.note
    if count <= 0:
        return [], ""
    if endpoint.operation is None:
        if "{" in endpoint.path:
            return [], "no OpenAPI schema for its path parameters"
        return [AuditRequest(endpoint.method, endpoint.path)], ""
    from hypothesis import HealthCheck, Phase, given, settings

    try:
        strategy = _strategy(endpoint, components)
    except Exception as error:  # a schema hypothesis-jsonschema does not take
        return [], f"its schema cannot be generated from ({type(error).__name__}: {str(error)[:120]})"
    drawn: list[dict[str, Any]] = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(value: dict[str, Any]) -> None:
        drawn.append(value)

    try:
        draw()
    except Exception as error:  # e.g. an unsatisfiable schema
        return [], f"its schema cannot be generated from ({type(error).__name__}: {str(error)[:120]})"
    requests, seen = [], set()
    for value in drawn:
        request = AuditRequest(endpoint.method, endpoint.path, value["path"], value["query"],
                               {k: str(v) for k, v in value["header"].items()}, value["json"])
        if request.key() not in seen:
            seen.add(request.key())
            requests.append(request)
    return requests[:count], ""
