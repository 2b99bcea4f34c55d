"""Reading and validating JSON request bodies, with errors that name the field and its range."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from dersim_trio.errors import RequestRejected, validation_problems
from dersim_trio.web.http_errors import RequestError

M = TypeVar("M", bound=BaseModel)
MAX_BODY_BYTES = 64 * 1024


async def read_json_body(model: type[M]) -> M:
    """Parse the request body as ``model``.

    Raises ``RequestError`` (415 unless JSON, 413 over ``MAX_BODY_BYTES``, 400 for bad JSON) or
    ``RequestRejected`` (422, one problem per invalid field, each with what it allows).
    """
    mimetype = request.mimetype
    if mimetype != "application/json":
        raise RequestError(
            415,
            "unsupported_media_type",
            f"the body must be application/json; got {mimetype or 'no Content-Type'}",
        )
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(
            413, "body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes"
        )
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(422, "validation_error", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(
            exc, lambda name: _description(model, name), known_fields=model.model_fields
        )
        raise RequestRejected(problems) from None


def _description(model: type[BaseModel], field: str) -> str | None:
    info = model.model_fields.get(field)
    return info.description if info is not None else None
