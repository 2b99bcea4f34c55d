"""Reading and validating JSON request bodies, with errors that name the field and its range."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar, get_args

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
            exc,
            known_fields=model.model_fields,
            allowed_at=lambda loc: allowed_at(model, loc),
        )
        raise RequestRejected(problems) from None


def _models_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``annotation`` (``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _models_in(arg)
        if found is not None:
            return found
    return None


def allowed_at(model: type[BaseModel], loc: Sequence[int | str]) -> str | None:
    """What the field at pydantic location ``loc`` allows: its description (which states its
    range), or for a name the model does not have, the names it does."""
    current: type[BaseModel] | None = model
    description: str | None = None
    for item in loc:
        if isinstance(item, int) or current is None:
            continue
        info = current.model_fields.get(item)
        if info is None:
            if "[" in item or item in ("float", "int", "str", "bool", "none"):
                continue  # a union member's tag, not a field
            return "fields: " + ", ".join(current.model_fields)
        description = info.description
        current = _models_in(info.annotation)
    return description
