"""Reactive capability, the VA circle, and the current limit (IEEE 1547-2018 §5.2, Table 7).

Ratings (SunSpec 702): ``WMaxRtg`` (P_rated), ``VAMaxRtg`` (S_rated), ``VarMaxInjRtg`` and
``VarMaxAbsRtg``; storage and EVSE also absorb up to ``WChaRteMaxRtg`` (``w_max_charge_kw``).

* **Reactive capability by active power** (§5.2, Table 7): the full var ratings are required at
  |P| ≥ 0.2·P_rated; below that the standard allows a reduced capability. As in OpenDER's
  ``NP_Q_CAPABILITY_LOW_P = "REDUCED"`` (the model the oracle tests compare against), the
  capability is one quarter of the rating at |P| = 0.05·P_rated, rises linearly to the full
  rating at 0.2·P_rated, and is zero below 0.05·P_rated.
* **VA circle**: P² + Q² ≤ S², with S the smaller of ``VAMaxRtg`` and the current limit.
* **Current limit**: the output current never exceeds ``i_max_pu`` (default 1.0) times the rated
  current I_rated = S_rated/V_nom. With the lowest phase at V_min per unit the apparent power
  that current allows is S_I = i_max_pu·S_rated·V_min, so at low voltage P and Q shrink instead
  of the current rising (OpenDER ``rt_perf.i_limit`` keeps the reactive current and cuts the
  active current first; so does ``support``, by giving Q its share of S before P).

All powers in kW, kvar, kVA; per-unit values on V_nom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REDUCED_Q_LOW_P_PU = 0.05
"""Below this |P|/P_rated no reactive capability is required (Table 7 reduced region)."""
FULL_Q_P_PU = 0.2
"""From this |P|/P_rated the full reactive capability is required (§5.2)."""


@dataclass(frozen=True, slots=True)
class GridRating:
    """The ratings the grid functions work with (SunSpec 702 names in the docstrings)."""

    w_max_kw: float
    """``WMaxRtg``."""
    va_max_kva: float
    """``VAMaxRtg``."""
    var_max_inj_kvar: float
    """``VarMaxInjRtg`` (> 0)."""
    var_max_abs_kvar: float
    """``VarMaxAbsRtg`` (> 0)."""
    w_max_charge_kw: float = 0.0
    """``WChaRteMaxRtg``: largest absorbed active power; 0 for a unit that only injects."""
    i_max_pu: float = 1.0
    """Continuous current limit in per unit of the rated current."""

    @property
    def can_absorb(self) -> bool:
        """True for storage and loads (they can take active power from the grid)."""
        return self.w_max_charge_kw > 0.0


def reduced_fraction(p_kw: float, rating: GridRating) -> float:
    """The fraction (0..1) of the var ratings available at active power ``p_kw``."""
    base = rating.w_max_kw if p_kw >= 0.0 or not rating.can_absorb else rating.w_max_charge_kw
    if base <= 0.0:
        return 0.0
    p_pu = abs(p_kw) / base
    if p_pu < REDUCED_Q_LOW_P_PU:
        return 0.0
    if p_pu >= FULL_Q_P_PU:
        return 1.0
    return 0.25 + 0.75 * (p_pu - REDUCED_Q_LOW_P_PU) / (FULL_Q_P_PU - REDUCED_Q_LOW_P_PU)


def q_limits_kvar(p_kw: float, rating: GridRating) -> tuple[float, float]:
    """(largest injection, largest absorption) in kvar, both ≥ 0, at active power ``p_kw``."""
    k = reduced_fraction(p_kw, rating)
    return k * rating.var_max_inj_kvar, k * rating.var_max_abs_kvar


def apparent_limit_kva(rating: GridRating, v_min_pu: float) -> float:
    """The VA limit at the lowest phase voltage ``v_min_pu``: min(S_rated, i_max·S_rated·V)."""
    return rating.va_max_kva * max(0.0, min(1.0, rating.i_max_pu * v_min_pu))


def p_room_kw(s_kva: float, q_kvar: float) -> float:
    """The |P| left inside the circle of radius ``s_kva`` once ``q_kvar`` is delivered."""
    return math.sqrt(max(0.0, s_kva * s_kva - q_kvar * q_kvar))
