"""From a validated configuration to an engine of device models.

Maps each ``--device_type`` to its physics model and AC connection. A device type whose model
is not part of this build is refused with a ``ConfigError`` (exit code 2), never faked.
Each device gets its own seed (``seed + index``) so devices differ but runs repeat exactly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dersim_trio.controls.operating_state import OperatingTimes
from dersim_trio.controls.supervisor import DeviceSupervisor
from dersim_trio.engine.clock import SimClock
from dersim_trio.engine.core import DeviceSlot, Engine, InputProfile
from dersim_trio.errors import ConfigError
from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.enter_service import EnterServiceSettings, LazyRandom
from dersim_trio.grid.events import describe_event
from dersim_trio.grid.network import Thevenin
from dersim_trio.grid.ride_through import AbnormalCategory
from dersim_trio.grid.settings import GridSettings, NormalCategory, category_defaults
from dersim_trio.grid.support import GridSupport
from dersim_trio.physics.ac import AcType, ll_from_ln
from dersim_trio.physics.base import AcRating, DeviceModel
from dersim_trio.service.operator import DEFAULT_MANUFACTURER, DeviceIdentity
from dersim_trio.setup.config import SimConfig
from dersim_trio.setup.dc_profiles import load_profile
from dersim_trio.setup.grid_profile import load_grid_profile, uses_phases
from dersim_trio.setup.nameplates import (
    Nameplate,
    check_ac_type,
    load_nameplate,
    nominal_voltage_ln,
    seed_energy,
)

log_grid = logging.getLogger("dersim_trio.Grid")
if TYPE_CHECKING:
    from dersim_trio.physics.evse.spec import EvseStationSpec
    from dersim_trio.physics.solar import SolarSite

_AC_TYPE_BY_SUFFIX: dict[str, AcType] = {"1Phase": "single", "2Phase": "split", "3Phase": "three"}


def _ac_type(canonical_type: str) -> AcType:
    return _AC_TYPE_BY_SUFFIX[canonical_type.rsplit("-", 1)[-1]]


def _pv_fleet(
    config: SimConfig,
    ac_type: AcType,
    seeds: Sequence[int],
    nameplate: Nameplate | None,
    site: SolarSite | None,
) -> Sequence[DeviceModel]:
    """Every PV device of the run as one ``PvFleet`` (stepped as arrays), in seed order."""
    from dersim_trio.physics.pv import PvFleet, PvNameplate
    from dersim_trio.setup.nameplates import apply_pv_nameplate

    plate = PvNameplate(
        ac_type=ac_type,
        latitude_deg=config.latitude_deg,
        tilt_deg=config.pv_tilt_deg,
        azimuth_deg=config.pv_azimuth_deg,
    )
    if nameplate is not None:
        plate = apply_pv_nameplate(nameplate, plate)
    return PvFleet([plate] * len(seeds), seeds, site=site).members()


def _battery_fleet(
    config: SimConfig,
    ac_type: AcType,
    seeds: Sequence[int],
    nameplate: Nameplate | None,
    site: SolarSite | None,
) -> Sequence[DeviceModel]:
    """Every battery of the run as one ``BatteryFleet`` (stepped as arrays), in seed order."""
    from dersim_trio.physics.battery import BatteryFleet, BatteryNameplate
    from dersim_trio.setup.nameplates import apply_battery_nameplate

    plate = BatteryNameplate(ac_type=ac_type)
    if nameplate is not None:
        plate = apply_battery_nameplate(nameplate, plate)
    return BatteryFleet([plate] * len(seeds), seeds).members()


def _wind(
    config: SimConfig, ac_type: AcType, seed: int, nameplate: Nameplate | None
) -> DeviceModel:
    from dersim_trio.physics.wind import WindModel, iea_15mw_nameplate, nrel_5mw_nameplate
    from dersim_trio.setup.nameplates import apply_wind_nameplate
    from dersim_trio.setup.rotor_tables import rotor_performance

    plate = (
        nrel_5mw_nameplate() if config.canonical_type == "Wind-T3-3Phase" else iea_15mw_nameplate()
    )
    if nameplate is not None:
        plate = apply_wind_nameplate(nameplate, plate)
    return WindModel(
        plate,
        rotor_performance(plate.rotor_table),
        seed=seed,
        anemometer_height_m=config.wind_anemometer_height_m,
    )


def _fuelcell(
    config: SimConfig, ac_type: AcType, seed: int, nameplate: Nameplate | None
) -> DeviceModel:
    from dersim_trio.physics.fuelcell.model import FuelCellModel
    from dersim_trio.physics.fuelcell.stacks import fuelcell_nameplate
    from dersim_trio.setup.nameplates import apply_fuelcell_nameplate

    options = config.fuelcell
    try:
        plate = fuelcell_nameplate(options.chemistry, options.mode, options.fuel)
    except ValueError as exc:
        raise ConfigError(f"--fuelcell_chemistry/--fuelcell_mode/--fuelcell_fuel: {exc}") from None
    if nameplate is None:
        return FuelCellModel(plate, seed=seed)
    try:
        return FuelCellModel(apply_fuelcell_nameplate(nameplate, plate), seed=seed)
    except ValueError as exc:
        raise nameplate.error("702.WMaxRtg", str(exc)) from None


_HYBRID_FILE_KEYS = ("1.", "701.", "702.VNom")


def _hybrid(
    config: SimConfig,
    ac_type: AcType,
    seed: int,
    nameplate: Nameplate | None,
    *,
    site: SolarSite | None = None,
) -> DeviceModel:
    from dersim_trio.physics.hybrid import (
        DEFAULT_ARRAY,
        DEFAULT_BATTERY,
        HybridModel,
        HybridNameplate,
    )
    from dersim_trio.setup.site_loads import DEFAULT_KWH_PER_YEAR, load_shape

    if nameplate is not None:
        for key in nameplate.points:
            if not key.startswith(_HYBRID_FILE_KEYS):
                raise nameplate.error(
                    key,
                    "HybridDC-3Phase ratings come from the --hybrid_* flags; -f sets only "
                    "1.*, 701.* energy seeds and 702.VNom for it",
                )
    h = config.hybrid
    site_kind = None if h.site_load == "none" else h.site_load
    try:
        plate = HybridNameplate(
            array=replace(
                DEFAULT_ARRAY,
                dc_rating_kw=h.pv_kw,
                latitude_deg=config.latitude_deg,
                tilt_deg=config.pv_tilt_deg,
                azimuth_deg=config.pv_azimuth_deg,
            ),
            battery=replace(
                DEFAULT_BATTERY,
                w_max_kw=h.batt_kw,
                w_charge_max_kw=h.batt_kw,
                va_max_kva=h.batt_kw,
                energy_kwh=h.batt_kwh,
                soc_min_pct=h.soc_min_pct,
                soc_max_pct=h.soc_max_pct,
                soc_reserve_min_pct=h.soc_min_pct,
                soc_reserve_max_pct=h.soc_max_pct,
            ),
            ac_type=ac_type,
            inverter_kva=h.inverter_kva,
            dispatch=h.dispatch,
            site_load=None if site_kind is None else load_shape(site_kind),
            site_load_kwh_per_year=(
                h.site_load_kwh
                if h.site_load_kwh is not None
                else (0.0 if site_kind is None else DEFAULT_KWH_PER_YEAR[site_kind])
            ),
        )
    except ValueError as exc:
        raise ConfigError(f"--hybrid_*: {exc}") from None
    return HybridModel(plate, seed=seed, site=site)


def _evse_station(config: SimConfig) -> EvseStationSpec:
    from dersim_trio.physics.evse.spec import DEFAULT_STATION_NAME
    from dersim_trio.setup.evse_stations import load_station_spec

    try:
        return load_station_spec(config.evse_profile or DEFAULT_STATION_NAME)
    except ValueError as exc:
        raise ConfigError(f"--evse_profile: {exc}") from None


def _evse_voltage_ln(config: SimConfig, nameplate: Nameplate | None) -> float:
    """The station's nominal line-to-neutral voltage: its supply, which ``702.VNom`` must match."""
    from dersim_trio.physics.evse.spec import VOLTAGE_TOLERANCE

    v_ll = _evse_station(config).supply_voltage_ll_v
    v_nom = None if nameplate is None else nameplate.get("702.VNom")
    if nameplate is not None and v_nom is not None and abs(v_nom - v_ll) > VOLTAGE_TOLERANCE * v_ll:
        raise nameplate.error(
            "702.VNom",
            f"{v_nom:g} V contradicts the EVSE station's {v_ll:g} V supply (allowed: {v_ll:g})",
        )
    return v_ll / ll_from_ln("three", 1.0)


def _evse(
    config: SimConfig, ac_type: AcType, seed: int, nameplate: Nameplate | None
) -> DeviceModel:
    from dersim_trio.physics.evse.station import EvseModel
    from dersim_trio.setup.ev_sessions_csv import load_sessions_csv

    spec = _evse_station(config)
    sessions = None
    if config.dc_profile is not None:
        try:
            sessions = load_sessions_csv(config.dc_profile)
        except ValueError as exc:
            raise ConfigError(f"--dc_profile {config.dc_profile}: {exc}") from None
    try:
        return EvseModel(spec, seed=seed, sessions=sessions)
    except ValueError as exc:
        raise ConfigError(f"--dc_profile {config.dc_profile}: {exc}") from None


ModelFactory = Callable[[SimConfig, AcType, int, Nameplate | None], DeviceModel]
FleetFactory = Callable[
    [SimConfig, AcType, Sequence[int], Nameplate | None, "SolarSite | None"],
    Sequence[DeviceModel],
]
"""Builds the models of a run from its configuration, one per seed (the ``SolarSite`` of the
run for the types with PV arrays)."""


def _each(factory: ModelFactory) -> FleetFactory:
    """A ``FleetFactory`` building one model object per device."""

    def build(
        config: SimConfig,
        ac_type: AcType,
        seeds: Sequence[int],
        nameplate: Nameplate | None,
        site: SolarSite | None,
    ) -> Sequence[DeviceModel]:
        return [factory(config, ac_type, seed, nameplate) for seed in seeds]

    return build


def _hybrids(
    config: SimConfig,
    ac_type: AcType,
    seeds: Sequence[int],
    nameplate: Nameplate | None,
    site: SolarSite | None,
) -> Sequence[DeviceModel]:
    return [_hybrid(config, ac_type, seed, nameplate, site=site) for seed in seeds]


_FACTORIES: dict[str, FleetFactory] = {
    "PV-1Phase": _pv_fleet,
    "PV-2Phase": _pv_fleet,
    "PV-3Phase": _pv_fleet,
    "Batt-1Phase": _battery_fleet,
    "Batt-2Phase": _battery_fleet,
    "Batt-3Phase": _battery_fleet,
    "Wind-T3-3Phase": _each(_wind),
    "Wind-T4-3Phase": _each(_wind),
    "Fuelcell-3Phase": _each(_fuelcell),
    "HybridDC-3Phase": _hybrids,
    "EVSE": _each(_evse),
}


def simulated_types() -> list[str]:
    """Canonical device types this build simulates."""
    return list(_FACTORIES)


def start_time(config: SimConfig, wall_now: datetime) -> datetime:
    """The simulator time of tick 0 in the configured timezone."""
    tz: tzinfo = ZoneInfo(config.timezone)
    local_now = wall_now.astimezone(tz)
    if config.wall_clock:
        return local_now
    day = config.start_date or local_now.date()
    clock = config.start_clock_time or local_now.time().replace(microsecond=0)
    # the UTC round trip normalises a wall time inside a DST gap, as a real clock would
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC).astimezone(tz)


def grid_rating(model: DeviceModel) -> GridRating:
    """The ratings the grid functions use for a model (charging up to ``WChaRteMaxRtg``): one
    immutable object for every model with equal ratings (a fleet's devices share it)."""
    return _grid_rating(model.rating)


@functools.lru_cache(maxsize=64)
def _grid_rating(r: AcRating) -> GridRating:
    return GridRating(
        w_max_kw=r.w_max_kw,
        va_max_kva=r.va_max_kva,
        var_max_inj_kvar=r.var_max_inj_kvar,
        var_max_abs_kvar=r.var_max_abs_kvar,
        w_max_charge_kw=r.w_charge_max_kw,
    )


@functools.lru_cache(maxsize=64)
def _shared_defaults(
    normal: NormalCategory, abnormal: AbnormalCategory, rating: GridRating, es: EnterServiceSettings
) -> GridSettings:
    """``category_defaults``, one immutable object for every device with the same ratings (a
    fleet's devices share one instead of 1.5 KB of settings each; a change makes a new one)."""
    return category_defaults(normal, abnormal, rating, enter_service=es)


@functools.lru_cache(maxsize=16)
def _enter_service(delay_s: float) -> EnterServiceSettings:
    """The enter-service defaults with ``--enter_service_delay_s``: one immutable object for
    every device of a run."""
    return EnterServiceSettings(es_dly_tms_s=delay_s)


def grid_support(config: SimConfig, model: DeviceModel, index: int) -> GridSupport:
    """IEEE 1547 grid support at the start categories' defaults (every model is inverter-based:
    PV, storage, hybrid, fuel cell and EVSE through their converter, wind type III/IV at theirs).

    The randomized enter-service delay draws from a generator seeded by ``--seed`` and the index.
    """
    rating = grid_rating(model)
    es = _enter_service(config.enter_service_delay_s)
    settings = _shared_defaults(
        config.grid_normal_category, config.grid_abnormal_category, rating, es
    )
    return GridSupport(settings, rating, LazyRandom(f"{config.seed}:{index}:grid"), es_default=es)


def build_engine(config: SimConfig, wall_now: datetime) -> Engine:
    """Create the engine (devices, clock) a configuration describes."""
    factory = _FACTORIES.get(config.canonical_type)
    if factory is None:
        raise ConfigError(
            f"--device_type: {config.device_type!r} is not simulated by this build; "
            f"available: {', '.join(simulated_types())}"
        )
    ac_type = _ac_type(config.canonical_type) if config.canonical_type != "EVSE" else "three"
    nameplate = None
    if config.nameplate_file is not None:
        nameplate = load_nameplate(config.nameplate_file, config.canonical_type)
        check_ac_type(nameplate, ac_type, config.device_type)
    profile: InputProfile | None = None
    if config.dc_profile is not None and config.canonical_type != "EVSE":
        profile = load_profile(config.dc_profile, config.canonical_type)
    if config.canonical_type == "EVSE":
        v_ln_nominal = _evse_voltage_ln(config, nameplate)
    else:
        v_ln_nominal = nominal_voltage_ln(nameplate, config.canonical_type, ac_type)
    start = start_time(config, wall_now)
    first = config.first_device  # a fleet shard's devices keep their fleet indices and seeds
    indices = range(first, first + config.device_count)
    seeds = [config.seed + i for i in indices]
    site = None
    if config.canonical_type.startswith(("PV-", "HybridDC-")):
        # One sky for every PV array of the run (physics/solar.py: computed for all at once).
        from dersim_trio.setup.solar_site import solar_site

        site = solar_site(config.latitude_deg, None, start)
    models = factory(config, ac_type, seeds, nameplate, site)
    network = Thevenin(config.grid_scr, config.grid_xr) if config.grid_scr is not None else None
    devices = []
    for i, model in zip(indices, models, strict=True):
        devices.append(
            DeviceSlot(
                index=i,
                model=model,
                ac_type=ac_type,
                voltage_ln_nominal_v=v_ln_nominal,
                profile=profile,
                energy=seed_energy(nameplate),
                supervisor=DeviceSupervisor(grid=grid_support(config, model, i)),
                network=network,
            )
        )
    clock = SimClock(
        start=start,
        sim_seconds_per_tick=config.periodic_time_s * config.time_scale,
        wall_clock=config.wall_clock,
    )
    times = OperatingTimes(
        startup_time_s=config.startup_time_s,
        shutdown_time_s=config.shutdown_time_s,
        enter_service_delay_s=config.enter_service_delay_s,
    )
    engine = Engine(devices, clock, config.device_type, config.device_profile_name, times)
    if config.grid_profile is not None:
        event = load_grid_profile(config.grid_profile)
        if uses_phases(event) and ac_type != "three":
            raise ConfigError(
                f"--grid_profile {config.grid_profile}: per-phase voltages apply to three-phase "
                f"devices; {config.device_type} is {ac_type}-phase"
            )
        engine.grid_event = event
        log_grid.info(
            "grid profile %s plays to every device from the start: %s",
            config.grid_profile,
            describe_event(event),
        )
    return engine


def device_identity(config: SimConfig) -> DeviceIdentity:
    """The SunSpec model 1 identity of the devices: the nameplate file's ``1.Mn``, ``1.Md`` and
    ``1.DA`` where it sets them; else the simulator's name and the device type (or the bundled
    nameplate's or profile's name) and unit id 1."""
    model = config.device_profile_name or config.canonical_type
    if config.nameplate_file is None:
        return DeviceIdentity(model=model)
    points = load_nameplate(config.nameplate_file, config.canonical_type).points
    manufacturer = points.get("1.Mn")
    md = points.get("1.Md")
    address = points.get("1.DA")
    return DeviceIdentity(
        manufacturer=str(manufacturer) if manufacturer else DEFAULT_MANUFACTURER,
        model=str(md) if md else model,
        device_address=int(address) if isinstance(address, int | float) else 1,
    )
