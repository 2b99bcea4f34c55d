"""A weak grid: the device behind a Thévenin impedance, so its own P and Q move its voltage.

By default the grid is stiff: the device's terminal voltage is the grid input itself, as on a
grid simulator in an IEEE 1547.1 lab. With ``--grid_scr`` and ``--grid_xr`` every device sits
behind its own source impedance Z = R + jX (per unit on the device's ``VAMaxRtg`` and V_nom):

    |Z| = 1 / SCR,    R = |Z| / √(1 + (X/R)²),    X = R · (X/R)

SCR (short-circuit ratio) is the source's short-circuit power over the device's rating
(S_sc / S_rated), X/R its reactance-to-resistance ratio. With E the source voltage (the grid
input, per unit) and the device injecting P and Q (per unit of S_rated, SunSpec signs: + out of
the device), the terminal voltage V follows from the in-phase component of the drop across Z,
the quadrature component neglected (the approximate voltage-drop formula of power-system
textbooks, e.g. Kundur, *Power System Stability and Control*, 1994, ch. 6):

    V ≈ E + (R·P + X·Q) / V   ⇒   V = ( E + √(E² + 4·(R·P + X·Q)) ) / 2

Injected active power raises V (through R), absorbed reactive power lowers it (through X). If
R·P + X·Q < −E²/4 (more absorption than the network can carry) there is no real solution; the
model then reports V = E/2, the nose of the curve.

Volt-var and volt-watt then settle where their curve meets this network line: ``support``
solves the terminal voltage of each tick for the reactive and volt-watt outputs that voltage
itself causes (both fall with voltage, so the solution is unique; bisection), with the active
power of the last tick (what the model delivers is known only after its step). The trip
monitor and the ride-through regions see the source plus the rise of the last tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCR_RANGE = (1.0, 1000.0)
"""``--grid_scr``: 1 (very weak) .. 1000 (practically stiff)."""
XR_RANGE = (0.0, 50.0)
"""``--grid_xr``: 0 (resistive) .. 50 (transmission-like)."""
DEFAULT_XR = 3.0
"""``--grid_xr`` when only ``--grid_scr`` is given: a distribution feeder's order of magnitude."""


@dataclass(frozen=True, slots=True)
class Thevenin:
    """The source impedance in front of one device (see the module docstring)."""

    scr: float
    xr: float = DEFAULT_XR

    @property
    def r_pu(self) -> float:
        """R per unit of the device's rating."""
        return (1.0 / self.scr) / math.sqrt(1.0 + self.xr * self.xr)

    @property
    def x_pu(self) -> float:
        """X per unit of the device's rating."""
        return self.r_pu * self.xr

    def terminal_pu(self, e_pu: float, p_pu: float, q_pu: float) -> float:
        """The terminal voltage for source ``e_pu`` and injected ``p_pu``, ``q_pu``."""
        drop = self.r_pu * p_pu + self.x_pu * q_pu
        disc = e_pu * e_pu + 4.0 * drop
        return 0.5 * (e_pu + math.sqrt(disc if disc > 0.0 else 0.0))
