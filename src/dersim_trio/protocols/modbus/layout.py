"""SunSpec model layouts from SunSpec's own JSON model definitions (sans-IO).

The definitions are the ones pysunspec2 ships (``sunspec2/models/json/model_<id>.json``, copied
from the SunSpec Alliance models repository). They are read from the installed package's own
directory, by path: pysunspec2's loader (``sunspec2.device.get_model_def``) searches the current
working directory first, so a stray ``model_701.json`` next to the process would silently
replace the standard's definition. Nothing here is typed by hand: point names, types, sizes,
access, scale-factor references and enumerations all come from the JSON.

``layout_model(model_id, counts)`` walks a definition the way pysunspec2's client lays a model
out: points in order, then each sub-group ``count`` times (a count is an int or the name of a
top-level point such as ``NCrv``, ``NPt``, ``NCrvSet``, ``NCtl``, ``NPrt``; ``counts`` gives
their values). Repeated groups are named with 1-based indices, as pysunspec2 names them:
``Crv[2].Pt[3].V``. A point's scale factor is resolved as pysunspec2 resolves it: a point of
the same name in the point's own group, else at the model's top level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SUNSPEC_PACKAGE = "sunspec2"
MODEL_ID_POINT = "ID"
MODEL_LENGTH_POINT = "L"


@dataclass(frozen=True, slots=True)
class PointDef:
    """One point of a model definition."""

    name: str
    type: str
    size: int
    """Registers."""
    sf: str | int | None
    """Scale-factor point name, a literal exponent, or None."""
    writable: bool
    """``access`` RW."""
    mandatory: bool
    static: bool
    symbols: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PointSlot:
    """A point placed in a model: its path, offset from the model's ``ID`` register, and the
    path of its scale-factor point (or its literal exponent)."""

    path: str
    point: PointDef
    offset: int
    sf_path: str | None
    sf_literal: int | None


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """A model laid out for given group counts: ``length`` is SunSpec's ``L`` (registers after
    ``ID`` and ``L``)."""

    model_id: int
    label: str
    length: int
    points: tuple[PointSlot, ...]
    by_path: Mapping[str, PointSlot]

    @property
    def size(self) -> int:
        """Registers the model occupies, ``ID`` and ``L`` included."""
        return self.length + 2


def definitions_dir() -> str:
    """The installed pysunspec2's JSON model directory (never the working directory)."""
    return str(resources.files(SUNSPEC_PACKAGE).joinpath("models", "json"))


@cache
def model_definition(model_id: int) -> Mapping[str, Any]:
    """The JSON definition of ``model_id`` from the installed package (cached, read-only use)."""
    path = resources.files(SUNSPEC_PACKAGE).joinpath("models", "json", f"model_{model_id}.json")
    data: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if int(data["id"]) != model_id:
        raise ValueError(f"model_{model_id}.json defines model {data['id']}")
    return data


def _point_def(p: Mapping[str, Any]) -> PointDef:
    sf = p.get("sf")
    return PointDef(
        name=str(p["name"]),
        type=str(p["type"]),
        size=int(p["size"]),
        sf=sf if sf is None or isinstance(sf, str) else int(sf),
        writable=p.get("access", "R") == "RW",
        mandatory=p.get("mandatory", "O") == "M",
        static=p.get("static", "D") == "S",
        symbols={str(s["name"]): int(s["value"]) for s in p.get("symbols", ())},
    )


def layout_model(model_id: int, counts: Mapping[str, int] | None = None) -> ModelLayout:
    """Lay ``model_id`` out with ``counts`` for its counted groups (see the module docstring).

    Raises ``ValueError`` for a counted group whose count is not given.
    """
    counts = counts or {}
    top = model_definition(model_id)["group"]
    top_names = {str(p["name"]) for p in top.get("points", ())}
    slots: list[PointSlot] = []

    def place(group: Mapping[str, Any], prefix: str, offset: int) -> int:
        names = {str(p["name"]) for p in group.get("points", ())}
        for raw in group.get("points", ()):
            point = _point_def(raw)
            sf_path: str | None = None
            sf_literal: int | None = None
            if isinstance(point.sf, int):
                sf_literal = point.sf
            elif point.sf is not None:
                if point.sf in names:
                    sf_path = prefix + point.sf
                elif point.sf in top_names:
                    sf_path = point.sf
                else:
                    raise ValueError(f"model {model_id}: scale factor {point.sf} not found")
            slots.append(PointSlot(prefix + point.name, point, offset, sf_path, sf_literal))
            offset += point.size
        for sub in group.get("groups", ()):
            name = str(sub["name"])
            count = sub.get("count")
            if count is None:
                offset = place(sub, f"{prefix}{name}.", offset)
                continue
            if isinstance(count, str):
                if count not in counts:
                    raise ValueError(f"model {model_id}: group {name} needs the count {count}")
                n = counts[count]
            else:
                n = int(count)
            for i in range(1, n + 1):
                offset = place(sub, f"{prefix}{name}[{i}].", offset)
        return offset

    size = place(top, "", 0)
    points = tuple(slots)
    return ModelLayout(
        model_id=model_id,
        label=str(top.get("label", top["name"])),
        length=size - 2,
        points=points,
        by_path={s.path: s for s in points},
    )
