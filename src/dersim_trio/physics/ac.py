"""AC-side relations at the point of connection: voltages, current, apparent power, PF.

Equations (IEEE Std 1459-2010 definitions for sinusoidal balanced systems; SunSpec 701 signs):

* Apparent power:   S = √(P² + Q²)                         [kVA, kW, kvar]
* Power factor:     PF = P / S, carrying the sign of P; PF = 1.0 when S = 0
* Load angle:       φ = atan2(Q, P)                         [degrees]
* Three-phase (balanced, wye):  V_LL = √3·V_LN,  I = S / (√3·V_LL)
* Split-phase (120/240 V, three-wire):  V_LL = 2·V_LN,  I = S / V_LL   (line current, both legs)
* Single-phase (two-wire):  V_LL = V_LN = V,  I = S / V

Nominal voltages (1.0 pu; a nameplate ``702.VNom`` overrides them):

* three-phase: 480 V line-to-line, 480/√3 = 277.1 V line-to-neutral (North American
  commercial service)
* split-phase: 120 V / 240 V (North American residential service)
* single-phase: 230 V (IEC 60038 single-phase service)

Nominal frequency is 60 Hz. Example checks (physics reference B.6): 100 kVA at 480 V
three-phase gives 120.3 A; 10 kVA at 240 V split-phase gives 41.7 A.

Energy counters follow SunSpec 701 ``TotWhInj``/``TotWhAbs``/``TotVarhInj``/``TotVarhAbs``:
monotonic, integrated per tick as E += |X|·Δt/3600 on the side the sign selects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

AcType = Literal["single", "split", "three"]
NOMINAL_FREQUENCY_HZ = 60.0

_NOMINAL_LN_V: dict[AcType, float] = {
    "single": 230.0,
    "split": 120.0,
    "three": 480.0 / math.sqrt(3.0),  # 277.1 V
}
_LL_PER_LN: dict[AcType, float] = {"single": 1.0, "split": 2.0, "three": math.sqrt(3.0)}


def nominal_voltage_ln_v(ac_type: AcType) -> float:
    """Default nominal line-to-neutral voltage (V) of an AC connection type."""
    return _NOMINAL_LN_V[ac_type]


def ll_from_ln(ac_type: AcType, voltage_ln_v: float) -> float:
    """Line-to-line voltage (V) from the line-to-neutral voltage for an AC connection type."""
    return _LL_PER_LN[ac_type] * voltage_ln_v


@dataclass(frozen=True, slots=True)
class AcMeasurement:
    """SunSpec 701 totals derived from P, Q and the grid voltage."""

    active_power_kw: float
    reactive_power_kvar: float
    apparent_power_kva: float
    power_factor: float
    angle_deg: float
    voltage_ll_v: float
    voltage_ln_v: float
    current_a: float
    frequency_hz: float


@dataclass(frozen=True, slots=True)
class AcColumns:
    """``AcMeasurement``'s derived quantities for many devices at once (float64 arrays)."""

    apparent_power_kva: npt.NDArray[np.float64]
    power_factor: npt.NDArray[np.float64]
    angle_deg: npt.NDArray[np.float64]
    voltage_ll_v: npt.NDArray[np.float64]
    voltage_ln_v: npt.NDArray[np.float64]
    current_a: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AcConnections:
    """The fixed AC side of many devices (one array entry per device): V_LL/V_LN, the line
    current's divisor factor (√3 three-phase, else 1) and the nominal V_LN."""

    ll_per_ln: npt.NDArray[np.float64]
    current_factor: npt.NDArray[np.float64]
    voltage_ln_nominal_v: npt.NDArray[np.float64]

    @classmethod
    def of(cls, ac_types: Sequence[AcType], voltage_ln_nominal_v: Sequence[float]) -> AcConnections:
        return cls(
            np.array([_LL_PER_LN[t] for t in ac_types], dtype=np.float64),
            np.array([_SQRT3 if t == "three" else 1.0 for t in ac_types], dtype=np.float64),
            np.array(voltage_ln_nominal_v, dtype=np.float64),
        )


_SQRT3 = math.sqrt(3.0)


def measure_columns(
    ac: AcConnections,
    active_power_kw: npt.NDArray[np.float64],
    reactive_power_kvar: npt.NDArray[np.float64],
    grid_voltage_pu: npt.NDArray[np.float64],
) -> AcColumns:
    """The module docstring's equations for every device at once: S, PF, φ, V_LL, V_LN, I from
    P, Q and the per-unit voltage (the engine's snapshots, a tick at a time)."""
    p, q = active_power_kw, reactive_power_kvar
    s_kva = np.hypot(p, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        pf = np.where(s_kva == 0.0, 1.0, p / s_kva)
        v_ln = ac.voltage_ln_nominal_v * grid_voltage_pu
        v_ll = ac.ll_per_ln * v_ln
        current = np.where(v_ll <= 0.0, 0.0, s_kva * 1000.0 / (ac.current_factor * v_ll))
    return AcColumns(
        apparent_power_kva=s_kva,
        power_factor=pf,
        angle_deg=np.degrees(np.arctan2(q, p)),
        voltage_ll_v=v_ll,
        voltage_ln_v=v_ln,
        current_a=current,
    )


def measure(
    ac_type: AcType,
    active_power_kw: float,
    reactive_power_kvar: float,
    voltage_ln_nominal_v: float,
    grid_voltage_pu: float,
    grid_frequency_hz: float,
) -> AcMeasurement:
    """Derive apparent power, PF, angle, voltages and line current from P and Q (one device:
    ``measure_columns`` of one)."""
    one = measure_columns(
        AcConnections.of([ac_type], [voltage_ln_nominal_v]),
        np.array([active_power_kw]),
        np.array([reactive_power_kvar]),
        np.array([grid_voltage_pu]),
    )
    return AcMeasurement(
        active_power_kw=active_power_kw,
        reactive_power_kvar=reactive_power_kvar,
        apparent_power_kva=float(one.apparent_power_kva[0]),
        power_factor=float(one.power_factor[0]),
        angle_deg=float(one.angle_deg[0]),
        voltage_ll_v=float(one.voltage_ll_v[0]),
        voltage_ln_v=float(one.voltage_ln_v[0]),
        current_a=float(one.current_a[0]),
        frequency_hz=grid_frequency_hz,
    )


@dataclass(slots=True)
class EnergyCounters:
    """Monotonic AC energy totals, kWh and kvarh (SunSpec 701 TotWhInj/TotWhAbs/TotVarh*)."""

    injected_kwh: float = 0.0
    absorbed_kwh: float = 0.0
    reactive_injected_kvarh: float = 0.0
    reactive_absorbed_kvarh: float = 0.0

    def integrate(self, active_power_kw: float, reactive_power_kvar: float, dt_s: float) -> None:
        """Add one step of P and Q held for ``dt_s`` seconds to the counters."""
        hours = dt_s / 3600.0
        if active_power_kw >= 0.0:
            self.injected_kwh += active_power_kw * hours
        else:
            self.absorbed_kwh -= active_power_kw * hours
        if reactive_power_kvar >= 0.0:
            self.reactive_injected_kvarh += reactive_power_kvar * hours
        else:
            self.reactive_absorbed_kvarh -= reactive_power_kvar * hours
