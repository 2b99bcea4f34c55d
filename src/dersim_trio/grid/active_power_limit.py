"""Limit maximum active power (IEEE 1547-2018 §4.6.2; SunSpec 704 ``WMaxLimPctEna``/``WMaxLimPct``).

A utility-set ceiling on the active power, in % of ``WMaxRtg``. The standard requires the DER to
reach a new limit within 30 s (§4.6.2). The limit moves linearly by at most 100 % of ``WMaxRtg``
per ``rsp_tms_s`` (OpenDER ``active_power_limit.py`` with ``AP_RT`` = 15 s: a step from 100 %
to 50 % takes 7.5 s).

This is the grid-support function. The operator's ``active_power_limit_pct`` (``PUT .../controls``)
stays a separate, immediate control; the lower of the two applies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActivePowerLimitSettings:
    """704 ``WMaxLimPctEna`` and ``WMaxLimPct``."""

    enabled: bool = False
    w_max_lim_pct: float = 100.0
    rsp_tms_s: float = 15.0


@dataclass(slots=True)
class LimitRamp:
    """The ramped limit, % of WMaxRtg."""

    pct: float = 100.0

    def step(self, settings: ActivePowerLimitSettings, dt_s: float) -> float:
        """The limit in force after ``dt_s`` seconds (100 at once when disabled)."""
        if not settings.enabled:
            self.pct = 100.0
            return 100.0
        target = settings.w_max_lim_pct
        if settings.rsp_tms_s <= 0.0:
            self.pct = target
            return target
        step = 100.0 * dt_s / settings.rsp_tms_s
        if target > self.pct:
            self.pct = min(target, self.pct + step)
        else:
            self.pct = max(target, self.pct - step)
        return self.pct
