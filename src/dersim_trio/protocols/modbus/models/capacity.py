"""SunSpec model 702 (DER Capacity): the device's ratings, from the façade's nameplate.

``WMaxRtg``, ``VAMaxRtg``, ``VarMaxInjRtg``/``VarMaxAbsRtg``, ``WChaRteMaxRtg`` and
``WDisChaRteMaxRtg`` (storage and other absorbing devices), ``VNomRtg`` (line-to-line),
``VMaxRtg``/``VMinRtg`` (the IEEE 1547-2018 continuous operating range, 0.88-1.10 pu, the
range ``grid/ride_through.py`` treats as continuous operation), ``AMaxRtg`` (line current at
``VAMaxRtg``), ``PFOvrExtRtg``/``PFUndExtRtg`` (the power factor at the var ratings:
√(1 − (VarMax/VAMax)²)), ``NorOpCatRtg``/``AbnOpCatRtg`` (the device's present IEEE 1547
categories), ``CtrlModes`` (the functions it offers) and
``IntIslandCatRtg`` (UNCATEGORIZED). The settings (``WMax``, ``VAMax``, ``VNom``...) read as the
ratings and are read-only here: the simulator does not derate a unit at run time through 702.
"""

from __future__ import annotations

import math

from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.points import sf_for_range
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values

CONTINUOUS_V_PU = (0.88, 1.10)
SETPOINT_ASSETS = frozenset({"battery", "fuelcell", "hybrid-dc", "evse"})
"""Devices that follow an active power setpoint (702 ``CtrlModes`` FIXED_W)."""
_MODES = (
    "MAX_W",
    "FIXED_VAR",
    "FIXED_PF",
    "VOLT_VAR",
    "FREQ_WATT",
    "LV_TRIP",
    "HV_TRIP",
    "WATT_VAR",
    "VOLT_WATT",
    "LF_TRIP",
    "HF_TRIP",
)
_SYMBOLS = {s.path: s.point.symbols for s in layout_model(702).points if s.point.symbols}


def _pf_at(var_kvar: float, va_kva: float) -> float | None:
    if va_kva <= 0.0:
        return None
    return math.sqrt(max(0.0, 1.0 - min(1.0, var_kvar / va_kva) ** 2))


class CapacitySection(Section):
    """Model 702 (see the module docstring)."""

    model_id = 702
    live = True  # the categories follow the grid-support settings

    def __init__(self, view: DeviceView) -> None:
        n = view.nameplate
        w = n.w_max_kw * 1000.0
        va = n.va_max_kva * 1000.0
        var = max(n.var_max_inj_kvar, n.var_max_abs_kvar) * 1000.0
        charge = n.storage.w_charge_max_kw if n.storage is not None else n.w_charge_max_kw
        discharge = n.storage.w_discharge_max_kw if n.storage is not None else None
        v_ll = n.voltage_ll_nominal_v
        sf = {
            "W_SF": sf_for_range(max(w, charge * 1000.0), "uint16", finest=0),
            "VA_SF": sf_for_range(va, "uint16", finest=0),
            "Var_SF": sf_for_range(var, "uint16", finest=0),
            "V_SF": sf_for_range(CONTINUOUS_V_PU[1] * v_ll, "uint16", finest=-1),
            "A_SF": sf_for_range(n.current_max_a, "uint16", finest=-2),
            "PF_SF": -3,
            "S_SF": 0,
        }
        modes = 0
        for name in _MODES:
            modes |= 1 << _SYMBOLS["CtrlModes"][name]
        if n.asset_type in SETPOINT_ASSETS:
            modes |= 1 << _SYMBOLS["CtrlModes"]["FIXED_W"]
        ratings: Values = {
            "WMaxRtg": w,
            "VAMaxRtg": va,
            "VarMaxInjRtg": n.var_max_inj_kvar * 1000.0,
            "VarMaxAbsRtg": n.var_max_abs_kvar * 1000.0,
            "WChaRteMaxRtg": charge * 1000.0 if charge > 0.0 else None,
            "WDisChaRteMaxRtg": discharge * 1000.0 if discharge is not None else None,
            "VNomRtg": v_ll,
            "VMaxRtg": CONTINUOUS_V_PU[1] * v_ll,
            "VMinRtg": CONTINUOUS_V_PU[0] * v_ll,
            "AMaxRtg": n.current_max_a,
            "PFOvrExtRtg": _pf_at(n.var_max_inj_kvar, n.va_max_kva),
            "PFUndExtRtg": _pf_at(n.var_max_abs_kvar, n.va_max_kva),
            "CtrlModes": modes,
            "IntIslandCatRtg": 1 << _SYMBOLS["IntIslandCatRtg"]["UNCATEGORIZED"],
        }
        settings = {
            "WMax": "WMaxRtg",
            "VAMax": "VAMaxRtg",
            "VarMaxInj": "VarMaxInjRtg",
            "VarMaxAbs": "VarMaxAbsRtg",
            "WChaRteMax": "WChaRteMaxRtg",
            "WDisChaRteMax": "WDisChaRteMaxRtg",
            "VNom": "VNomRtg",
            "VMax": "VMaxRtg",
            "VMin": "VMinRtg",
            "AMax": "AMaxRtg",
            "PFOvrExt": "PFOvrExtRtg",
            "PFUndExt": "PFUndExtRtg",
            "IntIslandCat": "IntIslandCatRtg",
        }
        for setting, rating in settings.items():
            ratings[setting] = ratings[rating]
        self.static: Values = {**sf, **ratings}

    def values(self, view: DeviceView) -> Values:
        """The ratings, and the categories in force now."""
        n = view.controller.nameplate(view.index)
        values = dict(self.static)
        if n.normal_category is not None:
            values["NorOpCatRtg"] = _SYMBOLS["NorOpCatRtg"][f"CAT_{n.normal_category}"]
        if n.abnormal_category is not None:
            level = {"I": 1, "II": 2, "III": 3}[n.abnormal_category]
            values["AbnOpCatRtg"] = _SYMBOLS["AbnOpCatRtg"][f"CAT_{level}"]
        return values
