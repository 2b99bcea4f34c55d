"""SunSpec models 713 (DER Storage Capacity) and 802 (Battery Base) for storage devices.

713: ``WHRtg`` (rated energy), ``WHAvail`` (energy above the reserve minimum, the snapshot's
``asset.energy_available_kwh``), ``SoC``, ``SoH`` and ``Sta`` (ERROR while the inverter is in
fault, else OK).

802, from the snapshot and the nameplate: ``WHRtg``, ``WChaRteMax``/``WDisChaRteMax``,
``SoCMax``/``SoCMin`` (nameplate usable range), ``SocRsvMax``/``SoCRsvMin`` (the operator reserve
in force), ``SoC``, ``DoD`` (100 − SoC), ``SoH``, ``ChaSt`` (OFF with the inverter off, else
CHARGING/DISCHARGING by the sign of the pack power, else FULL/EMPTY at a reserve limit, else
HOLDING), ``LocRemCtl`` (REMOTE), ``Typ`` (NMC and LFP are LITHIUM_ION), ``State``
(DISCONNECTED, INITIALIZING, CONNECTED, STANDBY or FAULT from the inverter and connection
states), ``Evt1`` (GROUND_FAULT, OVER_TEMP_ALARM, OVER_VOLT_ALARM, COMMUNICATION_ERROR from the
injected faults), ``Evt2``/``EvtVnd1``/``EvtVnd2`` (0), ``V``/``A``/``W`` at the pack
(``W`` > 0 discharges), the cell voltages a battery reports, and ``Hb`` (simulated seconds, mod
65536). Writes: ``SetOp`` CONNECT/DISCONNECT are the ``enter_service``/``cease_to_energize``
commands, ``SetInvState`` STARTED/STOPPED/STANDBY are ``start``/``stop``/``cease_to_energize``,
``AlmRst`` (any value but 0) is ``reset``, ``CtrlHb`` is held for the controller to read back.
Not implemented: ``AHRtg`` (no nominal pack voltage is rated), ``DisChaRte``, ``NCyc``,
``AChaMax``/``ADisChaMax``, ``ReqInvState``/``ReqW``, ``StateVnd``, ``WarrDt``. The reserve
points are read-only here (the operator façade has no reserve control).
"""

from __future__ import annotations

from dersim_trio.api.controls import CommandName
from dersim_trio.protocols.modbus.codec import ExceptionCode
from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.models.commands import run_commands
from dersim_trio.protocols.modbus.points import sf_for_range
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values, WriteRefused

_SYM713 = {s.path: s.point.symbols for s in layout_model(713).points if s.point.symbols}
_SYM802 = {s.path: s.point.symbols for s in layout_model(802).points if s.point.symbols}
IDLE_W = 1.0
"""Below this pack power (W) the battery counts as holding."""
FAULT_EVENTS = {
    "ground_fault": "GROUND_FAULT",
    "over_temperature": "OVER_TEMP_ALARM",
    "dc_over_voltage": "OVER_VOLT_ALARM",
    "communication_loss": "COMMUNICATION_ERROR",
}
SET_OP: dict[int, CommandName] = {
    _SYM802["SetOp"]["CONNECT"]: "enter_service",
    _SYM802["SetOp"]["DISCONNECT"]: "cease_to_energize",
}
SET_INV_STATE: dict[int, CommandName] = {
    _SYM802["SetInvState"]["INVERTER_STARTED"]: "start",
    _SYM802["SetInvState"]["INVERTER_STOPPED"]: "stop",
    _SYM802["SetInvState"]["INVERTER_STANDBY"]: "cease_to_energize",
}


def _pack(view: DeviceView) -> tuple[float, float, float]:
    """Pack voltage (V), current (A) and power (W, > 0 discharging) of the last tick."""
    s = view.snapshot
    if s.asset_type == "hybrid-dc":
        v = getattr(s.asset, "battery_voltage_v", 0.0)
        a = getattr(s.asset, "battery_current_a", 0.0)
        w = getattr(s.asset, "battery_pack_power_kw", 0.0) * 1000.0
        return float(v), float(a), float(w)
    m = s.metrics
    return m.dc_voltage_v, m.dc_current_a, m.dc_power_kw * 1000.0


class StorageCapacitySection(Section):
    """Model 713."""

    model_id = 713

    def __init__(self, view: DeviceView) -> None:
        storage = view.nameplate.storage
        assert storage is not None
        self.wh_rtg = storage.energy_kwh * 1000.0
        self.soh = storage.state_of_health_pct
        self.wh_sf = sf_for_range(self.wh_rtg, "uint16", finest=0)

    def values(self, view: DeviceView) -> Values:
        """Rated and available energy, SoC, SoH, status."""
        s = view.snapshot
        available = getattr(s.asset, "energy_available_kwh", None)
        sta = "ERROR" if s.status.inverter_state == "fault" else "OK"
        return {
            "WH_SF": self.wh_sf,
            "Pct_SF": -1,
            "WHRtg": self.wh_rtg,
            "WHAvail": float(available) * 1000.0 if available is not None else None,
            "SoC": s.metrics.state_of_charge_pct,
            "SoH": self.soh,
            "Sta": _SYM713["Sta"][sta],
        }


class BatterySection(Section):
    """Model 802 (see the module docstring)."""

    model_id = 802

    def __init__(self, view: DeviceView) -> None:
        n = view.nameplate
        storage = n.storage
        assert storage is not None
        self.storage = storage
        self.ctrl_hb = 0
        self.static: Values = {
            "AHRtg_SF": 0,
            "WHRtg_SF": sf_for_range(storage.energy_kwh * 1000.0, "uint16", finest=0),
            "WChaDisChaMax_SF": sf_for_range(
                1000.0 * max(storage.w_charge_max_kw, storage.w_discharge_max_kw),
                "uint16",
                finest=0,
            ),
            "SoC_SF": -1,
            "DoD_SF": -1,
            "SoH_SF": -1,
            "V_SF": -1,
            "CellV_SF": -3,
            "A_SF": sf_for_range(
                1.5 * 1000.0 * max(storage.w_charge_max_kw, storage.w_discharge_max_kw) / 100.0,
                "int16",
                finest=-2,
            ),
            "AMax_SF": 0,
            "W_SF": sf_for_range(
                1.5 * 1000.0 * max(storage.w_charge_max_kw, storage.w_discharge_max_kw),
                "int16",
                finest=0,
            ),
            "DisChaRte_SF": 0,
            "WHRtg": storage.energy_kwh * 1000.0,
            "WChaRteMax": storage.w_charge_max_kw * 1000.0,
            "WDisChaRteMax": storage.w_discharge_max_kw * 1000.0,
            "SoCMax": storage.soc_max_pct,
            "SoCMin": storage.soc_min_pct,
            "SoH": storage.state_of_health_pct,
            "LocRemCtl": _SYM802["LocRemCtl"]["REMOTE"],
            "Typ": _SYM802["Typ"]["LITHIUM_ION"],
            "Evt2": 0,
            "EvtVnd1": 0,
            "EvtVnd2": 0,
            "AlmRst": 0,
        }

    def writable(self) -> frozenset[str]:
        """Commands and the controller heartbeat."""
        return frozenset({"SetOp", "SetInvState", "AlmRst", "CtrlHb"})

    def values(self, view: DeviceView) -> Values:
        """The pack as 802 points."""
        s = view.snapshot
        m = s.metrics
        st = s.status
        inverter = st.inverter_state
        v, a, w = _pack(view)
        soc = m.state_of_charge_pct
        if inverter == "off":
            charge = "OFF"
        elif w > IDLE_W:
            charge = "DISCHARGING"
        elif w < -IDLE_W:
            charge = "CHARGING"
        elif soc is not None and m.soc_reserve_max_pct is not None and soc >= m.soc_reserve_max_pct:
            charge = "FULL"
        elif soc is not None and m.soc_reserve_min_pct is not None and soc <= m.soc_reserve_min_pct:
            charge = "EMPTY"
        else:
            charge = "HOLDING"
        if inverter == "fault":
            state = "FAULT"
        elif inverter == "off" or st.connection_state == "disconnected":
            state = "DISCONNECTED"
        elif inverter == "starting":
            state = "INITIALIZING"
        elif inverter in ("standby", "sleeping") or st.service_state != "in_service":
            state = "STANDBY"
        else:
            state = "CONNECTED"
        events = 0
        for fault in view.controller.faults(view.index).active:
            name = FAULT_EVENTS.get(fault)
            if name is not None:
                events |= 1 << _SYM802["Evt1"][name]
        values: Values = {
            **self.static,
            "SocRsvMax": m.soc_reserve_max_pct,
            "SoCRsvMin": m.soc_reserve_min_pct,
            "SoC": soc,
            "DoD": 100.0 - soc if soc is not None else None,
            "ChaSt": _SYM802["ChaSt"][charge],
            "State": _SYM802["State"][state],
            "Evt1": events,
            "V": v,
            "A": a,
            "W": w,
            "Hb": int(view.controller.elapsed_s) % 0x10000,
            "CtrlHb": self.ctrl_hb,
            "SetOp": _SYM802["SetOp"][
                "CONNECT" if st.service_state != "out_of_service" else "DISCONNECT"
            ],
            "SetInvState": _SYM802["SetInvState"][
                "INVERTER_STOPPED"
                if inverter in ("off", "shutting_down", "fault")
                else "INVERTER_STANDBY"
                if state == "STANDBY"
                else "INVERTER_STARTED"
            ],
        }
        for point, key in (
            ("CellVMax", "cell_voltage_max_v"),
            ("CellVMin", "cell_voltage_min_v"),
            ("CellVAvg", "cell_voltage_v"),
        ):
            cell = getattr(s.asset, key, None)
            if isinstance(cell, int | float):
                values[point] = float(cell)
        return values

    def write(self, view: DeviceView, changes: Values, current: Values) -> str:
        """Commands (``SetOp``, ``SetInvState``, ``AlmRst``) and the controller heartbeat."""
        names: list[CommandName] = []
        for point, table in (("SetOp", SET_OP), ("SetInvState", SET_INV_STATE)):
            if point in changes:
                value = changes[point]
                if not isinstance(value, int) or value not in table:
                    raise WriteRefused(
                        ExceptionCode.ILLEGAL_DATA_VALUE,
                        f"{point}: {value} is none of {sorted(table)}",
                    )
                names.append(table[value])
        if changes.get("AlmRst"):
            names.append("reset")
        done = run_commands(view, names) if names else ""
        hb = changes.get("CtrlHb")
        if isinstance(hb, int):
            self.ctrl_hb = hb
            done = "; ".join(x for x in (done, f"CtrlHb {hb}") if x)
        return done or "no change"
