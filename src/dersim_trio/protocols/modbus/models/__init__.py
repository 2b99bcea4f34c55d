"""The SunSpec models a simulated device serves, one module per model family.

Every device: 1 (common), 701 (AC measurement), 702 (capacity), 703 (enter service), 704 (AC
controls), 705-712 (the IEEE 1547 grid-support settings; 703 and 705-712 only on a device with
grid support, which every device type has), 715 (DER control); devices with DC
ports add 714 (DC measurement) after 712; storage devices (battery, hybrid) add 713 (storage
capacity) before 714 and 802 (battery base) last.
"""

from __future__ import annotations

from dersim_trio.protocols.modbus.models.ac_controls import AcControlsSection
from dersim_trio.protocols.modbus.models.ac_measurement import AcMeasurementSection
from dersim_trio.protocols.modbus.models.capacity import CapacitySection
from dersim_trio.protocols.modbus.models.common import CommonSection
from dersim_trio.protocols.modbus.models.dc_measurement import DcMeasurementSection
from dersim_trio.protocols.modbus.models.der_control import DerControlSection
from dersim_trio.protocols.modbus.models.enter_service import EnterServiceSection
from dersim_trio.protocols.modbus.models.grid_curves import (
    FreqDroopSection,
    VoltVarSection,
    VoltWattSection,
    WattVarSection,
)
from dersim_trio.protocols.modbus.models.storage import BatterySection, StorageCapacitySection
from dersim_trio.protocols.modbus.models.trips import (
    TripHfSection,
    TripHvSection,
    TripLfSection,
    TripLvSection,
)
from dersim_trio.protocols.modbus.quirks import Quirks
from dersim_trio.protocols.modbus.registers import DeviceView, Section


def device_sections(view: DeviceView, quirks: Quirks) -> list[Section]:
    """The sections of one device, in map order."""
    n = view.nameplate
    sections: list[Section] = [
        CommonSection(),
        AcMeasurementSection(view, auto_range=quirks.sf_change),
        CapacitySection(view),
    ]
    grid = view.controller.has_grid_support(view.index)
    if grid:
        sections.append(EnterServiceSection())
    sections.append(AcControlsSection(view))
    if grid:
        sections += [
            VoltVarSection(view),
            VoltWattSection(view),
            TripLvSection(view),
            TripHvSection(view),
            TripLfSection(view),
            TripHfSection(view),
            FreqDroopSection(view),
            WattVarSection(view),
        ]
    if n.storage is not None:
        sections.append(StorageCapacitySection(view))
    if n.dc_port_count > 0:
        sections.append(DcMeasurementSection(view))
    sections.append(DerControlSection())
    if n.storage is not None:
        sections.append(BatterySection(view))
    return sections
