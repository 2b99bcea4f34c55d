"""Hybrid DC system: a PV array and a battery on one DC bus behind one inverter (``hybrid-dc``).

Topology (DERSim ``HybridDC-3Phase``, devices/hybrid_dc.html; documented behaviour §2.8, §4.5)::

    PV array ─ MPPT ─┐
                     ├─ DC bus (V_bus) ─ inverter (S = inverter_kva) ─ grid
    pack ─ DC-DC  ───┘

One grid connection, one shared kVA rating; a coordinator decides every step where each kW of
PV goes. Units kW, kWh, V, A, %; SunSpec 701 signs: ``ac_power_kw`` > 0 injects into the grid;
``dc_power_kw`` = P_inv,dc > 0 flows from the bus into the inverter; ``battery_power_kw`` > 0
discharges into the bus; ``pv_power_kw`` ≥ 0.

Reused models (no copies):

* **PV port**: ``PvModel.array_step`` (``pv.py`` chain items 1-7: irradiance or clear sky with
  seeded clouds, diurnal ambient, SAPM cell temperature with thermal lag, PVWatts DC power,
  MPPT window). P_pv,avail = DC power at the best point in the MPPT window; below the start
  threshold 0.007·pv_kw (the ``pv.py`` Pso analogue) the port sleeps (0 kW). When the
  coordinator curtails, the string moves off the MPP on the I-V curve
  (``PvModel.curtailed_voltage_v``, item 9). MPPT-tracker losses are lumped into the PVWatts
  inverter curve, as PVWatts does, so P_pv at the bus = P_pv at the array.
* **Battery port**: a ``BatteryModel`` whose "converter" is the bus-side DC-DC converter: its
  outer (``ac_power_kw``) side is the bus, its ``dc_power_kw`` side the pack. So the battery's
  SoC integration (OpenDER Eq. 3.6.1-4, η_rt on charge, referred to the converter's outer port:
  here the bus), SoC-window taper, per-step energy cap (never overshoots, however long the step),
  OCV/pack voltage and self-discharge apply unchanged. The DC-DC efficiency is the same
  PVWatts-shaped curve with η_nom = the battery nameplate's ``converter_efficiency_nom_pct``
  (98 % by default, a typical bidirectional DC-DC stage, from memory): discharging
  P_batt = η_dc(P_pack)·P_pack, charging |P_pack| = η_dc(|P_batt|)·|P_batt|, rated at batt_kw.
  The DC-DC stage also decouples the pack voltage from the 750 V bus.
  The hybrid's soc_min/soc_max are the battery's reserve (and nameplate usable) limits.
* **Inverter**: PVWatts curve (``battery.converter_output_kw``/``converter_input_kw``,
  ``pvlib.inverter.pvwatts``) with P_0 = S/η_nom, η_nom = 0.96, applied to the input magnitude.

Site load (``site_load.py``): each step P_load is the ``env.site_load_kw`` input when given (a
``load_kw`` run-time override or ``--dc_profile`` column), else the nameplate's site load shape
(a seeded BDEW household or commercial profile scaled to ``site_load_kwh_per_year``), else 0.
The meter sees P_grid = P_load − P_ac (> 0 import). The site balance closes every step::

    P_ac + P_grid = P_load          (and, on the DC bus, P_pv + P_batt = P_inv,dc below)

``ac_power_kw`` is the inverter's output, as SunSpec 701 reports it; the site's exchange with the
grid is the asset's ``grid_power_kw``.

DC bus power balance (step averages)::

    P_pv + P_batt = P_inv,dc
    exporting  (P_inv,dc ≥ 0):  P_ac = η_inv(P_inv,dc)·P_inv,dc            (DC side is the input)
    importing  (P_inv,dc < 0):  |P_inv,dc| = η_inv(|P_ac|)·|P_ac|          (AC side is the input)
    |P_ac| ≤ S (Q = 0, unity PF, so S = |P|);  P_ac ≤ W_lim = S·WMaxLimPct/100

Coordinator, per step. With P_avail the PV port's available power, W_lim the export cap and
D(P) the DC input the inverter needs for an AC output P (D(P) = converter_input(P) for P > 0,
−converter_output(|P|) for P < 0), each policy sets a bus request for the battery b_req and a
cap D_max on P_inv,dc:

* ``self_consumption`` (default): the inverter serves the site load P_load behind the meter,
  so the grid exchange is zero when it can be: b_req = D(min(P_load, W_lim)) − P_avail,
  D_max = D(W_lim). PV serves the load first; the surplus charges the battery (b_req < 0) and
  what the battery cannot absorb is exported up to W_lim (beyond that PV is curtailed); when PV
  falls short of the load (evenings, night) the battery discharges to cover the deficit until
  SoC_min, and the site imports the rest. The inverter itself never imports (the battery is not
  charged from the grid).
* ``pv_priority``: PV to the grid first up to W_lim, the surplus to the battery, battery idle
  otherwise: b_req = −max(0, P_avail − D(W_lim)), D_max = D(W_lim). Never imports, never
  discharges.
* ``manual``: the AC setpoint P_set = ``dispatch.active_power_setpoint_kw`` clamped to
  [−S, W_lim] is followed; the battery covers the difference with PV at its MPP:
  b_req = D(P_set) − P_avail, D_max = D(P_set). A negative setpoint charges the battery from
  the grid (plus all PV). ``None`` (no setpoint) leaves the battery idle and exports PV.

The battery then delivers b (|b| ≤ |b_req|, limited by batt_kw, taper and SoC window), and::

    P_inv,dc = min(P_avail + b, max(b, D_max)),   P_pv = P_inv,dc − b

i.e. PV is curtailed off its MPP only when the inverter cap (rating, WMaxLimPct, or the manual
setpoint with a full battery) cannot take what the battery leaves; if even P_pv = 0 overshoots a
negative setpoint, the import shrinks to what the battery takes.

Inverter wake threshold 0.007·S (DC). Before stepping the battery the coordinator predicts
P_inv,dc from the battery's running power (``BatteryModel.power_limits_kw``: rating × taper; when
the per-step energy cap binds the battery runs a burst at that power, which wakes the inverter);
only a full pack (SoC at soc_max) is judged by its step average, because it merely replaces
self-discharge, a sustained trickle. When |P_inv,dc| would lie below the threshold the inverter
sleeps: P_inv,dc = 0, the battery neither discharges nor imports (it takes PV only) and the rest
of the PV is curtailed. So a full battery never makes the inverter draw its no-load loss from the
grid to trickle-charge. The battery itself is advanced by ``BatteryModel.advance`` (the core of
its ``step``, burst semantics included). The inverter efficiency is evaluated at the step-average
P_inv,dc (in a step where the battery lands on a SoC limit this overstates the loss slightly).

Energy counters (kWh, monotonic; every flow counted once): ``pv_energy_kwh`` (PV at the bus),
``battery_charge_energy_kwh`` / ``battery_discharge_energy_kwh`` (at the pack terminals, 714
``DCWhAbs``/``DCWhInj`` of the battery port), ``battery_bus_charge_energy_kwh`` /
``battery_bus_discharge_energy_kwh`` (the same flows on the bus side of the DC-DC stage),
``ac_energy_injected_kwh`` / ``ac_energy_absorbed_kwh``, ``loss_energy_kwh`` = inverter + DC-DC
losses. They close exactly::

    E_pv + E_dis − E_ch = E_ac,inj − E_ac,abs + E_loss
    ΔSoC·E_bat/100 = η_rt·E_ch,bus − E_dis,bus − self-discharge         (battery model)

States (SunSpec 701 InvSt): ``throttled`` when PV is curtailed for any reason but the kVA rating
(WMaxLimPct, or a manual setpoint the full battery cannot absorb; clipping at S stays
``running`` with asset ``clipped``) or the manual setpoint is not met (battery limits,
WMaxLimPct); ``sleeping`` when nothing flows and no PV is available; ``standby`` when nothing
flows otherwise; else ``running``.

DC side of the output: ``dc_power_kw`` = P_inv,dc, ``dc_voltage_v`` = the regulated DC-link
voltage ``dc_bus_voltage_v`` (750 V default: above √2·480 V = 679 V, the minimum for a 480 V
three-phase bridge), ``dc_current_a`` = P_inv,dc/V_bus. Reactive power is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

from dersim_trio.physics.ac import AcType
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
from dersim_trio.physics.battery import (
    BatteryModel,
    BatteryNameplate,
    converter_input_kw,
    converter_output_kw,
)
from dersim_trio.physics.pv import IvPoint, PvModel, PvNameplate
from dersim_trio.physics.site_load import LoadShape, SiteLoad
from dersim_trio.physics.solar import SolarSite

DispatchPolicy = Literal["self_consumption", "pv_priority", "manual"]
DISPATCH_POLICIES: tuple[DispatchPolicy, ...] = get_args(DispatchPolicy)

_VAR_PU = 0.44  # IEEE 1547-2018 Category B reactive capability, per unit of S
_START_PU = 0.007  # PV-port and inverter wake thresholds, per unit of their rating
_EPS_KW = 1e-9
_SETPOINT_TOL_KW = 1e-6


DEFAULT_ARRAY = PvNameplate(dc_rating_kw=10.0)
"""The hybrid's PV array by default: 10 kW DC, otherwise ``PvNameplate``'s defaults."""

DEFAULT_BATTERY = BatteryNameplate(
    w_max_kw=10.0,
    w_charge_max_kw=10.0,
    va_max_kva=10.0,
    var_max_inj_kvar=0.0,
    var_max_abs_kvar=0.0,
    energy_kwh=15.0,
    soc_min_pct=10.0,
    soc_max_pct=95.0,
    soc_reserve_min_pct=10.0,
    soc_reserve_max_pct=95.0,
    converter_efficiency_nom_pct=98.0,
)
"""The hybrid's battery by default: 10 kW at the bus both ways, 15 kWh NMC, window 10-95 %,
behind a DC-DC stage of η_nom 98 % (a typical bidirectional DC-DC converter, from memory)."""


@dataclass(frozen=True, slots=True)
class HybridNameplate:
    """A hybrid DC system composed of a PV and a battery nameplate behind one inverter.

    Defaults: DERSim ``HybridDC-3Phase`` (§2.8): 10 kW PV, 10 kW / 15 kWh battery, 15 kVA.

    ``array`` describes the PV port: its array, MPPT window, temperature and loss fields and its
    site are used as they are; its inverter fields (AC ratings, inverter efficiency, start
    threshold) are replaced by the shared inverter's (``pv_port()``). ``battery`` is the battery
    port as it stands: its "converter" is the bus-side DC-DC stage (``w_max_kw`` /
    ``w_charge_max_kw`` the power at the bus, ``converter_efficiency_nom_pct`` the DC-DC
    efficiency), its SoC window the hybrid's.
    """

    array: PvNameplate = DEFAULT_ARRAY
    battery: BatteryNameplate = DEFAULT_BATTERY
    ac_type: AcType = "three"
    inverter_kva: float = 15.0
    """Shared inverter rating S (``--hybrid_inverter_kva``)."""
    inverter_efficiency_nom_pct: float = 96.0
    """PVWatts-curve η_nom of the shared inverter."""
    dc_bus_voltage_v: float = 750.0
    """Regulated DC-link voltage."""
    dispatch: DispatchPolicy = "self_consumption"
    """Initial coordinator policy (``--hybrid_dispatch``); hot-swappable at run time."""
    site_load: LoadShape | None = None
    """The site's load shape (``--hybrid_site_load``); None: no load unless an input gives one."""
    site_load_kwh_per_year: float = 5000.0
    """Yearly energy the site load shape is scaled to, kWh (``--hybrid_site_load_kwh``)."""

    def __post_init__(self) -> None:
        """Reject inconsistent values (the sub-nameplates validate themselves)."""
        for name, value in {
            "inverter_kva": self.inverter_kva,
            "dc_bus_voltage_v": self.dc_bus_voltage_v,
        }.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.dispatch not in DISPATCH_POLICIES:
            raise ValueError(f"dispatch must be one of {list(DISPATCH_POLICIES)}")
        if not (math.isfinite(self.site_load_kwh_per_year) and self.site_load_kwh_per_year >= 0):
            raise ValueError("site_load_kwh_per_year must be a number >= 0")
        if not 0.0 < self.inverter_efficiency_nom_pct <= 100.0:
            raise ValueError("inverter_efficiency_nom_pct must be within (0, 100]")

    @property
    def pv_kw(self) -> float:
        """PV array STC rating, kW DC."""
        return self.array.dc_rating_kw

    @property
    def batt_kw(self) -> float:
        """Battery power at the bus (the larger of its charge and discharge ratings), kW."""
        return max(self.battery.w_max_kw, self.battery.w_charge_max_kw)

    @property
    def batt_kwh(self) -> float:
        """Battery energy rating, kWh."""
        return self.battery.energy_kwh

    @property
    def soc_min_pct(self) -> float:
        """The battery refuses to discharge below this SoC (its usable minimum), %."""
        return self.battery.soc_min_pct

    @property
    def soc_max_pct(self) -> float:
        """The battery refuses to charge above this SoC (its usable maximum), %."""
        return self.battery.soc_max_pct

    def pv_port(self) -> PvNameplate:
        """The PV port: ``array`` with the shared inverter's ratings and efficiency."""
        return replace(
            self.array,
            ac_type=self.ac_type,
            w_max_kw=self.inverter_kva,
            va_max_kva=self.inverter_kva,
            var_max_inj_kvar=_VAR_PU * self.inverter_kva,
            var_max_abs_kvar=_VAR_PU * self.inverter_kva,
            eta_inv_nom=self.inverter_efficiency_nom_pct / 100.0,
            start_threshold_kw=_START_PU * self.array.dc_rating_kw,
        )

    @property
    def rating(self) -> AcRating:
        """SunSpec 702 rating: W and VA = inverter_kva, var 0.44 pu (IEEE 1547 Category B)."""
        s = self.inverter_kva
        return AcRating(
            w_max_kw=s,
            va_max_kva=s,
            var_max_inj_kvar=_VAR_PU * s,
            var_max_abs_kvar=_VAR_PU * s,
            w_charge_max_kw=s,  # the battery charges from the grid through the inverter
        )


def site_load_kw(
    override_kw: float | None, source: SiteLoad | None, end_time: datetime, dt_s: float
) -> float:
    """The step's site load, kW ≥ 0: the input when given, else the site's load shape, else 0.

    The shape's seeded scatter advances every step, overridden or not, so a run's load does not
    depend on when an override was set or cleared.
    """
    modelled = 0.0 if source is None else source.step(end_time, dt_s)
    if override_kw is not None and math.isfinite(override_kw):
        return max(0.0, override_kw)
    return modelled


class HybridModel:
    """PV + battery on one DC bus behind one inverter; implements ``DeviceModel``.

    ``HybridModel(nameplate, seed=0, *, clouds=True, load_scatter=True)``: ``seed`` seeds the PV
    cloud model, the battery's cell spread and the site load's scatter; ``clouds=False`` keeps the
    clear sky, ``load_scatter=False`` the mean load shape; ``site`` is the ``SolarSite`` the
    PV port shares with the other arrays of the run (a private one when omitted).
    ``dispatch_policy`` is read every step and may be set at any time (validated; takes effect
    on the next step).

    ``asset`` keys: ``pv_power_kw`` (PV at the bus), ``battery_power_kw`` (at the bus,
    + discharging), ``dispatch`` (policy name), ``irradiance_w_m2``, ``cell_temperature_c``,
    ``ambient_temperature_c``, ``battery_soc_pct``, ``pv_available_kw`` (PV port's available
    power), ``pv_curtailed_kw`` (available − used), ``clipped`` (curtailed by the kVA rating),
    ``pv_voltage_v`` / ``pv_current_a`` (string operating point), ``battery_pack_power_kw``,
    ``battery_voltage_v`` / ``battery_current_a`` (pack terminals, + discharging),
    ``energy_available_kwh`` (battery, as in ``battery.py``), and the counters
    ``pv_energy_kwh``, ``battery_charge_energy_kwh``, ``battery_discharge_energy_kwh``,
    ``battery_bus_charge_energy_kwh``, ``battery_bus_discharge_energy_kwh``,
    ``ac_energy_injected_kwh``, ``ac_energy_absorbed_kwh``, ``loss_energy_kwh`` (=
    ``inverter_loss_energy_kwh`` + ``dc_dc_loss_energy_kwh``), ``site_load_kw``,
    ``grid_power_kw`` (the site's meter, + import), ``site_load_energy_kwh``,
    ``grid_import_energy_kwh``, ``grid_export_energy_kwh``; see the module docstring.
    """

    asset_type: str = "hybrid-dc"
    dc_mode: str = "hybrid-dc"
    dc_port_count: int = 2

    def __init__(
        self,
        nameplate: HybridNameplate | None = None,
        seed: int = 0,
        *,
        clouds: bool = True,
        load_scatter: bool = True,
        site: SolarSite | None = None,
    ) -> None:
        """Build the PV port, battery port and inverter constants from the nameplate."""
        np_ = HybridNameplate() if nameplate is None else nameplate
        self.nameplate = np_
        self.rating: AcRating = np_.rating
        self._pv = PvModel(np_.pv_port(), seed, clouds=clouds, site=site)
        self._solar_site = site
        self._battery = BatteryModel(np_.battery, seed)
        self._policy: DispatchPolicy = np_.dispatch
        self._s_kva = np_.inverter_kva
        self._eta_inv = np_.inverter_efficiency_nom_pct / 100.0
        self._p0_inv_kw = self._s_kva / self._eta_inv
        self._d_export_full_kw = converter_input_kw(self._s_kva, self._p0_inv_kw, self._eta_inv)
        self._site_load = (
            None
            if np_.site_load is None
            else SiteLoad(np_.site_load, np_.site_load_kwh_per_year, seed, variability=load_scatter)
        )
        self._load_kwh = 0.0
        self._grid_import_kwh = 0.0
        self._grid_export_kwh = 0.0
        self._pv_start_kw = _START_PU * np_.pv_kw
        self._inv_wake_kw = _START_PU * self._s_kva
        self._v_bus = np_.dc_bus_voltage_v
        self._soc_min_pct = np_.soc_min_pct
        self._soc_max_pct = np_.soc_max_pct
        self._batt_kwh_per_pct = np_.batt_kwh / 100.0
        self._pack_in_kwh = 0.0
        self._pack_out_kwh = 0.0
        self._bus_in_kwh = 0.0
        self._bus_out_kwh = 0.0
        self._ac_injected_kwh = 0.0
        self._ac_absorbed_kwh = 0.0
        self._last_target_kw = 0.0
        self._last_target_dc_kw = 0.0
        self._pv_kwh = 0.0
        self._inv_loss_kwh = 0.0
        self._dcdc_loss_kwh = 0.0

    @property
    def storage_rating(self) -> StorageRating:
        """The battery port's nameplate ratings (``RatedStorage``; powers at the DC bus)."""
        return self.nameplate.battery.storage_rating

    @property
    def dispatch_policy(self) -> DispatchPolicy:
        """The coordinator policy used from the next step on."""
        return self._policy

    @dispatch_policy.setter
    def dispatch_policy(self, policy: DispatchPolicy) -> None:
        if policy not in DISPATCH_POLICIES:
            raise ValueError(f"dispatch policy must be one of {list(DISPATCH_POLICIES)}")
        self._policy = policy

    @property
    def solar_site(self) -> SolarSite | None:
        """The shared ``SolarSite`` of the PV port (None: it has a private one)."""
        return self._solar_site

    @property
    def battery(self) -> BatteryModel:
        """The battery port (read its SoC; ``set_soc_reserve`` narrows the window)."""
        return self._battery

    def iv_curve(self, g_w_m2: float, cell_temp_c: float, points: int = 41) -> list[IvPoint]:
        """The PV port's string I-V curve (``PvModel.iv_curve``); no state changes."""
        return self._pv.iv_curve(g_w_m2, cell_temp_c, points)

    def _dc_for_ac(self, ac_kw: float) -> float:
        """D(P): inverter DC power for AC power ``ac_kw`` (negative when importing)."""
        if ac_kw > 0.0:
            return converter_input_kw(ac_kw, self._p0_inv_kw, self._eta_inv)
        if ac_kw < 0.0:
            return -converter_output_kw(-ac_kw, self._p0_inv_kw, self._eta_inv)
        return 0.0

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance PV, battery and counters by ``dt_s`` seconds (module docstring)."""
        dt = dt_s if math.isfinite(dt_s) and dt_s > 0.0 else 0.0
        s_kva = self._s_kva
        array = self._pv.array_step(env, dt)
        p_avail = array.available_kw
        if p_avail < self._pv_start_kw:
            p_avail = 0.0
        load_kw = site_load_kw(env.site_load_kw, self._site_load, env.sim_time, dt)

        limit_pct = dispatch.active_power_limit_pct
        if not limit_pct < 100.0:  # also NaN
            w_lim = s_kva
            d_export = self._d_export_full_kw
        else:
            w_lim = s_kva * max(0.0, limit_pct) * 0.01
            d_export = self._dc_for_ac(w_lim)

        policy = self._policy
        target_ac: float | None = None
        setpoint_over_limit = False
        if policy == "self_consumption":
            d_target = self._dc_for_ac(load_kw) if load_kw < w_lim else d_export
            b_req = d_target - p_avail
            d_max = d_export
        elif policy == "pv_priority":
            b_req = d_export - p_avail if p_avail > d_export else 0.0
            d_max = d_export
        else:
            setpoint = dispatch.active_power_setpoint_kw
            if setpoint is None or not math.isfinite(setpoint):
                b_req = 0.0
                d_max = d_export
            else:
                target_ac = min(w_lim, max(-s_kva, float(setpoint)))
                setpoint_over_limit = w_lim < s_kva and setpoint > w_lim + _SETPOINT_TOL_KW
                if target_ac != self._last_target_kw:
                    self._last_target_kw = target_ac
                    self._last_target_dc_kw = self._dc_for_ac(target_ac)
                d_max = self._last_target_dc_kw
                b_req = d_max - p_avail

        # Will the inverter wake? Whatever the battery delivers (between 0 and b_req),
        # P_inv,dc ≥ min(P_avail + min(b_req, 0), D_max): above the threshold it surely wakes;
        # otherwise predict the battery from its limits for this step.
        battery = self._battery
        wake_kw = self._inv_wake_kw
        inverter_asleep = False
        if min(p_avail + min(b_req, 0.0), d_max) < wake_kw:
            # The converter runs at rating × taper (limits at dt = 0) and bursts when the energy
            # cap binds, so the inverter wakes for a burst; but a full pack only replaces
            # self-discharge, a sustained trickle judged by its average.
            dis_avg_kw, ch_avg_kw = battery.power_limits_kw(dt)
            dis_max_kw, ch_max_kw = battery.power_limits_kw(0.0)
            if dis_avg_kw <= 0.0:
                dis_max_kw = 0.0
            if ch_avg_kw <= 0.0 or battery.soc_pct >= battery.soc_reserve_max_pct:
                ch_max_kw = ch_avg_kw
            b_pred = min(dis_max_kw, max(-ch_max_kw, b_req))
            p_inv_pred = min(p_avail + b_pred, max(b_pred, d_max))
            inverter_asleep = -wake_kw < p_inv_pred < wake_kw
            if inverter_asleep:
                if b_pred > 0.0:  # nothing to feed
                    b_req = 0.0
                elif b_pred < -p_avail:  # would import: take only PV
                    b_req = -p_avail

        b, p_pack, soc_pct, v_pack, i_pack, _, _, batt_message = battery.advance(b_req, dt)

        # DC bus balance: P_pv + P_batt = P_inv,dc, curtailing PV only above the cap.
        curtailed_by_cap = False
        if inverter_asleep:
            p_pv = min(p_avail, 0.0 - b) if b < 0.0 else 0.0
            p_inv = p_pv + b
        else:
            p_pv = p_avail
            p_inv = p_avail + b
            if p_inv > d_max + _EPS_KW:
                p_inv = max(b, d_max)
                p_pv = p_inv - b
                curtailed_by_cap = True

        if p_inv > 0.0:
            p_ac = min(w_lim, converter_output_kw(p_inv, self._p0_inv_kw, self._eta_inv))
            inv_loss = p_inv - p_ac
        elif p_inv < 0.0:
            p_ac = max(-s_kva, -converter_input_kw(-p_inv, self._p0_inv_kw, self._eta_inv))
            inv_loss = p_inv - p_ac
        else:
            p_ac = inv_loss = 0.0
        dcdc_loss = p_pack - b

        dt_h = dt / 3600.0
        self._pv_kwh += p_pv * dt_h
        self._inv_loss_kwh += inv_loss * dt_h
        self._dcdc_loss_kwh += dcdc_loss * dt_h
        if p_pack >= 0.0:
            self._pack_out_kwh += p_pack * dt_h
            self._bus_out_kwh += b * dt_h
        else:
            self._pack_in_kwh -= p_pack * dt_h
            self._bus_in_kwh -= b * dt_h
        if p_ac >= 0.0:
            self._ac_injected_kwh += p_ac * dt_h
        else:
            self._ac_absorbed_kwh -= p_ac * dt_h
        grid_kw = load_kw - p_ac  # the site's meter, + import
        self._load_kwh += load_kw * dt_h
        if grid_kw >= 0.0:
            self._grid_import_kwh += grid_kw * dt_h
        else:
            self._grid_export_kwh -= grid_kw * dt_h

        # State and message.
        curtailed_kw = p_avail - p_pv
        clipped = False
        throttled = False
        message = batt_message
        if curtailed_by_cap and curtailed_kw > _SETPOINT_TOL_KW:
            if target_ac is not None:
                throttled = True
                message = message or "PV curtailed: the battery cannot absorb it at this setpoint"
            elif w_lim < s_kva:
                throttled = True
                message = message or f"PV curtailed by WMaxLimPct {limit_pct:g} %"
            else:
                clipped = True
        if setpoint_over_limit:
            throttled = True
            message = message or f"setpoint limited by WMaxLimPct {limit_pct:g} %"
        elif target_ac is not None and abs(p_ac - target_ac) > _SETPOINT_TOL_KW:
            throttled = True
            message = message or "AC setpoint not reached: battery at its limit"
        state: InverterState
        if throttled:
            state = "throttled"
        elif p_pv == 0.0 and b == 0.0 and p_inv == 0.0:
            state = "sleeping" if p_avail == 0.0 else "standby"
        else:
            state = "running"
        if message is not None and message is batt_message:
            message = "battery " + message

        pv_v = self._pv.curtailed_voltage_v(array, p_pv) if p_pv > 0.0 else 0.0
        rsv_min = battery.soc_reserve_min_pct
        rsv_max = battery.soc_reserve_max_pct
        asset: dict[str, AssetValue] = {
            "pv_power_kw": p_pv,
            "battery_power_kw": b,
            "dispatch": policy,
            "irradiance_w_m2": array.irradiance_w_m2,
            "effective_irradiance_w_m2": array.effective_irradiance_w_m2,
            "cell_temperature_c": array.cell_temperature_c,
            "ambient_temperature_c": array.ambient_temperature_c,
            "battery_soc_pct": soc_pct,
            "pv_available_kw": p_avail,
            "pv_curtailed_kw": curtailed_kw,
            "clipped": clipped,
            "pv_voltage_v": pv_v,
            "pv_current_a": p_pv * 1000.0 / pv_v if pv_v > 0.0 else 0.0,
            "battery_pack_power_kw": p_pack,
            "battery_voltage_v": v_pack,
            "battery_current_a": i_pack,
            "energy_available_kwh": self._batt_kwh_per_pct * max(0.0, soc_pct - rsv_min),
            "pv_energy_kwh": self._pv_kwh,
            "battery_charge_energy_kwh": self._pack_in_kwh,
            "battery_discharge_energy_kwh": self._pack_out_kwh,
            "battery_bus_charge_energy_kwh": self._bus_in_kwh,
            "battery_bus_discharge_energy_kwh": self._bus_out_kwh,
            "ac_energy_injected_kwh": self._ac_injected_kwh,
            "ac_energy_absorbed_kwh": self._ac_absorbed_kwh,
            "loss_energy_kwh": self._inv_loss_kwh + self._dcdc_loss_kwh,
            "inverter_loss_energy_kwh": self._inv_loss_kwh,
            "dc_dc_loss_energy_kwh": self._dcdc_loss_kwh,
            "site_load_kw": load_kw,
            "grid_power_kw": grid_kw,
            "site_load_energy_kwh": self._load_kwh,
            "grid_import_energy_kwh": self._grid_import_kwh,
            "grid_export_energy_kwh": self._grid_export_kwh,
        }
        return DeviceOutput(
            ac_power_kw=p_ac,
            reactive_power_kvar=0.0,
            dc_power_kw=p_inv,
            dc_voltage_v=self._v_bus,
            dc_current_a=p_inv * 1000.0 / self._v_bus,
            inverter_state=state,
            asset=asset,
            storage=StorageReport(soc_pct, rsv_min, rsv_max, self._soc_min_pct, self._soc_max_pct),
            message=message,
        )
