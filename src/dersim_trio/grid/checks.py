"""The standard's ranges of adjustment of every grid-support setting, and the check a device's
new settings must pass before they apply.

Ranges (IEEE 1547-2018, the clause OpenDER 2.2.0 cites for each in ``common_file_format.py``,
where its settings checks give the same numbers; the trip ranges per category are those of
Tables 11–13 and 18). Units: voltages in % of V_nom, frequencies in Hz, times in s, powers in
% of the rating named by the SunSpec point (``var_pct`` of the var rating on its side, ``w_pct``
of ``WMaxRtg``, negative ``w_pct`` of the charge rating).

=====================  ======================================================================
function               settings and ranges
=====================  ======================================================================
enter service §4.10    ``es_v_lo_pct`` 88–95, ``es_v_hi_pct`` 105–106, ``es_hz_lo`` 59.0–59.9,
                       ``es_hz_hi`` 60.1–61.0, ``es_dly_tms_s`` 0–600, ``es_rnd_tms_s`` 0 (off)
                       or 1–1000, ``es_rmp_tms_s`` 1–1000
constant PF §5.3.2     ``pf_w_inj``/``pf_w_abs`` in (0, 1] (SunSpec 704's range; the reactive
                       power is held to the §5.2 capability), ``rsp_tms_s`` 0–10
constant Q §5.3.5      ``var_set_pct`` −100–100, ``rsp_tms_s`` 0–10
volt-var §5.3.3        ``v_ref_pct`` 95–105, ``v_ref_auto_tms_s`` 300–5000, ``rsp_tms_s`` 1–90;
(Table 8)              four points, voltages as set for V_ref = 100 %: V1 82..V2−2, V2 97–100,
                       V3 100–103, V4 V3+2..118; Q1 0–100, Q2 and Q3 −100–100, Q4 −100–0
watt-var §5.3.4        six points by ``w_pct``: P'3 −100..P'2−10, P'2 −80..−40, P'1 P'2+10..0,
                       P1 0..P2−10, P2 40–80, P3 P2+10..100; every ``var_pct`` −100–100;
                       ``rsp_tms_s`` 0–10
volt-watt §5.4.2       two points: V1 105–109, V2 V1+1..110, P1 P2..100, P2 0–100 (−100–100
                       for units that absorb); ``rsp_tms_s`` 0.5–60
freq. droop            ``db_of_hz``/``db_uf_hz`` 0.017–1.0; ``k_of``/``k_uf`` 0.02–0.05 and
§6.5.2.7.2             ``rsp_tms_s`` 0.2–10 (category III), 0.03–0.05 and 1–10 (I, II);
                       ``p_min_pct`` 0–100 (−100–100 for units that absorb)
AP limit §4.6.2        ``w_max_lim_pct`` 0–100, ``rsp_tms_s`` 0–30
trip §6.4.1, §6.5.1    see ``TRIP_RANGES``
=====================  ======================================================================

Beyond single ranges: the curves' points must be in order (voltages or powers rising; volt-var
reactive power and volt-watt active power not rising with voltage, which the network solve of
``network`` relies on), and a must-trip curve's second point (further from nominal) must be
further out and clear no slower than its first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from dersim_trio.errors import FieldProblem
from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.ride_through import AbnormalCategory
from dersim_trio.grid.settings import GridSettings
from dersim_trio.grid.trip import FrequencyTripCurve, VoltageTripCurve


@dataclass(frozen=True, slots=True)
class Span:
    """An allowed closed range ``lo..hi`` of one setting, with its unit."""

    lo: float
    hi: float
    unit: str = ""

    def text(self) -> str:
        """``88..95 %`` (the allowed range, as a 422 states it)."""
        unit = f" {self.unit}" if self.unit else ""
        if self.lo == self.hi:
            return f"{self.lo:g}{unit} (fixed)"
        return f"{self.lo:g}..{self.hi:g}{unit}"

    def holds(self, value: float) -> bool:
        """True when ``value`` is inside (with 1e-9 of slack for decimal input)."""
        return self.lo - 1e-9 <= value <= self.hi + 1e-9


ES_V_LO_PCT = Span(88.0, 95.0, "%")
ES_V_HI_PCT = Span(105.0, 106.0, "%")
ES_HZ_LO = Span(59.0, 59.9, "Hz")
ES_HZ_HI = Span(60.1, 61.0, "Hz")
ES_DLY_TMS_S = Span(0.0, 600.0, "s")
ES_RND_TMS_S = Span(1.0, 1000.0, "s")
"""When not 0 (off)."""
ES_RMP_TMS_S = Span(1.0, 1000.0, "s")
PF = Span(0.0, 1.0)
"""(0, 1]: 0 itself is refused."""
PF_RSP_TMS_S = Span(0.0, 10.0, "s")
VAR_SET_PCT = Span(-100.0, 100.0, "%")
Q_RSP_TMS_S = Span(0.0, 10.0, "s")
VV_V_REF_PCT = Span(95.0, 105.0, "%")
VV_V_REF_AUTO_TMS_S = Span(300.0, 5000.0, "s")
VV_RSP_TMS_S = Span(1.0, 90.0, "s")
VV_V_PCT = Span(82.0, 118.0, "%")
"""The widest any volt-var point may go (V1 ≥ V_ref − 18 %, V4 ≤ V_ref + 18 %)."""
VAR_PCT = Span(-100.0, 100.0, "%")
WV_W_PCT = Span(-100.0, 100.0, "%")
WV_RSP_TMS_S = Span(0.0, 10.0, "s")
VW_V_PCT = Span(105.0, 110.0, "%")
VW_W_PCT = Span(-100.0, 100.0, "%")
VW_RSP_TMS_S = Span(0.5, 60.0, "s")
FD_DB_HZ = Span(0.017, 1.0, "Hz")
FD_K = Span(0.02, 0.05)
"""Widest (category III); categories I and II: 0.03..0.05."""
FD_RSP_TMS_S = Span(0.2, 10.0, "s")
"""Widest (category III); categories I and II: 1..10 s."""
FD_P_MIN_PCT = Span(-100.0, 100.0, "%")
AP_W_MAX_LIM_PCT = Span(0.0, 100.0, "%")
AP_RSP_TMS_S = Span(0.0, 30.0, "s")
TRIP_V_PCT = Span(0.0, 120.0, "%")
TRIP_HZ = Span(50.0, 66.0, "Hz")
TRIP_TMS_S = Span(0.16, 1000.0, "s")
MOM_CESS_LV_PCT = Span(0.0, 88.0, "%")
MOM_CESS_HV_PCT = Span(110.0, 120.0, "%")

_FD_K_BY_CATEGORY: dict[AbnormalCategory, Span] = {
    "I": Span(0.03, 0.05),
    "II": Span(0.03, 0.05),
    "III": FD_K,
}
_FD_RSP_BY_CATEGORY: dict[AbnormalCategory, Span] = {
    "I": Span(1.0, 10.0, "s"),
    "II": Span(1.0, 10.0, "s"),
    "III": FD_RSP_TMS_S,
}

TRIP_RANGES: dict[AbnormalCategory, dict[str, tuple[tuple[Span, Span], tuple[Span, Span]]]] = {
    category: {
        # (threshold, clearing time) of point 1 and point 2: UV1/UV2, OV1/OV2, UF1/UF2, OF1/OF2
        "lv": (
            (
                Span(0.0, 88.0, "%"),
                Span(21.0, 50.0, "s") if category == "III" else Span(2.0, 21.0, "s"),
            ),
            (
                Span(0.0, 50.0, "%"),
                Span(2.0, 21.0, "s") if category == "III" else Span(0.16, 2.0, "s"),
            ),
        ),
        "hv": (
            (Span(110.0, 120.0, "%"), Span(1.0, 13.0, "s")),
            (Span(120.0, 120.0, "%"), Span(0.16, 0.16, "s")),
        ),
        "lf": (
            (Span(50.0, 59.0, "Hz"), Span(180.0, 1000.0, "s")),
            (Span(50.0, 57.0, "Hz"), Span(0.16, 1000.0, "s")),
        ),
        "hf": (
            (Span(61.0, 66.0, "Hz"), Span(180.0, 1000.0, "s")),
            (Span(61.8, 66.0, "Hz"), Span(0.16, 1000.0, "s")),
        ),
    }
    for category in ("I", "II", "III")
}
"""Must-trip ranges of adjustment per abnormal category (Tables 11–13 for voltage, Table 18 for
frequency): category III's UV1 clears in 21–50 s and UV2 in 2–21 s, categories I and II's in
2–21 s and 0.16–2 s; OV2 is fixed at 120 % / 0.16 s."""


class _Problems:
    """Collects ``FieldProblem``s with a field path prefix."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def span(self, field: str, value: float, span: Span, what: str = "") -> None:
        if not span.holds(value):
            self.items.append(
                FieldProblem(field, f"{value:g} is outside the range{what}", span.text())
            )

    def add(self, field: str, message: str, allowed: str | None = None) -> None:
        self.items.append(FieldProblem(field, message, allowed))


def check_settings(s: GridSettings, rating: GridRating) -> list[FieldProblem]:
    """Every reason ``s`` cannot apply to a device with ``rating`` (empty: it can)."""
    p = _Problems()
    _enter_service(p, s)
    _reactive(p, s)
    _volt_var(p, s)
    _watt_var(p, s)
    _volt_watt(p, s, rating)
    _freq_droop(p, s, rating)
    _active_power_limit(p, s)
    _trip(p, s)
    return p.items


def _enter_service(p: _Problems, s: GridSettings) -> None:
    es = s.enter_service
    p.span("enter_service.es_v_lo_pct", es.es_v_lo_pct, ES_V_LO_PCT)
    p.span("enter_service.es_v_hi_pct", es.es_v_hi_pct, ES_V_HI_PCT)
    p.span("enter_service.es_hz_lo", es.es_hz_lo, ES_HZ_LO)
    p.span("enter_service.es_hz_hi", es.es_hz_hi, ES_HZ_HI)
    p.span("enter_service.es_dly_tms_s", es.es_dly_tms_s, ES_DLY_TMS_S)
    if es.es_rnd_tms_s != 0.0 and not ES_RND_TMS_S.holds(es.es_rnd_tms_s):
        p.add(
            "enter_service.es_rnd_tms_s",
            f"{es.es_rnd_tms_s:g} is outside the range",
            "0 (no randomized delay) or " + ES_RND_TMS_S.text(),
        )
    p.span("enter_service.es_rmp_tms_s", es.es_rmp_tms_s, ES_RMP_TMS_S)


def _reactive(p: _Problems, s: GridSettings) -> None:
    pf = s.constant_pf
    for name in ("pf_w_inj", "pf_w_abs"):
        value = getattr(pf, name)
        if not 0.0 < value <= 1.0:
            p.add(f"constant_pf.{name}", f"{value:g} is outside the range", "0 < PF <= 1")
    p.span("constant_pf.rsp_tms_s", pf.rsp_tms_s, PF_RSP_TMS_S)
    p.span("constant_q.var_set_pct", s.constant_q.var_set_pct, VAR_SET_PCT)
    p.span("constant_q.rsp_tms_s", s.constant_q.rsp_tms_s, Q_RSP_TMS_S)


def _volt_var(p: _Problems, s: GridSettings) -> None:
    vv = s.volt_var
    p.span("volt_var.v_ref_pct", vv.v_ref_pct, VV_V_REF_PCT)
    p.span("volt_var.v_ref_auto_tms_s", vv.v_ref_auto_tms_s, VV_V_REF_AUTO_TMS_S)
    p.span("volt_var.rsp_tms_s", vv.rsp_tms_s, VV_RSP_TMS_S)
    pt = vv.pt
    if len(pt) != 4:
        p.add("volt_var.pt", f"has {len(pt)} points", "exactly 4 points (V1..V4)")
        return
    (v1, q1), (v2, q2), (v3, q3), (v4, q4) = pt
    p.span("volt_var.pt[1].v_pct", v2, Span(97.0, 100.0, "%"))
    p.span("volt_var.pt[2].v_pct", v3, Span(100.0, 103.0, "%"))
    p.span("volt_var.pt[0].v_pct", v1, Span(82.0, v2 - 2.0, "%"), " (82..V2 - 2)")
    p.span("volt_var.pt[3].v_pct", v4, Span(v3 + 2.0, 118.0, "%"), " (V3 + 2..118)")
    p.span("volt_var.pt[0].var_pct", q1, Span(0.0, 100.0, "%"))
    p.span("volt_var.pt[1].var_pct", q2, VAR_PCT)
    p.span("volt_var.pt[2].var_pct", q3, VAR_PCT)
    p.span("volt_var.pt[3].var_pct", q4, Span(-100.0, 0.0, "%"))
    for i, ((_, qa), (_, qb)) in enumerate(itertools.pairwise(pt)):
        if qb > qa + 1e-9:
            p.add(
                f"volt_var.pt[{i + 1}].var_pct",
                f"{qb:g} is above the previous point's {qa:g}",
                "reactive power that does not rise with voltage (Q1 >= Q2 >= Q3 >= Q4)",
            )


def _watt_var(p: _Problems, s: GridSettings) -> None:
    wv = s.watt_var
    pt = wv.pt
    p.span("watt_var.rsp_tms_s", wv.rsp_tms_s, WV_RSP_TMS_S)
    if len(pt) != 6:
        p.add(
            "watt_var.pt",
            f"has {len(pt)} points",
            "exactly 6 points ordered by w_pct: P'3, P'2, P'1 (absorbing), P1, P2, P3",
        )
        return
    w = [point[0] for point in pt]
    p.span("watt_var.pt[1].w_pct", w[1], Span(-80.0, -40.0, "%"))
    p.span("watt_var.pt[0].w_pct", w[0], Span(-100.0, w[1] - 10.0, "%"), " (-100..P'2 - 10)")
    p.span("watt_var.pt[2].w_pct", w[2], Span(w[1] + 10.0, 0.0, "%"), " (P'2 + 10..0)")
    p.span("watt_var.pt[4].w_pct", w[4], Span(40.0, 80.0, "%"))
    p.span("watt_var.pt[3].w_pct", w[3], Span(0.0, w[4] - 10.0, "%"), " (0..P2 - 10)")
    p.span("watt_var.pt[5].w_pct", w[5], Span(w[4] + 10.0, 100.0, "%"), " (P2 + 10..100)")
    for i, (_, q) in enumerate(pt):
        p.span(f"watt_var.pt[{i}].var_pct", q, VAR_PCT)


def _volt_watt(p: _Problems, s: GridSettings, rating: GridRating) -> None:
    vw = s.volt_watt
    p.span("volt_watt.rsp_tms_s", vw.rsp_tms_s, VW_RSP_TMS_S)
    if len(vw.pt) != 2:
        p.add("volt_watt.pt", f"has {len(vw.pt)} points", "exactly 2 points (V1, P1), (V2, P2)")
        return
    (v1, w1), (v2, w2) = vw.pt
    p.span("volt_watt.pt[0].v_pct", v1, Span(105.0, 109.0, "%"))
    p.span("volt_watt.pt[1].v_pct", v2, Span(v1 + 1.0, 110.0, "%"), " (V1 + 1..110)")
    lo = -100.0 if rating.can_absorb else 0.0
    why = "" if rating.can_absorb else " (this unit cannot absorb active power)"
    p.span("volt_watt.pt[1].w_pct", w2, Span(lo, 100.0, "%"), why)
    p.span("volt_watt.pt[0].w_pct", w1, Span(w2, 100.0, "%"), " (P2..100)")


def _freq_droop(p: _Problems, s: GridSettings, rating: GridRating) -> None:
    fd = s.freq_droop
    cat = s.abnormal_category
    p.span("freq_droop.db_of_hz", fd.db_of_hz, FD_DB_HZ)
    p.span("freq_droop.db_uf_hz", fd.db_uf_hz, FD_DB_HZ)
    where = f" for abnormal category {cat}"
    p.span("freq_droop.k_of", fd.k_of, _FD_K_BY_CATEGORY[cat], where)
    p.span("freq_droop.k_uf", fd.k_uf, _FD_K_BY_CATEGORY[cat], where)
    p.span("freq_droop.rsp_tms_s", fd.rsp_tms_s, _FD_RSP_BY_CATEGORY[cat], where)
    lo = -100.0 if rating.can_absorb else 0.0
    why = "" if rating.can_absorb else " (this unit cannot absorb active power)"
    p.span("freq_droop.p_min_pct", fd.p_min_pct, Span(lo, 100.0, "%"), why)


def _active_power_limit(p: _Problems, s: GridSettings) -> None:
    ap = s.active_power_limit
    p.span("active_power_limit.w_max_lim_pct", ap.w_max_lim_pct, AP_W_MAX_LIM_PCT)
    p.span("active_power_limit.rsp_tms_s", ap.rsp_tms_s, AP_RSP_TMS_S)


_FURTHER = {"lv": "lower", "hv": "higher", "lf": "lower", "hf": "higher"}


def _trip(p: _Problems, s: GridSettings) -> None:
    cat = s.abnormal_category
    ranges = TRIP_RANGES[cat]
    for key in ("lv", "hv", "lf", "hf"):
        curve: VoltageTripCurve | FrequencyTripCurve = getattr(s.trip, key)
        points = curve.must_trip
        value_name = "v_pct" if key in ("lv", "hv") else "freq_hz"
        if len(points) != 2:
            p.add(f"trip.{key}.must_trip", f"has {len(points)} points", "exactly 2 points")
            continue
        where = f" for abnormal category {cat}"
        for i, (point, (threshold, clearing)) in enumerate(zip(points, ranges[key], strict=True)):
            base = f"trip.{key}.must_trip[{i}]"
            p.span(f"{base}.{value_name}", point.threshold, threshold, where)
            p.span(f"{base}.tms_s", point.tms_s, clearing, where)
        first, second = points
        further = second.threshold < first.threshold
        if _FURTHER[key] == "higher":
            further = second.threshold > first.threshold
        if not further and first.threshold != second.threshold:
            p.add(
                f"trip.{key}.must_trip[1].{value_name}",
                f"{second.threshold:g} is not {_FURTHER[key]} than point 1's {first.threshold:g}",
                f"the second point {_FURTHER[key]} than the first (further from nominal)",
            )
        if second.tms_s > first.tms_s + 1e-9:
            p.add(
                f"trip.{key}.must_trip[1].tms_s",
                f"{second.tms_s:g} s clears slower than point 1's {first.tms_s:g} s",
                "a clearing time no longer than the first point's",
            )
    _mom_cess(p, s.trip.lv.mom_cess_v_pct, "trip.lv.mom_cess_v_pct", MOM_CESS_LV_PCT)
    _mom_cess(p, s.trip.hv.mom_cess_v_pct, "trip.hv.mom_cess_v_pct", MOM_CESS_HV_PCT)


def _mom_cess(p: _Problems, value: float | None, field: str, span: Span) -> None:
    if value is not None and not span.holds(value):
        p.add(field, f"{value:g} is outside the range", span.text() + " or null (none)")
