"""EVSE station specs (``--evse_profile NAME|FILE``): bundled names and JSON files → specs.

The six bundled stations are JSON files in ``dersim_trio/data/evse`` (documented behaviour §4.6);
``--evse_profile`` takes one of their names (``.json`` optional) or the path of a custom JSON file
of the same shape (``physics/evse/spec.py``; a file without ``name`` is named after its stem).
``dersim-trio --list-profiles`` lists the bundled names.

Every problem raises ``ValueError`` with one line: file not found, invalid JSON (line and
column), the first schema error (field path, message, allowed range, offending value), or an
unknown bundled name (listing the valid ones).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dersim_trio.errors import validation_problems
from dersim_trio.physics.evse.spec import (
    DEFAULT_STATION_NAME,
    EvseConnectorSpec,
    EvseStationSpec,
)

_PACKAGE = "dersim_trio.data.evse"


def bundled_station_names() -> list[str]:
    """Names of the bundled stations (file stems in ``dersim_trio/data/evse``), sorted."""
    folder = resources.files(_PACKAGE)
    return sorted(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def load_station_spec(name_or_path: str | Path = DEFAULT_STATION_NAME) -> EvseStationSpec:
    """A bundled station by name (``.json`` optional) or a custom JSON file by path."""
    text_name = str(name_or_path)
    bundled = bundled_station_names()
    stem = text_name.removesuffix(".json")
    if stem in bundled:
        return _load_bundled(stem)
    return _load_file(text_name, bundled)


@functools.cache
def _load_bundled(stem: str) -> EvseStationSpec:
    # Specs are frozen, so every device of a run can share one parsed copy.
    text = resources.files(_PACKAGE).joinpath(f"{stem}.json").read_text("utf-8")
    return _parse_spec(text, f"{stem}.json", stem)


def _load_file(text_name: str, bundled: list[str]) -> EvseStationSpec:
    path = Path(text_name)
    looks_like_path = text_name.endswith(".json") or "/" in text_name or "\\" in text_name
    if not path.is_file():
        if looks_like_path or path.exists():
            raise ValueError(f"EVSE profile file not found: {text_name}")
        raise ValueError(
            f"unknown EVSE profile {text_name!r}; bundled profiles: {', '.join(bundled)}"
            " (or give a path to a JSON file)"
        )
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"EVSE profile {text_name}: cannot read the file: {exc}") from None
    return _parse_spec(text, text_name, path.stem)


def _parse_spec(text: str, source: str, stem: str) -> EvseStationSpec:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"EVSE profile {source}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"EVSE profile {source}: the top level must be a JSON object")
    data.setdefault("name", stem)
    try:
        return EvseStationSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"EVSE profile {source}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    """The first problem in the project's one format (``errors.validation_problems``), with a
    count of the rest: a spec file gets one line."""
    problems = validation_problems(exc, allowed_at=_allowed_range, root="profile")
    text = problems[0].text()
    if len(problems) > 1:
        more = len(problems) - 1
        text += f" (+{more} more error{'s' if more > 1 else ''})"
    return text


def _allowed_range(loc: Sequence[int | str]) -> str | None:
    names = [item for item in loc if isinstance(item, str)]
    if not names:
        return None
    model: type[BaseModel] = EvseConnectorSpec if names[0] == "connectors" else EvseStationSpec
    field = model.model_fields.get(names[-1])
    if field is None:
        return None
    bounds: list[str] = []
    for meta in field.metadata:
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{symbol} {value:g}")
    return " and ".join(bounds) or None
