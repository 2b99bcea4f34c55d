"""Baseline turbine controllers: generator-torque law, blade-pitch PI, supervisory states.

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

Operating states (SunSpec 701 ``InvSt``), the supervisory controller
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from dersim_trio.physics.wind.aero import (
    pitch_sensitivity_w_per_rad,
    rated_pitch_deg,
)

if TYPE_CHECKING:
    from dersim_trio.physics.wind.turbines import WindNameplate

Mode = Literal["standby", "starting", "running", "shutting_down"]

REGION3_PITCH_DEG = 1.0
"""Jonkman's region-3 switch: the torque law is constant power once the pitch exceeds 1°."""
MAX_TORQUE_FACTOR = 1.1
BRAKE_TORQUE_FACTOR = 1.5
OVERSPEED_TRIP = 1.2

_DEG_PER_RAD = 180.0 / math.pi


def design_pitch_gains(nameplate: WindNameplate) -> WindNameplate:
    """Return the nameplate with K_P, K_I and θ_K from Jonkman's pole placement (docstring)."""
    j = nameplate.drivetrain_inertia_kg_m2
    omega = nameplate.rated_rotor_speed_rad_s
    zeta = nameplate.pitch_damping_ratio
    wn = nameplate.pitch_natural_frequency_rad_s
    s0 = -pitch_sensitivity_w_per_rad(nameplate, 0.0)
    s0 = max(s0, 1.0)
    pitch_cut_out = rated_pitch_deg(nameplate, nameplate.cut_out_wind_m_s)
    s_co = -pitch_sensitivity_w_per_rad(nameplate, pitch_cut_out)
    knee = pitch_cut_out / (s_co / s0 - 1.0) if s_co > s0 * 1.01 else 1e9
    return replace(
        nameplate,
        pitch_kp_s=2.0 * j * omega * zeta * wn / s0,
        pitch_ki=j * omega * wn * wn / s0,
        pitch_gain_knee_deg=knee,
    )


# --------------------------------------------------------------------------- generator torque


@dataclass(frozen=True, slots=True)
class TorqueLaw:
    """The constants of the baseline torque law of one machine (module docstring), LSS."""

    w_min: float
    """Cut-in rotor speed, rad/s."""
    w_15: float
    """End of the region-1½ ramp, rad/s."""
    t_15: float
    """Torque at the end of the ramp, N·m."""
    k: float
    """Region-2 constant K, N·m/(rad/s)²."""
    w_r99: float
    """0.99·ω_rated: region 3 above this speed, rad/s."""
    w_sync25: float
    """Synchronous speed of the region-2½ line, rad/s."""
    slope25: float
    """Slope of the region-2½ line, N·m/(rad/s)."""
    p_mech_rated: float
    """Rated shaft power P_rated/η, W."""
    t_max: float
    """Maximum generator torque, N·m."""

    @classmethod
    def of(cls, plate: WindNameplate) -> TorqueLaw:
        """The law's constants for a nameplate."""
        w_rated = plate.rated_rotor_speed_rad_s
        w_min = plate.min_rotor_speed_rpm * math.pi / 30.0
        w_15 = w_min * plate.region15_speed_ratio
        k = plate.region2_torque_constant
        p_mech_rated = plate.rated_mechanical_power_w
        w_r99 = 0.99 * w_rated
        w_sync25 = w_r99 / (1.0 + plate.region25_slip)
        return cls(
            w_min=w_min,
            w_15=w_15,
            t_15=k * w_15 * w_15,
            k=k,
            w_r99=w_r99,
            w_sync25=w_sync25,
            slope25=(p_mech_rated / w_r99) / (w_r99 - w_sync25),
            p_mech_rated=p_mech_rated,
            t_max=MAX_TORQUE_FACTOR * p_mech_rated / w_rated,
        )


def generator_torque(
    law: TorqueLaw, rotor_speed_rad_s: float, pitch_deg: float, p_limit_mech_w: float
) -> tuple[float, bool]:
    """Generator torque on the LSS, N·m, and whether the curtailment cap binds (docstring)."""
    w = rotor_speed_rad_s
    if w < law.w_min or w <= 0.0:
        return 0.0, False
    p_cap = law.p_mech_rated / w
    if pitch_deg > REGION3_PITCH_DEG or w >= law.w_r99:
        t = p_cap if p_cap < law.t_max else law.t_max
    elif w < law.w_15:
        t = law.t_15 * (w - law.w_min) / (law.w_15 - law.w_min)
    else:
        t = law.k * w * w
        t25 = law.slope25 * (w - law.w_sync25)
        if t25 > t:
            t = t25
    if t > p_cap:
        t = p_cap
    t_limit = p_limit_mech_w / w
    if t > t_limit:
        return t_limit, True
    return t, False


def operating_region(law: TorqueLaw, rotor_speed_rad_s: float, pitch_deg: float, mode: Mode) -> str:
    """Jonkman's region name for the present operating point (``parked`` when stopped)."""
    w = rotor_speed_rad_s
    if mode != "running":
        return "parked" if w <= 0.0 else "1"
    if w < law.w_min:
        return "1"
    if pitch_deg > REGION3_PITCH_DEG or w >= law.w_r99:
        return "3"
    if w < law.w_15:
        return "1.5"
    if law.slope25 * (w - law.w_sync25) > law.k * w * w:
        return "2.5"
    return "2"


# --------------------------------------------------------------------------- blade pitch


@dataclass(frozen=True, slots=True)
class PitchGains:
    """Gain-scheduled PI pitch controller constants (module docstring)."""

    kp: float
    """K_P at 0° pitch, rad/(rad/s)."""
    ki: float
    """K_I at 0° pitch, rad/rad."""
    knee_deg: float
    """θ_K of G(θ) = 1/(1 + θ/θ_K), degrees."""
    w_ref: float
    """Speed reference (rated rotor speed), rad/s."""

    @classmethod
    def of(cls, plate: WindNameplate) -> PitchGains:
        """The nameplate's gains (K_I and θ_K kept away from 0)."""
        return cls(
            kp=plate.pitch_kp_s,
            ki=max(plate.pitch_ki, 1e-12),
            knee_deg=max(plate.pitch_gain_knee_deg, 1e-6),
            w_ref=plate.rated_rotor_speed_rad_s,
        )

    def integrator_for(self, pitch_deg: float) -> float:
        """The integrator value that makes the controller hold ``pitch_deg`` at zero error."""
        return math.radians(pitch_deg) * (1.0 + pitch_deg / self.knee_deg) / self.ki


def pitch_command(
    gains: PitchGains, rotor_speed_rad_s: float, pitch_deg: float, integral: float, h_s: float
) -> tuple[float, float]:
    """One PI update over ``h_s``: (commanded pitch in [0°, 90°], new error integral)."""
    err = rotor_speed_rad_s - gains.w_ref
    gk = 1.0 / (1.0 + pitch_deg / gains.knee_deg)
    integral += err * h_s
    ceiling = 0.5 * math.pi / gains.ki / gk
    if integral < 0.0:
        integral = 0.0
    elif integral > ceiling:
        integral = ceiling
    target = gk * (gains.kp * err + gains.ki * integral) * _DEG_PER_RAD
    if target < 0.0:
        target = 0.0
    elif target > 90.0:
        target = 90.0
    return target, integral


def rate_limited(target: float, present: float, max_step: float) -> float:
    """``present`` moved toward ``target`` by at most ``max_step``."""
    delta = target - present
    if delta > max_step:
        delta = max_step
    elif delta < -max_step:
        delta = -max_step
    return present + delta


# --------------------------------------------------------------------------- supervision


@dataclass(frozen=True, slots=True)
class SupervisorTimers:
    """How long each supervisory condition has held, seconds, and the cut-out latch."""

    above_cut_out_s: float = 0.0
    below_restart_s: float = 0.0
    below_cut_in_s: float = 0.0
    start_ready_s: float = 0.0
    cut_out_latched: bool = False


def supervise(
    plate: WindNameplate,
    mode: Mode,
    timers: SupervisorTimers,
    message: str | None,
    hub_wind_m_s: float,
    dt_s: float,
) -> tuple[Mode, SupervisorTimers, str | None]:
    """Advance the supervisory timers by ``dt_s`` and apply the state changes they trigger.

    Returns the new mode, timers and status message (module docstring: cut-out with its
    latch and restart hysteresis, stop below cut-in, start-up after the start delay).
    """
    v = hub_wind_m_s
    above_cut_out = timers.above_cut_out_s + dt_s if v > plate.cut_out_wind_m_s else 0.0
    below_cut_in = timers.below_cut_in_s + dt_s if v < plate.cut_in_wind_m_s else 0.0
    latched = timers.cut_out_latched
    below_restart = timers.below_restart_s
    if latched:
        if v < plate.restart_wind_m_s:
            below_restart += dt_s
            if below_restart >= plate.restart_delay_s:
                latched = False
        else:
            below_restart = 0.0
    start_ready = timers.start_ready_s
    if mode in ("running", "starting"):
        if above_cut_out >= plate.cut_out_delay_s:
            mode = "shutting_down"
            latched = True
            below_restart = 0.0
            message = "cut-out: hub wind above cut-out speed"
        elif below_cut_in >= plate.stop_delay_s:
            mode = "shutting_down"
            message = "hub wind below cut-in speed"
        start_ready = 0.0
    else:
        startable = not latched and plate.cut_in_wind_m_s <= v < plate.cut_out_wind_m_s
        start_ready = start_ready + dt_s if startable else 0.0
        if mode == "standby" and start_ready >= plate.start_delay_s:
            mode = "starting"
            message = None
    return (
        mode,
        SupervisorTimers(above_cut_out, below_restart, below_cut_in, start_ready, latched),
        message,
    )
