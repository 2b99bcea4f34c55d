"""Operator commands written over Modbus (715 ``OpCtl``/``AlarmReset``, 802 ``SetOp``,
``SetInvState``, ``AlmRst``): the same ``Controller.command`` as ``POST /api/dersim/commands``.
"""

from __future__ import annotations

from dersim_trio.api.controls import CommandName, CommandRequest
from dersim_trio.protocols.modbus.codec import ExceptionCode
from dersim_trio.protocols.modbus.registers import DeviceView, WriteRefused


def run_commands(view: DeviceView, names: list[CommandName]) -> str:
    """Apply ``names`` in order; a refused command ends the write with exception 04 (the device
    could not perform it in its present state, e.g. a reset while the fault is present)."""
    done: list[str] = []
    for name in names:
        (record,) = view.controller.command(CommandRequest(command=name, device=view.index))
        if record.outcome != "accepted":
            raise WriteRefused(
                ExceptionCode.SERVER_DEVICE_FAILURE, f"command {name} rejected: {record.detail}"
            )
        done.append(f"command {name} accepted")
    return "; ".join(done)
