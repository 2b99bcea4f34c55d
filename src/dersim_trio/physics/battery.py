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
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal, NamedTuple

from dersim_trio.physics.ac import AcType, ll_from_ln, nominal_voltage_ln_v
from dersim_trio.physics.base import (
    AcRating,
    AssetValue,
    DeviceOutput,
    Dispatch,
    Environment,
    InverterState,
    StorageRating,
    StorageReport,
)

Chemistry = Literal["NMC", "LFP"]

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


def cell_ocv_v(chemistry: Chemistry, soc_pct: float) -> float:
    """Open-circuit voltage (V) of one cell at ``soc_pct`` (clamped to 0-100 %), table above."""
    soc = min(100.0, max(0.0, soc_pct))
    volts = _OCV_CELL_V[chemistry]
    i = min(bisect_right(_OCV_SOC_PCT, soc), len(_OCV_SOC_PCT) - 1)
    s0, s1 = _OCV_SOC_PCT[i - 1], _OCV_SOC_PCT[i]
    return volts[i - 1] + (volts[i] - volts[i - 1]) * (soc - s0) / (s1 - s0)


def converter_efficiency(load_fraction: float, eta_nom: float = 0.96) -> float:
    """PVWatts efficiency η(ζ) at input load fraction ζ = P_in/P_0 (0 at ζ ≤ 0, floored at 0)."""
    if load_fraction <= 0.0:
        return 0.0
    c = eta_nom / _PVWATTS_ETA_REF
    eta = c * (-_PVWATTS_A * load_fraction - _PVWATTS_D / load_fraction + _PVWATTS_B)
    return max(0.0, eta)


def converter_output_kw(input_kw: float, p0_kw: float, eta_nom: float = 0.96) -> float:
    """Converter output magnitude (kW) for an input magnitude ``input_kw`` ≥ 0 (PVWatts curve)."""
    if input_kw <= 0.0:
        return 0.0
    # Beyond the parabola's vertex (ζ ≈ 30) the fit would fall again: hold it flat there.
    z = min(input_kw / p0_kw, _PVWATTS_B / (2.0 * _PVWATTS_A))
    c = eta_nom / _PVWATTS_ETA_REF
    return max(0.0, p0_kw * c * ((-_PVWATTS_A * z + _PVWATTS_B) * z - _PVWATTS_D))


def converter_input_kw(output_kw: float, p0_kw: float, eta_nom: float = 0.96) -> float:
    """Converter input magnitude (kW) needed for ``output_kw`` ≥ 0: inverse of the PVWatts curve.

    Solves c·(A·ζ² − B·ζ + D) + y = 0 for the smaller root, written in the cancellation-free
    form ζ = 2(cD + y)/(cB + √((cB)² − 4·cA·(cD + y))), y = P_out/P_0. Zero output → zero input.
    """
    if output_kw <= 0.0:
        return 0.0
    c = eta_nom / _PVWATTS_ETA_REF
    y = output_kw / p0_kw
    a, b, k = c * _PVWATTS_A, c * _PVWATTS_B, c * _PVWATTS_D + y
    disc = max(0.0, b * b - 4.0 * a * k)
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


class BatteryModel:
    """A BESS device model (sans-IO): follows an active-power setpoint inside its SoC window.

    ``asset`` keys: ``chemistry``, ``state_of_health_pct``, ``energy_available_kwh``,
    ``energy_to_full_kwh`` (see the module docstring), ``cell_voltage_v`` (average terminal
    voltage per series cell), ``cell_voltage_min_v`` / ``cell_voltage_max_v`` (seeded spread),
    ``pack_ocv_v``, ``converter_efficiency_pct`` (0 when idle), ``max_charge_kw`` /
    ``max_discharge_kw`` (rating × taper at the present SoC, before the per-step energy cap),
    ``dc_energy_injected_kwh`` / ``dc_energy_absorbed_kwh`` (monotonic 714 ``DCWhInj``/``DCWhAbs``
    at the pack terminals).
    """

    asset_type: str = "battery"
    dc_mode: str = "battery"
    dc_port_count: int = 1

    def __init__(self, nameplate: BatteryNameplate | None = None, seed: int = 0) -> None:
        """Build the model from its nameplate; ``seed`` draws the cell-to-cell voltage spread."""
        np_ = nameplate if nameplate is not None else BatteryNameplate()
        self.nameplate = np_
        self.rating = AcRating(
            w_max_kw=np_.w_max_kw,
            va_max_kva=np_.va_max_kva,
            var_max_inj_kvar=np_.var_max_inj_kvar,
            var_max_abs_kvar=np_.var_max_abs_kvar,
            w_charge_max_kw=min(np_.w_charge_max_kw, np_.va_max_kva),
        )
        self._rng = random.Random(seed)
        self._soc_pct = float(np_.initial_soc_pct)
        self._rsv_min_pct = float(np_.soc_reserve_min_pct)
        self._rsv_max_pct = float(np_.soc_reserve_max_pct)
        self._p_dis_rated_kw = min(np_.w_max_kw, np_.va_max_kva)
        self._p_ch_rated_kw = min(np_.w_charge_max_kw, np_.va_max_kva)
        self._eta_nom = np_.converter_efficiency_nom_pct / 100.0
        self._p0_kw = max(self._p_dis_rated_kw, self._p_ch_rated_kw) / self._eta_nom
        self._eta_rt = np_.round_trip_efficiency_pct / 100.0
        self._capacity_kwh = np_.energy_kwh * np_.state_of_health_pct / 100.0
        self._k_sd_per_h = np_.self_discharge_pct_per_month / 100.0 / _HOURS_PER_MONTH
        self._band_pct = np_.taper_band_pct
        self._floor_pu = np_.taper_floor_pct / 100.0
        self._n_series = float(np_.series_cells)
        self._r_pack_ohm = np_.pack_resistance
        self._ocv_v = _OCV_CELL_V[np_.chemistry]
        sigma_v = np_.cell_voltage_spread_mv / 1000.0
        offsets = [
            self._rng.gauss(0.0, sigma_v) for _ in range(np_.series_cells * np_.strings_in_parallel)
        ]
        mean = sum(offsets) / len(offsets)
        self._cell_offset_min_v = min(offsets) - mean
        self._cell_offset_max_v = max(offsets) - mean
        self._dc_injected_kwh = 0.0
        self._dc_absorbed_kwh = 0.0
        self._cache_messages()

    @property
    def storage_rating(self) -> StorageRating:
        """The pack's nameplate ratings (``RatedStorage``)."""
        return self.nameplate.storage_rating

    @property
    def soc_pct(self) -> float:
        """Present state of charge, % of the present capacity."""
        return self._soc_pct

    @property
    def soc_reserve_min_pct(self) -> float:
        """Present operator reserve minimum (802 ``SoCRsvMin``), %."""
        return self._rsv_min_pct

    @property
    def soc_reserve_max_pct(self) -> float:
        """Present operator reserve maximum (802 ``SocRsvMax``), %."""
        return self._rsv_max_pct

    def set_soc_reserve(self, soc_reserve_min_pct: float, soc_reserve_max_pct: float) -> None:
        """Write the operator reserve (802 ``SoCRsvMin``/``SocRsvMax``) inside the usable range."""
        check_soc_window(
            self.nameplate.soc_min_pct,
            self.nameplate.soc_max_pct,
            soc_reserve_min_pct,
            soc_reserve_max_pct,
        )
        self._rsv_min_pct = float(soc_reserve_min_pct)
        self._rsv_max_pct = float(soc_reserve_max_pct)
        self._cache_messages()

    def _cache_messages(self) -> None:
        rsv_min, rsv_max = self._rsv_min_pct, self._rsv_max_pct
        self._msg_discharge_limited = f"discharge limited at SoC reserve min {rsv_min:g} %"
        self._msg_discharge_tapered = f"discharge tapered near SoC reserve min {rsv_min:g} %"
        self._msg_charge_limited = f"charge limited at SoC reserve max {rsv_max:g} %"
        self._msg_charge_tapered = f"charge tapered near SoC reserve max {rsv_max:g} %"

    def _taper_pu(self, distance_pct: float) -> float:
        if distance_pct >= self._band_pct:
            return 1.0
        if distance_pct <= 0.0:
            return self._floor_pu
        return self._floor_pu + (1.0 - self._floor_pu) * distance_pct / self._band_pct

    def _cell_ocv_v(self, soc_pct: float) -> float:
        soc = min(100.0, max(0.0, soc_pct))
        i = min(bisect_right(_OCV_SOC_PCT, soc), 12)
        s0 = _OCV_SOC_PCT[i - 1]
        v0 = self._ocv_v[i - 1]
        return v0 + (self._ocv_v[i] - v0) * (soc - s0) / (_OCV_SOC_PCT[i] - s0)

    def power_limits_kw(self, dt_s: float) -> tuple[float, float]:
        """(max discharge, max charge) at the converter's outer port for the next step, kW ≥ 0.

        Read-only: the step-average outer power that ``step`` delivers over ``dt_s`` for a
        request at or beyond the rating (rating × taper at the present SoC, then the per-step
        energy cap as a burst, exactly as ``step`` computes them). ``WMaxLimPct`` is not applied.
        With ``dt_s`` = 0 the energy cap drops out: the converter's running-power limits.
        """
        dt_h = dt_s / 3600.0 if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        soc = self._soc_pct
        rsv_min, rsv_max = self._rsv_min_pct, self._rsv_max_pct
        dis_kw = self._p_dis_rated_kw * self._taper_pu(soc - rsv_min)
        ch_kw = self._p_ch_rated_kw * self._taper_pu(rsv_max - soc)
        if dt_h > 0.0:
            sd_pct = self._k_sd_per_h * soc * dt_h
            dis_cap = (soc - rsv_min - sd_pct) * self._capacity_kwh / (100.0 * dt_h)
            dis_kw = max(0.0, min(dis_kw, dis_cap))
            ch_cap = (rsv_max - soc + sd_pct) * self._capacity_kwh / (100.0 * self._eta_rt * dt_h)
            ch_kw = max(0.0, min(ch_kw, ch_cap))
        return dis_kw, ch_kw

    def advance(self, request_kw: float, dt_s: float, limit_pct: float = 100.0) -> BatteryStep:
        """Advance the pack by ``dt_s`` seconds at an outer-port request (+ discharge, − charge).

        The core of ``step`` without the ``DeviceOutput``: ``request_kw`` is the setpoint
        (non-finite = 0), ``limit_pct`` the ``WMaxLimPct`` (clamped to 0-100 %, non-finite =
        100 %). Used by models that put this battery behind their own converter (hybrid DC bus).
        """
        if not math.isfinite(request_kw):
            request_kw = 0.0
        limit_pct = min(100.0, max(0.0, limit_pct)) if math.isfinite(limit_pct) else 100.0
        return BatteryStep(*self._advance(float(request_kw), dt_s, limit_pct))

    def _advance(
        self, request: float, dt_s: float, limit_pct: float
    ) -> tuple[float, float, float, float, float, float, bool, str | None]:
        """``advance`` on sanitised inputs, as a plain tuple (the hot path of ``step``)."""
        dt_h = dt_s / 3600.0 if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        soc = self._soc_pct
        rsv_min, rsv_max = self._rsv_min_pct, self._rsv_max_pct
        sd_pct = self._k_sd_per_h * soc * dt_h  # self-discharge over the step, SoC points
        p_ac = 0.0
        p_dc = 0.0
        message: str | None = None
        throttled = False
        at_limit = False
        if request > _EPS_KW:
            target = min(request, self._p_dis_rated_kw)
            pct_cap = self._p_dis_rated_kw * limit_pct / 100.0
            soc_cap = self._p_dis_rated_kw * self._taper_pu(soc - rsv_min)
            p_ac = min(target, pct_cap, soc_cap)
            p_dc = converter_input_kw(p_ac, self._p0_kw, self._eta_nom)
            if dt_h > 0.0:
                ac_cap = (soc - rsv_min - sd_pct) * self._capacity_kwh / (100.0 * dt_h)
                if ac_cap <= 0.0:
                    at_limit = True
                    p_ac = p_dc = 0.0
                elif ac_cap < p_ac:  # burst: run at p_ac for the fraction of the step left
                    at_limit = True
                    p_dc *= ac_cap / p_ac
                    p_ac = ac_cap
            if p_ac < target - _EPS_KW:
                throttled = True
                if at_limit or soc_cap < pct_cap:
                    message = (
                        self._msg_discharge_limited
                        if at_limit or soc_cap == 0.0
                        else self._msg_discharge_tapered
                    )
                else:
                    message = f"discharge limited by WMaxLimPct {limit_pct:g} %"
        elif request < -_EPS_KW:
            target = min(-request, self._p_ch_rated_kw)
            soc_cap = self._p_ch_rated_kw * self._taper_pu(rsv_max - soc)
            charge = min(target, soc_cap)
            stored = converter_output_kw(charge, self._p0_kw, self._eta_nom)
            if dt_h > 0.0:
                ac_cap = (
                    (rsv_max - soc + sd_pct) * self._capacity_kwh / (100.0 * self._eta_rt * dt_h)
                )
                if ac_cap <= 0.0:
                    at_limit = True
                    charge = stored = 0.0
                elif ac_cap < charge:  # burst: run at `charge` for the fraction of the step left
                    at_limit = True
                    stored *= ac_cap / charge
                    charge = ac_cap
            p_ac = 0.0 - charge
            p_dc = 0.0 - stored
            if charge < target - _EPS_KW:
                throttled = True
                message = (
                    self._msg_charge_limited
                    if at_limit or soc_cap == 0.0
                    else self._msg_charge_tapered
                )

        # OpenDER Eq. 3.6.1-4 at the AC terminals, η_rt on the charge side only.
        if p_ac >= 0.0:
            delta_pct = -p_ac * dt_h * 100.0 / self._capacity_kwh
            self._dc_injected_kwh += p_dc * dt_h
        else:
            delta_pct = -p_ac * self._eta_rt * dt_h * 100.0 / self._capacity_kwh
            self._dc_absorbed_kwh -= p_dc * dt_h
        new_soc = soc + delta_pct - sd_pct
        if p_ac > 0.0 and (at_limit or new_soc < rsv_min):
            new_soc = rsv_min
        elif p_ac < 0.0 and (at_limit or new_soc > rsv_max):
            new_soc = rsv_max
        new_soc = min(100.0, max(0.0, new_soc))
        self._soc_pct = new_soc

        cell_ocv = self._cell_ocv_v(new_soc)
        v_oc = self._n_series * cell_ocv
        p_dc_w = p_dc * 1000.0
        disc = max(0.0, v_oc * v_oc - 4.0 * self._r_pack_ohm * p_dc_w)
        denom = v_oc + math.sqrt(disc)
        current = 2.0 * p_dc_w / denom if denom > 0.0 else 0.0
        v_dc = v_oc - current * self._r_pack_ohm
        return p_ac, p_dc, new_soc, v_dc, current, v_oc, throttled, message

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance SoC by ``dt_s`` seconds at the capped request; return the step-average output."""
        request = dispatch.active_power_setpoint_kw
        if request is None or not math.isfinite(request):
            request = 0.0
        request = float(request)
        limit_pct = dispatch.active_power_limit_pct
        limit_pct = min(100.0, max(0.0, limit_pct)) if math.isfinite(limit_pct) else 100.0
        p_ac, p_dc, new_soc, v_dc, current, v_oc, throttled, message = self._advance(
            request, dt_s, limit_pct
        )
        rsv_min, rsv_max = self._rsv_min_pct, self._rsv_max_pct
        cell_v = v_dc / self._n_series

        if p_ac == 0.0 and not throttled:
            state: InverterState = "standby"
            eta_pct = 0.0
        else:
            state = "throttled" if throttled else "running"
            if p_ac > 0.0 and p_dc > 0.0:
                eta_pct = 100.0 * p_ac / p_dc
            elif p_ac < 0.0:
                eta_pct = 100.0 * p_dc / p_ac
            else:
                eta_pct = 0.0

        capacity = self._capacity_kwh
        asset: dict[str, AssetValue] = {
            "chemistry": self.nameplate.chemistry,
            "state_of_health_pct": float(self.nameplate.state_of_health_pct),
            "energy_available_kwh": capacity * max(0.0, new_soc - rsv_min) / 100.0,
            "energy_to_full_kwh": capacity * max(0.0, rsv_max - new_soc) / 100.0,
            "cell_voltage_v": cell_v,
            "cell_voltage_min_v": cell_v + self._cell_offset_min_v,
            "cell_voltage_max_v": cell_v + self._cell_offset_max_v,
            "pack_ocv_v": v_oc,
            "converter_efficiency_pct": eta_pct,
            "max_charge_kw": self._p_ch_rated_kw * self._taper_pu(rsv_max - new_soc),
            "max_discharge_kw": self._p_dis_rated_kw * self._taper_pu(new_soc - rsv_min),
            "dc_energy_injected_kwh": self._dc_injected_kwh,
            "dc_energy_absorbed_kwh": self._dc_absorbed_kwh,
        }
        return DeviceOutput(
            ac_power_kw=p_ac,
            reactive_power_kvar=0.0,
            dc_power_kw=p_dc,
            dc_voltage_v=v_dc,
            dc_current_a=current,
            inverter_state=state,
            asset=asset,
            storage=StorageReport(
                state_of_charge_pct=new_soc,
                soc_reserve_min_pct=rsv_min,
                soc_reserve_max_pct=rsv_max,
                soc_min_pct=self.nameplate.soc_min_pct,
                soc_max_pct=self.nameplate.soc_max_pct,
            ),
            message=message,
        )
