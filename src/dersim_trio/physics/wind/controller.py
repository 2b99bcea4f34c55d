"""Baseline turbine controllers as published, and the supervisory operating states.

Both controllers see the generator speed (HSS = rotor speed × gearbox ratio) through a
first-order low-pass filter, exact for a speed held over the step: y ← u + (y − u)·e^(−ω_c·h)
(ω_c the corner frequency, h the step), and command a generator torque
(rate-limited) and a collective blade pitch (rate-limited, applied by an ideal actuator). The
model refers the torque to the rotor (× gearbox ratio). Curtailment
(``Dispatch.active_power_limit_pct``) caps the torque at P_limit/(η·ω_gen,filtered); the pitch
loop then holds rated speed and sheds the surplus (state ``throttled``).

NREL 5-MW: Jonkman et al. 2009, NREL/TP-500-38060, §7 (``JonkmanController``)
    Torque (§7.1), filtered generator speed ω:
    * region 3 when ω ≥ VS_RtGnSp (99 % of rated) or the last pitch command ≥ 1°:
      T = VS_RtPwr/ω (constant power);
    * region 1, ω ≤ VS_CtInSp (670 rpm): T = 0;
    * region 1½, up to VS_Rgn2Sp (871 rpm): the line from 0 to K·VS_Rgn2Sp²;
    * region 2, up to the transition speed: T = K·ω², K = VS_Rgn2K;
    * region 2½: the line T = S₂₅·(ω − ω_sync) through rated torque at VS_RtGnSp with
      ω_sync = VS_RtGnSp/(1 + VS_SlPc/100) (10 % slip); the transition speed is where it meets
      K·ω²;
    * at most VS_MaxTq, rate of change at most VS_MaxRat.
    Pitch (§7.2): gain-scheduled PI on e = ω − PC_RefSpd: G = 1/(1 + θ/θ_K),
    ∫e clamped so that G·K_I·∫e stays in [θ_min, θ_max], θ_cmd = G·(K_P·e + K_I·∫e) in
    [0, 90°], rate ≤ 8°/s.

IEA 15-MW: ROSCO (Abbas et al. 2022, "A reference open-source controller for fixed and
floating offshore wind turbines", Wind Energ. Sci. 7; ``RoscoController``)
    Wind-speed estimate: ROSCO estimates the rotor-effective wind with an extended Kalman
    filter; here the hub wind is known, and the estimate is that wind through ROSCO's
    estimate filter (F_WECornerFreq).
    Torque (VS_ControlMode 2, tip-speed-ratio tracking): a PI on e = ω_ref − ω with
    ω_ref = clamp(TSR_opt·v̂/R, VS_MinOMSpd, VS_RefSpd), T = K_P·e + I, I ← I + K_I·e·h, both
    held in [0, VS_RtTq]; the minimum rotor speed (5 rpm) is the lower clamp. Above rated
    (pitch ≥ θ_min + PC_Switch) the torque is VS_RtTq: ROSCO's VS_ConstPower = 0, constant
    torque, the IEA tuning's choice (constant power, T = P_rated/(η·ω), is the other ROSCO
    option and available through ``RoscoBaseline.vs_constant_power``: it holds the power flat
    through speed excursions at the price of a torque that falls as the rotor speeds up, which
    erodes the pitch loop's damping). Rate ≤ VS_MaxRat.
    Pitch: PI on e = PC_RefSpd − ω with K_P, K_I interpolated in the published gain schedule at
    the last pitch command (clamped at its ends), θ = K_P·e + I, I ← I + K_I·e·h, both held in
    [θ_min(v̂), 90°], rate ≤ PC_MaxRat. θ_min(v̂) is ROSCO's C_p-maximising minimum pitch
    (PS_Mode 2): at wind v̂ the rotor runs at λ = ω_ref·R/v̂; where the minimum rotor speed holds
    it above TSR_opt, θ_min is the pitch that maximises C_p(λ, θ) in the rotor table, else 0.
    This is the minimum-rotor-speed pitch schedule of Gaertner et al. 2020 (their
    ``performance_ccblade.dat``: 3.86° at 3 m/s, 0° from 7.16 m/s). ROSCO's peak shaving
    (a thrust limit near rated) is not modelled; neither are its set-point smoother or the
    second-order filters.

Operating states (SunSpec 701 ``InvSt``), the supervisory controller (``supervise``)
    * ``standby``: parked (brake on, blades feathered at 90°), P = 0. Leaves for ``starting``
      when cut-in ≤ v_hub < cut-out has held for ``start_delay_s`` (30 s) and no cut-out is
      latched.
    * ``starting``: generator off, the blades pitch at the rate limit to the steady-state pitch
      for the present wind; the generator connects (→ running) once the rotor reaches 97 % of
      the steady-state rotor speed for that wind.
    * ``running`` / ``throttled``: the controller above; ``throttled`` when the curtailment cap
      binds.
    * ``shutting_down``: blades feather at the rate limit, brake torque 1.5 × rated torque,
      P = 0; → ``standby`` once parked. Triggers: v_hub > cut-out for ``cut_out_delay_s``
      (30 s, a simplification of the 10-min average; latches until v_hub < ``restart_wind``
      = 20 m/s for ``restart_delay_s`` = 60 s), v_hub < cut-in for ``stop_delay_s`` (60 s), or
      rotor overspeed above 1.2·ω_rated.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dersim_trio.physics.wind.turbines import JonkmanBaseline, RoscoBaseline

if TYPE_CHECKING:
    from dersim_trio.physics.wind.aero import RotorAero
    from dersim_trio.physics.wind.turbines import WindNameplate

Mode = Literal["standby", "starting", "running", "shutting_down"]

BRAKE_TORQUE_FACTOR = 1.5
OVERSPEED_TRIP = 1.2
CONNECT_SPEED_FRACTION = 0.97
"""Start-up connects the generator at this fraction of the steady-state rotor speed."""

_DEG_PER_RAD = 180.0 / math.pi
_CURTAILED = 1.0 - 1e-9
"""The curtailment cap applies only below the rated power (at 100 % the published law runs)."""


# --------------------------------------------------------------------------- small blocks


def rate_limited(target: float, present: float, max_step: float) -> float:
    """``present`` moved toward ``target`` by at most ``max_step``."""
    delta = target - present
    if delta > max_step:
        delta = max_step
    elif delta < -max_step:
        delta = -max_step
    return present + delta


def clamp(value: float, lo: float, hi: float) -> float:
    """``value`` limited to [lo, hi]."""
    return lo if value < lo else hi if value > hi else value


@dataclass(frozen=True, slots=True)
class SteadyState:
    """A controller's steady operating point for a constant wind (rotor side, LSS)."""

    rotor_speed_rad_s: float
    pitch_deg: float
    torque_n_m: float


# --------------------------------------------------------------------------- the shared part

LawStep = Callable[[float, float, float], tuple[float, float, str]]
"""One sub-step of a controller's laws: (ω_gen,filtered, θ_last, v_hub) → (T_gen, θ_cmd,
region): the generator torque on the HSS before the curtailment cap and the rate limit, N·m,
and the pitch command inside its limits before the rate limit, rad."""
LawStates = tuple[float, ...]
"""A controller's own filter and integrator states, in the order its ``_make_laws`` takes."""
ControlLaws = tuple[LawStep, Callable[[], LawStates]]
"""A controller's laws for one sub-step length, and a function that returns their states."""


class BaselineController(ABC):
    """A baseline controller as the model uses it (torques on the LSS, pitch in °), and what the
    two share (module docstring): the generator-speed filter, the curtailment cap, the torque
    and pitch rate limits and the running sub-step loop.

    A controller supplies ``_make_laws``: its torque law and pitch loop for one sub-step
    length, a closure over its constants and its states (filters of its own, integrators); the
    states live in that closure only, handed from one closure to the next when the step length
    changes and set by ``preload``. The loop calls the laws once per sub-step: that call is
    what one loop for both controllers costs (2-3 % of ``WindModel.step``'s instructions,
    ``scripts/bench_wind_step.py`` under callgrind).
    """

    __slots__ = (
        "_aero",
        "_curtail_below",
        "_dpitch_max",
        "_dt_max",
        "_h",
        "_keep_w",
        "_laws",
        "_n",
        "_pitch_rad",
        "_pitch_rate_max_rad_s",
        "_rated_power",
        "_speed_filter_corner_rad_s",
        "_states",
        "_t_gen",
        "_torque_rate_max_n_m_s",
        "_w_f",
        "region",
        "throttled",
        "torque_n_m",
    )
    _laws: LawStep
    _states: Callable[[], LawStates]
    torque_n_m: float
    """Generator torque applied over the last step, referred to the rotor."""
    throttled: bool
    """Whether the curtailment cap bound in the last step."""
    region: str
    """The operating region of the last step (``1``, ``1.5``, ``2``, ``2.5``, ``3``)."""

    def __init__(
        self,
        plate: WindNameplate,
        aero: RotorAero,
        speed_filter_corner_rad_s: float,
        torque_rate_max_n_m_s: float,
        pitch_rate_max_rad_s: float,
    ) -> None:
        self._aero = aero
        self._n = plate.gearbox_ratio
        self._rated_power = plate.rated_mechanical_power_w
        self._curtail_below = _CURTAILED * self._rated_power
        self._speed_filter_corner_rad_s = speed_filter_corner_rad_s
        self._torque_rate_max_n_m_s = torque_rate_max_n_m_s
        self._pitch_rate_max_rad_s = pitch_rate_max_rad_s
        self._h = -1.0
        self._keep_w = 0.0
        self._dt_max = 0.0
        self._dpitch_max = 0.0
        self._w_f = 0.0
        self._t_gen = 0.0
        self._pitch_rad = 0.0
        self.torque_n_m = 0.0
        self.throttled = False
        self.region = "1"

    def _set_step_length(self, h_s: float) -> None:
        """The filter factor, the rate limits' steps and the laws for sub-steps of ``h_s``."""
        self._h = h_s
        self._keep_w = math.exp(-self._speed_filter_corner_rad_s * h_s)
        self._dt_max = self._torque_rate_max_n_m_s * h_s
        self._dpitch_max = self._pitch_rate_max_rad_s * h_s
        self._laws, self._states = self._make_laws(h_s, self._states())

    @abstractmethod
    def _make_laws(self, h_s: float, states: LawStates) -> ControlLaws:
        """The controller's torque law and pitch loop for sub-steps of ``h_s`` (``ControlLaws``)
        starting from ``states``."""

    @abstractmethod
    def steady_state(self, hub_wind_m_s: float, p_limit_mech_w: float) -> SteadyState:
        """The operating point this controller settles to in a constant wind."""

    @abstractmethod
    def preload(
        self, rotor_speed_rad_s: float, pitch_deg: float, torque_n_m: float, hub_wind_m_s: float
    ) -> None:
        """Set filters and integrators so the controller holds this point (bumpless)."""

    def step(
        self, rotor_speed_rad_s: float, hub_wind_m_s: float, p_limit_mech_w: float, h_s: float
    ) -> float:
        """One control step of ``h_s`` seconds at this rotor speed; sets the torque and returns
        the pitch command, degrees (``run`` for one sub-step with the rotor held: h/J = 0)."""
        return self.run(
            self._aero,
            rotor_speed_rad_s,
            0.0,
            hub_wind_m_s,
            p_limit_mech_w,
            1,
            h_s,
            0.0,
            math.inf,
            math.inf,
        )[1]

    def run(
        self,
        aero: RotorAero,
        rotor_speed_rad_s: float,
        pitch_deg: float,
        hub_wind_m_s: float,
        p_limit_mech_w: float,
        count: int,
        h_s: float,
        h_over_j: float,
        speed_clamp_rad_s: float,
        trip_speed_rad_s: float,
    ) -> tuple[float, float, int]:
        """Run up to ``count`` running sub-steps of ``h_s`` seconds; (ω, β in °, steps done).

        Per sub-step: the aerodynamic torque T_aero = ``aero.torque_n_m(ω, β, v)`` at the
        pitch β of the last command, one step of the controller (the filtered generator speed,
        the controller's laws from ``_make_laws``, the curtailment cap (``throttled``), the
        torque and pitch rate limits; it sets ``torque_n_m``), then the drivetrain's
        explicit-Euler step ω ← ω + (h/J)·(T_aero − T_gen) with ω kept in
        [0, ``speed_clamp_rad_s``] (``model.drivetrain_step``, ``h_over_j`` = h/J). Stops early
        after the first sub-step whose ω exceeds ``trip_speed_rad_s`` (the overspeed trip, which
        the model handles).

        The loop is written out once for both controllers, the aerodynamic torque's
        interpolation and the drivetrain step inline, its constants read once per call, and
        calls the controller's own laws once per sub-step: it runs three times per tick for
        every turbine, and the calls and attribute look-ups of a loop over per-step methods
        cost about as much as its arithmetic.
        """
        if h_s != self._h:
            self._set_step_length(h_s)
        laws = self._laws
        region = self.region
        torque_aero = aero.torque_n_m
        v = hub_wind_m_s
        (radius, lam_lo, lam_hi, lam_ext, lam_step, n_lam, beta_lo, beta_hi, beta_step, n_beta,
         cp, thr, lam_hi_1, d1, d2) = aero.inner_grid  # fmt: skip
        top = (n_lam - 1) * n_beta
        calm = v <= 0.01
        thr_v2 = thr * v * v
        p_limit = p_limit_mech_w
        curtail = p_limit < self._curtail_below
        gear = self._n
        keep_w = self._keep_w
        dt_max = self._dt_max
        dpitch_max = self._dpitch_max

        w = rotor_speed_rad_s
        w_f = self._w_f
        t_last = self._t_gen
        pitch = self._pitch_rad
        throttled = self.throttled
        done = 0
        while done < count:
            done += 1
            # T_aero: ``aero.torque_n_m``, its interpolation written out (the same arithmetic).
            lam = 0.0 if calm else w * radius / v
            if lam_lo <= lam <= lam_ext and beta_lo <= pitch_deg <= beta_hi:
                x = (pitch_deg - beta_lo) / beta_step
                j = int(x)
                if j > n_beta - 2:
                    j = n_beta - 2
                u = x - j
                if lam <= lam_hi:
                    x = (lam - lam_lo) / lam_step
                    i = int(x)
                    if i > n_lam - 2:
                        i = n_lam - 2
                    x -= i
                    k = i * n_beta + j
                    a = cp[k] + x * (cp[k + n_beta] - cp[k])
                    b = cp[k + 1] + x * (cp[k + n_beta + 1] - cp[k + 1])
                else:  # above the grid: each column's quadratic extension
                    dl = lam - lam_hi
                    q = lam - lam_hi_1
                    k = top + j
                    a = cp[k] + dl * (d1[j] + d2[j] * q)
                    b = cp[k + 1] + dl * (d1[j + 1] + d2[j + 1] * q)
                t_aero = thr_v2 * (a + u * (b - a)) / lam
            else:
                t_aero = torque_aero(w, pitch_deg, v)
            w_gen = w * gear
            w_f = w_gen + (w_f - w_gen) * keep_w

            t, target, region = laws(w_f, pitch, v)
            throttled = False
            if curtail and w_f > 0.0 and t * w_f > p_limit:
                t = p_limit / w_f
                throttled = True
            if t > t_last + dt_max:
                t = t_last + dt_max
            elif t < t_last - dt_max:
                t = t_last - dt_max
            t_last = t
            if target > pitch + dpitch_max:
                target = pitch + dpitch_max
            elif target < pitch - dpitch_max:
                target = pitch - dpitch_max
            pitch = target
            pitch_deg = target * _DEG_PER_RAD

            w = w + h_over_j * (t_aero - t * gear)
            if w < 0.0:
                w = 0.0
            elif w > speed_clamp_rad_s:
                w = speed_clamp_rad_s
            if w > trip_speed_rad_s:
                break
        self.region = region
        self._w_f = w_f
        self._t_gen = t_last
        self.torque_n_m = t_last * gear
        self._pitch_rad = pitch
        self.throttled = throttled
        return w, pitch_deg, done


# --------------------------------------------------------------------------- NREL 5-MW


class JonkmanController(BaselineController):
    """Jonkman 2009 §7 baseline torque and pitch control (module docstring)."""

    __slots__ = (
        "_c",
        "_eta",
        "_slope15",
        "_slope25",
        "_sync",
        "_t_max",
        "_transition",
    )

    def __init__(self, plate: WindNameplate, c: JonkmanBaseline, aero: RotorAero) -> None:
        super().__init__(
            plate, aero, c.speed_filter_corner_rad_s, c.vs_max_rate_n_m_s, c.pc_max_rate_rad_s
        )
        self._c = c
        self._eta = plate.generator_efficiency
        self._t_max = c.vs_max_torque_factor * self._rated_power / c.pc_ref_speed_rad_s
        self._sync = c.vs_rated_speed_rad_s / (1.0 + 0.01 * c.vs_slip_pct)
        self._slope15 = (
            c.vs_rgn2_k
            * c.vs_rgn2_speed_rad_s**2
            / (c.vs_rgn2_speed_rad_s - c.vs_cut_in_speed_rad_s)
        )
        self._slope25 = (self._rated_power / c.vs_rated_speed_rad_s) / (
            c.vs_rated_speed_rad_s - self._sync
        )
        s, k = self._slope25, c.vs_rgn2_k
        disc = s * (s - 4.0 * k * self._sync)
        # Where the region-2½ line meets K·ω² (DISCON's VS_TrGnSp); a rating far below the
        # reference machine's can put the line below the curve everywhere: region 2 then runs
        # up to VS_RtGnSp.
        self._transition = (
            (s - math.sqrt(disc)) / (2.0 * k) if disc >= 0.0 else c.vs_rated_speed_rad_s
        )
        self._laws, self._states = self._make_laws(self._h, (0.0,))

    def torque_law(self, gen_speed_rad_s: float, region3: bool) -> tuple[float, str]:
        """Generator torque (HSS, N·m) of §7.1 at a filtered speed, and the region's name."""
        c = self._c
        w = gen_speed_rad_s
        if region3 or w >= c.vs_rated_speed_rad_s:
            t, region = self._rated_power / w, "3"
        elif w <= c.vs_cut_in_speed_rad_s:
            t, region = 0.0, "1"
        elif w < c.vs_rgn2_speed_rad_s:
            t, region = self._slope15 * (w - c.vs_cut_in_speed_rad_s), "1.5"
        elif w < self._transition:
            t, region = c.vs_rgn2_k * w * w, "2"
        else:
            t, region = self._slope25 * (w - self._sync), "2.5"
        return min(t, self._t_max), region

    def _gain_factor(self, pitch_rad: float) -> float:
        return 1.0 / (1.0 + pitch_rad / self._c.pc_kk_rad)

    def _make_laws(self, h_s: float, states: LawStates) -> ControlLaws:
        """§7.1's torque law (``torque_law`` written out) and §7.2's gain-scheduled PI pitch
        with its anti-windup clamp, in [θ_min, θ_max]."""
        c = self._c
        rgn3_pitch = c.vs_rgn3_min_pitch_rad
        rated_speed = c.vs_rated_speed_rad_s
        cut_in = c.vs_cut_in_speed_rad_s
        rgn2_speed = c.vs_rgn2_speed_rad_s
        rgn2_k = c.vs_rgn2_k
        transition = self._transition
        rated_power = self._rated_power
        slope15 = self._slope15
        slope25 = self._slope25
        sync = self._sync
        t_max = self._t_max
        kk = c.pc_kk_rad
        ref_speed = c.pc_ref_speed_rad_s
        kp = c.pc_kp_s
        ki = c.pc_ki
        min_pitch = c.pc_min_pitch_rad
        max_pitch = c.pc_max_pitch_rad
        (integ_last,) = states  # ∫e dt of the pitch PI

        def laws(w_f: float, pitch: float, v: float) -> tuple[float, float, str]:
            nonlocal integ_last
            if w_f > 0.0:
                if pitch >= rgn3_pitch or w_f >= rated_speed:
                    t, region = rated_power / w_f, "3"
                elif w_f <= cut_in:
                    t, region = 0.0, "1"
                elif w_f < rgn2_speed:
                    t, region = slope15 * (w_f - cut_in), "1.5"
                elif w_f < transition:
                    t, region = rgn2_k * w_f * w_f, "2"
                else:
                    t, region = slope25 * (w_f - sync), "2.5"
                if t > t_max:
                    t = t_max
            else:
                t, region = 0.0, "1"

            gk = 1.0 / (1.0 + pitch / kk)
            err = w_f - ref_speed
            integ = integ_last + err * h_s
            gain_ki = gk * ki
            bound = min_pitch / gain_ki
            if integ < bound:
                integ = bound
            else:
                bound = max_pitch / gain_ki
                if integ > bound:
                    integ = bound
            integ_last = integ
            target = gk * kp * err + gain_ki * integ
            if target < min_pitch:
                target = min_pitch
            elif target > max_pitch:
                target = max_pitch
            return t, target, region

        def law_states() -> LawStates:
            return (integ_last,)

        return laws, law_states

    def steady_state(self, hub_wind_m_s: float, p_limit_mech_w: float) -> SteadyState:
        """Region 1–2½ at 0° pitch where aerodynamic and generator torque balance; else rated
        speed with the pitch that sheds the surplus (bisection in both cases)."""
        c = self._c
        n = self._n
        aero = self._aero
        v = hub_wind_m_s

        def gen_torque_lss(w: float) -> float:
            w_gen = w * n
            t = self.torque_law(w_gen, False)[0] if w_gen > 0.0 else 0.0
            return min(t, p_limit_mech_w / w_gen if w_gen > 0.0 else t) * n

        def surplus(w: float) -> float:
            return aero.torque_n_m(w, 0.0, v) - gen_torque_lss(w)

        w_ref = c.pc_ref_speed_rad_s / n
        lo, hi = c.vs_cut_in_speed_rad_s / n, w_ref
        if surplus(lo) <= 0.0:
            return SteadyState(lo, 0.0, max(gen_torque_lss(lo), 0.0))
        if surplus(hi) < 0.0:
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                if surplus(mid) > 0.0:
                    lo = mid
                else:
                    hi = mid
            return SteadyState(hi, 0.0, gen_torque_lss(hi))
        t_lss = min(self._rated_power, p_limit_mech_w) / w_ref
        pitch = aero.pitch_for_torque_deg(w_ref, v, t_lss, 0.0)
        return SteadyState(w_ref, pitch, t_lss)

    def preload(
        self, rotor_speed_rad_s: float, pitch_deg: float, torque_n_m: float, hub_wind_m_s: float
    ) -> None:
        """Filter at the present speed, torque as given, integrator holding ``pitch_deg``."""
        c = self._c
        self._w_f = rotor_speed_rad_s * self._n
        self._t_gen = torque_n_m / self._n
        self.torque_n_m = torque_n_m
        self._pitch_rad = math.radians(pitch_deg)
        integ = self._pitch_rad / (self._gain_factor(self._pitch_rad) * c.pc_ki)
        self._laws, self._states = self._make_laws(self._h, (integ,))


# --------------------------------------------------------------------------- IEA 15-MW


class RoscoController(BaselineController):
    """ROSCO tip-speed-ratio tracking torque control and gain-scheduled pitch control."""

    __slots__ = (
        "_c",
        "_gs_first_angle",
        "_gs_first_gains",
        "_ps_dv",
        "_ps_pitch",
        "_ps_v0",
        "_radius",
        "_t_max",
        "_t_rated",
        "_tsr_to_gen",
    )

    _PS_V0 = 0.5
    _PS_DV = 0.05
    _PS_V1 = 30.0

    def __init__(self, plate: WindNameplate, c: RoscoBaseline, aero: RotorAero) -> None:
        super().__init__(
            plate, aero, c.speed_filter_corner_rad_s, c.vs_max_rate_n_m_s, c.pc_max_rate_rad_s
        )
        self._c = c
        self._radius = plate.rotor_radius_m
        self._t_rated = self._rated_power / c.pc_ref_speed_rad_s
        self._t_max = c.vs_max_torque_factor * self._t_rated
        # θ_min(v̂): the C_p-maximising minimum pitch on a 0.05 m/s grid (module docstring).
        self._ps_v0 = self._PS_V0
        self._ps_dv = self._PS_DV
        count = round((self._PS_V1 - self._PS_V0) / self._PS_DV) + 1
        schedule = []
        for k in range(count):
            v = self._PS_V0 + k * self._PS_DV
            w_opt = c.vs_tsr_opt * v / self._radius
            if w_opt * self._n < c.vs_min_speed_rad_s:
                lam = c.vs_min_speed_rad_s / self._n * self._radius / v
                pitch = math.radians(aero.best_pitch_deg(lam, math.degrees(c.pc_min_pitch_rad)))
            else:
                pitch = c.pc_min_pitch_rad
            schedule.append(pitch)
        self._ps_pitch = tuple(schedule)
        self._tsr_to_gen = self._n / self._radius
        self._gs_first_angle = c.pc_gs_angles_rad[0]
        self._gs_first_gains = (c.pc_gs_kp_s[0], c.pc_gs_ki[0])
        self._laws, self._states = self._make_laws(self._h, (0.0, 0.0, 0.0, math.nan, 0.0, 0.0))

    def min_pitch_rad(self, wind_estimate_m_s: float) -> float:
        """θ_min(v̂), the minimum-rotor-speed pitch schedule (module docstring), rad."""
        x = (wind_estimate_m_s - self._ps_v0) / self._ps_dv
        if x <= 0.0:
            return self._ps_pitch[0]
        i = int(x)
        if i >= len(self._ps_pitch) - 1:
            return self._ps_pitch[-1]
        t = x - i
        return self._ps_pitch[i] + t * (self._ps_pitch[i + 1] - self._ps_pitch[i])

    def speed_reference(self, wind_estimate_m_s: float) -> float:
        """Torque loop's generator-speed reference, rad/s: TSR tracking, clamped."""
        c = self._c
        w = c.vs_tsr_opt * wind_estimate_m_s / self._radius * self._n
        return clamp(w, c.vs_min_speed_rad_s, c.vs_ref_speed_rad_s)

    def _make_laws(self, h_s: float, states: LawStates) -> ControlLaws:
        """The wind-estimate filter, θ_min(v̂) (``min_pitch_rad`` written out), the
        TSR-tracking torque PI (or rated torque above rated), and the gain-scheduled pitch PI
        held in [θ_min, θ_max] (``_gains`` written out)."""
        c = self._c
        keep_v = math.exp(-c.wind_filter_corner_rad_s * h_s)
        ps_v0 = self._ps_v0
        ps_dv = self._ps_dv
        schedule = self._ps_pitch
        last = len(schedule) - 1
        pc_min_pitch = c.pc_min_pitch_rad
        pc_max_pitch = c.pc_max_pitch_rad
        pc_switch = c.pc_switch_rad
        pc_ref_speed = c.pc_ref_speed_rad_s
        constant_power = c.vs_constant_power
        rated_power = self._rated_power
        t_max = self._t_max
        t_rated = self._t_rated
        tsr_opt = c.vs_tsr_opt
        tsr_to_gen = self._tsr_to_gen
        min_speed = c.vs_min_speed_rad_s
        ref_speed = c.vs_ref_speed_rad_s
        vs_kp = c.vs_kp
        vs_ki = c.vs_ki
        gs_first_angle = self._gs_first_angle
        gs_first_gains = self._gs_first_gains
        gs_angles = c.pc_gs_angles_rad
        gs_last_angle = gs_angles[-1]
        gs_kp = c.pc_gs_kp_s
        gs_ki = c.pc_gs_ki
        bisect_right = bisect.bisect_right

        # v̂, the torque and pitch integrators, the pitch the gains (K_P, K_I) were taken at
        v_est, i_torque, i_pitch, gains_pitch, kp, ki = states

        def laws(w_f: float, pitch: float, v: float) -> tuple[float, float, str]:
            nonlocal v_est, i_torque, i_pitch, gains_pitch, kp, ki
            v_est = v + (v_est - v) * keep_v
            x = (v_est - ps_v0) / ps_dv
            if x <= 0.0:
                pitch_min = schedule[0]
            elif x >= last:
                pitch_min = schedule[-1]
            else:
                i = int(x)
                pitch_min = schedule[i] + (x - i) * (schedule[i + 1] - schedule[i])
            if pitch_min < pc_min_pitch:
                pitch_min = pc_min_pitch

            # Torque: TSR-tracking PI below rated, VS_RtTq (or constant power) above.
            if pitch >= pitch_min + pc_switch:
                t = min(rated_power / w_f, t_max) if constant_power and w_f > 0.0 else t_rated
                i_torque = t_rated
                region = "3"
            else:
                w_ref = tsr_opt * v_est * tsr_to_gen
                if w_ref < min_speed:
                    w_ref = min_speed
                    region = "1.5"
                elif w_ref > ref_speed:
                    w_ref = ref_speed
                    region = "2.5"
                else:
                    region = "2"
                err = w_ref - w_f
                i_t = i_torque + vs_ki * err * h_s
                i_t = 0.0 if i_t < 0.0 else t_rated if i_t > t_rated else i_t
                i_torque = i_t
                t = vs_kp * err + i_t
                t = 0.0 if t < 0.0 else t_rated if t > t_rated else t

            # Pitch: gain-scheduled PI on the speed error, held above θ_min(v̂).
            if pitch != gains_pitch:
                gains_pitch = pitch
                if pitch <= gs_first_angle:  # below the schedule (region 2): its first gains
                    kp, ki = gs_first_gains
                elif pitch >= gs_last_angle:
                    kp, ki = gs_kp[-1], gs_ki[-1]
                else:
                    i = bisect_right(gs_angles, pitch) - 1
                    x = (pitch - gs_angles[i]) / (gs_angles[i + 1] - gs_angles[i])
                    kp = gs_kp[i] + x * (gs_kp[i + 1] - gs_kp[i])
                    ki = gs_ki[i] + x * (gs_ki[i + 1] - gs_ki[i])
            err = pc_ref_speed - w_f
            i_p = i_pitch + ki * err * h_s
            i_p = pitch_min if i_p < pitch_min else pc_max_pitch if i_p > pc_max_pitch else i_p
            i_pitch = i_p
            target = kp * err + i_p
            if target < pitch_min:
                target = pitch_min
            elif target > pc_max_pitch:
                target = pc_max_pitch
            return t, target, region

        def law_states() -> LawStates:
            return v_est, i_torque, i_pitch, gains_pitch, kp, ki

        return laws, law_states

    def _gains(self, pitch_rad: float) -> tuple[float, float]:
        """(K_P, K_I) of the published schedule at this pitch, held beyond its ends."""
        c = self._c
        angles = c.pc_gs_angles_rad
        if pitch_rad <= angles[0]:
            return c.pc_gs_kp_s[0], c.pc_gs_ki[0]
        if pitch_rad >= angles[-1]:
            return c.pc_gs_kp_s[-1], c.pc_gs_ki[-1]
        i = bisect.bisect_right(angles, pitch_rad) - 1
        t = (pitch_rad - angles[i]) / (angles[i + 1] - angles[i])
        kp, ki = c.pc_gs_kp_s, c.pc_gs_ki
        return kp[i] + t * (kp[i + 1] - kp[i]), ki[i] + t * (ki[i + 1] - ki[i])

    def steady_state(self, hub_wind_m_s: float, p_limit_mech_w: float) -> SteadyState:
        """TSR tracking (clamped) at θ_min if the torque fits under its cap; else the speed
        between the two references where it does; else rated speed and the pitch that sheds
        the surplus."""
        c = self._c
        n = self._n
        aero = self._aero
        v = hub_wind_m_s
        pitch_min = math.degrees(max(self.min_pitch_rad(v), c.pc_min_pitch_rad))
        w = self.speed_reference(v) / n
        t_cap = min(self._t_rated * n, p_limit_mech_w / w)
        t = aero.torque_n_m(w, pitch_min, v)
        if t <= t_cap:
            return SteadyState(w, pitch_min, max(t, 0.0))
        w_hi = c.pc_ref_speed_rad_s / n
        t_cap_hi = min(self._t_rated * n, p_limit_mech_w / w_hi)
        if aero.torque_n_m(w_hi, pitch_min, v) <= t_cap_hi:
            lo, hi = w, w_hi
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                cap = min(self._t_rated * n, p_limit_mech_w / mid)
                if aero.torque_n_m(mid, pitch_min, v) > cap:
                    lo = mid
                else:
                    hi = mid
            return SteadyState(hi, pitch_min, min(self._t_rated * n, p_limit_mech_w / hi))
        pitch = aero.pitch_for_torque_deg(w_hi, v, t_cap_hi, pitch_min)
        return SteadyState(w_hi, pitch, t_cap_hi)

    def preload(
        self, rotor_speed_rad_s: float, pitch_deg: float, torque_n_m: float, hub_wind_m_s: float
    ) -> None:
        """Filters at the present values, both integrators holding this point."""
        self._w_f = rotor_speed_rad_s * self._n
        self._t_gen = torque_n_m / self._n
        self.torque_n_m = torque_n_m
        i_torque = clamp(self._t_gen, 0.0, self._t_rated)
        self._pitch_rad = math.radians(pitch_deg)
        err = self._c.pc_ref_speed_rad_s - self._w_f
        kp = self._gains(self._pitch_rad)[0]
        i_pitch = self._pitch_rad - kp * err if err <= 0.0 else self._pitch_rad
        gains = self._states()[3:]  # the gains cache carries over
        self._laws, self._states = self._make_laws(
            self._h, (hub_wind_m_s, i_torque, i_pitch, *gains)
        )


def make_controller(plate: WindNameplate, aero: RotorAero) -> BaselineController:
    """The baseline controller the nameplate names."""
    constants = plate.controller
    if isinstance(constants, JonkmanBaseline):
        return JonkmanController(plate, constants, aero)
    return RoscoController(plate, constants, aero)


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
    if mode == "running" and above_cut_out == below_cut_in == start_ready == 0.0 and not latched:
        # The common case, nothing pending: keep the (immutable) timers object.
        return (
            mode,
            timers
            if timers.below_restart_s == below_restart
            else SupervisorTimers(0.0, below_restart, 0.0, 0.0, False),
            message,
        )
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
