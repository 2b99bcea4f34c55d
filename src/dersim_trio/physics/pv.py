"""PV array + string inverter: irradiance → cell temperature → DC (MPPT) → AC.

Chain per step (physics reference B.1; units W/m², °C, kW, V, A; SunSpec 701 signs: AC power
> 0 is injection, DC power > 0 flows from the array into the inverter):

1. **Irradiance** (``solar.py``, pvlib). The array has a tilt and an azimuth (nameplate
   ``tilt_deg``, default 20°, and ``azimuth_deg``, default facing the equator) and sits on a
   ``SolarSite`` shared by the devices of a site. Its plane-of-array global irradiance POA
   (for the cell temperature) and its effective irradiance E (after the incidence-angle loss on
   the beam, for the DC power and voltage) come from:
   * no ``Environment.irradiance_w_m2``: the Ineichen clear sky transposed to the plane
     (Perez), times the seeded cloud index k (clouds attenuate beam and diffuse alike, a
     simplification of this model's own seeded sky);
   * ``irradiance_w_m2`` with ``irradiance_is_poa`` False (the default): a global horizontal
     irradiance, split with Erbs and transposed;
   * ``irradiance_is_poa`` True: the plane-of-array irradiance itself, used as POA and as E.
2. **Ambient temperature.** ``Environment.ambient_temperature_c`` when given, else a diurnal
   model in solar time: T_air = 20 + 6·cos(ω − 45°) °C (ω = hour angle), i.e. 14 °C at 03:00
   and 26 °C at 15:00 solar time (mean and amplitude are nameplate site fields).
3. **Cell temperature.** SAPM (King et al. 2004, ``pvlib.temperature.sapm_cell`` written out
   for one device, as PVWatts does on the plane-of-array global irradiance POA):
   T_module = POA·exp(a + b·WS) + T_air, T_cell = T_module + (POA/1000)·ΔT, with the open-rack
   glass/polymer parameters (a, b, ΔT) = (−3.56, −0.075, 3) and WS from
   ``Environment.wind_speed_m_s`` (default 1 m/s). SAPM is a steady-state model; the cell
   temperature follows it through a first-order thermal lag (τ = 300 s by default, exact
   exponential update, so any Δt is stable; the first step starts at steady state; τ = 0
   disables the lag). The lag gives the documented "cell temperature rises with sustained
   operation" behaviour; τ of a few minutes is an assumption (typical module time constants
   are 5-10 min, cf. ``pvlib.temperature.prilliman``).
4. **DC power at the MPP** (PVWatts v5, port of ``pvlib.pvsystem.pvwatts_dc``, Dobos 2014):
   P_mp = (E/1000)·P_dc0·(1 + γ(T_cell − 25))·(1 − L), floored at 0, with P_dc0 the array STC
   rating (SunSpec ``714.Prt[0].DCW``), γ = −0.37 %/°C (the PVWatts "Standard" c-Si module
   type of PVWatts versions 6-8, from memory; PVWatts v5 used −0.47 %/°C; pvlib gives −0.2 to
   −0.5 %/°C as typical) and the system losses L = 14 % (PVWatts default, one factor).
5. **DC voltage.** MPP voltage from a Sandia-style (King et al. 2004) model:
   V_mp = V_mp,STC·(1 + β_V(T_cell − 25)) + N_s·δ(T_cell)·ln(E/1000), with β_V = −0.3 %/°C,
   δ(T) = n·k_B·(T + 273.15)/q the thermal voltage times the diode factor n = 1.1, and N_s the
   number of cells in series per string. V_oc = V_mp / (V_mp,STC / V_oc,STC): the I-V shape
   is kept at its STC proportions.
6. **I-V curve** (for off-MPP operation and ``iv_curve``): the simplified exponential model
   used by EN 50530 (form from memory, not re-checked against the standard's text):
   I(V) = I_sc·(1 − C1·(exp(V/(C2·V_oc)) − 1)), C2 = (v − 1)/ln(1 − i),
   C1 = (1 − i)·exp(−v/C2), with v = V_mp/V_oc and i = I_mp/I_sc. Here i is chosen (solved once
   from v) so that the curve's power maximum lies exactly at V_mp, and I_sc is scaled so that
   V_mp·I_mp equals the PVWatts P_mp: both models agree at the MPP.
7. **MPPT window.** The operating voltage is clamped to [V_mppt,min, V_mppt,max]. When V_mp lies
   outside the window the inverter works at the window edge and the power is read off the I-V
   curve there (a derate, not a shutdown); if that power is below the start threshold it
   sleeps. V_oc above ``v_dc_max_v`` is not modelled as a trip (reported only via the asset
   ``dc_open_circuit_voltage_v``).
8. **Inverter** (PVWatts, port of ``pvlib.inverter.pvwatts``):
   ζ = P_dc/P_dc0,inv with P_dc0,inv = P_ac0/η_nom,
   η = (η_nom/η_ref)·(−0.0162ζ − 0.0059/ζ + 0.9858), η_nom = 0.96, η_ref = 0.9637,
   P_ac = min(η·P_dc, WMax, WMaxLimPct·WMax/100), floored at 0. Reference efficiencies:
   86.4 % at 5 % load, 92.2 % at 10 %, 94.9 % at 20 %, 96.2 % at 50 %, 96.0 % at 100 %;
   CEC-weighted ≈ 95.9 %.
9. **Off-MPP operation.** When the AC output is limited (clipping at WMax or curtailment by
   ``active_power_limit_pct``), the inverter draws only the DC power that yields that AC power:
   η·P_dc = k·P_dc0,inv·(−0.0162ζ² + 0.9858ζ − 0.0059) is a quadratic in ζ and is inverted in
   closed form. The operating point moves along the I-V curve to the voltage where V·I(V) equals
   that DC power, on the high-voltage side of the MPP (as string inverters do) unless the
   window forbids it; found with a few Newton steps (the P-V curve is concave, so Newton from
   the open-circuit end converges monotonically).

States (SunSpec 701 InvSt): ``sleeping`` when the DC power available inside the MPPT window is
below the start threshold (Sandia-Pso-like, 0.07 kW = 0.7 % of the 10 kW rating, just above the
0.6 % load where the PVWatts curve reaches 0); AC = DC = 0, the DC voltage is the open-circuit
voltage (0 at night, irradiance 0). ``throttled`` when ``active_power_limit_pct`` cuts the output
below what is available; otherwise ``running`` (clipping at WMax stays ``running`` with asset
``clipped: True``, SunSpec 701 DERMode PV_CLIPPED). Reactive power is 0 (unity PF).

Default sizing: a 10 kW / 10.93 kVA three-phase inverter (VA = √(W² + Var²), so the
0.44 pu reactive capability of IEEE 1547 Category B is deliverable at full active power),
14 kW DC (DC/AC 1.4: clear-sky noons clip), the array tilted 20° toward the equator.

Reference: pvlib's PVWatts model chain (``ModelChain.with_pvwatts``) with the same array,
``tests/physics/test_pv_reference.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dersim_trio.physics.ac import AcType
from dersim_trio.physics.base import (
    AcRating,
    ArrayFleet,
    DeviceOutput,
    Dispatch,
    Environment,
    InverterState,
)
from dersim_trio.physics.clouds import CloudArray, FloatArray, Rows
from dersim_trio.physics.solar import (
    DEFAULT_LATITUDE_DEG,
    Geometry,
    PlaneOfArray,
    SolarSite,
    equator_facing_azimuth_deg,
)

_BOLTZMANN_J_K = 1.380649e-23
_ELEMENTARY_CHARGE_C = 1.602176634e-19
_DIODE_FACTOR = 1.1
_MAX_IRRADIANCE_W_M2 = 2000.0
_DEFAULT_WIND_SPEED_M_S = 1.0
_LN_1000 = math.log(1000.0)

# PVWatts inverter curve coefficients (pvlib.inverter.pvwatts).
_PVW_A = -0.0162
_PVW_B = -0.0059
_PVW_C = 0.9858


@dataclass(frozen=True, slots=True)
class PvNameplate:
    """Nameplate of a PV array and its string inverter (see the module docstring for the model).

    AC ratings map to SunSpec 702 (``WMaxRtg``, ``VAMaxRtg``, ``VarMaxInjRtg``/``VarMaxAbsRtg``:
    0.44·S, IEEE 1547-2018 Category B); the array to SunSpec 714 port 0 (``DCW`` = STC rating,
    ``DCV`` = V_mp at STC).
    """

    ac_type: AcType = "three"
    w_max_kw: float = 10.0
    va_max_kva: float = 10.926
    """√(W² + Var²) = √(10² + 4.4²) = 10.9252 kVA rounded up to the VA: the 0.44 pu reactive
    capability is deliverable at full active power."""
    var_max_inj_kvar: float = 4.4
    var_max_abs_kvar: float = 4.4
    dc_rating_kw: float = 14.0
    """Array power at STC (714.Prt[0].DCW); DC/AC 1.4 so clear-sky noons clip."""
    v_mp_stc_v: float = 400.0
    """String MPP voltage at STC (714.Prt[0].DCV)."""
    v_oc_stc_v: float = 480.0
    """String open-circuit voltage at STC (V_mp/V_oc = 0.83, typical c-Si)."""
    cells_in_series: int = 720
    """Cells in series per string (12 × 60-cell modules: 0.56 V/cell at the MPP)."""
    mppt_v_min_v: float = 200.0
    mppt_v_max_v: float = 550.0
    v_dc_max_v: float = 600.0
    """Maximum DC input voltage (Vdcmax); informational."""
    gamma_pdc_per_c: float = -0.0037
    """PVWatts power temperature coefficient γ, 1/°C."""
    beta_vmp_per_c: float = -0.003
    """Relative MPP-voltage temperature coefficient β_V, 1/°C."""
    system_losses: float = 0.14
    """PVWatts system losses as a fraction (soiling, wiring, mismatch, …)."""
    eta_inv_nom: float = 0.96
    eta_inv_ref: float = 0.9637
    start_threshold_kw: float = 0.07
    """DC power below which the inverter sleeps (Sandia Pso analogue)."""
    sapm_a: float = -3.56
    sapm_b: float = -0.075
    sapm_delta_t_c: float = 3.0
    thermal_time_constant_s: float = 300.0
    """First-order lag of the cell temperature toward SAPM steady state; 0 disables it."""
    latitude_deg: float = DEFAULT_LATITUDE_DEG
    longitude_deg: float | None = None
    """Site longitude (east +); None = central meridian of the simulator time's UTC offset."""
    tilt_deg: float = 20.0
    """Array tilt from horizontal, degrees (0..90)."""
    azimuth_deg: float | None = None
    """Array azimuth, degrees clockwise from north (180 = south); None = facing the equator."""
    ambient_mean_c: float = 20.0
    ambient_amplitude_c: float = 6.0

    def __post_init__(self) -> None:
        ratio = self.v_mp_stc_v / self.v_oc_stc_v if self.v_oc_stc_v > 0.0 else 0.0
        if not 0.7 <= ratio <= 0.92:  # c-Si and thin film; keeps the I-V shape well posed
            raise ValueError("v_mp_stc_v / v_oc_stc_v must lie in [0.7, 0.92]")
        if self.w_max_kw <= 0.0 or self.dc_rating_kw <= 0.0 or self.cells_in_series <= 0:
            raise ValueError("w_max_kw, dc_rating_kw and cells_in_series must be positive")
        if not 0.0 < self.mppt_v_min_v < self.mppt_v_max_v:
            raise ValueError("need 0 < mppt_v_min_v < mppt_v_max_v")
        if not 0.0 < self.eta_inv_nom <= 1.0 or self.eta_inv_ref <= 0.0:
            raise ValueError("inverter efficiencies must be in (0, 1]")
        if not 0.0 <= self.system_losses < 1.0 or self.thermal_time_constant_s < 0.0:
            raise ValueError("system_losses must be in [0, 1); thermal constant >= 0")
        if not 0.0 <= self.tilt_deg <= 90.0:
            raise ValueError("tilt_deg must lie in [0, 90]")
        if self.azimuth_deg is not None and not 0.0 <= self.azimuth_deg < 360.0:
            raise ValueError("azimuth_deg must lie in [0, 360)")

    @property
    def geometry(self) -> Geometry:
        """The array's orientation (the azimuth resolved for the hemisphere)."""
        azimuth = self.azimuth_deg
        if azimuth is None:
            azimuth = equator_facing_azimuth_deg(self.latitude_deg)
        return Geometry(self.tilt_deg, azimuth)

    @property
    def rating(self) -> AcRating:
        """The SunSpec 702 AC rating of this nameplate."""
        return AcRating(
            w_max_kw=self.w_max_kw,
            va_max_kva=self.va_max_kva,
            var_max_inj_kvar=self.var_max_inj_kvar,
            var_max_abs_kvar=self.var_max_abs_kvar,
        )


class IvPoint(NamedTuple):
    """One sample of a PV string's I-V curve."""

    voltage_v: float
    current_a: float
    power_w: float


class PvArrayState(NamedTuple):
    """The array side of one step (chain items 1-7), before any inverter: ``PvModel.array_step``.

    Voltages are the string's; ``*_x`` fields are normalised voltages x = V/V_oc. All zero (and
    ``available_kw`` 0) at night.
    """

    irradiance_w_m2: float
    """Plane-of-array global irradiance, W/m²."""
    ambient_temperature_c: float
    cell_temperature_c: float
    clear_sky_irradiance_w_m2: float
    clear_sky_index: float
    cos_zenith: float
    mpp_kw: float
    """PVWatts DC power at the unconstrained MPP, kW."""
    available_kw: float
    """DC power at the best operating point inside the MPPT window, kW."""
    mpp_voltage_v: float
    open_circuit_voltage_v: float
    operating_x: float
    """x of the best operating point inside the MPPT window (x_mp when the window allows)."""
    window_min_x: float
    window_max_x: float
    effective_irradiance_w_m2: float
    """Irradiance reaching the cells after the incidence-angle loss, W/m²."""
    ghi_w_m2: float | None
    """Global horizontal irradiance (None when the input was plane-of-array)."""


def pvwatts_inverter_efficiency(
    p_dc_kw: float, p_dc0_kw: float, eta_inv_nom: float = 0.96, eta_inv_ref: float = 0.9637
) -> float:
    """PVWatts inverter efficiency η(P_dc) (``pvlib.inverter.pvwatts``); 0 for P_dc ≤ 0.

    ``p_dc0_kw`` is the inverter's DC rating P_ac0/η_nom. The value can be negative at very low
    load (below ζ ≈ 0.006); ``pvwatts_inverter_ac_kw`` floors the AC power at 0.
    """
    if not p_dc_kw > 0.0:
        return 0.0
    zeta = p_dc_kw / p_dc0_kw
    return eta_inv_nom / eta_inv_ref * (_PVW_A * zeta + _PVW_B / zeta + _PVW_C)


def pvwatts_inverter_ac_kw(
    p_dc_kw: float, p_ac0_kw: float, eta_inv_nom: float = 0.96, eta_inv_ref: float = 0.9637
) -> float:
    """PVWatts inverter AC output: min(η·P_dc, P_ac0) floored at 0, P_dc0 = P_ac0/η_nom."""
    eta = pvwatts_inverter_efficiency(p_dc_kw, p_ac0_kw / eta_inv_nom, eta_inv_nom, eta_inv_ref)
    return max(0.0, min(eta * p_dc_kw, p_ac0_kw))


def pvwatts_dc_kw(
    poa_irradiance_w_m2: float, cell_temperature_c: float, p_dc0_kw: float, gamma_pdc_per_c: float
) -> float:
    """PVWatts v5 DC power (``pvlib.pvsystem.pvwatts_dc``), before system losses."""
    return (
        poa_irradiance_w_m2
        / 1000.0
        * p_dc0_kw
        * (1.0 + gamma_pdc_per_c * (cell_temperature_c - 25.0))
    )


def sapm_cell_temperature_c(
    poa_irradiance_w_m2: float,
    temp_air_c: float,
    wind_speed_m_s: float,
    a: float = -3.56,
    b: float = -0.075,
    delta_t_c: float = 3.0,
) -> float:
    """SAPM steady-state cell temperature (``pvlib.temperature.sapm_cell``).

    Defaults: open rack, glass/polymer (a, b, ΔT) = (−3.56, −0.075, 3).
    """
    return (
        poa_irradiance_w_m2 * math.exp(a + b * wind_speed_m_s)
        + temp_air_c
        + poa_irradiance_w_m2 / 1000.0 * delta_t_c
    )


_SHAPES: dict[float, _IvShape] = {}


def _iv_shape(v_ratio: float) -> _IvShape:
    """The shared, immutable I-V shape for a V_mp/V_oc ratio (solved once per ratio)."""
    shape = _SHAPES.get(v_ratio)
    if shape is None:
        shape = _SHAPES[v_ratio] = _IvShape(v_ratio)
    return shape


class _IvShape:
    """The normalised EN 50530-style I-V shape: x = V/V_oc, j(x) = I/I_sc, p(x) = P/P_mp."""

    __slots__ = ("c1", "c2", "j_mp", "p_norm", "v_ratio")

    def __init__(self, v_ratio: float) -> None:
        self.v_ratio = v_ratio
        # Solve for i = I_mp/I_sc so that dP/dV = 0 exactly at x = v (bisection, once).
        lo, hi = 0.5, 0.99999
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if self._mpp_residual(mid) < 0.0:
                lo = mid
            else:
                hi = mid
        i_ratio = 0.5 * (lo + hi)
        self.c2 = (v_ratio - 1.0) / math.log(1.0 - i_ratio)
        self.c1 = (1.0 - i_ratio) * math.exp(-v_ratio / self.c2)
        self.j_mp = max(0.0, 1.0 - self.c1 * (math.exp(v_ratio / self.c2) - 1.0))
        self.p_norm = v_ratio * self.j_mp

    def _mpp_residual(self, i_ratio: float) -> float:
        v = self.v_ratio
        c2 = (v - 1.0) / math.log(1.0 - i_ratio)
        c1 = (1.0 - i_ratio) * math.exp(-v / c2)
        return i_ratio + c1 - v * (1.0 - i_ratio) / c2


# --- the chain on arrays: every function takes the rows' parameters as arrays -----------------


class _Shape(NamedTuple):
    """The I-V shape parameters of some rows (``_IvShape`` fields as arrays)."""

    v_ratio: FloatArray
    c1: FloatArray
    c2: FloatArray
    j_mp: FloatArray
    p_norm: FloatArray

    def take(self, rows: Rows) -> _Shape:
        return _Shape(*(a[rows] for a in self))


def _current_ratio(x: FloatArray, s: _Shape) -> FloatArray:
    """I/I_sc at x = V/V_oc, clamped at 0 beyond open circuit."""
    return np.maximum(0.0, 1.0 - s.c1 * (np.exp(x / s.c2) - 1.0))


def _power_ratio(x: FloatArray, s: _Shape) -> FloatArray:
    """P/P_mp at x = V/V_oc."""
    return x * _current_ratio(x, s) / s.p_norm


def _right_start(target: FloatArray, s: _Shape) -> FloatArray:
    """A start for ``_solve`` on the high-voltage side: one fixed-point step from V_oc.

    x = C2·ln((1 + C1 − target·p_norm/x)/C1) is increasing in x, so its value at x = 1 lies
    at or above the root: p there is ≤ target, as ``_solve`` needs, and much closer than 1.
    (0 where the argument is ≤ 1.)
    """
    arg = (1.0 + s.c1 - target * s.p_norm) / s.c1
    return s.c2 * np.log(np.maximum(arg, 1.0))


def _solve(target: FloatArray, x_start: FloatArray, s: _Shape) -> FloatArray:
    """x where p(x) = target, by Newton from ``x_start`` (with p(x_start) ≤ target), per row:
    at most 30 steps, a row stops once |p − target| < 1e-7 or its slope is 0."""
    x = x_start.copy()
    active = np.ones(x.shape, dtype=np.bool_)
    c1, c2, p_norm = s.c1, s.c2, s.p_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(30):
            e = np.exp(x / c2)
            j = 1.0 + c1 - c1 * e
            f = x * j / p_norm - target
            slope = (j - x * c1 * e / c2) / p_norm
            active &= ~((f > -1e-7) & (f < 1e-7)) & (slope != 0.0)
            if not active.any():
                break
            x = np.where(active, x - f / slope, x)
    return x


def _off_mpp_x(
    target: FloatArray, x_op: FloatArray, x_lo: FloatArray, x_hi: FloatArray, s: _Shape
) -> FloatArray:
    """Normalised voltage where the string delivers ``target``·P_mp, within [x_lo, x_hi]:
    on the high-voltage side of the MPP unless the window forbids it (chain item 9)."""
    pr_hi = _power_ratio(x_hi, s)
    pr_lo = _power_ratio(x_lo, s)
    right = (x_op >= s.v_ratio) & (pr_hi <= target)
    left = ~right & (pr_lo <= target)
    # Unreachable inside the window (extremely narrow window): the lower-power edge.
    x = np.where(pr_hi <= pr_lo, x_hi, x_lo)
    solved = np.flatnonzero(right | left)
    if solved.size:
        s_ = s.take(solved)
        r = right[solved]
        xo, lo, hi, t = x_op[solved], x_lo[solved], x_hi[solved], target[solved]
        start = np.where(r, np.maximum(xo, np.minimum(hi, _right_start(t, s_))), lo)
        root = _solve(t, start, s_)
        x[solved] = np.where(
            r, np.maximum(xo, np.minimum(hi, root)), np.minimum(xo, np.maximum(lo, root))
        )
    return x


class _Columns(NamedTuple):
    """The array side of one step for some rows (``PvArrayState`` as arrays and scalars)."""

    poa: FloatArray
    t_air: FloatArray
    t_cell: FloatArray
    ghi_cs: float
    k_report: FloatArray
    cos_z: float
    p_mp: FloatArray
    p_avail: FloatArray
    v_mp: FloatArray
    v_oc: FloatArray
    x_op: FloatArray
    x_lo: FloatArray
    x_hi: FloatArray
    effective: FloatArray
    ghi: FloatArray
    """Global horizontal irradiance; NaN where the input was plane-of-array."""

    def row(self, k: int) -> PvArrayState:
        ghi = float(self.ghi[k])
        return PvArrayState(
            float(self.poa[k]),
            float(self.t_air[k]),
            float(self.t_cell[k]),
            self.ghi_cs,
            float(self.k_report[k]),
            self.cos_z,
            float(self.p_mp[k]),
            float(self.p_avail[k]),
            float(self.v_mp[k]),
            float(self.v_oc[k]),
            float(self.x_op[k]),
            float(self.x_lo[k]),
            float(self.x_hi[k]),
            float(self.effective[k]),
            None if ghi != ghi else ghi,
        )


_STATES: tuple[InverterState, ...] = ("sleeping", "throttled", "running")
_ALL: Rows = slice(None)


def _optional(values: Sequence[float | None]) -> FloatArray | None:
    """The column of an optional input (NaN for None), or None when no row has a value."""
    if values.count(None) == len(values):
        return None
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


class PvFleet:
    """Every PV device of a fleet, each a row of numpy arrays (``ArrayFleet``).

    ``PvFleet(nameplates, seeds, clouds=True, site=None)``: one row per nameplate, device k
    seeded with ``seeds[k]`` (its clouds, ``clouds``); ``site`` is the ``SolarSite`` the arrays
    share (a private one on the first nameplate's coordinates when omitted). ``members()``
    are the rows' ``PvModel`` views. Per row the arrays hold the nameplate's parameters, the
    derived constants of the chain (the I-V shape, the inverter's DC rating) and the state:
    the cell temperature (NaN before the first step) and the clouds (``CloudArray``). A step
    of any rows runs chain items 1-9 as array operations; only the optional inputs of a row
    given a global horizontal irradiance go through the site one row at a time (pvlib's
    Erbs split and transposition for that value, cached per value and instant).

    Memory: 26 float64 parameters and 1 state value per row plus the clouds' 4 values: about
    250 bytes per device in arrays (the ``PvModel`` view and the nameplate object are the
    rest; ``scripts/bench_fleet_models.py`` measures it).
    """

    def __init__(
        self,
        nameplates: Sequence[PvNameplate],
        seeds: Sequence[int],
        *,
        clouds: bool = True,
        site: SolarSite | None = None,
    ) -> None:
        n = len(nameplates)
        if n == 0 or len(seeds) != n:
            raise ValueError("a PV fleet needs one seed per nameplate, at least one of each")
        if site is None:
            first = nameplates[0]
            if any(
                p.latitude_deg != first.latitude_deg or p.longitude_deg != first.longitude_deg
                for p in nameplates
            ):
                raise ValueError("nameplates on different sites need a SolarSite each")
            site = SolarSite(first.latitude_deg, first.longitude_deg)
        self.site = site
        self.nameplates: tuple[PvNameplate, ...] = tuple(nameplates)
        self._n = n
        plates = self.nameplates

        def col(values: Sequence[float]) -> FloatArray:
            return np.array(values, dtype=np.float64)

        self._array_index = np.array([site.add_array(p.geometry) for p in plates], dtype=np.intp)
        shapes = [_iv_shape(p.v_mp_stc_v / p.v_oc_stc_v) for p in plates]
        self._shape = _Shape(
            col([s.v_ratio for s in shapes]),
            col([s.c1 for s in shapes]),
            col([s.c2 for s in shapes]),
            col([s.j_mp for s in shapes]),
            col([s.p_norm for s in shapes]),
        )
        self._w_max = col([p.w_max_kw for p in plates])
        self._start_kw = col([p.start_threshold_kw for p in plates])
        self._array_kw_per_w_m2 = col(
            [p.dc_rating_kw * (1.0 - p.system_losses) / 1000.0 for p in plates]
        )
        self._inv_dc0 = col([p.w_max_kw / p.eta_inv_nom for p in plates])
        self._inv_k_dc0 = col(
            [p.eta_inv_nom / p.eta_inv_ref * (p.w_max_kw / p.eta_inv_nom) for p in plates]
        )
        self._n_s_delta = col(
            [
                p.cells_in_series * _DIODE_FACTOR * _BOLTZMANN_J_K / _ELEMENTARY_CHARGE_C
                for p in plates
            ]
        )
        self._v_mp_stc = col([p.v_mp_stc_v for p in plates])
        self._beta = col([p.beta_vmp_per_c for p in plates])
        self._gamma = col([p.gamma_pdc_per_c for p in plates])
        self._mppt_min = col([p.mppt_v_min_v for p in plates])
        self._mppt_max = col([p.mppt_v_max_v for p in plates])
        self._sapm_a = col([p.sapm_a for p in plates])
        self._sapm_b = col([p.sapm_b for p in plates])
        self._sapm_dt = col([p.sapm_delta_t_c for p in plates])
        self._tau = col([p.thermal_time_constant_s for p in plates])
        self._amb_mean = col([p.ambient_mean_c for p in plates])
        self._amb_amp = col([p.ambient_amplitude_c for p in plates])
        self._cell_temp = np.full(n, math.nan)
        self._clouds = CloudArray(seeds) if clouds else None
        self._members: list[PvModel] | None = None

    def __len__(self) -> int:
        return self._n

    def members(self) -> list[PvModel]:
        """The ``PvModel`` view of every row, in row order."""
        if self._members is None:
            self._members = [PvModel.view(self, k) for k in range(self._n)]
        return self._members

    def _index(self, rows: Sequence[int]) -> Rows:
        n = self._n
        if isinstance(rows, range) and rows == range(n):
            return _ALL
        if n == 1 and len(rows) == 1 and rows[0] == 0:
            return _ALL
        return np.asarray(rows, dtype=np.intp)

    # ------------------------------------------------------------------ chain items 1-7
    def _voltages(
        self, rows: Rows, g: FloatArray, t_cell: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(V_mp, V_oc) of the strings at an irradiance and cell temperature; 0 when dark."""
        lit = g > 0.0
        g_lit = np.where(lit, g, 1.0)
        # ln(E/1000); written as ln E − ln 1000 only where E/1000 would underflow to 0.
        ln_g = np.where(g_lit > 1e-300, np.log(g_lit / 1000.0), np.log(g_lit) - _LN_1000)
        v_mp = self._v_mp_stc[rows] * (1.0 + self._beta[rows] * (t_cell - 25.0)) + (
            self._n_s_delta[rows] * (t_cell + 273.15) * ln_g
        )
        v_mp = np.where(lit, np.maximum(0.0, v_mp), 0.0)
        return v_mp, v_mp / self._shape.v_ratio[rows]

    def _mpp_kw(self, rows: Rows, g: FloatArray, t_cell: FloatArray) -> FloatArray:
        return np.maximum(
            0.0,
            g * self._array_kw_per_w_m2[rows] * (1.0 + self._gamma[rows] * (t_cell - 25.0)),
        )

    def _irradiance(
        self, rows: Rows, envs: Sequence[Environment], k_cloud: FloatArray | float
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, float, float, float]:
        """(POA, effective, GHI (NaN: plane-of-array input), k reported, zenith °, clear-sky
        GHI, hour angle °) of ``rows`` at ``envs``' instant (chain item 1)."""
        when = envs[0].sim_time
        site = self.site
        zenith_deg, ghi_cs, omega_deg = site.sun(when)
        index = self._array_index[rows]
        distinct = np.unique(index)
        clear_poa = np.empty(len(index))
        clear_eff = np.empty(len(index))
        for a in distinct.tolist():  # one per orientation of the site, usually one
            clear = site.clear_sky(when, a)
            at = index == a
            clear_poa[at] = clear.poa_global_w_m2
            clear_eff[at] = clear.effective_w_m2
        poa = clear_poa * k_cloud
        g = clear_eff * k_cloud
        ghi = np.full(len(index), ghi_cs) * k_cloud
        k_report = np.ones(len(index)) * k_cloud
        if any(e.irradiance_w_m2 is not None for e in envs):
            for k, env in enumerate(envs):
                g_env = env.irradiance_w_m2
                if g_env is None:
                    continue
                value = min(_MAX_IRRADIANCE_W_M2, g_env) if g_env > 0.0 else 0.0  # NaN → 0
                if env.irradiance_is_poa:
                    poa[k] = g[k] = value
                    ghi[k] = math.nan
                    k_report[k] = value / clear_poa[k] if clear_poa[k] >= 10.0 else 0.0
                else:
                    received: PlaneOfArray = site.from_ghi(when, value, int(index[k]))
                    poa[k] = received.poa_global_w_m2
                    g[k] = received.effective_w_m2
                    ghi[k] = value
                    k_report[k] = value / ghi_cs if ghi_cs >= 10.0 else 0.0
        return poa, g, ghi, k_report, zenith_deg, ghi_cs, omega_deg

    def _chain(self, rows: Rows, envs: Sequence[Environment], dt_s: float) -> _Columns:
        """Advance clouds and cell temperature of ``rows`` by ``dt_s``: chain items 1-7."""
        if not dt_s > 0.0:
            dt_s = 0.0
        clouds = self._clouds
        k_cloud: FloatArray | float = 1.0 if clouds is None else clouds.advance(rows, dt_s)
        poa, g, ghi, k_report, zenith_deg, ghi_cs, omega_deg = self._irradiance(rows, envs, k_cloud)
        cos_z = math.cos(math.radians(zenith_deg))

        ambient = _optional([e.ambient_temperature_c for e in envs])
        diurnal = self._amb_mean[rows] + self._amb_amp[rows] * math.cos(
            math.radians(omega_deg - 45.0)
        )
        if ambient is None:
            t_air = diurnal
        else:  # None or NaN: the diurnal model
            t_air = np.where(np.isnan(ambient), diurnal, np.clip(ambient, -80.0, 80.0))
        wind_given = _optional([e.wind_speed_m_s for e in envs])
        if wind_given is None:
            wind: FloatArray | float = _DEFAULT_WIND_SPEED_M_S
        else:
            wind = np.where(
                np.isnan(wind_given), _DEFAULT_WIND_SPEED_M_S, np.clip(wind_given, 0.0, 60.0)
            )

        t_steady = (
            poa * np.exp(self._sapm_a[rows] + self._sapm_b[rows] * wind)
            + t_air
            + poa * 0.001 * self._sapm_dt[rows]
        )
        # First-order lag toward the SAPM steady state (exact exponential update).
        tau = self._tau[rows]
        previous = self._cell_temp[rows]
        steady = np.isnan(previous) | (tau <= 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.exp(-dt_s / tau)
        t_cell = np.where(steady, t_steady, t_steady + (previous - t_steady) * keep)
        self._cell_temp[rows] = t_cell

        p_mp = self._mpp_kw(rows, g, t_cell)
        v_mp, v_oc = self._voltages(rows, g, t_cell)
        shape = self._shape.take(rows)

        # Best operating point inside the MPPT window.
        lit = (p_mp > 0.0) & (v_oc > 0.0)
        v_oc_lit = np.where(lit, v_oc, 1.0)
        x_lo = np.where(lit, self._mppt_min[rows] / v_oc_lit, 0.0)
        x_hi = np.where(lit, np.minimum(1.0, self._mppt_max[rows] / v_oc_lit), 0.0)
        open_window = lit & (x_lo < x_hi)
        x_op = np.where(open_window, np.minimum(x_hi, np.maximum(x_lo, shape.v_ratio)), 0.0)
        at_mpp = x_op == shape.v_ratio
        p_avail = np.where(
            open_window, p_mp * np.where(at_mpp, 1.0, _power_ratio(x_op, shape)), 0.0
        )
        return _Columns(
            poa,
            t_air,
            t_cell,
            ghi_cs,
            k_report,
            cos_z,
            p_mp,
            p_avail,
            v_mp,
            v_oc,
            x_op,
            x_lo,
            x_hi,
            g,
            ghi,
        )

    # ------------------------------------------------------------------ chain items 8-9
    def step_rows(
        self,
        rows: Sequence[int],
        envs: Sequence[Environment],
        dispatches: Sequence[Dispatch],
        dt_s: float,
    ) -> list[DeviceOutput]:
        """Advance ``rows`` by ``dt_s`` seconds; the inverters' outputs (module docstring)."""
        idx = self._index(rows)
        c = self._chain(idx, envs, dt_s)
        w_max = self._w_max[idx]
        inv_dc0 = self._inv_dc0[idx]
        inv_k_dc0 = self._inv_k_dc0[idx]
        p_avail = c.p_avail

        sleeping = p_avail < self._start_kw[idx]
        zeta = p_avail / inv_dc0
        ac_uncapped = inv_k_dc0 * (_PVW_A * zeta * zeta + _PVW_C * zeta + _PVW_B)
        ac_avail = np.minimum(ac_uncapped, w_max)
        limit_pct = np.array([d.active_power_limit_pct for d in dispatches], dtype=np.float64)
        limit_pct = np.where(limit_pct <= 100.0, limit_pct, 100.0)  # also NaN
        limit_kw = np.maximum(0.0, limit_pct) * 0.01 * w_max
        throttled = limit_kw < ac_avail - 1e-9
        ac = np.where(throttled, limit_kw, np.maximum(0.0, ac_avail))
        clipped = ~throttled & (ac_uncapped > w_max) & ~sleeping
        dc = p_avail.copy()
        dc_v = c.x_op * c.v_oc
        off_mpp = np.flatnonzero((ac < ac_uncapped - 1e-9) & ~sleeping)
        if off_mpp.size:
            dc_off = _dc_for_ac_kw(ac[off_mpp], inv_k_dc0[off_mpp], inv_dc0[off_mpp])
            dc[off_mpp] = dc_off
            dc_v[off_mpp] = c.v_oc[off_mpp] * _off_mpp_x(
                dc_off / c.p_mp[off_mpp],
                c.x_op[off_mpp],
                c.x_lo[off_mpp],
                c.x_hi[off_mpp],
                self._shape.take(idx).take(off_mpp),
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            dc_i = np.where(dc_v > 0.0, dc * 1000.0 / dc_v, 0.0)
        ac = np.where(sleeping, 0.0, ac)
        dc = np.where(sleeping, 0.0, dc)
        dc_i = np.where(sleeping, 0.0, dc_i)
        dc_v = np.where(sleeping, c.v_oc, dc_v)
        state = np.where(sleeping, 0, np.where(throttled, 1, 2))

        zenith_deg = math.degrees(math.acos(c.cos_z))
        ghi_cs = c.ghi_cs
        states = _STATES
        return [
            DeviceOutput(
                ac_power_kw=ac_k,
                reactive_power_kvar=0.0,
                dc_power_kw=dc_k,
                dc_voltage_v=dc_v_k,
                dc_current_a=dc_i_k,
                inverter_state=states[state_k],
                asset={
                    "irradiance_w_m2": poa_k,
                    "effective_irradiance_w_m2": eff_k,
                    "ghi_w_m2": None if ghi_k != ghi_k else ghi_k,
                    "cell_temperature_c": t_cell_k,
                    "ambient_temperature_c": t_air_k,
                    "clear_sky_irradiance_w_m2": ghi_cs,
                    "clear_sky_index": k_k,
                    "solar_zenith_deg": zenith_deg,
                    "dc_available_kw": avail_k,
                    "clipped": clipped_k,
                    "dc_mpp_voltage_v": v_mp_k,
                    "dc_open_circuit_voltage_v": v_oc_k,
                },
            )
            for (
                ac_k,
                dc_k,
                dc_v_k,
                dc_i_k,
                state_k,
                poa_k,
                eff_k,
                ghi_k,
                t_cell_k,
                t_air_k,
                k_k,
                avail_k,
                clipped_k,
                v_mp_k,
                v_oc_k,
            ) in zip(
                ac.tolist(),
                dc.tolist(),
                dc_v.tolist(),
                dc_i.tolist(),
                state.tolist(),
                c.poa.tolist(),
                c.effective.tolist(),
                c.ghi.tolist(),
                c.t_cell.tolist(),
                c.t_air.tolist(),
                c.k_report.tolist(),
                p_avail.tolist(),
                clipped.tolist(),
                c.v_mp.tolist(),
                c.v_oc.tolist(),
                strict=True,
            )
        ]

    # ------------------------------------------------------------------ one row
    def array_state(self, row: int, env: Environment, dt_s: float) -> PvArrayState:
        """Chain items 1-7 for one row (``PvModel.array_step``)."""
        return self._chain(self._index((row,)), (env,), dt_s).row(0)

    def off_mpp_voltage_v(self, row: int, array: PvArrayState, dc_kw: float) -> float:
        """``PvModel.curtailed_voltage_v`` for one row."""
        x = _off_mpp_x(
            np.array([max(0.0, dc_kw) / array.mpp_kw]),
            np.array([array.operating_x]),
            np.array([array.window_min_x]),
            np.array([array.window_max_x]),
            self._shape.take(np.array([row], dtype=np.intp)),
        )
        return array.open_circuit_voltage_v * float(x[0])

    def iv_points(self, row: int, g_w_m2: float, cell_temp_c: float, points: int) -> list[IvPoint]:
        """``PvModel.iv_curve`` for one row."""
        g = min(_MAX_IRRADIANCE_W_M2, max(0.0, g_w_m2)) if g_w_m2 == g_w_m2 else 0.0
        one = np.array([row], dtype=np.intp)
        g_a = np.array([g])
        t_a = np.array([cell_temp_c], dtype=np.float64)
        v_mp_a, v_oc_a = self._voltages(one, g_a, t_a)
        v_mp, v_oc = float(v_mp_a[0]), float(v_oc_a[0])
        p_mp_w = float(self._mpp_kw(one, g_a, t_a)[0]) * 1000.0
        if v_oc <= 0.0 or p_mp_w <= 0.0:
            return [IvPoint(0.0, 0.0, 0.0)]
        shape = self._shape.take(one)
        v_ratio = float(shape.v_ratio[0])
        i_sc = p_mp_w / (v_mp * float(shape.j_mp[0]))
        n = max(3, points)
        n_left = max(2, n // 2)
        n_right = max(1, n - n_left)
        xs = [v_ratio * k / (n_left - 1) for k in range(n_left)]
        xs += [v_ratio + (1.0 - v_ratio) * k / n_right for k in range(1, n_right + 1)]
        x = np.array(xs)
        j = _current_ratio(x, _Shape(*(np.full(len(xs), float(a[0])) for a in shape)))
        return [
            IvPoint(x_k * v_oc, i_sc * j_k, x_k * v_oc * (i_sc * j_k))
            for x_k, j_k in zip(xs, j.tolist(), strict=True)
        ]


def _dc_for_ac_kw(ac_kw: FloatArray, inv_k_dc0: FloatArray, inv_dc0: FloatArray) -> FloatArray:
    """Invert the PVWatts curve: the DC power whose η·P_dc equals ``ac_kw`` (closed form)."""
    r = ac_kw / inv_k_dc0
    disc = _PVW_C * _PVW_C + 4.0 * _PVW_A * (r - _PVW_B)
    zeta = (-_PVW_C + np.sqrt(np.maximum(0.0, disc))) / (2.0 * _PVW_A)
    return zeta * inv_dc0


class PvModel:
    """One PV array behind a PVWatts string inverter: a row of a ``PvFleet`` (``DeviceModel``,
    ``ArrayMember``).

    ``PvModel(nameplate, seed, clouds=True, site=None)`` is a fleet of one: ``seed`` seeds the
    cloud model; ``clouds=False`` keeps k = 1 (pure clear sky), useful for tests and demos;
    ``site`` is the ``SolarSite`` shared with the other devices of the site (a private one when
    omitted). ``PvFleet.members()`` gives the rows of a larger fleet; the engine steps a fleet's
    rows together, and ``step`` here steps this row alone through the same array code.

    ``DeviceOutput.asset`` keys: ``irradiance_w_m2`` (plane-of-array global, W/m²),
    ``effective_irradiance_w_m2`` (after the incidence-angle loss), ``ghi_w_m2`` (global
    horizontal; None for a plane-of-array input), ``cell_temperature_c``,
    ``ambient_temperature_c``, ``clear_sky_irradiance_w_m2`` (Ineichen GHI),
    ``clear_sky_index`` (the cloud model's k when the model makes the irradiance; with an
    external irradiance the ratio to the clear sky, horizontal or in plane, 0 when the clear sky
    is below 10 W/m²), ``solar_zenith_deg`` (apparent), ``dc_available_kw`` (DC power at the
    best operating point inside the MPPT window, before clipping or curtailment), ``clipped``
    (AC output held at WMax by the array exceeding the AC rating; SunSpec DERMode PV_CLIPPED),
    plus
    ``dc_mpp_voltage_v`` and ``dc_open_circuit_voltage_v`` (the string's V_mp and V_oc at the
    present irradiance and cell temperature).
    """

    asset_type = "pv"
    dc_mode = "pv"
    dc_port_count = 1

    nameplate: PvNameplate
    rating: AcRating
    _fleet: PvFleet
    _row: int
    _rows: tuple[int]

    def __init__(
        self,
        nameplate: PvNameplate | None = None,
        seed: int = 0,
        *,
        clouds: bool = True,
        site: SolarSite | None = None,
    ) -> None:
        fleet = PvFleet(
            [PvNameplate() if nameplate is None else nameplate], [seed], clouds=clouds, site=site
        )
        self._bind(fleet, 0)
        fleet._members = [self]

    @classmethod
    def view(cls, fleet: PvFleet, row: int) -> PvModel:
        """The model of ``fleet``'s row ``row`` (``PvFleet.members`` gives them all)."""
        model = cls.__new__(cls)
        model._bind(fleet, row)
        return model

    def _bind(self, fleet: PvFleet, row: int) -> None:
        self._fleet = fleet
        self._row = row
        self._rows = (row,)
        self.nameplate = fleet.nameplates[row]
        self.rating = self.nameplate.rating

    @property
    def fleet(self) -> ArrayFleet:
        """The fleet whose arrays hold this device."""
        return self._fleet

    @property
    def row(self) -> int:
        """This device's row in ``fleet``."""
        return self._row

    def iv_curve(self, g_w_m2: float, cell_temp_c: float, points: int = 41) -> list[IvPoint]:
        """Sample the string's I-V curve from short circuit to open circuit.

        Half the samples (rounded down) lie evenly on [0, V_mp], the rest evenly on (V_mp, V_oc],
        so the knee is sampled densely; the MPP and V_oc are always samples. Power in watts.
        At zero irradiance the curve collapses to the single point (0, 0, 0).
        """
        return self._fleet.iv_points(self._row, g_w_m2, cell_temp_c, points)

    def array_step(self, env: Environment, dt_s: float) -> PvArrayState:
        """Advance clouds and cell temperature by ``dt_s`` and return the array's DC state.

        Chain items 1-7 of the module docstring (no inverter): what ``step`` uses, public so
        that a model with its own inverter (the hybrid DC bus) can reuse the array.
        """
        return self._fleet.array_state(self._row, env, dt_s)

    def curtailed_voltage_v(self, array: PvArrayState, dc_kw: float) -> float:
        """String voltage at which the array delivers ``dc_kw`` ≤ the available power (item 9).

        On the high-voltage side of the MPP unless the MPPT window forbids it; the operating
        voltage of the best point when ``dc_kw`` is at or above ``array.available_kw``.
        """
        if dc_kw >= array.available_kw or array.mpp_kw <= 0.0:
            return array.operating_x * array.open_circuit_voltage_v
        return self._fleet.off_mpp_voltage_v(self._row, array, dc_kw)

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance by ``dt_s`` seconds and return the inverter's output (module docstring)."""
        return self._fleet.step_rows(self._rows, (env,), (dispatch,), dt_s)[0]
