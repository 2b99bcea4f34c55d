"""All grid-support settings of one device, and the IEEE 1547-2018 defaults per category.

``GridSettings`` bundles one frozen settings object per function (each defined in its own
module) plus the device's normal (A, B) and abnormal (I, II, III) performance categories.
``category_defaults`` builds the standard's defaults for a pair of categories and a device's
ratings:

* normal category (§5.2 Table 7 capability, §5.3.3 Table 8 volt-var, §5.3.4 watt-var): the
  volt-var and watt-var curves. The standard states their reactive power in % of the apparent
  power rating (category B ±44 %, category A ±25 %); the settings hold it in % of the var
  rating on each side (SunSpec ``VAR_MAX_PCT``), so a unit with ``VarMaxInjRtg`` = 0.44·S gets
  ±100 %. Volt-var OLRT 5 s (B) or 10 s (A).
* abnormal category (§6.4.1 Tables 11–13 voltage must-trip, §6.4.2 voltage ride-through,
  §6.5.1 Table 18 frequency must-trip): the trip curves and the momentary-cessation thresholds
  (category III only).
* every category: enter service (§4.10.2, §4.10.3), volt-watt (§5.4.2), frequency droop
  (§6.5.2.7.2; its formulas are Table 23), unity power factor.

Sources of the table and clause numbers: Table 7 as OpenDER's ``capability_and_priority.py``
names it; Tables 8 and 23 as IEEE 1547.1-2020 cites them in its test procedures (voltage disturbance
and limit-active-power tests);
Tables 11, 12, 13 and 18 as the UL 1741 SB test implementation ``pyUL1741SB`` (``eut.py``) labels
the default trip settings and their ranges; the clause of every setting range as OpenDER 2.2.0
names it in its settings checks (``common_file_format.py``). Where no table number could be
checked, the clause is cited.

At start every function but the frequency droop and the trips is disabled: the standard's
default is unity power factor with the other functions off unless the Area EPS operator
specifies them (OpenDER's default settings file ``AS-with std-values.csv`` has the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dersim_trio.grid.active_power_limit import ActivePowerLimitSettings
from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.constant_pf import ConstantPfSettings
from dersim_trio.grid.constant_q import ConstantQSettings
from dersim_trio.grid.enter_service import EnterServiceSettings
from dersim_trio.grid.freq_droop import FreqDroopSettings
from dersim_trio.grid.ride_through import AbnormalCategory
from dersim_trio.grid.trip import (
    FrequencyTripCurve,
    TripPoint,
    TripSettings,
    VoltageTripCurve,
)
from dersim_trio.grid.volt_var import VoltVarSettings
from dersim_trio.grid.volt_watt import VoltWattSettings
from dersim_trio.grid.watt_var import WattVarSettings

NormalCategory = Literal["A", "B"]

REACTIVE_MODES: tuple[str, ...] = ("constant_pf", "volt_var", "watt_var", "constant_q")
"""Reactive power modes in precedence order: when several are enabled the first one acts
(OpenDER ``q_funcs.py`` uses the same order). With none enabled the operator's controls
(``power_factor``, ``reactive_power_setpoint_kvar``) apply, else unity power factor."""


@dataclass(frozen=True, slots=True)
class GridSettings:
    """One device's grid-support settings (every function, its categories)."""

    normal_category: NormalCategory = "B"
    abnormal_category: AbnormalCategory = "III"
    enter_service: EnterServiceSettings = field(default_factory=EnterServiceSettings)
    constant_pf: ConstantPfSettings = field(default_factory=ConstantPfSettings)
    constant_q: ConstantQSettings = field(default_factory=ConstantQSettings)
    volt_var: VoltVarSettings = field(default_factory=VoltVarSettings)
    watt_var: WattVarSettings = field(default_factory=WattVarSettings)
    volt_watt: VoltWattSettings = field(default_factory=VoltWattSettings)
    freq_droop: FreqDroopSettings = field(default_factory=FreqDroopSettings)
    active_power_limit: ActivePowerLimitSettings = field(default_factory=ActivePowerLimitSettings)
    trip: TripSettings = field(default_factory=TripSettings)

    @property
    def reactive_mode(self) -> str | None:
        """The reactive power mode in force (see ``REACTIVE_MODES``), None for none."""
        for name in REACTIVE_MODES:
            if getattr(self, name).enabled:
                return name
        return None

    @property
    def active_functions(self) -> list[str]:
        """Every enabled function, the reactive mode first (trips and enter service always act)."""
        names: list[str] = []
        mode = self.reactive_mode
        if mode is not None:
            names.append(mode)
        for name in ("volt_watt", "freq_droop", "active_power_limit"):
            if getattr(self, name).enabled:
                names.append(name)
        return names


def _pct_of(value_of_s: float, var_rating_kvar: float, s_kva: float) -> float:
    """A reactive power in pu of S as % of a var rating (capped at 100 %)."""
    if var_rating_kvar <= 0.0:
        return 0.0
    # rounded to 1e-9 %: 0.44·S over a rating of 0.44·S is 100 %, not 99.99999999999999
    return round(min(100.0, 100.0 * value_of_s * s_kva / var_rating_kvar), 9)


def normal_defaults(
    category: NormalCategory, rating: GridRating
) -> tuple[VoltVarSettings, WattVarSettings]:
    """Table 8 (volt-var, §5.3.3) and §5.3.4 (watt-var) defaults for the device's ratings."""
    s = rating.va_max_kva
    q = 0.44 if category == "B" else 0.25
    inj = _pct_of(q, rating.var_max_inj_kvar, s)
    ab = _pct_of(q, rating.var_max_abs_kvar, s)
    if category == "B":
        vv = VoltVarSettings(
            pt=((92.0, inj), (98.0, 0.0), (102.0, 0.0), (108.0, -ab)), rsp_tms_s=5.0
        )
    else:
        vv = VoltVarSettings(
            pt=((90.0, inj), (100.0, 0.0), (100.0, 0.0), (110.0, -ab)), rsp_tms_s=10.0
        )
    wv = WattVarSettings(
        pt=((-100.0, inj), (-50.0, 0.0), (-20.0, 0.0), (20.0, 0.0), (50.0, 0.0), (100.0, -ab))
    )
    return vv, wv


def abnormal_defaults(category: AbnormalCategory) -> TripSettings:
    """Tables 11–13 (voltage) and 18 (frequency) must-trip defaults; the category III
    momentary-cessation thresholds (§6.4.2)."""
    hf = FrequencyTripCurve((TripPoint(61.2, 300.0), TripPoint(62.0, 0.16)))
    lf = FrequencyTripCurve((TripPoint(58.5, 300.0), TripPoint(56.5, 0.16)))
    if category == "III":
        return TripSettings(
            lv=VoltageTripCurve((TripPoint(88.0, 21.0), TripPoint(50.0, 2.0)), 50.0),
            hv=VoltageTripCurve((TripPoint(110.0, 13.0), TripPoint(120.0, 0.16)), 110.0),
            lf=lf,
            hf=hf,
        )
    uv1_tms = 10.0 if category == "II" else 2.0
    return TripSettings(
        lv=VoltageTripCurve((TripPoint(70.0, uv1_tms), TripPoint(45.0, 0.16)), None),
        hv=VoltageTripCurve((TripPoint(110.0, 2.0), TripPoint(120.0, 0.16)), None),
        lf=lf,
        hf=hf,
    )


def category_defaults(
    normal: NormalCategory,
    abnormal: AbnormalCategory,
    rating: GridRating,
    enter_service: EnterServiceSettings | None = None,
) -> GridSettings:
    """The standard's default settings for a pair of categories and a device's ratings."""
    vv, wv = normal_defaults(normal, rating)
    return GridSettings(
        normal_category=normal,
        abnormal_category=abnormal,
        enter_service=enter_service or EnterServiceSettings(),
        volt_var=vv,
        watt_var=wv,
        freq_droop=FreqDroopSettings(p_min_pct=-100.0 if rating.can_absorb else 0.0),
        trip=abnormal_defaults(abnormal),
    )
