"""Naming one quantity of a snapshot: a dotted path (``asset.rotor_speed_rpm``) or a short
name (``rotor_speed_rpm``) looked up in the top level, then ``metrics``, ``pq``, ``status``,
``energy`` and ``asset``."""

from __future__ import annotations

from typing import Any

from dersim_trio.api.schema import Snapshot
from dersim_trio.client.errors import DersimError

SECTIONS = ("metrics", "pq", "status", "energy", "asset")


class UnknownField(DersimError, KeyError):
    """The name matches no quantity of the snapshot; ``str()`` lists the available ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def flatten(snapshot: Snapshot) -> dict[str, Any]:
    """Every quantity of ``snapshot`` by dotted path (lists stay whole)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            out[prefix] = value

    walk("", snapshot.model_dump(mode="json"))
    return out


def resolve_field(snapshot: Snapshot, name: str) -> str:
    """The dotted path ``name`` refers to in ``snapshot``; ``UnknownField`` if none."""
    flat = flatten(snapshot)
    if name in flat:
        return name
    for section in SECTIONS:
        if f"{section}.{name}" in flat:
            return f"{section}.{name}"
    available = ", ".join(sorted(flat))
    raise UnknownField(f"unknown field {name!r}; available: {available}")


def field_value(snapshot: Snapshot, path: str) -> Any:
    """The value at dotted ``path`` (as JSON data); ``UnknownField`` if absent."""
    value: Any = snapshot.model_dump(mode="json")
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UnknownField(f"unknown field {path!r}")
        value = value[part]
    return value
