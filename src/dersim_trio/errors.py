"""The exceptions shared across layers, and the one formatter of pydantic validation errors.

Every layer raises these and every front end translates them (the web app maps each to a status
code in one error handler; the CLI prints ``ConfigError`` as one line and exits 2). This module
imports nothing from the package, so any module may use it without an import circle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

__all__ = [
    "ConfigError",
    "ControlsRejected",
    "DeviceIndexError",
    "FieldProblem",
    "NotApplicableError",
    "NotReadyError",
    "RequestRejected",
    "problems_text",
    "validation_problems",
]


class ConfigError(Exception):
    """A flag or input file is invalid; ``str()`` is the one line shown to the user."""


class DeviceIndexError(LookupError):
    """A device index outside the process's devices (``[first, first + N)``, first = 0 but in a
    fleet shard): the message says what is allowed (HTTP 404)."""

    def __init__(self, index: object, device_count: int, first: int = 0) -> None:
        self.index = index
        self.device_count = device_count
        super().__init__(
            f"device index must be an integer in [{first}, {first + device_count - 1}]; got {index}"
        )


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One reason a request or file is refused, naming the field and what is allowed."""

    field: str
    message: str
    allowed: str | None = None

    def text(self) -> str:
        """``field: message (allowed: ...)``."""
        allowed = f" (allowed: {self.allowed})" if self.allowed else ""
        return f"{self.field}: {self.message}{allowed}"


def problems_text(problems: Iterable[FieldProblem]) -> str:
    """Every problem on one line, ``; ``-separated."""
    return "; ".join(p.text() for p in problems)


class NotApplicableError(LookupError):
    """The request names something this device type does not have (HTTP 404)."""


class NotReadyError(RuntimeError):
    """The answer needs a computed tick and there is none yet (HTTP 503)."""


class RequestRejected(ValueError):
    """A request refused as a whole (HTTP 422): ``problems`` lists every reason at once, and
    nothing changed."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__(problems_text(self.problems))


class ControlsRejected(RequestRejected):
    """A controls update that cannot apply to this device (its type, its other fields)."""


_TAG_NAMES = frozenset({"float", "int", "str", "bool", "none"})
_TAG_PREFIXES = ("function-", "literal[", "lax-or-strict[", "json-or-python[", "nullable[")


def _location(loc: Sequence[int | str]) -> str:
    """``connectors[0].kind`` from pydantic's ``("connectors", 0, "kind")``, without the
    validator and union-member tags pydantic puts in between."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item not in _TAG_NAMES and not item.startswith(_TAG_PREFIXES):
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(body)"


def _message(err: Any) -> str:
    """pydantic's message as a refusal: "must be greater than 0, got -5"."""
    if err["type"] == "missing":
        return "required"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if msg.startswith("Input should be "):
        msg = "must be " + msg.removeprefix("Input should be ")
    elif msg.startswith("Input should "):
        msg = "must " + msg.removeprefix("Input should ")
    else:
        msg = msg[:1].lower() + msg[1:]
    value = err.get("input")
    if not isinstance(value, dict | list):
        msg += f", got {json.dumps(value, default=repr)[:40]}"
    return msg


def validation_problems(
    exc: ValidationError,
    allowed: Callable[[str], str | None] | None = None,
    *,
    known_fields: Iterable[str] = (),
    allowed_at: Callable[[Sequence[int | str]], str | None] | None = None,
    root: str = "(body)",
) -> list[FieldProblem]:
    """The problems of a pydantic ``ValidationError``, one per error, in pydantic's order.

    ``allowed(top_level_field)`` supplies a field's allowed values or range (e.g. its
    description), or ``allowed_at(location)`` from pydantic's whole location for nested
    documents (``("connectors", 0, "max_power_kw")``; for a nested unknown field it names the
    fields allowed there); an unknown top-level field gets the list of ``known_fields``.
    ``root`` names a problem of the whole document (a model-level check).
    """
    known = ", ".join(known_fields) or None
    problems: list[FieldProblem] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if err["type"] == "extra_forbidden":
            hint = known if len(loc) == 1 or allowed_at is None else allowed_at(loc)
        elif allowed_at is not None:
            hint = allowed_at(loc)
        else:
            hint = allowed(str(loc[0]) if loc else "") if allowed is not None else None
        problems.append(FieldProblem(_location(loc) if loc else root, _message(err), hint))
    return problems
