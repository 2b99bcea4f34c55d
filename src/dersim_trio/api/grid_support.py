"""``GET``/``PUT /api/dersim/devices/{index}/grid-support`` and ``PUT /api/dersim/grid-support``:
a device's IEEE 1547-2018 grid-support settings, one object per function.

Field names are the SunSpec DER model points (703 enter service, 704 PF / var / W limit,
705 volt-var, 706 volt-watt, 707/708 LV/HV trip, 709/710 LF/HF trip, 711 frequency droop,
712 watt-var) in snake case with their unit: ``es_v_hi_pct`` is 703 ``ESVHi`` in % of V_nom,
``rsp_tms_s`` a ``RspTms`` in seconds, ``pt`` a curve's ``Pt[]`` (``V``, ``Var``, ``W``,
``Freq``, ``Tms`` → ``v_pct``, ``var_pct``, ``w_pct``, ``freq_hz``, ``tms_s``). ``var_pct``
is in % of the var rating on its side (``VarMaxInjRtg`` / ``VarMaxAbsRtg``), ``w_pct`` in % of
``WMaxRtg`` (negative: of the charge rating).

The update models (``*Update``) make every field optional: a PUT changes only what it names;
``null`` returns a field or a whole function to the default of the device's categories (but
``mom_cess_v_pct: null`` means no momentary cessation, as GET shows it). The field ranges here
are the widest the standard allows; the device's categories narrow some of them
(``grid.checks``), and the curves' order is checked there too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from dersim_trio.grid import checks
from dersim_trio.grid.checks import Span

NormalCategoryName = Literal["A", "B"]
AbnormalCategoryName = Literal["I", "II", "III"]
ExcitationName = Literal["over", "under"]
ReactiveModeName = Literal["constant_pf", "volt_var", "watt_var", "constant_q"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _opt(span: Span, what: str, *, gt_lo: bool = False) -> Any:
    """An optional bounded number whose description starts with its range."""
    if gt_lo:
        text = f"({span.lo:g}, {span.hi:g}]"
        return Field(default=None, gt=span.lo, le=span.hi, description=f"{text}: {what}")
    return Field(default=None, ge=span.lo, le=span.hi, description=f"{span.text()}: {what}")


def _req(span: Span, what: str) -> Any:
    return Field(ge=span.lo, le=span.hi, description=f"{span.text()}: {what}")


# --- categories ------------------------------------------------------------------------------


class Category(_Body):
    """The device's IEEE 1547 performance categories."""

    normal: NormalCategoryName = Field(description="normal operating performance: A or B")
    abnormal: AbnormalCategoryName = Field(
        description="abnormal operating performance: I, II or III"
    )


class CategoryUpdate(_Body):
    """Load the standard's default settings of these categories (absent: keep the present)."""

    normal: NormalCategoryName | None = Field(default=None, description="A or B")
    abnormal: AbnormalCategoryName | None = Field(default=None, description="I, II or III")


# --- points ----------------------------------------------------------------------------------


class VoltVarPoint(_Body):
    """705 ``Pt``: voltage as set for V_ref = 100 %, reactive power (+ injects)."""

    v_pct: float = _req(checks.VV_V_PCT, "705 V, % of V_nom")
    var_pct: float = _req(checks.VAR_PCT, "705 Var, % of the var rating on its side")


class WattVarPoint(_Body):
    """712 ``Pt``: active power (negative: absorbing), reactive power (+ injects)."""

    w_pct: float = _req(checks.WV_W_PCT, "712 W, % of WMaxRtg (negative: of the charge rating)")
    var_pct: float = _req(checks.VAR_PCT, "712 Var, % of the var rating on its side")


class VoltWattPoint(_Body):
    """706 ``Pt``: voltage, active power limit."""

    v_pct: float = _req(checks.VW_V_PCT, "706 V, % of V_nom")
    w_pct: float = _req(checks.VW_W_PCT, "706 W, % of WMaxRtg")


class VoltageTripPoint(_Body):
    """707/708 ``MustTrip.Pt``: trip once the voltage stays beyond ``v_pct`` for ``tms_s``."""

    v_pct: float = _req(checks.TRIP_V_PCT, "707/708 V, % of V_nom (range per category)")
    tms_s: float = _req(checks.TRIP_TMS_S, "707/708 Tms, clearing time (range per category)")


class FrequencyTripPoint(_Body):
    """709/710 ``MustTrip.Pt``: trip once the frequency stays beyond ``freq_hz`` for ``tms_s``."""

    freq_hz: float = _req(checks.TRIP_HZ, "709/710 Freq (range per point)")
    tms_s: float = _req(checks.TRIP_TMS_S, "709/710 Tms, clearing time (range per point)")


# --- state (GET, and every PUT's answer) -----------------------------------------------------


class EnterServiceState(BaseModel):
    """703 enter service (the operator's enter_service / cease_to_energize commands are 703
    ``ES``, permit service)."""

    es_v_hi_pct: float
    es_v_lo_pct: float
    es_hz_hi: float
    es_hz_lo: float
    es_dly_tms_s: float
    es_rnd_tms_s: float
    es_rmp_tms_s: float


class ConstantPfState(BaseModel):
    """704 constant power factor."""

    enabled: bool
    pf_w_inj: float
    pf_w_inj_ext: ExcitationName
    pf_w_abs: float
    pf_w_abs_ext: ExcitationName
    rsp_tms_s: float


class ConstantQState(BaseModel):
    """704 constant reactive power."""

    enabled: bool
    var_set_pct: float
    rsp_tms_s: float


class VoltVarState(BaseModel):
    """705 volt-var."""

    enabled: bool
    pt: list[VoltVarPoint]
    v_ref_pct: float
    v_ref_auto_ena: bool
    v_ref_auto_tms_s: float
    rsp_tms_s: float


class WattVarState(BaseModel):
    """712 watt-var."""

    enabled: bool
    pt: list[WattVarPoint]
    rsp_tms_s: float


class VoltWattState(BaseModel):
    """706 volt-watt."""

    enabled: bool
    pt: list[VoltWattPoint]
    rsp_tms_s: float


class FreqDroopState(BaseModel):
    """711 frequency droop."""

    enabled: bool
    db_of_hz: float
    db_uf_hz: float
    k_of: float
    k_uf: float
    rsp_tms_s: float
    p_min_pct: float


class ActivePowerLimitState(BaseModel):
    """704 limit maximum active power."""

    enabled: bool
    w_max_lim_pct: float
    rsp_tms_s: float


class VoltageTripCurveState(BaseModel):
    """707 (lv) / 708 (hv): the must-trip points (UV1, UV2 / OV1, OV2) and the momentary
    cessation threshold."""

    must_trip: list[VoltageTripPoint]
    mom_cess_v_pct: float | None = Field(
        description="% of V_nom; null: no momentary cessation threshold"
    )


class FrequencyTripCurveState(BaseModel):
    """709 (lf) / 710 (hf): the must-trip points (UF1, UF2 / OF1, OF2)."""

    must_trip: list[FrequencyTripPoint]


class TripState(BaseModel):
    """707–710."""

    lv: VoltageTripCurveState
    hv: VoltageTripCurveState
    lf: FrequencyTripCurveState
    hf: FrequencyTripCurveState


class GridSupportState(BaseModel):
    """One device's grid-support settings."""

    device_index: int
    category: Category
    reactive_mode: ReactiveModeName | None = Field(
        description="The reactive power mode in force (precedence constant_pf, volt_var, "
        "watt_var, constant_q); null: the operator's controls set Q."
    )
    enter_service: EnterServiceState
    constant_pf: ConstantPfState
    constant_q: ConstantQState
    volt_var: VoltVarState
    watt_var: WattVarState
    volt_watt: VoltWattState
    freq_droop: FreqDroopState
    active_power_limit: ActivePowerLimitState
    trip: TripState


class GridSupportStateList(RootModel[list[GridSupportState]]):
    """Every device's grid-support settings, in device order."""


# --- updates (PUT bodies) --------------------------------------------------------------------

_ENABLED = Field(default=None, description="on or off (null: the category default)")


class EnterServiceUpdate(_Body):
    """703 enter service (after a trip)."""

    es_v_hi_pct: float | None = _opt(checks.ES_V_HI_PCT, "703 ESVHi, window's upper voltage")
    es_v_lo_pct: float | None = _opt(checks.ES_V_LO_PCT, "703 ESVLo, window's lower voltage")
    es_hz_hi: float | None = _opt(checks.ES_HZ_HI, "703 ESHzHi, window's upper frequency")
    es_hz_lo: float | None = _opt(checks.ES_HZ_LO, "703 ESHzLo, window's lower frequency")
    es_dly_tms_s: float | None = _opt(checks.ES_DLY_TMS_S, "703 ESDlyTms, delay in the window")
    es_rnd_tms_s: float | None = Field(
        default=None,
        ge=0.0,
        le=checks.ES_RND_TMS_S.hi,
        description="0 (off) or 1..1000 s: 703 ESRndTms, randomized extra delay",
    )
    es_rmp_tms_s: float | None = _opt(checks.ES_RMP_TMS_S, "703 ESRmpTms, enter-service ramp")


class ConstantPfUpdate(_Body):
    """704 constant power factor (``PFWInjEna``)."""

    enabled: bool | None = _ENABLED
    pf_w_inj: float | None = _opt(checks.PF, "704 PFWInj.PF, injecting P", gt_lo=True)
    pf_w_inj_ext: ExcitationName | None = Field(
        default=None, description="over or under: 704 PFWInj.Ext"
    )
    pf_w_abs: float | None = _opt(checks.PF, "704 PFWAbs.PF, absorbing P", gt_lo=True)
    pf_w_abs_ext: ExcitationName | None = Field(
        default=None, description="over or under: 704 PFWAbs.Ext"
    )
    rsp_tms_s: float | None = _opt(checks.PF_RSP_TMS_S, "response time (90 %)")


class ConstantQUpdate(_Body):
    """704 constant reactive power (``VarSetEna``)."""

    enabled: bool | None = _ENABLED
    var_set_pct: float | None = _opt(checks.VAR_SET_PCT, "704 VarSetPct, of the var rating")
    rsp_tms_s: float | None = _opt(checks.Q_RSP_TMS_S, "response time (90 %)")


class VoltVarUpdate(_Body):
    """705 volt-var."""

    enabled: bool | None = _ENABLED
    pt: list[VoltVarPoint] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="4 points V1..V4 (as set for V_ref = 100 %): V1 82..V2-2, V2 97..100, "
        "V3 100..103, V4 V3+2..118; Q1 0..100, Q2 and Q3 -100..100, Q4 -100..0, not rising",
    )
    v_ref_pct: float | None = _opt(checks.VV_V_REF_PCT, "705 VRef")
    v_ref_auto_ena: bool | None = Field(
        default=None, description="705 VRefAutoEna: V_ref follows the voltage"
    )
    v_ref_auto_tms_s: float | None = _opt(checks.VV_V_REF_AUTO_TMS_S, "705 VRefAutoTms")
    rsp_tms_s: float | None = _opt(checks.VV_RSP_TMS_S, "705 RspTms, open-loop response time")


class WattVarUpdate(_Body):
    """712 watt-var."""

    enabled: bool | None = _ENABLED
    pt: list[WattVarPoint] | None = Field(
        default=None,
        min_length=6,
        max_length=6,
        description="6 points by w_pct: P'3 -100..P'2-10, P'2 -80..-40, P'1 P'2+10..0, "
        "P1 0..P2-10, P2 40..80, P3 P2+10..100",
    )
    rsp_tms_s: float | None = _opt(checks.WV_RSP_TMS_S, "response time (90 %)")


class VoltWattUpdate(_Body):
    """706 volt-watt."""

    enabled: bool | None = _ENABLED
    pt: list[VoltWattPoint] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="2 points: V1 105..109, V2 V1+1..110; P1 P2..100, P2 0..100 "
        "(-100..100 for units that absorb)",
    )
    rsp_tms_s: float | None = _opt(checks.VW_RSP_TMS_S, "706 RspTms, open-loop response time")


class FreqDroopUpdate(_Body):
    """711 frequency droop."""

    enabled: bool | None = _ENABLED
    db_of_hz: float | None = _opt(checks.FD_DB_HZ, "711 DbOf, over-frequency dead band")
    db_uf_hz: float | None = _opt(checks.FD_DB_HZ, "711 DbUf, under-frequency dead band")
    k_of: float | None = _opt(checks.FD_K, "711 KOf, per unit (0.03..0.05 for categories I, II)")
    k_uf: float | None = _opt(checks.FD_K, "711 KUf, per unit (0.03..0.05 for categories I, II)")
    rsp_tms_s: float | None = _opt(
        checks.FD_RSP_TMS_S, "711 RspTms, open-loop response time (1..10 s for I, II)"
    )
    p_min_pct: float | None = _opt(
        checks.FD_P_MIN_PCT, "711 PMin, % of WMaxRtg (0..100 for units that cannot absorb)"
    )


class ActivePowerLimitUpdate(_Body):
    """704 limit maximum active power (``WMaxLimPctEna``)."""

    enabled: bool | None = _ENABLED
    w_max_lim_pct: float | None = _opt(checks.AP_W_MAX_LIM_PCT, "704 WMaxLimPct, of WMaxRtg")
    rsp_tms_s: float | None = _opt(checks.AP_RSP_TMS_S, "time to reach a new limit")


class VoltageTripCurveUpdate(_Body):
    """707 (lv) / 708 (hv)."""

    must_trip: list[VoltageTripPoint] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="2 points: UV1, UV2 (lv) or OV1, OV2 (hv); ranges per abnormal category",
    )
    mom_cess_v_pct: float | None = Field(
        default=None,
        ge=0.0,
        le=checks.MOM_CESS_HV_PCT.hi,
        description="lv 0..88 %, hv 110..120 %; null: no momentary cessation threshold",
    )


class FrequencyTripCurveUpdate(_Body):
    """709 (lf) / 710 (hf)."""

    must_trip: list[FrequencyTripPoint] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="2 points: UF1 50..59 Hz / 180..1000 s, UF2 50..57 Hz / 0.16..1000 s (lf); "
        "OF1 61..66 Hz / 180..1000 s, OF2 61.8..66 Hz / 0.16..1000 s (hf)",
    )


class TripUpdate(_Body):
    """707–710 (the standard does not let the must-trip functions be disabled)."""

    lv: VoltageTripCurveUpdate | None = None
    hv: VoltageTripCurveUpdate | None = None
    lf: FrequencyTripCurveUpdate | None = None
    hf: FrequencyTripCurveUpdate | None = None


class GridSupportUpdate(_Body):
    """``PUT .../grid-support``: only what is named changes; ``null`` returns to the default."""

    category: CategoryUpdate | None = Field(
        default=None,
        description='{"normal": "A"|"B", "abnormal": "I"|"II"|"III"}: loads that pair\'s '
        "default settings before the rest of the body applies",
    )
    enter_service: EnterServiceUpdate | None = None
    constant_pf: ConstantPfUpdate | None = None
    constant_q: ConstantQUpdate | None = None
    volt_var: VoltVarUpdate | None = None
    watt_var: WattVarUpdate | None = None
    volt_watt: VoltWattUpdate | None = None
    freq_droop: FreqDroopUpdate | None = None
    active_power_limit: ActivePowerLimitUpdate | None = None
    trip: TripUpdate | None = None
