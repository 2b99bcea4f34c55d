"""Reading and validating JSON request bodies, with errors that name the field and its range."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from quart import Response, request

from dersim_trio.api.common import ErrorBody, FieldError

M = TypeVar("M", bound=BaseModel)
MAX_BODY_BYTES = 64 * 1024


def error_response(
    status: int, error: str, detail: str, fields: list[FieldError] | None = None
) -> Response:
    """A JSON error body ``{"error", "detail"[, "fields"]}`` with ``status``."""
    body = ErrorBody(error=error, detail=detail, fields=fields)
    return Response(
        body.model_dump_json(exclude_none=True), status=status, content_type="application/json"
    )


def _allowed(model: type[BaseModel], field: str) -> str | None:
    info = model.model_fields.get(field)
    return info.description if info is not None else None


async def read_json_body(model: type[M]) -> M | Response:
    """Parse the request body as ``model``: 415 unless JSON, 400 for bad JSON, 422 per field."""
    mimetype = request.mimetype
    if mimetype != "application/json":
        return error_response(
            415,
            "unsupported_media_type",
            f"the body must be application/json; got {mimetype or 'no Content-Type'}",
        )
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > MAX_BODY_BYTES:
        return error_response(
            413, "body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes"
        )
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        return error_response(400, "invalid_json", f"the body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return error_response(422, "validation_error", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: list[FieldError] = []
        for err in exc.errors(include_url=False):
            name = ".".join(str(part) for part in err["loc"]) or "(body)"
            top = str(err["loc"][0]) if err["loc"] else ""
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(model.model_fields)
                message = "unknown field"
                fields.append(FieldError(field=name, message=message, allowed=allowed))
            else:
                fields.append(FieldError(field=name, message=message, allowed=_allowed(model, top)))
        detail = "; ".join(
            f"{f.field}: {f.message}" + (f" (allowed: {f.allowed})" if f.allowed else "")
            for f in fields
        )
        return error_response(422, "validation_error", detail, fields)
