"""The OpenAPI document: FastAPI's, plus what the create route parses by hand, and error bodies
declared as they are really answered (schemathesis checks responses against this)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.api.schemas import CreateJobRequest, MultipartCreateRequest
from shared.settings import Settings

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def build_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (CreateJobRequest, MultipartCreateRequest):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in model_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = model_schema
    # What the settings allow, so that generated clients and fuzzers know the real limits.
    fields = components["CreateJobRequest"]["properties"]
    fields["content_type"]["pattern"] = content_type_pattern(settings.allowed_content_types)
    fields["size_bytes"]["maximum"] = settings.max_upload_bytes
    for branch in components["JobOptions"]["properties"]["webhook_url"].get("anyOf", []):
        if branch.get("type") == "string":  # pydantic's HttpUrl: http(s) with a host only
            branch["pattern"] = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+"
    _declare_error_bodies(schema)
    app.openapi_schema = schema
    return schema


def content_type_pattern(allowed: tuple[str, ...]) -> str:
    """The accepted types, optionally with parameters (`audio/webm;codecs=opus`)."""
    escaped = (re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", t) for t in allowed)  # ECMA-262 safe
    return "^(" + "|".join(escaped) + r")(\s*;.*)?$"


def _declare_error_bodies(schema: dict[str, Any]) -> None:
    """Validation errors answer ErrorBody (see errors.py), not FastAPI's default shape."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            if answer is not None:
                answer["content"] = {"application/json": {"schema": dict(_ERROR_REF)}}
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
