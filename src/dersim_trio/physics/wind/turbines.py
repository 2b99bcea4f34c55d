"""The reference turbines as data: ``WindNameplate``, the published controller constants, and
the two bundled machines.

NREL 5-MW (``Wind-T3-3Phase``)
    J. Jonkman, S. Butterfield, W. Musial, G. Scott, "Definition of a 5-MW Reference Wind
    Turbine for Offshore System Development", NREL/TP-500-38060, 2009: rated 5 MW; cut-in 3,
    rated 11.4, cut-out 25 m/s; R = 63 m; hub 90 m; gearbox 97:1; η_gen 94.4 %; rotor inertia
    38,759,236 kg·m², generator inertia 534.116 kg·m² (HSS), so J_LSS = 38.759e6 +
    97²·534.116 = 43.78e6 kg·m² (Table 5-1); rotor 6.9–12.1 rpm. Baseline controller (§7,
    constants of its ``DISCON.f90``, generator-shaft units): speed-filter corner 0.25 Hz;
    VS_CtInSp 670 rpm (70.16224 rad/s), VS_Rgn2Sp 871 rpm (91.21091 rad/s), VS_Rgn2K
    2.332287 N·m/(rad/s)², VS_RtGnSp 121.6805 rad/s (99 % of rated), VS_SlPc 10 %,
    VS_RtPwr 5,296,610 W (= 5 MW / 0.944), VS_MaxTq 47,402.91 N·m (10 % above rated torque),
    VS_MaxRat 15,000 N·m/s, VS_Rgn3MP 1°; PC_RefSpd 122.9096 rad/s (1,173.7 rpm), PC_KP
    0.01882681 s, PC_KI 0.008068634, PC_KK 6.302336° (0.1099965 rad), pitch 0–90°,
    PC_MaxRat 8°/s. Rotor table: ROSCO ``Cp_Ct_Cq.NREL5MW.txt``.

IEA 15-MW (``Wind-T4-3Phase``)
    E. Gaertner et al., "Definition of the IEA 15-Megawatt Offshore Reference Wind Turbine",
    NREL/TP-5000-75698, 2020: rated 15 MW; D = 241.94 m; hub 150 m; cut-in 3, cut-out 25 m/s;
    rotor 5.0–7.56 rpm; direct drive; η_gen 95.756 %; max pitch rate 2°/s; design TSR 9.0.
    Controller: ROSCO, the constants of ROSCO 2.10.6
    ``Examples/Test_Cases/IEA-15-240-RWT/IEA-15-240-RWT-Monopile/IEA-15-240-RWT-Monopile_DISCON.IN``
    (the tuning of ``Examples/Tune_Cases/IEA15MW.yaml``: pitch loop ζ = 1.0, ω_n = 0.2 rad/s;
    torque loop ζ = 0.85, ω_n = 0.12 rad/s): VS_MinOMSpd 0.5236 rad/s (5 rpm), VS_RefSpd
    0.78788 rad/s, VS_TSRopt 9.0, VS_KP −3.61179e7 N·m·s, VS_KI −4.49937e6 N·m, VS_RtTq
    1.97868e7 N·m (= VS_ArSatTq), VS_MaxTq 2.17654e7 N·m, VS_MaxRat 4.5e6 N·m/s,
    VS_ConstPower 0 (constant torque above rated); PC_RefSpd 0.79168 rad/s (7.56 rpm),
    PC_MaxRat 0.0349 rad/s, PC_Switch 1°, the 30-point pitch gain schedule PC_GS_angles /
    PC_GS_KP / PC_GS_KI below; filters F_LPFCornerFreq 1.0081 rad/s (generator speed) and
    F_WECornerFreq 0.20944 rad/s (wind-speed estimate); WE_Jtot 312,456,272 kg·m² (rotor and
    generator). Rotor table: ROSCO's ``Cp_Ct_Cq.IEA15MW.txt``.

Electrical side (documented in ``model.py``): var ratings ±q·P_rated (q = 0.33 Type III,
0.50 Type IV at full P); the DC link of the converter is nominal 1,100 V (assumed: low-voltage
690 V converters); η_gsc = 0.985 an assumed share of η_gen; p = 3 pole pairs for the DFIG (this
model's assumption: Jonkman's generator is "generic").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Topology = Literal["type3", "type4"]

RPM_PER_RAD_S = 30.0 / math.pi


@dataclass(frozen=True, slots=True)
class JonkmanBaseline:
    """Jonkman 2009 §7 baseline controller constants, generator-shaft (HSS) units."""

    speed_filter_corner_rad_s: float = 1.570796
    """CornerFreq: first-order low-pass filter on the generator speed (0.25 Hz)."""
    pc_kp_s: float = 0.01882681
    """Proportional pitch gain at 0° pitch, rad/(rad/s)."""
    pc_ki: float = 0.008068634
    """Integral pitch gain at 0° pitch, rad/rad."""
    pc_kk_rad: float = 0.1099965
    """Pitch at which the gains halve, θ_K (gain factor 1/(1 + θ/θ_K))."""
    pc_max_pitch_rad: float = 1.570796
    pc_min_pitch_rad: float = 0.0
    pc_max_rate_rad_s: float = 0.1396263
    pc_ref_speed_rad_s: float = 122.9096
    vs_cut_in_speed_rad_s: float = 70.16224
    vs_rgn2_speed_rad_s: float = 91.21091
    vs_rgn2_k: float = 2.332287
    """Region-2 torque constant, N·m/(rad/s)²."""
    vs_rated_speed_rad_s: float = 121.6805
    """Region-3 torque law above this filtered speed (99 % of PC_RefSpd)."""
    vs_slip_pct: float = 10.0
    vs_max_torque_factor: float = 1.1
    """VS_MaxTq over the rated torque at PC_RefSpd (47,402.91 / 43,093.55 N·m)."""
    vs_max_rate_n_m_s: float = 15000.0
    vs_rgn3_min_pitch_rad: float = 0.01745329


ROSCO_IEA15_PC_GS_ANGLES_RAD = (
    0.064, 0.091, 0.111, 0.129, 0.145, 0.160, 0.174, 0.187, 0.199, 0.211,
    0.222, 0.233, 0.244, 0.254, 0.264, 0.274, 0.284, 0.293, 0.303, 0.312,
    0.321, 0.330, 0.338, 0.347, 0.355, 0.364, 0.372, 0.380, 0.388, 0.396,
)  # fmt: skip
ROSCO_IEA15_PC_GS_KP_S = (
    -1.157e00, -9.977e-01, -8.670e-01, -7.575e-01, -6.646e-01, -5.848e-01, -5.153e-01,
    -4.544e-01, -4.006e-01, -3.527e-01, -3.097e-01, -2.710e-01, -2.359e-01, -2.040e-01,
    -1.748e-01, -1.480e-01, -1.234e-01, -1.006e-01, -7.948e-02, -5.986e-02, -4.159e-02,
    -2.452e-02, -8.545e-03, 6.441e-03, 2.053e-02, 3.379e-02, 4.630e-02, 5.812e-02,
    6.931e-02, 7.991e-02,
)  # fmt: skip
ROSCO_IEA15_PC_GS_KI = (
    -1.207e-01, -1.090e-01, -9.930e-02, -9.121e-02, -8.433e-02, -7.842e-02, -7.328e-02,
    -6.878e-02, -6.479e-02, -6.125e-02, -5.807e-02, -5.520e-02, -5.261e-02, -5.024e-02,
    -4.808e-02, -4.610e-02, -4.428e-02, -4.259e-02, -4.103e-02, -3.958e-02, -3.823e-02,
    -3.696e-02, -3.578e-02, -3.467e-02, -3.363e-02, -3.265e-02, -3.172e-02, -3.085e-02,
    -3.002e-02, -2.924e-02,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RoscoBaseline:
    """ROSCO controller constants (generator-shaft units; ROSCO signs: error = reference −
    speed, so the published gains are negative)."""

    speed_filter_corner_rad_s: float = 1.0081
    """F_LPFCornerFreq (applied here as a first-order filter; ROSCO's is second order)."""
    wind_filter_corner_rad_s: float = 0.20944
    """F_WECornerFreq: low-pass filter on the wind-speed estimate."""
    pc_gs_angles_rad: tuple[float, ...] = ROSCO_IEA15_PC_GS_ANGLES_RAD
    pc_gs_kp_s: tuple[float, ...] = ROSCO_IEA15_PC_GS_KP_S
    pc_gs_ki: tuple[float, ...] = ROSCO_IEA15_PC_GS_KI
    pc_max_pitch_rad: float = 1.57
    pc_min_pitch_rad: float = 0.0
    pc_max_rate_rad_s: float = 0.0349
    pc_ref_speed_rad_s: float = 0.79168
    pc_switch_rad: float = 0.01745
    vs_min_speed_rad_s: float = 0.5236
    vs_ref_speed_rad_s: float = 0.78788
    vs_tsr_opt: float = 9.0
    vs_kp: float = -3.61179e7
    vs_ki: float = -4.49937e6
    vs_max_torque_factor: float = 2.17654e7 / 1.97868e7
    """VS_MaxTq over the rated torque VS_RtTq."""
    vs_max_rate_n_m_s: float = 4.5e6
    vs_constant_power: bool = False
    """VS_ConstPower: above rated, constant torque (False, the IEA tuning) or constant power."""


ControllerConstants = JonkmanBaseline | RoscoBaseline


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
    """Cut-in (minimum) rotor speed of the torque controller."""
    max_pitch_rate_deg_s: float
    reactive_capability_pu: float
    """Reactive power range ±q·P_rated at full active power."""
    rotor_table: str
    """File name of the rotor performance table in ``data/wind/``."""
    controller: ControllerConstants
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


NREL_5MW = WindNameplate(
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
    reactive_capability_pu=0.33,
    rotor_table="Cp_Ct_Cq.NREL5MW.txt",
    controller=JonkmanBaseline(),
    generator_pole_pairs=3,
)

IEA_15MW = WindNameplate(
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
    drivetrain_inertia_kg_m2=312_456_272.0,
    rated_rotor_speed_rpm=7.56,
    min_rotor_speed_rpm=5.0,
    max_pitch_rate_deg_s=2.0,
    reactive_capability_pu=0.50,
    rotor_table="Cp_Ct_Cq.IEA15MW.txt",
    controller=RoscoBaseline(),
    generator_pole_pairs=0,
)


def nrel_5mw_nameplate() -> WindNameplate:
    """``Wind-T3-3Phase``: the NREL 5-MW baseline as a Type III (DFIG) machine (Jonkman 2009)."""
    return NREL_5MW


def iea_15mw_nameplate() -> WindNameplate:
    """``Wind-T4-3Phase``: the IEA 15-MW reference as a Type IV machine (Gaertner 2020)."""
    return IEA_15MW
