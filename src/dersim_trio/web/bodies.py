"""JSON bodies: reading and validating requests (errors name the field and its range), and
writing responses.

Limits on every request body (each a 4xx with a message, never a 5xx): at most
``MAX_BODY_BYTES`` (413), all of it within ``BODY_TIMEOUT_S`` (408, quart's ``BODY_TIMEOUT``),
JSON nested at most ``MAX_JSON_DEPTH`` deep (400: Python's parser would otherwise recurse once
per level and fail with ``RecursionError`` around a thousand).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from quart import Response, request

from dersim_trio.errors import RequestRejected, validation_problems
from dersim_trio.web.http_errors import RequestError, body_limit_text

M = TypeVar("M", bound=BaseModel)
MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 5
"""Seconds a request body may take to arrive (quart's ``BODY_TIMEOUT``, default 60)."""
MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (the deepest API body, a grid-support
trip curve, is 5 deep)."""
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects deeper than ``limit`` (brackets
    inside strings do not count). Linear, no recursion: fewer brackets than the limit settle
    it at once, otherwise the brackets outside strings are scanned."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _STRING.sub(b"", raw).translate(_BRACKETS, delete=_NOT_BRACKETS):
        depth += 1 if byte == 0x28 else -1  # "(" opens
        if depth > limit:
            return True
    return False


def parse_json(raw: bytes | str) -> Any:
    """``raw`` as JSON; ``RequestError`` 400 ``invalid_json`` if it is not, or is nested deeper
    than ``MAX_JSON_DEPTH``."""
    if json_too_deep(raw.encode() if isinstance(raw, str) else raw):
        raise RequestError(
            400, "invalid_json", f"the body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
        )
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


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
        raise RequestError(413, "body_too_large", body_limit_text(MAX_BODY_BYTES, len(raw)))
    data = parse_json(raw) if raw else None
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


def json_response(body: BaseModel | str | bytes, status: int = 200) -> Response:
    """A JSON answer: a model (serialised), or text/bytes already encoded."""
    payload = body.model_dump_json() if isinstance(body, BaseModel) else body
    return Response(payload, status=status, content_type="application/json")


def json_list_response(models: Sequence[BaseModel]) -> Response:
    """A JSON array of models."""
    return json_response("[" + ",".join(m.model_dump_json() for m in models) + "]")
