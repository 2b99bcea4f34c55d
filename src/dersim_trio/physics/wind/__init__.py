"""Wind turbines (physics reference B.3), one module per part:

* ``aero``: the rotor's power coefficient C_p(λ, β), aerodynamic power and torque;
* ``turbines``: the reference machines (NREL 5-MW, IEA 15-MW) as data;
* ``controller``: the baseline generator-torque law, blade-pitch PI and supervisory states;
* ``model``: ``WindModel``, the device model that steps them (its docstring lists the phases).
"""

from dersim_trio.physics.wind.aero import (
    AIR_DENSITY_KG_M3,
    BETZ_LIMIT,
    aerodynamic_power_w,
    heier_cp,
    power_coefficient,
)
from dersim_trio.physics.wind.controller import design_pitch_gains
from dersim_trio.physics.wind.model import WindModel
from dersim_trio.physics.wind.turbines import (
    WindNameplate,
    iea_15mw_nameplate,
    nrel_5mw_nameplate,
)

__all__ = [
    "AIR_DENSITY_KG_M3",
    "BETZ_LIMIT",
    "WindModel",
    "WindNameplate",
    "aerodynamic_power_w",
    "design_pitch_gains",
    "heier_cp",
    "iea_15mw_nameplate",
    "nrel_5mw_nameplate",
    "power_coefficient",
]
