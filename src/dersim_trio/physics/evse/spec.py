"""EVSE station specs: what a charging station is made of (validated data, no I/O).

A station (``EvseStationSpec``) has connectors (``EvseConnectorSpec``; AC: phases ×
line-to-neutral voltage × current; DC: power and current), an optional group limit shared by all
connectors (the station's power electronics), a grid connection ``grid_limit_kw`` and an optional
backing battery. EV demand above the grid limit is served from the backing battery; when demand
is below the limit the battery recharges from the grid with the headroom. That is how a 22 kW
charger runs on an 11 kW connection. Units: kW, kWh, V, A, %.

Six stations are bundled as JSON files in ``dersim_trio/data/evse`` (documented behaviour §4.6);
a custom station is a JSON file of the same shape. Reading them (bundled names, files, one-line
errors) is set-up work: ``setup/evse_stations.py``. ``--evse_profile`` names the station.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_STATION_NAME = "EVSE-AC-22kW-1port"
"""The station ``-d EVSE`` simulates without ``--evse_profile``."""


class EvseConnectorSpec(BaseModel):
    """One connector of a station. AC needs ``phases`` and ``voltage_v``; DC must omit them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=1, le=99)
    kind: Literal["AC", "DC"]
    max_power_kw: float = Field(gt=0.0, le=1000.0)
    max_current_a: float = Field(gt=0.0, le=1000.0)
    phases: Literal[1, 3] | None = None
    """AC only: 1 (single-phase) or 3."""
    voltage_v: float | None = Field(default=None, ge=100.0, le=300.0)
    """AC only: line-to-neutral voltage, V."""
    bidirectional: bool = False
    """DC only: the connector can discharge the EV (V2G)."""

    @model_validator(mode="after")
    def _check_kind(self) -> EvseConnectorSpec:
        if self.kind == "AC":
            if self.phases is None or self.voltage_v is None:
                raise ValueError("an AC connector needs phases (1 or 3) and voltage_v (100-300 V)")
            if self.bidirectional:
                raise ValueError("only DC connectors can be bidirectional")
        elif self.phases is not None or self.voltage_v is not None:
            raise ValueError("phases and voltage_v are for AC connectors only")
        return self


class EvseStationSpec(BaseModel):
    """An EVSE station: connectors, shared limits, grid connection, backing battery, V2G."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    connectors: list[EvseConnectorSpec] = Field(min_length=1, max_length=16)
    group_limit_kw: float | None = Field(default=None, gt=0.0, le=10000.0)
    """Power shared by all connectors (the station's power electronics), kW; None = no limit."""
    grid_limit_kw: float | None = Field(default=None, gt=0.0, le=10000.0)
    """The station's grid connection, kW; demand above it comes from the backing battery."""
    backing_battery_kwh: float = Field(default=0.0, ge=0.0, le=100000.0)
    """Backing battery energy, kWh (0 = none)."""
    backing_battery_power_kw: float = Field(default=0.0, ge=0.0, le=10000.0)
    backing_battery_initial_soc_pct: float = Field(default=90.0, ge=5.0, le=95.0)
    dc_bus_voltage_v: float = Field(default=800.0, gt=0.0, le=1500.0)
    converter_efficiency_pct: float = Field(default=96.0, ge=80.0, le=100.0)
    """Station AC/DC converter between the DC bus and the grid (flat)."""
    v2g: bool = False
    v2g_min_soc_pct: float = Field(default=20.0, ge=0.0, le=100.0)
    """V2G never discharges an EV below this SoC."""

    @model_validator(mode="after")
    def _check_station(self) -> EvseStationSpec:
        ids = [c.id for c in self.connectors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"connector ids must be unique, got {ids}")
        if (self.backing_battery_kwh > 0.0) != (self.backing_battery_power_kw > 0.0):
            raise ValueError(
                "backing_battery_kwh and backing_battery_power_kw must both be > 0 or both 0"
            )
        bidirectional = any(c.bidirectional for c in self.connectors)
        if self.v2g != bidirectional:
            raise ValueError("v2g must be true exactly when a connector is bidirectional")
        return self

    @property
    def has_backing_battery(self) -> bool:
        """Whether the station has a backing battery."""
        return self.backing_battery_kwh > 0.0
