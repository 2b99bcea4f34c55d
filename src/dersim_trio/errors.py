"""The exceptions shared across layers.

Every layer raises these and every front end translates them (the web app maps each to a status
code in one error handler; the CLI prints ``ConfigError`` as one line and exits 2). This module
imports nothing from the package, so any module may use it without an import circle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ControlsRejected",
    "DeviceIndexError",
    "FieldProblem",
    "problems_text",
]


class ConfigError(Exception):
    """A flag or input file is invalid; ``str()`` is the one line shown to the user."""


class DeviceIndexError(LookupError):
    """A device index outside [0, N): the message says what is allowed (HTTP 404)."""

    def __init__(self, index: object, device_count: int) -> None:
        self.index = index
        self.device_count = device_count
        super().__init__(f"device index must be an integer in [0, {device_count - 1}]; got {index}")


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


class ControlsRejected(ValueError):
    """A controls update that cannot apply to this device (HTTP 422); ``problems`` lists every
    reason at once, and nothing changed."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__(problems_text(self.problems))
