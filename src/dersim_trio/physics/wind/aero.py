"""Rotor aerodynamics from a published rotor performance table: C_p(λ, β), power, torque.

Tables
    ``RotorPerformance`` holds a machine's power coefficient C_p(λ, β) on a grid of tip-speed
    ratios λ (rows) and blade-pitch angles β (columns, degrees), as the ROSCO toolbox writes them
    (``Cp_Ct_Cq.*.txt``; the bundled files and their sources are in ``data/wind/ATTRIBUTION.md``,
    read by ``setup/rotor_tables.py``: this module does no I/O).

Interpolation (``RotorAero``)
    * Inside the grid: bilinear in (λ, β).
    * λ above the grid (a turbine held at its minimum rotor speed in light wind: the IEA 15-MW
      runs at λ ≈ 21 in 3 m/s): each pitch column is extended by the quadratic through its last
      three points (Newton form), with its slope and curvature capped at 0 so that C_p never
      rises past the grid. Measured against the IEA-15-240-RWT CCBlade performance table
      (``performance/performance_ccblade.dat``) at the turbine's minimum rotor speed and the
      pitch this model schedules there: C_p 0.325 against 0.340 at λ 15.6 (4.07 m/s), 0.235
      against 0.244 at λ 17.8 (3.55 m/s), 0.046 against 0.055 at λ 21.1 (3 m/s). Beyond
      2·λ_max, C_q keeps its value at 2·λ_max.
    * λ below the grid (start-up from standstill): the torque coefficient C_q = C_p/λ is held at
      its value on the first row, so the standstill torque is finite and C_p → 0 with λ.
    * β below the grid: the first column. β above the grid (30° for both tables) up to the
      feathered 90°: C_q fades linearly to 0 at 90° (an assumption: a feathered rotor makes no
      torque; the tables say nothing there). The controllers never command pitch below 0°.

Power and torque
    λ = ωR/v; P_aero = ½ρπR²·C_p·v³ with ρ = 1.225 kg/m³ (15 °C, sea level; the tables'
    density); T_aero = P_aero/ω = ½ρπR³v²·C_q, C_q = C_p/λ.
    The tables are the rotor's own aerodynamic coefficients: C_p can be negative (a rotor driven
    above its runaway speed brakes) and is never above the Betz limit 16/27 in these tables.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

AIR_DENSITY_KG_M3 = 1.225
"""ρ at 15 °C, sea level (the density the bundled tables were computed for)."""
BETZ_LIMIT = 16.0 / 27.0
FEATHERED_PITCH_DEG = 90.0


@dataclass(frozen=True, slots=True)
class RotorPerformance:
    """A rotor's power coefficient C_p over tip-speed ratio (rows) and blade pitch (columns)."""

    name: str
    """What the table describes (its source file)."""
    pitch_deg: tuple[float, ...]
    """Blade-pitch grid, degrees, strictly increasing."""
    tip_speed_ratio: tuple[float, ...]
    """Tip-speed-ratio grid, strictly increasing, at least three points."""
    power: tuple[tuple[float, ...], ...]
    """C_p[i][j] at ``tip_speed_ratio[i]``, ``pitch_deg[j]``."""

    def __post_init__(self) -> None:
        """Check the grid: increasing axes, matching shapes, finite values."""
        for axis, label in ((self.pitch_deg, "pitch"), (self.tip_speed_ratio, "tip-speed")):
            if len(axis) < 3 or any(b <= a for a, b in itertools.pairwise(axis)):
                raise ValueError(f"{self.name}: the {label} axis must have ≥ 3 increasing values")
        if self.tip_speed_ratio[0] <= 0.0:
            raise ValueError(f"{self.name}: tip-speed ratios must be positive")
        table = self.power
        if len(table) != len(self.tip_speed_ratio) or any(
            len(row) != len(self.pitch_deg) for row in table
        ):
            raise ValueError(f"{self.name}: the power table does not match the axes")
        if not all(math.isfinite(x) for row in table for x in row):
            raise ValueError(f"{self.name}: the power table has a non-finite value")

    def peak(self) -> tuple[float, float, float]:
        """(C_p,max, λ, β) at the largest tabulated C_p."""
        return max(
            (cp, self.tip_speed_ratio[i], self.pitch_deg[j])
            for i, row in enumerate(self.power)
            for j, cp in enumerate(row)
        )


def _uniform_step(axis: tuple[float, ...]) -> float:
    """The axis' constant spacing, or 0 when it is not evenly spaced."""
    step = (axis[-1] - axis[0]) / (len(axis) - 1)
    if all(abs(b - a - step) <= 1e-9 * max(1.0, abs(step)) for a, b in itertools.pairwise(axis)):
        return step
    return 0.0


def _bracket(axis: tuple[float, ...], x: float) -> tuple[int, float]:
    """Index i and weight t with x = (1 − t)·axis[i] + t·axis[i + 1], x inside the axis."""
    i = bisect.bisect_right(axis, x) - 1
    if i < 0:
        return 0, 0.0
    if i >= len(axis) - 1:
        return len(axis) - 2, 1.0
    return i, (x - axis[i]) / (axis[i + 1] - axis[i])


class RotorAero:
    """A ``RotorPerformance`` prepared for the drivetrain's inner loop (module docstring)."""

    __slots__ = (
        "_beta",
        "_beta_hi",
        "_beta_lo",
        "_beta_step",
        "_cp",
        "_cp_flat",
        "_d1",
        "_d2",
        "_lam",
        "_lam_ext",
        "_lam_hi",
        "_lam_hi_1",
        "_lam_lo",
        "_lam_step",
        "_n_beta",
        "_n_lam",
        "_radius",
        "_torque_half_rho",
        "area_half_rho_m2",
        "inner_grid",
        "performance",
    )

    def __init__(self, performance: RotorPerformance, rotor_radius_m: float) -> None:
        self.performance = performance
        self._radius = rotor_radius_m
        self.area_half_rho_m2 = 0.5 * AIR_DENSITY_KG_M3 * math.pi * rotor_radius_m**2
        """½ρπR², kg/m (times C_p·v³ gives the aerodynamic power)."""
        self._torque_half_rho = self.area_half_rho_m2 * rotor_radius_m
        self._lam = performance.tip_speed_ratio
        self._beta = performance.pitch_deg
        self._cp = performance.power
        self._lam_lo = self._lam[0]
        self._lam_hi = self._lam[-1]
        self._lam_hi_1 = self._lam[-2]
        self._lam_ext = 2.0 * self._lam_hi
        self._beta_lo = self._beta[0]
        self._beta_hi = self._beta[-1]
        self._n_lam = len(self._lam)
        self._n_beta = len(self._beta)
        self._cp_flat = tuple(x for row in self._cp for x in row)
        self._lam_step = _uniform_step(self._lam)
        self._beta_step = _uniform_step(self._beta)
        # Newton coefficients of each column's quadratic through its last three points.
        l0, l1, l2 = self._lam[-3], self._lam[-2], self._lam[-1]
        rows = self._cp
        d1 = []
        d2 = []
        for j in range(len(self._beta)):
            c0, c1, c2 = rows[-3][j], rows[-2][j], rows[-1][j]
            slope_hi = (c2 - c1) / (l2 - l1)
            slope_lo = (c1 - c0) / (l1 - l0)
            # Never rising or bending upward past the grid (the most negative pitch columns
            # would otherwise climb above the table's maximum at large λ).
            d1.append(min(slope_hi, 0.0))
            d2.append(min((slope_hi - slope_lo) / (l2 - l0), 0.0))
        self._d1 = tuple(d1)
        self._d2 = tuple(d2)
        uniform = self._lam_step > 0.0 and self._beta_step > 0.0
        self.inner_grid = (
            rotor_radius_m,
            self._lam_lo,
            self._lam_hi,
            self._lam_ext,
            self._lam_step,
            self._n_lam,
            self._beta_lo,
            self._beta_hi if uniform else -math.inf,
            self._beta_step,
            self._n_beta,
            self._cp_flat,
            self._torque_half_rho,
            self._lam_hi_1,
            self._d1,
            self._d2,
        )
        """For the controllers' inner loops, which write ``torque_n_m``'s common cases out:
        (R, λ_min, λ_max, 2·λ_max, Δλ, rows, β_min, β_max, Δβ, columns, C_p flat row-major,
        ½ρπR³, the λ before λ_max, the extension's Newton coefficients d1 and d2); β_max is −∞
        when an axis is not evenly spaced, so that that case always calls ``torque_n_m``."""

    # ------------------------------------------------------------------ coefficients
    def _cp_column_point(self, lam: float, j: int) -> float:
        """C_p at λ (inside or above the grid) and the pitch column j."""
        if lam <= self._lam_hi:
            i, t = _bracket(self._lam, lam)
            return self._cp[i][j] + t * (self._cp[i + 1][j] - self._cp[i][j])
        dl = lam - self._lam_hi
        return self._cp[-1][j] + dl * (self._d1[j] + self._d2[j] * (lam - self._lam_hi_1))

    def _cp_grid(self, lam: float, pitch_deg: float) -> float:
        """C_p for λ in [λ_min, 2·λ_max]: bilinear, quadratic above the grid, faded past β_max.

        Written out in one function (index arithmetic on uniform axes, no helper calls): the
        drivetrain calls it several times per tick for every turbine.
        """
        beta = pitch_deg
        fade = 1.0
        if beta > self._beta_hi:
            fade = max(0.0, FEATHERED_PITCH_DEG - beta) / (FEATHERED_PITCH_DEG - self._beta_hi)
            beta = self._beta_hi
        elif beta < self._beta_lo:
            beta = self._beta_lo
        nb = self._n_beta
        if self._beta_step > 0.0:
            x = (beta - self._beta_lo) / self._beta_step
            j = int(x)
            if j > nb - 2:
                j = nb - 2
            u = x - j
        else:
            j, u = _bracket(self._beta, beta)
        c = self._cp_flat
        if lam <= self._lam_hi:
            if self._lam_step > 0.0:
                x = (lam - self._lam_lo) / self._lam_step
                i = int(x)
                if i > self._n_lam - 2:
                    i = self._n_lam - 2
                t = x - i
            else:
                i, t = _bracket(self._lam, lam)
            k = i * nb + j
            a = c[k] + t * (c[k + nb] - c[k])
            b = c[k + 1] + t * (c[k + nb + 1] - c[k + 1])
        else:
            dl = lam - self._lam_hi
            q = lam - self._lam_hi_1
            k = (self._n_lam - 1) * nb + j
            d1 = self._d1
            d2 = self._d2
            a = c[k] + dl * (d1[j] + d2[j] * q)
            b = c[k + 1] + dl * (d1[j + 1] + d2[j + 1] * q)
        return (a + u * (b - a)) * fade

    def torque_coefficient(self, tip_speed_ratio: float, pitch_deg: float) -> float:
        """C_q(λ, β) = C_p/λ, held at its value at the nearest end of [λ_min, 2·λ_max] outside
        it (finite at λ = 0)."""
        lam = tip_speed_ratio
        if lam < self._lam_lo:
            lam = self._lam_lo
        elif lam > self._lam_ext:
            lam = self._lam_ext
        return self._cp_grid(lam, pitch_deg) / lam

    def power_coefficient(self, tip_speed_ratio: float, pitch_deg: float) -> float:
        """C_p(λ, β) = C_q·λ by the rules of the module docstring (0 for λ ≤ 0)."""
        if not tip_speed_ratio > 0.0:
            return 0.0
        lam = tip_speed_ratio  # torque_coefficient's clamp, without its call
        if lam < self._lam_lo:
            lam = self._lam_lo
        elif lam > self._lam_ext:
            lam = self._lam_ext
        return self._cp_grid(lam, pitch_deg) / lam * tip_speed_ratio

    # ------------------------------------------------------------------ physical quantities
    def tip_speed_ratio(self, rotor_speed_rad_s: float, hub_wind_m_s: float) -> float:
        """λ = ωR/v (0 in calm air)."""
        return rotor_speed_rad_s * self._radius / hub_wind_m_s if hub_wind_m_s > 0.01 else 0.0

    def torque_n_m(self, rotor_speed_rad_s: float, pitch_deg: float, hub_wind_m_s: float) -> float:
        """Aerodynamic torque on the low-speed shaft, ½ρπR³v²·C_q, N·m (0 in calm air).

        The drivetrain's inner loop calls this for every sub-step of every turbine, so the
        interpolation of ``_cp_grid`` is written out here once more (the same arithmetic in the
        same order: the results are bitwise those of ``_cp_grid``).
        """
        v = hub_wind_m_s
        if v <= 0.01:
            return 0.0
        lam = rotor_speed_rad_s * self._radius / v
        if lam < self._lam_lo:
            lam = self._lam_lo
        elif lam > self._lam_ext:
            lam = self._lam_ext
        beta = pitch_deg
        fade = 1.0
        beta_hi = self._beta_hi
        if beta > beta_hi:
            fade = max(0.0, FEATHERED_PITCH_DEG - beta) / (FEATHERED_PITCH_DEG - beta_hi)
            beta = beta_hi
        elif beta < self._beta_lo:
            beta = self._beta_lo
        nb = self._n_beta
        step = self._beta_step
        if step > 0.0:
            x = (beta - self._beta_lo) / step
            j = int(x)
            if j > nb - 2:
                j = nb - 2
            u = x - j
        else:
            j, u = _bracket(self._beta, beta)
        c = self._cp_flat
        lam_hi = self._lam_hi
        if lam <= lam_hi:
            step = self._lam_step
            if step > 0.0:
                x = (lam - self._lam_lo) / step
                i = int(x)
                if i > self._n_lam - 2:
                    i = self._n_lam - 2
                t = x - i
            else:
                i, t = _bracket(self._lam, lam)
            k = i * nb + j
            a = c[k] + t * (c[k + nb] - c[k])
            b = c[k + 1] + t * (c[k + nb + 1] - c[k + 1])
        else:
            dl = lam - lam_hi
            q = lam - self._lam_hi_1
            k = (self._n_lam - 1) * nb + j
            d1 = self._d1
            d2 = self._d2
            a = c[k] + dl * (d1[j] + d2[j] * q)
            b = c[k + 1] + dl * (d1[j + 1] + d2[j + 1] * q)
        return self._torque_half_rho * v * v * ((a + u * (b - a)) * fade) / lam

    def power_w(self, rotor_speed_rad_s: float, pitch_deg: float, hub_wind_m_s: float) -> float:
        """Aerodynamic power ½ρπR²·C_p·v³, W (0 in calm air)."""
        v = hub_wind_m_s
        if v <= 0.01:
            return 0.0
        lam = rotor_speed_rad_s * self._radius / v
        return self.area_half_rho_m2 * v * v * v * self.power_coefficient(lam, pitch_deg)

    # ------------------------------------------------------------------ design helpers
    def best_pitch_deg(self, tip_speed_ratio: float, min_pitch_deg: float = 0.0) -> float:
        """The pitch ≥ ``min_pitch_deg`` that maximises C_p at this λ: the best grid column,
        refined by the vertex of the parabola through it and its neighbours."""
        beta = self._beta
        values = [self._cp_grid_at_column(tip_speed_ratio, j) for j in range(len(beta))]
        candidates = [j for j in range(len(beta)) if beta[j] >= min_pitch_deg]
        if not candidates:
            return min_pitch_deg
        j = max(candidates, key=values.__getitem__)
        best = beta[j]
        if 0 < j < len(beta) - 1:
            c0, c1, c2 = values[j - 1], values[j], values[j + 1]
            curvature = c0 - 2.0 * c1 + c2
            if curvature < 0.0:
                step = beta[j + 1] - beta[j]
                best = beta[j] + 0.5 * step * (c0 - c2) / curvature
        if best < min_pitch_deg or values[candidates[0]] >= values[j]:
            best = max(best, min_pitch_deg)
        return best

    def _cp_grid_at_column(self, tip_speed_ratio: float, j: int) -> float:
        lam = min(max(tip_speed_ratio, self._lam_lo), self._lam_ext)
        return self._cp_column_point(lam, j)

    def pitch_for_torque_deg(
        self, rotor_speed_rad_s: float, hub_wind_m_s: float, torque_n_m: float, min_pitch_deg: float
    ) -> float:
        """The pitch above ``min_pitch_deg`` at which the aerodynamic torque falls to
        ``torque_n_m`` (bisection; C_p falls with pitch above the power-optimal pitch);
        ``min_pitch_deg`` when the rotor cannot reach that torque."""
        if self.torque_n_m(rotor_speed_rad_s, min_pitch_deg, hub_wind_m_s) <= torque_n_m:
            return min_pitch_deg
        lo, hi = min_pitch_deg, FEATHERED_PITCH_DEG
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if self.torque_n_m(rotor_speed_rad_s, mid, hub_wind_m_s) > torque_n_m:
                lo = mid
            else:
                hi = mid
        return hi
