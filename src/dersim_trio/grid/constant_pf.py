"""Constant power factor mode (IEEE 1547-2018 §5.3.2; SunSpec 704 ``PFWInj``/``PFWAbs``).

Q = ±|P|·tan(acos PF): + (injecting vars) when over-excited, − when under-excited. The setting
for injected active power (``pf_w_inj``, ``pf_w_inj_ext``) applies while P ≥ 0, the one for
absorbed active power (``pf_w_abs``, ``pf_w_abs_ext``, storage charging) while P < 0. The
standard's default is unity power factor (mode disabled). The reactive power follows P through
a first-order lag with ``rsp_tms_s`` (OpenDER's ``CONST_PF_RT``, 5 s; the standard gives no
time for this mode, SunSpec 704 has no point for it).

Under the VA circle the mode keeps the power factor: P and Q shrink together (OpenDER
``capability_and_priority``, constant-PF branch), so the active power cap is S·PF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Excitation = Literal["over", "under"]


@dataclass(frozen=True, slots=True)
class ConstantPfSettings:
    """704 ``PFWInjEna``/``PFWInj.PF``/``PFWInj.Ext`` and the absorbing-side twins."""

    enabled: bool = False
    pf_w_inj: float = 1.0
    pf_w_inj_ext: Excitation = "over"
    pf_w_abs: float = 1.0
    pf_w_abs_ext: Excitation = "over"
    rsp_tms_s: float = 5.0


def tan_phi(settings: ConstantPfSettings, p_kw: float) -> float:
    """Signed Q/|P| for active power ``p_kw`` (+ over-excited)."""
    if p_kw >= 0.0:
        pf, ext = settings.pf_w_inj, settings.pf_w_inj_ext
    else:
        pf, ext = settings.pf_w_abs, settings.pf_w_abs_ext
    if pf >= 1.0 or pf <= 0.0:
        return 0.0
    t = math.sqrt(1.0 - pf * pf) / pf
    return t if ext == "over" else -t


def q_target_kvar(settings: ConstantPfSettings, p_kw: float) -> float:
    """The reactive power the mode asks for at active power ``p_kw``."""
    return abs(p_kw) * tan_phi(settings, p_kw)
