"""Voltage-active power (volt-watt) function (IEEE 1547-2018 §5.4.2; SunSpec 706).

Two points ``pt`` = ((V1, P1), (V2, P2)): ``v_pct`` in % of V_nom, ``w_pct`` in % of ``WMaxRtg``
(706 ``DeptRef`` = ``W_MAX_PCT``; a negative P2, allowed for units that absorb, is in % of the
charge rating). Below V1 the limit is P1 (100 %), above V2 it is P2, linear in between. §5.4.2
defaults: V1 = 1.06, P1 = P_rated, V2 = 1.10, P2 = the lesser of 0.2·P_rated and P_min (0 for
every device here, all of which can turn down to zero), OLRT 10 s (adjustable 0.5–60 s).

The result is an upper limit on active power, reached through a first-order lag (``lag``) with
``rsp_tms_s`` as the OLRT.
"""

from __future__ import annotations

from dataclasses import dataclass

from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.curves import interpolate


@dataclass(frozen=True, slots=True)
class VoltWattSettings:
    """706 ``Ena``, ``RspTms`` and ``Pt[].V/W``."""

    enabled: bool = False
    pt: tuple[tuple[float, float], ...] = ((106.0, 100.0), (110.0, 0.0))
    rsp_tms_s: float = 10.0


def p_limit_kw(settings: VoltWattSettings, v_pct: float, rating: GridRating) -> float:
    """The active power limit at voltage ``v_pct`` (before the lag), kW."""
    w = interpolate(settings.pt, v_pct)
    base = rating.w_max_kw if w >= 0.0 or not rating.can_absorb else rating.w_max_charge_kw
    return w / 100.0 * base
