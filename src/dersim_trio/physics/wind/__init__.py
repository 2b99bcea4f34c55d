"""Wind turbines (physics reference B.3), one module per part:

* ``aero``: the rotor's power and thrust coefficients from a published table, aerodynamic
  power, torque and thrust;
* ``turbines``: the reference machines (NREL 5-MW, IEA 15-MW) and their controllers' published
  constants, as data;
* ``controller``: the baseline controllers (Jonkman's for the NREL 5-MW, ROSCO's for the
  IEA 15-MW) and the supervisory operating states;
* ``model``: ``WindModel``, the device model that steps them (its docstring lists the phases).
"""

from dersim_trio.physics.wind.aero import (
    AIR_DENSITY_KG_M3,
    BETZ_LIMIT,
    RotorAero,
    RotorPerformance,
)
from dersim_trio.physics.wind.model import WindModel
from dersim_trio.physics.wind.turbines import (
    WindNameplate,
    iea_15mw_nameplate,
    nrel_5mw_nameplate,
)

__all__ = [
    "AIR_DENSITY_KG_M3",
    "BETZ_LIMIT",
    "RotorAero",
    "RotorPerformance",
    "WindModel",
    "WindNameplate",
    "iea_15mw_nameplate",
    "nrel_5mw_nameplate",
]
