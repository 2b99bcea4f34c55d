"""EVSE power flow: EV charge curve, sharing the station's limits, backing battery, AC side.

Pure functions, one per phase of a station step (``station.py`` composes them in this order).
Units: kW, kWh, %, V, A, h. Signs: a connector's power is seen from the EV (> 0 into the EV,
< 0 V2G discharge); ``ac_power_kw`` is SunSpec 701's (< 0 the station draws from the grid);
the backing battery's power is > 0 when it discharges.

EV charge curve (CC/CV at system level, physics reference B.5, as Battery-Emulator PR #2628 and
ocpp-cp-simulator PR #310 do). The EV accepts::

    P_ev(SoC) = P_car · f(SoC),   f = 1 for SoC ≤ knee,
                f = floor + (1 − floor)·(100 − SoC)/(100 − knee) above the knee

with knee = 90 % on AC, 80 % on DC, floor = 0.05 (so SoC 100 % is reached in finite time: a
taper that reached 0 there would approach it exponentially and never arrive). P_car is the
car's on-board charger limit ``max_ac_kw`` on AC and ``max_dc_kw`` on DC. A named car
(``cars.py``) follows its own measured DC curve instead of P_car·f on DC. The connector limits
it further (``connector_limit_kw``):

* AC: I = min(pilot current, connector/cable ``max_current_a``, on-board charger
  P_car·f/(phases·V)), P = phases·V·I (PF 1), V = ``voltage_v``·grid_voltage_pu (B.5:
  I = P/(V_LN·phases·PF)); phases = the fewer of the connector's and the car's (a single-phase
  on-board charger uses one phase of a three-phase connector).
* DC: P = min(P_car·f, ``max_power_kw``, ``max_current_a``·V_pack/1000), I = P/V_pack; the pack
  voltage follows SoC linearly, V_pack = V_nom·(0.90 + 0.20·SoC/100) (representative of an NMC
  pack between 3.3 and 4.1 V per cell; CC on DC therefore gains power with SoC, B.5).

The curve is evaluated at the start-of-step SoC (explicit Euler); an energy cap
(``charge_energy_cap_kw``) makes the EV land exactly on its target SoC within a step of any
length, never above it (nor above 100 %).

EV SoC (``ev_soc_after``)::

    SoC += 100·η_ev·P·Δt_h / E_car          (charging, η_ev = 0.92 AC, 0.95 DC)
    SoC −= 100·P·Δt_h / (η_ev,DC·E_car)      (V2G discharge)

η_AC = 0.92 lumps on-board charger (~94-95 %) and battery charging losses; η_DC = 0.95 the
battery alone (typical published figures, from memory).

Sharing (``charge_scale``). Demand d_i per connector (curve and connector limits above,
energy-capped at the target). One scale factor k ≤ 1 applies to every connector, so each gets its
share **in proportion to its demand** (a_i = k·d_i): the smallest of

- group limit: Σd·k ≤ ``group_limit_kw``;
- supply: Σ_AC d·k + Σ_DC d·k/η_conv ≤ L + η_conv·P_batt,avail, where
  L = min(``grid_limit_kw``, ``active_power_limit_pct``/100·WMax) is the import limit and
  P_batt,avail the backing battery's discharge power (``backing_discharge_cap_kw``: rating, and
  the energy above 5 % SoC in this step). The sum counts each DC kW at its grid price, so the
  actual import never exceeds L;
- a non-positive ``active_power_setpoint_kw`` S caps the power delivered to EVs:
  Σd·k ≤ −S (as an OCPP station-wide charging profile; S = 0 pauses charging).

An AC connector whose share is below 6 A (the least J1772 can offer) gets nothing
(``pilot_limited_kw``): the EVSE offers its share by the pilot duty cycle, so the EV draws the
current the duty cycle decodes to.

DC bus and AC side (``station_ac_power_kw``). N = P_DC,EV − P_batt. The station converter
(η_conv = ``converter_efficiency_pct``, flat) links it to the AC side: grid draw N/η_conv when
N ≥ 0, injection |N|·η_conv when N < 0. AC connectors sit on the AC side (the EV's on-board
charger does the conversion, its loss is in η_AC)::

    ac_power_kw = −(P_AC,EV + N/η_conv)       (N ≥ 0)
    ac_power_kw = −P_AC,EV + |N|·η_conv       (N < 0)

Backing battery (``backing_battery_kw``; SoC window 5-95 %, energy-capped so no step overshoots;
charge efficiency 0.95 applied on the way in, as OpenDER's η_rt): it discharges just enough to
hold the import at L, and otherwise, while it tops up (``spec.py``: below the top-up threshold,
until 95 %), charges with the headroom L − import, at most the top-up limit P_top from the grid
(P_top·η_conv into the battery) and its power rating. It stays idle while V2G exports. The
station has no standby consumption.

V2G. A positive ``active_power_setpoint_kw`` is a V2G export request at the AC terminals, capped
by ``active_power_limit_pct``·WMax (``station_request``): every bidirectional connector whose EV
is above ``v2g_min_soc_pct`` discharges, shares in proportion to each EV's discharge capability
(``v2g_discharge_cap_kw``: min of connector power, car ``max_dc_kw``, connector current, energy
above the minimum SoC), totalling setpoint/η_conv on the DC side (``v2g_scale``).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from dersim_trio.physics.base import InverterState
from dersim_trio.physics.evse.pilot import current_to_duty_pct, duty_to_current_a

AC_KNEE_SOC_PCT = 90.0
DC_KNEE_SOC_PCT = 80.0
TAPER_FLOOR = 0.05
AC_CHARGE_EFFICIENCY = 0.92
DC_CHARGE_EFFICIENCY = 0.95
BACKING_SOC_MIN_PCT = 5.0
BACKING_SOC_MAX_PCT = 95.0
BACKING_CHARGE_EFFICIENCY = 0.95
MIN_AC_CURRENT_A = 6.0
EPS = 1e-9

ChargeLimit = Literal["", "group", "supply", "setpoint"]
"""What set the charging scale: nothing, the group limit, the grid supply, the setpoint."""


# --- EV curve ---------------------------------------------------------------------------------


def ev_power_fraction(soc_pct: float, knee_pct: float) -> float:
    """The CC/CV taper f(SoC): 1 up to the knee, linear to ``TAPER_FLOOR`` at 100 %."""
    if soc_pct <= knee_pct:
        return 1.0
    return TAPER_FLOOR + (1.0 - TAPER_FLOOR) * max(0.0, 100.0 - soc_pct) / (100.0 - knee_pct)


def pack_voltage_v(nominal_v: float, soc_pct: float) -> float:
    """EV pack voltage (V) at ``soc_pct``: V_nom·(0.90 + 0.20·SoC/100)."""
    return nominal_v * (0.90 + 0.002 * soc_pct)


# --- phase 0: the operator's request ----------------------------------------------------------


class StationRequest(NamedTuple):
    """The dispatch turned into station limits for one step."""

    limit_pct: float
    """``WMaxLimPct``, clamped to 0-100 (non-finite: 100)."""
    limit_cap_kw: float
    """WMax·``limit_pct``/100: the cap on both import and V2G export."""
    import_limit_kw: float
    """L = min(grid connection, ``limit_cap_kw``)."""
    v2g_request_kw: float
    """Requested V2G export at the AC terminals, kW (0: none)."""
    charge_cap_kw: float | None
    """Cap on the total power into EVs from a non-positive setpoint (None: no setpoint)."""
    setpoint_ignored: bool
    """A positive setpoint on a station without V2G."""


def station_request(
    setpoint_kw: float | None,
    limit_pct: float,
    w_max_kw: float,
    grid_limit_kw: float,
    v2g: bool,
) -> StationRequest:
    """Phase 0: sanitise the dispatch (non-finite setpoint = none) into ``StationRequest``."""
    if setpoint_kw is not None and not math.isfinite(setpoint_kw):
        setpoint_kw = None
    pct = min(100.0, max(0.0, limit_pct)) if math.isfinite(limit_pct) else 100.0
    cap_kw = w_max_kw * pct / 100.0
    v2g_request = 0.0
    charge_cap: float | None = None
    ignored = False
    if setpoint_kw is not None:
        if setpoint_kw > EPS:
            if v2g:
                v2g_request = min(setpoint_kw, cap_kw)
            else:
                ignored = True
        else:
            charge_cap = max(0.0, -setpoint_kw)
    return StationRequest(pct, cap_kw, min(grid_limit_kw, cap_kw), v2g_request, charge_cap, ignored)


# --- phase 1: demand per connector ------------------------------------------------------------


def connector_limit_kw(
    ev_kw: float, max_power_kw: float, max_current_a: float, volts: float
) -> float:
    """min(EV acceptance, connector power, connector current × ``volts``) in kW.

    ``volts`` is phases·V_LN (AC) or the EV pack voltage (DC).
    """
    current_kw = max_current_a * volts / 1000.0
    return min(ev_kw, max_power_kw, current_kw)


def charge_energy_cap_kw(
    soc_pct: float, target_pct: float, capacity_kwh: float, eta: float, overlap_h: float
) -> float:
    """The power that brings the EV exactly to ``target_pct`` over ``overlap_h`` (> 0) hours."""
    return (target_pct - soc_pct) * capacity_kwh / (100.0 * eta * overlap_h)


def discharge_energy_cap_kw(
    soc_pct: float, min_soc_pct: float, capacity_kwh: float, eta: float, overlap_h: float
) -> float:
    """The V2G power that brings the EV exactly to ``min_soc_pct`` over ``overlap_h`` hours."""
    return (soc_pct - min_soc_pct) * capacity_kwh * eta / (100.0 * overlap_h)


def _energy_capped_kw(limit_kw: float, energy_cap_kw: float | None) -> tuple[float, bool]:
    """(``limit_kw``, or the energy cap where that is not above it, floored at 0; whether the
    energy cap bound). ``energy_cap_kw`` is None when the step has no overlap with the session."""
    capped = False
    if energy_cap_kw is not None and energy_cap_kw <= limit_kw:
        limit_kw = energy_cap_kw
        capped = True
    return (limit_kw if limit_kw > 0.0 else 0.0), capped


def charge_demand_kw(
    limit_kw: float,
    soc_pct: float,
    target_pct: float,
    capacity_kwh: float,
    eta: float,
    overlap_h: float,
) -> tuple[float, bool]:
    """(demand, lands on target): ``limit_kw`` capped by the energy to the target this step."""
    energy_cap = (
        charge_energy_cap_kw(soc_pct, target_pct, capacity_kwh, eta, overlap_h)
        if overlap_h > 0.0
        else None
    )
    return _energy_capped_kw(limit_kw, energy_cap)


def v2g_discharge_cap_kw(
    limit_kw: float,
    soc_pct: float,
    min_soc_pct: float,
    capacity_kwh: float,
    eta: float,
    overlap_h: float,
) -> tuple[float, bool]:
    """(discharge capability, lands on the minimum SoC): ``limit_kw`` capped by the energy."""
    energy_cap = (
        discharge_energy_cap_kw(soc_pct, min_soc_pct, capacity_kwh, eta, overlap_h)
        if overlap_h > 0.0
        else None
    )
    return _energy_capped_kw(limit_kw, energy_cap)


# --- phase 2: one scale factor ----------------------------------------------------------------


def backing_discharge_cap_kw(
    rated_kw: float, capacity_kwh: float, soc_pct: float, dt_h: float
) -> float:
    """The backing battery's discharge power this step: rating, and its energy above 5 % SoC."""
    if dt_h <= 0.0:
        return rated_kw
    return min(rated_kw, max(0.0, soc_pct - BACKING_SOC_MIN_PCT) * capacity_kwh / (100.0 * dt_h))


def charge_scale(
    total_demand_kw: float,
    total_grid_demand_kw: float,
    group_limit_kw: float | None,
    supply_kw: float,
    charge_cap_kw: float | None,
) -> tuple[float, ChargeLimit]:
    """The proportional share k ≤ 1 of every connector's demand and what limited it.

    ``total_grid_demand_kw`` counts DC demand at its grid price (d/η_conv); ``supply_kw`` is
    L + η_conv·P_batt,avail.
    """
    scale = 1.0
    limited_by: ChargeLimit = ""
    if total_demand_kw > EPS:
        if group_limit_kw is not None and total_demand_kw > group_limit_kw:
            scale = group_limit_kw / total_demand_kw
            limited_by = "group"
        if total_grid_demand_kw * scale > supply_kw:
            scale = supply_kw / total_grid_demand_kw
            limited_by = "supply"
        if charge_cap_kw is not None and total_demand_kw * scale > charge_cap_kw:
            scale = charge_cap_kw / total_demand_kw
            limited_by = "setpoint"
    return scale, limited_by


def v2g_scale(v2g_request_kw: float, eta_conv: float, total_discharge_cap_kw: float) -> float:
    """The share of every EV's discharge capability that delivers the V2G request at AC."""
    if total_discharge_cap_kw > EPS:
        return min(1.0, v2g_request_kw / eta_conv / total_discharge_cap_kw)
    return 0.0


# --- phase 3: connector powers and EV SoC -----------------------------------------------------


def pilot_limited_kw(power_kw: float, volts: float, max_current_a: float) -> tuple[float, float]:
    """(power, offered current) of an AC connector given a share ``power_kw`` < its demand.

    The EVSE offers min(connector current, share/volts) by the pilot duty cycle; below 6 A it
    cannot offer anything (0 kW). The EV draws the current the duty cycle decodes to
    (``pilot.py``), never more than its share. ``volts`` = phases·V_LN.
    """
    offered_a = min(max_current_a, power_kw * 1000.0 / volts)
    if offered_a < MIN_AC_CURRENT_A:
        return 0.0, 0.0
    pilot_a = duty_to_current_a(current_to_duty_pct(offered_a))
    return min(power_kw, volts * pilot_a / 1000.0), offered_a


def ev_soc_after(
    soc_pct: float, power_kw: float, overlap_h: float, eta: float, capacity_kwh: float
) -> float:
    """EV SoC after ``overlap_h`` hours at ``power_kw`` (> 0 charging with η, < 0 V2G ÷ η)."""
    if power_kw > 0.0:
        return soc_pct + 100.0 * eta * power_kw * overlap_h / capacity_kwh
    return soc_pct - 100.0 * -power_kw * overlap_h / (eta * capacity_kwh)


# --- phase 4: backing battery and the AC side -------------------------------------------------


def backing_battery_kw(
    import_limit_kw: float,
    ac_ev_kw: float,
    dc_ev_kw: float,
    eta_conv: float,
    soc_pct: float,
    capacity_kwh: float,
    rated_kw: float,
    discharge_cap_kw: float,
    topup_kw: float,
    dt_h: float,
) -> tuple[float, float]:
    """(battery power, new SoC): cover DC demand above the import limit, else top up.

    The battery discharges what the DC bus needs beyond the grid's share
    (L − P_AC,EV)·η_conv, up to ``discharge_cap_kw``; with headroom left it charges up to its
    rating, ``topup_kw`` of grid power (0: no top-up) and the energy to 95 % (η 0.95 on the way
    in). A cap that binds lands SoC exactly on the window edge. ``dt_h`` > 0.
    """
    batt_kw = 0.0
    headroom = import_limit_kw - ac_ev_kw
    bus_from_grid = headroom * eta_conv if headroom >= 0.0 else headroom / eta_conv
    need = dc_ev_kw - bus_from_grid  # DC power the battery must supply (< 0: may charge)
    if need > EPS:
        batt_kw = min(need, discharge_cap_kw)
        soc_pct -= 100.0 * batt_kw * dt_h / capacity_kwh
        if batt_kw >= discharge_cap_kw - EPS and discharge_cap_kw < rated_kw:
            soc_pct = BACKING_SOC_MIN_PCT
    elif need < -EPS and soc_pct < BACKING_SOC_MAX_PCT and topup_kw > 0.0:
        charge_cap = (
            (BACKING_SOC_MAX_PCT - soc_pct)
            * capacity_kwh
            / (100.0 * BACKING_CHARGE_EFFICIENCY * dt_h)
        )
        charge = min(-need, rated_kw, topup_kw * eta_conv, charge_cap)
        batt_kw = -charge
        soc_pct += 100.0 * BACKING_CHARGE_EFFICIENCY * charge * dt_h / capacity_kwh
        if charge >= charge_cap - EPS:
            soc_pct = BACKING_SOC_MAX_PCT
    return batt_kw, min(BACKING_SOC_MAX_PCT, max(BACKING_SOC_MIN_PCT, soc_pct))


def station_ac_power_kw(ac_ev_kw: float, bus_kw: float, eta_conv: float) -> float:
    """``ac_power_kw`` (SunSpec sign) from the AC connectors' power and the DC bus net power."""
    conv_ac_kw = bus_kw / eta_conv if bus_kw >= 0.0 else bus_kw * eta_conv
    return 0.0 - (ac_ev_kw + conv_ac_kw)


# --- phase 5: the station's inverter state ----------------------------------------------------


def station_inverter_state(
    ports: int, unavailable: int, blocked: int, flowing: bool, throttled: bool
) -> InverterState:
    """SunSpec 701 ``InvSt``: off when every connector is unavailable, fault when every one is
    unavailable or faulted, otherwise running/standby by whether energy flowed (throttled when
    a limit cut the charging or a connector waits for power)."""
    if unavailable == ports:
        return "off"
    if blocked == ports:
        return "fault"
    if throttled:
        return "throttled"
    return "running" if flowing else "standby"
