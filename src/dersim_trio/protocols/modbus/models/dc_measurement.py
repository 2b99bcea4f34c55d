"""SunSpec model 714 (DER DC Measurement): the device's DC ports from the tick's snapshot.

Ports (``NPrt`` = the snapshot's ``dc_port_count``), each with the 714 ``PrtTyp`` it is:

* PV: one PV port (the string: ``metrics.dc_voltage_v``, ``dc_current_a``, ``dc_power_kw``);
* battery: one ESS port (the pack; ``DCWhInj``/``DCWhAbs`` from the asset's
  ``dc_energy_injected_kwh``/``dc_energy_absorbed_kwh``);
* wind: one INJ port (the converter's DC side); fuel cell: one INJ port, BIDIR when it is
  reversible (``fuelcell_mode`` bidirectional);
* hybrid DC: a PV port (``asset.pv_voltage_v``/``pv_current_a``/``pv_power_kw``) and an ESS port
  (``battery_voltage_v``/``battery_current_a``/``battery_pack_power_kw``, energies
  ``battery_discharge_energy_kwh``/``battery_charge_energy_kwh``);
* EVSE: an EV port per DC connector (its ``voltage_v``, ``current_a`` and ``power_kw``, which
  flows out of the DC side while charging), then an ESS port for a backing battery.

Signs follow the snapshot's DC convention: ``DCW`` > 0 flows from the port toward the AC side.
Totals ``DCA``/``DCW`` are the snapshot's; ``DCWhInj``/``DCWhAbs`` (totals and per port) only
where the asset counts them. ``DCSta`` is ON while the port carries power and the inverter
runs, else OFF. Not implemented: ``PrtAlrms``, ``Tmp``, ``DCAlrm``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dersim_trio.api.schema import Snapshot
from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.points import sf_for_range
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values

_SYMBOLS = {s.path: s.point.symbols for s in layout_model(714, {"NPrt": 1}).points}
PORT_TYPES = _SYMBOLS["Prt[1].PrtTyp"]
PORT_STATES = _SYMBOLS["Prt[1].DCSta"]
ACTIVE_W = 1.0
"""A port carrying more than this (W) is ON."""
MIN_DC_V = 100.0
"""The lowest DC voltage assumed at rated power when sizing ``DCA_SF``."""


@dataclass(frozen=True, slots=True)
class DcPort:
    """One DC port of one tick (W > 0 toward the AC side; energies in kWh, None: not counted)."""

    kind: str
    label: str
    v: float
    a: float
    w: float
    wh_inj_kwh: float | None = None
    wh_abs_kwh: float | None = None


def _num(snapshot: Snapshot, key: str) -> float:
    value = getattr(snapshot.asset, key, None)
    return float(value) if isinstance(value, int | float) else 0.0


def _opt(snapshot: Snapshot, key: str) -> float | None:
    value = getattr(snapshot.asset, key, None)
    return float(value) if isinstance(value, int | float) else None


def dc_ports(snapshot: Snapshot) -> list[DcPort]:
    """The DC ports of a snapshot (see the module docstring)."""
    m = snapshot.metrics
    asset = snapshot.asset_type
    total = DcPort("PV", "PV", m.dc_voltage_v, m.dc_current_a, m.dc_power_kw * 1000.0)
    if asset == "pv":
        return [total]
    if asset == "battery":
        return [
            DcPort(
                "ESS",
                "BATT",
                total.v,
                total.a,
                total.w,
                _opt(snapshot, "dc_energy_injected_kwh"),
                _opt(snapshot, "dc_energy_absorbed_kwh"),
            )
        ]
    if asset == "wind":
        return [DcPort("INJ", "WIND", total.v, total.a, total.w)]
    if asset == "fuelcell":
        reversible = getattr(snapshot.asset, "fuelcell_mode", None) == "bidirectional"
        return [DcPort("BIDIR" if reversible else "INJ", "FC", total.v, total.a, total.w)]
    if asset == "hybrid-dc":
        return [
            DcPort(
                "PV",
                "PV",
                _num(snapshot, "pv_voltage_v"),
                _num(snapshot, "pv_current_a"),
                _num(snapshot, "pv_power_kw") * 1000.0,
            ),
            DcPort(
                "ESS",
                "BATT",
                _num(snapshot, "battery_voltage_v"),
                _num(snapshot, "battery_current_a"),
                _num(snapshot, "battery_pack_power_kw") * 1000.0,
                _opt(snapshot, "battery_discharge_energy_kwh"),
                _opt(snapshot, "battery_charge_energy_kwh"),
            ),
        ]
    ports: list[DcPort] = []
    for connector in getattr(snapshot.asset, "connectors", ()):
        kind = getattr(connector, "kind", None)
        if not isinstance(kind, str) or kind.upper().startswith("AC"):
            continue
        ports.append(
            DcPort(
                "EV",
                str(getattr(connector, "id", "EV"))[:16],
                float(getattr(connector, "voltage_v", 0.0) or 0.0),
                -float(getattr(connector, "current_a", 0.0) or 0.0),
                -float(getattr(connector, "power_kw", 0.0) or 0.0) * 1000.0,
            )
        )
    if getattr(snapshot.asset, "backing_battery_soc_pct", None) is not None:
        batt_w = _num(snapshot, "backing_battery_power_kw") * 1000.0
        v = m.dc_voltage_v
        ports.append(DcPort("ESS", "BATT", v, batt_w / v if v > 0.0 else 0.0, batt_w))
    return ports


class DcMeasurementSection(Section):
    """Model 714 (see the module docstring)."""

    model_id = 714

    def __init__(self, view: DeviceView) -> None:
        n = view.nameplate
        self.ports = n.dc_port_count
        peak_w = 1.5 * 1000.0 * max(n.w_max_kw, n.va_max_kva, n.w_charge_max_kw)
        if n.storage is not None:
            peak_w = max(
                peak_w,
                1.5 * 1000.0 * max(n.storage.w_charge_max_kw, n.storage.w_discharge_max_kw),
            )
        self.sf: Values = {
            "DCA_SF": sf_for_range(peak_w / MIN_DC_V, "int16", finest=-2),
            "DCV_SF": -1,
            "DCW_SF": sf_for_range(peak_w, "int16", finest=0),
            "DCWH_SF": 0,
            "Tmp_SF": -1,
        }

    def counts(self) -> dict[str, int]:
        """``NPrt``: the device's DC ports."""
        return {"NPrt": self.ports}

    def values(self, view: DeviceView) -> Values:
        """Totals and ports."""
        s = view.snapshot
        m = s.metrics
        running = s.status.inverter_state in ("running", "throttled")
        ports = dc_ports(s)[: self.ports]
        values: Values = {
            **self.sf,
            "NPrt": self.ports,
            "DCA": m.dc_current_a,
            "DCW": m.dc_power_kw * 1000.0,
        }
        if ports and all(p.wh_inj_kwh is not None for p in ports):
            values["DCWhInj"] = sum(p.wh_inj_kwh or 0.0 for p in ports) * 1000.0
            values["DCWhAbs"] = sum(p.wh_abs_kwh or 0.0 for p in ports) * 1000.0
        for i, port in enumerate(ports, start=1):
            prefix = f"Prt[{i}]."
            values[prefix + "PrtTyp"] = PORT_TYPES[port.kind]
            values[prefix + "ID"] = i - 1
            values[prefix + "IDStr"] = port.label
            values[prefix + "DCA"] = port.a
            values[prefix + "DCV"] = port.v
            values[prefix + "DCW"] = port.w
            if port.wh_inj_kwh is not None:
                values[prefix + "DCWhInj"] = port.wh_inj_kwh * 1000.0
            if port.wh_abs_kwh is not None:
                values[prefix + "DCWhAbs"] = port.wh_abs_kwh * 1000.0
            on = running and abs(port.w) > ACTIVE_W
            values[prefix + "DCSta"] = PORT_STATES["ON" if on else "OFF"]
        return values
