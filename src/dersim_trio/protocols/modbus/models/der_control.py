"""SunSpec model 715 (DER Control): the operator commands of ``POST /api/dersim/commands``.

``OpCtl`` STOP and START are the ``stop`` and ``start`` commands, ENTER_STANDBY and
EXIT_STANDBY are ``cease_to_energize`` and ``enter_service`` (the unit stays on, out of
service, and returns); it reads STOP while the inverter is off or shutting down, ENTER_STANDBY
while the operator holds it out of service, else START. ``AlarmReset`` (any value but 0) is the
``reset`` command and reads 0. ``LocRemCtl`` is REMOTE, ``DERHb`` the simulated seconds since
start, ``ControllerHb`` holds what the controller last wrote. A command the device refuses in its
present state (a reset while the fault is present) gets exception 04, as from a device that
could not carry it out; it is logged like the REST command.
"""

from __future__ import annotations

from dersim_trio.api.controls import CommandName
from dersim_trio.protocols.modbus.codec import ExceptionCode
from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.models.commands import run_commands
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values, WriteRefused

_SYMBOLS = {s.path: s.point.symbols for s in layout_model(715).points if s.point.symbols}
OPCTL: dict[int, CommandName] = {
    _SYMBOLS["OpCtl"]["STOP"]: "stop",
    _SYMBOLS["OpCtl"]["START"]: "start",
    _SYMBOLS["OpCtl"]["ENTER_STANDBY"]: "cease_to_energize",
    _SYMBOLS["OpCtl"]["EXIT_STANDBY"]: "enter_service",
}


class DerControlSection(Section):
    """Model 715 (see the module docstring)."""

    model_id = 715
    live = True
    controls = True

    def __init__(self) -> None:
        self.controller_hb = 0

    def writable(self) -> frozenset[str]:
        """Commands and the controller heartbeat."""
        return frozenset({"OpCtl", "AlarmReset", "ControllerHb"})

    def values(self, view: DeviceView) -> Values:
        """Heartbeats and the commanded state."""
        st = view.snapshot.status
        if st.inverter_state in ("off", "shutting_down"):
            opctl = "STOP"
        elif st.service_state == "out_of_service" and st.inverter_state == "standby":
            opctl = "ENTER_STANDBY"
        else:
            opctl = "START"
        return {
            "LocRemCtl": _SYMBOLS["LocRemCtl"]["REMOTE"],
            "DERHb": int(view.controller.elapsed_s) % 0x1_0000_0000,
            "ControllerHb": self.controller_hb,
            "AlarmReset": 0,
            "OpCtl": _SYMBOLS["OpCtl"][opctl],
        }

    def write(self, view: DeviceView, changes: Values, current: Values) -> str:
        """``OpCtl`` and ``AlarmReset`` run commands; ``ControllerHb`` is held."""
        names: list[CommandName] = []
        if "OpCtl" in changes:
            value = changes["OpCtl"]
            if not isinstance(value, int) or value not in OPCTL:
                raise WriteRefused(
                    ExceptionCode.ILLEGAL_DATA_VALUE, f"OpCtl: {value} is none of {sorted(OPCTL)}"
                )
            names.append(OPCTL[value])
        if changes.get("AlarmReset"):
            names.append("reset")
        done = run_commands(view, names) if names else ""
        hb = changes.get("ControllerHb")
        if isinstance(hb, int):
            self.controller_hb = hb
            done = "; ".join(x for x in (done, f"ControllerHb {hb}") if x)
        return done or "no change"
