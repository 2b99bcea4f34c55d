"""Fuel-cell system model: dispatch, ramp and dwell, stack operating point, hydrogen tank.

The stack and electrolysis curves, and the solver that turns a stack power into a current, are
in ``cells.py``; the four reference machines in ``stacks.py``. Signs: SunSpec 701
(``ac_power_kw`` > 0 injects in fuel-cell mode, < 0 absorbs in electrolysis); the stack current
is < 0 in electrolysis. Units kW, W, V, A, kg, g/s, s.

AC side (the inverter is lossy both ways; BoP = air blower / compressor, pumps, controls)::

    fuel cell:     P_ac = η_inv·(1 − f_bop)·P_stack                    (P_ac > 0, injecting)
    electrolysis:  P_stack = η_inv·(1 − f_bop)·|P_ac|                  (P_ac < 0, absorbing)

Q = 0: this model is dispatched on active power only; var support lives in the grid-support
functions, within the rating's 0.44 pu (IEEE 1547-2018 Category B) reactive capability.

One step runs five phases, each a pure function below: 1. the dispatch becomes a signed AC target
(``fuelcell_target``); 2. a full or empty tank refuses its direction (``tank_gate``); 3. the
commanded AC power moves toward the target under the ramp and the mode-change dwell
(``advance_command``); 4. the stack operating point for the command, and the hydrogen it draws
from or adds to the tank (``tank_draw``, ``tank_fill``); 5. the SunSpec inverter state
(``operating_state``).

Dispatch (``Dispatch.active_power_setpoint_kw``, SunSpec 701 signs): > 0 → fuel-cell mode;
< 0 → electrolysis (bidirectional only: an ``fc_only`` unit goes to 0 with a message); ``None`` or
|setpoint| below the minimum turndown → idle (``mode`` "idle", inverter state "standby").
``active_power_limit_pct`` (SunSpec 704 ``WMaxLimPct``) caps fuel-cell output; the cap, like every
change, is approached at the ramp rate. The commanded AC power moves at the ramp rate (same up
and down) and, to reverse direction, must first ramp to 0 and then dwell there for the
mode-change dwell time (assumed values, ``stacks.py``).

Hydrogen tank (kg, ``hydrogen_pct`` = 100·m/m_cap): drained by fuel-cell operation, refilled by
electrolysis. If the tank empties or fills part-way through a step, the step reports the
step-average power and current (so mass stays exactly consistent with ∫I·dt) and the unit stops;
later steps report 0 with "hydrogen tank empty" / "hydrogen tank full". The
(SOFC, fc_only, continuous) unit is fed from a natural-gas pipeline: it has no tank state, reports
``hydrogen_pct`` 100.0, ``hydrogen_kg`` None and ``fuel`` "continuous"; its
``hydrogen_flow_g_s`` is the electrochemical H₂ equivalent of the reformed gas.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

from dersim_trio.physics.base import (
    AcRating,
    AssetValue,
    DeviceOutput,
    Dispatch,
    Environment,
    InverterState,
)
from dersim_trio.physics.fuelcell.cells import (
    FARADAY_C_PER_MOL,
    H2_MOLAR_MASS_G_PER_MOL,
    HHV_THERMONEUTRAL_V,
    electrolysis_curve,
    fuel_cell_curve,
    peak_power_current_a,
    solve_current_a,
)
from dersim_trio.physics.fuelcell.stacks import FuelCellNameplate

MESSAGE_TANK_EMPTY: Final = "hydrogen tank empty"
MESSAGE_TANK_FULL: Final = "hydrogen tank full"
MESSAGE_FC_ONLY: Final = "fc_only unit cannot absorb power: no electrolysis branch"


def _finite_or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


# --- phase 1: the dispatch as a target ------------------------------------------------------


def fuelcell_target(
    setpoint_kw: float | None,
    limit_pct: float,
    rated_kw: float,
    floor_kw: float,
    bidirectional: bool,
) -> tuple[float, bool, str | None]:
    """Ramp target (signed AC kW), whether ``WMaxLimPct`` binds, and a refusal message.

    Below the minimum turndown ``floor_kw`` the target is 0 (idle); electrolysis is refused by an
    ``fc_only`` unit.
    """
    sp = setpoint_kw
    if sp is None or not math.isfinite(sp) or sp == 0.0:
        return 0.0, False, None
    if sp > 0.0:
        pct = min(max(_finite_or(limit_pct, 100.0), 0.0), 100.0)
        cap = rated_kw * pct / 100.0
        wanted = min(sp, rated_kw)
        target = min(wanted, cap)
        return (target if target >= floor_kw else 0.0), wanted > cap, None
    if not bidirectional:
        return 0.0, False, MESSAGE_FC_ONLY
    target = max(sp, -rated_kw)
    return (target if -target >= floor_kw else 0.0), False, None


# --- phase 2: the tank's say ----------------------------------------------------------------


def tank_gate(
    target_kw: float, command_kw: float, hydrogen_kg: float, tank_kg: float
) -> tuple[float, bool, str | None]:
    """(target, stop now, message): an empty tank refuses fuel-cell operation, a full one
    electrolysis; a unit still running in the refused direction stops at once."""
    if target_kw > 0.0 and hydrogen_kg <= 0.0:
        return 0.0, command_kw > 0.0, None
    if target_kw < 0.0 and hydrogen_kg >= tank_kg:
        return 0.0, command_kw < 0.0, MESSAGE_TANK_FULL
    return target_kw, False, None


# --- phase 3: ramp and dwell ----------------------------------------------------------------


class RampState(NamedTuple):
    """Where the commanded AC power stands (carried from step to step)."""

    command_kw: float = 0.0
    """Commanded (ramp-limited) AC power at the end of the last step, kW (signed)."""
    last_direction: int = 0
    """Sign of the last non-zero command: +1 FC, −1 electrolysis, 0 never run."""
    zero_time_s: float = 0.0
    """Time spent at zero command since the last non-zero operation, s."""
    starting: bool = False
    """The unit left zero and has not reached its target yet."""

    def stopped(self) -> RampState:
        """The unit stopped at once (tank empty or full): zero command, dwell restarts."""
        return RampState(0.0, self.last_direction, 0.0, False)


def advance_command(
    state: RampState, target_kw: float, dt_s: float, rate_kw_per_s: float, dwell_s: float
) -> RampState:
    """Move the command toward ``target_kw`` for ``dt_s`` under the ramp rate and the dwell.

    A reversal ramps to 0, waits ``dwell_s`` there, then ramps on; one long step may do all
    three. Staying at 0 accumulates ``zero_time_s``.
    """
    p, last, zero, starting = state
    rem = dt_s
    for _ in range(6):
        if p == 0.0:
            if target_kw == 0.0:
                return RampState(p, last, zero + rem, starting)
            direction = 1 if target_kw > 0.0 else -1
            if direction == -last and zero < dwell_s:
                wait = min(rem, dwell_s - zero)
                zero += wait
                rem -= wait
                if rem <= 0.0 or zero < dwell_s:
                    return RampState(p, last, zero, starting)
            goal = target_kw
        elif p > 0.0:
            goal = target_kw if target_kw > 0.0 else 0.0
        else:
            goal = target_kw if target_kw < 0.0 else 0.0
        if goal == p or rem <= 0.0:
            return RampState(p, last, zero, starting)
        if p == 0.0:
            starting = True
        need_s = abs(goal - p) / rate_kw_per_s
        if need_s <= rem:
            p = goal
            rem -= need_s
            if goal == 0.0:
                zero = 0.0
            else:
                return RampState(p, 1 if goal > 0.0 else -1, zero, starting)
        else:
            p_new = p + math.copysign(rate_kw_per_s * rem, goal - p)
            return RampState(p_new, 1 if p_new > 0.0 else -1, zero, starting)
    return RampState(p, last, zero, starting)


# --- phase 4: the tank over the step --------------------------------------------------------


class TankStep(NamedTuple):
    """The tank over one step of fuel-cell or electrolysis operation."""

    fraction: float
    """Share of the step the unit could run before the tank emptied or filled (1: all)."""
    hydrogen_kg: float
    """Hydrogen in the tank after the step, kg."""
    at_limit: bool
    """The tank emptied (fuel cell) or filled (electrolysis): the unit stops."""


def tank_draw(hydrogen_kg: float, need_kg: float) -> TankStep:
    """The tank after a fuel-cell step that needs ``need_kg`` of hydrogen."""
    if need_kg >= hydrogen_kg and need_kg > 0.0:
        return TankStep(hydrogen_kg / need_kg, 0.0, True)
    return TankStep(1.0, hydrogen_kg - need_kg, False)


def tank_fill(hydrogen_kg: float, tank_kg: float, make_kg: float) -> TankStep:
    """The tank after an electrolysis step that makes ``make_kg`` of hydrogen."""
    room_kg = tank_kg - hydrogen_kg
    if make_kg >= room_kg and make_kg > 0.0:
        return TankStep(max(room_kg, 0.0) / make_kg, tank_kg, True)
    return TankStep(1.0, hydrogen_kg + make_kg, False)


# --- phase 5: the inverter state ------------------------------------------------------------


def operating_state(
    mode: str,
    command_kw: float,
    ramp: RampState,
    target_kw: float,
    throttled: bool,
    dwell_s: float,
) -> tuple[InverterState, bool, str | None]:
    """(SunSpec ``InvSt``, still starting, dwell message) from where the command stands.

    ``command_kw`` is the command this step ran at; ``ramp`` the state after the step (its
    command is 0 when the tank stopped the unit mid-step).
    """
    if mode == "idle":
        message = None
        if (
            target_kw != 0.0
            and ramp.zero_time_s < dwell_s
            and (1 if target_kw > 0.0 else -1) == -ramp.last_direction
        ):
            message = f"mode change dwell: {math.ceil(dwell_s - ramp.zero_time_s)} s remaining"
        return "standby", ramp.starting, message
    if ramp.command_kw == 0.0:
        return "shutting_down", ramp.starting, None
    if command_kw == target_kw:
        return ("throttled" if throttled else "running"), False, None
    if target_kw == 0.0 or (target_kw > 0.0) != (command_kw > 0.0):
        return "shutting_down", False, None
    if abs(target_kw) < abs(command_kw):
        return "running", False, None
    return ("starting" if ramp.starting else "running"), ramp.starting, None


class FuelCellModel:
    """A fuel-cell system (DeviceModel, ``asset_type`` "fuelcell"): see the module docstring.

    ``asset`` keys: ``mode`` ("fc", "electrolysis", "idle"), ``stack_voltage_v``,
    ``stack_current_a`` (< 0 in electrolysis), ``hydrogen_pct``, ``chemistry``, ``fuel``
    ("tank"/"continuous"), ``fuelcell_mode`` ("fc_only"/"bidirectional"), ``hydrogen_kg``
    (None for continuous fuel), ``hydrogen_flow_g_s`` (+ consumption, − production),
    ``stack_efficiency_pct`` (HHV, FC; η_F·min(1, V_tn/V_el), EL; 0 when idle),
    ``cell_voltage_v``. ``seed`` is accepted for a uniform constructor; the model has no random
    process.
    """

    asset_type: str = "fuelcell"
    dc_mode: str = "fuelcell"
    dc_port_count: int = 1

    def __init__(self, nameplate: FuelCellNameplate, seed: int = 0) -> None:
        """Check the nameplate and precompute the stack's peak and the curves."""
        np_ = nameplate
        if np_.rated_power_kw <= 0.0 or np_.cell_count <= 0:
            raise ValueError("fuel cell rated_power_kw and cell_count must be positive")
        if not 0.0 < np_.inverter_efficiency <= 1.0 or not 0.0 <= np_.bop_fraction < 1.0:
            raise ValueError("fuel cell inverter_efficiency must be in (0, 1], bop in [0, 1)")
        if np_.ramp_rate_pct_per_s <= 0.0 or np_.mode_change_dwell_s < 0.0:
            raise ValueError("fuel cell ramp rate must be positive and dwell non-negative")
        self.bidirectional = np_.mode == "bidirectional"
        if self.bidirectional and np_.el_cell is None:
            raise ValueError("a bidirectional fuel cell needs an electrolysis cell (el_cell)")
        self.has_tank = np_.fuel == "tank"
        if self.bidirectional and not self.has_tank:
            raise ValueError("a bidirectional fuel cell needs a hydrogen tank (fuel 'tank')")
        if self.has_tank and np_.tank_capacity_kg <= 0.0:
            raise ValueError("fuel cell tank_capacity_kg must be positive for fuel 'tank'")

        self.nameplate = np_
        rated = np_.rated_power_kw
        self.rating = AcRating(
            w_max_kw=rated,
            va_max_kva=rated,
            var_max_inj_kvar=np_.var_rating_pu * rated,
            var_max_abs_kvar=np_.var_rating_pu * rated,
            w_charge_max_kw=rated if self.bidirectional else 0.0,
            w_min_run_kw=np_.min_turndown_pct / 100.0 * rated,
        )
        self._rated_kw = rated
        self._n = float(np_.cell_count)
        self._conv = np_.inverter_efficiency * (1.0 - np_.bop_fraction)
        self._floor_kw = np_.min_turndown_pct / 100.0 * rated
        self._ramp_kw_per_s = np_.ramp_rate_pct_per_s / 100.0 * rated
        self._dwell_s = np_.mode_change_dwell_s
        self._mol_per_a_s = self._n / (2.0 * FARADAY_C_PER_MOL)
        self._g_per_a_s = self._mol_per_a_s * H2_MOLAR_MASS_G_PER_MOL

        fc = np_.fc_cell
        self._fc_curve = fuel_cell_curve(fc)
        self._i_peak_a = peak_power_current_a(
            self._fc_curve, self._n, (fc.limiting_current_a - fc.internal_current_a) * (1 - 1e-9)
        )
        self._p_peak_w = self._n * self._fc_curve(self._i_peak_a)[0] * self._i_peak_a
        self._ocv_stack_v = self._n * fc.cell_voltage_v(0.0)
        if rated * 1000.0 / self._conv > self._p_peak_w:
            raise ValueError(
                f"fuel cell stack peak {self._p_peak_w / 1000.0:.1f} kW cannot carry the "
                f"{rated} kW rating"
            )

        el = np_.el_cell
        if el is not None:
            self._el_curve = electrolysis_curve(el)
            self._el_eta_f = el.faradaic_efficiency
            self._el_vtn = el.thermoneutral_voltage_v
            i_max = 1.0
            target_w = 1.5 * rated * 1000.0 * self._conv
            while self._n * self._el_curve(i_max)[0] * i_max < target_w and i_max < 1e9:
                i_max *= 2.0
            self._el_i_max_a = i_max

        self._tank_kg = np_.tank_capacity_kg
        pct = min(max(_finite_or(np_.initial_hydrogen_pct, 100.0), 0.0), 100.0)
        self._h2_kg = self._tank_kg * pct / 100.0 if self.has_tank else 0.0

        self._ramp = RampState()
        self._fc_cache_p_w = -1.0
        self._fc_cache_i_a = 0.0
        self._el_cache_p_w = -1.0
        self._el_cache_i_a = 0.0

    # --- stack currents -------------------------------------------------------------------

    def fc_current_for_power_a(self, stack_power_w: float, guess_a: float = 0.0) -> float:
        """Stack current (A) on the branch below peak power that delivers ``stack_power_w``.

        Safeguarded Newton (bisection fallback, ≤ 40 iterations); clamps to [0, I_peak].
        """
        if stack_power_w <= 0.0:
            return 0.0
        if stack_power_w >= self._p_peak_w:
            return self._i_peak_a
        return solve_current_a(
            self._fc_curve,
            self._n,
            stack_power_w,
            self._i_peak_a,
            guess_a,
            1e-9 * self._p_peak_w,
        )

    def el_current_for_power_a(self, stack_power_w: float, guess_a: float = 0.0) -> float:
        """Electrolysis current magnitude (A) drawing ``stack_power_w`` (bidirectional only)."""
        if stack_power_w <= 0.0 or self.nameplate.el_cell is None:
            return 0.0
        tol_w = 1e-9 * self._rated_kw * 1000.0
        return solve_current_a(
            self._el_curve, self._n, stack_power_w, self._el_i_max_a, guess_a, tol_w
        )

    @property
    def peak_stack_power_kw(self) -> float:
        """Maximum stack power of the fuel-cell curve, kW."""
        return self._p_peak_w / 1000.0

    @property
    def peak_current_a(self) -> float:
        """Stack current at peak power (upper end of the usable branch), A."""
        return self._i_peak_a

    @property
    def hydrogen_kg(self) -> float:
        """Hydrogen in the tank, kg (0 for continuous fuel)."""
        return self._h2_kg

    # --- step -----------------------------------------------------------------------------

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance by ``dt_s`` seconds toward the dispatch setpoint; see the module docstring."""
        dt = dt_s if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        target, throttled, message = fuelcell_target(
            dispatch.active_power_setpoint_kw,
            dispatch.active_power_limit_pct,
            self._rated_kw,
            self._floor_kw,
            self.bidirectional,
        )
        has_tank = self.has_tank
        if has_tank:
            target, stop, tank_message = tank_gate(
                target, self._ramp.command_kw, self._h2_kg, self._tank_kg
            )
            message = tank_message or message
            if stop:
                self._ramp = self._ramp.stopped()
        self._ramp = advance_command(self._ramp, target, dt, self._ramp_kw_per_s, self._dwell_s)
        p_kw = self._ramp.command_kw
        n = self._n

        if p_kw > 0.0:
            mode = "fc"
            i_a = self._fc_cache_i_a
            stack_w = p_kw * 1000.0 / self._conv
            if stack_w != self._fc_cache_p_w:
                i_a = self.fc_current_for_power_a(stack_w, i_a)
                self._fc_cache_p_w = stack_w
                self._fc_cache_i_a = i_a
            v_cell = self._fc_curve(i_a)[0] if i_a > 0.0 else self._ocv_stack_v / n
            efficiency_pct = 100.0 * v_cell / HHV_THERMONEUTRAL_V
            flow_g_s = self._g_per_a_s * i_a
            ac_kw = p_kw
            if has_tank:
                frac, self._h2_kg, empty = tank_draw(self._h2_kg, flow_g_s * dt / 1000.0)
                if empty:
                    i_a *= frac
                    flow_g_s *= frac
                    ac_kw *= frac
                    self._ramp = self._ramp.stopped()
                    message = MESSAGE_TANK_EMPTY
            stack_v = n * v_cell
            dc_current_a = i_a
        elif p_kw < 0.0:
            mode = "electrolysis"
            i_a = self._el_cache_i_a
            stack_w = -p_kw * 1000.0 * self._conv
            if stack_w != self._el_cache_p_w:
                i_a = self.el_current_for_power_a(stack_w, i_a)
                self._el_cache_p_w = stack_w
                self._el_cache_i_a = i_a
            v_cell = self._el_curve(i_a)[0]
            efficiency_pct = 100.0 * self._el_eta_f * min(1.0, self._el_vtn / v_cell)
            flow_g_s = -self._el_eta_f * self._g_per_a_s * i_a
            ac_kw = p_kw
            frac, self._h2_kg, full = tank_fill(self._h2_kg, self._tank_kg, -flow_g_s * dt / 1000.0)
            if full:
                i_a *= frac
                flow_g_s *= frac
                ac_kw *= frac
                self._ramp = self._ramp.stopped()
                message = MESSAGE_TANK_FULL
            stack_v = n * v_cell
            dc_current_a = -i_a
        else:
            mode = "idle"
            v_cell = 0.0 if has_tank and self._h2_kg <= 0.0 else self._ocv_stack_v / n
            stack_v = n * v_cell
            dc_current_a = 0.0
            flow_g_s = 0.0
            efficiency_pct = 0.0
            ac_kw = 0.0

        if self._h2_kg < 0.0:
            self._h2_kg = 0.0
        if has_tank and self._h2_kg <= 0.0 and message is None:
            message = MESSAGE_TANK_EMPTY

        state, starting, dwell_message = operating_state(
            mode, p_kw, self._ramp, target, throttled, self._dwell_s
        )
        if starting != self._ramp.starting:
            self._ramp = self._ramp._replace(starting=starting)
        if message is None:
            message = dwell_message
        return self._report(
            mode, ac_kw, stack_v, dc_current_a, v_cell, flow_g_s, efficiency_pct, state, message
        )

    def _report(
        self,
        mode: str,
        ac_kw: float,
        stack_v: float,
        dc_current_a: float,
        v_cell: float,
        flow_g_s: float,
        efficiency_pct: float,
        state: InverterState,
        message: str | None,
    ) -> DeviceOutput:
        if self.has_tank:
            hydrogen_pct = 100.0 * self._h2_kg / self._tank_kg
            hydrogen_kg: float | None = self._h2_kg
        else:
            hydrogen_pct = 100.0
            hydrogen_kg = None
        asset: dict[str, AssetValue] = {
            "mode": mode,
            "stack_voltage_v": stack_v,
            "stack_current_a": dc_current_a,
            "hydrogen_pct": hydrogen_pct,
            "chemistry": self.nameplate.chemistry,
            "fuel": self.nameplate.fuel,
            "fuelcell_mode": self.nameplate.mode,
            "hydrogen_kg": hydrogen_kg,
            "hydrogen_flow_g_s": flow_g_s,
            "stack_efficiency_pct": efficiency_pct,
            "cell_voltage_v": v_cell,
        }
        return DeviceOutput(
            ac_power_kw=ac_kw,
            reactive_power_kvar=0.0,
            dc_power_kw=stack_v * dc_current_a / 1000.0,
            dc_voltage_v=stack_v,
            dc_current_a=dc_current_a,
            inverter_state=state,
            asset=asset,
            message=message,
        )
