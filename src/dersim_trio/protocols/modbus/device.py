"""One simulated device as a SunSpec Modbus server, sans-IO: a frame in, a response out.

``SunSpecDevice.handle(frame, peer)`` answers one request against the device's register map
(``registers.RegisterMap``) and returns the response frame, or None when the device stays
silent (``unit_id_strict``). It never awaits, so a request sees one consistent tick.

* Unit ids: the device's own (``1.DA``, default 1) and 0 and 255 (as SunSpec clients try them)
  are answered; any other gets exception 0x0B, or silence with ``unit_id_strict``.
* Reads (FC 3 and 4, the same map): any range inside the map (40000 to the end model); the
  sections it covers are refreshed first (per tick or live, see ``registers``). Outside the map:
  exception 02.
* Writes (FC 6 and 16): the range must lie in one model and cover whole writable points only
  (a read-only point, an unmapped one or half of a 32-bit point: exception 02); the values are
  decoded with the model's scale factors and handed to the section, which refuses with 03
  (value) or 04 (a command the device cannot carry out), changing nothing. FC 6 gets exception
  01 with ``fc16_only``.
* Every write is logged on ``dersim_trio.Modbus`` (the Logs tab's module ``Modbus``) with the
  device, the client's address, the register range and the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dersim_trio.api.schema import Snapshot
from dersim_trio.protocols.modbus.codec import (
    ExceptionCode,
    Frame,
    Invalid,
    ReadRegisters,
    WriteSingle,
    encode_frame,
    exception_response,
    read_response,
    write_multiple_response,
    write_single_response,
)
from dersim_trio.protocols.modbus.models import device_sections
from dersim_trio.protocols.modbus.points import decode
from dersim_trio.protocols.modbus.quirks import Quirks
from dersim_trio.protocols.modbus.registers import (
    DeviceView,
    MappedSection,
    RegisterMap,
    Values,
    WriteRefused,
    sf_of,
)
from dersim_trio.service.operator import Controller

log = logging.getLogger("dersim_trio.Modbus")

BROADCAST_UNIT_IDS = (0, 255)


class SunSpecDevice:
    """The register map of device ``index`` and its request handling (module docstring)."""

    def __init__(
        self,
        index: int,
        controller: Controller,
        snapshot: Callable[[], Snapshot],
        quirks: Quirks,
    ) -> None:
        self.index = index
        self.quirks = quirks
        self._snapshot = snapshot
        nameplate = controller.nameplate(index)
        self.unit_id = nameplate.device_address
        self.view = DeviceView(index, controller, nameplate, snapshot())
        self.map = RegisterMap(
            device_sections(self.view, quirks),
            end_model=not quirks.no_end_model,
            hide_controls=quirks.write_only_controls,
        )
        self.connections = 0
        """Open connections (kept by the I/O shell)."""

    # --- requests --------------------------------------------------------------------------

    def handle(self, frame: Frame, peer: str) -> bytes | None:
        """The response frame to ``frame`` (None: no answer)."""
        unit = frame.unit_id
        if unit != self.unit_id:
            if self.quirks.unit_id_strict:
                return None
            if unit not in BROADCAST_UNIT_IDS:
                return self._reply(
                    frame, exception_response(frame.request.function, ExceptionCode(0x0B))
                )
        request = frame.request
        if isinstance(request, Invalid):
            pdu = exception_response(request.function, request.code)
        elif isinstance(request, ReadRegisters):
            pdu = self._read(request)
        elif isinstance(request, WriteSingle):
            if self.quirks.fc16_only:
                pdu = exception_response(request.function, ExceptionCode.ILLEGAL_FUNCTION)
            else:
                pdu = self._write(request.function, request.address, (request.value,), peer)
        else:
            pdu = self._write(request.function, request.address, request.values, peer)
        return self._reply(frame, pdu)

    @staticmethod
    def _reply(frame: Frame, pdu: bytes) -> bytes:
        return encode_frame(frame.transaction_id, frame.unit_id, pdu)

    def _refresh(self, mapped: MappedSection) -> None:
        view = self.view
        snapshot = self._snapshot()
        view.snapshot = snapshot
        if mapped.section.live or mapped.refreshed_tick != snapshot.tick:
            values = mapped.section.values(view)
            if values is not mapped.current:  # a section may hand back unchanged values
                self.map.store(mapped, values)
            mapped.refreshed_tick = snapshot.tick

    def _read(self, request: ReadRegisters) -> bytes:
        address, count = request.address, request.count
        if not self.map.contains(address, count):
            return exception_response(request.function, ExceptionCode.ILLEGAL_DATA_ADDRESS)
        try:
            for mapped in self.map.sections_in(address, count):
                self._refresh(mapped)
        except Exception:
            log.exception("device %d: Modbus read %d+%d failed", self.index, address, count)
            return exception_response(request.function, ExceptionCode.SERVER_DEVICE_FAILURE)
        return read_response(request.function, self.map.read(address, count))

    def _write(self, function: int, address: int, registers: tuple[int, ...], peer: str) -> bytes:
        count = len(registers)
        span = f"registers {address}-{address + count - 1}"
        try:
            summary = self._apply(address, registers)
        except WriteRefused as refused:
            log.warning(
                "device %d: Modbus write from %s, %s: refused (exception %02X): %s",
                self.index,
                peer,
                span,
                refused.code,
                refused.reason,
                extra={"audit": True},
            )
            return exception_response(function, refused.code)
        except Exception:
            log.exception("device %d: Modbus write from %s, %s failed", self.index, peer, span)
            return exception_response(function, ExceptionCode.SERVER_DEVICE_FAILURE)
        log.info(
            "device %d: Modbus write from %s, %s: %s",
            self.index,
            peer,
            span,
            summary,
            extra={"audit": True},
        )
        if count == 1 and function == 6:
            return write_single_response(address, registers[0])
        return write_multiple_response(address, count)

    def _apply(self, address: int, registers: tuple[int, ...]) -> str:
        """Validate and apply a write (raises ``WriteRefused``; nothing changes then)."""
        count = len(registers)
        illegal = ExceptionCode.ILLEGAL_DATA_ADDRESS
        mapped = self.map.section_at(address) if self.map.contains(address, count) else None
        if mapped is None or address + count > mapped.end:
            raise WriteRefused(illegal, "outside the map or across a model boundary")
        model = mapped.layout.model_id
        first = address - mapped.start
        last = first + count
        changes_raw: list[tuple[int, int]] = []  # (layout index, register offset in the write)
        for i, slot in enumerate(mapped.layout.points):
            start, end = slot.offset, slot.offset + slot.point.size
            if end <= first or start >= last:
                continue
            if start < first or end > last:
                raise WriteRefused(illegal, f"{model}.{slot.path}: part of a point")
            if slot.path not in mapped.writable:
                raise WriteRefused(illegal, f"{model}.{slot.path}: read-only")
            changes_raw.append((i, start - first))
        self._refresh(mapped)
        current: Values = mapped.current
        data = b"".join(r.to_bytes(2, "big") for r in registers)
        changes: Values = {}
        for i, at in changes_raw:
            slot = mapped.layout.points[i]
            raw = data[2 * at : 2 * (at + slot.point.size)]
            changes[slot.path] = decode(slot, raw, sf_of(slot, current))
        summary = mapped.section.write(self.view, changes, current)
        mapped.refreshed_tick = -1
        self._refresh(mapped)
        names = ", ".join(f"{model}.{p}={v}" for p, v in changes.items())
        return f"{names}: {summary}"
