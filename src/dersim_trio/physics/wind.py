"""Wind turbines: Type III (DFIG, NREL 5-MW) and Type IV (full converter, IEA 15-MW).

Chain per step: anemometer wind → hub-height wind → aerodynamic torque → generator-torque law
and blade-pitch PI → single-mass drivetrain → electrical power → SunSpec-style outputs.
Physics reference B.3; documented behaviour §4.3 (``Wind-T3-3Phase`` / ``Wind-T4-3Phase``).

Wind (m/s)
    Hub height by the power law (Hellman), v_hub = v·(h_hub/h_anem)^α with α = 1/7
    (windpowerlib ``wind_speed.py`` default). ``Environment.wind_speed_m_s`` is the anemometer
    wind; the anemometer height is a constructor argument (default 10 m; the NDBC buoys behind
    the bundled profile measure at about 4–5 m, so a loader may pass that).
    When the environment gives no wind the model draws its own (seeded ``random.Random``), at
    the anemometer height: v = v_slow·(1 + I·y), where
    * v_slow = c·(−ln(1 − Φ(z)))^(1/k) is a Weibull(k = 2, mean 8 m/s) marginal of a standard
      Ornstein–Uhlenbeck process z with a 3 h correlation time (the "hourly mean wind"),
    * y is a standard OU process with a 60 s correlation time (turbulence), I = 0.10.
    Both OU processes use the exact discretisation x ← a·x + √(1 − a²)·N(0, 1), a = e^(−Δt/τ),
    so any Δt is valid.

Aerodynamics (Heier / Slootweg analytic fit, physics reference B.3)
    1/λ_i = 1/(λ + 0.08β) − 0.035/(β³ + 1)
    C_p,H(λ, β) = 0.5176·(116/λ_i − 0.4β − 5)·e^(−21/λ_i) + 0.0068·λ
    Its maximum is C_p,H* = 0.480 at λ_H* = 8.1, β = 0. Calibration to a machine with peak
    C_p,max at tip-speed ratio λ* is by scaling both axes:
        C_p(λ, β) = (C_p,max / C_p,H*)·C_p,H(λ·λ_H*/λ*, β), clipped to [0, 16/27 (Betz)].
    (Clipping at 0 means a feathered rotor produces no torque instead of the fit's large
    negative values.) Below λ·λ_H*/λ* = 2 the fit is not used (its λ + 0.08β term gives a
    pitched rotor an unbounded torque coefficient C_p/λ at standstill): there C_p is taken
    linear in λ through its value at that point, so the standstill torque is finite.
    λ = ωR/v; P_aero = ½ρAC_p v³ with ρ = 1.225 kg/m³, A = πR²;
    T_aero = P_aero/ω = ½ρπR³v²·C_p/λ.

Generator torque (Jonkman 2009 §7.1 baseline variable-speed law, all referred to the rotor /
low-speed shaft, LSS)
    * ω < ω_min (cut-in rotor speed): T_gen = 0 (region 1).
    * ω_min ≤ ω < r₁₅·ω_min: linear ramp from 0 to K·(r₁₅·ω_min)² (region 1½).
    * Region 2: T_gen = K·ω², K = ½ρπR⁵C_p,max/λ*³ (tracks the optimal tip-speed ratio).
    * Region 2½: T_gen = max(K·ω², S·(ω − ω_sync)), the line reaching rated torque at
      0.99·ω_rated with ω_sync = 0.99·ω_rated/(1 + slip) (Jonkman: slip 10 %).
    * Region 3 (ω ≥ 0.99·ω_rated or pitch > 1°): T_gen = P_rated/(η·ω) (constant power),
      at most 1.1 × rated torque. Every region is capped at P_rated/(η·ω).
    * Curtailment (``Dispatch.active_power_limit_pct``): T_gen ≤ P_limit/(η·ω); the rotor then
      speeds up to rated speed and the pitch loop sheds the surplus (state ``throttled``).

Blade pitch (Jonkman 2009 §7.2; ROSCO)
    Gain-scheduled PI on the rotor-speed error e = ω − ω_rated (rad/s, LSS):
    θ_cmd = G(θ)·(K_P·e + K_I·∫e dt), G(θ) = 1/(1 + θ/θ_K), integrator clamped (anti-windup),
    θ in [0°, 90°], rate-limited to the machine's maximum pitch rate.
    Gains follow Jonkman's pole placement for J·Δω̇ = (∂P/∂θ)/ω_rated·Δθ:
    K_P = 2Jω_rated·ζω_n/(−∂P/∂θ), K_I = Jω_rated·ω_n²/(−∂P/∂θ), with ∂P/∂θ taken from the
    calibrated C_p at rated speed and the wind that gives rated power at 0° pitch, and θ_K fitted
    so that 1 + θ/θ_K matches the sensitivity growth up to the pitch needed at cut-out wind.
    ζ = 0.7, ω_n = 0.6 rad/s for the NREL 5-MW (Jonkman §7.2); ζ = 1.0, ω_n = 0.12 rad/s for the
    IEA 15-MW (NREL/ROSCO ``Tune_Cases/IEA15MW.yaml``). (Jonkman's published NREL 5-MW gain,
    K_P = 0.0188 s on the generator shaft = 1.83 s referred to the rotor, was designed for the
    FAST aerodynamics; the pole placement here against the Heier fit gives 2.9 s.)

Drivetrain
    Single mass on the LSS: J·dω/dt = T_aero − T_gen − D·ω, D chosen so that D·ω_rated² is
    0.1 % of rated mechanical power. Explicit Euler with a fixed internal step ≤ 0.5 s (the
    rotor time constant J·ω²/(3P) is 4–10 s, the pitch loop's ω_n·h ≤ 0.3), at most 40
    sub-steps per call. For Δt > 20 s the turbine first jumps to its quasi-steady operating
    point for the interval's wind (rotor speed at λ*, clamped to the speed range; above rated
    or curtailed, rated speed and the pitch that sheds the surplus, found by bisection), then
    integrates the last 20 s; every timer and the stochastic wind advance by the full Δt.
    ω is kept in [0, 1.5·ω_rated] (the overspeed trip acts at 1.2·ω_rated).

Operating states (SunSpec 701 ``InvSt``)
    * ``standby``: parked (brake on, blades feathered at 90°), P = 0. Leaves for ``starting``
      when cut-in ≤ v_hub < cut-out has held for ``start_delay_s`` (30 s) and no cut-out is
      latched.
    * ``starting``: generator off, blades pitch at the rate limit to the pitch that holds the
      present wind at rated speed and power (0° below rated wind); connects (→ running, PI
      integrator preloaded with the present pitch) at rated speed above rated wind, at the
      cut-in rotor speed below it. Where the Heier fit gives no torque at the minimum speed
      (below about 4 m/s for the NREL 5-MW, 4.5 m/s for the IEA 15-MW, while the real machines
      make 0.1–0.5 MW there) the rotor idles and the turbine stays in ``starting``.
    * ``running`` / ``throttled``: the laws above; ``throttled`` when the curtailment cap binds.
    * ``shutting_down``: blades feather at the rate limit, brake torque 1.5 × rated torque,
      P = 0; → ``standby`` once parked. Triggers: v_hub > cut-out for ``cut_out_delay_s``
      (30 s, a simplification of the 10-min average; latches until v_hub < ``restart_wind``
      = 20 m/s for ``restart_delay_s`` = 60 s), v_hub < cut-in for ``stop_delay_s`` (60 s), or
      rotor overspeed above 1.2·ω_rated.
    The first call warm-starts: if the first hub wind is in [cut-in, cut-out) the turbine
    starts ``running`` at its quasi-steady operating point (rotor speed, and the pitch that
    gives rated power above rated wind), so a freshly started simulator produces power at once.

Electrical side (kW, SunSpec signs: > 0 into the grid)
    P_elec = η_gen·T_gen·ω (η_gen the machine's overall generator+converter efficiency), capped
    by the curtailment limit. Reactive power 0 (volt-var and LVRT are grid-function modules).
    Rating: W_max = P_rated; var ratings ±q·P_rated (q = 0.33 Type III, 0.50 Type IV at full P);
    VA_max = P_rated·√(1 + q²).
    * Type IV (IEA 15-MW, direct drive PMSG, full converter): the DC quantities are those of
      the back-to-back converter link, nominal 1,100 V (assumed: low-voltage 690 V converters);
      dc_power = P_elec/η_gsc, the power before the grid-side converter loss (η_gsc = 0.985,
      an assumed share of η_gen), dc_current = dc_power/V_dc.
    * Type III (NREL 5-MW, DFIG): the DC link is that of the rotor-side converter, which carries
      the slip power P_rotor = −s·P_stator, s = 1 − p·ω_gen/(2πf) (p = 3 pole pairs, so
      1,200 rpm synchronous at 60 Hz, the generator 670–1,174 rpm: sub-synchronous, s = 0.44 …
      0.02, |P_rotor| ≤ 0.13 pu, inside the ≈ 30 % converter), P_stator = P_elec/(1 − s).
      dc_power = P_rotor (< 0 when the grid feeds the rotor, sub-synchronous), V_dc 1,100 V.
      Jonkman's generator is "generic"; the pole-pair count is this model's assumption.

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
    * S. Heier, "Grid Integration of Wind Energy Conversion Systems", Wiley 1998, and
      J.G. Slootweg et al., IEEE Trans. Power Syst. 18(1), 2003: the analytic C_p(λ, β).
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, replace
from typing import Literal

from dersim_trio.physics.base import AcRating, DeviceOutput, Dispatch, Environment, InverterState

AIR_DENSITY_KG_M3 = 1.225
"""ρ at 15 °C, sea level."""
HELLMAN_EXPONENT = 1.0 / 7.0
BETZ_LIMIT = 16.0 / 27.0
HEIER_CP_MAX = 0.480
HEIER_OPTIMAL_TSR = 8.1
"""The Heier fit peaks at C_p = 0.4800 at λ = 8.1, β = 0 (computed; physics reference B.3)."""
HEIER_MIN_TSR = 2.0
"""Below this (Heier-axis) λ the fit is replaced by C_p ∝ λ (finite standstill torque)."""

_RPM_PER_RAD_S = 30.0 / math.pi
_MAX_SUBSTEP_S = 0.5
_MAX_SUBSTEPS = 40
_REGION3_PITCH_DEG = 1.0
_MAX_TORQUE_FACTOR = 1.1
_BRAKE_TORQUE_FACTOR = 1.5
_OVERSPEED_TRIP = 1.2
_SPEED_CLAMP = 1.5
_DAMPING_LOSS_FRACTION = 0.001

Topology = Literal["type3", "type4"]
Mode = Literal["standby", "starting", "running", "shutting_down"]


def heier_cp(tip_speed_ratio: float, pitch_deg: float) -> float:
    """Raw Heier/Slootweg power coefficient C_p,H(λ, β) (may be negative; see module docstring)."""
    lam = max(tip_speed_ratio, 1e-3)
    beta = max(pitch_deg, 0.0)
    inv = 1.0 / (lam + 0.08 * beta) - 0.035 / (beta * beta * beta + 1.0)
    return 0.5176 * (116.0 * inv - 0.4 * beta - 5.0) * math.exp(-21.0 * inv) + 0.0068 * lam


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
        return self.rated_rotor_speed_rpm / _RPM_PER_RAD_S

    @property
    def rated_mechanical_power_w(self) -> float:
        """Shaft power at rated electrical output, P_rated/η_gen, W."""
        return self.rated_power_kw * 1000.0 / self.generator_efficiency

    @property
    def region2_torque_constant(self) -> float:
        """K = ½ρπR⁵C_p,max/λ*³, N·m/(rad/s)² on the LSS."""
        r = self.rotor_radius_m
        return 0.5 * AIR_DENSITY_KG_M3 * math.pi * r**5 * self.cp_max / self.optimal_tsr**3


def power_coefficient(nameplate: WindNameplate, tip_speed_ratio: float, pitch_deg: float) -> float:
    """Calibrated C_p(λ, β) of a machine, clipped to [0, Betz] (module docstring)."""
    tsr_h = max(tip_speed_ratio, 0.0) * HEIER_OPTIMAL_TSR / nameplate.optimal_tsr
    cp = (nameplate.cp_max / HEIER_CP_MAX) * heier_cp(max(tsr_h, HEIER_MIN_TSR), pitch_deg)
    if tsr_h < HEIER_MIN_TSR:
        cp *= tsr_h / HEIER_MIN_TSR
    return min(max(cp, 0.0), BETZ_LIMIT)


def aerodynamic_power_w(
    nameplate: WindNameplate, hub_wind_m_s: float, rotor_speed_rad_s: float, pitch_deg: float
) -> float:
    """P_aero = ½ρπR²C_p(λ, β)v³, W."""
    if hub_wind_m_s <= 0.0:
        return 0.0
    r = nameplate.rotor_radius_m
    cp = power_coefficient(nameplate, rotor_speed_rad_s * r / hub_wind_m_s, pitch_deg)
    return 0.5 * AIR_DENSITY_KG_M3 * math.pi * r * r * cp * hub_wind_m_s**3


def _pitch_for_power_deg(
    nameplate: WindNameplate, hub_wind_m_s: float, rotor_speed_rad_s: float, power_w: float
) -> float:
    """Smallest pitch at which the rotor's aerodynamic power falls to ``power_w`` (bisection)."""
    if aerodynamic_power_w(nameplate, hub_wind_m_s, rotor_speed_rad_s, 0.0) <= power_w:
        return 0.0
    lo, hi = 0.0, 90.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if aerodynamic_power_w(nameplate, hub_wind_m_s, rotor_speed_rad_s, mid) > power_w:
            lo = mid
        else:
            hi = mid
    return hi


def _rated_pitch_deg(nameplate: WindNameplate, hub_wind_m_s: float) -> float:
    """Pitch that holds rated shaft power at rated speed in this wind (0 below rated wind)."""
    return _pitch_for_power_deg(
        nameplate,
        hub_wind_m_s,
        nameplate.rated_rotor_speed_rad_s,
        nameplate.rated_mechanical_power_w,
    )


def _rated_wind_at_pitch(nameplate: WindNameplate, pitch_deg: float) -> float:
    """Lowest wind at which rated speed and this pitch give rated shaft power, m/s."""
    target = nameplate.rated_mechanical_power_w
    omega = nameplate.rated_rotor_speed_rad_s
    lo, hi = 1.0, 60.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if aerodynamic_power_w(nameplate, mid, omega, pitch_deg) < target:
            lo = mid
        else:
            hi = mid
    return hi


def _pitch_sensitivity_w_per_rad(nameplate: WindNameplate, pitch_deg: float) -> float:
    """∂P_aero/∂θ at rated speed and the wind that gives rated power at this pitch, W/rad."""
    wind = _rated_wind_at_pitch(nameplate, pitch_deg)
    omega = nameplate.rated_rotor_speed_rad_s
    d_deg = 0.05
    lo = max(pitch_deg - d_deg, 0.0)
    hi = pitch_deg + d_deg
    dp = aerodynamic_power_w(nameplate, wind, omega, hi) - aerodynamic_power_w(
        nameplate, wind, omega, lo
    )
    return dp / math.radians(hi - lo)


def design_pitch_gains(nameplate: WindNameplate) -> WindNameplate:
    """Return the nameplate with K_P, K_I and θ_K from Jonkman's pole placement (docstring)."""
    j = nameplate.drivetrain_inertia_kg_m2
    omega = nameplate.rated_rotor_speed_rad_s
    zeta = nameplate.pitch_damping_ratio
    wn = nameplate.pitch_natural_frequency_rad_s
    s0 = -_pitch_sensitivity_w_per_rad(nameplate, 0.0)
    s0 = max(s0, 1.0)
    pitch_cut_out = _rated_pitch_deg(nameplate, nameplate.cut_out_wind_m_s)
    s_co = -_pitch_sensitivity_w_per_rad(nameplate, pitch_cut_out)
    knee = pitch_cut_out / (s_co / s0 - 1.0) if s_co > s0 * 1.01 else 1e9
    return replace(
        nameplate,
        pitch_kp_s=2.0 * j * omega * zeta * wn / s0,
        pitch_ki=j * omega * wn * wn / s0,
        pitch_gain_knee_deg=knee,
    )


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


class WindModel:
    """A wind turbine (Type III or IV) as a sans-IO ``DeviceModel``.

    ``asset`` keys: ``wind_speed_m_s`` (anemometer), ``hub_wind_speed_m_s``,
    ``rotor_speed_rpm``, ``generator_speed_rpm``, ``pitch_deg``, ``tip_speed_ratio``,
    ``power_coefficient``, ``aerodynamic_power_kw`` (½ρAC_pv³), ``generator_torque_knm``
    (electromagnetic torque on the generator shaft, i.e. the high-speed shaft for the geared
    Type III), ``operating_region`` (``parked``, ``1``, ``1.5``, ``2``, ``2.5``, ``3``),
    ``turbine_state`` (``standby``, ``starting``, ``running``, ``shutting_down``), and for
    Type III ``slip`` and ``rotor_power_kw`` (slip power through the rotor-side converter).
    """

    asset_type: str = "wind"
    dc_mode: str = "wind"
    dc_port_count: int = 1

    def __init__(
        self,
        nameplate: WindNameplate,
        seed: int = 0,
        anemometer_height_m: float = 10.0,
        *,
        mean_wind_speed_m_s: float = 8.0,
        turbulence_intensity: float = 0.10,
    ) -> None:
        """Build a turbine; ``seed`` drives the stochastic wind used when none is supplied."""
        self.nameplate = plate = nameplate
        q_kvar = plate.reactive_capability_pu * plate.rated_power_kw
        self.rating = AcRating(
            w_max_kw=plate.rated_power_kw,
            va_max_kva=math.hypot(plate.rated_power_kw, q_kvar),
            var_max_inj_kvar=q_kvar,
            var_max_abs_kvar=q_kvar,
        )
        self._rng = random.Random(seed)
        self._shear = (plate.hub_height_m / max(anemometer_height_m, 0.1)) ** HELLMAN_EXPONENT
        # Stochastic wind (module docstring): Weibull k = 2 marginal, scale c = mean/Γ(1.5).
        self._weibull_scale = max(mean_wind_speed_m_s, 0.0) / math.gamma(1.5)
        self._turbulence = max(turbulence_intensity, 0.0)
        self._z_slow = self._rng.gauss(0.0, 1.0)
        self._y_fast = self._rng.gauss(0.0, 1.0)
        self._tau_slow_s = 3.0 * 3600.0
        self._tau_fast_s = 60.0

        r = plate.rotor_radius_m
        self._radius = r
        self._aero_torque_coef = 0.5 * AIR_DENSITY_KG_M3 * math.pi * r**3
        self._area_half_rho = 0.5 * AIR_DENSITY_KG_M3 * math.pi * r * r
        self._cp_scale = plate.cp_max / HEIER_CP_MAX
        self._tsr_scale = HEIER_OPTIMAL_TSR / plate.optimal_tsr
        self._j = plate.drivetrain_inertia_kg_m2
        self._w_rated = plate.rated_rotor_speed_rad_s
        self._w_min = plate.min_rotor_speed_rpm / _RPM_PER_RAD_S
        self._w_15 = self._w_min * plate.region15_speed_ratio
        self._k = plate.region2_torque_constant
        self._t_15 = self._k * self._w_15 * self._w_15
        self._p_mech_rated = plate.rated_mechanical_power_w
        self._w_r99 = 0.99 * self._w_rated
        self._w_sync25 = self._w_r99 / (1.0 + plate.region25_slip)
        self._slope25 = (self._p_mech_rated / self._w_r99) / (self._w_r99 - self._w_sync25)
        self._t_max = _MAX_TORQUE_FACTOR * self._p_mech_rated / self._w_rated
        self._t_brake = _BRAKE_TORQUE_FACTOR * self._p_mech_rated / self._w_rated
        self._damping = _DAMPING_LOSS_FRACTION * self._p_mech_rated / self._w_rated**2
        self._w_trip = _OVERSPEED_TRIP * self._w_rated
        self._w_clamp = _SPEED_CLAMP * self._w_rated
        self._pitch_rate = plate.max_pitch_rate_deg_s
        self._kp = plate.pitch_kp_s
        self._ki = max(plate.pitch_ki, 1e-12)
        self._knee = max(plate.pitch_gain_knee_deg, 1e-6)
        self._eta = plate.generator_efficiency

        self._mode: Mode = "standby"
        self._initialised = False
        self._rotor_speed_rad_s = 0.0
        self._pitch_deg = 90.0
        self._speed_error_integral = 0.0
        self._cut_out_latched = False
        self._above_cut_out_s = 0.0
        self._below_restart_s = 0.0
        self._below_cut_in_s = 0.0
        self._start_ready_s = 0.0
        self._message: str | None = None

    # ------------------------------------------------------------------ wind input
    def _stochastic_wind(self, dt_s: float) -> float:
        gauss = self._rng.gauss
        a = math.exp(-dt_s / self._tau_slow_s)
        self._z_slow = a * self._z_slow + math.sqrt(1.0 - a * a) * gauss(0.0, 1.0)
        b = math.exp(-dt_s / self._tau_fast_s)
        self._y_fast = b * self._y_fast + math.sqrt(1.0 - b * b) * gauss(0.0, 1.0)
        z = min(max(self._z_slow, -6.0), 6.0)
        survival = 0.5 * math.erfc(z / math.sqrt(2.0))
        slow = self._weibull_scale * math.sqrt(-math.log(survival))
        return max(slow * (1.0 + self._turbulence * self._y_fast), 0.0)

    def _settle(self, hub_wind: float, p_limit_mech: float) -> None:
        """Jump to the quasi-steady operating point for this wind (warm start, long steps)."""
        plate = self.nameplate
        if self._mode in ("standby", "shutting_down"):
            self._mode = "standby"
            self._rotor_speed_rad_s = 0.0
            self._pitch_deg = 90.0
            self._speed_error_integral = 0.0
            return
        w = plate.optimal_tsr * hub_wind / self._radius
        w = min(max(w, self._w_min), self._w_rated)
        target = min(self._p_mech_rated, p_limit_mech)
        pitch = 0.0
        if aerodynamic_power_w(plate, hub_wind, w, 0.0) > target:
            w = self._w_rated
            pitch = _pitch_for_power_deg(plate, hub_wind, w, target)
        self._mode = "running"
        self._rotor_speed_rad_s = w
        self._set_pitch(pitch)

    def _set_pitch(self, pitch_deg: float) -> None:
        """Set the pitch and preload the PI integrator so the controller holds it (bumpless)."""
        self._pitch_deg = pitch_deg
        gk = 1.0 / (1.0 + pitch_deg / self._knee)
        self._speed_error_integral = math.radians(pitch_deg) / (gk * self._ki)

    # ------------------------------------------------------------------ supervisory timers
    def _update_timers(self, hub_wind: float, dt_s: float) -> None:
        plate = self.nameplate
        mode = self._mode
        if hub_wind > plate.cut_out_wind_m_s:
            self._above_cut_out_s += dt_s
        else:
            self._above_cut_out_s = 0.0
        if hub_wind < plate.cut_in_wind_m_s:
            self._below_cut_in_s += dt_s
        else:
            self._below_cut_in_s = 0.0
        if self._cut_out_latched:
            if hub_wind < plate.restart_wind_m_s:
                self._below_restart_s += dt_s
                if self._below_restart_s >= plate.restart_delay_s:
                    self._cut_out_latched = False
            else:
                self._below_restart_s = 0.0
        if mode in ("running", "starting"):
            if self._above_cut_out_s >= plate.cut_out_delay_s:
                self._mode = "shutting_down"
                self._cut_out_latched = True
                self._below_restart_s = 0.0
                self._message = "cut-out: hub wind above cut-out speed"
            elif self._below_cut_in_s >= plate.stop_delay_s:
                self._mode = "shutting_down"
                self._message = "hub wind below cut-in speed"
            self._start_ready_s = 0.0
        else:
            startable = (
                not self._cut_out_latched
                and plate.cut_in_wind_m_s <= hub_wind < plate.cut_out_wind_m_s
            )
            self._start_ready_s = self._start_ready_s + dt_s if startable else 0.0
            if mode == "standby" and self._start_ready_s >= plate.start_delay_s:
                self._mode = "starting"
                self._message = None

    # ------------------------------------------------------------------ the step
    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance by ``dt_s`` seconds (any value ≥ 0) and return the new output."""
        plate = self.nameplate
        dt = dt_s if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        wind_in = env.wind_speed_m_s
        if wind_in is None:
            wind = self._stochastic_wind(dt)
        else:
            wind = wind_in if math.isfinite(wind_in) and wind_in > 0.0 else 0.0
        v = wind * self._shear

        limit_pct = dispatch.active_power_limit_pct
        if not math.isfinite(limit_pct):
            limit_pct = 100.0
        limit_pct = min(max(limit_pct, 0.0), 100.0)
        p_limit_w = plate.rated_power_kw * 10.0 * limit_pct
        p_limit_mech = p_limit_w / self._eta

        if not self._initialised:
            self._initialised = True
            if plate.cut_in_wind_m_s <= v < plate.cut_out_wind_m_s:
                self._mode = "running"
                self._settle(v, p_limit_mech)
        self._update_timers(v, dt)

        if dt > _MAX_SUBSTEPS * _MAX_SUBSTEP_S:
            # Long step: jump to the quasi-steady point, then integrate the last 20 s.
            if self._mode == "starting":
                self._mode = "running"
            self._settle(v, p_limit_mech)
            n = _MAX_SUBSTEPS
            h = _MAX_SUBSTEP_S
        elif dt > 0.0:
            n = math.ceil(dt / _MAX_SUBSTEP_S)
            h = dt / n
        else:
            n = 0
            h = 0.0

        w = self._rotor_speed_rad_s
        pitch = self._pitch_deg
        integ = self._speed_error_integral
        mode = self._mode
        torque_coef = self._aero_torque_coef * v * v
        r_over_v = self._radius / v if v > 0.01 else 0.0
        cp_scale = self._cp_scale
        tsr_scale = self._tsr_scale
        h_over_j = h / self._j
        damping = self._damping
        dpitch_max = self._pitch_rate * h
        w_rated = self._w_rated
        w_min = self._w_min
        w_15 = self._w_15
        w_r99 = self._w_r99
        p_mech_rated = self._p_mech_rated
        kp = self._kp
        ki = self._ki
        knee = self._knee
        exp = math.exp
        deg_per_rad = 180.0 / math.pi
        integ_ceiling = 0.5 * math.pi / ki
        lam_floor = HEIER_MIN_TSR / tsr_scale
        start_pitch = 0.0
        w_connect = w_min
        if mode == "starting":
            # Start-up: pitch (rate-limited) to the pitch that will hold this wind at rated
            # speed; connect at rated speed above rated wind, at cut-in speed below it.
            start_pitch = _rated_pitch_deg(plate, v)
            if start_pitch > 0.0:
                w_connect = w_r99
        t_gen = 0.0
        for _ in range(n):
            # Aerodynamic torque from the calibrated Heier C_p (module docstring).
            if r_over_v > 0.0:
                lam = w * r_over_v
                if lam < lam_floor:
                    lam = lam_floor
                lp = lam * tsr_scale
                inv = 1.0 / (lp + 0.08 * pitch) - 0.035 / (pitch * pitch * pitch + 1.0)
                cp = cp_scale * (
                    0.5176 * (116.0 * inv - 0.4 * pitch - 5.0) * exp(-21.0 * inv) + 0.0068 * lp
                )
                if cp < 0.0:
                    cp = 0.0
                elif cp > BETZ_LIMIT:
                    cp = BETZ_LIMIT
                t_aero = torque_coef * cp / lam
            else:
                t_aero = 0.0

            if mode == "running":
                # Generator torque law (Jonkman §7.1), capped by rating and curtailment.
                if w < w_min:
                    t_gen = 0.0
                else:
                    p_cap = p_mech_rated if p_mech_rated < p_limit_mech else p_limit_mech
                    if pitch > _REGION3_PITCH_DEG or w >= w_r99:
                        t_gen = p_mech_rated / w
                        if t_gen > self._t_max:
                            t_gen = self._t_max
                    elif w < w_15:
                        t_gen = self._t_15 * (w - w_min) / (w_15 - w_min)
                    else:
                        t_gen = self._k * w * w
                        t25 = self._slope25 * (w - self._w_sync25)
                        if t25 > t_gen:
                            t_gen = t25
                    if t_gen * w > p_cap:
                        t_gen = p_cap / w
                # Gain-scheduled PI pitch controller with anti-windup (Jonkman §7.2).
                err = w - w_rated
                gk = 1.0 / (1.0 + pitch / knee)
                integ += err * h
                if integ < 0.0:
                    integ = 0.0
                elif integ > integ_ceiling / gk:
                    integ = integ_ceiling / gk
                target = gk * (kp * err + ki * integ) * deg_per_rad
                if target < 0.0:
                    target = 0.0
                elif target > 90.0:
                    target = 90.0
            elif mode == "starting":
                t_gen = 0.0
                target = start_pitch
            else:
                t_gen = self._t_brake if w > 0.0 else 0.0
                target = 90.0
            delta = target - pitch
            if delta > dpitch_max:
                delta = dpitch_max
            elif delta < -dpitch_max:
                delta = -dpitch_max
            pitch += delta

            w += h_over_j * (t_aero - t_gen - damping * w)
            if w < 0.0:
                w = 0.0
            elif w > self._w_clamp:
                w = self._w_clamp

            if mode == "running":
                if w > self._w_trip:
                    mode = "shutting_down"
                    self._message = "rotor overspeed trip"
            elif mode == "starting":
                if w >= w_connect:
                    # Connect; preload the integrator so the pitch is held (bumpless transfer).
                    mode = "running"
                    integ = math.radians(pitch) * (1.0 + pitch / knee) / ki
            elif mode == "shutting_down" and w <= 0.0 and pitch >= 90.0:
                mode = "standby"

        self._rotor_speed_rad_s = w
        self._pitch_deg = pitch
        self._speed_error_integral = integ
        self._mode = mode
        return self._output(wind, v, w, pitch, mode, p_limit_w, p_limit_mech, env)

    def _generator_torque(self, w: float, pitch: float, p_limit_mech: float) -> tuple[float, bool]:
        """Generator torque on the LSS (module docstring) and whether curtailment binds."""
        if w < self._w_min or w <= 0.0:
            return 0.0, False
        p_cap = self._p_mech_rated / w
        if pitch > _REGION3_PITCH_DEG or w >= self._w_r99:
            t = min(p_cap, self._t_max)
        elif w < self._w_15:
            t = self._t_15 * (w - self._w_min) / (self._w_15 - self._w_min)
        else:
            t = self._k * w * w
            t25 = self._slope25 * (w - self._w_sync25)
            if t25 > t:
                t = t25
        if t > p_cap:
            t = p_cap
        t_limit = p_limit_mech / w
        if t > t_limit:
            return t_limit, True
        return t, False

    def _region(self, w: float, pitch: float, mode: Mode) -> str:
        if mode != "running":
            return "parked" if w <= 0.0 else "1"
        if w < self._w_min:
            return "1"
        if pitch > _REGION3_PITCH_DEG or w >= self._w_r99:
            return "3"
        if w < self._w_15:
            return "1.5"
        if self._slope25 * (w - self._w_sync25) > self._k * w * w:
            return "2.5"
        return "2"

    def _output(
        self,
        wind: float,
        v: float,
        w: float,
        pitch: float,
        mode: Mode,
        p_limit_w: float,
        p_limit_mech: float,
        env: Environment,
    ) -> DeviceOutput:
        plate = self.nameplate
        lam = w * self._radius / v if v > 0.01 else 0.0
        cp = power_coefficient(plate, lam, pitch) if v > 0.01 else 0.0
        throttled = False
        if mode == "running":
            t_gen, throttled = self._generator_torque(w, pitch, p_limit_mech)
        elif mode == "standby" or w <= 0.0:
            t_gen = 0.0
        else:
            t_gen = self._t_brake if mode == "shutting_down" else 0.0
        p_w = self._eta * t_gen * w if mode == "running" else 0.0
        p_w = min(max(p_w, 0.0), p_limit_w)
        p_kw = p_w / 1000.0
        state: InverterState = (
            ("throttled" if throttled else "running") if mode == "running" else mode
        )
        v_dc = plate.dc_link_voltage_v
        asset: dict[str, float | str] = {
            "wind_speed_m_s": wind,
            "hub_wind_speed_m_s": v,
            "rotor_speed_rpm": w * _RPM_PER_RAD_S,
            "generator_speed_rpm": w * _RPM_PER_RAD_S * plate.gearbox_ratio,
            "pitch_deg": pitch,
            "tip_speed_ratio": lam,
            "power_coefficient": cp,
            "aerodynamic_power_kw": self._area_half_rho * cp * v * v * v / 1000.0,
            "generator_torque_knm": t_gen / plate.gearbox_ratio / 1000.0,
            "operating_region": self._region(w, pitch, mode),
            "turbine_state": mode,
        }
        if plate.topology == "type3":
            freq = env.grid_frequency_hz
            if not math.isfinite(freq) or freq <= 1.0:
                freq = 60.0
            w_gen = w * plate.gearbox_ratio
            slip = 1.0 - plate.generator_pole_pairs * w_gen / (2.0 * math.pi * freq)
            if p_kw > 0.0:
                stator_kw = p_kw / max(1.0 - slip, 0.05)
                dc_kw = -slip * stator_kw
            else:
                dc_kw = 0.0
            asset["slip"] = slip
            asset["rotor_power_kw"] = dc_kw
        else:
            dc_kw = p_kw / plate.grid_side_converter_efficiency
        return DeviceOutput(
            ac_power_kw=p_kw,
            reactive_power_kvar=0.0,
            dc_power_kw=dc_kw,
            dc_voltage_v=v_dc,
            dc_current_a=dc_kw * 1000.0 / v_dc,
            inverter_state=state,
            asset=asset,
            message=self._message if mode != "running" else None,
        )
