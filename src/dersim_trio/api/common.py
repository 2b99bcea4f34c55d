"""What every route shares: the error body and the ``?device=N`` query parameter."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    """One invalid field of a request body or query."""

    field: str
    message: str
    allowed: str | None = Field(default=None, description="The field's allowed values or range.")


class ErrorBody(BaseModel):
    """Every 4xx/5xx JSON body."""

    error: str = Field(description="Short machine-friendly error name.")
    detail: str = Field(description="What was wrong and what is allowed.")
    fields: list[FieldError] | None = Field(
        default=None, description="Per-field problems of a rejected body (422)."
    )


class DeviceQuery(BaseModel):
    """``?device=N``."""

    device: int | None = Field(default=None, ge=0, description="0-based device index.")
