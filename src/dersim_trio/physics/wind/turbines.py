"""The reference turbines as data: ``WindNameplate`` and the two bundled machines.

Sources
    * J. Jonkman, S. Butterfield, W. Musial, G. Scott, "Definition of a 5-MW Reference Wind
      Turbine for Offshore System Development", NREL/TP-500-38060, 2009: rated 5 MW; cut-in 3,
      rated 11.4, cut-out 25 m/s; R = 63 m; hub 90 m; gearbox 97:1; η_gen 94.4 %; rotor
      inertia 38,759,236 kg·m², generator inertia 534.116 kg·m² (HSS), so J_LSS =
      38.759e6 + 97²·534.116 = 43.78e6 kg·m² (Table 5-1); rotor 6.9–12.1 rpm; C_p,max 0.482 at
      λ = 7.55 (§7.1); region 1½ ramp 670–871 rpm gen (r₁₅ = 1.3); region 2½ slip 10 %;
      pitch rate 8°/s. Also NREL/ROSCO ``Examples/Tune_Cases/NREL5MW.yaml``.
    * E. Gaertner et al., "Definition of the IEA 15-Megawatt Offshore Reference Wind Turbine",
      NREL/TP-5000-75698, 2020: rated 15 MW; D = 241.94 m; hub 150 m; cut-in 3, cut-out 25 m/s;
      rotor 5.0–7.56 rpm; direct drive; η_gen 95.756 %; max pitch rate 2°/s; design TSR 9.0;
      C_p,max 0.489 (from memory of the report's rotor-performance table); rotor inertia
      310,619,000 kg·m² (used as J; ROSCO's tuning file uses 3.567e8 including the generator).

Electrical side (documented in ``model.py``): var ratings ±q·P_rated (q = 0.33 Type III,
0.50 Type IV at full P); the DC link of the converter is nominal 1,100 V (assumed: low-voltage
690 V converters); η_gsc = 0.985 an assumed share of η_gen; p = 3 pole pairs for the DFIG (this
model's assumption: Jonkman's generator is "generic").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

from dersim_trio.physics.wind.aero import AIR_DENSITY_KG_M3
from dersim_trio.physics.wind.controller import design_pitch_gains

Topology = Literal["type3", "type4"]

RPM_PER_RAD_S = 30.0 / math.pi


@dataclass(frozen=True, slots=True)
class WindNameplate:
    """Parameters of one wind-turbine design (see the module docstring for their sources)."""

    name: str
    """Device type this machine represents, e.g. ``Wind-T3-3Phase``."""
    topology: Topology
    """``type3`` (DFIG, partial rotor-side converter) or ``type4`` (full converter)."""
    reference_machine: str
    rated_power_kw: float
    rotor_radius_m: float
    hub_height_m: float
    cut_in_wind_m_s: float
    rated_wind_m_s: float
    cut_out_wind_m_s: float
    gearbox_ratio: float
    """Generator speed / rotor speed (1 for direct drive)."""
    generator_efficiency: float
    """Overall electrical efficiency, P_elec / (T_gen·ω)."""
    drivetrain_inertia_kg_m2: float
    """Rotor plus generator inertia referred to the low-speed shaft."""
    rated_rotor_speed_rpm: float
    min_rotor_speed_rpm: float
    """Cut-in rotor speed: the generator connects at and regulates above this speed."""
    max_pitch_rate_deg_s: float
    cp_max: float
    optimal_tsr: float
    reactive_capability_pu: float
    """Reactive power range ±q·P_rated at full active power."""
    region15_speed_ratio: float = 1.3
    """End of the region-1½ torque ramp as a multiple of the cut-in rotor speed."""
    region25_slip: float = 0.10
    """Slip of Jonkman's region-2½ torque line (0.10 = 10 %)."""
    pitch_damping_ratio: float = 0.7
    pitch_natural_frequency_rad_s: float = 0.6
    pitch_kp_s: float = 0.0
    """Proportional pitch gain at 0° pitch, rad per rad/s of LSS speed error."""
    pitch_ki: float = 0.0
    """Integral pitch gain at 0° pitch, rad per rad of integrated LSS speed error."""
    pitch_gain_knee_deg: float = 1e9
    """θ_K of the gain schedule G(θ) = 1/(1 + θ/θ_K)."""
    dc_link_voltage_v: float = 1100.0
    grid_side_converter_efficiency: float = 0.985
    generator_pole_pairs: int = 3
    restart_wind_m_s: float = 20.0
    cut_out_delay_s: float = 30.0
    restart_delay_s: float = 60.0
    start_delay_s: float = 30.0
    stop_delay_s: float = 60.0

    @property
    def rated_rotor_speed_rad_s(self) -> float:
        """ω_rated, rad/s (LSS)."""
        return self.rated_rotor_speed_rpm / RPM_PER_RAD_S

    @property
    def rated_mechanical_power_w(self) -> float:
        """Shaft power at rated electrical output, P_rated/η_gen, W."""
        return self.rated_power_kw * 1000.0 / self.generator_efficiency

    @property
    def region2_torque_constant(self) -> float:
        """K = ½ρπR⁵C_p,max/λ*³, N·m/(rad/s)² on the LSS."""
        r = self.rotor_radius_m
        return 0.5 * AIR_DENSITY_KG_M3 * math.pi * r**5 * self.cp_max / self.optimal_tsr**3


@functools.cache
def nrel_5mw_nameplate() -> WindNameplate:
    """``Wind-T3-3Phase``: the NREL 5-MW baseline as a Type III (DFIG) machine (Jonkman 2009)."""
    return design_pitch_gains(
        WindNameplate(
            name="Wind-T3-3Phase",
            topology="type3",
            reference_machine="NREL 5-MW (Jonkman et al., NREL/TP-500-38060, 2009)",
            rated_power_kw=5000.0,
            rotor_radius_m=63.0,
            hub_height_m=90.0,
            cut_in_wind_m_s=3.0,
            rated_wind_m_s=11.4,
            cut_out_wind_m_s=25.0,
            gearbox_ratio=97.0,
            generator_efficiency=0.944,
            drivetrain_inertia_kg_m2=38.759236e6 + 97.0**2 * 534.116,
            rated_rotor_speed_rpm=12.1,
            min_rotor_speed_rpm=6.9,
            max_pitch_rate_deg_s=8.0,
            cp_max=0.482,
            optimal_tsr=7.55,
            reactive_capability_pu=0.33,
            region15_speed_ratio=1.3,
            region25_slip=0.10,
            pitch_damping_ratio=0.7,
            pitch_natural_frequency_rad_s=0.6,
            generator_pole_pairs=3,
        )
    )


@functools.cache
def iea_15mw_nameplate() -> WindNameplate:
    """``Wind-T4-3Phase``: the IEA 15-MW reference as a Type IV machine (Gaertner 2020)."""
    return design_pitch_gains(
        WindNameplate(
            name="Wind-T4-3Phase",
            topology="type4",
            reference_machine="IEA 15-MW (Gaertner et al., NREL/TP-5000-75698, 2020)",
            rated_power_kw=15000.0,
            rotor_radius_m=241.94 / 2.0,
            hub_height_m=150.0,
            cut_in_wind_m_s=3.0,
            rated_wind_m_s=10.59,
            cut_out_wind_m_s=25.0,
            gearbox_ratio=1.0,
            generator_efficiency=0.95756,
            drivetrain_inertia_kg_m2=310.619e6,
            rated_rotor_speed_rpm=7.56,
            min_rotor_speed_rpm=5.0,
            max_pitch_rate_deg_s=2.0,
            cp_max=0.489,
            optimal_tsr=9.0,
            reactive_capability_pu=0.50,
            # ROSCO holds the minimum speed with a speed loop; a steep ramp does the same here.
            region15_speed_ratio=1.05,
            region25_slip=0.10,
            pitch_damping_ratio=1.0,
            pitch_natural_frequency_rad_s=0.12,
            generator_pole_pairs=0,
        )
    )
