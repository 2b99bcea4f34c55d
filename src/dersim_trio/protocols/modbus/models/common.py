"""SunSpec model 1 (Common): who the device is.

``Mn``/``Md`` come from the nameplate file's ``1.Mn``/``1.Md`` (default: ``dersim-trio`` and
the device type or bundled nameplate's name), ``SN`` is unique per device (``DERSIM-00003``),
``Vr`` the simulator's version, ``DA`` the unit id the device answers (``1.DA``, default 1).
``Opt`` is not implemented. ``DA`` is read-only here: the unit id is fixed at start.
"""

from __future__ import annotations

from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values


class CommonSection(Section):
    """Model 1."""

    model_id = 1

    def values(self, view: DeviceView) -> Values:
        """Identity strings and the device address."""
        n = view.nameplate
        return {
            "Mn": n.manufacturer,
            "Md": n.model,
            "Vr": n.version,
            "SN": n.serial_number,
            "DA": n.device_address,
            "Pad": 0,
        }
