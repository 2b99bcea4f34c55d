"""EV charging station (EVSE): connectors, pilot states, EV charge curves, shared limits, storage.

Units: kW, kWh, %, V, A, seconds. Sign conventions:

* ``ac_power_kw`` (SunSpec 701, as in ``base``): < 0 the station draws from the grid (EV and
  backing-battery charging), > 0 it injects (V2G discharge).
* A connector's ``power_kw`` is seen from the EV: > 0 flows *into* the EV (charging), < 0 out of
  it (V2G discharge). ``backing_battery_power_kw`` > 0 discharges the station battery.
* ``grid_power_kw`` = −``ac_power_kw``: the utility meter's view, > 0 import.
* ``dc_power_kw`` is the net power of the station's DC bus towards the AC side (battery discharge
  and V2G minus DC-connector charging), ``dc_voltage_v`` the DC bus voltage, as in ``base``.

Profiles (``EvseProfile``; the six bundled JSON files in ``dersim_trio/data/evse``, documented
behaviour §4.6). A station has connectors (AC: phases × line-to-neutral voltage × current; DC:
power and current), an optional group limit shared by all connectors (the station's power
electronics), a grid connection ``grid_limit_kw`` and an optional backing battery. EV demand
above the grid limit is served from the backing battery; when demand is below the limit the
battery recharges from the grid with the headroom. That is how a 22 kW charger runs on an
11 kW connection. Custom profiles are JSON files of the same shape (``load_profile``).

Pilot and status. Each connector runs the J1772 / IEC 61851 pilot state machine of ``pilot.py``
(A no EV, B connected, C charging, E error, F unavailable; D is never entered). A session's
arrival fires ``plug_in`` (A→B), energy flow ``start_charge`` (B→C), no energy flow
``stop_charge`` (C→B), departure ``unplug`` (→A). ``status`` says why, in OCPP 1.6
ChargePointStatus words: ``available`` (A), ``charging`` / ``discharging`` (C),
``suspended_ev`` (B: the EV reached its target SoC, it stays plugged in until it departs;
physics reference B.5, counter-example EVerest PR #2645), ``suspended_evse`` (B: the station
offers no power: limit, V2G minimum SoC), ``faulted`` (E), ``unavailable`` (F).
``pilot_duty_pct``: AC connectors with an EV advertise the offered current by
``current_to_duty_pct`` (10 % = 6 A, 50 % = 30 A, 96 % = 80 A); DC connectors with an EV show
5 % (digital communication, ISO 15118 / DIN 70121); no EV: 100 % (no PWM).

EV charge curve (CC/CV at system level, physics reference B.5, as Battery-Emulator PR #2628 and
ocpp-cp-simulator PR #310 do). The EV accepts::

    P_ev(SoC) = P_car · f(SoC),   f = 1 for SoC ≤ knee,
                f = floor + (1 − floor)·(100 − SoC)/(100 − knee) above the knee

with knee = 90 % on AC, 80 % on DC, floor = 0.05 (so SoC 100 % is reached in finite time: a
taper that reached 0 there would approach it exponentially and never arrive). P_car is the
car's on-board charger limit ``max_ac_kw`` on AC and ``max_dc_kw`` on DC. The connector limits
it further:

* AC: I = min(pilot current, connector/cable ``max_current_a``, on-board charger
  P_car·f/(phases·V)), P = phases·V·I (PF 1), V = ``voltage_v``·grid_voltage_pu (B.5:
  I = P/(V_LN·phases·PF)).
* DC: P = min(P_car·f, ``max_power_kw``, ``max_current_a``·V_pack/1000), I = P/V_pack; the pack
  voltage follows SoC linearly, V_pack = V_nom·(0.90 + 0.20·SoC/100) (representative of an NMC
  pack between 3.3 and 4.1 V per cell; CC on DC therefore gains power with SoC, B.5).

The curve is evaluated at the start-of-step SoC (explicit Euler); an energy cap makes the EV
land exactly on its target SoC within a step of any length, never above it (nor above 100 %).

EV SoC::

    SoC += 100·η_ev·P·Δt_h / E_car          (charging, η_ev = 0.92 AC, 0.95 DC)
    SoC −= 100·P·Δt_h / (η_ev,DC·E_car)      (V2G discharge)

η_AC = 0.92 lumps on-board charger (~94-95 %) and battery charging losses; η_DC = 0.95 the
battery alone (typical published figures, from memory).

Station power flow (one step, running powers, then step averages):

1. Demand d_i per connector (curve and connector limits above, energy-capped at the target).
2. One scale factor k ≤ 1 applies to every connector, so each gets its share **in proportion to
   its demand** (a_i = k·d_i): the smallest of
   - group limit: Σd·k ≤ ``group_limit_kw``;
   - supply: Σ_AC d·k + Σ_DC d·k/η_conv ≤ L + η_conv·P_batt,avail, where
     L = min(``grid_limit_kw``, ``active_power_limit_pct``/100·WMax) is the import limit and
     P_batt,avail the backing battery's discharge power (rating, and the energy above 5 % SoC in
     this step). The sum counts each DC kW at its grid price, so the actual import never
     exceeds L;
   - a non-positive ``active_power_setpoint_kw`` S caps the power delivered to EVs:
     Σd·k ≤ −S (as an OCPP station-wide charging profile; S = 0 pauses charging).
   An AC connector whose share is below 6 A (the least J1772 can offer) gets nothing and is
   ``suspended_evse``.
3. DC bus: N = P_DC,EV − P_batt (P_batt > 0 discharging). The station converter (η_conv =
   ``converter_efficiency_pct``, flat) links it to the AC side: grid draw N/η_conv when N ≥ 0,
   injection |N|·η_conv when N < 0. AC connectors sit on the AC side (the EV's on-board
   charger does the conversion, its loss is in η_AC). Hence::

       ac_power_kw = −(P_AC,EV + N/η_conv)       (N ≥ 0)
       ac_power_kw = −P_AC,EV + |N|·η_conv       (N < 0)

4. Backing battery (SoC window 5-95 %, energy-capped so no step overshoots; charge efficiency
   0.95 applied on the way in, as OpenDER's η_rt): it discharges just enough to hold the
   import at L, and otherwise charges with the headroom L − import (up to its power rating).
   It stays idle while V2G exports. The station has no standby consumption.

V2G (profiles with ``v2g`` and bidirectional DC connectors). A positive
``active_power_setpoint_kw`` is a V2G export request at the AC terminals, capped by
``active_power_limit_pct``·WMax: every bidirectional connector whose EV is above
``v2g_min_soc_pct`` discharges, shares in proportion to each EV's discharge capability
(min of connector power, car ``max_dc_kw``, connector current, energy above the minimum SoC),
totalling setpoint/η_conv on the DC side. The EV stops at the minimum SoC (``suspended_evse``).
The request ignores departure times and target SoC. Connectors that are not bidirectional keep
charging, so ``ac_power_kw`` is the net. On a profile without V2G a positive setpoint is
ignored and the output ``message`` says so.

Ratings (SunSpec 702). WMax = ``grid_limit_kw`` when the profile has one, otherwise the grid
draw of every connector at full power (Σ_AC P_max + Σ_DC P_max/η_conv, capped by the group
limit); VAMax = WMax; VarMaxInj = VarMaxAbs = 0.44·VAMax (IEEE 1547 Cat B). The station runs at
unity power factor: ``reactive_power_kvar`` = 0, so S = |P|.

``dc_mode`` is ``"battery"`` for profiles with a backing battery (the battery is the DC
source the SunSpec 714 side reports), ``"none"`` otherwise. ``dc_port_count`` = DC connectors
(+1 for the backing battery). ``storage`` reports the backing battery (limits 5/95 %).

Sessions come from ``ev_sessions`` (seeded generator, or a CSV schedule). Times are simulated
seconds since the first step; the generator's time of day is taken from the first step's
``env.sim_time``. A session that arrives or departs within a step charges only for its overlap
with the step. Each connector serves at most one session per step: a session that would begin
and end inside a step whose connector already served another one is skipped
(``sessions_skipped``). Reported powers are step averages (so an EV that departed mid-step
may show power in state A for that one step).
"""

from __future__ import annotations

import functools
import json
import math
from collections import deque
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dersim_trio.physics.base import (
    AcRating,
    AssetValue,
    DeviceOutput,
    Dispatch,
    Environment,
    InverterState,
    StorageReport,
)
from dersim_trio.physics.ev_sessions import EvSession, SessionGenerator
from dersim_trio.physics.pilot import (
    PilotState,
    PilotStateMachine,
    current_to_duty_pct,
    duty_to_current_a,
)

DEFAULT_PROFILE_NAME = "EVSE-AC-22kW-1port"

AC_KNEE_SOC_PCT = 90.0
DC_KNEE_SOC_PCT = 80.0
TAPER_FLOOR = 0.05
AC_CHARGE_EFFICIENCY = 0.92
DC_CHARGE_EFFICIENCY = 0.95
BACKING_SOC_MIN_PCT = 5.0
BACKING_SOC_MAX_PCT = 95.0
BACKING_CHARGE_EFFICIENCY = 0.95
VAR_RATING_PU = 0.44
MIN_AC_CURRENT_A = 6.0
_EPS = 1e-9
_SOC_EPS = 1e-9


# --- profiles ----------------------------------------------------------------------------------


class EvseConnectorSpec(BaseModel):
    """One connector of a profile. AC needs ``phases`` and ``voltage_v``; DC must omit them."""

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


class EvseProfile(BaseModel):
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
    def _check_station(self) -> EvseProfile:
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


def bundled_profile_names() -> list[str]:
    """Names of the bundled profiles (file stems in ``dersim_trio/data/evse``), sorted."""
    folder = resources.files("dersim_trio.data.evse")
    return sorted(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE_NAME) -> EvseProfile:
    """Load a bundled profile by name (``.json`` optional) or a custom JSON file by path.

    Raises ``ValueError`` with one line: file not found, invalid JSON (line and column), the
    first schema error (field path, message, allowed range, offending value), or an unknown
    bundled name (listing the valid ones).
    """
    text_name = str(name_or_path)
    bundled = bundled_profile_names()
    stem = text_name.removesuffix(".json")
    if stem in bundled:
        return _load_bundled(stem)
    return _load_file(text_name, bundled)


@functools.cache
def _load_bundled(stem: str) -> EvseProfile:
    # Profiles are frozen, so every device of a run can share one parsed copy.
    text = resources.files("dersim_trio.data.evse").joinpath(f"{stem}.json").read_text("utf-8")
    return _parse_profile(text, f"{stem}.json", stem)


def _load_file(text_name: str, bundled: list[str]) -> EvseProfile:
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
    return _parse_profile(text, text_name, path.stem)


def _parse_profile(text: str, source: str, stem: str) -> EvseProfile:
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
        return EvseProfile.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"EVSE profile {source}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = err["loc"]
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item not in ("function-after", "literal[1,3]", "float", "int", "none"):
            parts.append(("." if parts else "") + str(item))
    where = "".join(parts) or "profile"
    msg = err["msg"].removeprefix("Value error, ")
    allowed = _allowed_range(loc)
    text = f"{where}: {msg}"
    if allowed:
        text += f" (allowed: {allowed})"
    if err["type"] not in ("missing", "value_error") and not isinstance(err.get("input"), dict):
        text += f", got {err.get('input')!r}"
    if len(errors) > 1:
        text += f" (+{len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return text


def _allowed_range(loc: tuple[int | str, ...]) -> str:
    names = [item for item in loc if isinstance(item, str)]
    if not names:
        return ""
    model: type[BaseModel] = EvseConnectorSpec if names[0] == "connectors" else EvseProfile
    field = model.model_fields.get(names[-1])
    if field is None:
        return ""
    bounds: list[str] = []
    for meta in field.metadata:
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{symbol} {value:g}")
    return " and ".join(bounds)


# --- the model ---------------------------------------------------------------------------------


class _Port:
    """Runtime state of one connector (plain attributes: the step loop reads them often)."""

    __slots__ = (
        "bidirectional",
        "capacity_kwh",
        "current_a",
        "demand_kw",
        "departure_s",
        "discharge_cap_kw",
        "energy_kwh",
        "eta",
        "faulted",
        "frac",
        "id",
        "is_ac",
        "kind",
        "knee_pct",
        "max_current_a",
        "max_power_kw",
        "offered_a",
        "overlap_h",
        "pending",
        "phases",
        "pilot",
        "power_kw",
        "queue",
        "session",
        "soc_pct",
        "status",
        "target_capped",
        "target_pct",
        "unavailable",
        "voltage_ln_v",
    )

    def __init__(self, spec: EvseConnectorSpec) -> None:
        self.id = spec.id
        self.kind = spec.kind
        self.is_ac = spec.kind == "AC"
        self.bidirectional = spec.bidirectional
        self.max_power_kw = spec.max_power_kw
        self.max_current_a = spec.max_current_a
        self.phases = float(spec.phases or 1)
        self.voltage_ln_v = float(spec.voltage_v or 0.0)
        self.knee_pct = AC_KNEE_SOC_PCT if self.is_ac else DC_KNEE_SOC_PCT
        self.eta = AC_CHARGE_EFFICIENCY if self.is_ac else DC_CHARGE_EFFICIENCY
        self.pilot = PilotStateMachine()
        self.session: EvSession | None = None
        self.pending: EvSession | None = None
        self.queue: deque[EvSession] | None = None
        self.soc_pct = 0.0
        self.capacity_kwh = 0.0
        self.departure_s = 0.0
        self.energy_kwh = 0.0
        self.power_kw = 0.0
        self.current_a = 0.0
        self.offered_a = spec.max_current_a
        self.demand_kw = 0.0
        self.discharge_cap_kw = 0.0
        self.overlap_h = 0.0
        self.frac = 0.0
        self.target_capped = False
        self.target_pct = 100.0
        self.status = "available"
        self.faulted = False
        self.unavailable = False


def ev_power_fraction(soc_pct: float, knee_pct: float) -> float:
    """The CC/CV taper f(SoC): 1 up to the knee, linear to ``TAPER_FLOOR`` at 100 %."""
    if soc_pct <= knee_pct:
        return 1.0
    return TAPER_FLOOR + (1.0 - TAPER_FLOOR) * max(0.0, 100.0 - soc_pct) / (100.0 - knee_pct)


def pack_voltage_v(nominal_v: float, soc_pct: float) -> float:
    """EV pack voltage (V) at ``soc_pct``: V_nom·(0.90 + 0.20·SoC/100)."""
    return nominal_v * (0.90 + 0.002 * soc_pct)


class EvseModel:
    """An EV charging station device model (sans-IO); see the module docstring.

    ``asset`` keys: ``profile`` (name), ``connectors`` (list, one dict per connector: ``id``,
    ``kind`` "AC"/"DC", ``state`` pilot letter A-F, ``status`` (OCPP-style word, module
    docstring), ``ev_soc_pct``, ``power_kw`` (+ into the EV, − V2G), ``current_a`` (per phase on
    AC, DC current on DC), ``voltage_v`` (AC line-to-neutral or EV pack voltage, 0 without EV on
    DC), ``pilot_duty_pct``, ``ev_capacity_kwh``, ``target_soc_pct``, ``session_energy_kwh``
    (energy charged into the EV at the connector this session, monotonic), ``departure_s``;
    the EV keys are ``None`` without an EV), ``backing_battery_soc_pct`` (``None`` without
    battery), ``backing_battery_power_kw`` (+ discharge), ``grid_power_kw`` (+ import),
    ``grid_limit_kw`` (the import limit in force this step), ``energy_delivered_kwh`` /
    ``energy_returned_kwh`` (monotonic totals into / out of EVs at the connectors),
    ``sessions_completed``, ``sessions_skipped``, ``elapsed_s`` (session time base).
    """

    asset_type: str = "evse"

    def __init__(
        self,
        profile: EvseProfile | None = None,
        seed: int = 0,
        sessions: list[EvSession] | None = None,
    ) -> None:
        """Build the station; without ``sessions`` EVs come from the seeded generator.

        Raises ``ValueError`` when a session names a connector the profile does not have.
        """
        prof = profile if profile is not None else load_profile(DEFAULT_PROFILE_NAME)
        self.profile = prof
        self.seed = seed
        self._ports = [_Port(spec) for spec in prof.connectors]
        self._ports_by_id = {p.id: p for p in self._ports}
        self._has_dc_bus = prof.has_backing_battery or any(not p.is_ac for p in self._ports)
        self.dc_mode: str = "battery" if prof.has_backing_battery else "none"
        self.dc_port_count: int = sum(1 for p in self._ports if not p.is_ac) + (
            1 if prof.has_backing_battery else 0
        )
        self._eta_conv = prof.converter_efficiency_pct / 100.0
        if prof.grid_limit_kw is not None:
            w_max = prof.grid_limit_kw
        else:
            w_max = sum(
                p.max_power_kw if p.is_ac else p.max_power_kw / self._eta_conv for p in self._ports
            )
            if prof.group_limit_kw is not None:
                w_max = min(w_max, prof.group_limit_kw / self._eta_conv)
        self.rating = AcRating(
            w_max_kw=w_max,
            va_max_kva=w_max,
            var_max_inj_kvar=VAR_RATING_PU * w_max,
            var_max_abs_kvar=VAR_RATING_PU * w_max,
        )
        self._w_max_kw = w_max
        self._group_kw = prof.group_limit_kw
        self._grid_limit_kw = prof.grid_limit_kw if prof.grid_limit_kw is not None else w_max
        self._batt_kwh = prof.backing_battery_kwh
        self._batt_kw = prof.backing_battery_power_kw
        self._batt_soc_pct = prof.backing_battery_initial_soc_pct if self._batt_kwh > 0 else 0.0
        self._v2g = prof.v2g
        self._v2g_min_soc_pct = prof.v2g_min_soc_pct
        self._bus_v = prof.dc_bus_voltage_v
        self._t_s = 0.0
        self._generator: SessionGenerator | None = None
        self._explicit = sessions is not None
        if sessions is not None:
            for port in self._ports:
                port.queue = deque()
            for i, session in enumerate(sorted(sessions, key=lambda s: s.arrival_s)):
                port_ = self._ports_by_id.get(session.connector)
                if port_ is None:
                    raise ValueError(
                        f"session {i + 1} (arrival {session.arrival_s:g} s): connector "
                        f"{session.connector} is not in profile {prof.name} (connectors: "
                        f"{', '.join(str(p.id) for p in self._ports)})"
                    )
                assert port_.queue is not None
                port_.queue.append(session)
        self._energy_delivered_kwh = 0.0
        self._energy_returned_kwh = 0.0
        self._sessions_completed = 0
        self._sessions_skipped = 0
        self._msg_not_bidirectional = (
            f"positive setpoint ignored: profile {prof.name} is not bidirectional (no V2G)"
        )
        self._msg_batt = " and backing battery" if prof.has_backing_battery else ""
        self._msg_group = f"charging limited by group limit {prof.group_limit_kw or 0.0:g} kW"
        self._msg_grid = (
            f"charging limited by grid limit {self._grid_limit_kw:g} kW{self._msg_batt}"
        )
        self._n_unavailable = 0
        self._n_blocked = 0

    # -- operator actions (the control surface) --

    def set_connector_available(self, connector_id: int, available: bool) -> None:
        """Take a connector out of service (pilot F) or put it back (F → A, then B if an EV)."""
        port = self._port(connector_id)
        if available and port.unavailable:
            port.unavailable = False
            port.pilot.fire("enable")
            if port.faulted:
                port.pilot.fire("fault")
            elif port.session is not None:
                port.pilot.fire("plug_in")
        elif not available and not port.unavailable:
            port.unavailable = True
            port.pilot.fire("disable")
        self._count_blocked()

    def set_connector_fault(self, connector_id: int, faulted: bool) -> None:
        """Raise (pilot E) or clear (E → A, then B if an EV is plugged in) a connector fault."""
        port = self._port(connector_id)
        if faulted and not port.faulted:
            port.faulted = True
            if not port.unavailable:
                port.pilot.fire("fault")
        elif not faulted and port.faulted:
            port.faulted = False
            if not port.unavailable:
                port.pilot.fire("clear_fault")
                if port.session is not None:
                    port.pilot.fire("plug_in")
        self._count_blocked()

    def _count_blocked(self) -> None:
        self._n_unavailable = sum(1 for p in self._ports if p.unavailable)
        self._n_blocked = sum(1 for p in self._ports if p.unavailable or p.faulted)

    def _port(self, connector_id: int) -> _Port:
        port = self._ports_by_id.get(connector_id)
        if port is None:
            raise ValueError(
                f"connector {connector_id} is not in profile {self.profile.name} (connectors: "
                f"{', '.join(str(p.id) for p in self._ports)})"
            )
        return port

    @property
    def backing_battery_soc_pct(self) -> float | None:
        """Backing battery SoC, % (``None`` without a battery)."""
        return self._batt_soc_pct if self._batt_kwh > 0.0 else None

    # -- the step --

    def _next_session(self, port: _Port) -> EvSession | None:
        if port.pending is None:
            if port.queue is not None:
                port.pending = port.queue.popleft() if port.queue else None
            elif self._generator is not None:
                port.pending = self._generator.next_session(port.id)
        return port.pending

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance sessions, pilots, EV and battery SoC by ``dt_s``; return step averages."""
        dt = dt_s if (dt_s > 0.0 and math.isfinite(dt_s)) else 0.0
        dt_h = dt / 3600.0
        t0 = self._t_s
        t1 = t0 + dt
        if self._generator is None and not self._explicit:
            st = env.sim_time
            tod = st.hour * 3600.0 + st.minute * 60.0 + st.second + st.microsecond * 1e-6 - dt
            self._generator = SessionGenerator(self.seed, self.profile, tod % 86400.0)
        v_pu = env.grid_voltage_pu
        v_pu = min(2.0, max(0.0, v_pu)) if math.isfinite(v_pu) else 1.0
        eta_conv = self._eta_conv

        setpoint = dispatch.active_power_setpoint_kw
        if setpoint is not None and not math.isfinite(setpoint):
            setpoint = None
        pct = dispatch.active_power_limit_pct
        pct = min(100.0, max(0.0, pct)) if math.isfinite(pct) else 100.0
        pct_cap_kw = self._w_max_kw * pct / 100.0
        import_limit = min(self._grid_limit_kw, pct_cap_kw)
        message: str | None = None
        v2g_request_kw = 0.0
        charge_cap_kw: float | None = None
        if setpoint is not None:
            if setpoint > _EPS:
                if self._v2g:
                    v2g_request_kw = min(setpoint, pct_cap_kw)
                else:
                    message = self._msg_not_bidirectional
            else:
                charge_cap_kw = max(0.0, -setpoint)

        # 1. sessions and demand
        total_demand = 0.0
        total_grid_demand = 0.0
        total_discharge_cap = 0.0
        v2g_min = self._v2g_min_soc_pct
        for port in self._ports:
            session = port.session
            if session is None:
                nxt = self._next_session(port)
                while nxt is not None and nxt.departure_s <= t0:
                    self._sessions_skipped += 1
                    port.pending = None
                    nxt = self._next_session(port)
                if nxt is not None and nxt.arrival_s <= t1:
                    port.pending = None
                    port.session = session = nxt
                    port.soc_pct = min(100.0, max(0.0, float(nxt.arrival_soc_pct)))
                    port.target_pct = min(100.0, max(0.0, float(nxt.target_soc_pct)))
                    port.capacity_kwh = float(nxt.capacity_kwh)
                    port.departure_s = float(nxt.departure_s)
                    port.energy_kwh = 0.0
                    port.pilot.fire("plug_in")
            port.demand_kw = 0.0
            port.discharge_cap_kw = 0.0
            port.target_capped = False
            port.offered_a = port.max_current_a
            if session is None or port.faulted or port.unavailable:
                port.overlap_h = port.frac = 0.0
                continue
            end_s = session.departure_s if session.departure_s < t1 else t1
            overlap_s = end_s - (session.arrival_s if session.arrival_s > t0 else t0)
            if overlap_s < 0.0:
                overlap_s = 0.0
            port.overlap_h = o_h = overlap_s / 3600.0
            port.frac = overlap_s / dt if dt > 0.0 else 0.0
            soc = port.soc_pct
            if v2g_request_kw > 0.0 and port.bidirectional:
                if soc > v2g_min + _SOC_EPS:
                    v_pack = pack_voltage_v(session.pack_voltage_v, soc)
                    cap = min(
                        port.max_power_kw, session.max_dc_kw, port.max_current_a * v_pack / 1000.0
                    )
                    if o_h > 0.0:
                        energy_cap = (
                            (soc - v2g_min) * session.capacity_kwh * port.eta / (100.0 * o_h)
                        )
                        if energy_cap <= cap:
                            cap = energy_cap
                            port.target_capped = True
                    port.discharge_cap_kw = max(0.0, cap)
                    total_discharge_cap += port.discharge_cap_kw
                continue
            target = port.target_pct
            if soc >= target - _SOC_EPS:
                continue
            f = ev_power_fraction(soc, port.knee_pct)
            if port.is_ac:
                limit = min(
                    session.max_ac_kw * f,
                    port.max_power_kw,
                    port.phases * port.voltage_ln_v * v_pu * port.max_current_a / 1000.0,
                )
            else:
                v_pack = pack_voltage_v(session.pack_voltage_v, soc)
                limit = min(
                    session.max_dc_kw * f, port.max_power_kw, port.max_current_a * v_pack / 1000.0
                )
            if o_h > 0.0:
                energy_cap = (target - soc) * session.capacity_kwh / (100.0 * port.eta * o_h)
                if energy_cap <= limit:
                    limit = energy_cap
                    port.target_capped = True
            if limit < 0.0:
                limit = 0.0
            port.demand_kw = limit
            total_demand += limit
            total_grid_demand += limit if port.is_ac else limit / eta_conv

        # 2. one proportional scale factor for every charging connector
        has_batt = self._batt_kwh > 0.0
        batt_soc = self._batt_soc_pct
        batt_dis_cap = 0.0
        if has_batt and v2g_request_kw <= 0.0:
            batt_dis_cap = self._batt_kw
            if dt_h > 0.0:
                batt_dis_cap = min(
                    batt_dis_cap,
                    max(0.0, batt_soc - BACKING_SOC_MIN_PCT) * self._batt_kwh / (100.0 * dt_h),
                )
        scale = 1.0
        limited_by = ""
        if total_demand > _EPS:
            group = self._group_kw
            if group is not None and total_demand > group:
                scale = group / total_demand
                limited_by = self._msg_group
            supply = import_limit + eta_conv * batt_dis_cap
            if total_grid_demand * scale > supply:
                scale = supply / total_grid_demand
                if pct_cap_kw < self._grid_limit_kw:
                    limited_by = f"charging limited by WMaxLimPct {pct:g} %{self._msg_batt}"
                else:
                    limited_by = self._msg_grid
            if charge_cap_kw is not None and total_demand * scale > charge_cap_kw:
                scale = charge_cap_kw / total_demand
                limited_by = f"charging limited by charging setpoint {charge_cap_kw:g} kW"
        v2g_scale = 0.0
        if total_discharge_cap > _EPS:
            v2g_scale = min(1.0, v2g_request_kw / eta_conv / total_discharge_cap)

        # 3. connector powers, EV SoC, pilot events
        p_ac_ev = 0.0
        p_dc_ev = 0.0
        delivered = 0.0
        returned = 0.0
        suspended_evse = False
        for port in self._ports:
            session = port.session
            power = 0.0
            if session is not None and not (port.faulted or port.unavailable):
                o_h = port.overlap_h
                soc = port.soc_pct
                if port.discharge_cap_kw > 0.0:
                    power = -port.discharge_cap_kw * v2g_scale
                    if o_h > 0.0 and power < 0.0:
                        soc -= 100.0 * -power * o_h / (port.eta * session.capacity_kwh)
                        if port.target_capped and v2g_scale >= 1.0:
                            soc = v2g_min
                        port.soc_pct = max(0.0, soc)
                        returned += -power * o_h
                elif port.demand_kw > 0.0:
                    power = port.demand_kw * scale
                    if port.is_ac and scale < 1.0:
                        # The EVSE offers the allocated current by the pilot duty cycle.
                        volts = port.phases * port.voltage_ln_v * v_pu
                        offered_a = min(port.max_current_a, power * 1000.0 / volts)
                        if offered_a < MIN_AC_CURRENT_A:
                            power = offered_a = 0.0
                        else:
                            pilot_a = duty_to_current_a(current_to_duty_pct(offered_a))
                            power = min(power, volts * pilot_a / 1000.0)
                        port.offered_a = offered_a
                    if o_h > 0.0 and power > 0.0:
                        soc += 100.0 * port.eta * power * o_h / session.capacity_kwh
                        target = port.target_pct
                        if (port.target_capped and scale >= 1.0) or soc > target:
                            soc = target
                        port.soc_pct = soc
                        energy = power * o_h
                        port.energy_kwh += energy
                        delivered += energy
                state = port.pilot.state
                if power != 0.0:
                    if state == "B":
                        port.pilot.fire("start_charge")
                    port.status = "charging" if power > 0.0 else "discharging"
                else:
                    if state == "C":
                        port.pilot.fire("stop_charge")
                    at_target = port.soc_pct >= port.target_pct - _SOC_EPS
                    if port.bidirectional and v2g_request_kw > 0.0:
                        port.status = "suspended_evse"
                    elif at_target:
                        port.status = "suspended_ev"
                    else:
                        port.status = "suspended_evse"
                        suspended_evse = True
            avg = power * port.frac
            port.power_kw = avg
            if port.is_ac:
                p_ac_ev += avg
            else:
                p_dc_ev += avg
            if session is not None and session.departure_s <= t1:
                port.pilot.fire("unplug")
                port.session = None
                self._sessions_completed += 1
            if port.unavailable:
                port.status = "unavailable"
            elif port.faulted:
                port.status = "faulted"
            elif port.session is None:
                port.status = "available"
        self._energy_delivered_kwh += delivered
        self._energy_returned_kwh += returned

        # 4. backing battery and the AC side
        batt_kw = 0.0
        if has_batt and v2g_request_kw <= 0.0 and dt_h > 0.0:
            headroom = import_limit - p_ac_ev
            bus_from_grid = headroom * eta_conv if headroom >= 0.0 else headroom / eta_conv
            need = p_dc_ev - bus_from_grid  # DC power the battery must supply (< 0: may charge)
            if need > _EPS:
                batt_kw = min(need, batt_dis_cap)
                batt_soc -= 100.0 * batt_kw * dt_h / self._batt_kwh
                if batt_kw >= batt_dis_cap - _EPS and batt_dis_cap < self._batt_kw:
                    batt_soc = BACKING_SOC_MIN_PCT
            elif need < -_EPS and batt_soc < BACKING_SOC_MAX_PCT:
                charge_cap = (
                    (BACKING_SOC_MAX_PCT - batt_soc)
                    * self._batt_kwh
                    / (100.0 * BACKING_CHARGE_EFFICIENCY * dt_h)
                )
                charge = min(-need, self._batt_kw, charge_cap)
                batt_kw = -charge
                batt_soc += 100.0 * BACKING_CHARGE_EFFICIENCY * charge * dt_h / self._batt_kwh
                if charge >= charge_cap - _EPS:
                    batt_soc = BACKING_SOC_MAX_PCT
            self._batt_soc_pct = min(BACKING_SOC_MAX_PCT, max(BACKING_SOC_MIN_PCT, batt_soc))
        bus_kw = p_dc_ev - batt_kw
        conv_ac_kw = bus_kw / eta_conv if bus_kw >= 0.0 else bus_kw * eta_conv
        ac_power = 0.0 - (p_ac_ev + conv_ac_kw)
        self._t_s = t1

        # 5. report
        throttled = bool(limited_by) or suspended_evse
        if message is None and limited_by:
            message = limited_by
        n_ports = len(self._ports)
        if self._n_unavailable == n_ports:
            inv_state: InverterState = "off"
        elif self._n_blocked == n_ports:
            inv_state = "fault"
        elif abs(ac_power) > _EPS or abs(batt_kw) > _EPS or delivered > 0.0 or returned > 0.0:
            inv_state = "throttled" if throttled else "running"
        else:
            inv_state = "throttled" if throttled else "standby"
        dc_power = 0.0 - bus_kw
        dc_voltage = self._bus_v if self._has_dc_bus else 0.0
        connectors: list[Mapping[str, float | int | str | None]] = [
            self._connector_report(port, v_pu) for port in self._ports
        ]
        asset: dict[str, AssetValue] = {
            "profile": self.profile.name,
            "connectors": connectors,
            "backing_battery_soc_pct": self._batt_soc_pct if has_batt else None,
            "backing_battery_power_kw": batt_kw,
            "grid_power_kw": -ac_power,
            "grid_limit_kw": import_limit,
            "energy_delivered_kwh": self._energy_delivered_kwh,
            "energy_returned_kwh": self._energy_returned_kwh,
            "sessions_completed": self._sessions_completed,
            "sessions_skipped": self._sessions_skipped,
            "elapsed_s": t1,
        }
        storage = (
            StorageReport(
                state_of_charge_pct=self._batt_soc_pct,
                soc_reserve_min_pct=BACKING_SOC_MIN_PCT,
                soc_reserve_max_pct=BACKING_SOC_MAX_PCT,
                soc_min_pct=BACKING_SOC_MIN_PCT,
                soc_max_pct=BACKING_SOC_MAX_PCT,
            )
            if has_batt
            else None
        )
        return DeviceOutput(
            ac_power_kw=ac_power,
            reactive_power_kvar=0.0,
            dc_power_kw=dc_power,
            dc_voltage_v=dc_voltage,
            dc_current_a=dc_power * 1000.0 / dc_voltage if dc_voltage > 0.0 else 0.0,
            inverter_state=inv_state,
            asset=asset,
            storage=storage,
            message=message,
        )

    def _connector_report(self, port: _Port, v_pu: float) -> dict[str, float | int | str | None]:
        session = port.session
        state: PilotState = port.pilot.state
        power = port.power_kw
        if session is None:
            return {
                "id": port.id,
                "kind": port.kind,
                "state": state,
                "status": port.status,
                "ev_soc_pct": None,
                "power_kw": power,
                "current_a": 0.0,
                "voltage_v": port.voltage_ln_v * v_pu if port.is_ac else 0.0,
                "pilot_duty_pct": 100.0,
                "ev_capacity_kwh": None,
                "target_soc_pct": None,
                "session_energy_kwh": None,
                "departure_s": None,
            }
        if port.is_ac:
            volts = port.voltage_ln_v * v_pu
            current = power * 1000.0 / (port.phases * volts) if volts > 0.0 else 0.0
            duty = current_to_duty_pct(port.offered_a) if state in ("B", "C") else 100.0
        else:
            volts = pack_voltage_v(session.pack_voltage_v, port.soc_pct)
            current = power * 1000.0 / volts
            duty = 5.0 if state in ("B", "C") else 100.0
        return {
            "id": port.id,
            "kind": port.kind,
            "state": state,
            "status": port.status,
            "ev_soc_pct": port.soc_pct,
            "power_kw": power,
            "current_a": current,
            "voltage_v": volts,
            "pilot_duty_pct": duty,
            "ev_capacity_kwh": port.capacity_kwh,
            "target_soc_pct": port.target_pct,
            "session_energy_kwh": port.energy_kwh,
            "departure_s": port.departure_s,
        }
