"""``GET /api/dersim/dc-iv``: a PV string's I-V curve and operating point."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from dersim_trio.api.resolution import (
    AMP,
    VOLT,
    WATT,
    Resolution,
    document_resolutions,
    payload_rounder,
)


class DcIvPoint(BaseModel):
    """One point of the DC side: string voltage V, current A, power W."""

    model_config = ConfigDict(allow_inf_nan=False, json_schema_extra=document_resolutions)
    field_resolutions: ClassVar[dict[str, Resolution]] = {"v": VOLT, "i": AMP, "p": WATT}
    """The documented DERSim names carry no unit suffix: their resolutions (SunSpec DCV_SF,
    DCA_SF, DCW_SF), for the wire and the schema."""

    v: float = Field(description="String voltage, V.")
    i: float = Field(description="String current, A.")
    p: float = Field(description="DC power, W.")


class DcIv(BaseModel):
    """``GET /api/dersim/dc-iv``: the I-V curve at the present conditions, with the operating
    point (documented DERSim shape, power/dc_iv.html)."""

    model_config = ConfigDict(allow_inf_nan=False, json_schema_extra=document_resolutions)

    irradiance_w_m2: float = Field(
        description="Irradiance reaching the cells at the last tick: plane of array, after the "
        "incidence-angle loss (the asset's effective_irradiance_w_m2)."
    )
    cell_temperature_c: float = Field(description="Cell temperature of the last tick.")
    operating_point: DcIvPoint = Field(description="Where the string works now (last tick).")
    curve: list[DcIvPoint] = Field(
        description="Short circuit to open circuit, by rising voltage; dense around the knee; "
        "the MPP is one of the samples. A single (0, 0, 0) point in the dark."
    )


round_dc_iv_payload = payload_rounder(DcIv)
"""A copy of ``DcIv.model_dump()`` rounded to the documented resolutions."""
