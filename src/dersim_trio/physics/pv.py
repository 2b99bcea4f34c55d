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

Fleet (``PvFleet``, ``base.ArrayFleet``): every PV device of a run is a row of one parameter
table and its state (cell temperature, sky) a row of the state arrays; the chain above is one
compiled loop over the rows to step (``_step_kernel``), so the engine steps 100,000 devices in
one call and ``PvModel``, a view of one row, steps its row alone through the same code. The
scalar reference functions below (``pvwatts_*``, ``sapm_cell_temperature_c``) are the published
formulas the tests check the chain's numbers against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from dersim_trio.physics.ac import AcType
from dersim_trio.physics.base import (
    AcRating,
    ArrayFleet,
    AssetLayout,
    AssetTable,
    DeviceOutput,
    Dispatch,
    Environment,
    FleetRow,
    FleetStep,
    InverterState,
    row_index,
)
from dersim_trio.physics.clouds import CloudArray, FloatArray
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
        self.j_mp = _current_ratio(v_ratio, self.c1, self.c2)
        self.p_norm = v_ratio * self.j_mp

    def _mpp_residual(self, i_ratio: float) -> float:
        v = self.v_ratio
        c2 = (v - 1.0) / math.log(1.0 - i_ratio)
        c1 = (1.0 - i_ratio) * math.exp(-v / c2)
        return i_ratio + c1 - v * (1.0 - i_ratio) / c2


# --- the chain, compiled: a loop over the rows of the fleet's parameter table -------------------
#
# Every device's parameters are a row of one float64 table (columns below); the state is the
# cell temperature column. The step is a loop over the rows to step, each row computed with
# scalar arithmetic exactly as written in the module docstring, compiled once by numba
# (``cache=True``: the machine code is kept beside the module, so later runs load it). Why not
# numpy array expressions: they cost about 1 µs per operation whatever the array's length, and
# the chain has about a hundred, so a device stepped alone (a fleet of one: the hybrid's PV
# port, a single-device run on virtual time) took 134 µs per step against 6.9 µs for the plain
# Python model this replaced; compiled, one implementation serves the fleet of 100,000 and the
# device alone (``scripts/bench_fleet_models.py``).

(
    _W_MAX,
    _START_KW,
    _ARRAY_KW_PER_W_M2,
    _INV_DC0,
    _INV_K_DC0,
    _N_S_DELTA,
    _V_MP_STC,
    _BETA,
    _GAMMA,
    _MPPT_MIN,
    _MPPT_MAX,
    _SAPM_A,
    _SAPM_B,
    _SAPM_DT,
    _TAU,
    _AMB_MEAN,
    _AMB_AMP,
    _V_RATIO,
    _C1,
    _C2,
    _P_NORM,
    _J_MP,
    _PARAMETERS,
) = range(23)

# Output columns of the kernel (one row per stepped device).
(
    _O_POA,
    _O_T_AIR,
    _O_T_CELL,
    _O_K,
    _O_P_MP,
    _O_P_AVAIL,
    _O_V_MP,
    _O_V_OC,
    _O_X_OP,
    _O_X_LO,
    _O_X_HI,
    _O_EFF,
    _O_GHI,
    _O_AC,
    _O_DC,
    _O_DC_V,
    _O_DC_I,
    _O_STATE,
    _O_CLIPPED,
    _OUTPUTS,
) = range(20)

# Irradiance input per row: the site's clear sky × clouds, a plane-of-array value, or a GHI
# already transposed by the site (pvlib, in Python, before the kernel).
_CLEAR, _POA_GIVEN, _GHI_GIVEN = 0, 1, 2
_STATES: tuple[InverterState, ...] = ("sleeping", "throttled", "running")

_ASSET_LAYOUT = AssetLayout(
    (
        ("irradiance_w_m2", "float", _O_POA),
        ("effective_irradiance_w_m2", "float", _O_EFF),
        ("ghi_w_m2", "float_or_null", _O_GHI),
        ("cell_temperature_c", "float", _O_T_CELL),
        ("ambient_temperature_c", "float", _O_T_AIR),
        ("clear_sky_irradiance_w_m2", "const", -1),
        ("clear_sky_index", "float", _O_K),
        ("solar_zenith_deg", "const", -1),
        ("dc_available_kw", "float", _O_P_AVAIL),
        ("clipped", "flag", _O_CLIPPED),
        ("dc_mpp_voltage_v", "float", _O_V_MP),
        ("dc_open_circuit_voltage_v", "float", _O_V_OC),
    )
)
"""A step's ``DeviceOutput.asset``: an ``AssetTable`` over the kernel's output columns."""


@njit(cache=True)
def _current_ratio(x: float, c1: float, c2: float) -> float:
    """I/I_sc at x = V/V_oc, clamped at 0 beyond open circuit."""
    return max(0.0, 1.0 - c1 * (math.exp(x / c2) - 1.0))


@njit(cache=True)
def _power_ratio(x: float, c1: float, c2: float, p_norm: float) -> float:
    """P/P_mp at x = V/V_oc."""
    return x * _current_ratio(x, c1, c2) / p_norm


@njit(cache=True)
def _solve(target: float, x_start: float, c1: float, c2: float, p_norm: float) -> float:
    """x where p(x) = target by Newton from ``x_start`` (with p(x_start) ≤ target)."""
    x = x_start
    for _ in range(30):
        e = math.exp(x / c2)
        j = 1.0 + c1 - c1 * e
        f = x * j / p_norm - target
        if -1e-7 < f < 1e-7:
            break
        slope = (j - x * c1 * e / c2) / p_norm
        if slope == 0.0:
            break
        x -= f / slope
    return x


@njit(cache=True)
def _off_mpp_x(
    target: float,
    x_op: float,
    x_lo: float,
    x_hi: float,
    v_ratio: float,
    c1: float,
    c2: float,
    p_norm: float,
) -> float:
    """Normalised voltage where the string delivers ``target``·P_mp, within [x_lo, x_hi]:
    on the high-voltage side of the MPP unless the window forbids it (chain item 9)."""
    if x_op >= v_ratio and _power_ratio(x_hi, c1, c2, p_norm) <= target:
        # One fixed-point step from V_oc: x = C2·ln((1 + C1 − target·p_norm/x)/C1) is
        # increasing in x, so its value at x = 1 lies at or above the root (p there ≤ target).
        arg = (1.0 + c1 - target * p_norm) / c1
        right = c2 * math.log(arg) if arg > 1.0 else 0.0
        x_start = max(x_op, min(x_hi, right))
        return max(x_op, min(x_hi, _solve(target, x_start, c1, c2, p_norm)))
    if _power_ratio(x_lo, c1, c2, p_norm) <= target:
        return min(x_op, max(x_lo, _solve(target, x_lo, c1, c2, p_norm)))
    # Unreachable inside the window (extremely narrow window): report the lower-power edge.
    if _power_ratio(x_hi, c1, c2, p_norm) <= _power_ratio(x_lo, c1, c2, p_norm):
        return x_hi
    return x_lo


@njit(cache=True)
def _voltages(prm: FloatArray, g_w_m2: float, cell_temp_c: float) -> tuple[float, float]:
    """(V_mp, V_oc) of the string of parameter row ``prm``; 0 when dark."""
    if g_w_m2 <= 0.0:
        return 0.0, 0.0
    # ln(E/1000); written as ln E − ln 1000 only where E/1000 would underflow to 0.
    ln_g = math.log(g_w_m2 / 1000.0) if g_w_m2 > 1e-300 else math.log(g_w_m2) - _LN_1000
    v_mp = prm[_V_MP_STC] * (1.0 + prm[_BETA] * (cell_temp_c - 25.0)) + (
        prm[_N_S_DELTA] * (cell_temp_c + 273.15) * ln_g
    )
    v_mp = max(0.0, v_mp)
    return v_mp, v_mp / prm[_V_RATIO]


@njit(cache=True)
def _mpp_kw(prm: FloatArray, g_w_m2: float, cell_temp_c: float) -> float:
    """PVWatts DC power at the MPP of parameter row ``prm``, kW."""
    kw_per_w_m2 = float(prm[_ARRAY_KW_PER_W_M2])
    gamma = float(prm[_GAMMA])
    return max(0.0, g_w_m2 * kw_per_w_m2 * (1.0 + gamma * (cell_temp_c - 25.0)))


@njit(cache=True)
def _step_kernel(
    rows: npt.NDArray[np.intp],
    params: FloatArray,
    geometry: npt.NDArray[np.intp],
    cell_temp: FloatArray,
    k_cloud: FloatArray,
    mode: npt.NDArray[np.int8],
    g_given: FloatArray,
    poa_given: FloatArray,
    ambient: FloatArray,
    wind: FloatArray,
    limit_pct: FloatArray,
    clear_poa: FloatArray,
    clear_eff: FloatArray,
    ghi_cs: float,
    omega_deg: float,
    dt_s: float,
    inverter: bool,
    out: FloatArray,
) -> None:
    """Chain items 1-7 (and 8-9 when ``inverter``) for ``rows``; row k's results in out[k].

    Per stepped row k: ``k_cloud[k]`` the sky's k; ``mode[k]`` the irradiance input:
    ``_CLEAR`` (the site's clear sky for the row's geometry, ``clear_poa``/``clear_eff``, times
    k), ``_POA_GIVEN`` (``g_given[k]`` is the plane-of-array value) or ``_GHI_GIVEN``
    (``g_given[k]`` is the GHI, ``poa_given[k]`` and ``poa_given[len(rows) + k]`` the POA
    global and effective irradiance the site made of it); ``ambient[k]``/``wind[k]`` NaN for the
    model's own; ``limit_pct[k]`` the WMaxLimPct. The cell temperature of each row is updated.
    """
    diurnal_cos = math.cos(math.radians(omega_deg - 45.0))
    for k in range(rows.shape[0]):
        r = rows[k]
        prm = params[r]
        o = out[k]
        a = geometry[r]
        kc = k_cloud[k]
        # 1. irradiance
        m = mode[k]
        if m == _CLEAR:
            poa = clear_poa[a] * kc
            g = clear_eff[a] * kc
            ghi = ghi_cs * kc
            k_report = kc
        else:
            g_env = g_given[k]
            value = min(_MAX_IRRADIANCE_W_M2, g_env) if g_env > 0.0 else 0.0  # NaN → 0
            if m == _POA_GIVEN:
                poa = value
                g = value
                ghi = math.nan
                k_report = value / clear_poa[a] if clear_poa[a] >= 10.0 else 0.0
            else:
                poa = poa_given[k]
                g = poa_given[rows.shape[0] + k]
                ghi = value
                k_report = value / ghi_cs if ghi_cs >= 10.0 else 0.0
        # 2. ambient temperature; wind
        t_air = ambient[k]
        if t_air != t_air:  # None or NaN: the diurnal model
            t_air = prm[_AMB_MEAN] + prm[_AMB_AMP] * diurnal_cos
        else:
            t_air = min(80.0, max(-80.0, t_air))
        ws = wind[k]
        ws = _DEFAULT_WIND_SPEED_M_S if ws != ws else min(60.0, max(0.0, ws))
        # 3. cell temperature: SAPM, through the first-order lag
        t_steady = (
            poa * math.exp(prm[_SAPM_A] + prm[_SAPM_B] * ws) + t_air + poa * 0.001 * prm[_SAPM_DT]
        )
        tau = prm[_TAU]
        previous = cell_temp[r]
        if previous != previous or tau <= 0.0:
            t_cell = t_steady
        else:
            t_cell = t_steady + (previous - t_steady) * math.exp(-dt_s / tau)
        cell_temp[r] = t_cell
        # 4-7. DC power at the MPP, voltages, best point inside the MPPT window
        p_mp = _mpp_kw(prm, g, t_cell)
        v_mp, v_oc = _voltages(prm, g, t_cell)
        v_ratio, c1, c2, p_norm = prm[_V_RATIO], prm[_C1], prm[_C2], prm[_P_NORM]
        p_avail = 0.0
        x_lo = 0.0
        x_hi = 0.0
        x_op = 0.0
        if p_mp > 0.0 and v_oc > 0.0:
            x_lo = prm[_MPPT_MIN] / v_oc
            x_hi = min(1.0, prm[_MPPT_MAX] / v_oc)
            if x_lo < x_hi:
                x_op = min(x_hi, max(x_lo, v_ratio))
                p_avail = p_mp * (1.0 if x_op == v_ratio else _power_ratio(x_op, c1, c2, p_norm))
        o[_O_POA] = poa
        o[_O_T_AIR] = t_air
        o[_O_T_CELL] = t_cell
        o[_O_K] = k_report
        o[_O_P_MP] = p_mp
        o[_O_P_AVAIL] = p_avail
        o[_O_V_MP] = v_mp
        o[_O_V_OC] = v_oc
        o[_O_X_OP] = x_op
        o[_O_X_LO] = x_lo
        o[_O_X_HI] = x_hi
        o[_O_EFF] = g
        o[_O_GHI] = ghi
        if not inverter:
            continue
        # 8-9. the inverter
        w_max = prm[_W_MAX]
        clipped = False
        if p_avail < prm[_START_KW]:
            state = 0  # sleeping
            ac_kw = 0.0
            dc_kw = 0.0
            dc_current_a = 0.0
            dc_voltage_v = v_oc
        else:
            zeta = p_avail / prm[_INV_DC0]
            ac_uncapped = prm[_INV_K_DC0] * (_PVW_A * zeta * zeta + _PVW_C * zeta + _PVW_B)
            ac_avail = min(ac_uncapped, w_max)
            limit = limit_pct[k]
            if not limit <= 100.0:  # also NaN
                limit = 100.0
            limit_kw = max(0.0, limit) * 0.01 * w_max
            if limit_kw < ac_avail - 1e-9:
                state = 1  # throttled
                ac_kw = limit_kw
            else:
                state = 2  # running
                ac_kw = max(0.0, ac_avail)
                clipped = ac_uncapped > w_max
            if ac_kw < ac_uncapped - 1e-9:
                # Invert the PVWatts curve: the DC power whose η·P_dc equals ac_kw.
                rr = ac_kw / prm[_INV_K_DC0]
                disc = _PVW_C * _PVW_C + 4.0 * _PVW_A * (rr - _PVW_B)
                dc_kw = (-_PVW_C + math.sqrt(max(0.0, disc))) / (2.0 * _PVW_A) * prm[_INV_DC0]
                dc_voltage_v = v_oc * _off_mpp_x(
                    dc_kw / p_mp, x_op, x_lo, x_hi, v_ratio, c1, c2, p_norm
                )
            else:
                dc_kw = p_avail
                dc_voltage_v = x_op * v_oc
            dc_current_a = dc_kw * 1000.0 / dc_voltage_v if dc_voltage_v > 0.0 else 0.0
        o[_O_AC] = ac_kw
        o[_O_DC] = dc_kw
        o[_O_DC_V] = dc_voltage_v
        o[_O_DC_I] = dc_current_a
        o[_O_STATE] = state
        o[_O_CLIPPED] = 1.0 if clipped else 0.0


def _state(o: Sequence[float], ghi_cs: float, cos_z: float) -> PvArrayState:
    """The array side of one kernel output row (the site's clear-sky GHI and cos zenith)."""
    ghi = o[_O_GHI]
    return PvArrayState(
        o[_O_POA],
        o[_O_T_AIR],
        o[_O_T_CELL],
        ghi_cs,
        o[_O_K],
        cos_z,
        o[_O_P_MP],
        o[_O_P_AVAIL],
        o[_O_V_MP],
        o[_O_V_OC],
        o[_O_X_OP],
        o[_O_X_LO],
        o[_O_X_HI],
        o[_O_EFF],
        None if ghi != ghi else ghi,
    )


class PvFleet(ArrayFleet):
    """Every PV device of a fleet, each a row of numpy arrays (``ArrayFleet``).

    ``PvFleet(nameplates, seeds, clouds=True, site=None)``: one row per nameplate, device k
    seeded with ``seeds[k]`` (its clouds, ``clouds.CloudArray``); ``site`` is the
    ``SolarSite`` the arrays share (a private one on the nameplates' coordinates when
    omitted). ``members()`` are the rows' ``PvModel`` views. A row holds the nameplate's
    parameters and the chain's derived constants (the I-V shape, the inverter's DC rating) in
    one float64 table, and the state: the cell temperature (NaN before the first step) and the
    sky. A step of any rows runs the compiled chain over them; only a row given a global
    horizontal irradiance goes through the site in Python first (pvlib's Erbs split and
    transposition, cached per value and instant).

    Memory: 22 parameters, the geometry index and the cell temperature per row, plus the
    sky's 4 values: about 230 bytes per device in arrays; the ``PvModel`` view and the
    shared nameplate are the rest (``scripts/bench_fleet_models.py`` measures it).
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
        self._all = np.arange(n, dtype=np.intp)
        self._geometry = np.array(
            [site.add_array(p.geometry) for p in self.nameplates], dtype=np.intp
        )
        rows: dict[PvNameplate, list[float]] = {}
        table = []
        for p in self.nameplates:
            row = rows.get(p)
            if row is None:  # a fleet usually shares one nameplate: one row of values for all
                row = rows[p] = _parameters(p)
            table.append(row)
        self._params = np.array(table, dtype=np.float64)
        self._cell_temp = np.full(n, math.nan)
        self._clouds = CloudArray(seeds) if clouds else None
        self._members: list[PvModel] | None = None
        self._none = np.full(n, math.nan)
        self._clear = np.zeros(n, dtype=np.int8)
        self._no_clouds = np.ones(n)

    def __len__(self) -> int:
        return self._n

    def members(self) -> list[PvModel]:
        """The ``PvModel`` view of every row, in row order."""
        if self._members is None:
            self._members = [PvModel.view(self, k) for k in range(self._n)]
        return self._members

    def _run(
        self,
        rows: Sequence[int],
        envs: Sequence[Environment],
        dt_s: float,
        limit_pct: FloatArray | None,
    ) -> tuple[FloatArray, float, float]:
        """The compiled chain over ``rows`` (the inverter too when ``limit_pct`` is given): its
        output rows, the clear-sky GHI and the cosine of the sun's zenith at the instant."""
        idx = row_index(rows, self._all)
        n = len(idx)
        whole = n == self._n  # then the row-independent input columns are the fleet's own
        if not (len(envs) == n and (limit_pct is None or len(limit_pct) == n)):
            raise ValueError("one environment (and dispatch) per row")
        if not dt_s > 0.0:
            dt_s = 0.0
        clouds = self._clouds
        if clouds is not None:
            k_cloud = clouds.advance(idx, dt_s)
        else:
            k_cloud = self._no_clouds if whole else np.ones(n)
        when = envs[0].sim_time
        site = self.site
        zenith_deg, ghi_cs, omega_deg = site.sun(when)
        count = len(site.geometries)
        clear_poa = np.empty(count)
        clear_eff = np.empty(count)
        for a in range(count):
            clear = site.clear_sky(when, a)
            clear_poa[a] = clear.poa_global_w_m2
            clear_eff[a] = clear.effective_w_m2
        none = self._none if whole else np.full(n, math.nan)
        mode = self._clear if whole else np.zeros(n, dtype=np.int8)
        g_given = none
        poa_given = none
        if any(e.irradiance_w_m2 is not None for e in envs):
            mode = np.zeros(n, dtype=np.int8)
            g_given = np.full(n, math.nan)
            poa_given = np.zeros(2 * n)  # POA global, then effective, for GHI inputs
            for k, env in enumerate(envs):
                g_env = env.irradiance_w_m2
                if g_env is None:
                    continue
                g_given[k] = g_env
                if env.irradiance_is_poa:
                    mode[k] = _POA_GIVEN
                else:
                    mode[k] = _GHI_GIVEN
                    value = min(_MAX_IRRADIANCE_W_M2, g_env) if g_env > 0.0 else 0.0
                    received: PlaneOfArray = site.from_ghi(when, value, int(self._geometry[idx[k]]))
                    poa_given[k] = received.poa_global_w_m2
                    poa_given[n + k] = received.effective_w_m2
        ambient = _column([e.ambient_temperature_c for e in envs], none)
        wind = _column([e.wind_speed_m_s for e in envs], none)
        out = np.empty((n, _OUTPUTS))
        _step_kernel(
            idx,
            self._params,
            self._geometry,
            self._cell_temp,
            k_cloud,
            mode,
            g_given,
            poa_given,
            ambient,
            wind,
            none if limit_pct is None else limit_pct,
            clear_poa,
            clear_eff,
            ghi_cs,
            omega_deg,
            dt_s,
            limit_pct is not None,
            out,
        )
        return out, ghi_cs, math.cos(math.radians(zenith_deg))

    def step_columns(
        self,
        rows: Sequence[int],
        envs: Sequence[Environment],
        dispatches: Sequence[Dispatch],
        dt_s: float,
    ) -> FleetStep:
        """Advance ``rows`` by ``dt_s`` seconds; the inverters' outputs as columns (module
        docstring)."""
        limit_pct = np.array([d.active_power_limit_pct for d in dispatches], dtype=np.float64)
        out, ghi_cs, cos_z = self._run(rows, envs, dt_s, limit_pct)
        zenith_deg = math.degrees(math.acos(cos_z))
        assets = AssetTable(
            _ASSET_LAYOUT,
            out,
            {"clear_sky_irradiance_w_m2": ghi_cs, "solar_zenith_deg": zenith_deg},
        )
        return FleetStep(
            out[:, _O_AC],
            out[:, _O_DC],
            out[:, _O_DC_V],
            out[:, _O_DC_I],
            out[:, _O_STATE].astype(np.intp),
            _STATES,
            assets,
        )

    # ------------------------------------------------------------------ one row
    def array_state(self, row: int, env: Environment, dt_s: float) -> PvArrayState:
        """Chain items 1-7 for one row (``PvModel.array_step``)."""
        out, ghi_cs, cos_z = self._run((row,), (env,), dt_s, None)
        return _state(out[0].tolist(), ghi_cs, cos_z)

    def off_mpp_voltage_v(self, row: int, array: PvArrayState, dc_kw: float) -> float:
        """``PvModel.curtailed_voltage_v`` for one row."""
        prm = self._params[row]
        x = _off_mpp_x(
            max(0.0, dc_kw) / array.mpp_kw,
            array.operating_x,
            array.window_min_x,
            array.window_max_x,
            float(prm[_V_RATIO]),
            float(prm[_C1]),
            float(prm[_C2]),
            float(prm[_P_NORM]),
        )
        return array.open_circuit_voltage_v * float(x)

    def iv_points(self, row: int, g_w_m2: float, cell_temp_c: float, points: int) -> list[IvPoint]:
        """``PvModel.iv_curve`` for one row."""
        g = min(_MAX_IRRADIANCE_W_M2, max(0.0, g_w_m2)) if g_w_m2 == g_w_m2 else 0.0
        prm = self._params[row]
        v_mp, v_oc = _voltages(prm, g, float(cell_temp_c))
        p_mp_w = float(_mpp_kw(prm, g, float(cell_temp_c))) * 1000.0
        if v_oc <= 0.0 or p_mp_w <= 0.0:
            return [IvPoint(0.0, 0.0, 0.0)]
        v_ratio, c1, c2 = float(prm[_V_RATIO]), float(prm[_C1]), float(prm[_C2])
        i_sc = p_mp_w / (v_mp * float(prm[_J_MP]))
        n = max(3, points)
        n_left = max(2, n // 2)
        n_right = max(1, n - n_left)
        xs = [v_ratio * k / (n_left - 1) for k in range(n_left)]
        xs += [v_ratio + (1.0 - v_ratio) * k / n_right for k in range(1, n_right + 1)]
        curve = []
        for x in xs:
            v = x * v_oc
            i = i_sc * float(_current_ratio(x, c1, c2))
            curve.append(IvPoint(v, i, v * i))
        return curve


def _parameters(p: PvNameplate) -> list[float]:
    """One row of the fleet's parameter table (the ``_W_MAX``... columns)."""
    shape = _iv_shape(p.v_mp_stc_v / p.v_oc_stc_v)
    inv_dc0 = p.w_max_kw / p.eta_inv_nom
    row = [0.0] * _PARAMETERS
    row[_W_MAX] = p.w_max_kw
    row[_START_KW] = p.start_threshold_kw
    row[_ARRAY_KW_PER_W_M2] = p.dc_rating_kw * (1.0 - p.system_losses) / 1000.0
    row[_INV_DC0] = inv_dc0
    row[_INV_K_DC0] = p.eta_inv_nom / p.eta_inv_ref * inv_dc0
    row[_N_S_DELTA] = p.cells_in_series * _DIODE_FACTOR * _BOLTZMANN_J_K / _ELEMENTARY_CHARGE_C
    row[_V_MP_STC] = p.v_mp_stc_v
    row[_BETA] = p.beta_vmp_per_c
    row[_GAMMA] = p.gamma_pdc_per_c
    row[_MPPT_MIN] = p.mppt_v_min_v
    row[_MPPT_MAX] = p.mppt_v_max_v
    row[_SAPM_A] = p.sapm_a
    row[_SAPM_B] = p.sapm_b
    row[_SAPM_DT] = p.sapm_delta_t_c
    row[_TAU] = p.thermal_time_constant_s
    row[_AMB_MEAN] = p.ambient_mean_c
    row[_AMB_AMP] = p.ambient_amplitude_c
    row[_V_RATIO] = shape.v_ratio
    row[_C1] = shape.c1
    row[_C2] = shape.c2
    row[_P_NORM] = shape.p_norm
    row[_J_MP] = shape.j_mp
    return row


def _column(values: list[float | None], none: FloatArray) -> FloatArray:
    """An optional input's column, NaN for None (``none``, all NaN, when no row has one)."""
    if values.count(None) == len(values):
        return none
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


class PvModel(FleetRow["PvFleet"]):
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

    __slots__ = ("_rows", "nameplate", "rating")

    asset_type = "pv"
    dc_mode = "pv"
    dc_port_count = 1

    nameplate: PvNameplate
    rating: AcRating
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
        self._attach(fleet, 0)
        fleet._members = [self]

    def _attached(self) -> None:
        self._rows = (self._row,)
        self.nameplate = self._fleet.nameplates[self._row]
        self.rating = self.nameplate.rating

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
