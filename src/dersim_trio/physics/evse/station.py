"""EV charging station (EVSE) model: connectors, pilot states, sessions, the station's step.

Units: kW, kWh, %, V, A, seconds. Sign conventions:

* ``ac_power_kw`` (SunSpec 701, as in ``base``): < 0 the station draws from the grid (EV and
  backing-battery charging), > 0 it injects (V2G discharge).
* A connector's ``power_kw`` is seen from the EV: > 0 flows *into* the EV (charging), < 0 out of
  it (V2G discharge). ``backing_battery_power_kw`` > 0 discharges the station battery.
* ``grid_power_kw`` = −``ac_power_kw``: the utility meter's view, > 0 import.
* ``dc_power_kw`` is the net power of the station's DC bus towards the AC side (battery discharge
  and V2G minus DC-connector charging), ``dc_voltage_v`` the DC bus voltage, as in ``base``.

The station is an ``EvseStationSpec`` (``spec.py``). One step runs five phases, each a pure
function of ``powerflow.py`` (equations there): 0. the dispatch becomes the station's limits
(``station_request``); 1. sessions arrive and each connector's demand follows the EV's charge
curve and the connector's limits (``connector_limit_kw``, ``charge_demand_kw``,
``v2g_discharge_cap_kw``); 2. one proportional scale factor shares the group limit, the grid
supply and the charging setpoint (``charge_scale``, ``v2g_scale``); 3. connector powers, EV SoC
and pilot events (``pilot_limited_kw``, ``ev_soc_after``); 4. the backing battery and the AC side
(``backing_battery_kw``, ``station_ac_power_kw``); then the report
(``station_inverter_state``).

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

V2G (stations with ``v2g`` and bidirectional DC connectors): a positive
``active_power_setpoint_kw`` discharges the EVs (``powerflow.py``); it ignores departure times
and target SoC; the EV stops at the minimum SoC (``suspended_evse``). Connectors that are not
bidirectional keep charging, so ``ac_power_kw`` is the net. On a station without V2G a positive
setpoint is ignored and the output ``message`` says so.

Ratings (SunSpec 702). WMax = ``grid_limit_kw`` when the station has one, otherwise the grid
draw of every connector at full power (Σ_AC P_max + Σ_DC P_max/η_conv, capped by the group
limit); VAMax = WMax; VarMaxInj = VarMaxAbs = 0.44·VAMax (IEEE 1547 Cat B). The station runs at
unity power factor: ``reactive_power_kvar`` = 0, so S = |P|.

``dc_mode`` is ``"battery"`` for stations with a backing battery (the battery is the DC
source the SunSpec 714 side reports), ``"none"`` otherwise. ``dc_port_count`` = DC connectors
(+1 for the backing battery). ``storage`` reports the backing battery (limits 5/95 %).

Sessions come from ``sessions.py`` (seeded generator, or a CSV schedule read at set-up). Times
are simulated seconds since the first step; the generator's time of day is taken from the first
step's ``env.sim_time``. A session that arrives or departs within a step charges only for its
overlap with the step. Each connector serves at most one session per step: a session that would
begin and end inside a step whose connector already served another one is skipped
(``sessions_skipped``). Reported powers are step averages (so an EV that departed mid-step may
show power in state A for that one step).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

from dersim_trio.physics.base import (
    AcRating,
    AssetValue,
    DeviceOutput,
    Dispatch,
    Environment,
    InverterState,
    StorageReport,
)
from dersim_trio.physics.evse.pilot import PilotState, PilotStateMachine, current_to_duty_pct
from dersim_trio.physics.evse.powerflow import (
    AC_CHARGE_EFFICIENCY,
    AC_KNEE_SOC_PCT,
    BACKING_SOC_MAX_PCT,
    BACKING_SOC_MIN_PCT,
    DC_CHARGE_EFFICIENCY,
    DC_KNEE_SOC_PCT,
    EPS,
    ChargeLimit,
    StationRequest,
    backing_battery_kw,
    backing_discharge_cap_kw,
    charge_demand_kw,
    charge_scale,
    connector_limit_kw,
    ev_power_fraction,
    ev_soc_after,
    pack_voltage_v,
    pilot_limited_kw,
    station_ac_power_kw,
    station_inverter_state,
    station_request,
    v2g_discharge_cap_kw,
    v2g_scale,
)
from dersim_trio.physics.evse.sessions import EvSession, SessionGenerator
from dersim_trio.physics.evse.spec import EvseConnectorSpec, EvseStationSpec

VAR_RATING_PU = 0.44
_SOC_EPS = 1e-9


class _Port:
    """Runtime state of one connector (plain attributes: the step loop reads them often)."""

    __slots__ = (
        "ac_phases",
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
        self.ac_phases = self.phases
        """Phases the plugged-in car charges on (fewer than the connector's for a 1-phase car)."""
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


class EvseModel:
    """An EV charging station device model (sans-IO); see the module docstring.

    ``asset`` keys: ``profile`` (the station's name, as ``--evse_profile`` gives it),
    ``connectors`` (list, one dict per connector: ``id``,
    ``kind`` "AC"/"DC", ``state`` pilot letter A-F, ``status`` (OCPP-style word, module
    docstring), ``ev_soc_pct``, ``car`` (the named car of ``cars.py``, None for an unnamed one),
    ``power_kw`` (+ into the EV, − V2G), ``current_a`` (per phase the car uses on AC, DC current
    on DC), ``voltage_v`` (AC line-to-neutral or EV pack voltage, 0 without EV on
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
        spec: EvseStationSpec,
        seed: int = 0,
        sessions: list[EvSession] | None = None,
    ) -> None:
        """Build the station; without ``sessions`` EVs come from the seeded generator.

        Raises ``ValueError`` when a session names a connector the station does not have.
        """
        self.spec = spec
        self.seed = seed
        self._ports = [_Port(connector) for connector in spec.connectors]
        self._ports_by_id = {p.id: p for p in self._ports}
        self._has_dc_bus = spec.has_backing_battery or any(not p.is_ac for p in self._ports)
        self.dc_mode: str = "battery" if spec.has_backing_battery else "none"
        self.dc_port_count: int = sum(1 for p in self._ports if not p.is_ac) + (
            1 if spec.has_backing_battery else 0
        )
        self._eta_conv = spec.converter_efficiency_pct / 100.0
        if spec.grid_limit_kw is not None:
            w_max = spec.grid_limit_kw
        else:
            w_max = sum(
                p.max_power_kw if p.is_ac else p.max_power_kw / self._eta_conv for p in self._ports
            )
            if spec.group_limit_kw is not None:
                w_max = min(w_max, spec.group_limit_kw / self._eta_conv)
        self.rating = AcRating(
            w_max_kw=w_max,
            va_max_kva=w_max,
            var_max_inj_kvar=VAR_RATING_PU * w_max,
            var_max_abs_kvar=VAR_RATING_PU * w_max,
            w_charge_max_kw=w_max,
            injects=spec.v2g,
        )
        self._w_max_kw = w_max
        self._group_kw = spec.group_limit_kw
        self._grid_limit_kw = spec.grid_limit_kw if spec.grid_limit_kw is not None else w_max
        self._batt_kwh = spec.backing_battery_kwh
        self._batt_kw = spec.backing_battery_power_kw
        self._batt_soc_pct = spec.backing_battery_initial_soc_pct if self._batt_kwh > 0 else 0.0
        self._topup_kw = spec.topup_kw
        self._topup_below_pct = spec.backing_battery_topup_below_pct
        self._topping_up = self._batt_soc_pct < self._topup_below_pct
        self._v2g = spec.v2g
        self._v2g_min_soc_pct = spec.v2g_min_soc_pct
        self._bus_v = spec.dc_bus_voltage_v
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
                        f"{session.connector} is not in profile {spec.name} (connectors: "
                        f"{', '.join(str(p.id) for p in self._ports)})"
                    )
                assert port_.queue is not None
                port_.queue.append(session)
        self._energy_delivered_kwh = 0.0
        self._energy_returned_kwh = 0.0
        self._sessions_completed = 0
        self._sessions_skipped = 0
        self._msg_not_bidirectional = (
            f"positive setpoint ignored: profile {spec.name} is not bidirectional (no V2G)"
        )
        self._msg_batt = " and backing battery" if spec.has_backing_battery else ""
        self._msg_group = f"charging limited by group limit {spec.group_limit_kw or 0.0:g} kW"
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
                f"connector {connector_id} is not in profile {self.spec.name} (connectors: "
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

    def _admit_session(self, port: _Port, t0: float, t1: float) -> EvSession | None:
        """Plug in the connector's next session if it arrives by ``t1`` (skipping stale ones)."""
        nxt = self._next_session(port)
        while nxt is not None and nxt.departure_s <= t0:
            self._sessions_skipped += 1
            port.pending = None
            nxt = self._next_session(port)
        if nxt is None or nxt.arrival_s > t1:
            return None
        port.pending = None
        port.session = nxt
        port.soc_pct = min(100.0, max(0.0, float(nxt.arrival_soc_pct)))
        port.target_pct = min(100.0, max(0.0, float(nxt.target_soc_pct)))
        port.capacity_kwh = float(nxt.capacity_kwh)
        port.departure_s = float(nxt.departure_s)
        port.energy_kwh = 0.0
        car = nxt.car
        port.ac_phases = port.phases if car is None else min(port.phases, float(car.ac_phases))
        port.pilot.fire("plug_in")
        return nxt

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance sessions, pilots, EV and battery SoC by ``dt_s``; return step averages."""
        dt = dt_s if (dt_s > 0.0 and math.isfinite(dt_s)) else 0.0
        dt_h = dt / 3600.0
        t0 = self._t_s
        t1 = t0 + dt
        if self._generator is None and not self._explicit:
            st = env.sim_time
            tod = st.hour * 3600.0 + st.minute * 60.0 + st.second + st.microsecond * 1e-6 - dt
            self._generator = SessionGenerator(self.seed, self.spec, tod % 86400.0)
        v_pu = env.grid_voltage_pu
        v_pu = min(2.0, max(0.0, v_pu)) if math.isfinite(v_pu) else 1.0
        eta_conv = self._eta_conv

        # 0. the dispatch as station limits
        request = station_request(
            dispatch.active_power_setpoint_kw,
            dispatch.active_power_limit_pct,
            self._w_max_kw,
            self._grid_limit_kw,
            self._v2g,
        )
        import_limit = request.import_limit_kw
        v2g_request_kw = request.v2g_request_kw
        message = self._msg_not_bidirectional if request.setpoint_ignored else None

        # 1. sessions and demand
        total_demand, total_grid_demand, total_discharge_cap = self._demand(
            t0, t1, dt, v_pu, v2g_request_kw > 0.0
        )

        # 2. one proportional scale factor for every charging connector
        has_batt = self._batt_kwh > 0.0
        batt_dis_cap = 0.0
        if has_batt and v2g_request_kw <= 0.0:
            batt_dis_cap = backing_discharge_cap_kw(
                self._batt_kw, self._batt_kwh, self._batt_soc_pct, dt_h
            )
        scale, limit = charge_scale(
            total_demand,
            total_grid_demand,
            self._group_kw,
            import_limit + eta_conv * batt_dis_cap,
            request.charge_cap_kw,
        )
        share_v2g = v2g_scale(v2g_request_kw, eta_conv, total_discharge_cap)

        # 3. connector powers, EV SoC, pilot events
        p_ac_ev, p_dc_ev, delivered, returned, suspended_evse = self._deliver(
            scale, share_v2g, v2g_request_kw > 0.0, v_pu, t1
        )

        # 4. backing battery and the AC side
        batt_kw = 0.0
        if has_batt and v2g_request_kw <= 0.0 and dt_h > 0.0:
            if self._batt_soc_pct < self._topup_below_pct:
                self._topping_up = True
            batt_kw, self._batt_soc_pct = backing_battery_kw(
                import_limit,
                p_ac_ev,
                p_dc_ev,
                eta_conv,
                self._batt_soc_pct,
                self._batt_kwh,
                self._batt_kw,
                batt_dis_cap,
                self._topup_kw if self._topping_up else 0.0,
                dt_h,
            )
            if self._batt_soc_pct >= BACKING_SOC_MAX_PCT:
                self._topping_up = False
        bus_kw = p_dc_ev - batt_kw
        ac_power = station_ac_power_kw(p_ac_ev, bus_kw, eta_conv)
        self._t_s = t1

        # 5. report
        limited_by = self._limit_message(limit, request)
        if message is None and limited_by:
            message = limited_by
        inv_state = station_inverter_state(
            len(self._ports),
            self._n_unavailable,
            self._n_blocked,
            abs(ac_power) > EPS or abs(batt_kw) > EPS or delivered > 0.0 or returned > 0.0,
            bool(limited_by) or suspended_evse,
        )
        return self._report(ac_power, bus_kw, batt_kw, import_limit, inv_state, message, v_pu, t1)

    def _limit_message(self, limit: ChargeLimit, request: StationRequest) -> str:
        """The output message for what limited the charging scale ("" for nothing)."""
        if limit == "group":
            return self._msg_group
        if limit == "supply":
            if request.limit_cap_kw < self._grid_limit_kw:
                return f"charging limited by WMaxLimPct {request.limit_pct:g} %{self._msg_batt}"
            return self._msg_grid
        if limit == "setpoint":
            return f"charging limited by charging setpoint {request.charge_cap_kw:g} kW"
        return ""

    def _demand(
        self, t0: float, t1: float, dt: float, v_pu: float, v2g: bool
    ) -> tuple[float, float, float]:
        """Phase 1: admit sessions; each port's demand (or V2G capability) for this step.

        Returns (Σ demand, Σ demand at its grid price, Σ V2G discharge capability).
        """
        total_demand = 0.0
        total_grid_demand = 0.0
        total_discharge_cap = 0.0
        v2g_min = self._v2g_min_soc_pct
        eta_conv = self._eta_conv
        for port in self._ports:
            session = port.session
            if session is None:
                session = self._admit_session(port, t0, t1)
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
            if v2g and port.bidirectional:
                if soc > v2g_min + _SOC_EPS:
                    limit = connector_limit_kw(
                        session.max_dc_kw,
                        port.max_power_kw,
                        port.max_current_a,
                        pack_voltage_v(session.pack_voltage_v, soc),
                    )
                    port.discharge_cap_kw, port.target_capped = v2g_discharge_cap_kw(
                        limit, soc, v2g_min, session.capacity_kwh, port.eta, o_h
                    )
                    total_discharge_cap += port.discharge_cap_kw
                continue
            target = port.target_pct
            if soc >= target - _SOC_EPS:
                continue
            if port.is_ac:
                ev_kw = session.max_ac_kw * ev_power_fraction(soc, port.knee_pct)
                volts = port.ac_phases * port.voltage_ln_v * v_pu
            else:
                car = session.car
                if car is None:
                    ev_kw = session.max_dc_kw * ev_power_fraction(soc, port.knee_pct)
                else:
                    ev_kw = car.dc_power_kw(soc)
                volts = pack_voltage_v(session.pack_voltage_v, soc)
            limit = connector_limit_kw(ev_kw, port.max_power_kw, port.max_current_a, volts)
            port.demand_kw, port.target_capped = charge_demand_kw(
                limit, soc, target, session.capacity_kwh, port.eta, o_h
            )
            total_demand += port.demand_kw
            total_grid_demand += port.demand_kw if port.is_ac else port.demand_kw / eta_conv
        return total_demand, total_grid_demand, total_discharge_cap

    def _deliver(
        self, scale: float, share_v2g: float, v2g: bool, v_pu: float, t1: float
    ) -> tuple[float, float, float, float, bool]:
        """Phase 3: each port's power, EV SoC, energy and pilot events; unplug departures.

        Returns (AC connectors' power, DC connectors' power, energy delivered, energy returned,
        whether a connector waits for power the station does not offer).
        """
        p_ac_ev = 0.0
        p_dc_ev = 0.0
        delivered = 0.0
        returned = 0.0
        suspended_evse = False
        v2g_min = self._v2g_min_soc_pct
        for port in self._ports:
            session = port.session
            power = 0.0
            if session is not None and not (port.faulted or port.unavailable):
                o_h = port.overlap_h
                if port.discharge_cap_kw > 0.0:
                    power = -port.discharge_cap_kw * share_v2g
                    if o_h > 0.0 and power < 0.0:
                        soc = ev_soc_after(port.soc_pct, power, o_h, port.eta, port.capacity_kwh)
                        if port.target_capped and share_v2g >= 1.0:
                            soc = v2g_min
                        port.soc_pct = max(0.0, soc)
                        returned += -power * o_h
                elif port.demand_kw > 0.0:
                    power = port.demand_kw * scale
                    if port.is_ac and scale < 1.0:
                        # The EVSE offers the allocated current by the pilot duty cycle.
                        volts = port.ac_phases * port.voltage_ln_v * v_pu
                        power, port.offered_a = pilot_limited_kw(power, volts, port.max_current_a)
                    if o_h > 0.0 and power > 0.0:
                        soc = ev_soc_after(port.soc_pct, power, o_h, port.eta, port.capacity_kwh)
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
                    if port.bidirectional and v2g:
                        port.status = "suspended_evse"
                    elif port.soc_pct >= port.target_pct - _SOC_EPS:
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
        return p_ac_ev, p_dc_ev, delivered, returned, suspended_evse

    def _report(
        self,
        ac_power: float,
        bus_kw: float,
        batt_kw: float,
        import_limit: float,
        inv_state: InverterState,
        message: str | None,
        v_pu: float,
        t1: float,
    ) -> DeviceOutput:
        has_batt = self._batt_kwh > 0.0
        dc_power = 0.0 - bus_kw
        dc_voltage = self._bus_v if self._has_dc_bus else 0.0
        connectors: list[Mapping[str, float | int | str | None]] = [
            self._connector_report(port, v_pu) for port in self._ports
        ]
        asset: dict[str, AssetValue] = {
            "profile": self.spec.name,
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
                "car": None,
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
            current = power * 1000.0 / (port.ac_phases * volts) if volts > 0.0 else 0.0
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
            "car": None if session.car is None else session.car.name,
            "power_kw": power,
            "current_a": current,
            "voltage_v": volts,
            "pilot_duty_pct": duty,
            "ev_capacity_kwh": port.capacity_kwh,
            "target_soc_pct": port.target_pct,
            "session_energy_kwh": port.energy_kwh,
            "departure_s": port.departure_s,
        }
