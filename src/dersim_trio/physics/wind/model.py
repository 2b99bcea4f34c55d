"""The wind-turbine device model: Type III (DFIG, NREL 5-MW) and Type IV (IEA 15-MW).

Chain per step, one named phase each (physics reference B.3; documented behaviour §4.3):

1. ``wind_input``: anemometer wind (or the seeded stochastic wind) → hub-height wind.
2. ``power_limit``: the curtailment cap from ``Dispatch.active_power_limit_pct``.
3. ``controller.supervise``: supervisory timers and operating-state changes.
4. ``substeps`` and the drivetrain integration: per sub-step the aerodynamic torque from the
   rotor table (``aero``), the generator torque and blade pitch of the baseline controller
   (``controller``), then ``drivetrain_step``. While the turbine runs, the controller's ``run``
   does these sub-steps in one loop (the same equations written out, for speed: they are the
   bulk of a turbine's cost per tick).
5. ``_output``: electrical power, converter DC quantities and the asset detail.

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

Drivetrain
    Single mass on the LSS: J·dω/dt = T_aero − T_gen (J: rotor plus generator inertia; no
    friction term: the references' rigid drivetrains have none, their losses are in η_gen).
    Explicit Euler with a fixed internal step ≤ 0.5 s (the rotor time constant J·ω²/(3P) is
    4–10 s; the stiffest loop, Jonkman's region-2½ torque line, has J/(∂T/∂ω) ≈ 1.2 s), at most
    40 sub-steps per call. Measured at the service's 1.5 s tick: one step per tick leaves the
    NREL 5-MW pitch loop in a limit cycle after a step up to 25 m/s (754 kW peak-to-peak);
    1.0 s steps are stable, and the IEA 15-MW is stable at 1.5 s. The 0.5 s sub-step serves
    both machines (``test_wind_reference``: the 1.5 s tick settles where 0.1 s steps do).
    For Δt > 20 s the turbine first jumps to its controller's steady
    operating point for the interval's wind (``controller.SteadyState``), then integrates the
    last 20 s; every timer and the stochastic wind advance by the full Δt. ω is kept in
    [0, 1.5·ω_rated] (the overspeed trip acts at 1.2·ω_rated).
    The first call warm-starts: if the first hub wind is in [cut-in, cut-out) the turbine
    starts ``running`` at that steady operating point, so a freshly started simulator produces
    power at once.

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
"""

from __future__ import annotations

import math
import random

from dersim_trio.physics.base import AcRating, DeviceOutput, Dispatch, Environment, InverterState
from dersim_trio.physics.wind.aero import RotorAero, RotorPerformance
from dersim_trio.physics.wind.controller import (
    BRAKE_TORQUE_FACTOR,
    CONNECT_SPEED_FRACTION,
    OVERSPEED_TRIP,
    Mode,
    SupervisorTimers,
    make_controller,
    rate_limited,
    supervise,
)
from dersim_trio.physics.wind.turbines import RPM_PER_RAD_S, WindNameplate

HELLMAN_EXPONENT = 1.0 / 7.0
MAX_SUBSTEP_S = 0.5
MAX_SUBSTEPS = 40
SPEED_CLAMP = 1.5
"""ω is kept in [0, 1.5·ω_rated]."""
_SQRT2 = math.sqrt(2.0)


# --------------------------------------------------------------------------- phases


def power_limit(plate: WindNameplate, dispatch: Dispatch) -> tuple[float, float]:
    """Phase 2: (electrical cap, W; shaft-power cap, W) from ``active_power_limit_pct``.

    A NaN limit means no limit; the percentage is clamped to [0, 100].
    """
    limit_pct = dispatch.active_power_limit_pct
    if not math.isfinite(limit_pct):
        limit_pct = 100.0
    limit_pct = min(max(limit_pct, 0.0), 100.0)
    p_limit_w = plate.rated_power_kw * 10.0 * limit_pct
    return p_limit_w, p_limit_w / plate.generator_efficiency


def substeps(dt_s: float) -> tuple[int, float, bool]:
    """Phase 4's plan: (number of sub-steps, sub-step length s, settle first).

    At most ``MAX_SUBSTEP_S`` per sub-step; a step longer than ``MAX_SUBSTEPS`` sub-steps jumps
    to the quasi-steady operating point first and integrates only the last 20 s.
    """
    if dt_s > MAX_SUBSTEPS * MAX_SUBSTEP_S:
        return MAX_SUBSTEPS, MAX_SUBSTEP_S, True
    if dt_s > 0.0:
        n = math.ceil(dt_s / MAX_SUBSTEP_S)
        return n, dt_s / n, False
    return 0, 0.0, False


def drivetrain_step(
    rotor_speed_rad_s: float,
    aero_torque_n_m: float,
    generator_torque_n_m: float,
    h_over_j: float,
    speed_clamp_rad_s: float,
) -> float:
    """One explicit-Euler step of J·dω/dt = T_aero − T_gen, ω kept in [0, clamp]."""
    w = rotor_speed_rad_s + h_over_j * (aero_torque_n_m - generator_torque_n_m)
    if w < 0.0:
        return 0.0
    if w > speed_clamp_rad_s:
        return speed_clamp_rad_s
    return w


class StochasticWind:
    """Phase 1's own wind source: seeded Weibull-marginal slow wind plus OU turbulence.

    See the module docstring; ``advance(dt_s)`` returns the anemometer wind after ``dt_s``.
    """

    __slots__ = (
        "_ab",
        "_dt_s",
        "_rng",
        "_scale",
        "_tau_fast_s",
        "_tau_slow_s",
        "_turbulence",
        "_y",
        "_z",
    )

    def __init__(
        self, rng: random.Random, mean_wind_speed_m_s: float, turbulence_intensity: float
    ) -> None:
        self._rng = rng
        # Weibull k = 2 marginal, scale c = mean/Γ(1.5).
        self._scale = max(mean_wind_speed_m_s, 0.0) / math.gamma(1.5)
        self._turbulence = max(turbulence_intensity, 0.0)
        self._z = rng.gauss(0.0, 1.0)
        self._y = rng.gauss(0.0, 1.0)
        self._tau_slow_s = 3.0 * 3600.0
        self._tau_fast_s = 60.0
        self._dt_s = math.nan
        self._ab = (0.0, 0.0, 0.0, 0.0)

    def advance(self, dt_s: float) -> float:
        """Advance both OU processes by ``dt_s`` and return the wind, m/s (≥ 0)."""
        gauss = self._rng.gauss
        if dt_s != self._dt_s:  # the discretisation coefficients of this step length
            self._dt_s = dt_s
            a = math.exp(-dt_s / self._tau_slow_s)
            b = math.exp(-dt_s / self._tau_fast_s)
            self._ab = (a, math.sqrt(1.0 - a * a), b, math.sqrt(1.0 - b * b))
        a, sa, b, sb = self._ab
        self._z = a * self._z + sa * gauss(0.0, 1.0)
        self._y = b * self._y + sb * gauss(0.0, 1.0)
        z = self._z
        if z < -6.0:
            z = -6.0
        elif z > 6.0:
            z = 6.0
        survival = 0.5 * math.erfc(z / _SQRT2)
        slow = self._scale * math.sqrt(-math.log(survival))
        wind = slow * (1.0 + self._turbulence * self._y)
        return 0.0 if wind < 0.0 else wind


class WindModel:
    """A wind turbine (Type III or IV) as a sans-IO ``DeviceModel``.

    ``WindModel(nameplate, rotor, seed, anemometer_height_m)``: ``rotor`` is the machine's
    rotor performance table (``setup.rotor_tables.rotor_performance(nameplate.rotor_table)``).

    ``asset`` keys: ``wind_speed_m_s`` (anemometer), ``hub_wind_speed_m_s``,
    ``rotor_speed_rpm``, ``generator_speed_rpm``, ``pitch_deg``, ``tip_speed_ratio``,
    ``power_coefficient``, ``aerodynamic_power_kw`` (½ρAC_pv³), ``generator_torque_knm``
    (electromagnetic torque on the generator shaft, i.e. the high-speed shaft for the geared
    Type III), ``operating_region`` (``parked``, ``1``,
    ``1.5``, ``2``, ``2.5``, ``3``; the controller's region), ``turbine_state`` (``standby``,
    ``starting``, ``running``, ``shutting_down``), and for Type III ``slip`` and
    ``rotor_power_kw`` (slip power through the rotor-side converter).
    """

    asset_type: str = "wind"
    dc_mode: str = "wind"
    dc_port_count: int = 1

    def __init__(
        self,
        nameplate: WindNameplate,
        rotor: RotorPerformance,
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
        self._wind = StochasticWind(random.Random(seed), mean_wind_speed_m_s, turbulence_intensity)
        self._shear = (plate.hub_height_m / max(anemometer_height_m, 0.1)) ** HELLMAN_EXPONENT
        self.aero = RotorAero(rotor, plate.rotor_radius_m)
        self._controller = make_controller(plate, self.aero)
        self._j = plate.drivetrain_inertia_kg_m2
        self._w_rated = plate.rated_rotor_speed_rad_s
        self._t_brake = BRAKE_TORQUE_FACTOR * plate.rated_mechanical_power_w / self._w_rated
        self._w_trip = OVERSPEED_TRIP * self._w_rated
        self._w_clamp = SPEED_CLAMP * self._w_rated

        self._mode: Mode = "standby"
        self._initialised = False
        self._rotor_speed_rad_s = 0.0
        self._pitch_deg = 90.0
        self._torque_n_m = 0.0
        self._timers = SupervisorTimers()
        self._message: str | None = None
        self._limit_pct = math.nan
        self._limits = (0.0, 0.0)
        self._plan_dt = math.nan
        self._plan = (0, 0.0, False)

    # ------------------------------------------------------------------ phase 1
    def wind_input(self, env: Environment, dt_s: float) -> tuple[float, float]:
        """Phase 1: (anemometer wind, hub-height wind), m/s; the own wind advances by ``dt_s``."""
        wind_in = env.wind_speed_m_s
        if wind_in is None:
            wind = self._wind.advance(dt_s)
        else:
            wind = wind_in if math.isfinite(wind_in) and wind_in > 0.0 else 0.0
        return wind, wind * self._shear

    # ------------------------------------------------------------------ warm start
    def _settle(self, hub_wind: float, p_limit_mech: float) -> None:
        """Jump to the controller's steady operating point for this wind (warm start, long
        steps); a stopped turbine parks."""
        if self._mode in ("standby", "shutting_down"):
            self._mode = "standby"
            self._rotor_speed_rad_s = 0.0
            self._pitch_deg = 90.0
            self._torque_n_m = 0.0
            return
        steady = self._controller.steady_state(hub_wind, p_limit_mech)
        self._mode = "running"
        self._rotor_speed_rad_s = steady.rotor_speed_rad_s
        self._pitch_deg = steady.pitch_deg
        self._torque_n_m = steady.torque_n_m
        self._controller.preload(
            steady.rotor_speed_rad_s, steady.pitch_deg, steady.torque_n_m, hub_wind
        )

    # ------------------------------------------------------------------ the step
    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance by ``dt_s`` seconds (any value ≥ 0) and return the new output."""
        plate = self.nameplate
        dt = dt_s if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        wind, v = self.wind_input(env, dt)
        limit_pct = dispatch.active_power_limit_pct
        if limit_pct != self._limit_pct:  # phases 2 and 4's plan change only with their input
            self._limit_pct = limit_pct
            self._limits = power_limit(plate, dispatch)
        p_limit_w, p_limit_mech = self._limits

        if not self._initialised:
            self._initialised = True
            if plate.cut_in_wind_m_s <= v < plate.cut_out_wind_m_s:
                self._mode = "running"
                self._settle(v, p_limit_mech)
        self._mode, self._timers, self._message = supervise(
            plate, self._mode, self._timers, self._message, v, dt
        )

        if dt != self._plan_dt:
            self._plan_dt = dt
            self._plan = substeps(dt)
        n, h, settle_first = self._plan
        if settle_first:
            if self._mode == "starting":
                self._mode = "running"
            self._settle(v, p_limit_mech)
        self._integrate(v, p_limit_mech, n, h)
        return self._output(wind, v, p_limit_w, env)

    # ------------------------------------------------------------------ phase 4
    def _integrate(self, v: float, p_limit_mech: float, n: int, h: float) -> None:
        """Phase 4: ``n`` sub-steps of ``h`` seconds of aerodynamics, control and drivetrain."""
        w = self._rotor_speed_rad_s
        pitch = self._pitch_deg
        t_gen = self._torque_n_m
        mode = self._mode
        aero = self.aero
        controller = self._controller
        h_over_j = h / self._j
        w_clamp = self._w_clamp
        dpitch_max = self.nameplate.max_pitch_rate_deg_s * h
        start_pitch = 0.0
        w_connect = 0.0
        if mode == "starting":
            # Start-up: pitch (rate-limited) to the steady pitch for this wind; connect near
            # the steady rotor speed.
            steady = controller.steady_state(v, p_limit_mech)
            start_pitch = steady.pitch_deg
            w_connect = CONNECT_SPEED_FRACTION * steady.rotor_speed_rad_s
        k = 0
        while k < n:
            if mode == "running":
                # The controller runs the sub-steps itself, up to an overspeed trip.
                w, pitch, done = controller.run(
                    aero, w, pitch, v, p_limit_mech, n - k, h, h_over_j, w_clamp, self._w_trip
                )
                t_gen = controller.torque_n_m
                k += done
                if w > self._w_trip:
                    mode = "shutting_down"
                    self._message = "rotor overspeed trip"
                continue
            k += 1
            t_aero = aero.torque_n_m(w, pitch, v)
            if mode == "starting":
                t_gen = 0.0
                pitch = rate_limited(start_pitch, pitch, dpitch_max)
            else:
                t_gen = self._t_brake if w > 0.0 else 0.0
                pitch = rate_limited(90.0, pitch, dpitch_max)
            w = drivetrain_step(w, t_aero, t_gen, h_over_j, w_clamp)

            if mode == "starting":
                if w >= w_connect:
                    # Connect: the controller takes over at this point, torque ramping from 0.
                    mode = "running"
                    controller.preload(w, pitch, 0.0, v)
            elif mode == "shutting_down" and w <= 0.0 and pitch >= 90.0:
                mode = "standby"

        self._rotor_speed_rad_s = w
        self._pitch_deg = pitch
        self._torque_n_m = t_gen
        self._mode = mode

    # ------------------------------------------------------------------ phase 5
    def _output(self, wind: float, v: float, p_limit_w: float, env: Environment) -> DeviceOutput:
        """Phase 5: electrical power, converter DC quantities and the asset detail."""
        plate = self.nameplate
        w = self._rotor_speed_rad_s
        pitch = self._pitch_deg
        mode = self._mode
        aero = self.aero
        lam = aero.tip_speed_ratio(w, v)
        cp = aero.power_coefficient(lam, pitch)
        aero_kw = aero.area_half_rho_m2 * cp * v * v * v / 1000.0
        running = mode == "running"
        t_gen = self._torque_n_m if mode != "standby" and w > 0.0 else 0.0
        p_w = plate.generator_efficiency * t_gen * w if running else 0.0
        p_w = min(max(p_w, 0.0), p_limit_w)
        p_kw = p_w / 1000.0
        throttled = running and self._controller.throttled
        state: InverterState = ("throttled" if throttled else "running") if running else mode
        region = self._controller.region if running else "parked" if w <= 0.0 else "1"
        v_dc = plate.dc_link_voltage_v
        asset: dict[str, float | str] = {
            "wind_speed_m_s": wind,
            "hub_wind_speed_m_s": v,
            "rotor_speed_rpm": w * RPM_PER_RAD_S,
            "generator_speed_rpm": w * RPM_PER_RAD_S * plate.gearbox_ratio,
            "pitch_deg": pitch,
            "tip_speed_ratio": lam,
            "power_coefficient": cp,
            "aerodynamic_power_kw": aero_kw,
            "generator_torque_knm": t_gen / plate.gearbox_ratio / 1000.0,
            "operating_region": region,
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
