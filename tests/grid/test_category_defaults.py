"""The default settings of every pair of IEEE 1547-2018 performance categories, against the
published numbers and against the defaults OpenDER 2.2.0 loads for the same categories.

Published numbers quoted (IEEE 1547-2018; per-unit of V_nom, % of the apparent power rating S):

* Table 8 (volt-var, §5.3.3): category A V1 0.90 / Q1 25 % injecting, V2 = V3 = 1.00 (V_ref),
  V4 1.10 / Q4 25 % absorbing, OLRT 10 s; category B V1 0.92 / Q1 44 % injecting, V2 0.98,
  V3 1.02, V4 1.08 / Q4 44 % absorbing, OLRT 5 s; V_ref 1.00.
* §5.3.4 (watt-var): P1 0.2, P2 0.5, P3 1.0 of P_rated with Q1 = Q2 = 0 and Q3 44 % (B) or
  25 % (A) of S absorbing; the absorbing side mirrored (P'1..P'3 = −0.2, −0.5, −1.0).
* §5.4.2 (volt-watt): V1 1.06 / P1 P_rated, V2 1.10 / P2 0 (the lesser of 0.2 P_rated and
  P_min, which is 0 for these units), OLRT 10 s.
* §6.5.2.7.2 (frequency droop): dead bands 0.036 Hz, droops 0.05, OLRT 5 s, every category.
* §4.10.2, §4.10.3 (enter service): 0.917–1.05 V_nom, 59.5–60.1 Hz, 300 s delay, 300 s ramp.
* Table 11 (category I): OV2 1.20 / 0.16 s, OV1 1.10 / 2 s, UV1 0.70 / 2 s, UV2 0.45 / 0.16 s.
* Table 12 (category II): as category I but UV1 0.70 / 10 s.
* Table 13 (category III): OV2 1.20 / 0.16 s, OV1 1.10 / 13 s, UV1 0.88 / 21 s, UV2 0.50 / 2 s;
  momentary cessation below 0.50 and above 1.10 V_nom (§6.4.2, Table 16; OpenDER
  ``MC_LVRT_V1`` 0.5, ``MC_HVRT_V1`` 1.1).
* Table 18 (frequency trips, every category): OF2 62.0 Hz / 0.16 s, OF1 61.2 / 300 s,
  UF1 58.5 / 300 s, UF2 56.5 / 0.16 s.

OpenDER differs in one default, which the last test pins: for category A it sets the watt-var
curve's injecting-side Q3 to −25 % of S but leaves the absorbing side's Q'3 at +44 %
(``common_file_format.py``, the ``NP_NORMAL_OP_CAT`` setter); the project uses the category's
25 % on both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import opender
import pytest

from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.settings import category_defaults

RATING = GridRating(w_max_kw=10.0, va_max_kva=10.0, var_max_inj_kvar=4.4, var_max_abs_kvar=4.4)
CATEGORY = {"A": "CAT_A", "B": "CAT_B", "I": "CAT_I", "II": "CAT_II", "III": "CAT_III"}
PAIRS = [(n, a) for n in ("A", "B") for a in ("I", "II", "III")]

PUBLISHED_VV = {  # Table 8: (V pu, Q % of S) V1..V4, OLRT s
    "A": ([(0.90, 25.0), (1.00, 0.0), (1.00, 0.0), (1.10, -25.0)], 10.0),
    "B": ([(0.92, 44.0), (0.98, 0.0), (1.02, 0.0), (1.08, -44.0)], 5.0),
}
PUBLISHED_TRIPS = {  # Tables 11–13: (V pu, clearing s) of UV1, UV2, OV1, OV2; MC thresholds
    "I": ([(0.70, 2.0), (0.45, 0.16)], [(1.10, 2.0), (1.20, 0.16)], None),
    "II": ([(0.70, 10.0), (0.45, 0.16)], [(1.10, 2.0), (1.20, 0.16)], None),
    "III": ([(0.88, 21.0), (0.50, 2.0)], [(1.10, 13.0), (1.20, 0.16)], (0.50, 1.10)),
}
PUBLISHED_FREQ = ([(58.5, 300.0), (56.5, 0.16)], [(61.2, 300.0), (62.0, 0.16)])  # Table 18


class _Pairs:
    """``pytest.approx`` for a list of pairs (approx takes flat sequences only)."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        def flat(xs: Any) -> list[float]:
            return [float(x) for pair in xs for x in (pair if isinstance(pair, tuple) else [pair])]

        return bool(flat(other) == pytest.approx(flat(self.expected)))

    def __repr__(self) -> str:
        return f"approx {self.expected!r}"


def approx_pairs(expected: Any) -> Any:
    return _Pairs(expected)


@pytest.fixture
def quiet() -> Iterator[None]:
    """OpenDER logs its settings warnings on the root logger: silenced, then restored."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    yield
    root.setLevel(level)


def opender_defaults(normal: str, abnormal: str) -> Any:
    """The settings object OpenDER builds for a unit of these categories (categories first:
    their setters load the category defaults)."""
    der = opender.DER_PV(
        NP_NORMAL_OP_CAT=CATEGORY[normal],
        NP_ABNORMAL_OP_CAT=CATEGORY[abnormal],
        NP_VA_MAX=10_000,
        NP_P_MAX=10_000,
        NP_Q_MAX_INJ=4_400,
        NP_Q_MAX_ABS=4_400,
    )
    return der.der_file


@pytest.mark.parametrize(("normal", "abnormal"), PAIRS)
def test_category_defaults_are_the_published_numbers(normal: str, abnormal: str) -> None:
    s = category_defaults(normal, abnormal, RATING)  # type: ignore[arg-type]
    # Q in % of the var rating on its side: 44 % of S over a 0.44 S rating is 100 %.
    to_pct_of_s = 44.0 / 100.0
    points, olrt = PUBLISHED_VV[normal]
    assert [(v / 100.0, q * to_pct_of_s) for v, q in s.volt_var.pt] == approx_pairs(points)
    assert s.volt_var.rsp_tms_s == olrt
    assert s.volt_var.v_ref_pct == 100.0
    q3 = {"A": 25.0, "B": 44.0}[normal]
    assert [(w, q * to_pct_of_s) for w, q in s.watt_var.pt] == approx_pairs(
        [(-100.0, q3), (-50.0, 0.0), (-20.0, 0.0), (20.0, 0.0), (50.0, 0.0), (100.0, -q3)]
    )
    assert s.volt_watt.pt == ((106.0, 100.0), (110.0, 0.0))
    assert s.volt_watt.rsp_tms_s == 10.0
    fd = s.freq_droop
    assert (fd.enabled, fd.db_of_hz, fd.db_uf_hz, fd.k_of, fd.k_uf, fd.rsp_tms_s) == (
        True,
        0.036,
        0.036,
        0.05,
        0.05,
        5.0,
    )
    es = s.enter_service
    assert (es.es_v_lo_pct, es.es_v_hi_pct, es.es_hz_lo, es.es_hz_hi) == (91.7, 105.0, 59.5, 60.1)
    assert (es.es_dly_tms_s, es.es_rnd_tms_s, es.es_rmp_tms_s) == (300.0, 0.0, 300.0)
    lv, hv, mc = PUBLISHED_TRIPS[abnormal]
    assert [(p.threshold / 100.0, p.tms_s) for p in s.trip.lv.must_trip] == approx_pairs(lv)
    assert [(p.threshold / 100.0, p.tms_s) for p in s.trip.hv.must_trip] == approx_pairs(hv)
    got_mc = (s.trip.lv.mom_cess_v_pct, s.trip.hv.mom_cess_v_pct)
    if mc is None:
        assert got_mc == (None, None)
    else:
        assert (got_mc[0] / 100.0, got_mc[1] / 100.0) == approx_pairs(mc)  # type: ignore[operator]
    lf, hf = PUBLISHED_FREQ
    assert [(p.threshold, p.tms_s) for p in s.trip.lf.must_trip] == lf
    assert [(p.threshold, p.tms_s) for p in s.trip.hf.must_trip] == hf
    # Unity power factor: no reactive mode, no other function on.
    assert s.reactive_mode is None
    assert s.active_functions == ["freq_droop"]


@pytest.mark.parametrize(("normal", "abnormal"), PAIRS)
def test_category_defaults_match_opender(normal: str, abnormal: str, quiet: None) -> None:
    s = category_defaults(normal, abnormal, RATING)  # type: ignore[arg-type]
    f = opender_defaults(normal, abnormal)
    pu = 4.4 / 10.0  # the var rating in pu of S
    assert [(v / 100.0, q / 100.0 * pu) for v, q in s.volt_var.pt] == approx_pairs(
        [
            (f.QV_CURVE_V1, f.QV_CURVE_Q1),
            (f.QV_CURVE_V2, f.QV_CURVE_Q2),
            (f.QV_CURVE_V3, f.QV_CURVE_Q3),
            (f.QV_CURVE_V4, f.QV_CURVE_Q4),
        ]
    )
    assert s.volt_var.rsp_tms_s == f.QV_OLRT
    assert s.volt_var.v_ref_pct / 100.0 == f.QV_VREF
    assert s.volt_var.v_ref_auto_tms_s == f.QV_VREF_TIME
    gen = [(p / 100.0, q / 100.0 * pu) for p, q in s.watt_var.pt[3:]]
    assert gen == approx_pairs(
        [
            (f.QP_CURVE_P1_GEN, f.QP_CURVE_Q1_GEN),
            (f.QP_CURVE_P2_GEN, f.QP_CURVE_Q2_GEN),
            (f.QP_CURVE_P3_GEN, f.QP_CURVE_Q3_GEN),
        ]
    )
    load = [(p / 100.0, q / 100.0 * pu) for p, q in s.watt_var.pt[:3]]
    opender_load = [
        (f.QP_CURVE_P3_LOAD, f.QP_CURVE_Q3_LOAD),
        (f.QP_CURVE_P2_LOAD, f.QP_CURVE_Q2_LOAD),
        (f.QP_CURVE_P1_LOAD, f.QP_CURVE_Q1_LOAD),
    ]
    if normal == "B":
        assert load == approx_pairs(opender_load)
    assert [(v / 100.0, w / 100.0) for v, w in s.volt_watt.pt] == approx_pairs(
        [(f.PV_CURVE_V1, f.PV_CURVE_P1), (f.PV_CURVE_V2, f.PV_CURVE_P2)]
    )
    assert s.volt_watt.rsp_tms_s == f.PV_OLRT
    # Response times the standard leaves open: OpenDER's model parameters (AP_RT 15 s for the
    # active power limit; CONST_PF_RT, CONST_Q_RT and QP_RT 5 s).
    assert s.active_power_limit.rsp_tms_s == f.AP_RT
    assert s.constant_pf.rsp_tms_s == f.CONST_PF_RT
    assert s.constant_q.rsp_tms_s == f.CONST_Q_RT
    assert s.watt_var.rsp_tms_s == f.QP_RT
    fd = s.freq_droop
    assert (fd.db_of_hz, fd.db_uf_hz, fd.k_of, fd.k_uf, fd.rsp_tms_s) == (
        f.PF_DBOF,
        f.PF_DBUF,
        f.PF_KOF,
        f.PF_KUF,
        f.PF_OLRT,
    )
    es = s.enter_service
    assert (es.es_v_lo_pct / 100.0, es.es_v_hi_pct / 100.0) == approx_pairs(
        (f.ES_V_LOW, f.ES_V_HIGH)
    )
    assert (es.es_hz_lo, es.es_hz_hi, es.es_dly_tms_s, es.es_rmp_tms_s) == (
        f.ES_F_LOW,
        f.ES_F_HIGH,
        f.ES_DELAY,
        f.ES_RAMP_RATE,
    )
    assert es.es_rnd_tms_s == f.ES_RANDOMIZED_DELAY
    uv1, uv2 = s.trip.lv.must_trip
    ov1, ov2 = s.trip.hv.must_trip
    uf1, uf2 = s.trip.lf.must_trip
    of1, of2 = s.trip.hf.must_trip
    assert [(p.threshold / 100.0, p.tms_s) for p in (uv1, uv2, ov1, ov2)] == approx_pairs(
        [
            (f.UV1_TRIP_V, f.UV1_TRIP_T),
            (f.UV2_TRIP_V, f.UV2_TRIP_T),
            (f.OV1_TRIP_V, f.OV1_TRIP_T),
            (f.OV2_TRIP_V, f.OV2_TRIP_T),
        ]
    )
    assert [(p.threshold, p.tms_s) for p in (uf1, uf2, of1, of2)] == [
        (f.UF1_TRIP_F, f.UF1_TRIP_T),
        (f.UF2_TRIP_F, f.UF2_TRIP_T),
        (f.OF1_TRIP_F, f.OF1_TRIP_T),
        (f.OF2_TRIP_F, f.OF2_TRIP_T),
    ]
    assert (s.trip.lv.mom_cess_v_pct is not None) == bool(f.MC_ENABLE)
    if f.MC_ENABLE:
        assert s.trip.lv.mom_cess_v_pct / 100.0 == pytest.approx(f.MC_LVRT_V1)  # type: ignore[operator]
        assert s.trip.hv.mom_cess_v_pct / 100.0 == pytest.approx(f.MC_HVRT_V1)  # type: ignore[operator]


def test_opender_keeps_the_category_b_absorbing_watt_var_point_for_category_a(
    quiet: None,
) -> None:
    """The one default where OpenDER and the project part: OpenDER's category A unit keeps
    Q'3 = +44 % of S on the absorbing side while its injecting side's Q3 becomes −25 %."""
    f = opender_defaults("A", "III")
    assert f.QP_CURVE_Q3_GEN == -0.25
    assert f.QP_CURVE_Q3_LOAD == 0.44
    s = category_defaults("A", "III", RATING)
    assert s.watt_var.pt[0][1] / 100.0 * 0.44 == pytest.approx(0.25)
