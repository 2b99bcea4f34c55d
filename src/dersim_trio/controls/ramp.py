"""Ramp rate of the active power command (SunSpec 704 ``WRmp``, IEEE 1547-2018 §4.6.2).

A command moves toward its target by at most ``rate_pct_per_s``/100 · WMaxRtg per simulated
second, in both directions; ``None`` means no ramp (the target applies at once). What is ramped
depends on the asset (``controls.supervisor``): the active power setpoint of storage, fuel cell,
hybrid (manual policy) and EVSE, the active power limit of PV and wind.
"""

from __future__ import annotations


def ramp_toward(
    current: float, target: float, rate_pct_per_s: float | None, w_max_kw: float, dt_s: float
) -> float:
    """``current`` moved toward ``target`` by at most rate·WMax·dt (kW); no rate: ``target``."""
    if rate_pct_per_s is None:
        return target
    step = rate_pct_per_s / 100.0 * w_max_kw * max(0.0, dt_s)
    if target > current:
        return min(target, current + step)
    return max(target, current - step)
