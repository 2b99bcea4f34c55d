"""JSON request bodies, whatever carried them: size and depth limits, parsing, validation
against an API model. The web layer (``web/bodies.py``) and the MQTT front end
(``protocols/mqtt/codec.py``) both decode bodies here, so a body refused over one transport is
refused over the other with the same status, error name and field list.

Limits: at most ``MAX_BODY_BYTES`` (413), not empty (400), JSON nested at most
``MAX_JSON_DEPTH`` deep (400: Python's parser would otherwise recurse once per level and fail
with ``RecursionError`` around a thousand), a JSON object (422), then the model's own
validation (422, one problem per field, each with what it allows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from dersim_trio.errors import RequestRejected, validation_problems

M = TypeVar("M", bound=BaseModel)
MAX_BODY_BYTES = 64 * 1024
EMPTY_BODY_DETAIL = "mutating requests need a JSON body ({} if nothing else)"
MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (the deepest API body, a grid-support
trip curve, is 5 deep)."""
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class BodyError(ValueError):
    """A body refused before its fields are looked at: ``status`` (400, 413, 422), the short
    ``error`` name and the ``detail`` sentence of the error body."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


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


def decode_json(raw: bytes | str) -> Any:
    """``raw`` as JSON; ``BodyError`` 400 ``invalid_json`` if it is not, or is nested deeper
    than ``MAX_JSON_DEPTH``."""
    if json_too_deep(raw.encode() if isinstance(raw, str) else raw):
        raise BodyError(
            400, "invalid_json", f"the body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
        )
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def body_too_large(size: int) -> BodyError:
    """The 413 of a body of ``size`` bytes, over ``MAX_BODY_BYTES``."""
    return BodyError(
        413,
        "body_too_large",
        f"the request body must be at most {MAX_BODY_BYTES} bytes; got {size} bytes",
    )


def decode_body(model: type[M], raw: bytes) -> M:
    """``raw`` (the whole body) as ``model``: ``BodyError`` (413 over ``MAX_BODY_BYTES``, 400
    when empty or not JSON, 422 unless a JSON object) or ``RequestRejected`` (422, one problem
    per invalid field, each with what it allows)."""
    if len(raw) > MAX_BODY_BYTES:
        raise body_too_large(len(raw))
    if not raw.strip():
        raise BodyError(400, "invalid_json", EMPTY_BODY_DETAIL)
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise BodyError(422, "validation_error", "the body must be a JSON object")
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
