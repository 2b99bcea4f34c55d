"""SunSpec 705 (volt-var), 706 (volt-watt), 711 (frequency droop), 712 (watt-var): the IEEE
1547 settings of ``GET/PUT .../grid-support``, three stored sets each (``stored_sets``).

Point for point (set 1 is the setting in force; ``Ena`` the function's ``enabled``):

* **705** ``volt_var``: ``Pt[i].V``/``Var`` → ``pt[i].v_pct``/``var_pct`` (4 points, V in % of
  V_nom, Var in % of the var rating on its side: ``DeptRef`` VAR_MAX_PCT, the only reference
  taken); ``VRef`` → ``v_ref_pct``, ``VRefAutoEna`` → ``v_ref_auto_ena``, ``VRefAutoTms`` →
  ``v_ref_auto_tms_s`` (whole seconds), ``RspTms`` → ``rsp_tms_s``. Not implemented: ``Pri``
  (the priority is 704 ``VarSetPri``, one for the device), ``VRefAuto``, the reversion points.
* **706** ``volt_watt``: ``Pt[i].V``/``W`` → ``pt[i].v_pct``/``w_pct`` (2 points, ``DeptRef``
  W_MAX_PCT only), ``RspTms`` → ``rsp_tms_s``. Not implemented: the reversion points.
* **711** ``freq_droop``: ``Ctl[n]``: ``DbOf``/``DbUf`` → ``db_of_hz``/``db_uf_hz``,
  ``KOf``/``KUf`` → ``k_of``/``k_uf``, ``RspTms`` → ``rsp_tms_s``, ``PMin`` → ``p_min_pct``
  (whole %: the point has no scale factor); ``AdptCtlReq`` adopts a set. Not implemented: the
  reversion points.
* **712** ``watt_var``: ``Pt[i].W``/``Var`` → ``pt[i].w_pct``/``var_pct`` (6 points, W in % of
  ``WMaxRtg``, negative: absorbing, ``DeptRef`` VAR_MAX_PCT). The REST ``rsp_tms_s`` has no
  712 point. Not implemented: ``Pri``, the reversion points.

Scale factors are fixed: percentages −2 (0.01 %), times −2 (10 ms), droop dead bands −3 (mHz)
and gains −3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from dersim_trio.api.grid_support import (
    FreqDroopUpdate,
    GridSupportState,
    VoltVarPoint,
    VoltVarUpdate,
    VoltWattPoint,
    VoltWattUpdate,
    WattVarPoint,
)
from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.models.stored_sets import (
    DISABLED,
    ENABLED,
    ON_OFF,
    SetPoint,
    Span,
    StoredSetsSection,
    count,
    field_span,
    number,
)
from dersim_trio.protocols.modbus.registers import Values


def _symbols(model_id: int, point: str) -> dict[str, int]:
    counts = {"NCrv": 1, "NPt": 1, "NCtl": 1}
    return dict(layout_model(model_id, counts).by_path[point].point.symbols)


VAR_MAX_PCT = _symbols(705, "Crv[1].DeptRef")["VAR_MAX_PCT"]
W_MAX_PCT = _symbols(706, "Crv[1].DeptRef")["W_MAX_PCT"]
WV_VAR_MAX_PCT = _symbols(712, "Crv[1].DeptRef")["VAR_MAX_PCT"]


def _pairs(
    n: int, model: type[BaseModel], x: tuple[str, str], y: tuple[str, str]
) -> tuple[SetPoint, ...]:
    """``Pt[1..n]``'s two points, each with the range of the REST point's field."""
    out: list[SetPoint] = []
    for i in range(1, n + 1):
        for point, name in (x, y):
            out.append(SetPoint(f"Pt[{i}].{point}", field_span(model, name)))
    return tuple(out)


def _points(values: Values, n_points: int, x: tuple[str, str], y: tuple[str, str]) -> list[Any]:
    """The first ``ActPt`` points of a set as REST points."""
    active = count(values, "ActPt", n_points)
    return [
        {x[1]: number(values, f"Pt[{i}].{x[0]}"), y[1]: number(values, f"Pt[{i}].{y[0]}")}
        for i in range(1, active + 1)
    ]


class VoltVarSection(StoredSetsSection):
    """705 (module docstring)."""

    model_id = 705
    n_points = 4
    function = ("volt_var",)
    scale_factors: ClassVar[Mapping[str, int]] = {"V_SF": -2, "DeptRef_SF": -2, "RspTms_SF": -2}
    set_points = (
        SetPoint("ActPt", Span(0, 4)),
        SetPoint("DeptRef", choices={VAR_MAX_PCT: "VAR_MAX_PCT"}),
        SetPoint("VRef", field_span(VoltVarUpdate, "v_ref_pct")),
        SetPoint("VRefAutoEna", choices=ON_OFF),
        SetPoint("VRefAutoTms", field_span(VoltVarUpdate, "v_ref_auto_tms_s")),
        SetPoint("RspTms", field_span(VoltVarUpdate, "rsp_tms_s")),
        *_pairs(4, VoltVarPoint, ("V", "v_pct"), ("Var", "var_pct")),
    )

    def set_values(self, state: GridSupportState) -> Values:
        """The volt-var settings in force."""
        vv = state.volt_var
        values: Values = {
            "ActPt": len(vv.pt),
            "DeptRef": VAR_MAX_PCT,
            "VRef": vv.v_ref_pct,
            "VRefAutoEna": ENABLED if vv.v_ref_auto_ena else DISABLED,
            "VRefAutoTms": vv.v_ref_auto_tms_s,
            "RspTms": vv.rsp_tms_s,
        }
        for i, p in enumerate(vv.pt, 1):
            values[f"Pt[{i}].V"] = p.v_pct
            values[f"Pt[{i}].Var"] = p.var_pct
        return values

    def set_body(self, values: Values) -> dict[str, Any]:
        """``volt_var`` from one set."""
        return {
            "pt": _points(values, self.n_points, ("V", "v_pct"), ("Var", "var_pct")),
            "v_ref_pct": number(values, "VRef"),
            "v_ref_auto_ena": values.get("VRefAutoEna") == ENABLED,
            "v_ref_auto_tms_s": number(values, "VRefAutoTms"),
            "rsp_tms_s": number(values, "RspTms"),
        }


class VoltWattSection(StoredSetsSection):
    """706 (module docstring)."""

    model_id = 706
    n_points = 2
    function = ("volt_watt",)
    scale_factors: ClassVar[Mapping[str, int]] = {"V_SF": -2, "DeptRef_SF": -2, "RspTms_SF": -2}
    set_points = (
        SetPoint("ActPt", Span(0, 2)),
        SetPoint("DeptRef", choices={W_MAX_PCT: "W_MAX_PCT"}),
        SetPoint("RspTms", field_span(VoltWattUpdate, "rsp_tms_s")),
        *_pairs(2, VoltWattPoint, ("V", "v_pct"), ("W", "w_pct")),
    )

    def set_values(self, state: GridSupportState) -> Values:
        """The volt-watt settings in force."""
        vw = state.volt_watt
        values: Values = {"ActPt": len(vw.pt), "DeptRef": W_MAX_PCT, "RspTms": vw.rsp_tms_s}
        for i, p in enumerate(vw.pt, 1):
            values[f"Pt[{i}].V"] = p.v_pct
            values[f"Pt[{i}].W"] = p.w_pct
        return values

    def set_body(self, values: Values) -> dict[str, Any]:
        """``volt_watt`` from one set."""
        return {
            "pt": _points(values, self.n_points, ("V", "v_pct"), ("W", "w_pct")),
            "rsp_tms_s": number(values, "RspTms"),
        }


class FreqDroopSection(StoredSetsSection):
    """711 (module docstring)."""

    model_id = 711
    group = "Ctl"
    count_point = "NCtl"
    request_point = "AdptCtlReq"
    result_point = "AdptCtlRslt"
    function = ("freq_droop",)
    scale_factors: ClassVar[Mapping[str, int]] = {"Db_SF": -3, "K_SF": -3, "RspTms_SF": -2}
    set_points = (
        SetPoint("DbOf", field_span(FreqDroopUpdate, "db_of_hz")),
        SetPoint("DbUf", field_span(FreqDroopUpdate, "db_uf_hz")),
        SetPoint("KOf", field_span(FreqDroopUpdate, "k_of")),
        SetPoint("KUf", field_span(FreqDroopUpdate, "k_uf")),
        SetPoint("RspTms", field_span(FreqDroopUpdate, "rsp_tms_s")),
        SetPoint("PMin", field_span(FreqDroopUpdate, "p_min_pct")),
    )
    _FIELDS: ClassVar[Mapping[str, str]] = {
        "DbOf": "db_of_hz",
        "DbUf": "db_uf_hz",
        "KOf": "k_of",
        "KUf": "k_uf",
        "RspTms": "rsp_tms_s",
        "PMin": "p_min_pct",
    }

    def set_values(self, state: GridSupportState) -> Values:
        """The droop settings in force."""
        fd = state.freq_droop
        return {point: getattr(fd, name) for point, name in self._FIELDS.items()}

    def set_body(self, values: Values) -> dict[str, Any]:
        """``freq_droop`` from one set."""
        return {name: number(values, point) for point, name in self._FIELDS.items()}


class WattVarSection(StoredSetsSection):
    """712 (module docstring)."""

    model_id = 712
    n_points = 6
    function = ("watt_var",)
    scale_factors: ClassVar[Mapping[str, int]] = {"W_SF": -2, "DeptRef_SF": -2}
    set_points = (
        SetPoint("ActPt", Span(0, 6)),
        SetPoint("DeptRef", choices={WV_VAR_MAX_PCT: "VAR_MAX_PCT"}),
        *_pairs(6, WattVarPoint, ("W", "w_pct"), ("Var", "var_pct")),
    )

    def set_values(self, state: GridSupportState) -> Values:
        """The watt-var settings in force."""
        wv = state.watt_var
        values: Values = {"ActPt": len(wv.pt), "DeptRef": WV_VAR_MAX_PCT}
        for i, p in enumerate(wv.pt, 1):
            values[f"Pt[{i}].W"] = p.w_pct
            values[f"Pt[{i}].Var"] = p.var_pct
        return values

    def set_body(self, values: Values) -> dict[str, Any]:
        """``watt_var`` from one set."""
        return {"pt": _points(values, self.n_points, ("W", "w_pct"), ("Var", "var_pct"))}
