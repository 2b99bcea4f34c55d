"""IEEE 1547.1-2020 test procedures played step by step against the project and OpenDER 2.2.0.

``test_oracle`` checks each function at single operating points; this module plays the
procedures' whole step sequences, in the order the standard gives them, on the same pair
(``opender_pair``: a 10 kVA / 10 kW single-phase PV inverter, var ratings 4.4 kvar = 44 % of S,
categories B and III). The step values are those of the Sandia/SunSpec test scripts for IEEE
1547.1 (repository ``sandialabs/svp_1547.1``, ``1547.1/Lib/svpelab/p1547.py``:
``create_vv_dict_steps``, ``create_vw_dict_steps``, ``create_wv_dict_steps``,
``create_fw_dict_steps``, and ``VoltageRideThrough.set_test_conditions``), with the minimum
required accuracies of IEEE 1547.1 Table 3 as that file uses them: MRA(V) = 1 % of V_nom,
MRA(f) = 0.01 Hz, MRA(P) = MRA(Q) = 5 % of S; each step moves by a = 1.5 × MRA beside a curve
point. The EUT's continuous range is V_L = 0.88 and V_H = 1.10 pu, f_L = 58.8 and f_H = 61.2 Hz
(IEEE 1547-2018 Table 16 and §6.5.2).

At the end of every step (each held for three open-loop response times, at least 15 s) the test
compares P and Q with OpenDER's within 1 % of the rating, and the controlled quantity with the
characteristic's own value, computed here from the published points (the 1 % tolerance is a fifth
of 1547.1's MRA, so these checks are stricter than the standard's pass/fail). Where a step moves
the output by more than 5 % of S, the tick at which 90 % of the move is made is compared with
OpenDER's (within one tick).

The ride-through sequences are 1547.1's test conditions for category III (its Tables 5 and 8, in
the "Figure" variant of the scripts), with the undervoltage trips set "so as not to influence the
outcome of the test" as 1547.1 requires during the LVRT test; the unit must not trip, must cease
to energize below 0.50 and above 1.10 pu (momentary cessation, IEEE 1547-2018 Table 16), operate
at its current limit at 0.70 pu (mandatory operation) and restore its output when the voltage
returns. OpenDER samples the grid only at its 1.5 s steps, the project inside them: only ticks
wholly inside one condition are compared.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pytest
from opender_pair import DT, RATING, S_VA, TOL_W, Ours, constant_pf_pair, make_oracle, ours_with

from dersim_trio.grid.active_power_limit import ActivePowerLimitSettings
from dersim_trio.grid.enter_service import EnterServiceSettings
from dersim_trio.grid.events import series
from dersim_trio.grid.freq_droop import FreqDroopSettings
from dersim_trio.grid.settings import category_defaults
from dersim_trio.grid.trip import GridSample, TripPoint
from dersim_trio.grid.volt_var import VoltVarSettings
from dersim_trio.grid.volt_watt import VoltWattSettings
from dersim_trio.grid.watt_var import WattVarSettings

P_RATED = 10_000.0
Q_RATED = 4_400.0
MRA_V = 0.01  # pu (IEEE 1547.1 Table 3: 1 % of V_nom)
MRA_F = 0.01  # Hz
A_V = 1.5 * MRA_V
A_F = 1.5 * MRA_F
A_P = 1.5 * 0.05 * S_VA  # W
V_L, V_H = 0.88, 1.10
F_L, F_H = 58.8, 61.2

Step = tuple[float, float, float]  # (v_pu, f_hz, p_avail_w)


def interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear characteristic, held flat beyond its end points."""
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(
        zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False
    ):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def hold_ticks(olrt_s: float) -> int:
    """Ticks a step is held: three open-loop response times (0.1 % left of the move), ≥ 15 s."""
    return max(10, math.ceil(3 * olrt_s / DT))


def play(
    ours: Ours, der: Any, steps: Sequence[Step], hold: int, *, p_avail_dc: bool = True
) -> tuple[list[list[tuple[float, float]]], list[list[tuple[float, float]]]]:
    """Hold every step ``hold`` ticks on both; (P, Q) per tick, grouped by step."""
    a: list[list[tuple[float, float]]] = []
    b: list[list[tuple[float, float]]] = []
    for v, f, p in steps:
        a.append([])
        b.append([])
        for _ in range(hold):
            a[-1].append(ours.step(v, f, p))
            der.update_der_input(v_pu=v, f=f, theta=0, p_dc_w=p)
            pb, qb = der.run()
            b[-1].append((float(pb), float(qb)))
    return a, b


def tick_90(trace: list[float], before: float) -> int | None:
    """The tick of a step at which 90 % of its move from ``before`` is made (None: < 5 % of S)."""
    end = trace[-1]
    if abs(end - before) <= 0.05 * S_VA:
        return None
    return next(i for i, x in enumerate(trace) if abs(x - before) >= 0.9 * abs(end - before))


def q_capability(p_w: float, v_pu: float) -> float:
    """The var the unit can give at output P and voltage V (IEEE 1547-2018 §5.2, Table 7: the
    full 44 % of S from 20 % of P_rated up; below it the reduced region OpenDER models with
    ``NP_Q_CAPABILITY_LOW_P = "REDUCED"``: a quarter at 5 %, none below), within the apparent
    power the current limit allows (S·min(1, V), the reactive share served first)."""
    p_pu = p_w / P_RATED
    fraction = 0.0 if p_pu < 0.05 else min(1.0, 0.25 + 0.75 * (p_pu - 0.05) / 0.15)
    return min(fraction * Q_RATED, min(1.0, v_pu) * S_VA)


def clip_q(q: float, p_w: float, v_pu: float) -> float:
    cap = q_capability(p_w, v_pu)
    return max(-cap, min(cap, q))


def compare(
    a: list[list[tuple[float, float]]],
    b: list[list[tuple[float, float]]],
    expected: Sequence[float],
    which: int,
    not_oracle: Sequence[int] = (),
) -> None:
    """End of every step: P and Q as OpenDER's (except at the steps ``not_oracle``, where the
    caller says why), quantity ``which`` (0 P, 1 Q) as ``expected``; the 90 % tick of every
    large move within one tick of OpenDER's."""
    before_a = before_b = 0.0
    for k, (sa, sb, want) in enumerate(zip(a, b, expected, strict=True)):
        if k not in not_oracle:
            assert sa[-1][0] == pytest.approx(sb[-1][0], abs=TOL_W), f"step {k}: P"
            assert sa[-1][1] == pytest.approx(sb[-1][1], abs=TOL_W), f"step {k}: Q"
        assert sa[-1][which] == pytest.approx(want, abs=TOL_W), f"step {k}: against the curve"
        if k and k not in not_oracle and k - 1 not in not_oracle:
            ta = tick_90([x[which] for x in sa], before_a)
            tb = tick_90([x[which] for x in sb], before_b)
            assert (ta is None) == (tb is None), f"step {k}: only one side moved"
            if ta is not None and tb is not None:
                assert abs(ta - tb) <= 1, f"step {k}: 90 % at tick {ta} against {tb}"
        before_a, before_b = sa[-1][which], sb[-1][which]


# --- volt-var (IEEE 1547.1 §5.14.4) -------------------------------------------------------------

# The three characteristics for category B (V in pu; Q in var, + injects; open-loop response s)
VV_CHARACTERISTICS = {
    1: ((0.92, 0.98, 1.02, 1.08), (Q_RATED, 0.0, 0.0, -Q_RATED), 5.0),
    2: ((0.88, 1.04, 1.07, 1.10), (Q_RATED, Q_RATED / 2, Q_RATED / 2, -Q_RATED), 1.0),
    3: ((0.90, 0.93, 0.96, 1.10), (Q_RATED, -Q_RATED / 2, -Q_RATED / 2, -Q_RATED), 90.0),
}


def vv_steps(v: Sequence[float], v_ref: float = 1.0) -> list[float]:
    """``create_vv_dict_steps``: the capacitive half (steps G–R) then the inductive (S–Z...),
    rounded to 0.01 pu and held inside [V_L, V_H]."""
    v1, v2, v3, v4 = v
    raw = [
        v3 - A_V, v3 + A_V, (v3 + v4) / 2, v4 - A_V, v4 + A_V, V_H - A_V,
        v4 + A_V, v4 - A_V, (v3 + v4) / 2, v3 + A_V, v3 - A_V, v_ref,
        v2 + A_V, v2 - A_V, (v1 + v2) / 2, v1 + A_V, v1 - A_V, V_L + A_V,
        v1 - A_V, v1 + A_V, (v1 + v2) / 2, v2 - A_V, v2 + A_V, v_ref,
    ]  # fmt: skip
    return [min(max(round(x, 2), V_L), V_H) for x in raw]


@pytest.mark.parametrize("characteristic", [1, 2, 3])
@pytest.mark.usefixtures("oracle")
def test_volt_var_procedure_matches_opender_and_the_characteristic(characteristic: int) -> None:
    v, q, olrt = VV_CHARACTERISTICS[characteristic]
    ours = ours_with(
        "B",
        "III",
        volt_var=VoltVarSettings(
            enabled=True,
            pt=tuple((100 * vi, 100 * qi / Q_RATED) for vi, qi in zip(v, q, strict=True)),
            rsp_tms_s=olrt,
        ),
    )
    der = make_oracle(
        "B",
        "III",
        QV_MODE_ENABLE=True,
        **{f"QV_CURVE_V{i + 1}": v[i] for i in range(4)},
        **{f"QV_CURVE_Q{i + 1}": q[i] / S_VA for i in range(4)},
        QV_OLRT=olrt,
    )
    steps = [1.0, *vv_steps(v)]
    a, b = play(ours, der, [(x, 60.0, P_RATED) for x in steps], hold_ticks(olrt))
    expected = [clip_q(interp(x, v, q), a[k][-1][0], x) for k, x in enumerate(steps)]
    compare(a, b, expected, which=1)


# --- volt-var with the autonomous V_ref (IEEE 1547.1 §5.14.5) ----------------------------------


@pytest.mark.parametrize("v_step", [1.05, 0.95])
@pytest.mark.usefixtures("oracle")
def test_volt_var_v_ref_procedure_follows_the_voltage_like_opender(v_step: float) -> None:
    """Characteristic 1 with V_ref adjustment on (τ = 300 s): a step of ±5 % is first answered by
    the curve, then V_ref follows the voltage and Q returns to 0, both ways; Q at 1×, 2× and 5×
    the time constant as OpenDER's, and within 10 % of its step at 5 τ (e⁻⁵ is 0.7 %)."""
    v, q, olrt = VV_CHARACTERISTICS[1]
    vv = dataclasses.replace(
        category_defaults("B", "III", RATING).volt_var,
        enabled=True,
        v_ref_auto_ena=True,
        v_ref_auto_tms_s=300.0,
    )
    ours = ours_with("B", "III", volt_var=vv)
    der = make_oracle("B", "III", QV_MODE_ENABLE=True, QV_VREF_AUTO_MODE=True, QV_VREF_TIME=300)
    n_tau = round(300.0 / DT)
    a, b = play(ours, der, [(1.0, 60.0, P_RATED), (v_step, 60.0, P_RATED)], 5 * n_tau)
    first = interp(v_step, v, q)
    assert a[1][hold_ticks(olrt)][1] == pytest.approx(first, rel=0.15)  # the curve answers first
    for k in (n_tau, 2 * n_tau, 5 * n_tau - 1):
        assert a[1][k][1] == pytest.approx(b[1][k][1], abs=TOL_W), k
    assert abs(a[1][-1][1]) <= 0.1 * abs(first)


# --- watt-var (IEEE 1547.1 §5.14.6) -------------------------------------------------------------

# P in W (P1 = 20 % since P_min is below it), Q in var; open-loop response 10 s
WV_CHARACTERISTICS = {
    1: ((0.2 * P_RATED, 0.5 * P_RATED, P_RATED), (0.0, 0.0, -0.44 * S_VA)),
    2: ((0.2 * P_RATED, 0.5 * P_RATED, P_RATED), (-0.22 * S_VA, -0.22 * S_VA, -0.44 * S_VA)),
    3: ((0.2 * P_RATED, 0.5 * P_RATED, P_RATED), (0.0, -0.44 * S_VA, -0.44 * S_VA)),
}
P_MIN = 0.05 * P_RATED


def wv_steps(p: Sequence[float]) -> list[float]:
    """``create_wv_dict_steps``: P_min, up through every point to P_rated, and back down."""
    p1, p2, p3 = p
    up = [
        P_MIN, p1 - A_P, p1 + A_P, (p1 + p2) / 2, p2 - A_P, p2 + A_P, (p2 + p3) / 2,
        p3 - A_P, p3 + A_P, P_RATED,
    ]  # fmt: skip
    down = [
        p3 + A_P, p3 - A_P, (p2 + p3) / 2, p2 + A_P, p2 - A_P, (p1 + p2) / 2, p1 + A_P,
        p1 - A_P, P_MIN,
    ]  # fmt: skip
    return [min(x, P_RATED) for x in up + down]


@pytest.mark.parametrize("characteristic", [1, 2, 3])
@pytest.mark.usefixtures("oracle")
def test_watt_var_procedure_matches_opender_and_the_characteristic(characteristic: int) -> None:
    p, q = WV_CHARACTERISTICS[characteristic]
    load_side = category_defaults("B", "III", RATING).watt_var.pt[:3]
    ours = ours_with(
        "B",
        "III",
        watt_var=WattVarSettings(
            enabled=True,
            pt=(
                *load_side,
                *((100 * pi / P_RATED, 100 * qi / Q_RATED) for pi, qi in zip(p, q, strict=False)),
            ),
            rsp_tms_s=10.0,
        ),
    )
    der = make_oracle(
        "B",
        "III",
        QP_MODE_ENABLE=True,
        **{f"QP_CURVE_P{i + 1}_GEN": p[i] / P_RATED for i in range(3)},
        **{f"QP_CURVE_Q{i + 1}_GEN": q[i] / S_VA for i in range(3)},
        QP_RT=10.0,
    )
    steps = wv_steps(p)
    a, b = play(ours, der, [(1.0, 60.0, x) for x in steps], hold_ticks(10.0))
    # The curve read at the measured P (near P_rated the VA circle lowers P: Q moves with it).
    # Below P1 it runs to the absorbing side's first point (P'1 = -20 %, Q'1 = 0) as OpenDER's
    # does; the scripts would hold Q1 there, a range where the standard sets no point.
    p_all, q_all = (-0.2 * P_RATED, *p), (0.0, *q)
    expected = [
        clip_q(interp(a[k][-1][0], p_all, q_all), a[k][-1][0], 1.0) for k in range(len(steps))
    ]
    compare(a, b, expected, which=1)


# --- constant power factor (IEEE 1547.1 §5.14.3) ------------------------------------------------


@pytest.mark.parametrize(
    ("pf", "ext"), [(0.90, "over"), (0.95, "over"), (0.90, "under"), (0.95, "under")]
)
@pytest.mark.usefixtures("oracle")
def test_constant_pf_procedure_matches_opender_and_the_power_factor(pf: float, ext: str) -> None:
    """PF_min and PF_mid, injecting and absorbing (the scripts' defaults 0.90 and 0.95): P to
    P_min, to P_rated, then the voltage to V_L + a, V_H − a and back to nominal. Q = P·tan φ
    at the measured P while it fits the var rating (at 0.90 and full power it is 4.84 kvar,
    above the 4.4 kvar rating: then the rating), the apparent power within the current limit.

    At V_L + a (0.895 pu) the current limit allows 8.95 kVA. OpenDER sets Q from the available
    power before that limit (4.4 kvar at 0.90) and then cuts P alone (its ``i_limit``), so it
    leaves the commanded factor (0.873 for 0.90); the procedure judges Q against P·tan φ at the
    measured P (IEEE 1547.1 §5.14.3), which holding the factor meets: P and Q both shrink. That
    step is compared with the standard's factor, not with OpenDER."""
    ours, der = constant_pf_pair(pf, ext)
    steps: list[Step] = [
        (1.0, 60.0, P_MIN),
        (1.0, 60.0, P_RATED),
        (V_L + A_V, 60.0, P_RATED),
        (V_H - A_V, 60.0, P_RATED),
        (1.0, 60.0, P_RATED),
    ]
    a, b = play(ours, der, steps, hold_ticks(5.0))
    sign = 1.0 if ext == "over" else -1.0
    expected = []
    for k, (v, _, p_avail) in enumerate(steps):
        p, q = a[k][-1]
        q_pf = sign * p * math.tan(math.acos(pf))
        expected.append(max(-Q_RATED, min(Q_RATED, q_pf)))
        assert p <= p_avail + 1e-6
        assert math.hypot(p, q) <= min(1.0, v) * S_VA + 1e-6
    compare(a, b, expected, which=1, not_oracle=(2,))
    assert abs(b[2][-1][1]) / math.hypot(*b[2][-1]) != pytest.approx(
        math.sin(math.acos(pf)), abs=0.01
    )


# --- volt-watt (IEEE 1547.1 §5.14.9) -----------------------------------------------------------

# V1, V2 in pu (P falls from P_rated at V1 to P2 = 0 at V2: P_min is below 20 %); response s
VW_CHARACTERISTICS = {1: (1.06, 1.10, 10.0), 2: (1.05, 1.10, 90.0), 3: (1.09, 1.10, 0.5)}


def vw_steps(v1: float, v2: float) -> list[float]:
    """``create_vw_dict_steps``: from V_L + a up past V2 to V_H − a and back down."""
    raw = [
        V_L + A_V, v1 - A_V, v1 + A_V, (v1 + v2) / 2, v2 - A_V, v2 + A_V, V_H - A_V,
        v2 + A_V, v2 - A_V, (v1 + v2) / 2, v1 + A_V, v1 - A_V, V_L + A_V,
    ]  # fmt: skip
    return [min(max(round(x, 2), V_L), V_H) for x in raw]


@pytest.mark.parametrize("characteristic", [1, 2, 3])
@pytest.mark.usefixtures("oracle")
def test_volt_watt_procedure_matches_opender_and_the_characteristic(characteristic: int) -> None:
    """At V_L + a the unit is current-limited (0.895 pu × 1.0 pu current = 8.95 kVA), so the
    expected P is the curve's or that limit, whichever is lower. Characteristic 3's response
    (0.5 s) is shorter than a tick: its 90 % tick is the first on both sides, but OpenDER's
    bilinear filter rings at that ratio (its pole is (2τ − T)/(2τ + T) = −0.55), so the compare
    of that characteristic checks the end of each step only."""
    v1, v2, olrt = VW_CHARACTERISTICS[characteristic]
    ours = ours_with(
        "B",
        "III",
        volt_watt=VoltWattSettings(
            enabled=True, pt=((100 * v1, 100.0), (100 * v2, 0.0)), rsp_tms_s=olrt
        ),
    )
    der = make_oracle(
        "B",
        "III",
        PV_MODE_ENABLE=True,
        PV_CURVE_V1=v1,
        PV_CURVE_P1=1.0,
        PV_CURVE_V2=v2,
        PV_CURVE_P2=0.0,
        PV_OLRT=olrt,
    )
    steps = vw_steps(v1, v2)
    a, b = play(ours, der, [(x, 60.0, P_RATED) for x in steps], hold_ticks(olrt))
    expected = [min(interp(x, (v1, v2), (P_RATED, 0.0)), min(1.0, x) * S_VA) for x in steps]
    if characteristic == 3:
        for k, want in enumerate(expected):
            assert a[k][-1][0] == pytest.approx(b[k][-1][0], abs=TOL_W), k
            assert a[k][-1][0] == pytest.approx(want, abs=TOL_W), k
    else:
        compare(a, b, expected, which=0)


# --- frequency droop (IEEE 1547.1 §5.15.2 above, §5.15.3 below nominal) -----------------------

# dead band Hz, droop (per unit of frequency per unit of power), response s, f_small Hz
FW_CHARACTERISTICS = {1: (0.036, 0.05, 5.0), 2: (0.017, 0.03, 0.2)}


def fw_steps(db: float, k: float, side: str) -> list[float]:
    """``create_fw_dict_steps``: f_small = 5 % of P_rated through the droop (p_small 0.05)."""
    small = 0.05 * 60.0 * k
    if side == "above":
        raw = [
            60 + db + A_F, 60 + db - A_F, 60 + db + A_F, 60 + db + small, F_H - A_F,
            F_H - small, 60 + db + A_F, 60 + db - A_F, 60.0,
        ]  # fmt: skip
        return [min(round(x, 3), F_H) for x in raw]
    raw = [
        60 + db - A_F, 60 - db - A_F, 60 - db - small, F_L + A_F, F_L + small,
        60 - db - A_F, 60 - db + A_F, 60.0,
    ]  # fmt: skip
    return [max(round(x, 3), F_L) for x in raw]


@pytest.mark.parametrize("side", ["above", "below"])
@pytest.mark.parametrize("characteristic", [1, 2])
@pytest.mark.usefixtures("oracle")
def test_frequency_droop_procedure_matches_opender_and_the_droop(
    characteristic: int, side: str
) -> None:
    """Above nominal from full power; below nominal with headroom, the unit held at 50 % by its
    active-power limit (1547.1 §5.15.3 runs below P_rated for that reason). P = P_pre −
    (f − 60 − db) / (60·k) · P_rated above, P_pre + (60 − db − f) / (60·k) · P_rated below, up
    to the available power."""
    db, k, olrt = FW_CHARACTERISTICS[characteristic]
    limited = side == "below"
    ours = ours_with(
        "B",
        "III",
        freq_droop=FreqDroopSettings(db_of_hz=db, db_uf_hz=db, k_of=k, k_uf=k, rsp_tms_s=olrt),
        active_power_limit=ActivePowerLimitSettings(enabled=limited, w_max_lim_pct=50.0),
    )
    der = make_oracle(
        "B",
        "III",
        PF_MODE_ENABLE=True,
        PF_DBOF=db,
        PF_DBUF=db,
        PF_KOF=k,
        PF_KUF=k,
        PF_OLRT=olrt,
        AP_LIMIT_ENABLE=limited,
        AP_LIMIT=0.5,
    )
    steps = [60.0, *fw_steps(db, k, side)]
    hold = hold_ticks(max(olrt, 15.0 if limited else 0.0))  # the AP limit's own 15 s response
    a, b = play(ours, der, [(1.0, f, P_RATED) for f in steps], hold)
    p_pre = 0.5 * P_RATED if limited else P_RATED
    expected = []
    for f in steps:
        if f > 60 + db:
            expected.append(max(0.0, p_pre - (f - 60 - db) / (60 * k) * P_RATED))
        elif f < 60 - db:
            expected.append(min(P_RATED, p_pre + (60 - db - f) / (60 * k) * P_RATED))
        else:
            expected.append(p_pre)
    compare(a, b, expected, which=0)


# --- enter service (IEEE 1547.1 §5.6) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("outside", "inside"),
    [
        ((0.917 - A_V, 60.0), (0.917 + A_V, 60.0)),  # below ES_V_LOW, then just inside
        ((1.05 + A_V, 60.0), (1.05 - A_V, 60.0)),  # above ES_V_HIGH
        ((1.0, 59.5 - A_F), (1.0, 59.5 + A_F)),  # below ES_F_LOW
        ((1.0, 60.1 + A_F), (1.0, 60.1 - A_F)),  # above ES_F_HIGH
    ],
)
@pytest.mark.usefixtures("oracle")
def test_enter_service_procedure_waits_in_the_window_like_opender(
    outside: tuple[float, float], inside: tuple[float, float]
) -> None:
    """After a trip (OV2, 1.25 pu for one tick) the grid sits just outside the enter-service
    window (the 1547 defaults 0.917–1.05 pu, 59.5–60.1 Hz, ± a) for longer than the delay and
    the ramp: neither unit energizes. Then just inside it, for half the delay, outside again
    for 5 ticks (the delay starts over) and inside: both wait the whole delay from the last
    return, then ramp to full power over the ramp time."""
    delay, ramp = 60.0, 30.0
    ours = ours_with(
        "B", "III", enter_service=EnterServiceSettings(es_dly_tms_s=delay, es_rmp_tms_s=ramp)
    )
    der = make_oracle("B", "III", ES_DELAY=delay, ES_RAMP_RATE=ramp)
    n_wait = round((delay + ramp) / DT) + 10
    half = round(delay / 2 / DT)
    sequence: list[Step] = [
        (1.0, 60.0, P_RATED),
        (1.0, 60.0, P_RATED),
        (1.25, 60.0, P_RATED),
        *[(*outside, P_RATED)] * n_wait,
        *[(*inside, P_RATED)] * half,
        *[(*outside, P_RATED)] * 5,
        *[(*inside, P_RATED)] * n_wait,
    ]
    a, b = play(ours, der, sequence, 1)
    pa = [s[0][0] for s in a]
    pb = [s[0][0] for s in b]
    back = 3 + n_wait + half + 5  # the first tick of the last return into the window
    assert max(pa[3:back]) == 0.0
    assert max(pb[3:back]) == 0.0
    first_a = next(i for i in range(back, len(pa)) if pa[i] > 0.0)
    first_b = next(i for i in range(back, len(pb)) if pb[i] > 0.0)
    full = 0.999 * min(P_RATED, inside[0] * S_VA)  # at 0.932 pu the current limit: 9.32 kW
    full_a = next(i for i in range(back, len(pa)) if pa[i] >= full)
    full_b = next(i for i in range(back, len(pb)) if pb[i] >= full)
    assert abs(first_a - first_b) <= 1
    assert abs(full_a - full_b) <= 1
    assert (first_a - back) * DT == pytest.approx(delay, abs=DT)
    assert (full_a - first_a) * DT == pytest.approx(ramp * full / P_RATED, abs=DT)


# --- trip by ramps (IEEE 1547.1 §5.4.2, §5.5.2: the magnitude test ramps toward the setting) --


@pytest.mark.parametrize(
    ("quantity", "start", "rate", "plateau", "cause"),
    [
        ("v", 1.0, 0.005, 1.12, "OV1"),  # pu/s, pu
        ("v", 1.15, 0.01, 1.22, "OV2"),
        ("v", 1.0, -0.005, 0.80, "UV1"),
        ("v", 0.70, -0.02, 0.40, "UV2"),
        ("f", 61.0, 0.01, 61.3, "OF1"),  # Hz/s, Hz
        ("f", 61.5, 0.05, 62.2, "OF2"),
        ("f", 59.0, -0.01, 58.4, "UF1"),
        ("f", 58.0, -0.05, 56.3, "UF2"),
    ],
)
@pytest.mark.usefixtures("oracle")
def test_a_ramp_trips_at_the_setting_after_its_clearing_time_like_opender(
    quantity: str, start: float, rate: float, plateau: float, cause: str
) -> None:
    """The grid steps to ``start`` and ramps through the trip threshold to ``plateau`` (beyond
    it, short of the next point) and holds there; the trip comes the clearing time after the
    ramp crosses the threshold (within 20 ms, the ramp read inside the ticks), and OpenDER,
    which reads the ramp at its steps and counts whole steps, trips within two ticks of it."""
    ours = ours_with("B", "III")
    der = make_oracle("B", "III", ES_DELAY=300)
    trip = ours.unit.settings.trip
    curve = {"UV": trip.lv, "OV": trip.hv, "UF": trip.lf, "OF": trip.hf}[cause[:2]]
    point: TripPoint = curve.must_trip[int(cause[2]) - 1]
    threshold = point.threshold / 100 if quantity == "v" else point.threshold
    nominal = 1.0 if quantity == "v" else 60.0
    t0 = 2 * DT  # two nominal ticks (OpenDER's timers start at infinity), a step to ``start``
    t_plateau = t0 + (plateau - start) / rate
    crossing = t0 + (threshold - start) / rate
    ramp = series([(0.0, nominal), (t0, nominal), (t0, start), (t_plateau, plateau)])

    def grid_at(t: float) -> GridSample:
        x = ramp.at(t)[0]
        return GridSample(x, x, 60.0) if quantity == "v" else GridSample(1.0, 1.0, x)

    ticks = math.ceil((crossing + point.tms_s) / DT) + 3
    der_trip_tick = None
    for i in range(ticks):
        sample = grid_at((i + 1) * DT)
        v, f = sample.v_lo_pu, sample.f_hz
        ours.step(v, f, P_RATED, grid_at=grid_at, corners=(t0, t_plateau))
        der.update_der_input(v_pu=v, f=f, theta=0, p_dc_w=P_RATED)
        der.run()
        if der_trip_tick is None and der.der_status == "Trip":
            der_trip_tick = i
    event = ours.unit.last_trip
    assert event is not None
    assert event.cause == cause
    assert event.time_s == pytest.approx(crossing + point.tms_s, abs=0.02)
    assert der_trip_tick is not None
    assert abs(der_trip_tick - (math.ceil(event.time_s / DT) - 1)) <= 2


# --- ride-through (IEEE 1547.1 §6.4: category III LVRT and HVRT test conditions) ---------------

# (residual voltage pu, minimum duration s) for conditions A, B, C, D, E of 1547.1 Table 5 (LVRT)
# and A, B, C of Table 8 (HVRT), category III, "Figure" values with 2·MRA(V) margins
LVRT_III = [
    (0.94, 5.0),
    (0.05 - 2 * MRA_V, 1.0),
    (0.50 - 2 * MRA_V, 9.0),
    (0.70, 10.0),
    (0.94, 120.0),
]
HVRT_III = [(1.05, 5.0), (1.20 - 2 * MRA_V, 12.0), (1.05, 120.0)]


def profile_ticks(conditions: list[tuple[float, float]]) -> tuple[list[float], list[int | None]]:
    """The profile's voltage at the end of every tick and, per tick, the condition that holds
    over the whole tick, its end included (None where a tick straddles two). At an edge the
    next condition holds, as in a grid event's series."""
    edges = [0.0]
    for _, duration in conditions:
        edges.append(edges[-1] + duration)
    edges[-1] = math.inf  # the last condition holds on

    def at(t: float) -> int:
        return next(j for j in range(len(conditions)) if edges[j] <= t < edges[j + 1])

    ends: list[float] = []
    whole: list[int | None] = []
    for i in range(math.floor(sum(d for _, d in conditions) / DT)):
        first, last = at(i * DT), at((i + 1) * DT)
        ends.append(conditions[last][0])
        whole.append(first if first == last else None)
    return ends, whole


@pytest.mark.parametrize("test", ["LVRT", "HVRT"])
@pytest.mark.usefixtures("oracle")
def test_category_iii_ride_through_conditions_are_ridden_through_like_opender(test: str) -> None:
    conditions = LVRT_III if test == "LVRT" else HVRT_III
    base = category_defaults("B", "III", RATING)
    lv = dataclasses.replace(
        base.trip.lv, must_trip=(TripPoint(88.0, 50.0), TripPoint(50.0, 21.0))
    )  # the longest clearing times category III allows: the trips do not influence the test
    ours = ours_with("B", "III", trip=dataclasses.replace(base.trip, lv=lv))
    der = make_oracle("B", "III", UV1_TRIP_T=50.0, UV2_TRIP_T=21.0)
    edges = [0.0]
    for _, duration in conditions:
        edges.append(edges[-1] + duration)
    points: list[tuple[float, float]] = []
    for (v, _), t0, t1 in zip(conditions, edges, edges[1:], strict=False):
        points += [(t0, v), (t1, v)]
    profile = series(points)

    def grid_at(t: float) -> GridSample:
        x = profile.at(t)[0]
        return GridSample(x, x, 60.0)

    ends, whole = profile_ticks(conditions)
    a: list[tuple[float, float]] = []
    b: list[tuple[float, float]] = []
    states: list[str] = []
    for v in ends:
        a.append(ours.step(v, 60.0, P_RATED, grid_at=grid_at, corners=edges[1:-1]))
        states.append(ours.unit.state)
        der.update_der_input(v_pu=v, f=60.0, theta=0, p_dc_w=P_RATED)
        pb, qb = der.run()
        b.append((float(pb), float(qb)))
    assert ours.unit.last_trip is None
    assert der.der_status != "Trip"
    seen = {states[i] for i, k in enumerate(whole) if k is not None}
    assert seen >= (
        {"momentary_cessation", "mandatory"} if test == "LVRT" else {"momentary_cessation"}
    )
    for i, k in enumerate(whole):
        if k is None:
            continue
        v = conditions[k][0]
        assert a[i][0] == pytest.approx(b[i][0], abs=TOL_W), (i, v)
        assert a[i][1] == pytest.approx(b[i][1], abs=TOL_W), (i, v)
        if v < 0.50 or v > 1.10:  # momentary cessation (IEEE 1547-2018 Table 16)
            assert a[i] == (0.0, 0.0)
            assert states[i] == "momentary_cessation"
        elif v < 0.88:  # mandatory operation at the current limit: S = V · 1.0 pu
            assert math.hypot(*a[i]) == pytest.approx(v * S_VA, abs=TOL_W)
            assert states[i] == "mandatory"
        else:  # continuous: full power, or what the current allows below 1.0 pu
            assert a[i][0] == pytest.approx(min(P_RATED, v * S_VA), abs=TOL_W)
    # the output is back on the first tick wholly after the last disturbance
    last = next(i for i, k in enumerate(whole) if k == len(conditions) - 1)
    v_last = conditions[-1][0]
    assert a[last][0] == pytest.approx(min(P_RATED, v_last * S_VA), abs=TOL_W)


# --- frequency ride-through (IEEE 1547-2018 §6.5.2) ------------------------------------------


@pytest.mark.parametrize("f", [61.7, 57.1])
@pytest.mark.usefixtures("oracle")
def test_frequency_is_ridden_through_for_299_s_in_the_mandatory_band_like_opender(
    f: float,
) -> None:
    """61.2–61.8 and 57.0–58.8 Hz: mandatory operation for at least 299 s; OF1/UF1 (300 s)
    do not trip within it, and the droop sets P as OpenDER's (from full power above nominal;
    below it with headroom from a 50 % limit)."""
    below = f < 60.0
    ours = ours_with(
        "B",
        "III",
        freq_droop=FreqDroopSettings(),
        active_power_limit=ActivePowerLimitSettings(enabled=below, w_max_lim_pct=50.0),
    )
    der = make_oracle("B", "III", PF_MODE_ENABLE=True, AP_LIMIT_ENABLE=below, AP_LIMIT=0.5)
    n = math.floor(299.0 / DT)
    steps: list[Step] = [(1.0, 60.0, P_RATED), (1.0, f, P_RATED)]
    play(ours, der, steps[:1], 20)
    a2, b2 = play(ours, der, steps[1:], n)
    assert ours.unit.last_trip is None
    assert der.der_status != "Trip"
    assert ours.unit.state == "mandatory"
    assert a2[0][-1][0] == pytest.approx(b2[0][-1][0], abs=TOL_W)
    droop = (f - 60.036) / 3.0 if f > 60 else (59.964 - f) / 3.0
    want = min(1.0, 0.5 + droop) if below else 1.0 - droop
    assert a2[0][-1][0] == pytest.approx(want * P_RATED, abs=TOL_W)
