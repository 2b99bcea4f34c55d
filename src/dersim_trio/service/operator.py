"""The simulator's control surface, as plain methods over the engine (no web, no trio).

Everything an operator can change at run time goes through ``Controller``: the web routes call
it, tests call it directly. Changes are applied between ticks (the tick loop and the web handlers
share one trio thread and ``Engine.step`` never awaits), so a change is visible in the very next
tick's snapshot.

Run-time inputs (grid, weather) are here; setpoints, commands and faults are applied to each
device's supervisor (``controls.supervisor``), whose tables and equations live in ``controls/``.
Every control change, command and fault is logged with the device index in the message:
``dersim_trio.AC`` (controls), ``dersim_trio.Lab`` (commands), ``dersim_trio.DC`` (faults).
"""

from __future__ import annotations

import logging
from collections import deque

from dersim_trio.api.controls import (
    Capability,
    ClampRecord,
    CommandName,
    CommandRecord,
    CommandRequest,
    ControlsState,
    ControlsUpdate,
    FaultsState,
    FaultType,
    HybridDispatchName,
)
from dersim_trio.api.schema import InputsState, InputsUpdate
from dersim_trio.controls.setpoints import SETPOINT_ASSETS
from dersim_trio.engine.core import DeviceSlot, Engine
from dersim_trio.errors import ControlsRejected, DeviceIndexError
from dersim_trio.physics.hybrid import HybridModel

log_ac = logging.getLogger("dersim_trio.AC")
log_lab = logging.getLogger("dersim_trio.Lab")
log_dc = logging.getLogger("dersim_trio.DC")

COMMAND_LOG_SIZE = 500
"""Commands kept for ``GET /api/dersim/commands`` (the oldest are dropped)."""


class Controller:
    """Run-time inputs, setpoints, commands and faults of the simulated devices."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._commands: deque[CommandRecord] = deque(maxlen=COMMAND_LOG_SIZE)
        self._next_command_id = 1

    @property
    def device_count(self) -> int:
        """Number of simulated devices."""
        return len(self.engine.devices)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.device_count:
            raise DeviceIndexError(index, self.device_count)

    def inputs(self, index: int) -> InputsState:
        """The run-time input overrides of one device (``None``: following profile/model)."""
        self._check(index)
        slot = self.engine.devices[index]
        i = slot.inputs
        return InputsState(
            device_index=index,
            irradiance_w_m2=i.irradiance_w_m2,
            ambient_temperature_c=i.ambient_temperature_c,
            wind_speed_m_s=i.wind_speed_m_s,
            grid_voltage_pu=i.grid_voltage_pu,
            grid_frequency_hz=i.grid_frequency_hz,
            has_profile=slot.profile is not None,
        )

    def update_inputs(self, index: int | None, update: InputsUpdate) -> list[InputsState]:
        """Apply the fields present in ``update`` to one device (or all when ``index`` is None).

        A number overrides the profile; ``null`` returns the quantity to its profile (or model);
        for grid voltage and frequency ``null`` returns to nominal (1.0 pu, 60 Hz).
        """
        indices = range(self.device_count) if index is None else [index]
        if index is not None:
            self._check(index)
        fields = update.model_fields_set
        for i in indices:
            inputs = self.engine.devices[i].inputs
            if "irradiance_w_m2" in fields:
                inputs.irradiance_w_m2 = update.irradiance_w_m2
            if "ambient_temperature_c" in fields:
                inputs.ambient_temperature_c = update.ambient_temperature_c
            if "wind_speed_m_s" in fields:
                inputs.wind_speed_m_s = update.wind_speed_m_s
            if "grid_voltage_pu" in fields:
                v = update.grid_voltage_pu
                inputs.grid_voltage_pu = 1.0 if v is None else v
            if "grid_frequency_hz" in fields:
                f = update.grid_frequency_hz
                inputs.grid_frequency_hz = 60.0 if f is None else f
        return [self.inputs(i) for i in indices]

    # --- setpoints ----------------------------------------------------------------------------

    def _slot(self, index: int) -> DeviceSlot:
        self._check(index)
        return self.engine.devices[index]

    def controls(self, index: int) -> ControlsState:
        """One device's controls as they apply from the next tick, with its capability."""
        slot = self._slot(index)
        supervisor = slot.supervisor
        c = supervisor.controls
        model = slot.model
        rating = model.rating
        clamped = [clamp.record() for clamp in c.clamps.values()]
        q_clamp = supervisor.reactive_clamp
        if q_clamp is not None and q_clamp.reason is not None:
            clamped.append(
                ClampRecord(
                    field="reactive_power_kvar",
                    requested=q_clamp.requested_kvar,
                    applied=q_clamp.reactive_power_kvar,
                    reason=q_clamp.reason,
                )
            )
        return ControlsState(
            device_index=index,
            active_power_setpoint_kw=c.active_power_setpoint_kw,
            active_power_limit_pct=c.active_power_limit_pct,
            power_factor=c.power_factor,
            excitation=c.excitation if c.power_factor is not None else None,
            reactive_power_setpoint_kvar=c.reactive_power_setpoint_kvar,
            p_q_priority=c.p_q_priority,
            ramp_rate_pct_per_s=c.ramp_rate_pct_per_s,
            hybrid_dispatch=model.dispatch_policy if isinstance(model, HybridModel) else None,
            reversion=c.remaining_s(self.engine.elapsed_s),
            clamped=clamped,
            capability=Capability(
                w_max_kw=rating.w_max_kw,
                va_max_kva=rating.va_max_kva,
                var_max_inj_kvar=rating.var_max_inj_kvar,
                var_max_abs_kvar=rating.var_max_abs_kvar,
                setpoint_supported=model.asset_type in SETPOINT_ASSETS,
            ),
        )

    def update_controls(self, index: int, update: ControlsUpdate) -> ControlsState:
        """Apply the fields present in ``update`` (``null``: back to the default) to one device.

        Raises ``ControlsRejected`` (nothing changes) when a field does not apply to this device;
        values beyond a rating are clamped and reported instead.
        """
        slot = self._slot(index)
        model = slot.model
        controls = slot.supervisor.controls
        fields = update.model_fields_set
        policy: HybridDispatchName | None = None
        if isinstance(model, HybridModel):
            policy = model.dispatch_policy
            if "hybrid_dispatch" in fields:
                policy = update.hybrid_dispatch or model.nameplate.dispatch
        problems = controls.check(update, model.asset_type, policy)
        if problems:
            log_ac.info(
                "device %d: controls update rejected: %s", index, ControlsRejected(problems)
            )
            raise ControlsRejected(problems)
        if isinstance(model, HybridModel) and policy is not None:
            model.dispatch_policy = policy
        clamps = controls.apply(update, model.rating, self.engine.elapsed_s)
        log_ac.info(
            "device %d: controls updated: %s",
            index,
            update.model_dump_json(exclude_unset=True),
        )
        for clamp in clamps:
            log_ac.warning("device %d: %s (requested %.2f)", index, clamp.message, clamp.requested)
        return self.controls(index)

    # --- commands -----------------------------------------------------------------------------

    def command(self, request: CommandRequest) -> list[CommandRecord]:
        """Apply a command to one device (or every device when ``request.device`` is None).

        Each device gets a record, "accepted" or "rejected" with the reason; all are logged.
        """
        if request.device is None:
            indices: range | list[int] = range(self.device_count)
        else:
            self._check(request.device)
            indices = [request.device]
        engine = self.engine
        time = engine.clock.current.isoformat(timespec="milliseconds")
        tick = engine.tick
        records = [self._command_one(request.command, i, time, tick) for i in indices]
        return records

    def _command_one(self, name: CommandName, index: int, time: str, tick: int) -> CommandRecord:
        supervisor = self.engine.devices[index].supervisor
        accepted, detail = supervisor.command(name, self.engine.times)
        record = CommandRecord(
            id=self._next_command_id,
            command=name,
            device=index,
            time=time,
            tick=tick,
            outcome="accepted" if accepted else "rejected",
            detail=detail,
        )
        self._next_command_id += 1
        self._commands.append(record)
        if accepted:
            log_lab.info("device %d: command %s accepted: %s", index, name, detail)
        else:
            log_lab.warning("device %d: command %s rejected: %s", index, name, detail)
        return record

    def commands(self, limit: int = 100) -> list[CommandRecord]:
        """The last ``limit`` commands, newest last (at most ``COMMAND_LOG_SIZE`` are kept)."""
        if limit <= 0:
            return []
        return list(self._commands)[-limit:]

    # --- faults -------------------------------------------------------------------------------

    def faults(self, index: int) -> FaultsState:
        """The fault conditions present on one device and whether its inverter is latched."""
        supervisor = self._slot(index).supervisor
        return FaultsState(
            device_index=index,
            active=supervisor.faults.active,
            latched=supervisor.operation.faulted,
        )

    def inject_fault(self, index: int, fault: FaultType) -> FaultsState:
        """Inject a fault condition: the inverter trips to fault (output 0) until a reset."""
        supervisor = self._slot(index).supervisor
        outcome = supervisor.inject_fault(fault, self.engine.times)
        log_dc.warning(
            "device %d: fault injected: %s (inverter %s → fault)",
            index,
            fault,
            outcome.previous,
        )
        return self.faults(index)

    def clear_fault(self, index: int, fault: FaultType | None = None) -> FaultsState:
        """Clear one fault condition (None: all); the inverter stays in fault until a reset."""
        supervisor = self._slot(index).supervisor
        gone = supervisor.clear_fault(fault)
        if gone:
            log_dc.info(
                "device %d: fault cleared: %s%s",
                index,
                ", ".join(gone),
                "; reset to recover" if supervisor.operation.faulted else "",
            )
        else:
            log_dc.info(
                "device %d: fault clear requested (%s): no such condition present",
                index,
                fault or "all",
            )
        return self.faults(index)
