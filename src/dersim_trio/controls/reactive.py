"""Reactive power: fixed power factor, fixed var, and the P-Q capability with a priority.

Equations and sources (physics reference B.6-B.8; SunSpec 701/702/704; IEEE 1547-2018 §5.3):

* Fixed power factor (704 ``PFWInj`` with ``Ext``): Q = ±|P|·tan(acos PF), + when over-excited
  (injecting vars), − when under-excited. The magnitude PF ∈ [0.8, 1.0] (DERSim documents
  0.8-1.0), so tan(acos PF) ∈ [0, 0.75].
* Fixed var (704 ``VarSetMod`` with ``VarSet``): Q is the setpoint, + injects.
* Ratings (702): −``VarMaxAbsRtg`` ≤ Q ≤ ``VarMaxInjRtg``, and P² + Q² ≤ ``VAMaxRtg``². The var
  capability comes from the VA rating, never from the DC power available (gridlab-d PR #1467).
* Priority (704 ``VarSetPri``/705 ``Pri``) when both cannot fit inside S:
  - active: P is kept, Q is cut to ±√(S² − P²);
  - reactive: P is capped *before* the model step so that Q fits: with a fixed PF the cap is
    P ≤ S·PF (then S is exactly reached at the PF), with a fixed var Q it is P ≤ √(S² − Q²).

All powers in kW, kvar, kVA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dersim_trio.api.controls import Excitation, Priority
from dersim_trio.physics.base import AcRating

_EPS = 1e-9


def pf_reactive_kvar(active_power_kw: float, power_factor: float, excitation: Excitation) -> float:
    """Q for a fixed power factor at active power P: ±|P|·tan(acos PF), + when over-excited."""
    pf = min(1.0, max(0.0, power_factor))
    if pf >= 1.0 or pf <= 0.0:
        return 0.0
    q = abs(active_power_kw) * math.sqrt(1.0 - pf * pf) / pf
    return q if excitation == "over" else -q


def active_power_cap_kw(
    rating: AcRating,
    priority: Priority,
    power_factor: float | None,
    reactive_setpoint_kvar: float | None,
) -> float:
    """The |P| ceiling reactive priority imposes before the model step (``inf``: none)."""
    if priority != "reactive":
        return math.inf
    s = rating.va_max_kva
    if power_factor is not None:
        return s * power_factor
    if reactive_setpoint_kvar is not None:
        return math.sqrt(max(0.0, s * s - reactive_setpoint_kvar * reactive_setpoint_kvar))
    return math.inf


@dataclass(frozen=True, slots=True)
class ReactiveLimit:
    """The reactive power delivered and, when it was cut, what bound it."""

    reactive_power_kvar: float
    requested_kvar: float
    reason: str | None
    """None when the request fitted; else the binding rating (702 point name)."""

    @property
    def message(self) -> str | None:
        """The status message for a clamp, e.g. "reactive power clamped at 4.40 kvar (...)"."""
        if self.reason is None:
            return None
        return f"reactive power clamped at {self.reactive_power_kvar:.2f} kvar ({self.reason})"


def limit_reactive(
    requested_kvar: float, active_power_kw: float, rating: AcRating, priority: Priority
) -> ReactiveLimit:
    """Clamp a reactive power request to the var ratings and, with active priority, to S."""
    q = requested_kvar
    reason: str | None = None
    if q > rating.var_max_inj_kvar + _EPS:
        q, reason = rating.var_max_inj_kvar, "VarMaxInjRtg"
    elif q < -rating.var_max_abs_kvar - _EPS:
        q, reason = -rating.var_max_abs_kvar, "VarMaxAbsRtg"
    s = rating.va_max_kva
    if priority == "active":
        headroom = math.sqrt(max(0.0, s * s - active_power_kw * active_power_kw))
        label = "VAMaxRtg, active power priority"
    else:
        headroom = s
        label = "VAMaxRtg"
    if abs(q) > headroom + _EPS:
        q, reason = math.copysign(headroom, q), label
    return ReactiveLimit(q, requested_kvar, reason)
