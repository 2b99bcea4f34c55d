"""Injected fault conditions of one device (SunSpec 701 ``Alrm`` bits, as a test fixture).

A fault *condition* is present from its injection until it is cleared. Injecting one trips the
inverter into a fault state (``operating_state``), which stays latched after the condition has
cleared until a ``reset``; the reset is refused while any condition is still present. ``latched``
keeps the conditions that tripped the unit since the last reset, so the status message can name
them after they cleared and ``grid_disconnect`` keeps the unit disconnected until the reset.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from dersim_trio.api.controls import FAULT_TYPES, FaultType


def _ordered(types: Set[FaultType]) -> list[FaultType]:
    return [t for t in FAULT_TYPES if t in types]


@dataclass(slots=True)
class FaultRecord:
    """Present and latched fault conditions of one device.

    Immutable sets, replaced on each change: a device without faults holds the one empty
    ``frozenset`` instead of two empty sets of its own (432 bytes per device of a fleet)."""

    present: frozenset[FaultType] = frozenset()
    latched: frozenset[FaultType] = frozenset()

    @property
    def active(self) -> list[FaultType]:
        """Conditions still present, in a fixed order."""
        return _ordered(self.present)

    def inject(self, fault: FaultType) -> None:
        """A condition appears (it also latches)."""
        self.present = self.present | {fault}
        self.latched = self.latched | {fault}

    def clear(self, fault: FaultType | None) -> list[FaultType]:
        """One condition (None: every one) goes away; return those that were present."""
        gone = self.active if fault is None else ([fault] if fault in self.present else [])
        self.present = self.present.difference(gone)
        return gone

    def reset(self) -> None:
        """The latch is released (only when no condition is present)."""
        self.latched = self.present

    @property
    def disconnected(self) -> bool:
        """True while a grid disconnect is present or latched."""
        return "grid_disconnect" in self.latched or "grid_disconnect" in self.present

    def message(self) -> str:
        """The status message while faulted, naming the faults."""
        if self.present:
            return "fault: " + ", ".join(self.active)
        names = ", ".join(_ordered(self.latched)) or "unknown"
        return f"fault: {names} (cleared; send reset)"
