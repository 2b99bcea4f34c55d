"""SunSpec model 701 (DER AC Measurement) from the tick's snapshot.

Totals are the snapshot's ``metrics`` and ``energy`` (SunSpec 701 signs: W > 0 injects,
Var > 0 over-excited, PF carries the sign of W). Per-phase points exist for the phases the
connection has (single: L1; split: L1, L2; three: L1-L3): power and energy split evenly (the
models are balanced), every phase carries the line current, ``VL<n>`` is the line-to-neutral
and ``VL1L2``... the line-to-line voltage. ``St`` is ON unless the inverter is off or in fault;
``InvSt`` and ``ConnSt`` are the snapshot's states; ``Alrm`` sets GROUND_FAULT,
DC_OVER_VOLT, GRID_DISCONNECT, OVER_TEMP from the injected faults and AC_OVER_VOLT,
AC_UNDER_VOLT, OVER_FREQUENCY, UNDER_FREQUENCY while a grid trip holds the unit off (its cause);
``DERMode`` is GRID_FOLLOWING (every simulated unit follows the grid), plus PV_CLIPPED while
the inverter clips the array. ``TmpAmb`` is the ambient temperature of PV and hybrid devices.
Not implemented: the other temperatures, ``ThrotPct``/``ThrotSrc``, ``MnAlrmInfo``.

Scale factors are fixed per device from its ratings (the finest exponent at which 1.5 × the
rating still fits the point's type: a 10 kW unit reports W in watts, a 15 MW turbine in kW),
except with the ``sf_change`` quirk, where ``W_SF``, ``VA_SF``, ``Var_SF`` and ``A_SF`` follow
the present magnitude every tick (the finest exponent that fits), as inverters that auto-range
at dusk do. Energy counters are in Wh and varh (``TotWh_SF`` = ``TotVarh_SF`` = 0), never go
backwards, and read the same within a tick.
"""

from __future__ import annotations

from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.points import sf_for_range
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values

PHASES = {"single": 1, "split": 2, "three": 3}
AC_TYPE = {"single": "SINGLE_PHASE", "split": "SPLIT_PHASE", "three": "THREE_PHASE"}
HEADROOM = 1.5
"""Ratings × this must fit a point at its fixed scale factor."""
FAULT_ALARMS = {
    "ground_fault": "GROUND_FAULT",
    "dc_over_voltage": "DC_OVER_VOLT",
    "grid_disconnect": "GRID_DISCONNECT",
    "over_temperature": "OVER_TEMP",
}
TRIP_ALARMS = {"OV": "AC_OVER_VOLT", "UV": "AC_UNDER_VOLT", "OF": "OVER_FREQUENCY"}
TRIP_ALARMS["UF"] = "UNDER_FREQUENCY"
LINE_VOLTAGES = ("VL1L2", "VL2L3", "VL3L1")

_LAYOUT = layout_model(701)
_SYMBOLS = {s.path: s.point.symbols for s in _LAYOUT.points if s.point.symbols}


def symbol(path: str, name: str) -> int:
    """The value of enumeration ``name`` of 701 point ``path``."""
    return _SYMBOLS[path][name]


def bit(path: str, name: str) -> int:
    """The mask of bit ``name`` of 701 bitfield ``path``."""
    return 1 << _SYMBOLS[path][name]


class AcMeasurementSection(Section):
    """Model 701 (see the module docstring)."""

    model_id = 701

    def __init__(self, view: DeviceView, *, auto_range: bool = False) -> None:
        n = view.nameplate
        self.auto_range = auto_range
        self.phases = PHASES[n.ac_type]
        self.sf: dict[str, int] = {
            "W_SF": sf_for_range(HEADROOM * n.w_max_kw * 1000.0, "int16"),
            "VA_SF": sf_for_range(HEADROOM * n.va_max_kva * 1000.0, "int16"),
            "Var_SF": sf_for_range(HEADROOM * n.va_max_kva * 1000.0, "int16"),
            "A_SF": sf_for_range(HEADROOM * n.current_max_a, "int16"),
            "V_SF": sf_for_range(HEADROOM * n.voltage_ll_nominal_v, "uint16"),
            "Hz_SF": -3,
            "PF_SF": -3,
            "TotWh_SF": 0,
            "TotVarh_SF": 0,
            "Tmp_SF": -1,
        }

    def values(self, view: DeviceView) -> Values:
        """The snapshot as 701 points."""
        s = view.snapshot
        m = s.metrics
        st = s.status
        w = m.power_kw * 1000.0
        va = m.apparent_power_kva * 1000.0
        var = m.reactive_power_kvar * 1000.0
        sf = dict(self.sf)
        if self.auto_range:
            sf["W_SF"] = sf_for_range(w, "int16", finest=-2)
            sf["VA_SF"] = sf_for_range(va, "int16", finest=-2)
            sf["Var_SF"] = sf_for_range(var, "int16", finest=-2)
            sf["A_SF"] = sf_for_range(m.current_a, "int16", finest=-2)
        inverter = st.inverter_state
        alarms = 0
        for fault in view.controller.faults(view.index).active:
            name = FAULT_ALARMS.get(fault)
            if name is not None:
                alarms |= bit("Alrm", name)
        if st.grid_state == "tripped" and st.last_trip is not None:
            name = TRIP_ALARMS.get(st.last_trip.cause[:2])
            if name is not None:
                alarms |= bit("Alrm", name)
        mode = bit("DERMode", "GRID_FOLLOWING")
        if getattr(s.asset, "clipped", False) is True:
            mode |= bit("DERMode", "PV_CLIPPED")
        e = s.energy
        totals = {
            "TotWhInj": e.injected_kwh * 1000.0,
            "TotWhAbs": e.absorbed_kwh * 1000.0,
            "TotVarhInj": e.reactive_injected_kvarh * 1000.0,
            "TotVarhAbs": e.reactive_absorbed_kvarh * 1000.0,
        }
        values: Values = {
            **sf,
            "ACType": symbol("ACType", AC_TYPE[view.nameplate.ac_type]),
            "St": symbol("St", "OFF" if inverter in ("off", "fault") else "ON"),
            "InvSt": symbol("InvSt", inverter.upper()),
            "ConnSt": symbol("ConnSt", st.connection_state.upper()),
            "Alrm": alarms,
            "DERMode": mode,
            "W": w,
            "VA": va,
            "Var": var,
            "PF": m.power_factor,
            "A": m.current_a,
            "LLV": m.voltage_ll_v,
            "LNV": m.voltage_ln_v,
            "Hz": m.frequency_hz,
            **totals,
        }
        ambient = getattr(s.asset, "ambient_temperature_c", None)
        if isinstance(ambient, int | float):
            values["TmpAmb"] = float(ambient)
        n = self.phases
        for k in range(1, n + 1):
            values[f"WL{k}"] = w / n
            values[f"VAL{k}"] = va / n
            values[f"VarL{k}"] = var / n
            values[f"PFL{k}"] = m.power_factor
            values[f"AL{k}"] = m.current_a
            values[f"VL{k}"] = m.voltage_ln_v
            for name, total in totals.items():
                values[f"{name}L{k}"] = total / n
        if n > 1:
            for name in LINE_VOLTAGES[: 1 if n == 2 else 3]:
                values[name] = m.voltage_ll_v
        return values
