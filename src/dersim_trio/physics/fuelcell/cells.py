"""Fuel-cell and electrolysis cell curves, and the stack-current solver built on them.

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

Only the branch 0 ≤ I ≤ I_peak (the current of maximum stack power, ``peak_power_current_a``,
golden-section search) is used; a requested stack power is turned into a current by
safeguarded Newton iteration on that monotone branch (``solve_current_a``: bracketed by
bisection, at most 40 iterations, warm-started from the previous current).

Electrolysis (reversible units only; same N cells, current reversed)::

    V_el(I) = E_rev + A_el·asinh(I/(2·i_0,el)) + R_el·I              (Butler–Volmer, α = ½)
    H₂ produced = η_F·N·I/(2F) mol/s
    electrolysis efficiency = η_F·min(1, V_tn/V_el)

V_tn is the thermoneutral voltage (1.48 V for liquid-water PEM electrolysis; 1.29 V for steam
electrolysis at 750 °C). Below V_tn the cell absorbs heat, which is not counted, hence the cap.
P_el(I) = N·V_el·I is strictly increasing, so the same bracketed Newton solve applies.

Constants: F = 96 485.332 12 C/mol, R = 8.314 462 618 J/(mol·K), M(H₂) = 2.015 88 g/mol (CODATA).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

FARADAY_C_PER_MOL: Final = 96485.33212
GAS_CONSTANT_J_PER_MOL_K: Final = 8.314462618
H2_MOLAR_MASS_G_PER_MOL: Final = 2.01588
HHV_THERMONEUTRAL_V: Final = 1.48
"""Higher-heating-value voltage of H₂ (thermoneutral voltage of liquid-water electrolysis)."""

SOLVER_MAX_ITERATIONS: Final = 40

CellCurve = Callable[[float], tuple[float, float]]
"""A cell's (voltage V, slope dV/dI in V/A) at a current magnitude in A."""


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


def fuel_cell_curve(cell: LarminieDicksCell) -> CellCurve:
    """V_cell(I) and dV/dI of the Larminie–Dicks form, for 0 ≤ I < i_L − i_n (unclamped)."""
    e0 = cell.e0_v
    a = cell.tafel_slope_v
    rm = cell.ohmic_resistance_ohm
    i0 = cell.exchange_current_a
    i_n = cell.internal_current_a
    il = cell.limiting_current_a
    b = cell.mass_transport_b_v

    def curve(i: float) -> tuple[float, float]:
        x = i + i_n
        il_minus_x = il - x
        v = e0 - a * math.log(x / i0) - rm * x + b * math.log(il_minus_x / il)
        return v, -a / x - rm - b / il_minus_x

    return curve


def electrolysis_curve(cell: ElectrolysisCell) -> CellCurve:
    """V_el(I) and dV/dI of the electrolysis form, for I ≥ 0."""
    e_rev = cell.reversible_voltage_v
    a = cell.tafel_slope_v
    two_i0 = 2.0 * cell.exchange_current_a
    r = cell.ohmic_resistance_ohm

    def curve(i: float) -> tuple[float, float]:
        v = e_rev + a * math.asinh(i / two_i0) + r * i
        return v, a / math.sqrt(two_i0 * two_i0 + i * i) + r

    return curve


def peak_power_current_a(curve: CellCurve, cells: float, i_max_a: float) -> float:
    """Golden-section search of the (unimodal) stack power N·V(I)·I on [0, ``i_max_a``]."""

    def power(i: float) -> float:
        return cells * curve(i)[0] * i

    lo = 0.0
    hi = i_max_a
    g = (math.sqrt(5.0) - 1.0) / 2.0
    c = hi - g * (hi - lo)
    d = lo + g * (hi - lo)
    pc = power(c)
    pd = power(d)
    for _ in range(200):
        if pc > pd:
            hi, d, pd = d, c, pc
            c = hi - g * (hi - lo)
            pc = power(c)
        else:
            lo, c, pc = c, d, pd
            d = lo + g * (hi - lo)
            pd = power(d)
    return 0.5 * (lo + hi)


def solve_current_a(
    curve: CellCurve,
    cells: float,
    stack_power_w: float,
    i_max_a: float,
    guess_a: float,
    tol_w: float,
) -> float:
    """Current in [0, ``i_max_a``] where N·V(I)·I = ``stack_power_w`` (N = ``cells``).

    Safeguarded Newton on the monotone branch (a bisection step whenever Newton leaves the
    bracket or the slope is not positive), at most ``SOLVER_MAX_ITERATIONS`` iterations.
    """
    lo, hi = 0.0, i_max_a
    i = min(max(guess_a, 0.0), hi)
    for _ in range(SOLVER_MAX_ITERATIONS):
        v, dv = curve(i)
        f = cells * v * i - stack_power_w
        if abs(f) <= tol_w:
            break
        if f < 0.0:
            lo = i
        else:
            hi = i
        df = cells * (v + i * dv)
        nxt = i - f / df if df > 0.0 else lo
        i = nxt if lo < nxt < hi else 0.5 * (lo + hi)
    return i
