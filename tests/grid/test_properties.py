"""Properties of the composed grid support over random grids, settings and model outputs.

Whatever the grid does: the output current never exceeds the rated current (S ≤ S_rated·V_min),
P and Q stay inside the capability (VA circle, var ratings, the reduced region at low P for the
grid's reactive modes), a tripped or ceased unit delivers nothing, and nothing is NaN.
"""

from __future__ import annotations

import dataclasses
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.grid.active_power_limit import ActivePowerLimitSettings
from dersim_trio.grid.capability import GridRating, q_limits_kvar
from dersim_trio.grid.constant_pf import ConstantPfSettings
from dersim_trio.grid.constant_q import ConstantQSettings
from dersim_trio.grid.enter_service import EnterServiceSettings
from dersim_trio.grid.settings import category_defaults
from dersim_trio.grid.support import GridSupport
from dersim_trio.grid.trip import GridSample
from dersim_trio.grid.volt_watt import VoltWattSettings

EPS = 1e-6

ratings = st.builds(
    GridRating,
    w_max_kw=st.floats(1.0, 500.0),
    va_max_kva=st.floats(1.0, 600.0),
    var_max_inj_kvar=st.floats(0.1, 300.0),
    var_max_abs_kvar=st.floats(0.1, 300.0),
    w_max_charge_kw=st.sampled_from([0.0, 1.0, 50.0]),
)
ticks = st.lists(
    st.tuples(
        st.floats(0.0, 1.5),  # voltage pu
        st.floats(0.0, 0.2),  # unbalance: the other phases are this much higher
        st.floats(55.0, 65.0),  # frequency
        st.floats(-1.5, 1.5),  # model P in pu of WMaxRtg
        st.floats(-1.0, 1.0),  # operator's Q in pu of VAMaxRtg
    ),
    min_size=1,
    max_size=40,
)
modes = st.sampled_from(["none", "constant_pf", "constant_q", "volt_var", "watt_var"])


def build(rating: GridRating, mode: str, normal: str, abnormal: str, vw: bool) -> GridSupport:
    s = category_defaults(normal, abnormal, rating)  # type: ignore[arg-type]
    changes: dict[str, object] = {
        "enter_service": EnterServiceSettings(es_dly_tms_s=3.0, es_rmp_tms_s=6.0),
        "volt_watt": VoltWattSettings(enabled=vw),
        "active_power_limit": ActivePowerLimitSettings(enabled=vw, w_max_lim_pct=70.0),
    }
    if mode == "constant_pf":
        changes["constant_pf"] = ConstantPfSettings(enabled=True, pf_w_inj=0.85)
    elif mode == "constant_q":
        changes["constant_q"] = ConstantQSettings(enabled=True, var_set_pct=-80.0)
    elif mode in ("volt_var", "watt_var"):
        changes[mode] = dataclasses.replace(getattr(s, mode), enabled=True)
    return GridSupport(dataclasses.replace(s, **changes), rating, random.Random(0))  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    rating=ratings,
    mode=modes,
    normal=st.sampled_from(["A", "B"]),
    abnormal=st.sampled_from(["I", "II", "III"]),
    vw=st.booleans(),
    sequence=ticks,
)
def test_output_stays_inside_current_capability_and_trip_limits(
    rating: GridRating,
    mode: str,
    normal: str,
    abnormal: str,
    vw: bool,
    sequence: list[tuple[float, float, float, float, float]],
) -> None:
    unit = build(rating, mode, normal, abnormal, vw)
    p_last = 0.0
    t = 0.0
    for v, unbalance, f, p_pu, q_pu in sequence:
        sample = GridSample(v, v + unbalance, f)
        bounds, _ = unit.before_step(
            t, 1.5, lambda _t, s=sample: s, v + unbalance * 2 / 3, p_last, rating.w_max_kw
        )
        model_p = p_pu * rating.w_max_kw
        if bounds.energize:
            model_p = min(model_p, bounds.p_max_kw)
        p, q = unit.after_step(model_p, q_pu * rating.va_max_kva, 1.5)
        t += 1.5
        assert math.isfinite(p)
        assert math.isfinite(q)
        s_kva = math.hypot(p, q)
        assert s_kva <= rating.va_max_kva * min(1.0, v) + EPS  # current ≤ rated
        assert p <= rating.w_max_kw + EPS
        assert p >= -rating.w_max_charge_kw - EPS
        if unit.reactive_mode is not None:
            q_inj, q_abs = q_limits_kvar(p, rating)
            assert -q_abs - EPS <= q <= q_inj + EPS
        if unit.state in ("tripped", "momentary_cessation"):
            assert p == 0.0
            assert q == 0.0
        p_last = p
