"""Constant reactive power mode (IEEE 1547-2018 §5.3.5; SunSpec 704 ``VarSetEna``/``VarSetPct``).

``var_set_pct`` is a percentage of the var rating on its side (SunSpec ``VarSetMod`` =
``VAR_MAX_PCT``): + of ``VarMaxInjRtg`` (injecting, over-excited), − of ``VarMaxAbsRtg``. The
output follows a first-order lag with ``rsp_tms_s`` (OpenDER ``CONST_Q_RT``, 5 s; SunSpec 704
has no point for it). Reactive power has priority: P yields inside the VA circle.
"""

from __future__ import annotations

from dataclasses import dataclass

from dersim_trio.grid.capability import GridRating


@dataclass(frozen=True, slots=True)
class ConstantQSettings:
    """704 ``VarSetEna`` and ``VarSetPct``."""

    enabled: bool = False
    var_set_pct: float = 0.0
    rsp_tms_s: float = 5.0


def q_target_kvar(settings: ConstantQSettings, rating: GridRating) -> float:
    """The reactive power the mode asks for, kvar (+ injects)."""
    pct = settings.var_set_pct
    base = rating.var_max_inj_kvar if pct >= 0.0 else rating.var_max_abs_kvar
    return pct / 100.0 * base
