"""A device's SunSpec register map: sections (one per SunSpec model) laid out from 40000.

Theory of operation. A ``Section`` binds one SunSpec model to the operator façade: ``values``
reads the device (the last tick's snapshot and the façade) and returns engineering values by
point path (``"W"``, ``"Crv[1].Pt[2].V"``; scale-factor points carry their exponent; a path
left out reads as not implemented), and ``write`` turns the points a client wrote into façade
calls. A section is either per tick (measurements: refreshed once after each tick, on the first
read that needs it) or live (settings and controls: refreshed on every read that touches them,
so a REST change shows in the very next Modbus read).

``RegisterMap`` lays the sections out back to back after the ``SunS`` marker at
``BASE_ADDRESS`` (40000), each as ``ID``, ``L`` and its points, then the end model
(0xFFFF, 0). It keeps one bytearray image of the whole map; a read is a slice of it after the
sections it covers are refreshed, all without an ``await``: a read is one atomic view of one
tick, so a 32- or 64-bit point can never be torn by the tick loop.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from dersim_trio.protocols.modbus.codec import ExceptionCode
from dersim_trio.protocols.modbus.layout import ModelLayout, PointSlot, layout_model
from dersim_trio.protocols.modbus.points import EncodePlan, Value, encode_plan, encode_values

if TYPE_CHECKING:
    from dersim_trio.api.nameplate import DeviceNameplate
    from dersim_trio.api.schema import Snapshot
    from dersim_trio.service.operator import Controller

BASE_ADDRESS = 40000
SUNS_MARKER = b"SunS"
END_MODEL_ID = 0xFFFF

Values = dict[str, Value]


class WriteRefused(Exception):
    """A write the device refuses: nothing changed; ``code`` is the Modbus exception."""

    def __init__(self, code: ExceptionCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


@dataclass(slots=True)
class DeviceView:
    """What a section reads: the device's index, the façade, its nameplate and the last tick's
    snapshot (replaced after every tick)."""

    index: int
    controller: Controller
    nameplate: DeviceNameplate
    snapshot: Snapshot


class Section:
    """One SunSpec model of one device (see the module docstring). Subclasses set
    ``model_id`` and override ``values`` (and ``write`` for writable points)."""

    model_id: ClassVar[int]
    live: ClassVar[bool] = False
    """True: refreshed on every read (settings); False: once per tick (measurements)."""
    controls: ClassVar[bool] = False
    """True for a control model (its writable points are hidden by ``write_only_controls``)."""

    def counts(self) -> Mapping[str, int]:
        """The sizes of the model's counted groups (``NCrv``, ``NPt``, ...)."""
        return {}

    def writable(self) -> frozenset[str]:
        """Point paths a client may write (a subset of the model's RW points)."""
        return frozenset()

    def values(self, view: DeviceView) -> Values:
        """Engineering values by point path (see the module docstring)."""
        raise NotImplementedError

    def write(self, view: DeviceView, changes: Values, current: Values) -> str:
        """Apply the written points (``changes``: engineering values; ``current``: the values
        before the write) through the façade; return what changed, for the log. Raises
        ``WriteRefused`` (nothing changed)."""
        raise WriteRefused(ExceptionCode.ILLEGAL_DATA_ADDRESS, "read-only model")


def sf_of(slot: PointSlot, values: Mapping[str, Value]) -> int:
    """The scale factor of a point given its model's values (0 without one)."""
    if slot.sf_literal is not None:
        return slot.sf_literal
    if slot.sf_path is None:
        return 0
    sf = values.get(slot.sf_path)
    return sf if isinstance(sf, int) else 0


@dataclass(slots=True)
class MappedSection:
    """A section placed in the map: its layout and the address of its ``ID`` register."""

    section: Section
    layout: ModelLayout
    start: int
    writable: frozenset[str]
    plan: EncodePlan
    """How ``store`` encodes the points after ``ID`` and ``L``."""
    hidden: frozenset[str] = frozenset()
    """Points read as not implemented (``write_only_controls``)."""
    refreshed_tick: int = -1
    current: Values = field(default_factory=dict)

    @property
    def end(self) -> int:
        """The address after the model's last register."""
        return self.start + self.layout.size


class RegisterMap:
    """The register image of one device (see the module docstring)."""

    def __init__(
        self, sections: Sequence[Section], *, end_model: bool = True, hide_controls: bool = False
    ) -> None:
        self.sections: list[MappedSection] = []
        address = BASE_ADDRESS + len(SUNS_MARKER) // 2
        for section in sections:
            layout = layout_model(section.model_id, section.counts())
            writable = section.writable()
            unknown = writable - {s.path for s in layout.points if s.point.writable}
            if unknown:
                raise ValueError(f"model {section.model_id}: not RW points {sorted(unknown)}")
            hidden = writable if hide_controls and section.controls else frozenset()
            plan = encode_plan(layout.points[2:])  # ID and L stay as laid out
            self.sections.append(MappedSection(section, layout, address, writable, plan, hidden))
            address += layout.size
        self.end_model = end_model
        self.end = address + (2 if end_model else 0)
        self.image = bytearray(2 * (self.end - BASE_ADDRESS))
        self.image[0:4] = SUNS_MARKER
        for mapped in self.sections:
            self._put(mapped.start, mapped.section.model_id)
            self._put(mapped.start + 1, mapped.layout.length)
        if end_model:
            self._put(address, END_MODEL_ID)
            self._put(address + 1, 0)
        self._starts = [m.start for m in self.sections]

    def _put(self, address: int, value: int) -> None:
        offset = 2 * (address - BASE_ADDRESS)
        self.image[offset : offset + 2] = value.to_bytes(2, "big")

    def contains(self, address: int, count: int) -> bool:
        """True when ``count`` registers from ``address`` all lie inside the map."""
        return address >= BASE_ADDRESS and address + count <= self.end

    def sections_in(self, address: int, count: int) -> list[MappedSection]:
        """The sections a register range overlaps."""
        i = max(0, bisect.bisect_right(self._starts, address) - 1)
        found: list[MappedSection] = []
        end = address + count
        for mapped in self.sections[i:]:
            if mapped.start >= end:
                break
            if mapped.end > address:
                found.append(mapped)
        return found

    def section_at(self, address: int) -> MappedSection | None:
        """The section holding ``address`` (None: the marker or the end model)."""
        found = self.sections_in(address, 1)
        return found[0] if found else None

    def store(self, mapped: MappedSection, values: Values) -> None:
        """Encode a section's values into the image (every point; missing → not implemented)."""
        mapped.current = values
        base = 2 * (mapped.start - BASE_ADDRESS)
        encode_values(self.image, base, mapped.plan, values, mapped.hidden)

    def read(self, address: int, count: int) -> bytes:
        """The registers as bytes (the caller refreshed the sections first)."""
        offset = 2 * (address - BASE_ADDRESS)
        return bytes(self.image[offset : offset + 2 * count])
