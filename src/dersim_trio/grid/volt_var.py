"""Voltage-reactive power (volt-var) mode with autonomous V_ref (IEEE 1547-2018 §5.3.3, Table 8;
SunSpec 705).

Curve points ``pt`` are (``v_pct``, ``var_pct``) pairs: voltage in % of V_nom as set for
V_ref = 100 %, reactive power in % of the var rating on its side (705 ``DeptRef`` =
``VAR_MAX_PCT``: + of ``VarMaxInjRtg``, − of ``VarMaxAbsRtg``). Table 8 gives the points in % of
the apparent power rating (category B: ±44 %, category A: ±25 %); ``categories`` converts them
for the device's var ratings.

The curve follows the reference voltage: every point moves by V_ref − 100 % (Table 8 defines
V1..V4 relative to V_ref; OpenDER ``volt_var.py``, EPRI report 3002030962 §3.8.1.2). With
``v_ref_auto_ena`` V_ref tracks the measured voltage through a first-order filter with time
constant ``v_ref_auto_tms_s`` (§5.3.3: 300–5000 s), held within 95..105 % (the V_ref range of
§5.3.3). The reactive power reaches 90 % of a step after ``rsp_tms_s`` (the OLRT; Table 8:
category A 10 s, category B 5 s, adjustable 1–90 s), through ``lag``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.curves import interpolate

V_REF_RANGE_PCT = (95.0, 105.0)
"""§5.3.3: V_ref is adjustable within 0.95..1.05 V_nom."""


@dataclass(frozen=True, slots=True)
class VoltVarSettings:
    """705 ``Ena``, ``VRef``, ``VRefAutoEna``, ``VRefAutoTms``, ``RspTms`` and ``Pt[].V/Var``."""

    enabled: bool = False
    pt: tuple[tuple[float, float], ...] = (
        (92.0, 100.0),
        (98.0, 0.0),
        (102.0, 0.0),
        (108.0, -100.0),
    )
    v_ref_pct: float = 100.0
    v_ref_auto_ena: bool = False
    v_ref_auto_tms_s: float = 300.0
    rsp_tms_s: float = 5.0


def q_from_pct(var_pct: float, rating: GridRating) -> float:
    """A curve's var % (of the rating on its side) in kvar."""
    base = rating.var_max_inj_kvar if var_pct >= 0.0 else rating.var_max_abs_kvar
    return var_pct / 100.0 * base


def curve_q_kvar(
    settings: VoltVarSettings, v_ref_pct: float, v_pct: float, rating: GridRating
) -> float:
    """The curve's reactive power at voltage ``v_pct`` with the curve shifted to ``v_ref_pct``
    (every point moved by V_ref − 100 %, i.e. the unshifted curve read at V − (V_ref − 100 %))."""
    return q_from_pct(interpolate(settings.pt, v_pct - (v_ref_pct - 100.0)), rating)


@dataclass(slots=True)
class VRefTracker:
    """The autonomous V_ref: a first-order filter of the measured voltage (time constant τ)."""

    v_ref_pct: float | None = None
    _gain_of: tuple[float, float] = (-1.0, -1.0)
    _gain: float = 1.0

    def settled(self, settings: VoltVarSettings, v_pct: float) -> bool:
        """True when another step at ``v_pct`` would not move V_ref (fixed, caught up with the
        voltage, or held at a limit the voltage is beyond)."""
        if not settings.v_ref_auto_ena:
            return True
        ref = self.v_ref_pct
        if ref is None:
            return False
        lo, hi = V_REF_RANGE_PCT
        return (
            abs(ref - v_pct) <= 1e-9 or (ref >= hi and v_pct >= hi) or (ref <= lo and v_pct <= lo)
        )

    def step(self, settings: VoltVarSettings, v_pct: float, dt_s: float) -> float:
        """The reference voltage for this step, % of V_nom."""
        lo, hi = V_REF_RANGE_PCT
        if not settings.v_ref_auto_ena:
            self.v_ref_pct = settings.v_ref_pct
            return settings.v_ref_pct
        if self.v_ref_pct is None:
            self.v_ref_pct = settings.v_ref_pct
        tau = settings.v_ref_auto_tms_s
        if (tau, dt_s) != self._gain_of:
            self._gain_of = (tau, dt_s)
            self._gain = 1.0 if tau <= 0.0 else 1.0 - math.exp(-dt_s / tau)
        gain = self._gain
        self.v_ref_pct += gain * (v_pct - self.v_ref_pct)
        self.v_ref_pct = min(hi, max(lo, self.v_ref_pct))
        return self.v_ref_pct
