"""The project's grid support and OpenDER 2.2.0 side by side: the same nameplate (a 10 kVA /
10 kW single-phase PV inverter, 240 V, var ratings 4.4 kvar, current limit 1.0 pu), the same
settings and the same grid sequence at a 1.5 s step (used by ``test_oracle`` and
``test_procedures``; the ``oracle`` fixture in ``conftest.py`` sets OpenDER's step)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

import opender

from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.constant_pf import ConstantPfSettings
from dersim_trio.grid.freq_droop import FreqDroopSettings
from dersim_trio.grid.settings import GridSettings, category_defaults
from dersim_trio.grid.support import GridSupport
from dersim_trio.grid.trip import GridSample

DT = 1.5
S_VA = 10_000.0
TOL_W = 0.01 * S_VA  # 1 % of the rating
RATING = GridRating(w_max_kw=10.0, va_max_kva=10.0, var_max_inj_kvar=4.4, var_max_abs_kvar=4.4)
CATEGORY = {"A": "CAT_A", "B": "CAT_B", "I": "CAT_I", "II": "CAT_II", "III": "CAT_III"}


def make_oracle(normal: str, abnormal: str, **settings: Any) -> Any:
    """An OpenDER PV with the full nameplate; the categories go first (trap: kwargs order)."""
    kwargs: dict[str, Any] = {
        "NP_NORMAL_OP_CAT": CATEGORY[normal],
        "NP_ABNORMAL_OP_CAT": CATEGORY[abnormal],
        "NP_PHASE": "SINGLE",
        "NP_AC_V_NOM": 240,
        "NP_VA_MAX": S_VA,
        "NP_P_MAX": 10_000,
        "NP_Q_MAX_INJ": 4_400,
        "NP_Q_MAX_ABS": 4_400,
        "NP_P_MAX_CHARGE": 0,
        "NP_APPARENT_POWER_CHARGE_MAX": S_VA,
        "NP_CURRENT_PU": 1.0,
        "PF_MODE_ENABLE": False,
    }
    kwargs.update(settings)
    return opender.DER_PV(**kwargs)


class Ours:
    """The project's grid support around an ideal PV source (P = min(available, limit))."""

    def __init__(self, settings: GridSettings) -> None:
        self.unit = GridSupport(settings, RATING, random.Random(0))
        self.t = 0.0
        self.p_kw = 0.0

    def step(
        self,
        v: float,
        f: float,
        p_avail_w: float,
        grid_at: Callable[[float], GridSample] | None = None,
        corners: Sequence[float] = (),
    ) -> tuple[float, float]:
        """One 1.5 s step ending on (``v``, ``f``); ``grid_at(t)`` (simulated seconds, linear
        between ``corners``) gives the grid inside the step when it moves within it."""
        sample = GridSample(v, v, f)
        at = grid_at if grid_at is not None else (lambda _t: sample)
        bounds, _ = self.unit.before_step(self.t, DT, at, v, self.p_kw, 10.0, grid_corners=corners)
        p_model = 0.0
        if bounds.energize:
            limit = bounds.droop_kw if bounds.droop_kw is not None else bounds.p_max_kw
            p_model = min(p_avail_w / 1000.0, limit)
        p, q = self.unit.after_step(p_model, 0.0, DT)
        self.t += DT
        self.p_kw = p
        return p * 1000.0, q * 1000.0


def run_both(
    ours: Ours, der: Any, sequence: list[tuple[float, float, float]]
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Feed (v_pu, f_hz, p_avail_w) per step to both; their (P, Q) in W and var."""
    a: list[tuple[float, float]] = []
    b: list[tuple[float, float]] = []
    for v, f, p_avail in sequence:
        a.append(ours.step(v, f, p_avail))
        der.update_der_input(v_pu=v, f=f, theta=0, p_dc_w=p_avail)
        p, q = der.run()
        b.append((float(p), float(q)))
    return a, b


def settle(
    v: float, f: float = 60.0, p: float = 10_000.0, n: int = 60
) -> list[tuple[float, float, float]]:
    return [(1.0, 60.0, p)] * 2 + [(v, f, p)] * n


def t90(values: list[float], start: int) -> int:
    """The first step index at which a step from values[start-1] has made 90 % of its change."""
    v0, v_end = values[start - 1], values[-1]
    for i in range(start, len(values)):
        if abs(values[i] - v0) >= 0.9 * abs(v_end - v0) - 1e-9:
            return i
    raise AssertionError("never reached 90 %")


def ours_with(normal: str, abnormal: str, **changes: Any) -> Ours:
    base = category_defaults(normal, abnormal, RATING)  # type: ignore[arg-type]
    base = dataclasses.replace(base, freq_droop=FreqDroopSettings(enabled=False))
    return Ours(dataclasses.replace(base, **changes))


def constant_pf_pair(pf: float, ext: str) -> tuple[Ours, Any]:
    """Both sides at constant power factor ``pf``, ``over``- or ``under``-excited (injecting or
    absorbing vars), categories B and III."""
    ours = ours_with(
        "B",
        "III",
        constant_pf=ConstantPfSettings(enabled=True, pf_w_inj=pf, pf_w_inj_ext=ext),  # type: ignore[arg-type]
    )
    der = make_oracle(
        "B",
        "III",
        CONST_PF_MODE_ENABLE=True,
        CONST_PF=pf,
        CONST_PF_EXCITATION="INJ" if ext == "over" else "ABS",
    )
    return ours, der
