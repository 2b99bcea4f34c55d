"""Fuel cell: Larminie–Dicks stack, hydrogen tank, electrolysis branch, ramp and dwell limits.

Polarisation (fuel-cell direction; physics reference B.4, PyPI ``opem``,
``opem/Static/Larminie_Dicks.py`` ``Vcell_Calc``)::

    V_cell(I) = E0 − A·ln((I + i_n)/i_0) − R_M·(I + i_n) + B·ln(1 − (I + i_n)/i_L),
    B = R·T/(2F)                                                    [V, A, Ω, K]

Tafel activation loss (slope A, exchange current i_0), ohmic loss (R_M), mass-transport loss
(limiting current i_L) and the internal / crossover current i_n. With OPEM's standard vector
(E0 1.178 V, A 0.06 V, R_M 0.0018 Ω, i_0 0.00654 A, i_n 0.23 A, i_L 100 A, T 328 K) the cell gives
0.86 V at 1 A, 0.72 V at 10 A, 0.61 V at 30 A, 0.54 V at 50 A and 0.45 V at 80 A.

Stack (N cells in series carrying the stack current I)::

    V_stack = N·V_cell(I);  P_stack = V_stack·I                     [V, W]
    H₂ consumed = N·I/(2F) mol/s (Faraday; purge losses neglected)
    stack efficiency (HHV) = V_cell / 1.48 V

Only the branch 0 ≤ I ≤ I_peak (the current of maximum stack power) is used; a requested stack
power is turned into a current by safeguarded Newton iteration on that monotone branch (bracketed
by bisection, at most 40 iterations, warm-started from the previous current).

Electrolysis (reversible units only; same N cells, current reversed)::

    V_el(I) = E_rev + A_el·asinh(I/(2·i_0,el)) + R_el·I              (Butler–Volmer, α = ½)
    H₂ produced = η_F·N·I/(2F) mol/s
    electrolysis efficiency = η_F·min(1, V_tn/V_el)

V_tn is the thermoneutral voltage (1.48 V for liquid-water PEM electrolysis; 1.29 V for steam
electrolysis at 750 °C). Below V_tn the cell absorbs heat, which is not counted, hence the cap.
P_el(I) = N·V_el·I is strictly increasing, so the same bracketed Newton solve applies.

AC side (the inverter is lossy both ways; BoP = air blower / compressor, pumps, controls)::

    fuel cell:     P_ac = η_inv·(1 − f_bop)·P_stack                    (P_ac > 0, injecting)
    electrolysis:  P_stack = η_inv·(1 − f_bop)·|P_ac|                  (P_ac < 0, absorbing)

Q = 0: this model is dispatched on active power only; var support lives in the grid-support
functions, within the rating's 0.44 pu (IEEE 1547-2018 Category B) reactive capability.

Dispatch (``Dispatch.active_power_setpoint_kw``, SunSpec 701 signs): > 0 → fuel-cell mode;
< 0 → electrolysis (bidirectional only: an ``fc_only`` unit goes to 0 with a message); ``None`` or
|setpoint| below the minimum turndown → idle (``mode`` "idle", inverter state "standby").
``active_power_limit_pct`` (SunSpec 704 ``WMaxLimPct``) caps fuel-cell output; the cap, like every
change, is approached at the ramp rate. The commanded AC power moves at the ramp rate (same up
and down) and, to reverse direction, must first ramp to 0 and then dwell there for the
mode-change dwell time. ASSUMED defaults (physics reference B.4: no authoritative number
found): PEM 10 %/s of rating (air-supply BoP limited), SOFC 1 %/min (thermal limits); dwell
30 s PEM, 300 s SOFC; minimum turndown 5 % PEM, 10 % SOFC.

Hydrogen tank (kg, ``hydrogen_pct`` = 100·m/m_cap): drained by fuel-cell operation, refilled by
electrolysis. If the tank empties or fills part-way through a step, the step reports the
step-average power and current (so mass stays exactly consistent with ∫I·dt) and the unit stops;
later steps report 0 with "hydrogen tank empty" / "hydrogen tank full". The
(SOFC, fc_only, continuous) unit is fed from a natural-gas pipeline: it has no tank state, reports
``hydrogen_pct`` 100.0, ``hydrogen_kg`` None and ``fuel`` "continuous"; its
``hydrogen_flow_g_s`` is the electrochemical H₂ equivalent of the reformed gas.

Reference machines (documented behaviour §4.4; the coefficients are our engineering choices):

* PEMFC 5 kW (Ballard FCgen-LCS class): 80 cells; OPEM's standard cell scaled to 5× its active
  area (i_0, i_n, i_L ×5, R_M ÷5) at 328 K. Rated 5 kW AC needs 5.66 kW stack power
  (η_inv 0.96, BoP 8 %): ≈ 109 A at 0.647 V/cell, 51.8 V stack (OCV 77 V); peak 14.8 kW.
  Tank 2.0 kg H₂ (≈ 6 h at rated, 0.091 g/s). Electrolysis branch (unitised regenerative cell):
  E_rev 1.20 V (1.229 V at 25 °C, −0.85 mV/K), A_el 0.06 V, i_0,el 0.009 A, R_el = R_M, η_F 0.99;
  absorbing 5 kW: ≈ 32 A at 1.70 V/cell (136 V), 86 % of HHV, 0.027 g/s H₂.
* SOFC 200 kW: 600 cells in series, each position 14 parallel 10×10 cm cells (1400 cm²), at
  1023 K. Per 100 cm²: E0 1.01 V, A 0.02 V, i_0 0.1 A, i_n 0.2 A, i_L 100 A (1 A/cm²),
  R_M 5 mΩ (ASR 0.5 Ω·cm²). Rated 200 kW AC needs 217 kW stack power (η_inv 0.97, BoP 5 %):
  ≈ 533 A at 0.678 V/cell, 407 V stack (OCV 597 V); peak 279 kW. Tank 100 kg (≈ 8 h at rated).
  Electrolysis (SOEC): E_rev 0.90 V (Nernst at 1023 K, 90/10 H₂O/H₂ feed), A_el 0.02 V,
  i_0,el 1.4 A, R_el = R_M, η_F 0.98, V_tn 1.29 V; absorbing 200 kW: ≈ 278 A at 1.105 V/cell
  (663 V, below V_tn: endothermic), 1.71 g/s H₂.

Constants: F = 96 485.332 12 C/mol, R = 8.314 462 618 J/(mol·K), M(H₂) = 2.015 88 g/mol (CODATA).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Literal

from dersim_trio.physics.ac import AcType
from dersim_trio.physics.base import (
    AcRating,
    AssetValue,
    DeviceOutput,
    Dispatch,
    Environment,
    InverterState,
)

FARADAY_C_PER_MOL: Final = 96485.33212
GAS_CONSTANT_J_PER_MOL_K: Final = 8.314462618
H2_MOLAR_MASS_G_PER_MOL: Final = 2.01588
HHV_THERMONEUTRAL_V: Final = 1.48
"""Higher-heating-value voltage of H₂ (thermoneutral voltage of liquid-water electrolysis)."""

Chemistry = Literal["PEMFC", "SOFC"]
FuelCellMode = Literal["fc_only", "bidirectional"]
FuelSupply = Literal["tank", "continuous"]

SUPPORTED_COMBINATIONS: Final[tuple[tuple[str, str, str], ...]] = (
    ("PEMFC", "fc_only", "tank"),
    ("PEMFC", "bidirectional", "tank"),
    ("SOFC", "bidirectional", "tank"),
    ("SOFC", "fc_only", "continuous"),
)
"""The (chemistry, mode, fuel) tuples the simulator supports (documented behaviour §4.4)."""

MESSAGE_TANK_EMPTY: Final = "hydrogen tank empty"
MESSAGE_TANK_FULL: Final = "hydrogen tank full"
MESSAGE_FC_ONLY: Final = "fc_only unit cannot absorb power: no electrolysis branch"

_SOLVER_MAX_ITERATIONS: Final = 40


@dataclass(frozen=True, slots=True)
class LarminieDicksCell:
    """Larminie–Dicks cell coefficients (see the module docstring), currents for the whole cell."""

    e0_v: float
    """Open-circuit reference voltage E0, V."""
    tafel_slope_v: float
    """Tafel slope A, V."""
    ohmic_resistance_ohm: float
    """Membrane and contact resistance R_M, Ω."""
    exchange_current_a: float
    """Exchange current i_0, A."""
    internal_current_a: float
    """Internal / crossover current i_n, A."""
    limiting_current_a: float
    """Limiting current i_L, A."""
    temperature_k: float
    """Stack temperature T, K (sets B = RT/(2F))."""

    @property
    def mass_transport_b_v(self) -> float:
        """Mass-transport coefficient B = R·T/(2F), V."""
        return GAS_CONSTANT_J_PER_MOL_K * self.temperature_k / (2.0 * FARADAY_C_PER_MOL)

    @property
    def max_current_a(self) -> float:
        """Largest current inside the curve's domain (just below i_L − i_n), A."""
        return (self.limiting_current_a - self.internal_current_a) * (1.0 - 1e-9)

    def cell_voltage_v(self, current_a: float) -> float:
        """Cell voltage at ``current_a`` (clamped to [0, i_L − i_n)), V."""
        i = min(max(current_a, 0.0), self.max_current_a)
        x = i + self.internal_current_a
        return (
            self.e0_v
            - self.tafel_slope_v * math.log(x / self.exchange_current_a)
            - self.ohmic_resistance_ohm * x
            + self.mass_transport_b_v * math.log(1.0 - x / self.limiting_current_a)
        )

    def scaled(self, area_factor: float) -> LarminieDicksCell:
        """The same cell with ``area_factor`` times the active area (currents ×k, R_M ÷k)."""
        return replace(
            self,
            ohmic_resistance_ohm=self.ohmic_resistance_ohm / area_factor,
            exchange_current_a=self.exchange_current_a * area_factor,
            internal_current_a=self.internal_current_a * area_factor,
            limiting_current_a=self.limiting_current_a * area_factor,
        )


OPEM_STANDARD_CELL: Final = LarminieDicksCell(
    e0_v=1.178,
    tafel_slope_v=0.06,
    ohmic_resistance_ohm=0.0018,
    exchange_current_a=0.00654,
    internal_current_a=0.23,
    limiting_current_a=100.0,
    temperature_k=328.0,
)
"""OPEM's Larminie–Dicks standard test vector (physics reference B.4; 23 cells in OPEM)."""

SOFC_CELL_100CM2: Final = LarminieDicksCell(
    e0_v=1.01,
    tafel_slope_v=0.02,
    ohmic_resistance_ohm=0.005,
    exchange_current_a=0.1,
    internal_current_a=0.2,
    limiting_current_a=100.0,
    temperature_k=1023.0,
)
"""Our SOFC cell (10×10 cm, 750 °C; assumption documented in the module docstring)."""

PEMFC_CELL: Final = OPEM_STANDARD_CELL.scaled(5.0)
"""The 5 kW PEMFC's cell: OPEM's standard cell at 5× its active area (module docstring)."""


@dataclass(frozen=True, slots=True)
class ElectrolysisCell:
    """Electrolysis-direction cell: V_el = E_rev + A·asinh(I/(2·i_0)) + R·I (module docstring)."""

    reversible_voltage_v: float
    tafel_slope_v: float
    exchange_current_a: float
    ohmic_resistance_ohm: float
    faradaic_efficiency: float
    """η_F: fraction of the charge that makes H₂ (0 < η_F ≤ 1)."""
    thermoneutral_voltage_v: float

    def cell_voltage_v(self, current_a: float) -> float:
        """Cell voltage at electrolysis current ``current_a`` ≥ 0 (magnitude), V."""
        i = max(current_a, 0.0)
        return (
            self.reversible_voltage_v
            + self.tafel_slope_v * math.asinh(i / (2.0 * self.exchange_current_a))
            + self.ohmic_resistance_ohm * i
        )


@dataclass(frozen=True, slots=True)
class FuelCellNameplate:
    """A fuel-cell system: stack, electrolysis branch, tank, converter and dynamics.

    Build the four supported products with :func:`fuelcell_nameplate`; the defaults here are
    those of the PEMFC 5 kW fc_only unit.
    """

    name: str = "PEMFC-FC-only 5 kW"
    chemistry: Chemistry = "PEMFC"
    mode: FuelCellMode = "fc_only"
    fuel: FuelSupply = "tank"
    rated_power_kw: float = 5.0
    """AC rating (702 ``WMaxRtg``), both directions for reversible units, kW."""
    cell_count: int = 80
    fc_cell: LarminieDicksCell = PEMFC_CELL
    el_cell: ElectrolysisCell | None = None
    """Electrolysis branch; required when ``mode`` is "bidirectional"."""
    inverter_efficiency: float = 0.96
    bop_fraction: float = 0.08
    """Balance-of-plant share of the stack power (FC) or of the converter output (EL)."""
    min_turndown_pct: float = 5.0
    """|setpoint| below this percentage of the rating means idle (assumption)."""
    ramp_rate_pct_per_s: float = 10.0
    """Ramp rate of the AC power, % of rating per second, up and down (assumption)."""
    mode_change_dwell_s: float = 30.0
    """Time at zero power before reversing between FC and electrolysis (assumption)."""
    tank_capacity_kg: float = 2.0
    initial_hydrogen_pct: float = 100.0
    ac_type: AcType = "three"
    var_rating_pu: float = 0.44
    """Reactive capability (702 ``VarMaxInjRtg``/``VarMaxAbsRtg``) per unit of the rating."""


_PEM_EL_CELL: Final = ElectrolysisCell(
    reversible_voltage_v=1.20,
    tafel_slope_v=0.06,
    exchange_current_a=0.009,
    ohmic_resistance_ohm=PEMFC_CELL.ohmic_resistance_ohm,
    faradaic_efficiency=0.99,
    thermoneutral_voltage_v=HHV_THERMONEUTRAL_V,
)
_SOFC_FC_CELL: Final = SOFC_CELL_100CM2.scaled(14.0)
_SOEC_CELL: Final = ElectrolysisCell(
    reversible_voltage_v=0.90,
    tafel_slope_v=0.02,
    exchange_current_a=1.4,
    ohmic_resistance_ohm=_SOFC_FC_CELL.ohmic_resistance_ohm,
    faradaic_efficiency=0.98,
    thermoneutral_voltage_v=1.29,
)
_SOFC_BASE: Final = FuelCellNameplate(
    chemistry="SOFC",
    rated_power_kw=200.0,
    cell_count=600,
    fc_cell=_SOFC_FC_CELL,
    inverter_efficiency=0.97,
    bop_fraction=0.05,
    min_turndown_pct=10.0,
    ramp_rate_pct_per_s=1.0 / 60.0,
    mode_change_dwell_s=300.0,
    tank_capacity_kg=100.0,
)

_NAMEPLATES: Final[dict[tuple[str, str, str], FuelCellNameplate]] = {
    ("PEMFC", "fc_only", "tank"): FuelCellNameplate(fc_cell=PEMFC_CELL),
    ("PEMFC", "bidirectional", "tank"): FuelCellNameplate(
        name="PEMFC-reversible 5 kW",
        mode="bidirectional",
        fc_cell=PEMFC_CELL,
        el_cell=_PEM_EL_CELL,
        initial_hydrogen_pct=50.0,
    ),
    ("SOFC", "bidirectional", "tank"): replace(
        _SOFC_BASE,
        name="SOFC-reversible 200 kW",
        mode="bidirectional",
        el_cell=_SOEC_CELL,
        initial_hydrogen_pct=50.0,
    ),
    ("SOFC", "fc_only", "continuous"): replace(
        _SOFC_BASE, name="SOFC-200kW-pipeline", fuel="continuous", tank_capacity_kg=0.0
    ),
}


def fuelcell_nameplate(chemistry: str, mode: str, fuel: str) -> FuelCellNameplate:
    """The nameplate of a supported (chemistry, mode, fuel) combination.

    Raises ``ValueError`` listing the four supported combinations for anything else.
    """
    try:
        return _NAMEPLATES[(chemistry, mode, fuel)]
    except KeyError:
        allowed = "; ".join(
            f"--fuelcell_chemistry {c} --fuelcell_mode {m} --fuelcell_fuel {f}"
            for c, m, f in SUPPORTED_COMBINATIONS
        )
        raise ValueError(
            f"unsupported fuel cell combination (chemistry={chemistry}, mode={mode}, "
            f"fuel={fuel}); supported: {allowed}"
        ) from None


def _finite_or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


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
        self._rng = random.Random(seed)
        rated = np_.rated_power_kw
        self.rating = AcRating(
            w_max_kw=rated,
            va_max_kva=rated,
            var_max_inj_kvar=np_.var_rating_pu * rated,
            var_max_abs_kvar=np_.var_rating_pu * rated,
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
        self._e0 = fc.e0_v
        self._a = fc.tafel_slope_v
        self._rm = fc.ohmic_resistance_ohm
        self._i0 = fc.exchange_current_a
        self._in = fc.internal_current_a
        self._il = fc.limiting_current_a
        self._b = fc.mass_transport_b_v
        self._i_peak_a = self._find_peak_current()
        self._p_peak_w = self._fc_stack_power_w(self._i_peak_a)
        self._ocv_stack_v = self._n * fc.cell_voltage_v(0.0)
        if rated * 1000.0 / self._conv > self._p_peak_w:
            raise ValueError(
                f"fuel cell stack peak {self._p_peak_w / 1000.0:.1f} kW cannot carry the "
                f"{rated} kW rating"
            )

        el = np_.el_cell
        if el is not None:
            self._el_e = el.reversible_voltage_v
            self._el_a = el.tafel_slope_v
            self._el_2i0 = 2.0 * el.exchange_current_a
            self._el_r = el.ohmic_resistance_ohm
            self._el_eta_f = el.faradaic_efficiency
            self._el_vtn = el.thermoneutral_voltage_v
            i_max = 1.0
            target_w = 1.5 * rated * 1000.0 * self._conv
            while self._el_stack_power_w(i_max) < target_w and i_max < 1e9:
                i_max *= 2.0
            self._el_i_max_a = i_max

        self._tank_kg = np_.tank_capacity_kg
        pct = min(max(_finite_or(np_.initial_hydrogen_pct, 100.0), 0.0), 100.0)
        self._h2_kg = self._tank_kg * pct / 100.0 if self.has_tank else 0.0

        self._p_cmd_kw = 0.0
        """Commanded (ramp-limited) AC power at the end of the last step, kW (signed)."""
        self._last_direction = 0
        """Sign of the last non-zero command: +1 FC, −1 electrolysis, 0 never run."""
        self._zero_time_s = 0.0
        """Time spent at zero command since the last non-zero operation."""
        self._starting = False
        self._fc_cache_p_w = -1.0
        self._fc_cache_i_a = 0.0
        self._el_cache_p_w = -1.0
        self._el_cache_i_a = 0.0

    # --- stack curves -------------------------------------------------------------------

    def _fc_cell_v_dv(self, i: float) -> tuple[float, float]:
        x = i + self._in
        il_minus_x = self._il - x
        v = (
            self._e0
            - self._a * math.log(x / self._i0)
            - self._rm * x
            + self._b * math.log(il_minus_x / self._il)
        )
        return v, -self._a / x - self._rm - self._b / il_minus_x

    def _fc_stack_power_w(self, i: float) -> float:
        return self._n * self._fc_cell_v_dv(i)[0] * i

    def _find_peak_current(self) -> float:
        """Golden-section search of the (unimodal) stack power on [0, i_L − i_n)."""
        lo = 0.0
        hi = (self._il - self._in) * (1.0 - 1e-9)
        g = (math.sqrt(5.0) - 1.0) / 2.0
        c = hi - g * (hi - lo)
        d = lo + g * (hi - lo)
        pc = self._fc_stack_power_w(c)
        pd = self._fc_stack_power_w(d)
        for _ in range(200):
            if pc > pd:
                hi, d, pd = d, c, pc
                c = hi - g * (hi - lo)
                pc = self._fc_stack_power_w(c)
            else:
                lo, c, pc = c, d, pd
                d = lo + g * (hi - lo)
                pd = self._fc_stack_power_w(d)
        return 0.5 * (lo + hi)

    def _el_cell_v_dv(self, i: float) -> tuple[float, float]:
        c = self._el_2i0
        v = self._el_e + self._el_a * math.asinh(i / c) + self._el_r * i
        return v, self._el_a / math.sqrt(c * c + i * i) + self._el_r

    def _el_stack_power_w(self, i: float) -> float:
        return self._n * self._el_cell_v_dv(i)[0] * i

    def fc_current_for_power_a(self, stack_power_w: float, guess_a: float = 0.0) -> float:
        """Stack current (A) on the branch below peak power that delivers ``stack_power_w``.

        Safeguarded Newton (bisection fallback, ≤ 40 iterations); clamps to [0, I_peak].
        """
        if stack_power_w <= 0.0:
            return 0.0
        if stack_power_w >= self._p_peak_w:
            return self._i_peak_a
        return self._solve_current(
            self._fc_cell_v_dv, stack_power_w, self._i_peak_a, guess_a, 1e-9 * self._p_peak_w
        )

    def el_current_for_power_a(self, stack_power_w: float, guess_a: float = 0.0) -> float:
        """Electrolysis current magnitude (A) drawing ``stack_power_w`` (bidirectional only)."""
        if stack_power_w <= 0.0 or self.nameplate.el_cell is None:
            return 0.0
        tol_w = 1e-9 * self._rated_kw * 1000.0
        return self._solve_current(
            self._el_cell_v_dv, stack_power_w, self._el_i_max_a, guess_a, tol_w
        )

    def _solve_current(
        self,
        cell_v_dv: Callable[[float], tuple[float, float]],
        stack_power_w: float,
        i_max_a: float,
        guess_a: float,
        tol_w: float,
    ) -> float:
        """Current in [0, ``i_max_a``] where N·V(i)·i = ``stack_power_w``.

        Safeguarded Newton on the monotone branch (a bisection step whenever Newton leaves the
        bracket or the slope is not positive), at most ``_SOLVER_MAX_ITERATIONS`` iterations.
        """
        lo, hi = 0.0, i_max_a
        i = min(max(guess_a, 0.0), hi)
        n = self._n
        for _ in range(_SOLVER_MAX_ITERATIONS):
            v, dv = cell_v_dv(i)
            f = n * v * i - stack_power_w
            if abs(f) <= tol_w:
                break
            if f < 0.0:
                lo = i
            else:
                hi = i
            df = n * (v + i * dv)
            nxt = i - f / df if df > 0.0 else lo
            i = nxt if lo < nxt < hi else 0.5 * (lo + hi)
        return i

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

    # --- dispatch -----------------------------------------------------------------------

    def _target_kw(self, dispatch: Dispatch) -> tuple[float, bool, str | None]:
        """Ramp target (signed AC kW), whether the limit binds, and a refusal message."""
        sp = dispatch.active_power_setpoint_kw
        if sp is None or not math.isfinite(sp) or sp == 0.0:
            return 0.0, False, None
        rated = self._rated_kw
        if sp > 0.0:
            limit_pct = min(max(_finite_or(dispatch.active_power_limit_pct, 100.0), 0.0), 100.0)
            cap = rated * limit_pct / 100.0
            wanted = min(sp, rated)
            target = min(wanted, cap)
            throttled = wanted > cap
            return (target if target >= self._floor_kw else 0.0), throttled, None
        if not self.bidirectional:
            return 0.0, False, MESSAGE_FC_ONLY
        target = max(sp, -rated)
        return (target if -target >= self._floor_kw else 0.0), False, None

    def _advance(self, target_kw: float, dt_s: float) -> None:
        """Move the command toward ``target_kw`` for ``dt_s`` under the ramp and the dwell."""
        rem = dt_s
        rate = self._ramp_kw_per_s
        for _ in range(6):
            p = self._p_cmd_kw
            if p == 0.0:
                if target_kw == 0.0:
                    self._zero_time_s += rem
                    return
                direction = 1 if target_kw > 0.0 else -1
                if direction == -self._last_direction and self._zero_time_s < self._dwell_s:
                    wait = min(rem, self._dwell_s - self._zero_time_s)
                    self._zero_time_s += wait
                    rem -= wait
                    if rem <= 0.0 or self._zero_time_s < self._dwell_s:
                        return
                goal = target_kw
            elif p > 0.0:
                goal = target_kw if target_kw > 0.0 else 0.0
            else:
                goal = target_kw if target_kw < 0.0 else 0.0
            if goal == p or rem <= 0.0:
                return
            if p == 0.0:
                self._starting = True
            need_s = abs(goal - p) / rate
            if need_s <= rem:
                self._p_cmd_kw = goal
                rem -= need_s
                if goal == 0.0:
                    self._zero_time_s = 0.0
                else:
                    self._last_direction = 1 if goal > 0.0 else -1
                    return
            else:
                p_new = p + math.copysign(rate * rem, goal - p)
                self._p_cmd_kw = p_new
                self._last_direction = 1 if p_new > 0.0 else -1
                return

    def _stop(self) -> None:
        self._p_cmd_kw = 0.0
        self._zero_time_s = 0.0
        self._starting = False

    # --- step ---------------------------------------------------------------------------

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance by ``dt_s`` seconds toward the dispatch setpoint; see the module docstring."""
        dt = dt_s if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        target, throttled, message = self._target_kw(dispatch)
        has_tank = self.has_tank
        if has_tank:
            if target > 0.0 and self._h2_kg <= 0.0:
                target = 0.0
                if self._p_cmd_kw > 0.0:
                    self._stop()
            elif target < 0.0 and self._h2_kg >= self._tank_kg:
                target = 0.0
                message = MESSAGE_TANK_FULL
                if self._p_cmd_kw < 0.0:
                    self._stop()
        self._advance(target, dt)
        p_kw = self._p_cmd_kw
        state: InverterState
        n = self._n

        if p_kw > 0.0:
            mode = "fc"
            i_a = self._fc_cache_i_a
            stack_w = p_kw * 1000.0 / self._conv
            if stack_w != self._fc_cache_p_w:
                i_a = self.fc_current_for_power_a(stack_w, i_a)
                self._fc_cache_p_w = stack_w
                self._fc_cache_i_a = i_a
            v_cell = self._fc_cell_v_dv(i_a)[0] if i_a > 0.0 else self._ocv_stack_v / n
            efficiency_pct = 100.0 * v_cell / HHV_THERMONEUTRAL_V
            flow_g_s = self._g_per_a_s * i_a
            ac_kw = p_kw
            if has_tank:
                need_kg = flow_g_s * dt / 1000.0
                if need_kg >= self._h2_kg and need_kg > 0.0:
                    frac = self._h2_kg / need_kg
                    i_a *= frac
                    flow_g_s *= frac
                    ac_kw *= frac
                    self._h2_kg = 0.0
                    self._stop()
                    message = MESSAGE_TANK_EMPTY
                else:
                    self._h2_kg -= need_kg
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
            v_cell = self._el_cell_v_dv(i_a)[0]
            efficiency_pct = 100.0 * self._el_eta_f * min(1.0, self._el_vtn / v_cell)
            flow_g_s = -self._el_eta_f * self._g_per_a_s * i_a
            ac_kw = p_kw
            room_kg = self._tank_kg - self._h2_kg
            make_kg = -flow_g_s * dt / 1000.0
            if make_kg >= room_kg and make_kg > 0.0:
                frac = max(room_kg, 0.0) / make_kg
                i_a *= frac
                flow_g_s *= frac
                ac_kw *= frac
                self._h2_kg = self._tank_kg
                self._stop()
                message = MESSAGE_TANK_FULL
            else:
                self._h2_kg += make_kg
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

        # Inverter state from where the command stands relative to the target.
        if mode == "idle":
            state = "standby"
            if (
                message is None
                and target != 0.0
                and self._zero_time_s < self._dwell_s
                and (1 if target > 0.0 else -1) == -self._last_direction
            ):
                message = (
                    f"mode change dwell: {math.ceil(self._dwell_s - self._zero_time_s)} s remaining"
                )
        elif self._p_cmd_kw == 0.0:
            state = "shutting_down"
        elif p_kw == target:
            self._starting = False
            state = "throttled" if throttled else "running"
        elif target == 0.0 or (target > 0.0) != (p_kw > 0.0):
            self._starting = False
            state = "shutting_down"
        elif abs(target) < abs(p_kw):
            self._starting = False
            state = "running"
        else:
            state = "starting" if self._starting else "running"

        if has_tank:
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
