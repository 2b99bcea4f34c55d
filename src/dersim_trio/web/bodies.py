"""JSON bodies: reading and validating requests (errors name the field and its range), and
writing responses.

Limits on every request body (each a 4xx with a message, never a 5xx): those of
``api/bodies.py`` (size 413, nesting 400, object 422, fields 422), shared with the MQTT front
end, and all of it within ``BODY_TIMEOUT_S`` (408, quart's ``BODY_TIMEOUT``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import Response, request

from dersim_trio.api.bodies import MAX_BODY_BYTES as MAX_BODY_BYTES
from dersim_trio.api.bodies import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from dersim_trio.api.bodies import BodyError, decode_body, decode_json
from dersim_trio.api.bodies import allowed_at as allowed_at
from dersim_trio.api.bodies import json_too_deep as json_too_deep
from dersim_trio.web.http_errors import RequestError

M = TypeVar("M", bound=BaseModel)
BODY_TIMEOUT_S = 5
"""Seconds a request body may take to arrive (quart's ``BODY_TIMEOUT``, default 60)."""


def parse_json(raw: bytes | str) -> Any:
    """``raw`` as JSON; ``RequestError`` 400 ``invalid_json`` if it is not, or is nested deeper
    than ``MAX_JSON_DEPTH``."""
    try:
        return decode_json(raw)
    except BodyError as exc:
        raise RequestError(exc.status, exc.error, exc.detail) from None


async def read_json_body(model: type[M]) -> M:
    """Parse the request body as ``model`` (``api/bodies.py`` ``decode_body``).

    Raises ``RequestError`` (415 unless JSON, 413 over ``MAX_BODY_BYTES``, 400 for bad JSON,
    422 unless an object) or ``RequestRejected`` (422, one problem per invalid field, each with
    what it allows).
    """
    mimetype = request.mimetype
    if mimetype != "application/json":
        raise RequestError(
            415,
            "unsupported_media_type",
            f"the body must be application/json; got {mimetype or 'no Content-Type'}",
        )
    raw = await request.get_data(cache=False, as_text=False)
    try:
        return decode_body(model, raw if isinstance(raw, bytes) else raw.encode())
    except BodyError as exc:
        raise RequestError(exc.status, exc.error, exc.detail) from None


def json_response(body: BaseModel | str | bytes, status: int = 200) -> Response:
    """A JSON answer: a model (serialised), or text/bytes already encoded."""
    payload = body.model_dump_json() if isinstance(body, BaseModel) else body
    return Response(payload, status=status, content_type="application/json")


def json_list_response(models: Sequence[BaseModel]) -> Response:
    """A JSON array of models."""
    return json_response("[" + ",".join(m.model_dump_json() for m in models) + "]")
