"""One device's IEEE 1547-2018 grid support: the functions composed in the standard's order.

Theory of operation
-------------------

The supervisor (``controls.supervisor``) calls ``GridSupport`` twice per tick around the model
step, as it does for the operator's controls:

``before_step`` (the grid over the tick is known, the model has not run):

1. **Trip** (``trip``): the must-trip timers integrate the grid over the tick at 10 ms
   sub-steps while anything is beyond a threshold; a trip latches, zeroes the output and starts
   the re-entry wait.
2. **Enter service** (``enter_service``): while tripped, the wait counts inside the window; when
   it is over the output ramps over the enter-service period.
3. **Ride-through region** (``ride_through``): in momentary cessation the unit ceases to energize
   (no P, no Q) without tripping.
4. **Active power**: the ceiling is the smallest of ``WMaxRtg``, the current limit at the lowest
   phase voltage (``capability``), the room the reactive mode leaves inside that circle
   (reactive power has priority for volt-var and constant Q, the power factor is kept for
   constant PF, and watt-var gives way where its curve meets the circle), volt-watt
   (``volt_watt``), the active power limit (``active_power_limit``) and the enter-service ramp.
   The frequency droop (``freq_droop``) gives a command of its own; while it acts, the active
   power limit and the enter-service ramp do not (OpenDER ``p_funcs.py``: the droop starts from
   the pre-disturbance power, which already honoured them).
5. The reactive power of volt-var (with V_ref) and constant Q, which do not depend on P, steps
   through its lag.

``after_step`` (the model delivered P): P is held inside the bounds; the reactive power of
constant PF or watt-var follows P through its lag; Q is clipped to the reactive capability at
that P (reduced below 20 % P) and to the circle, P yielding where the mode has reactive
priority.

Reactive modes are exclusive (``settings.REACTIVE_MODES`` gives the precedence when several
are enabled). On a change of mode the new mode's lag starts from the Q being delivered, so Q
moves to the new target with the new mode's response time (OpenDER instead ramps over 15 s
from about 0 var; see the oracle tests).

Steady state
------------

Most ticks change nothing: the grid is what it was, every lag has reached its target and no
timer, ramp or droop is running. ``before_step`` then returns the bounds it computed at the
tick that settled (the grid at the end of the tick, the average voltage and the settings object
unchanged; the trip monitor's quick look would find nothing either, since a grid equal at both
ends of a tick without corners is constant over it). A lag counts as settled within 1e-9 kW or
kvar of its target. The autonomous V_ref, which moves for hours towards a constant voltage,
keeps a volt-var unit's reactive power moving every tick, as does Q's lag after a step; on an
unchanged grid such a tick (``_track_v_ref``) steps only V_ref, the curve and Q's lag and
recomputes the ceiling from Q's room and the ceilings stored when it began, which nothing else
moves. In another mode V_ref does not touch the bounds, and only its filter steps. The
engine's tick cost with and without the functions is measured by ``scripts/bench_engine.py``
(``BENCHMARKS.md``).

Operating states reported (``grid_state``): ``continuous``, ``mandatory``, ``permissive``,
``momentary_cessation``, ``tripped``, ``entering_service`` (the wait after a trip is
``tripped``; the ramp is ``entering_service``).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from dersim_trio.grid import constant_pf, constant_q, volt_var, volt_watt, watt_var
from dersim_trio.grid.active_power_limit import LimitRamp
from dersim_trio.grid.capability import (
    GridRating,
    apparent_limit_kva,
    p_room_kw,
    q_limits_kvar,
)
from dersim_trio.grid.enter_service import EnterServiceSettings, RandomDelay, ReEntry
from dersim_trio.grid.freq_droop import FreqDroop
from dersim_trio.grid.lag import Lag
from dersim_trio.grid.network import Thevenin
from dersim_trio.grid.ride_through import region
from dersim_trio.grid.settings import GridSettings
from dersim_trio.grid.trip import GridSample, TripEvent, TripMonitor

GridState = Literal[
    "continuous",
    "mandatory",
    "permissive",
    "momentary_cessation",
    "tripped",
    "entering_service",
]
GRID_STATES: tuple[GridState, ...] = (
    "continuous",
    "mandatory",
    "permissive",
    "momentary_cessation",
    "tripped",
    "entering_service",
)


class _Tracking(NamedTuple):
    """What a volt-var tick whose only moving parts are V_ref and Q's lag reuses: the keys of
    the steady state and the ceilings that do not depend on Q."""

    settings: GridSettings
    end: GridSample
    v_avg_pu: float
    s_lim_kva: float
    p_cap_kw: float
    """The ceiling before the reactive mode's room (WMaxRtg, VAMaxRtg or the current limit)."""
    p_cap_by: str
    p_vw_kw: float | None
    """The settled volt-watt limit (None: volt-watt off)."""
    p_ap_kw: float
    """The settled active power limit."""
    state: GridState


class PowerBounds(NamedTuple):
    """What the grid functions allow for the coming model step (kW)."""

    energize: bool
    p_max_kw: float
    """Ceiling on active power (injection side)."""
    p_min_kw: float
    """Floor on active power (≤ 0; the absorption the current and VA limits allow)."""
    droop_kw: float | None
    """The frequency droop's command while it acts: a limit for PV and wind, a setpoint for
    dispatchable units."""


_OFF = PowerBounds(energize=False, p_max_kw=0.0, p_min_kw=0.0, droop_kw=None)
_EPS_KW = 1e-9
_SETTLED = 1e-9
"""A lag within this of its target (kW, kvar) counts as settled."""


@functools.lru_cache(maxsize=64)
def _functions(settings: GridSettings) -> list[str]:
    """``settings.active_functions``, one list for equal settings: a fleet's devices share it,
    so the engine shares their grid-support blocks (``engine.core``). Never changed."""
    return settings.active_functions


def _lower(cap: float, by: str, value: float, name: str) -> tuple[float, str]:
    """The smaller of a ceiling and ``value``, with the name of what sets it."""
    return (value, name) if value < cap - _EPS_KW else (cap, by)


@dataclass(slots=True)
class GridSupport:
    """Settings and state of every grid-support function of one device (see module docstring)."""

    settings: GridSettings
    rating: GridRating
    rng: RandomDelay = field(default_factory=lambda: random.Random(0))
    state: GridState = "continuous"
    tripped: bool = False
    last_trip: TripEvent | None = None
    q_target_kvar: float = 0.0
    """The reactive mode's target before its lag (0 with no mode)."""
    p_limit_kw: float = 0.0
    """The active power ceiling the functions impose this tick."""
    p_limit_by: str = "WMaxRtg"
    """What set that ceiling: a function's name, a rating, ``current limit``, or the state
    (``tripped``, ``momentary_cessation``) that holds the output at 0."""
    droop_kw: float | None = None
    """The frequency droop's command this tick (None: the droop does not act)."""
    v_ref_pct: float = 100.0
    v_pct: float = 100.0
    """The voltage (average phase, % of V_nom) volt-var and volt-watt responded to this tick."""
    monitor: TripMonitor = field(default_factory=TripMonitor)
    reentry: ReEntry = field(default_factory=ReEntry)
    droop: FreqDroop = field(default_factory=FreqDroop)
    q_lag: Lag = field(default_factory=Lag)
    vw_lag: Lag = field(default_factory=Lag)
    ap_ramp: LimitRamp = field(default_factory=LimitRamp)
    v_ref: volt_var.VRefTracker = field(default_factory=volt_var.VRefTracker)
    _mode: str | None = None
    _q_cmd_kvar: float | None = None
    _q_last_kvar: float = 0.0
    _s_limit_kva: float = 0.0
    _p_floor_kw: float = 0.0
    _energize: bool = True
    _circle_key: tuple[object, float] | None = None
    _circle_p_kw: float = 0.0
    _vw_target_kw: float = 0.0
    _mode_of: GridSettings | None = None
    _settings_mode: str | None = None
    _steady: tuple[GridSettings, GridSample, float, PowerBounds] | None = None
    """(settings, grid at the end of the tick, average voltage, bounds) of a settled tick."""
    _tracking: _Tracking | None = None
    """A volt-var tick where only V_ref and the reactive power still move (see the module
    docstring)."""
    _functions_of: GridSettings | None = None
    _functions: list[str] = field(default_factory=list)
    es_default: EnterServiceSettings = field(default_factory=EnterServiceSettings)
    """The enter-service settings a reset to the defaults restores (``--enter_service_delay_s``
    sets their delay)."""

    def __post_init__(self) -> None:
        self.p_limit_kw = self.rating.w_max_kw
        self._s_limit_kva = self.rating.va_max_kva

    # --- before the model step ----------------------------------------------------------------

    def before_step(
        self,
        start_s: float,
        dt_s: float,
        grid_at: Callable[[float], GridSample],
        v_avg_pu: float,
        p_last_kw: float,
        normal_kw: float,
        network: Thevenin | None = None,
        source_v_pu: float | None = None,
        grid_corners: Sequence[float] = (),
    ) -> tuple[PowerBounds, TripEvent | None]:
        """Advance every function over the tick [start_s, start_s + dt_s] (see module doc).

        ``grid_at(t)`` is the grid at simulated time t (linear between ``grid_corners``);
        ``v_avg_pu`` the average phase voltage at the end of the tick (volt-var and volt-watt
        respond to it, OpenDER's default ``NP_V_MEAS_UNBALANCE = AVG``); ``p_last_kw`` the
        active power of the last tick; ``normal_kw`` the unit's command without the droop.
        Behind a weak grid (``network``, ``source_v_pu`` the source's average voltage) the
        voltage volt-var and volt-watt respond to is solved for the outputs it causes
        (``network``). Returns the bounds and the trip that happened in this tick, if any.
        """
        s = self.settings
        rating = self.rating
        end = grid_at(start_s + dt_s)
        steady = self._steady
        if (
            steady is not None
            and steady[0] is s
            and steady[1] == end
            and steady[2] == v_avg_pu
            and network is None
            and not grid_corners
        ):
            if s.volt_var.v_ref_auto_ena:  # V_ref keeps following the voltage
                self.v_ref_pct = self.v_ref.step(s.volt_var, v_avg_pu * 100.0, dt_s)
            return steady[3], None  # see "Steady state" in the module docstring
        self._steady = None
        tracking = self._tracking
        self._tracking = None
        if (
            tracking is not None
            and tracking.settings is s
            and tracking.end == end
            and tracking.v_avg_pu == v_avg_pu
            and network is None
            and not grid_corners
        ):
            return self._track_v_ref(tracking, dt_s), None
        event: TripEvent | None = None
        if not self.tripped:
            event = self.monitor.advance(s.trip, start_s, dt_s, grid_at, grid_corners)
            if event is not None:
                self._trip(event)
        if self.tripped:
            if self.reentry.advance_wait(
                s.enter_service,
                s.enter_service.in_window(end.v_lo_pu, end.v_hi_pu, end.f_hz),
                dt_s if event is None else 0.0,
                self.rng,
            ):
                self.tripped = False
            else:
                return self._off("tripped"), event
        where = region(s.abnormal_category, s.trip, end)
        if where == "momentary_cessation":
            return self._off("momentary_cessation"), event

        w_max = rating.w_max_kw
        s_lim = apparent_limit_kva(rating, end.v_lo_pu)
        self._s_limit_kva = s_lim
        if s is not self._mode_of:
            self._mode_of = s
            self._settings_mode = s.reactive_mode
        mode = self._settings_mode
        if mode != self._mode:
            self.q_lag.reset(self._q_last_kvar if self._mode is not None else None)
            self._mode = mode
        if network is not None and source_v_pu is not None:
            v_pct = self._network_v_pct(network, source_v_pu, p_last_kw, s_lim, dt_s)
        else:
            v_pct = v_avg_pu * 100.0
        self.v_pct = v_pct
        self.v_ref_pct = self.v_ref.step(s.volt_var, v_pct, dt_s)
        q_cmd: float | None = None
        p_cap, by = w_max, "WMaxRtg"
        if s_lim < w_max - _EPS_KW:
            p_cap, by = s_lim, "VAMaxRtg" if s_lim >= rating.va_max_kva else "current limit"
        p_cap0, by0 = p_cap, by
        if mode == "volt_var":
            target = volt_var.curve_q_kvar(s.volt_var, self.v_ref_pct, v_pct, rating)
            self.q_target_kvar = target
            q_cmd = self.q_lag.step(target, s.volt_var.rsp_tms_s, dt_s)
        elif mode == "constant_q":
            target = constant_q.q_target_kvar(s.constant_q, rating)
            self.q_target_kvar = target
            q_cmd = self.q_lag.step(target, s.constant_q.rsp_tms_s, dt_s)
        elif mode == "constant_pf":
            pf = s.constant_pf.pf_w_inj
            p_cap, by = _lower(p_cap, by, s_lim * pf, "constant_pf")
        elif mode == "watt_var":
            key = (s.watt_var, s_lim)
            if key != self._circle_key:  # the bisection only when the curve or S changes
                self._circle_key = key
                self._circle_p_kw = watt_var.circle_p_kw(s.watt_var, w_max, s_lim, rating)
            p_wv = self._circle_p_kw
            p_cap, by = _lower(p_cap, by, p_wv, "watt_var")
        else:
            self.q_target_kvar = 0.0
        if q_cmd is not None:
            q_cmd = max(-rating.var_max_abs_kvar, min(rating.var_max_inj_kvar, q_cmd))
            q_cmd = max(-s_lim, min(s_lim, q_cmd))
            p_cap, by = _lower(p_cap, by, p_room_kw(s_lim, q_cmd), str(mode))
        self._q_cmd_kvar = q_cmd

        p_vw = 0.0
        if s.volt_watt.enabled:
            self._vw_target_kw = volt_watt.p_limit_kw(s.volt_watt, v_pct, rating)
            p_vw = self.vw_lag.step(self._vw_target_kw, s.volt_watt.rsp_tms_s, dt_s)
            p_cap, by = _lower(p_cap, by, p_vw, "volt_watt")
        else:
            self.vw_lag.reset()
        ap_kw = self.ap_ramp.step(s.active_power_limit, dt_s) / 100.0 * w_max
        ap_target_kw = s.active_power_limit.w_max_lim_pct / 100.0 * w_max
        es_pu = self.reentry.ramp_cap_pu(s.enter_service, dt_s)

        droop_pu = self.droop.step(
            s.freq_droop,
            end.f_hz,
            p_last_kw / w_max if w_max > 0.0 else 0.0,
            normal_kw / w_max if w_max > 0.0 else 0.0,
            dt_s,
        )
        droop_kw: float | None = None
        if droop_pu is not None:
            droop_kw = max(-p_cap, min(p_cap, droop_pu * w_max))
        else:
            p_cap, by = _lower(p_cap, by, ap_kw, "active_power_limit")
            if es_pu is not None:
                p_cap, by = _lower(p_cap, by, es_pu * w_max, "enter_service")
        p_cap = max(0.0, p_cap)
        self.p_limit_kw = p_cap
        self.p_limit_by = by
        self.droop_kw = droop_kw
        p_floor = -min(rating.w_max_charge_kw, s_lim) if rating.can_absorb else 0.0
        if q_cmd is not None and rating.can_absorb:
            p_floor = -min(rating.w_max_charge_kw, p_room_kw(s_lim, q_cmd))
        self._p_floor_kw = p_floor
        self._energize = True
        self.state = "entering_service" if es_pu is not None else where
        bounds = PowerBounds(True, p_cap, p_floor, droop_kw)
        if (
            event is None
            and network is None
            and es_pu is None
            and droop_pu is None
            and not self.monitor.timers_s
            and (not s.volt_watt.enabled or abs(self._vw_target_kw - p_vw) <= _SETTLED)
            and (not s.active_power_limit.enabled or ap_kw == ap_target_kw)
        ):
            if (q_cmd is None or abs(self.q_target_kvar - q_cmd) <= _SETTLED) and (
                mode != "volt_var" or self.v_ref.settled(s.volt_var, v_pct)
            ):
                self._steady = (s, end, v_avg_pu, bounds)
            elif mode == "volt_var":
                p_vw_kw = p_vw if s.volt_watt.enabled else None
                self._tracking = _Tracking(
                    s, end, v_avg_pu, s_lim, p_cap0, by0, p_vw_kw, ap_kw, where
                )
        return bounds, event

    def _track_v_ref(self, t: _Tracking, dt_s: float) -> PowerBounds:
        """A volt-var tick on an unchanged grid where only V_ref (and the reactive power
        following it) still moves: the steps of ``before_step`` that depend on them, in the
        same order, on the ceilings of the tick that stored ``t`` (the trip monitor, the
        ride-through region, the droop, volt-watt and the active power limit would find what
        they found then; see "Steady state" in the module docstring)."""
        s = t.settings
        rating = self.rating
        vv = s.volt_var
        v_pct = t.v_avg_pu * 100.0
        self.v_pct = v_pct
        self.v_ref_pct = self.v_ref.step(vv, v_pct, dt_s)
        target = volt_var.curve_q_kvar(vv, self.v_ref_pct, v_pct, rating)
        self.q_target_kvar = target
        s_lim = t.s_lim_kva
        q_cmd = self.q_lag.step(target, vv.rsp_tms_s, dt_s)
        q_cmd = max(-rating.var_max_abs_kvar, min(rating.var_max_inj_kvar, q_cmd))
        q_cmd = max(-s_lim, min(s_lim, q_cmd))
        self._q_cmd_kvar = q_cmd
        room = p_room_kw(s_lim, q_cmd)
        p_cap, by = _lower(t.p_cap_kw, t.p_cap_by, room, "volt_var")
        if t.p_vw_kw is not None:
            p_cap, by = _lower(p_cap, by, t.p_vw_kw, "volt_watt")
        p_cap, by = _lower(p_cap, by, t.p_ap_kw, "active_power_limit")
        p_cap = max(0.0, p_cap)
        self.p_limit_kw = p_cap
        self.p_limit_by = by
        self.droop_kw = None
        p_floor = -min(rating.w_max_charge_kw, room) if rating.can_absorb else 0.0
        self._p_floor_kw = p_floor
        self._energize = True
        self.state = t.state
        bounds = PowerBounds(True, p_cap, p_floor, None)
        if self.v_ref.settled(vv, v_pct) and abs(target - q_cmd) <= _SETTLED:
            self._steady = (s, t.end, t.v_avg_pu, bounds)
        else:
            self._tracking = t
        return bounds

    def _network_v_pct(
        self, network: Thevenin, e_pu: float, p_kw: float, s_lim: float, dt_s: float
    ) -> float:
        """The terminal voltage (% of V_nom) at which the network line meets the outputs that
        voltage causes this tick (see ``network``): bisection on V of
        h(V) = terminal(E, P(V), Q(V)) − V, which falls with V (every curve checked by
        ``checks`` falls with voltage), from h(0) ≥ 0 to h(4 pu) < 0."""
        s = self.settings
        rating = self.rating
        mode = self._mode
        base = rating.va_max_kva
        v_ref = self.v_ref.v_ref_pct
        if v_ref is None or not s.volt_var.v_ref_auto_ena:
            v_ref = s.volt_var.v_ref_pct
        q_lo = -min(rating.var_max_abs_kvar, s_lim)
        q_hi = min(rating.var_max_inj_kvar, s_lim)

        def excess(v_pu: float) -> float:
            v_pct = v_pu * 100.0
            p = p_kw
            if s.volt_watt.enabled:
                limit = volt_watt.p_limit_kw(s.volt_watt, v_pct, rating)
                p = min(p, self.vw_lag.preview(limit, s.volt_watt.rsp_tms_s, dt_s))
            if mode == "volt_var":
                target = volt_var.curve_q_kvar(s.volt_var, v_ref, v_pct, rating)
                q = self.q_lag.preview(target, s.volt_var.rsp_tms_s, dt_s)
            elif mode == "constant_q":
                target = constant_q.q_target_kvar(s.constant_q, rating)
                q = self.q_lag.preview(target, s.constant_q.rsp_tms_s, dt_s)
            elif mode == "constant_pf":
                target = constant_pf.q_target_kvar(s.constant_pf, p)
                q = self.q_lag.preview(target, s.constant_pf.rsp_tms_s, dt_s)
            elif mode == "watt_var":
                target = watt_var.q_target_kvar(s.watt_var, p, rating)
                q = self.q_lag.preview(target, s.watt_var.rsp_tms_s, dt_s)
            else:
                q = self._q_last_kvar
            q = max(q_lo, min(q_hi, q))
            return network.terminal_pu(e_pu, p / base, q / base) - v_pu

        lo, hi = 0.0, 4.0
        for _ in range(48):  # 4 pu / 2⁴⁸ < 1e-13 pu
            mid = 0.5 * (lo + hi)
            if excess(mid) > 0.0:
                lo = mid
            else:
                hi = mid
        return 50.0 * (lo + hi)

    # --- the operator's enter_service (one mechanism with the re-entry after a trip) ----------

    def start_entering(self) -> None:
        """The operator sent ``enter_service``: wait in the window for the delay (plus the
        randomized part), as after a trip; ``advance_entering`` counts it."""
        self._steady = None
        self._tracking = None
        self.reentry.start_wait()

    def advance_entering(self, end: GridSample, dt_s: float, may_count: bool) -> bool:
        """Count ``dt_s`` of the operator's wait (``may_count``: the inverter is running);
        True when it is over: the enter-service ramp starts with the next ``before_step`` of
        the same tick, and a trip still waiting is over too (its wait is the same one)."""
        es = self.settings.enter_service
        inside = may_count and es.in_window(end.v_lo_pu, end.v_hi_pu, end.f_hz)
        if not self.reentry.advance_wait(es, inside, dt_s, self.rng):
            return False
        self.tripped = False
        return True

    def stop_entering(self) -> None:
        """The operator ceased to energize: any wait or ramp ends (a trip stays latched until
        the next ``enter_service`` has waited in the window)."""
        self._steady = None
        self._tracking = None
        self.reentry.cancel()

    def _trip(self, event: TripEvent) -> None:
        self._steady = None
        self._tracking = None
        self.tripped = True
        self.last_trip = event
        self.monitor.reset()
        self.reentry.start_wait()
        self.droop.reset()
        self.q_lag.reset()
        self.vw_lag.reset()
        self._mode = None
        self._q_last_kvar = 0.0

    def _off(self, state: GridState) -> PowerBounds:
        self._steady = None
        self._tracking = None
        self.state = state
        self._energize = False
        self.p_limit_kw = 0.0
        self.p_limit_by = state
        self.droop_kw = None
        self._q_cmd_kvar = None
        return _OFF

    # --- quiet ticks ---------------------------------------------------------------------------

    @property
    def steady(self) -> bool:
        """Whether the next tick on an unchanged grid returns this tick's bounds at once (see
        "Steady state" in the module docstring)."""
        return self._steady is not None

    def quiet_window(self) -> tuple[float, float, float] | None:
        """(P floor, P ceiling, VA limit) in kW and kVA when the functions are steady and leave
        Q to the operator: no reactive mode, V_ref not moving, the unit energized, no Q
        delivered. Then ``after_step(p, 0.0, dt)`` only clips P into the floor and the ceiling
        and onto the VA circle (the engine's quiet devices, ``engine.core``, do that for a whole
        fleet at once). None otherwise."""
        if (
            self._steady is None
            or self._mode is not None
            or self.settings.volt_var.v_ref_auto_ena
            or not self._energize
            or self._q_last_kvar != 0.0
        ):
            return None
        return self._p_floor_kw, self.p_limit_kw, self._s_limit_kva

    # --- after the model step -----------------------------------------------------------------

    @property
    def reactive_mode(self) -> str | None:
        """The reactive mode acting this tick (None: the operator's controls decide Q)."""
        return self._mode if self._energize else None

    @property
    def active_functions(self) -> list[str]:
        """``settings.active_functions``, computed once per settings object (every tick's
        snapshot carries it), one list for every device with equal settings (``_functions``)."""
        if self.settings is not self._functions_of:
            self._functions_of = self.settings
            self._functions = _functions(self.settings)
        return self._functions

    @property
    def q_delivered_kvar(self) -> float:
        """The reactive power delivered at the last tick (0 while not energized)."""
        return self._q_last_kvar

    def after_step(self, p_kw: float, q_operator_kvar: float, dt_s: float) -> tuple[float, float]:
        """Final (P, Q) from the model's P and, with no reactive mode, the operator's Q."""
        if not self._energize:
            self._q_last_kvar = 0.0
            return 0.0, 0.0
        s = self.settings
        rating = self.rating
        p = max(self._p_floor_kw, min(self.p_limit_kw, p_kw))
        mode = self._mode
        if mode == "constant_pf":
            target = constant_pf.q_target_kvar(s.constant_pf, p)
            self.q_target_kvar = target
            q = self.q_lag.step(target, s.constant_pf.rsp_tms_s, dt_s)
        elif mode == "watt_var":
            target = watt_var.q_target_kvar(s.watt_var, p, rating)
            self.q_target_kvar = target
            q = self.q_lag.step(target, s.watt_var.rsp_tms_s, dt_s)
        elif self._q_cmd_kvar is not None:
            q = self._q_cmd_kvar
        else:
            q = q_operator_kvar
        if mode is not None:
            q_inj, q_abs = q_limits_kvar(p, rating)
            q = max(-q_abs, min(q_inj, q))
        s_lim = self._s_limit_kva
        if p * p + q * q > s_lim * s_lim + 1e-12:
            if mode == "constant_pf":
                k = s_lim / math.hypot(p, q)
                p, q = p * k, q * k
            else:
                q = max(-s_lim, min(s_lim, q))
                p = math.copysign(p_room_kw(s_lim, q), p)
        self._q_last_kvar = q
        return p, q
