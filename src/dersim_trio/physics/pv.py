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
from dataclasses import dataclass
from typing import NamedTuple

from dersim_trio.physics.ac import AcType
from dersim_trio.physics.base import AcRating, DeviceOutput, Dispatch, Environment, InverterState
from dersim_trio.physics.solar import (
    DEFAULT_LATITUDE_DEG,
    CloudModel,
    Geometry,
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
        self.j_mp = self.current_ratio(v_ratio)
        self.p_norm = v_ratio * self.j_mp

    def _mpp_residual(self, i_ratio: float) -> float:
        v = self.v_ratio
        c2 = (v - 1.0) / math.log(1.0 - i_ratio)
        c1 = (1.0 - i_ratio) * math.exp(-v / c2)
        return i_ratio + c1 - v * (1.0 - i_ratio) / c2

    def current_ratio(self, x: float) -> float:
        """I/I_sc at x = V/V_oc, clamped at 0 beyond open circuit."""
        return max(0.0, 1.0 - self.c1 * (math.exp(x / self.c2) - 1.0))

    def power_ratio(self, x: float) -> float:
        """P/P_mp at x = V/V_oc."""
        return x * self.current_ratio(x) / self.p_norm

    def right_start(self, target: float) -> float:
        """A start for ``solve`` on the high-voltage side: one fixed-point step from V_oc.

        x = C2·ln((1 + C1 − target·p_norm/x)/C1) is increasing in x, so its value at x = 1 lies
        at or above the root: p there is ≤ target, as ``solve`` needs, and much closer than 1.
        """
        arg = (1.0 + self.c1 - target * self.p_norm) / self.c1
        return self.c2 * math.log(arg) if arg > 1.0 else 0.0

    def solve(self, target: float, x_start: float) -> float:
        """x where p(x) = target by Newton from ``x_start`` (with p(x_start) ≤ target)."""
        c1, c2, p_norm = self.c1, self.c2, self.p_norm
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


class PvModel:
    """A PV array behind a PVWatts string inverter; implements ``DeviceModel``.

    ``PvModel(nameplate, seed, clouds=True, site=None)``: ``seed`` seeds the cloud model;
    ``clouds=False`` keeps k = 1 (pure clear sky), useful for tests and demos; ``site`` is the
    ``SolarSite`` shared with the other devices of the site (a private one when omitted).

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

    def __init__(
        self,
        nameplate: PvNameplate | None = None,
        seed: int = 0,
        *,
        clouds: bool = True,
        site: SolarSite | None = None,
    ) -> None:
        np_ = PvNameplate() if nameplate is None else nameplate
        self.nameplate = np_
        self.rating: AcRating = np_.rating
        if site is None:
            site = SolarSite(np_.latitude_deg, np_.longitude_deg)
        self._site = site
        self._array_index = site.add_array(np_.geometry)
        self._clouds = CloudModel(seed) if clouds else None
        self._shape = _iv_shape(np_.v_mp_stc_v / np_.v_oc_stc_v)
        self._array_kw_per_w_m2 = np_.dc_rating_kw * (1.0 - np_.system_losses) / 1000.0
        self._inv_dc0_kw = np_.w_max_kw / np_.eta_inv_nom
        self._inv_k_dc0 = np_.eta_inv_nom / np_.eta_inv_ref * self._inv_dc0_kw
        self._n_s_delta_per_k = (
            np_.cells_in_series * _DIODE_FACTOR * _BOLTZMANN_J_K / _ELEMENTARY_CHARGE_C
        )
        self._cell_temp_c: float | None = None
        self._lag_dt_s = -1.0
        self._lag_keep = 0.0

    # ----------------------------------------------------------------------------------------
    def _voltages(self, g_w_m2: float, cell_temp_c: float) -> tuple[float, float]:
        """(V_mp, V_oc) of the string at an irradiance and cell temperature; 0 when dark."""
        if g_w_m2 <= 0.0:
            return 0.0, 0.0
        np_ = self.nameplate
        # ln(E/1000); written as ln E − ln 1000 only where E/1000 would underflow to 0.
        ln_g = math.log(g_w_m2 / 1000.0) if g_w_m2 > 1e-300 else math.log(g_w_m2) - _LN_1000
        v_mp = np_.v_mp_stc_v * (1.0 + np_.beta_vmp_per_c * (cell_temp_c - 25.0)) + (
            self._n_s_delta_per_k * (cell_temp_c + 273.15) * ln_g
        )
        v_mp = max(0.0, v_mp)
        return v_mp, v_mp / self._shape.v_ratio

    def _mpp_kw(self, g_w_m2: float, cell_temp_c: float) -> float:
        return max(
            0.0,
            g_w_m2
            * self._array_kw_per_w_m2
            * (1.0 + self.nameplate.gamma_pdc_per_c * (cell_temp_c - 25.0)),
        )

    def iv_curve(self, g_w_m2: float, cell_temp_c: float, points: int = 41) -> list[IvPoint]:
        """Sample the string's I-V curve from short circuit to open circuit.

        Half the samples (rounded down) lie evenly on [0, V_mp], the rest evenly on (V_mp, V_oc],
        so the knee is sampled densely; the MPP and V_oc are always samples. Power in watts.
        At zero irradiance the curve collapses to the single point (0, 0, 0).
        """
        g = min(_MAX_IRRADIANCE_W_M2, max(0.0, g_w_m2)) if g_w_m2 == g_w_m2 else 0.0
        v_mp, v_oc = self._voltages(g, cell_temp_c)
        p_mp_w = self._mpp_kw(g, cell_temp_c) * 1000.0
        if v_oc <= 0.0 or p_mp_w <= 0.0:
            return [IvPoint(0.0, 0.0, 0.0)]
        shape = self._shape
        i_sc = p_mp_w / (v_mp * shape.j_mp)
        n = max(3, points)
        n_left = max(2, n // 2)
        n_right = max(1, n - n_left)
        xs = [shape.v_ratio * k / (n_left - 1) for k in range(n_left)]
        xs += [shape.v_ratio + (1.0 - shape.v_ratio) * k / n_right for k in range(1, n_right + 1)]
        curve = []
        for x in xs:
            v = x * v_oc
            i = i_sc * shape.current_ratio(x)
            curve.append(IvPoint(v, i, v * i))
        return curve

    def _cell_temperature(self, steady_c: float, dt_s: float) -> float:
        tau = self.nameplate.thermal_time_constant_s
        previous = self._cell_temp_c
        if previous is None or tau <= 0.0:
            self._cell_temp_c = steady_c
            return steady_c
        if dt_s != self._lag_dt_s:
            self._lag_keep = math.exp(-dt_s / tau)
            self._lag_dt_s = dt_s
        temp = steady_c + (previous - steady_c) * self._lag_keep
        self._cell_temp_c = temp
        return temp

    def array_step(self, env: Environment, dt_s: float) -> PvArrayState:
        """Advance clouds and cell temperature by ``dt_s`` and return the array's DC state.

        Chain items 1-7 of the module docstring (no inverter): what ``step`` uses, public so
        that a model with its own inverter (the hybrid DC bus) can reuse the array.
        """
        np_ = self.nameplate
        if not dt_s > 0.0:
            dt_s = 0.0
        when = env.sim_time
        site = self._site
        zenith_deg, ghi_cs, omega_deg = site.sun(when)
        cos_z = math.cos(math.radians(zenith_deg))
        k_cloud = self._clouds.advance(dt_s) if self._clouds is not None else 1.0

        g_env = env.irradiance_w_m2
        ghi: float | None
        if g_env is None:
            clear = site.clear_sky(when, self._array_index)
            poa = clear.poa_global_w_m2 * k_cloud
            g = clear.effective_w_m2 * k_cloud
            ghi = ghi_cs * k_cloud
            k_report = k_cloud
        else:
            value = min(_MAX_IRRADIANCE_W_M2, g_env) if g_env > 0.0 else 0.0  # NaN → 0
            if env.irradiance_is_poa:
                poa = g = value
                ghi = None
                clear_poa = site.clear_sky(when, self._array_index).poa_global_w_m2
                k_report = value / clear_poa if clear_poa >= 10.0 else 0.0
            else:
                ghi = value
                received = site.from_ghi(when, value, self._array_index)
                poa = received.poa_global_w_m2
                g = received.effective_w_m2
                k_report = value / ghi_cs if ghi_cs >= 10.0 else 0.0

        t_air = env.ambient_temperature_c
        if t_air is None or t_air != t_air:  # None or NaN: diurnal model
            t_air = np_.ambient_mean_c + np_.ambient_amplitude_c * math.cos(
                math.radians(omega_deg - 45.0)
            )
        else:
            t_air = min(80.0, max(-80.0, t_air))
        wind = env.wind_speed_m_s
        if wind is None or wind != wind:
            wind = _DEFAULT_WIND_SPEED_M_S
        else:
            wind = min(60.0, max(0.0, wind))

        t_steady = (
            poa * math.exp(np_.sapm_a + np_.sapm_b * wind)
            + t_air
            + poa * 0.001 * np_.sapm_delta_t_c
        )
        t_cell = self._cell_temperature(t_steady, dt_s)

        p_mp_kw = self._mpp_kw(g, t_cell)
        v_mp, v_oc = self._voltages(g, t_cell)
        shape = self._shape

        # Best operating point inside the MPPT window.
        p_avail_kw = 0.0
        x_lo = x_hi = x_op = 0.0
        if p_mp_kw > 0.0 and v_oc > 0.0:
            x_lo = np_.mppt_v_min_v / v_oc
            x_hi = min(1.0, np_.mppt_v_max_v / v_oc)
            if x_lo < x_hi:
                x_op = min(x_hi, max(x_lo, shape.v_ratio))
                p_avail_kw = p_mp_kw * (1.0 if x_op == shape.v_ratio else shape.power_ratio(x_op))
        return PvArrayState(
            poa,
            t_air,
            t_cell,
            ghi_cs,
            k_report,
            cos_z,
            p_mp_kw,
            p_avail_kw,
            v_mp,
            v_oc,
            x_op,
            x_lo,
            x_hi,
            g,
            ghi,
        )

    def curtailed_voltage_v(self, array: PvArrayState, dc_kw: float) -> float:
        """String voltage at which the array delivers ``dc_kw`` ≤ the available power (item 9).

        On the high-voltage side of the MPP unless the MPPT window forbids it; the operating
        voltage of the best point when ``dc_kw`` is at or above ``array.available_kw``.
        """
        v_oc = array.open_circuit_voltage_v
        if dc_kw >= array.available_kw or array.mpp_kw <= 0.0:
            return array.operating_x * v_oc
        target = max(0.0, dc_kw) / array.mpp_kw
        return v_oc * self._off_mpp_x(
            target, array.operating_x, array.window_min_x, array.window_max_x
        )

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance by ``dt_s`` seconds and return the inverter's output (module docstring)."""
        np_ = self.nameplate
        (
            g,
            t_air,
            t_cell,
            ghi_cs,
            k_report,
            cos_z,
            p_mp_kw,
            p_avail_kw,
            v_mp,
            v_oc,
            x_op,
            x_lo,
            x_hi,
            effective,
            ghi,
        ) = self.array_step(env, dt_s)

        clipped = False
        state: InverterState
        if p_avail_kw < np_.start_threshold_kw:
            state = "sleeping"
            ac_kw = dc_kw = dc_current_a = 0.0
            dc_voltage_v = v_oc
        else:
            zeta = p_avail_kw / self._inv_dc0_kw
            ac_uncapped_kw = self._inv_k_dc0 * (_PVW_A * zeta * zeta + _PVW_C * zeta + _PVW_B)
            ac_avail_kw = min(ac_uncapped_kw, np_.w_max_kw)
            limit_pct = dispatch.active_power_limit_pct
            if not limit_pct <= 100.0:  # also NaN
                limit_pct = 100.0
            limit_kw = max(0.0, limit_pct) * 0.01 * np_.w_max_kw
            if limit_kw < ac_avail_kw - 1e-9:
                state = "throttled"
                ac_kw = limit_kw
            else:
                state = "running"
                ac_kw = max(0.0, ac_avail_kw)
                clipped = ac_uncapped_kw > np_.w_max_kw
            if ac_kw < ac_uncapped_kw - 1e-9:
                dc_kw = self._dc_for_ac_kw(ac_kw)
                dc_voltage_v = v_oc * self._off_mpp_x(dc_kw / p_mp_kw, x_op, x_lo, x_hi)
            else:
                dc_kw = p_avail_kw
                dc_voltage_v = x_op * v_oc
            dc_current_a = dc_kw * 1000.0 / dc_voltage_v if dc_voltage_v > 0.0 else 0.0

        return DeviceOutput(
            ac_power_kw=ac_kw,
            reactive_power_kvar=0.0,
            dc_power_kw=dc_kw,
            dc_voltage_v=dc_voltage_v,
            dc_current_a=dc_current_a,
            inverter_state=state,
            asset={
                "irradiance_w_m2": g,
                "effective_irradiance_w_m2": effective,
                "ghi_w_m2": ghi,
                "cell_temperature_c": t_cell,
                "ambient_temperature_c": t_air,
                "clear_sky_irradiance_w_m2": ghi_cs,
                "clear_sky_index": k_report,
                "solar_zenith_deg": math.degrees(math.acos(cos_z)),
                "dc_available_kw": p_avail_kw,
                "clipped": clipped,
                "dc_mpp_voltage_v": v_mp,
                "dc_open_circuit_voltage_v": v_oc,
            },
        )

    def _dc_for_ac_kw(self, ac_kw: float) -> float:
        """Invert the PVWatts curve: the DC power whose η·P_dc equals ``ac_kw`` (closed form)."""
        r = ac_kw / self._inv_k_dc0
        disc = _PVW_C * _PVW_C + 4.0 * _PVW_A * (r - _PVW_B)
        zeta = (-_PVW_C + math.sqrt(max(0.0, disc))) / (2.0 * _PVW_A)
        return zeta * self._inv_dc0_kw

    def _off_mpp_x(self, target: float, x_op: float, x_lo: float, x_hi: float) -> float:
        """Normalised voltage where the string delivers ``target``·P_mp, within [x_lo, x_hi]."""
        shape = self._shape
        if x_op >= shape.v_ratio and shape.power_ratio(x_hi) <= target:
            x_start = max(x_op, min(x_hi, shape.right_start(target)))
            return max(x_op, min(x_hi, shape.solve(target, x_start)))
        if shape.power_ratio(x_lo) <= target:
            return min(x_op, max(x_lo, shape.solve(target, x_lo)))
        # Unreachable inside the window (extremely narrow window): report the lower-power edge.
        return x_hi if shape.power_ratio(x_hi) <= shape.power_ratio(x_lo) else x_lo
