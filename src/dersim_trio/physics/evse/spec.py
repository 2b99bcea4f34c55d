"""EVSE station specs: what a charging station is made of (validated data, no I/O).

A station (``EvseStationSpec``) has connectors (``EvseConnectorSpec``; AC: phases ×
line-to-neutral voltage × current; DC: power and current), an optional group limit shared by all
connectors (the station's power electronics), a grid connection ``grid_limit_kw`` and an optional
backing battery. EV demand above the grid limit is served from the backing battery; when demand
is below the limit the battery recharges from the grid with the headroom. That is how a 22 kW
charger runs on an 11 kW connection. Units: kW, kWh, V, A, %.

Supply voltage. The station is fed three-phase at ``grid_voltage_v`` line-to-line (the AC voltage
its telemetry reports, SunSpec 702 ``VNom``). An AC connector's ``voltage_v`` is its
line-to-neutral voltage, so a three-phase connector must sit at ``grid_voltage_v``/√3 and a
single-phase one at that or, connected between two lines, at ``grid_voltage_v`` (within 1 %):
IEC Type 2 connectors at 230 V belong to a 400 V station (230/400 V, IEC 60038), J1772 connectors
at 277 V to a 480 V one. Without ``grid_voltage_v`` the station takes √3 × its first AC
connector's voltage, and 400 V when it has only DC connectors.

Backing-battery top-up. An idle station does not refill its battery at once at the full grid
connection: top-up starts only when the battery has fallen below
``backing_battery_topup_below_pct`` (85 % by default; hysteresis, so a station started at 90 %
stays idle) and runs until 95 %, drawing at most ``backing_battery_topup_kw`` from the grid
(default 0.2 C, a full top-up over at least five hours: an ASSUMPTION between the slow grid
inputs of battery-buffered chargers, about 0.17 C for a 160 kWh pack on a 27 kW input, and the
fast ones, about 0.6 C, from memory). Top-up only ever uses the grid headroom the EVs leave.

Six stations are bundled as JSON files in ``dersim_trio/data/evse`` (documented behaviour §4.6);
a custom station is a JSON file of the same shape. Reading them (bundled names, files, one-line
errors) is set-up work: ``setup/evse_stations.py``. ``--evse_profile`` names the station.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_STATION_NAME = "EVSE-AC-22kW-1port"
"""The station ``-d EVSE`` simulates without ``--evse_profile``."""

DEFAULT_DC_STATION_VOLTAGE_V = 400.0
"""Supply voltage (line-to-line) of a DC-only station that does not state one (IEC 230/400 V)."""
TOPUP_C_RATE_PER_H = 0.2
"""Default top-up rate of a backing battery, per hour of its energy (ASSUMPTION, module doc)."""
VOLTAGE_TOLERANCE = 0.01
"""How far an AC connector's voltage may sit from the station's supply (relative)."""


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
    backing_battery_topup_kw: float | None = Field(default=None, gt=0.0, le=10000.0)
    """Most grid power spent topping up the backing battery, kW; None = 0.2·kWh per hour."""
    backing_battery_topup_below_pct: float = Field(default=85.0, ge=5.0, le=95.0)
    """Top-up starts when the battery falls below this SoC and runs to 95 %."""
    dc_bus_voltage_v: float = Field(default=800.0, gt=0.0, le=1500.0)
    converter_efficiency_pct: float = Field(default=96.0, ge=80.0, le=100.0)
    """Station AC/DC converter between the DC bus and the grid (flat)."""
    v2g: bool = False
    v2g_min_soc_pct: float = Field(default=20.0, ge=0.0, le=100.0)
    """V2G never discharges an EV below this SoC."""
    grid_voltage_v: float | None = Field(default=None, ge=100.0, le=1000.0)
    """Line-to-line voltage of the station's three-phase supply, V (module docstring)."""

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
        v_ll = self.supply_voltage_ll_v
        v_ln = v_ll / math.sqrt(3.0)
        for connector in self.connectors:
            if connector.voltage_v is None:
                continue
            fits = [v_ln] if connector.phases == 3 else [v_ln, v_ll]
            if not any(abs(connector.voltage_v - v) <= VOLTAGE_TOLERANCE * v for v in fits):
                raise ValueError(
                    f"connector {connector.id}: voltage_v {connector.voltage_v:g} V does not fit "
                    f"the station's {v_ll:g} V supply (line-to-neutral {v_ln:.1f} V"
                    + (")" if connector.phases == 3 else f", or {v_ll:g} V line-to-line)")
                )
        return self

    @property
    def supply_voltage_ll_v(self) -> float:
        """The station's supply voltage, line-to-line, V (``grid_voltage_v`` or derived)."""
        if self.grid_voltage_v is not None:
            return self.grid_voltage_v
        for connector in self.connectors:
            if connector.voltage_v is not None:
                return connector.voltage_v * math.sqrt(3.0)
        return DEFAULT_DC_STATION_VOLTAGE_V

    @property
    def has_backing_battery(self) -> bool:
        """Whether the station has a backing battery."""
        return self.backing_battery_kwh > 0.0

    @property
    def topup_kw(self) -> float:
        """Grid power limit for topping up the backing battery, kW (0 without a battery)."""
        if self.backing_battery_topup_kw is not None:
            return self.backing_battery_topup_kw
        return TOPUP_C_RATE_PER_H * self.backing_battery_kwh
