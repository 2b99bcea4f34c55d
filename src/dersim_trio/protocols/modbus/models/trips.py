"""SunSpec 707/708 (LV/HV trip) and 709/710 (LF/HF trip): the must-trip curves of
``GET/PUT .../grid-support`` (``trip.lv``, ``trip.hv``, ``trip.lf``, ``trip.hf``), three stored
curve sets each (``stored_sets``: set 1 in force and read-only, ``AdptCrvReq`` adopts).

* ``MustTrip.Pt[i].V`` (707/708, % of V_nom) or ``.Hz`` (709/710) and ``.Tms`` (clearing time,
  s) → ``must_trip[i]`` (2 points: UV1, UV2 / OV1, OV2 / UF1, UF2 / OF1, OF2);
  ``MustTrip.ActPt`` is 2.
* 707/708 ``MomCess``: the momentary-cessation threshold, one point (``V`` = ``mom_cess_v_pct``,
  ``Tms`` 0: the unit ceases at once beyond it); ``MomCess.ActPt`` 0 is no threshold
  (``mom_cess_v_pct`` null). 709/710 have no momentary cessation.
* ``MayTrip`` is not implemented (the simulator trips at the must-trip points only).
* ``Ena`` reads ENABLED: IEEE 1547 does not let the must-trip functions be disabled, and a
  write of DISABLED gets exception 03.

Scale factors: V −2 (0.01 %), Hz −3 (mHz), Tms −2 (10 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dersim_trio.api.grid_support import (
    FrequencyTripCurveState,
    FrequencyTripPoint,
    GridSupportState,
    VoltageTripCurveState,
    VoltageTripCurveUpdate,
    VoltageTripPoint,
)
from dersim_trio.protocols.modbus.models.stored_sets import (
    SetPoint,
    Span,
    StoredSetsSection,
    count,
    field_span,
    number,
    refuse,
)
from dersim_trio.protocols.modbus.registers import Values

N_POINTS = 2
MOM_CESS_V_PCT = field_span(VoltageTripCurveUpdate, "mom_cess_v_pct")
"""The widest the REST field allows (lv 0..88 %, hv 110..120 % per curve, checked on adopt)."""


class TripSection(StoredSetsSection):
    """707-710 (module docstring)."""

    count_point = "NCrvSet"
    n_points = N_POINTS
    curve: ClassVar[str]
    """``lv``, ``hv``, ``lf`` or ``hf``."""
    value_point: ClassVar[str]
    """``V`` or ``Hz``."""
    value_field: ClassVar[str]
    """``v_pct`` or ``freq_hz``."""

    def enabled(self, state: GridSupportState) -> bool:
        """Always: the must-trip functions cannot be disabled."""
        return True

    def enable_body(self, on: bool) -> dict[str, Any]:
        """ENABLED changes nothing; DISABLED is refused."""
        if not on:
            raise refuse("Ena: the must-trip functions cannot be disabled (IEEE 1547 §6.4.1)")
        return {}

    def _curve(self, state: GridSupportState) -> VoltageTripCurveState | FrequencyTripCurveState:
        curve: VoltageTripCurveState | FrequencyTripCurveState = getattr(state.trip, self.curve)
        return curve

    def set_values(self, state: GridSupportState) -> Values:
        """The must-trip curve in force (and the momentary-cessation threshold)."""
        curve = self._curve(state)
        values: Values = {"MustTrip.ActPt": len(curve.must_trip)}
        points: list[VoltageTripPoint | FrequencyTripPoint] = list(curve.must_trip)
        for i, p in enumerate(points, 1):
            values[f"MustTrip.Pt[{i}].{self.value_point}"] = getattr(p, self.value_field)
            values[f"MustTrip.Pt[{i}].Tms"] = p.tms_s
        if isinstance(curve, VoltageTripCurveState):
            mc = curve.mom_cess_v_pct
            values["MomCess.ActPt"] = 0 if mc is None else 1
            values["MomCess.Pt[1].V"] = mc
            values["MomCess.Pt[1].Tms"] = None if mc is None else 0.0
        return values

    def set_body(self, values: Values) -> dict[str, Any]:
        """``trip.<curve>`` from one set."""
        active = count(values, "MustTrip.ActPt", self.n_points)
        body: dict[str, Any] = {
            "must_trip": [
                {
                    self.value_field: number(values, f"MustTrip.Pt[{i}].{self.value_point}"),
                    "tms_s": number(values, f"MustTrip.Pt[{i}].Tms"),
                }
                for i in range(1, active + 1)
            ]
        }
        if self.value_point == "V":
            mc = count(values, "MomCess.ActPt", 1)
            body["mom_cess_v_pct"] = number(values, "MomCess.Pt[1].V") if mc else None
        return body


def _must_trip(
    value_point: str, model: type[VoltageTripPoint | FrequencyTripPoint], value_field: str
) -> tuple[SetPoint, ...]:
    """``MustTrip``'s points, each with the range of the REST point's field."""
    value_span, tms_span = field_span(model, value_field), field_span(model, "tms_s")
    points = [SetPoint("MustTrip.ActPt", Span(0, N_POINTS))]
    for i in range(1, N_POINTS + 1):
        points.append(SetPoint(f"MustTrip.Pt[{i}].{value_point}", value_span))
        points.append(SetPoint(f"MustTrip.Pt[{i}].Tms", tms_span))
    return tuple(points)


_MOM_CESS = (
    SetPoint("MomCess.ActPt", Span(0, 1)),
    SetPoint("MomCess.Pt[1].V", MOM_CESS_V_PCT),
    SetPoint("MomCess.Pt[1].Tms", Span(0.0, 0.0)),
)


class TripLvSection(TripSection):
    """707."""

    model_id = 707
    curve = "lv"
    function = ("trip", "lv")
    value_point, value_field = "V", "v_pct"
    scale_factors: ClassVar[Mapping[str, int]] = {"V_SF": -2, "Tms_SF": -2}
    set_points = (*_must_trip("V", VoltageTripPoint, "v_pct"), *_MOM_CESS)


class TripHvSection(TripSection):
    """708."""

    model_id = 708
    curve = "hv"
    function = ("trip", "hv")
    value_point, value_field = "V", "v_pct"
    scale_factors: ClassVar[Mapping[str, int]] = {"V_SF": -2, "Tms_SF": -2}
    set_points = (*_must_trip("V", VoltageTripPoint, "v_pct"), *_MOM_CESS)


class TripLfSection(TripSection):
    """709."""

    model_id = 709
    curve = "lf"
    function = ("trip", "lf")
    value_point, value_field = "Hz", "freq_hz"
    scale_factors: ClassVar[Mapping[str, int]] = {"Hz_SF": -3, "Tms_SF": -2}
    set_points = _must_trip("Hz", FrequencyTripPoint, "freq_hz")


class TripHfSection(TripSection):
    """710."""

    model_id = 710
    curve = "hf"
    function = ("trip", "hf")
    value_point, value_field = "Hz", "freq_hz"
    scale_factors: ClassVar[Mapping[str, int]] = {"Hz_SF": -3, "Tms_SF": -2}
    set_points = _must_trip("Hz", FrequencyTripPoint, "freq_hz")
