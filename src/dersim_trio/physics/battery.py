"""Battery energy storage (BESS): SoC bookkeeping, SoC-window limits, converter and pack voltage.

Sign conventions (SunSpec 701, as in ``base``): ``ac_power_kw`` > 0 discharges into the grid,
< 0 charges from it; ``dc_power_kw`` and ``dc_current_a`` > 0 flow out of the pack (discharge).
SoC and every SoC limit are in percent of the present capacity ``E = WHRtg·SoH/100`` (kWh).

Request. ``dispatch.active_power_setpoint_kw`` (+ discharge, − charge; ``None`` = idle) is capped
by the ratings (discharge ``min(WMaxRtg, VAMaxRtg)`` = 702 ``WDisChaRteMax``, charge
``min(WChaRteMax, VAMaxRtg)``; no reactive power is produced, so S = |P|) and, on the discharge
side only, by ``dispatch.active_power_limit_pct`` (704 ``WMaxLimPct``, clamped to 0-100 %).

SoC integration (OpenDER Eq. 3.6.1-4, ``src/opender/bess_specifc/soc.py``, EPRI report
3002025583 §3.6), applied, as in OpenDER, to the power at the AC terminals (the converter's outer
port)::

    SoC(k+1) = SoC(k) + 100·(η_rt·P_ch,ac − P_dis,ac)·Δt_h / E − k_sd·SoC(k)·Δt_h      [%]

* ``η_rt`` (``round_trip_efficiency_pct``) is the nameplate's round-trip efficiency AC to AC,
  applied on the charge side only, as OpenDER does (not √η_rt on both sides). It lumps every loss
  of the round trip, converter and pack. So SoC is referred to the AC terminals: E·SoC/100 is the
  energy the unit can still deliver there, and a harness reconciles SoC with metered AC energy
  exactly (ΔSoC·E/100 = η_rt·E_ac,abs − E_ac,inj − self-discharge).
* The converter's losses are visible on the DC side: ``dc_power_kw`` is the converter's DC-port
  power from the curve below (discharging P_dc = P_in with η(P_in)·P_in = P_ac, charging
  |P_dc| = η·|P_ac|), and the DC energy counters integrate it. These DC figures are what crossed
  the DC port; SoC does not follow them (OpenDER books the whole round-trip loss on charge, so
  per direction the DC and AC energies differ by the converter loss, not by the SoC change).
* ``k_sd`` is OpenDER's SoC-proportional self-discharge ``NP_BESS_SELF_DISCHARGE_SOC`` (1/h),
  here ``self_discharge_pct_per_month/100/730``; OpenDER's constant term is taken as 0. Self-
  discharge is physical: an idle pack parked at the reserve minimum drifts slowly below it
  (2 %/month at 10 % SoC is 2.7e-4 points per hour). SoC never goes below 0 (OpenDER Eq. 3.6.1-5).
* Δt_h = dt_s/3600. The reported powers are the step averages.

Operating window. The operator reserve [``soc_reserve_min_pct``, ``soc_reserve_max_pct``]
(802 ``SoCRsvMin``/``SocRsvMax``) must lie inside the nameplate usable range [``soc_min_pct``,
``soc_max_pct``] (802 ``SoCMin``/``SoCMax``). Two caps keep SoC inside the reserve window:

1. Taper (a P_max(SoC) table in the spirit of OpenDER ``NP_BESS_P_MAX_BY_SOC`` and the OpenEMS
   95 %→100 % linear charge taper), evaluated at the start-of-step SoC, with d the distance in
   SoC points to the limit being approached::

       d (points) :  ≤ 0                 taper_band_pct (5)    ≥ band
       P_max (pu) :  taper_floor (0.1)   1.0                   1.0     (linear in between)

   The floor makes the approach finite: a taper that reached 0 at the limit would approach it
   exponentially and never arrive. At or beyond the limit the energy cap below decides (it only
   lets a charging unit parked at SocRsvMax replace what self-discharge takes, as OpenDER's
   Eq. 3.6.2-2 does, so SoC holds exactly at the limit instead of dithering).
2. Energy cap for the step (OpenDER Eq. 3.6.2-2/3 at the AC terminals, self-discharge
   included), so that no step, however long, overshoots::

       P_ch,ac,max  = ((SoC_rsv,max − SoC) + k_sd·SoC·Δt_h)·E / (100·η_rt·Δt_h)
       P_dis,ac,max = ((SoC − SoC_rsv,min) − k_sd·SoC·Δt_h)·E / (100·Δt_h)

   When this cap binds the new SoC is set exactly to the limit (a 3600 s step lands on 90.0 %,
   it neither overshoots nor oscillates). The converter then runs at the power allowed by the
   request, rating and taper for the fraction P_ac,max/P_ac of the step and idles for the rest
   ("burst"); the reported step averages are that fraction of the running powers, so the
   converter efficiency stays the one at the running power, not at the tiny average.

"throttled" is reported when the taper, the energy cap or ``WMaxLimPct`` cuts the request;
capping at the nameplate rating is not throttling (state "running"). No request, or a zero
request, gives 0 W and "standby".

Converter (bidirectional inverter). The PVWatts inverter curve (``pvlib.inverter.pvwatts``,
physics reference B.1.6) is applied to the magnitude of the converter *input* power in each
direction (DC side when discharging, AC side when charging)::

    ζ = P_in/P_0,   P_0 = P_rated/η_nom,   η(ζ) = (η_nom/η_ref)·(−0.0162·ζ − 0.0059/ζ + 0.9858)
    P_out = max(0, η(ζ)·P_in)                 (η_nom = 0.96, η_ref = 0.9637)

so discharging P_ac = η·P_dc and charging |P_dc| = η·|P_ac|. η·ζ is a quadratic in ζ, so the
inverse (P_in from P_out) is closed form (smaller root). The 0.0059 term is a no-load loss of
about 0.6 % of rating; at zero request the converter idles off (0 W both sides, η irrelevant).
Computed: η = 86.4 % at 5 % load, 94.9 % at 20 %, 96.2 % at 50 %, 96.0 % at 100 %.

Pack voltage and current. The pack sits directly on the inverter's DC link, so it must be a
high-voltage pack the inverter can work from: a two-level bridge cannot synthesize more than its
DC voltage, so the link needs at least the peak of the AC voltage it drives, V_dc,min = √2·V_AC
(V_AC line-to-line for three-phase, 679 V at 480 V, space-vector modulation; the leg-to-leg 240 V
for split-phase, 339 V; the line voltage for single-phase, 325 V at 230 V). Unless
``cells_in_series`` is given, the pack has the fewest cells in series whose open-circuit voltage
at the usable minimum SoC (802 ``SoCMin``) reaches V_dc,min: the default 10 kW / 15 kWh NMC unit
at 480 V has 206 cells, 680-865 V between 5 and 100 % SoC (commercial three-phase storage racks
run at 600-1000 V). One string of cells sized to the energy
(C_cell = E/(N_s·N_p·OCV(50 %)), Ah) unless ``strings_in_parallel`` says otherwise; the pack
resistance, unless ``pack_resistance_ohm`` is given, is N_s·R_cell/N_p with R_cell = 2 mΩ at
30 Ah scaled inversely with the cell's capacity (a typical DC resistance of NMC cells, from
memory)::

    V_oc = N_s·OCV(SoC)          V_dc = V_oc − I·R_pack          P_dc = V_dc·I
    ⇒ R·I² − V_oc·I + P_dc = 0   ⇒ I = 2·P_dc / (V_oc + √(V_oc² − 4·R·P_dc))

(the root that tends to P/V_oc as R → 0; valid for both signs, I < 0 when charging, so V_dc
drops under discharge and rises under charge; the discriminant is floored at 0, which only
matters beyond the pack's maximum power V_oc²/4R).

OCV(SoC) per cell, piecewise linear (representative curves shaped after the NMC/LFP figure at
https://ansh-bohrey.github.io/EV-blog/assets/battery/ocv-soc-curves.html: NMC slopes 3.0→4.2 V,
flatter in 40-60 %; LFP plateau 3.27-3.32 V for 20-80 %, ends 2.5 V and 3.65 V; intermediate
points are representative, not from a specific datasheet)::

    SoC %   0     5     10    20    30    40    50    60    70    80    90    95    100
    NMC    3.00  3.30  3.45  3.56  3.62  3.66  3.70  3.78  3.86  3.95  4.06  4.13  4.20
    LFP    2.50  3.00  3.20  3.27  3.28  3.29  3.30  3.305 3.31  3.32  3.35  3.40  3.65

A seeded cell-to-cell OCV spread (Gaussian, σ = ``cell_voltage_spread_mv``, drawn once per model
over all N_s·N_p cells) gives 802-style minimum and maximum cell voltages.

Energies (713 ``WHAvail`` is implementation-defined; we define it):
``energy_available_kwh = WHRtg·SoH/100·max(0, SoC − SoCRsvMin)/100``, the energy the unit can
still deliver at its AC terminals, and ``energy_to_full_kwh = WHRtg·SoH/100·max(0, SocRsvMax −
SoC)/100``, in the same AC-referred units (the AC energy to absorb is that divided by η_rt).

Fleet and devices (``base.ArrayFleet``/``ArrayMember``). ``BatteryFleet`` holds every battery of
a run: a float64 parameter table (one row per device: the ratings, P_0 and η_nom, η_rt, E, k_sd,
the taper band and floor, N_s, R_pack, the chemistry's row of the OCV table and the seeded cell
offsets) and a float64 state table (SoC, SoCRsvMin, SocRsvMax, the two DC energy counters).
``step_rows`` runs one compiled loop over the rows it is given, each row with the scalar
arithmetic above, and builds their ``DeviceOutput``s. A ``BatteryModel`` is a view of one row:
``BatteryModel(nameplate, seed)`` builds a fleet of one, ``BatteryFleet.members()`` gives the
views of a larger fleet, and ``step``, ``advance`` and ``power_limits_kw`` run the same loop on
that row alone, so a device gives the same bits however it is stepped.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from dersim_trio.physics.ac import AcType, ll_from_ln, nominal_voltage_ln_v
from dersim_trio.physics.base import (
    AcRating,
    ArrayFleet,
    AssetLayout,
    AssetTable,
    AssetValue,
    DeviceOutput,
    Dispatch,
    Environment,
    FleetRow,
    FleetStep,
    InverterState,
    StorageRating,
    row_index,
)

Chemistry = Literal["NMC", "LFP"]
FloatArray = npt.NDArray[np.float64]

_OCV_SOC_PCT: tuple[float, ...] = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
_OCV_CELL_V: dict[Chemistry, tuple[float, ...]] = {
    "NMC": (3.00, 3.30, 3.45, 3.56, 3.62, 3.66, 3.70, 3.78, 3.86, 3.95, 4.06, 4.13, 4.20),
    "LFP": (2.50, 3.00, 3.20, 3.27, 3.28, 3.29, 3.30, 3.305, 3.31, 3.32, 3.35, 3.40, 3.65),
}

# PVWatts inverter curve (pvlib.inverter.pvwatts): η·ζ = c·(−A·ζ² + B·ζ − D), c = η_nom/η_ref.
_PVWATTS_ETA_REF = 0.9637
_PVWATTS_A = 0.0162
_PVWATTS_B = 0.9858
_PVWATTS_D = 0.0059
_HOURS_PER_MONTH = 730.0
CELL_RESISTANCE_REF_OHM = 0.002
"""DC resistance of a reference 30 Ah NMC cell, Ω (typical, from memory)."""
CELL_CAPACITY_REF_AH = 30.0
_EPS_KW = 1e-9


# The reference formulas below are compiled (numba, see the fleet section): plain Python
# calls them as functions, and the fleet's loop calls the same machine code for every row. A
# ``max(0.0, x)`` is written out as the comparison Python's ``max`` makes (``x`` only when
# ``x > 0.0``), so compiled and interpreted give the same bits, signs of zero included.
_CHEMISTRIES: tuple[Chemistry, ...] = tuple(_OCV_CELL_V)
_OCV_GRID_PCT = np.array(_OCV_SOC_PCT, dtype=np.float64)
_OCV_TABLE_V = np.array([_OCV_CELL_V[c] for c in _CHEMISTRIES], dtype=np.float64)
_PVWATTS_Z_MAX = _PVWATTS_B / (2.0 * _PVWATTS_A)


@njit(cache=True)
def _cell_ocv(grid: FloatArray, volts: FloatArray, soc_pct: float) -> float:
    """Piecewise-linear OCV on one chemistry's row of the table, ``soc_pct`` within 0-100 %."""
    last = grid.shape[0] - 1
    i = 0
    while i <= last and grid[i] <= soc_pct:  # bisect_right
        i += 1
    if i > last:
        i = last
    s0 = grid[i - 1]
    v0 = volts[i - 1]
    return float(v0 + (volts[i] - v0) * (soc_pct - s0) / (grid[i] - s0))


def cell_ocv_v(chemistry: Chemistry, soc_pct: float) -> float:
    """Open-circuit voltage (V) of one cell at ``soc_pct`` (clamped to 0-100 %), table above."""
    soc = min(100.0, max(0.0, soc_pct))
    return _cell_ocv(_OCV_GRID_PCT, _OCV_TABLE_V[_CHEMISTRIES.index(chemistry)], float(soc))


def converter_efficiency(load_fraction: float, eta_nom: float = 0.96) -> float:
    """PVWatts efficiency η(ζ) at input load fraction ζ = P_in/P_0 (0 at ζ ≤ 0, floored at 0)."""
    if load_fraction <= 0.0:
        return 0.0
    c = eta_nom / _PVWATTS_ETA_REF
    eta = c * (-_PVWATTS_A * load_fraction - _PVWATTS_D / load_fraction + _PVWATTS_B)
    return max(0.0, eta)


@njit(cache=True)
def converter_output_kw(input_kw: float, p0_kw: float, eta_nom: float = 0.96) -> float:
    """Converter output magnitude (kW) for an input magnitude ``input_kw`` ≥ 0 (PVWatts curve)."""
    if input_kw <= 0.0:
        return 0.0
    # Beyond the parabola's vertex (ζ ≈ 30) the fit would fall again: hold it flat there.
    z = input_kw / p0_kw
    if z > _PVWATTS_Z_MAX:
        z = _PVWATTS_Z_MAX
    c = eta_nom / _PVWATTS_ETA_REF
    output_kw = p0_kw * c * ((-_PVWATTS_A * z + _PVWATTS_B) * z - _PVWATTS_D)
    return output_kw if output_kw > 0.0 else 0.0


@njit(cache=True)
def converter_input_kw(output_kw: float, p0_kw: float, eta_nom: float = 0.96) -> float:
    """Converter input magnitude (kW) needed for ``output_kw`` ≥ 0: inverse of the PVWatts curve.

    Solves c·(A·ζ² − B·ζ + D) + y = 0 for the smaller root, written in the cancellation-free
    form ζ = 2(cD + y)/(cB + √((cB)² − 4·cA·(cD + y))), y = P_out/P_0. Zero output → zero input.
    """
    if output_kw <= 0.0:
        return 0.0
    c = eta_nom / _PVWATTS_ETA_REF
    y = output_kw / p0_kw
    a = c * _PVWATTS_A
    b = c * _PVWATTS_B
    k = c * _PVWATTS_D + y
    disc = b * b - 4.0 * a * k
    if not disc > 0.0:  # max(0.0, disc)
        disc = 0.0
    return p0_kw * 2.0 * k / (b + math.sqrt(disc))


@dataclass(frozen=True, slots=True)
class BatteryNameplate:
    """Static ratings of a BESS (defaults: the DERSim documented 10 kW / 15 kWh NMC unit).

    Power ratings map to SunSpec 702 (``WMaxRtg`` = ``WDisChaRteMax``, ``WChaRteMax``,
    ``VAMaxRtg``, ``VarMaxInjRtg``/``VarMaxAbsRtg``), energy to 713 ``WHRtg``, SoC limits to 802.
    """

    ac_type: AcType = "three"
    w_max_kw: float = 10.0
    """Discharge (and ``WMaxRtg``) rating, kW (702 ``WDisChaRteMax``)."""
    w_charge_max_kw: float = 10.0
    """Charge rating, kW (702 ``WChaRteMax``)."""
    va_max_kva: float = 10.0
    var_max_inj_kvar: float = 4.4
    var_max_abs_kvar: float = 4.4
    energy_kwh: float = 15.0
    """Rated energy ``WHRtg``, kWh."""
    initial_soc_pct: float = 50.0
    chemistry: Chemistry = "NMC"
    state_of_health_pct: float = 100.0
    soc_min_pct: float = 5.0
    """Nameplate usable minimum (802 ``SoCMin``)."""
    soc_max_pct: float = 95.0
    """Nameplate usable maximum (802 ``SoCMax``)."""
    soc_reserve_min_pct: float = 10.0
    """Operator reserve minimum (802 ``SoCRsvMin``): discharge stops here."""
    soc_reserve_max_pct: float = 90.0
    """Operator reserve maximum (802 ``SocRsvMax``): charge stops here."""
    round_trip_efficiency_pct: float = 95.0
    """Round-trip efficiency AC to AC, applied on the charge side (OpenDER ``NP_EFFICIENCY``)."""
    converter_efficiency_nom_pct: float = 96.0
    """PVWatts ``eta_inv_nom`` of the bidirectional converter."""
    self_discharge_pct_per_month: float = 2.0
    """SoC-proportional self-discharge (typical Li-ion 1-3 %/month, from memory)."""
    ac_voltage_v: float | None = None
    """Nominal AC voltage the converter drives (line-to-line for three-phase, leg-to-leg for
    split-phase), V; None: the ``physics/ac.py`` default of ``ac_type`` (702 ``VNom``)."""
    cells_in_series: int | None = None
    """Cells in series per string; None: sized for the DC link (module docstring)."""
    strings_in_parallel: int = 1
    pack_resistance_ohm: float | None = None
    """Pack DC resistance, Ω; None: N_s·R_cell/N_p with R_cell from the cell size."""
    taper_band_pct: float = 5.0
    """Width of the linear power taper before each reserve limit, SoC points."""
    taper_floor_pct: float = 10.0
    """Power allowed (percent of rating) just before a reserve limit."""
    cell_voltage_spread_mv: float = 3.0
    """Standard deviation of the seeded cell-to-cell OCV offset, mV."""

    def __post_init__(self) -> None:
        """Reject inconsistent ratings and limits with a message naming the field."""
        positive = {
            "w_max_kw": self.w_max_kw,
            "w_charge_max_kw": self.w_charge_max_kw,
            "va_max_kva": self.va_max_kva,
            "energy_kwh": self.energy_kwh,
            "state_of_health_pct": self.state_of_health_pct,
            "round_trip_efficiency_pct": self.round_trip_efficiency_pct,
            "converter_efficiency_nom_pct": self.converter_efficiency_nom_pct,
            "taper_band_pct": self.taper_band_pct,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.chemistry not in _OCV_CELL_V:
            raise ValueError(f"chemistry must be one of {sorted(_OCV_CELL_V)}")
        for name, value in {
            "state_of_health_pct": self.state_of_health_pct,
            "round_trip_efficiency_pct": self.round_trip_efficiency_pct,
            "converter_efficiency_nom_pct": self.converter_efficiency_nom_pct,
            "initial_soc_pct": self.initial_soc_pct,
            "taper_floor_pct": self.taper_floor_pct,
        }.items():
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"{name} must be within 0-100 %, got {value!r}")
        if (self.cells_in_series is not None and self.cells_in_series < 1) or (
            self.strings_in_parallel < 1
        ):
            raise ValueError("cells_in_series and strings_in_parallel must be at least 1")
        resistance = 0.0 if self.pack_resistance_ohm is None else self.pack_resistance_ohm
        if not (resistance >= 0.0 and self.self_discharge_pct_per_month >= 0.0):
            raise ValueError("pack_resistance_ohm and self_discharge_pct_per_month must be >= 0")
        if self.ac_voltage_v is not None and not (
            math.isfinite(self.ac_voltage_v) and self.ac_voltage_v > 0.0
        ):
            raise ValueError(f"ac_voltage_v must be a positive number, got {self.ac_voltage_v!r}")
        if not self.cell_voltage_spread_mv >= 0.0:
            raise ValueError("cell_voltage_spread_mv must be >= 0")
        check_soc_window(
            self.soc_min_pct, self.soc_max_pct, self.soc_reserve_min_pct, self.soc_reserve_max_pct
        )

    @property
    def storage_rating(self) -> StorageRating:
        """These ratings as a protocol reports them (``RatedStorage``)."""
        return StorageRating(
            energy_kwh=self.energy_kwh,
            w_charge_max_kw=self.w_charge_max_kw,
            w_discharge_max_kw=self.w_max_kw,
            chemistry=self.chemistry,
            state_of_health_pct=self.state_of_health_pct,
            soc_min_pct=self.soc_min_pct,
            soc_max_pct=self.soc_max_pct,
        )

    @property
    def dc_link_min_v(self) -> float:
        """Least DC voltage the converter needs: the peak of the AC voltage it drives, V."""
        v_ac = self.ac_voltage_v
        if v_ac is None:
            v_ac = ll_from_ln(self.ac_type, nominal_voltage_ln_v(self.ac_type))
        return math.sqrt(2.0) * v_ac

    @property
    def series_cells(self) -> int:
        """Cells in series: ``cells_in_series``, or the fewest whose OCV at SoCMin reaches
        ``dc_link_min_v`` (module docstring)."""
        if self.cells_in_series is not None:
            return self.cells_in_series
        return math.ceil(self.dc_link_min_v / cell_ocv_v(self.chemistry, self.soc_min_pct) - 1e-9)

    @property
    def cell_capacity_ah(self) -> float:
        """Capacity of one cell, Ah: the rated energy over the cells at their 50 % OCV."""
        cells = self.series_cells * self.strings_in_parallel
        return self.energy_kwh * 1000.0 / (cells * cell_ocv_v(self.chemistry, 50.0))

    @property
    def pack_resistance(self) -> float:
        """Pack DC resistance, Ω: ``pack_resistance_ohm`` or N_s·R_cell/N_p (module docstring)."""
        if self.pack_resistance_ohm is not None:
            return self.pack_resistance_ohm
        r_cell = CELL_RESISTANCE_REF_OHM * CELL_CAPACITY_REF_AH / self.cell_capacity_ah
        return self.series_cells * r_cell / self.strings_in_parallel


def check_soc_window(
    soc_min_pct: float, soc_max_pct: float, soc_reserve_min_pct: float, soc_reserve_max_pct: float
) -> None:
    """Raise ``ValueError`` unless 0 ≤ SoCMin ≤ SoCRsvMin < SocRsvMax ≤ SoCMax ≤ 100."""
    if not (
        0.0 <= soc_min_pct <= soc_reserve_min_pct < soc_reserve_max_pct <= soc_max_pct <= 100.0
    ):
        raise ValueError(
            "SoC limits must satisfy 0 <= soc_min <= soc_reserve_min < soc_reserve_max"
            f" <= soc_max <= 100, got {soc_min_pct}, {soc_reserve_min_pct},"
            f" {soc_reserve_max_pct}, {soc_max_pct}"
        )


class BatteryStep(NamedTuple):
    """One step of the pack behind its converter (``BatteryModel.advance``), step averages."""

    outer_power_kw: float
    """Converter outer-port power (AC for a BESS, the DC bus for a hybrid), + discharging."""
    pack_power_kw: float
    """Pack terminal power, + discharging."""
    soc_pct: float
    """SoC at the end of the step."""
    pack_voltage_v: float
    pack_current_a: float
    """Pack current, + discharging."""
    pack_ocv_v: float
    throttled: bool
    """The taper, energy cap or ``WMaxLimPct`` cut the request (see the module docstring)."""
    message: str | None


# --- the fleet: one row of a float64 table per device, stepped by a compiled loop --------------
#
# Every device's parameters are a row of one float64 table and its state a row of another
# (columns below). The step is a loop over the rows to step, each row computed with the scalar
# arithmetic of the module docstring, operation for operation as the plain-Python model this
# replaced computed it, compiled once by numba (``cache=True``: the machine code is kept beside
# the module). Each ``min``/``max`` is written out as the comparison Python's makes (``min(a,
# b)`` is ``a`` unless ``b < a``), so the outputs are the same bits, signs of zero included
# (compared over 16 million values of random nameplates, requests, limits and step lengths).
# Why not numpy array expressions: they cost about 1 µs an operation at any length, and a step
# has about a hundred, so a device alone (a fleet of one, the hybrid's battery port) took 74 µs
# a step against about 4 µs for the plain-Python model; compiled it takes 4.0 µs, and a fleet of
# 10,000 1.9 µs a device, most of it building the ``DeviceOutput`` objects
# (``scripts/bench_battery_step.py``).


(
    _P_DIS_KW,
    _P_CH_KW,
    _P0_KW,
    _ETA_NOM,
    _ETA_RT,
    _CAPACITY_KWH,
    _K_SD_PER_H,
    _BAND_PCT,
    _FLOOR_PU,
    _N_SERIES,
    _R_PACK_OHM,
    _OCV_ROW,
    _CELL_OFFSET_MIN_V,
    _CELL_OFFSET_MAX_V,
    _PARAMETERS,
) = range(15)

# State columns.
_SOC, _RSV_MIN, _RSV_MAX, _DC_INJ, _DC_ABS, _STATES = range(6)

# Output columns of the step kernel (one row per stepped device).
(
    _O_AC,
    _O_DC,
    _O_SOC,
    _O_V_DC,
    _O_I_DC,
    _O_V_OC,
    _O_THROTTLED,
    _O_MESSAGE,
    _O_LIMIT,
    _O_RSV_MIN,
    _O_RSV_MAX,
    _O_CELL_V,
    _O_CELL_MIN_V,
    _O_CELL_MAX_V,
    _O_ETA,
    _O_AVAILABLE,
    _O_TO_FULL,
    _O_MAX_CH,
    _O_MAX_DIS,
    _O_DC_INJ,
    _O_DC_ABS,
    _OUTPUTS,
) = range(22)

_ASSET_LAYOUT = AssetLayout(
    (
        ("chemistry", "row", -1),
        ("state_of_health_pct", "row", -1),
        ("energy_available_kwh", "float", _O_AVAILABLE),
        ("energy_to_full_kwh", "float", _O_TO_FULL),
        ("cell_voltage_v", "float", _O_CELL_V),
        ("cell_voltage_min_v", "float", _O_CELL_MIN_V),
        ("cell_voltage_max_v", "float", _O_CELL_MAX_V),
        ("pack_ocv_v", "float", _O_V_OC),
        ("converter_efficiency_pct", "float", _O_ETA),
        ("max_charge_kw", "float", _O_MAX_CH),
        ("max_discharge_kw", "float", _O_MAX_DIS),
        ("dc_energy_injected_kwh", "float", _O_DC_INJ),
        ("dc_energy_absorbed_kwh", "float", _O_DC_ABS),
    )
)
"""A step's ``DeviceOutput.asset``: an ``AssetTable`` over the kernel's output columns, the
nameplates' chemistry and state of health per row."""

assert (_O_MESSAGE, _O_RSV_MIN, _O_RSV_MAX, _O_DC_ABS, _OUTPUTS) == (7, 9, 10, 20, 21)  # _message

_STEP_STATES: tuple[InverterState, ...] = ("throttled", "running", "standby")
"""The inverter states a step reports, by the code ``step_columns`` gives them."""

# Message codes of the kernel (``_O_MESSAGE``).
(
    _MSG_NONE,
    _MSG_DISCHARGE_LIMITED,
    _MSG_DISCHARGE_TAPERED,
    _MSG_CHARGE_LIMITED,
    _MSG_CHARGE_TAPERED,
    _MSG_WMAXLIMPCT,
) = range(6)

_MESSAGE_CACHE_SIZE = 1024
"""Distinct (SoCRsvMin, SocRsvMax) pairs whose messages a fleet keeps formatted."""


@njit(cache=True)
def _taper_pu(distance_pct: float, band_pct: float, floor_pu: float) -> float:
    """The taper table of the module docstring at ``distance_pct`` SoC points, per unit."""
    if distance_pct >= band_pct:
        return 1.0
    if distance_pct <= 0.0:
        return floor_pu
    return floor_pu + (1.0 - floor_pu) * distance_pct / band_pct


@njit(cache=True)
def _limits_kernel(
    rows: npt.NDArray[np.intp], params: FloatArray, state: FloatArray, dt_s: float, out: FloatArray
) -> None:
    """``BatteryModel.power_limits_kw`` of ``rows``: out[k] = (max discharge, max charge)."""
    dt_h = dt_s / 3600.0 if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
    for k in range(rows.shape[0]):
        prm = params[rows[k]]
        st = state[rows[k]]
        soc = st[_SOC]
        rsv_min = st[_RSV_MIN]
        rsv_max = st[_RSV_MAX]
        band, floor = prm[_BAND_PCT], prm[_FLOOR_PU]
        dis_kw = prm[_P_DIS_KW] * _taper_pu(soc - rsv_min, band, floor)
        ch_kw = prm[_P_CH_KW] * _taper_pu(rsv_max - soc, band, floor)
        if dt_h > 0.0:
            capacity = prm[_CAPACITY_KWH]
            sd_pct = prm[_K_SD_PER_H] * soc * dt_h
            dis_cap = (soc - rsv_min - sd_pct) * capacity / (100.0 * dt_h)
            if dis_cap < dis_kw:
                dis_kw = dis_cap
            dis_kw = dis_kw if dis_kw > 0.0 else 0.0
            ch_cap = (rsv_max - soc + sd_pct) * capacity / (100.0 * prm[_ETA_RT] * dt_h)
            if ch_cap < ch_kw:
                ch_kw = ch_cap
            ch_kw = ch_kw if ch_kw > 0.0 else 0.0
        out[k, 0] = dis_kw
        out[k, 1] = ch_kw


@njit(cache=True)
def _step_kernel(
    rows: npt.NDArray[np.intp],
    params: FloatArray,
    state: FloatArray,
    grid: FloatArray,
    ocv_table: FloatArray,
    request_kw: FloatArray,
    limit_pct: FloatArray,
    dt_s: float,
    out: FloatArray,
) -> None:
    """Advance ``rows`` by ``dt_s`` (module docstring); row k's results in out[k].

    ``request_kw[k]`` is row k's setpoint (non-finite: no request), ``limit_pct[k]`` its
    WMaxLimPct (non-finite: 100 %, else clamped to 0-100 %). Updates SoC and the DC counters.
    """
    dt_h = dt_s / 3600.0 if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
    for k in range(rows.shape[0]):
        r = rows[k]
        prm = params[r]
        st = state[r]
        o = out[k]
        request = request_kw[k]
        if not math.isfinite(request):
            request = 0.0
        limit = limit_pct[k]
        if math.isfinite(limit):  # min(100.0, max(0.0, limit))
            limit = limit if limit > 0.0 else 0.0
            limit = limit if limit < 100.0 else 100.0
        else:
            limit = 100.0
        soc = st[_SOC]
        rsv_min = st[_RSV_MIN]
        rsv_max = st[_RSV_MAX]
        p_dis_rated = prm[_P_DIS_KW]
        p_ch_rated = prm[_P_CH_KW]
        p0_kw = prm[_P0_KW]
        eta_nom = prm[_ETA_NOM]
        capacity = prm[_CAPACITY_KWH]
        band, floor = prm[_BAND_PCT], prm[_FLOOR_PU]
        sd_pct = prm[_K_SD_PER_H] * soc * dt_h  # self-discharge over the step, SoC points
        p_ac = 0.0
        p_dc = 0.0
        message = _MSG_NONE
        throttled = False
        at_limit = False
        if request > _EPS_KW:
            target = p_dis_rated if p_dis_rated < request else request
            pct_cap = p_dis_rated * limit / 100.0
            soc_cap = p_dis_rated * _taper_pu(soc - rsv_min, band, floor)
            p_ac = target  # min(target, pct_cap, soc_cap)
            if pct_cap < p_ac:
                p_ac = pct_cap
            if soc_cap < p_ac:
                p_ac = soc_cap
            p_dc = converter_input_kw(p_ac, p0_kw, eta_nom)
            if dt_h > 0.0:
                ac_cap = (soc - rsv_min - sd_pct) * capacity / (100.0 * dt_h)
                if ac_cap <= 0.0:
                    at_limit = True
                    p_ac = 0.0
                    p_dc = 0.0
                elif ac_cap < p_ac:  # burst: run at p_ac for the fraction of the step left
                    at_limit = True
                    p_dc *= ac_cap / p_ac
                    p_ac = ac_cap
            if p_ac < target - _EPS_KW:
                throttled = True
                if at_limit or soc_cap < pct_cap:
                    message = (
                        _MSG_DISCHARGE_LIMITED
                        if at_limit or soc_cap == 0.0
                        else _MSG_DISCHARGE_TAPERED
                    )
                else:
                    message = _MSG_WMAXLIMPCT
        elif request < -_EPS_KW:
            target = p_ch_rated if p_ch_rated < -request else -request
            soc_cap = p_ch_rated * _taper_pu(rsv_max - soc, band, floor)
            charge = soc_cap if soc_cap < target else target
            stored = converter_output_kw(charge, p0_kw, eta_nom)
            if dt_h > 0.0:
                ac_cap = (rsv_max - soc + sd_pct) * capacity / (100.0 * prm[_ETA_RT] * dt_h)
                if ac_cap <= 0.0:
                    at_limit = True
                    charge = 0.0
                    stored = 0.0
                elif ac_cap < charge:  # burst, as for discharging
                    at_limit = True
                    stored *= ac_cap / charge
                    charge = ac_cap
            p_ac = 0.0 - charge
            p_dc = 0.0 - stored
            if charge < target - _EPS_KW:
                throttled = True
                message = _MSG_CHARGE_LIMITED if at_limit or soc_cap == 0.0 else _MSG_CHARGE_TAPERED

        # OpenDER Eq. 3.6.1-4 at the AC terminals, η_rt on the charge side only.
        if p_ac >= 0.0:
            delta_pct = -p_ac * dt_h * 100.0 / capacity
            st[_DC_INJ] += p_dc * dt_h
        else:
            delta_pct = -p_ac * prm[_ETA_RT] * dt_h * 100.0 / capacity
            st[_DC_ABS] -= p_dc * dt_h
        new_soc = soc + delta_pct - sd_pct
        if p_ac > 0.0 and (at_limit or new_soc < rsv_min):
            new_soc = rsv_min
        elif p_ac < 0.0 and (at_limit or new_soc > rsv_max):
            new_soc = rsv_max
        new_soc = new_soc if new_soc > 0.0 else 0.0  # min(100.0, max(0.0, new_soc))
        new_soc = new_soc if new_soc < 100.0 else 100.0
        st[_SOC] = new_soc

        n_series = prm[_N_SERIES]
        r_pack = prm[_R_PACK_OHM]
        v_oc = n_series * _cell_ocv(grid, ocv_table[int(prm[_OCV_ROW])], new_soc)
        p_dc_w = p_dc * 1000.0
        disc = v_oc * v_oc - 4.0 * r_pack * p_dc_w
        if not disc > 0.0:
            disc = 0.0
        denom = v_oc + math.sqrt(disc)
        current = 2.0 * p_dc_w / denom if denom > 0.0 else 0.0
        v_dc = v_oc - current * r_pack
        cell_v = v_dc / n_series

        if p_ac == 0.0 and not throttled:
            eta_pct = 0.0
        elif p_ac > 0.0 and p_dc > 0.0:
            eta_pct = 100.0 * p_ac / p_dc
        elif p_ac < 0.0:
            eta_pct = 100.0 * p_dc / p_ac
        else:
            eta_pct = 0.0
        above_min = new_soc - rsv_min
        below_max = rsv_max - new_soc
        o[_O_AC] = p_ac
        o[_O_DC] = p_dc
        o[_O_SOC] = new_soc
        o[_O_V_DC] = v_dc
        o[_O_I_DC] = current
        o[_O_V_OC] = v_oc
        o[_O_THROTTLED] = 1.0 if throttled else 0.0
        o[_O_MESSAGE] = message
        o[_O_LIMIT] = limit
        o[_O_RSV_MIN] = rsv_min
        o[_O_RSV_MAX] = rsv_max
        o[_O_CELL_V] = cell_v
        o[_O_CELL_MIN_V] = cell_v + prm[_CELL_OFFSET_MIN_V]
        o[_O_CELL_MAX_V] = cell_v + prm[_CELL_OFFSET_MAX_V]
        o[_O_ETA] = eta_pct
        o[_O_AVAILABLE] = capacity * (above_min if above_min > 0.0 else 0.0) / 100.0
        o[_O_TO_FULL] = capacity * (below_max if below_max > 0.0 else 0.0) / 100.0
        o[_O_MAX_CH] = p_ch_rated * _taper_pu(below_max, band, floor)
        o[_O_MAX_DIS] = p_dis_rated * _taper_pu(above_min, band, floor)
        o[_O_DC_INJ] = st[_DC_INJ]
        o[_O_DC_ABS] = st[_DC_ABS]


class BatteryFleet(ArrayFleet):
    """Every BESS of a fleet, one row of float64 tables per device (``ArrayFleet``).

    Built from one nameplate and one seed per device; row ``i`` is ``nameplates[i]``, its
    cell-to-cell spread drawn from ``random.Random(seeds[i])`` exactly as a lone device draws
    it. ``members()`` are the devices (``BatteryModel`` views of one row each); ``step_rows``
    steps any set of rows at once with the module docstring's equations.
    """

    def __init__(self, nameplates: Sequence[BatteryNameplate], seeds: Sequence[int]) -> None:
        """Lay out the nameplates' parameters and initial state as rows (module docstring)."""
        if len(nameplates) != len(seeds):
            raise ValueError(
                f"one seed per nameplate: {len(nameplates)} nameplates, {len(seeds)} seeds"
            )
        plates = tuple(nameplates)
        self.nameplates: tuple[BatteryNameplate, ...] = plates
        """Row ``i``'s nameplate."""
        self._members: list[BatteryModel] | None = None
        self._messages: dict[tuple[float, float, float], tuple[str, str, str, str]] = {}
        self._params = np.empty((len(plates), _PARAMETERS))
        self._state = np.zeros((len(plates), _STATES))
        self._all_rows = np.arange(len(plates), dtype=np.intp)
        self._soc_limits = np.array(
            [(p.soc_min_pct, p.soc_max_pct) for p in plates], dtype=np.float64
        ).reshape(len(plates), 2)
        """Per row: the nameplate's usable SoC range (``StorageReport.soc_min_pct``, ``_max``)."""
        self._nameplate_values: dict[str, Sequence[AssetValue]] = {
            "chemistry": [p.chemistry for p in plates],
            "state_of_health_pct": [float(p.state_of_health_pct) for p in plates],
        }
        """The asset's values from the nameplates, per row."""
        # The derived ratings as BatteryModel has always computed them, one plate at a time.
        for row, (plate, seed) in enumerate(zip(plates, seeds, strict=True)):
            p_dis_kw = min(plate.w_max_kw, plate.va_max_kva)
            p_ch_kw = min(plate.w_charge_max_kw, plate.va_max_kva)
            eta_nom = plate.converter_efficiency_nom_pct / 100.0
            offset_min_v, offset_max_v = _cell_offsets_v(plate, seed)
            self._params[row] = (
                p_dis_kw,
                p_ch_kw,
                max(p_dis_kw, p_ch_kw) / eta_nom,
                eta_nom,
                plate.round_trip_efficiency_pct / 100.0,
                plate.energy_kwh * plate.state_of_health_pct / 100.0,
                plate.self_discharge_pct_per_month / 100.0 / _HOURS_PER_MONTH,
                plate.taper_band_pct,
                plate.taper_floor_pct / 100.0,
                float(plate.series_cells),
                plate.pack_resistance,
                _CHEMISTRIES.index(plate.chemistry),
                offset_min_v,
                offset_max_v,
            )
            self._state[row, _SOC] = plate.initial_soc_pct
            self._state[row, _RSV_MIN] = plate.soc_reserve_min_pct
            self._state[row, _RSV_MAX] = plate.soc_reserve_max_pct

    def __len__(self) -> int:
        """The number of devices (rows)."""
        return len(self.nameplates)

    def members(self) -> list[BatteryModel]:
        """The devices, ``members()[i]`` the view of row ``i`` (the same objects each call)."""
        if self._members is None:
            self._members = [BatteryModel.view(self, i) for i in range(len(self))]
        return self._members

    def soc_pct(self, row: int) -> float:
        """Row ``row``'s state of charge, %."""
        return float(self._state[row, _SOC])

    def soc_reserve_pct(self, row: int) -> tuple[float, float]:
        """Row ``row``'s operator reserve (802 ``SoCRsvMin``, ``SocRsvMax``), %."""
        st = self._state[row]
        return float(st[_RSV_MIN]), float(st[_RSV_MAX])

    def set_soc_reserve(
        self, row: int, soc_reserve_min_pct: float, soc_reserve_max_pct: float
    ) -> None:
        """Write row ``row``'s operator reserve (802 ``SoCRsvMin``/``SocRsvMax``)."""
        plate = self.nameplates[row]
        check_soc_window(
            plate.soc_min_pct, plate.soc_max_pct, soc_reserve_min_pct, soc_reserve_max_pct
        )
        self._state[row, _RSV_MIN] = float(soc_reserve_min_pct)
        self._state[row, _RSV_MAX] = float(soc_reserve_max_pct)

    def power_limits_rows(self, rows: Sequence[int], dt_s: float) -> FloatArray:
        """(max discharge, max charge) of each of ``rows`` for the next step, kW ≥ 0, one row
        each (see ``BatteryModel.power_limits_kw``); read-only."""
        index = row_index(rows, self._all_rows)
        out = np.empty((index.shape[0], 2))
        _limits_kernel(index, self._params, self._state, float(dt_s), out)
        return out

    def _step(
        self,
        index: npt.NDArray[np.intp],
        request_kw: FloatArray,
        limit_pct: FloatArray,
        dt_s: float,
    ) -> FloatArray:
        """The kernel on the rows ``index`` (``row_index``): the output columns, one row per
        stepped row."""
        if not request_kw.shape == limit_pct.shape == index.shape:
            raise ValueError(f"one request and one limit per row: {index.shape[0]} rows")
        out = np.empty((index.shape[0], _OUTPUTS))
        _step_kernel(
            index,
            self._params,
            self._state,
            _OCV_GRID_PCT,
            _OCV_TABLE_V,
            request_kw,
            limit_pct,
            float(dt_s),
            out,
        )
        return out

    def _message(self, o: list[float]) -> str | None:
        """The message of a row of kernel output (``_O_MESSAGE``), formatted as it always was."""
        code = int(o[_O_MESSAGE])
        if code == _MSG_NONE:
            return None
        if code == _MSG_WMAXLIMPCT:
            return f"discharge limited by WMaxLimPct {o[_O_LIMIT]:g} %"
        rsv_min, rsv_max = o[_O_RSV_MIN], o[_O_RSV_MAX]
        key = (rsv_min, rsv_max, math.copysign(1.0, rsv_min))  # -0.0 prints "-0"
        messages = self._messages.get(key)
        if messages is None:
            if len(self._messages) >= _MESSAGE_CACHE_SIZE:
                self._messages.clear()
            messages = self._messages[key] = (
                f"discharge limited at SoC reserve min {rsv_min:g} %",
                f"discharge tapered near SoC reserve min {rsv_min:g} %",
                f"charge limited at SoC reserve max {rsv_max:g} %",
                f"charge tapered near SoC reserve max {rsv_max:g} %",
            )
        return messages[code - _MSG_DISCHARGE_LIMITED]

    def advance_rows(
        self,
        rows: Sequence[int],
        requests_kw: Sequence[float],
        dt_s: float,
        limits_pct: Sequence[float] | None = None,
    ) -> list[BatteryStep]:
        """``BatteryModel.advance`` for ``rows`` at once (``limits_pct`` None: 100 % each)."""
        request = np.array(requests_kw, dtype=np.float64)
        limit = (
            np.full(request.shape, 100.0)
            if limits_pct is None
            else np.array(limits_pct, dtype=np.float64)
        )
        return [
            BatteryStep(
                o[_O_AC],
                o[_O_DC],
                o[_O_SOC],
                o[_O_V_DC],
                o[_O_I_DC],
                o[_O_V_OC],
                o[_O_THROTTLED] != 0.0,
                self._message(o),
            )
            for o in self._step(row_index(rows, self._all_rows), request, limit, dt_s).tolist()
        ]

    def step_columns(
        self,
        rows: Sequence[int],
        envs: Sequence[Environment],
        dispatches: Sequence[Dispatch],
        dt_s: float,
    ) -> FleetStep:
        """Advance ``rows`` by ``dt_s`` at their dispatches' setpoints (``ArrayFleet``); the
        environment does not act on a battery. Returns the step-average outputs as columns."""
        if not len(envs) == len(dispatches) == len(rows):
            raise ValueError(
                f"one environment and one dispatch per row: {len(rows)} rows, "
                f"{len(envs)} environments, {len(dispatches)} dispatches"
            )
        request = np.array([d.active_power_setpoint_kw for d in dispatches], dtype=np.float64)
        limit = np.array([d.active_power_limit_pct for d in dispatches], dtype=np.float64)
        index = row_index(rows, self._all_rows)
        out = self._step(index, request, limit, dt_s)
        assets = AssetTable(_ASSET_LAYOUT, out, per_row=self._nameplate_values, rows=rows)
        p_ac = out[:, _O_AC]
        # throttled, else running while it exchanges power, else standby (``_STEP_STATES``)
        codes = np.where(out[:, _O_THROTTLED] != 0.0, 0, np.where(p_ac != 0.0, 1, 2))
        limits = self._soc_limits[index]
        messages: list[str | None] | None = None
        with_message = np.flatnonzero(out[:, _O_MESSAGE] != _MSG_NONE)
        if with_message.size:  # formatted from its row (``_message``), as it always was
            messages = [None] * len(rows)
            for j, o in zip(
                with_message.tolist(), out[with_message, : _O_RSV_MAX + 1].tolist(), strict=True
            ):
                messages[j] = self._message(o)
        return FleetStep(
            p_ac,
            out[:, _O_DC],
            out[:, _O_V_DC],
            out[:, _O_I_DC],
            codes.astype(np.intp),
            _STEP_STATES,
            assets,
            (out[:, _O_SOC], out[:, _O_RSV_MIN], out[:, _O_RSV_MAX], limits[:, 0], limits[:, 1]),
            messages,
        )


def _cell_offsets_v(plate: BatteryNameplate, seed: int) -> tuple[float, float]:
    """(lowest, highest) seeded cell OCV offset from the pack's mean, V (module docstring)."""
    rng = random.Random(seed)
    sigma_v = plate.cell_voltage_spread_mv / 1000.0
    offsets = [
        rng.gauss(0.0, sigma_v) for _ in range(plate.series_cells * plate.strings_in_parallel)
    ]
    mean = sum(offsets) / len(offsets)
    return min(offsets) - mean, max(offsets) - mean


class BatteryModel(FleetRow["BatteryFleet"]):
    """A BESS device model (sans-IO): follows an active-power setpoint inside its SoC window.

    A view of one row of a ``BatteryFleet`` (``ArrayMember``): ``BatteryModel(nameplate, seed)``
    builds a fleet of one; ``BatteryFleet.members()`` are the views of a larger fleet. ``step``,
    ``advance`` and ``power_limits_kw`` run the fleet's array code for this row alone.

    ``asset`` keys: ``chemistry``, ``state_of_health_pct``, ``energy_available_kwh``,
    ``energy_to_full_kwh`` (see the module docstring), ``cell_voltage_v`` (average terminal
    voltage per series cell), ``cell_voltage_min_v`` / ``cell_voltage_max_v`` (seeded spread),
    ``pack_ocv_v``, ``converter_efficiency_pct`` (0 when idle), ``max_charge_kw`` /
    ``max_discharge_kw`` (rating × taper at the present SoC, before the per-step energy cap),
    ``dc_energy_injected_kwh`` / ``dc_energy_absorbed_kwh`` (monotonic 714 ``DCWhInj``/``DCWhAbs``
    at the pack terminals).
    """

    __slots__ = ("nameplate", "rating")

    asset_type: str = "battery"
    dc_mode: str = "battery"
    dc_port_count: int = 1

    def __init__(self, nameplate: BatteryNameplate | None = None, seed: int = 0) -> None:
        """Build the model from its nameplate; ``seed`` draws the cell-to-cell voltage spread."""
        fleet = BatteryFleet((nameplate if nameplate is not None else BatteryNameplate(),), (seed,))
        self._attach(fleet, 0)
        fleet._members = [self]

    def _attached(self) -> None:
        plate = self._fleet.nameplates[self._row]
        self.nameplate: BatteryNameplate = plate
        self.rating: AcRating = AcRating(
            w_max_kw=plate.w_max_kw,
            va_max_kva=plate.va_max_kva,
            var_max_inj_kvar=plate.var_max_inj_kvar,
            var_max_abs_kvar=plate.var_max_abs_kvar,
            w_charge_max_kw=min(plate.w_charge_max_kw, plate.va_max_kva),
        )

    @property
    def storage_rating(self) -> StorageRating:
        """The pack's nameplate ratings (``RatedStorage``)."""
        return self.nameplate.storage_rating

    @property
    def soc_pct(self) -> float:
        """Present state of charge, % of the present capacity."""
        return self._fleet.soc_pct(self._row)

    @property
    def soc_reserve_min_pct(self) -> float:
        """Present operator reserve minimum (802 ``SoCRsvMin``), %."""
        return self._fleet.soc_reserve_pct(self._row)[0]

    @property
    def soc_reserve_max_pct(self) -> float:
        """Present operator reserve maximum (802 ``SocRsvMax``), %."""
        return self._fleet.soc_reserve_pct(self._row)[1]

    def set_soc_reserve(self, soc_reserve_min_pct: float, soc_reserve_max_pct: float) -> None:
        """Write the operator reserve (802 ``SoCRsvMin``/``SocRsvMax``) inside the usable range."""
        self._fleet.set_soc_reserve(self._row, soc_reserve_min_pct, soc_reserve_max_pct)

    def power_limits_kw(self, dt_s: float) -> tuple[float, float]:
        """(max discharge, max charge) at the converter's outer port for the next step, kW ≥ 0.

        Read-only: the step-average outer power that ``step`` delivers over ``dt_s`` for a
        request at or beyond the rating (rating × taper at the present SoC, then the per-step
        energy cap as a burst, exactly as ``step`` computes them). ``WMaxLimPct`` is not applied.
        With ``dt_s`` = 0 the energy cap drops out: the converter's running-power limits.
        """
        dis_kw, ch_kw = self._fleet.power_limits_rows((self._row,), dt_s).tolist()[0]
        return dis_kw, ch_kw

    def advance(self, request_kw: float, dt_s: float, limit_pct: float = 100.0) -> BatteryStep:
        """Advance the pack by ``dt_s`` seconds at an outer-port request (+ discharge, − charge).

        The core of ``step`` without the ``DeviceOutput``: ``request_kw`` is the setpoint
        (non-finite = 0), ``limit_pct`` the ``WMaxLimPct`` (clamped to 0-100 %, non-finite =
        100 %). Used by models that put this battery behind their own converter (hybrid DC bus).
        """
        return self._fleet.advance_rows((self._row,), (request_kw,), dt_s, (limit_pct,))[0]

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance SoC by ``dt_s`` seconds at the capped request; return the step-average output."""
        return self._fleet.step_rows((self._row,), (env,), (dispatch,), dt_s)[0]
