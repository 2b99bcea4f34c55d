"""Rotor aerodynamics: the power coefficient C_p(λ, β), aerodynamic power and torque.

Heier / Slootweg analytic fit (physics reference B.3)
    1/λ_i = 1/(λ + 0.08β) − 0.035/(β³ + 1)
    C_p,H(λ, β) = 0.5176·(116/λ_i − 0.4β − 5)·e^(−21/λ_i) + 0.0068·λ
    Its maximum is C_p,H* = 0.480 at λ_H* = 8.1, β = 0. Calibration to a machine with peak
    C_p,max at tip-speed ratio λ* is by scaling both axes:
        C_p(λ, β) = (C_p,max / C_p,H*)·C_p,H(λ·λ_H*/λ*, β), clipped to [0, 16/27 (Betz)].
    (Clipping at 0 means a feathered rotor produces no torque instead of the fit's large
    negative values.) Below λ·λ_H*/λ* = 2 the fit is not used (its λ + 0.08β term gives a
    pitched rotor an unbounded torque coefficient C_p/λ at standstill): there C_p is taken
    linear in λ through its value at that point, so the standstill torque is finite.

Power and torque
    λ = ωR/v; P_aero = ½ρAC_p v³ with ρ = 1.225 kg/m³ (15 °C, sea level), A = πR²;
    T_aero = P_aero/ω = ½ρπR³v²·C_p/λ.

Sources: S. Heier, "Grid Integration of Wind Energy Conversion Systems", Wiley 1998, and
J.G. Slootweg et al., IEEE Trans. Power Syst. 18(1), 2003.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dersim_trio.physics.wind.turbines import WindNameplate

AIR_DENSITY_KG_M3 = 1.225
"""ρ at 15 °C, sea level."""
BETZ_LIMIT = 16.0 / 27.0
HEIER_CP_MAX = 0.480
HEIER_OPTIMAL_TSR = 8.1
"""The Heier fit peaks at C_p = 0.4800 at λ = 8.1, β = 0 (computed; physics reference B.3)."""
HEIER_MIN_TSR = 2.0
"""Below this (Heier-axis) λ the fit is replaced by C_p ∝ λ (finite standstill torque)."""


def heier_cp(tip_speed_ratio: float, pitch_deg: float) -> float:
    """Raw Heier/Slootweg power coefficient C_p,H(λ, β) (may be negative; see module docstring)."""
    lam = max(tip_speed_ratio, 1e-3)
    beta = max(pitch_deg, 0.0)
    inv = 1.0 / (lam + 0.08 * beta) - 0.035 / (beta * beta * beta + 1.0)
    return 0.5176 * (116.0 * inv - 0.4 * beta - 5.0) * math.exp(-21.0 * inv) + 0.0068 * lam


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


class RotorAero:
    """The calibrated C_p of one machine prepared for the drivetrain's inner loop.

    ``torque_n_m(ω, β, v)`` is T_aero = ½ρπR³v²·C_p(λ, β)/λ with the constants of the
    calibration computed once (the loop calls it several times per tick).
    """

    __slots__ = ("_cp_scale", "_lam_floor", "_radius", "_torque_coef", "_tsr_scale")

    def __init__(self, nameplate: WindNameplate) -> None:
        r = nameplate.rotor_radius_m
        self._radius = r
        self._torque_coef = 0.5 * AIR_DENSITY_KG_M3 * math.pi * r**3
        self._cp_scale = nameplate.cp_max / HEIER_CP_MAX
        self._tsr_scale = HEIER_OPTIMAL_TSR / nameplate.optimal_tsr
        self._lam_floor = HEIER_MIN_TSR / self._tsr_scale

    def torque_n_m(self, rotor_speed_rad_s: float, pitch_deg: float, hub_wind_m_s: float) -> float:
        """Aerodynamic torque on the low-speed shaft, N·m (0 in calm air)."""
        v = hub_wind_m_s
        if v <= 0.01:
            return 0.0
        lam = rotor_speed_rad_s * self._radius / v
        if lam < self._lam_floor:
            lam = self._lam_floor
        lp = lam * self._tsr_scale
        inv = 1.0 / (lp + 0.08 * pitch_deg) - 0.035 / (pitch_deg * pitch_deg * pitch_deg + 1.0)
        cp = self._cp_scale * (
            0.5176 * (116.0 * inv - 0.4 * pitch_deg - 5.0) * math.exp(-21.0 * inv) + 0.0068 * lp
        )
        if cp < 0.0:
            cp = 0.0
        elif cp > BETZ_LIMIT:
            cp = BETZ_LIMIT
        return self._torque_coef * v * v * cp / lam


def pitch_for_power_deg(
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


def rated_pitch_deg(nameplate: WindNameplate, hub_wind_m_s: float) -> float:
    """Pitch that holds rated shaft power at rated speed in this wind (0 below rated wind)."""
    return pitch_for_power_deg(
        nameplate,
        hub_wind_m_s,
        nameplate.rated_rotor_speed_rad_s,
        nameplate.rated_mechanical_power_w,
    )


def rated_wind_at_pitch(nameplate: WindNameplate, pitch_deg: float) -> float:
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


def pitch_sensitivity_w_per_rad(nameplate: WindNameplate, pitch_deg: float) -> float:
    """∂P_aero/∂θ at rated speed and the wind that gives rated power at this pitch, W/rad."""
    wind = rated_wind_at_pitch(nameplate, pitch_deg)
    omega = nameplate.rated_rotor_speed_rad_s
    d_deg = 0.05
    lo = max(pitch_deg - d_deg, 0.0)
    hi = pitch_deg + d_deg
    dp = aerodynamic_power_w(nameplate, wind, omega, hi) - aerodynamic_power_w(
        nameplate, wind, omega, lo
    )
    return dp / math.radians(hi - lo)
