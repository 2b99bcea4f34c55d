"""One device's supervisor: operator controls and states around the model's step (sans-IO).

Every tick the engine calls, per device::

    dispatch = supervisor.before_step(...)      # timers, states, ramp, priority → Dispatch
    out = model.step(env, dispatch, dt_s)       # the physics
    delivered = supervisor.after_step(...)      # final P, Q, states and message

``before_step`` (in this order):

1. reversion timers that have run out return their setpoints to the defaults;
2. the operating state (``operating_state``) and the enter-service delay (``enter_service``)
   advance by the step's simulated seconds;
3. the effective ``Dispatch`` is built so that the model's own state stays consistent with what
   is reported: not energized (off, starting, fault, out of service) → limit 0 % and no setpoint
   (an EVSE gets a 0 kW charging cap: with no setpoint it would charge freely); shutting down →
   |P| ≤ P_stop·(time left / shutdown time), a linear ramp to 0; reactive priority → |P| ≤ the
   cap of ``reactive.active_power_cap_kw``; the ramp rate (``ramp``) moves the setpoint (storage,
   fuel cell, hybrid, EVSE) or the limit (PV, wind) toward the operator's value.

``after_step``:

1. P is the model's, held to 0 when not energized and to the cap otherwise (a model with its own
   dynamics, such as the fuel cell's ramp, may lag the dispatch; the cap is a hard ceiling);
2. Q is computed from that P (fixed PF, or the var setpoint) and clamped to the var ratings and,
   with active priority, to √(S² − P²) (``reactive.limit_reactive``). Q flows only while the
   model delivers (running or throttled, and storage in standby, which can still exchange vars);
   a model that reports starting while P ≠ 0 (the fuel cell ramping up from idle is already on
   the grid) counts as running, here and in 3., since a reported starting means no output;
3. the reported inverter state: off, starting, shutting_down and fault override the model's; a
   running inverter that is out of service (or entering service) reports standby;
4. the service state (off or faulted → out_of_service), the connection state (disconnected while
   a grid_disconnect fault is present or latched) and the status message: the fault, the
   operating or service state, then clamps ("reactive power clamped at 4.40 kvar
   (VarMaxInjRtg)"), else the model's own message.

Grid support (``grid.support``, IEEE 1547-2018), when the device has it (every inverter-based
device built by the service does): in ``before_step``, once the inverter is running and in
service, the grid functions integrate the tick (trips at 10 ms sub-steps, momentary cessation,
re-entry after a trip) and bound the dispatch: the PV/wind limit and the storage setpoint are
held under their active power ceiling, and while the frequency droop acts its command replaces
them (a limit for PV and wind, a setpoint for storage, fuel cell and hybrid; the EVSE's charging
is held inside the current limit only). In ``after_step`` the grid's reactive mode, if one is
enabled, replaces the operator's Q (``settings.REACTIVE_MODES``); the VA circle and the current
limit then bound P and Q. A trip or momentary cessation zeroes the output; a trip reports the
unit ``out_of_service`` and ``disconnected`` until it has re-entered service (and restarts the
operator's ramp from 0), while after momentary cessation the output returns at once to the
ramped command it had (IEEE 1547-2018 §6.4.2.7: restored within 0.4 s). The operator's
``enter_service`` waits and ramps through the grid support's enter-service function, the same
one as the re-entry after a trip, and so does a ``start`` or ``reset`` that restarts the inverter
(IEEE 1547-2018 §4.10: starting to energize is entering service; ``enter_service``
``inverter_started``). Trips are logged
on ``dersim_trio.Grid``.

Logging (the device index is in every message): reversions and reactive clamps on
``dersim_trio.AC``, timed state changes on ``dersim_trio.Lab``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dersim_trio.api.controls import CommandName, FaultType
from dersim_trio.api.schema import ConnectionState, InverterStateName, ServiceState
from dersim_trio.controls.enter_service import EnterService, ServiceEvent, grid_in_window
from dersim_trio.controls.faults import FaultRecord
from dersim_trio.controls.operating_state import (
    FAULT_STATES,
    OperatingState,
    OperatingTimes,
    Outcome,
    refusal_detail,
)
from dersim_trio.controls.ramp import ramp_toward
from dersim_trio.controls.reactive import (
    ReactiveLimit,
    active_power_cap_kw,
    limit_reactive,
    pf_reactive_kvar,
)
from dersim_trio.controls.setpoints import SETPOINT_ASSETS, Clamp, DeviceControls
from dersim_trio.grid.network import Thevenin
from dersim_trio.grid.support import GridState, GridSupport, PowerBounds
from dersim_trio.grid.trip import GridSample, TripEvent
from dersim_trio.physics.base import DeviceModel, DeviceOutput, Dispatch, Environment

log_ac = logging.getLogger("dersim_trio.AC")
log_lab = logging.getLogger("dersim_trio.Lab")
log_grid = logging.getLogger("dersim_trio.Grid")

STORAGE_ASSETS: frozenset[str] = frozenset({"battery", "hybrid-dc"})
"""Assets that exchange vars in standby (the converter stays on the grid)."""
IDLE_IS_ZERO: frozenset[str] = frozenset({"battery", "fuelcell"})
"""Assets for which "no setpoint" means 0 kW, so a ramp can end there."""

_NO_OUTPUT = Dispatch(active_power_setpoint_kw=None, active_power_limit_pct=0.0)
_NO_OUTPUT_EVSE = Dispatch(active_power_setpoint_kw=0.0, active_power_limit_pct=0.0)
_DEFAULT = Dispatch()
_EPS_KW = 1e-9
CAP_TOLERANCE_KW = _EPS_KW
"""How far |P| may pass the dispatch's cap before ``after_step`` holds it to the cap."""


@dataclass(slots=True)  # not frozen: physics.base docstring
class Delivered:
    """What the device delivers this tick after the controls (the snapshot's AC and status)."""

    active_power_kw: float
    reactive_power_kvar: float
    dc_power_kw: float
    dc_current_a: float
    inverter_state: InverterStateName
    service_state: ServiceState
    connection_state: ConnectionState
    message: str | None
    grid_state: GridState | None = None
    """The IEEE 1547 operating region (None: the device has no grid support or is not energized
    by its operator)."""


@dataclass(slots=True)
class DeviceSupervisor:
    """Controls, operating and service states, and faults of one device (see module docstring)."""

    controls: DeviceControls = field(default_factory=DeviceControls)
    operation: OperatingState = field(default_factory=OperatingState)
    service: EnterService = field(default_factory=EnterService)
    faults: FaultRecord = field(default_factory=FaultRecord)
    ramp_kw: float | None = None
    """The ramped active power command (setpoint or limit, kW); None: not ramping."""
    shutdown_from_kw: float = 0.0
    """|P| when the stop command arrived: the start of the shutdown ramp."""
    last_active_power_kw: float = 0.0
    last_inverter_state: InverterStateName = "running"
    """The ``InvSt`` of the last tick (what a refused command's detail is told against)."""
    reactive_clamp: ReactiveLimit | None = None
    """The reactive power clamp of the last tick (None: Q fitted)."""
    grid: GridSupport | None = None
    """IEEE 1547 grid support (``grid.support``); None: the device ignores its grid."""
    _energize: bool = True
    _p_cap_kw: float = math.inf
    _q_scale: float = 1.0
    _grid_active: bool = False
    _grid_bounds: PowerBounds | None = None
    _dt_s: float = 0.0
    quiet_dispatch: Dispatch | None = None
    """This tick's dispatch when the next tick on the same grid repeats it: the running
    inverter in service, its active power setpoint and limit (if any) held without a ramp, no
    power factor or var setpoint; else None (``engine.core``, "Quiet devices")."""

    # --- commands and faults --------------------------------------------------------------

    def command(self, name: CommandName, times: OperatingTimes) -> tuple[bool, str]:
        """Apply an operator command; return (accepted, detail)."""
        if name == "enter_service" or name == "cease_to_energize":
            event: ServiceEvent = name
            gs = self.grid
            if gs is None:
                result = self.service.handle(event, times.enter_service_delay_s)
                return result.accepted, result.detail
            es = gs.settings.enter_service
            result = self.service.handle(event, es.es_dly_tms_s)
            if not result.accepted:
                return result.accepted, result.detail
            if result.state == "entering_service":
                gs.start_entering()
                said = (
                    f"{result.previous} → entering_service, in_service after {es.es_dly_tms_s:g} s"
                    + (f" (+ up to {es.es_rnd_tms_s:g} s at random)" if es.es_rnd_tms_s else "")
                    + f" with the inverter running and the grid within {es.es_v_lo_pct:g}.."
                    f"{es.es_v_hi_pct:g} % and {es.es_hz_lo:g}..{es.es_hz_hi:g} Hz, then a "
                    f"{es.es_rmp_tms_s:g} s ramp (IEEE 1547 enter service)"
                )
                return True, said
            gs.stop_entering()
            return result.accepted, result.detail
        outcome = self.operation.handle(name, times, conditions_cleared=not self.faults.present)
        if not outcome.accepted:
            detail = refusal_detail(
                outcome.state,
                name,
                self.last_inverter_state,
                self.service.state == "in_service" and not self.grid_tripped,
            )
            if detail is not None:
                return False, detail
        if not outcome.accepted and name == "reset" and self.faults.present:
            present = ", ".join(self.faults.active)
            return False, (
                f"the fault condition {present} is still present: clear it first "
                "(DELETE .../faults), then reset"
            )
        if not outcome.accepted:
            return False, outcome.detail
        if name == "reset":
            self.faults.reset()
        elif name == "stop" and outcome.state == "shutting_down":
            self.shutdown_from_kw = abs(self.last_active_power_kw)
        if outcome.state == "starting" and self.service.inverter_started():
            gs = self.grid
            if gs is None:
                delay = f"{times.enter_service_delay_s:g} s"
            else:  # one wait with the re-entry after a trip (``grid.enter_service``)
                gs.start_entering()
                es = gs.settings.enter_service
                delay = f"{es.es_dly_tms_s:g} s, then the {es.es_rmp_tms_s:g} s ramp"
            return True, (
                f"{outcome.detail}; then entering_service: the IEEE 1547 enter-service "
                f"delay of {delay}"
            )
        return True, outcome.detail

    def inject_fault(self, fault: FaultType, times: OperatingTimes) -> Outcome:
        """A fault condition appears: the inverter trips into fault."""
        self.faults.inject(fault)
        return self.operation.handle("fault", times)

    def clear_fault(self, fault: FaultType | None) -> list[FaultType]:
        """A condition (None: all) goes away; the fault stays latched until a reset."""
        return self.faults.clear(fault)

    def grid_overrides(self, model: DeviceModel) -> list[Clamp]:
        """The operator's setpoints that the grid functions override or bound right now.

        IEEE 1547 priority (README "IEEE 1547 grid support"): a trip or momentary cessation
        holds the output at 0; the frequency droop, while it acts, replaces the active power
        setpoint and limit; otherwise the lowest ceiling of the functions (volt-watt, the
        capability with the reactive mode's priority, the enter-service ramp, the grid's own
        active power limit) bounds them; an enabled reactive mode replaces the operator's power
        factor or var setpoint. Judged on the last tick's grid; ``applied`` is what the device
        delivers or is allowed.
        """
        gs = self.grid
        if gs is None:
            return []
        c = self.controls
        w_max = model.rating.w_max_kw
        sp = c.active_power_setpoint_kw
        limit = c.active_power_limit_pct
        out: list[Clamp] = []
        if gs.tripped or gs.state == "momentary_cessation":
            why = "tripped" if gs.tripped else "momentary cessation"
            if gs.tripped and gs.last_trip is not None:
                why = f"tripped ({gs.last_trip.cause}), waiting to re-enter service"
            if sp is not None and sp != 0.0:
                out.append(Clamp("active_power_setpoint_kw", sp, 0.0, why))
            if limit > 0.0:
                out.append(Clamp("active_power_limit_pct", limit, 0.0, why))
            return out
        droop = gs.droop_kw
        if droop is not None:
            why = "freq_droop (the frequency response takes precedence)"
            if sp is not None and abs(sp - droop) > _EPS_KW:
                out.append(Clamp("active_power_setpoint_kw", sp, droop, why))
            elif sp is None and w_max > 0.0:
                applied = 100.0 * max(0.0, droop) / w_max
                if abs(applied - limit) > 1e-6:
                    out.append(Clamp("active_power_limit_pct", limit, applied, why))
        elif gs.p_limit_by != "WMaxRtg":
            ceiling = gs.p_limit_kw
            why = f"{gs.p_limit_by} (IEEE 1547 grid support)"
            if sp is not None and sp > ceiling + _EPS_KW:
                out.append(Clamp("active_power_setpoint_kw", sp, ceiling, why))
            if w_max > 0.0 and limit / 100.0 * w_max > ceiling + _EPS_KW:
                out.append(Clamp("active_power_limit_pct", limit, 100.0 * ceiling / w_max, why))
        mode = gs.settings.reactive_mode
        if mode is not None:
            why = f"{mode} (the grid's reactive power mode sets Q)"
            q = gs.q_delivered_kvar
            if c.power_factor is not None:
                p = self.last_active_power_kw
                s = math.hypot(p, q)
                out.append(Clamp("power_factor", c.power_factor, abs(p) / s if s > 0 else 1.0, why))
            if c.reactive_power_setpoint_kvar is not None:
                out.append(
                    Clamp("reactive_power_setpoint_kvar", c.reactive_power_setpoint_kvar, q, why)
                )
        return out

    @property
    def p_cap_kw(self) -> float:
        """The |P| ceiling of this tick's dispatch (inf: none); ``after_step`` holds P to it."""
        return self._p_cap_kw

    @property
    def grid_tripped(self) -> bool:
        """True while the grid support holds the unit tripped (waiting to re-enter)."""
        return self.grid is not None and self.grid.tripped

    @property
    def service_state(self) -> ServiceState:
        """The service state reported in snapshots (the inverter's state bounds it)."""
        op = self.operation.state
        if op == "off" or op in FAULT_STATES or self.grid_tripped:
            return "out_of_service"
        if self.service.state != "in_service":
            return self.service.state
        if op == "starting":
            return "entering_service"
        return "in_service"

    # --- the tick ---------------------------------------------------------------------------

    def before_step(
        self,
        index: int,
        model: DeviceModel,
        env: Environment,
        dt_s: float,
        now_s: float,
        times: OperatingTimes,
        grid: GridSample | None = None,
        grid_at: Callable[[float], GridSample] | None = None,
        network: Thevenin | None = None,
        source_v_pu: float | None = None,
        grid_corners: Sequence[float] = (),
    ) -> Dispatch:
        """Advance timers and states by ``dt_s`` and return the dispatch for the model step.

        ``grid`` is the grid at the end of the step (default: ``env``'s voltage on every
        phase), ``grid_at(t)`` the grid at simulated time t inside the step (default: ``grid``
        throughout), linear between ``grid_corners``; behind a weak grid, ``network`` is the
        source impedance and ``source_v_pu`` the source's average voltage (``grid.network``).
        Only the grid support uses them.
        """
        controls = self.controls
        self._dt_s = dt_s
        self.quiet_dispatch = None
        if controls.revert_at_s:
            for name in controls.expire(now_s):
                log_ac.info("device %d: %s reverted to its default (revert timer)", index, name)
        operation = self.operation
        for before, after in operation.advance(dt_s, times):
            log_lab.info("device %d: inverter %s → %s", index, before, after)
        if self.service.state == "entering_service":
            running = operation.state == "running"
            # the delay counts the time the inverter has run in this step (it may have started
            # inside it)
            dt_run = min(dt_s, operation.time_in_state_s) if running else dt_s
            if self.grid is not None:  # the enter-service function's window, delay and ramp
                sample = grid or GridSample(
                    env.grid_voltage_pu, env.grid_voltage_pu, env.grid_frequency_hz
                )
                entered = (
                    self.grid.advance_entering(sample, dt_run, running) and self.service.complete()
                )
            else:
                in_window = grid_in_window(env.grid_voltage_pu, env.grid_frequency_hz)
                entered = self.service.advance(
                    dt_run, times.enter_service_delay_s, running and in_window
                )
            if entered:
                log_lab.info("device %d: entering_service → in_service", index)

        asset = model.asset_type
        self._grid_active = False
        self._grid_bounds = None
        if not (operation.energized and self.service.state == "in_service"):
            self._energize = False
            self.ramp_kw = 0.0 if controls.ramp_rate_pct_per_s is not None else None
            return _NO_OUTPUT_EVSE if asset == "evse" else _NO_OUTPUT
        if self.grid is not None:
            bounds = self._grid_before(
                index, model, env, dt_s, now_s, grid, grid_at, network, source_v_pu, grid_corners
            )
            if not bounds.energize:
                self._energize = False
                if self.grid.state != "momentary_cessation":
                    self.ramp_kw = 0.0 if controls.ramp_rate_pct_per_s is not None else None
                # in momentary cessation the ramped command holds: IEEE 1547-2018 §6.4.2.7
                # restores the output within 0.4 s of the voltage's return, not at the ramp rate
                return _NO_OUTPUT_EVSE if asset == "evse" else _NO_OUTPUT
            w = model.rating.w_max_kw
            if not (bounds.droop_kw is None and bounds.p_max_kw >= w - _EPS_KW):
                self._grid_bounds = bounds
        self._energize = True
        if controls.is_default and operation.state == "running":
            # no setpoint, no ramp, no reactive cap: only the grid's bounds, if any, apply
            self._q_scale = 1.0
            self.ramp_kw = None
            grid_bounds = self._grid_bounds
            if grid_bounds is None:
                self._p_cap_kw = math.inf
                self.quiet_dispatch = _DEFAULT
                return _DEFAULT
            setpoint, limit_pct, p_cap = self._apply_bounds(
                grid_bounds,
                asset,
                model.rating.w_max_kw,
                None,
                controls.active_power_limit_pct,
                math.inf,
            )
            self._p_cap_kw = p_cap
            dispatch = Dispatch(active_power_setpoint_kw=setpoint, active_power_limit_pct=limit_pct)
            self.quiet_dispatch = dispatch
            return dispatch

        rating = model.rating
        w_max = rating.w_max_kw
        rate = controls.ramp_rate_pct_per_s
        limit_pct = controls.active_power_limit_pct
        setpoint = controls.active_power_setpoint_kw
        if asset in SETPOINT_ASSETS:
            target = setpoint
            if target is None and asset in IDLE_IS_ZERO and self.ramp_kw is not None:
                target = 0.0
            if target is None or rate is None:
                self.ramp_kw = None
            else:
                current = self.last_active_power_kw if self.ramp_kw is None else self.ramp_kw
                self.ramp_kw = ramp_toward(current, target, rate, w_max, dt_s)
                setpoint = None if setpoint is None and self.ramp_kw == 0.0 else self.ramp_kw
                if setpoint is None:
                    self.ramp_kw = None
        elif rate is None or w_max <= 0.0:
            self.ramp_kw = None
        else:
            target_kw = limit_pct / 100.0 * w_max
            current = w_max if self.ramp_kw is None else self.ramp_kw
            if target_kw < current:  # ramp down from what is delivered, not from headroom
                current = min(current, max(0.0, self.last_active_power_kw))
            self.ramp_kw = ramp_toward(current, target_kw, rate, w_max, dt_s)
            limit_pct = 100.0 * self.ramp_kw / w_max

        p_cap = active_power_cap_kw(
            rating,
            controls.p_q_priority,
            controls.power_factor,
            controls.reactive_power_setpoint_kvar,
        )
        q_scale = 1.0
        if operation.state == "shutting_down":
            q_scale = operation.remaining_fraction(times)
            p_cap = min(p_cap, self.shutdown_from_kw * q_scale)
        if p_cap < math.inf:
            if w_max > 0.0:
                limit_pct = min(limit_pct, 100.0 * p_cap / w_max)
            if setpoint is not None:
                setpoint = max(-p_cap, min(p_cap, setpoint))
            elif asset == "evse":
                setpoint = -p_cap
        grid_bounds = self._grid_bounds
        if grid_bounds is not None:
            setpoint, limit_pct, p_cap = self._apply_bounds(
                grid_bounds, asset, w_max, setpoint, limit_pct, p_cap
            )
        self._p_cap_kw = p_cap
        self._q_scale = q_scale
        dispatch = Dispatch(active_power_setpoint_kw=setpoint, active_power_limit_pct=limit_pct)
        if (
            rate is None
            and operation.state == "running"
            and controls.power_factor is None
            and controls.reactive_power_setpoint_kvar is None
        ):  # a setpoint or a limit held as it is: the next tick repeats this one
            self.quiet_dispatch = dispatch
        return dispatch

    def _grid_before(
        self,
        index: int,
        model: DeviceModel,
        env: Environment,
        dt_s: float,
        now_s: float,
        grid: GridSample | None,
        grid_at: Callable[[float], GridSample] | None,
        network: Thevenin | None,
        source_v_pu: float | None,
        grid_corners: Sequence[float],
    ) -> PowerBounds:
        """Run the grid functions over the step (see the module docstring)."""
        gs = self.grid
        assert gs is not None
        end = grid or GridSample(env.grid_voltage_pu, env.grid_voltage_pu, env.grid_frequency_hz)
        w_max = model.rating.w_max_kw
        controls = self.controls
        if model.asset_type in SETPOINT_ASSETS:
            normal = controls.active_power_setpoint_kw or 0.0
        else:
            normal = controls.active_power_limit_pct / 100.0 * w_max
        was = gs.state
        bounds, event = gs.before_step(
            now_s - dt_s,
            dt_s,
            grid_at or (lambda _t: end),
            env.grid_voltage_pu,
            self.last_active_power_kw,
            normal,
            network,
            source_v_pu,
            grid_corners,
        )
        self._grid_active = True
        if event is not None:
            self._log_trip(index, event, end)
        elif was != gs.state and (was == "tripped" or gs.state == "momentary_cessation"):
            log_grid.info("device %d: grid state %s → %s", index, was, gs.state)
        return bounds

    def _apply_bounds(
        self,
        bounds: PowerBounds,
        asset: str,
        w_max: float,
        setpoint: float | None,
        limit_pct: float,
        p_cap: float,
    ) -> tuple[float | None, float, float]:
        """The dispatch inside the grid's bounds: (setpoint, limit %, |P| cap)."""
        p_max = bounds.p_max_kw
        droop = bounds.droop_kw
        if asset == "evse":
            if setpoint is None or setpoint < bounds.p_min_kw:
                setpoint = bounds.p_min_kw if bounds.p_min_kw < 0.0 else setpoint
            return setpoint, min(limit_pct, 100.0 * p_max / w_max), min(p_cap, p_max)
        if asset in SETPOINT_ASSETS:
            if droop is not None:
                setpoint = droop
            elif setpoint is not None:
                setpoint = max(bounds.p_min_kw, min(p_max, setpoint))
            if w_max > 0.0:
                limit_pct = min(limit_pct, 100.0 * p_max / w_max)
        elif w_max > 0.0:
            ceiling = p_max if droop is None else max(0.0, droop)
            limit_pct = (
                100.0 * ceiling / w_max
                if droop is not None
                else min(limit_pct, 100.0 * ceiling / w_max)
            )
        return setpoint, max(0.0, min(100.0, limit_pct)), min(p_cap, p_max)

    def _log_trip(self, index: int, event: TripEvent, grid: GridSample) -> None:
        gs = self.grid
        assert gs is not None
        es = gs.settings.enter_service
        log_grid.warning(
            "device %d: tripped (%s) at %.3f s: V %.3f..%.3f pu, f %.3f Hz; re-entering after "
            "%g s inside the window, then a %g s ramp",
            index,
            event.cause,
            event.time_s,
            grid.v_lo_pu,
            grid.v_hi_pu,
            grid.f_hz,
            es.es_dly_tms_s,
            es.es_rmp_tms_s,
        )

    def after_step(self, index: int, model: DeviceModel, out: DeviceOutput) -> Delivered:
        """Final P and Q, states and message for this tick (see the module docstring)."""
        p = out.ac_power_kw
        dc_p = out.dc_power_kw
        dc_i = out.dc_current_a
        controls = self.controls
        if not self._energize:
            if p != 0.0:
                p = dc_p = dc_i = 0.0
        elif abs(p) > self._p_cap_kw + _EPS_KW:
            scale = self._p_cap_kw / abs(p)
            p = math.copysign(self._p_cap_kw, p)
            dc_p *= scale
            dc_i *= scale

        model_state = out.inverter_state
        if model_state == "starting" and p != 0.0:
            # A model that leaves idle along its own ramp (the fuel cell) reports starting while
            # it already exports; a reported starting means no output, so this is running.
            model_state = "running"
        delivering = self._energize and (
            model_state == "running"
            or model_state == "throttled"
            or (model_state == "standby" and model.asset_type in STORAGE_ASSETS)
        )
        q = 0.0
        clamp: ReactiveLimit | None = None
        if delivering:
            if controls.power_factor is not None:
                q_req = pf_reactive_kvar(p, controls.power_factor, controls.excitation)
            elif controls.reactive_power_setpoint_kvar is not None:
                q_req = controls.reactive_power_setpoint_kvar * self._q_scale
            else:
                q_req = out.reactive_power_kvar
            if q_req != 0.0:
                limited = limit_reactive(q_req, p, model.rating, controls.p_q_priority)
                q = limited.reactive_power_kvar
                if limited.reason is not None:
                    clamp = limited
        gs = self.grid
        grid_state: GridState | None = None
        if gs is not None and self._grid_active:
            grid_state = gs.state
            if self._energize:
                p_before = p
                p, q = gs.after_step(p, q, self._dt_s)
                if not delivering:
                    q = 0.0
                if p != p_before:
                    scale = p / p_before if p_before != 0.0 else 0.0
                    dc_p *= scale
                    dc_i *= scale
            else:
                p = dc_p = dc_i = q = 0.0
        if clamp is not None or self.reactive_clamp is not None:
            self._log_clamp(index, clamp)
        self.reactive_clamp = clamp
        self.last_active_power_kw = p

        op = self.operation.state
        service = self.service_state
        inverter: InverterStateName
        if op == "running":
            energized = service == "in_service" and (self._energize or not self._grid_active)
            inverter = model_state if energized else "standby"
        else:
            inverter = self.operation.inverter_state
        self.last_inverter_state = inverter
        return Delivered(
            p,
            q,
            dc_p,
            dc_i,
            inverter,
            service,
            "disconnected" if self.faults.disconnected or self.grid_tripped else "connected",
            self._message(out.message, clamp, service),
            grid_state,
        )

    def _message(
        self, model_message: str | None, clamp: ReactiveLimit | None, service: ServiceState
    ) -> str | None:
        """The status message (module docstring); ``service``: this tick's ``service_state``."""
        op = self.operation.state
        if op != "running" or service != "in_service":  # running in service: none of these
            if op in FAULT_STATES:
                return self.faults.message()
            if op == "off":
                return "stopped (send start to run)"
            if op == "starting":
                return "starting"
            if op == "shutting_down":
                return "shutting down"
            if self.service.state == "out_of_service":
                return "ceased to energize (send enter_service to resume)"
            if self.service.state == "entering_service":
                return "entering service"
        gs = self.grid
        if gs is not None and self._grid_active:
            if gs.tripped and gs.last_trip is not None:
                return (
                    f"tripped ({gs.last_trip.cause} at {gs.last_trip.time_s:.2f} s); "
                    "waiting to re-enter service"
                )
            if gs.state == "momentary_cessation":
                return "momentary cessation (grid voltage outside the ride-through range)"
            if gs.state == "entering_service":
                return "entering service (ramping up)"
        clamps = self.controls.clamps
        if not clamps and clamp is None:
            return model_message
        parts = [c.message for c in clamps.values()]
        if clamp is not None and clamp.message is not None:
            parts.append(clamp.message)
        return "; ".join(parts)

    def _log_clamp(self, index: int, clamp: ReactiveLimit | None) -> None:
        before = self.reactive_clamp
        was = before.reason if before is not None else None
        now = clamp.reason if clamp is not None else None
        if was == now:
            return
        if clamp is not None:
            log_ac.warning(
                "device %d: %s (requested %.2f kvar)", index, clamp.message, clamp.requested_kvar
            )
        else:
            log_ac.info("device %d: reactive power no longer clamped", index)
