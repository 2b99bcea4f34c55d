"""Active power-reactive power (watt-var) mode (IEEE 1547-2018 §5.3.4; SunSpec 712).

Curve points ``pt`` are (``w_pct``, ``var_pct``) pairs ordered by ``w_pct``: active power in % of
``WMaxRtg`` when injecting, of the charge rating when absorbing (negative values), reactive
power in % of the var rating on its side (712 ``DeptRef`` = ``VAR_MAX_PCT``). §5.3.4 defaults:
P1 = 20 %, P2 = 50 %, P3 = 100 % of P_rated with Q1 = Q2 = 0 and Q3 = 44 % of S_rated absorbing
(category A: 25 %), and the mirror image for absorbed active power (P'1..P'3 = −20, −50, −100 %,
Q'3 injecting). The reactive power lags the curve with ``rsp_tms_s`` (OpenDER ``QP_RT``, 5 s;
712 has no response-time point).

When the curve point lies outside the VA circle, active power yields down to where the curve
meets the circle (OpenDER ``capability_and_priority``, watt-var branch): ``circle_p_kw``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.curves import interpolate
from dersim_trio.grid.volt_var import q_from_pct


@dataclass(frozen=True, slots=True)
class WattVarSettings:
    """712 ``Ena`` and ``Pt[].W/Var``."""

    enabled: bool = False
    pt: tuple[tuple[float, float], ...] = (
        (-100.0, 100.0),
        (-50.0, 0.0),
        (-20.0, 0.0),
        (20.0, 0.0),
        (50.0, 0.0),
        (100.0, -100.0),
    )
    rsp_tms_s: float = 5.0


def w_pct(p_kw: float, rating: GridRating) -> float:
    """Active power in the curve's %: of WMaxRtg injecting, of the charge rating absorbing."""
    if p_kw >= 0.0 or not rating.can_absorb:
        return 100.0 * p_kw / rating.w_max_kw if rating.w_max_kw > 0.0 else 0.0
    return 100.0 * p_kw / rating.w_max_charge_kw


def q_target_kvar(settings: WattVarSettings, p_kw: float, rating: GridRating) -> float:
    """The curve's reactive power at active power ``p_kw``."""
    return q_from_pct(interpolate(settings.pt, w_pct(p_kw, rating)), rating)


def circle_p_kw(settings: WattVarSettings, p_kw: float, s_kva: float, rating: GridRating) -> float:
    """|P| at which P² + Q(P)² = S² on the side of ``p_kw`` (|p_kw| when it fits already).

    Bisection on |P| (Q(P) is piecewise linear, so P² + Q(P)² grows monotonically with |P| for
    every curve whose |Q| does not fall faster than P rises; 40 halvings give < 1e-9 of S).
    """
    sign = 1.0 if p_kw >= 0.0 else -1.0

    def excess(p_abs: float) -> float:
        q = q_target_kvar(settings, sign * p_abs, rating)
        return p_abs * p_abs + q * q - s_kva * s_kva

    hi = abs(p_kw)
    if excess(hi) <= 0.0:
        return hi
    lo = 0.0
    if excess(lo) > 0.0:
        return 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if excess(mid) > 0.0:
            hi = mid
        else:
            lo = mid
    return lo
