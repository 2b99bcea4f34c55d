"""From a validated configuration to an engine of device models.

Maps each ``--device_type`` to its physics model and AC connection. A device type whose model
is not part of this build is refused with a ``ConfigError`` (exit code 2), never faked.
Each device gets its own seed (``seed + index``) so devices differ but runs repeat exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from .clock import SimClock
from .config import ConfigError, SimConfig
from .engine import DeviceSlot, Engine
from .physics.ac import AcType, nominal_voltage_ln_v
from .physics.base import DeviceModel

_AC_TYPE_BY_SUFFIX: dict[str, AcType] = {"1Phase": "single", "2Phase": "split", "3Phase": "three"}


def _ac_type(canonical_type: str) -> AcType:
    return _AC_TYPE_BY_SUFFIX[canonical_type.rsplit("-", 1)[-1]]


def _pv(config: SimConfig, ac_type: AcType, seed: int) -> DeviceModel:
    from .physics.pv import PvModel, PvNameplate

    return PvModel(PvNameplate(ac_type=ac_type, latitude_deg=config.latitude_deg), seed=seed)


def _battery(config: SimConfig, ac_type: AcType, seed: int) -> DeviceModel:
    from .physics.battery import BatteryModel, BatteryNameplate

    return BatteryModel(BatteryNameplate(ac_type=ac_type), seed=seed)


def _wind(config: SimConfig, ac_type: AcType, seed: int) -> DeviceModel:
    from .physics.wind import WindModel, iea_15mw_nameplate, nrel_5mw_nameplate

    nameplate = (
        nrel_5mw_nameplate() if config.canonical_type == "Wind-T3-3Phase" else iea_15mw_nameplate()
    )
    return WindModel(nameplate, seed=seed, anemometer_height_m=config.wind_anemometer_height_m)


def _fuelcell(config: SimConfig, ac_type: AcType, seed: int) -> DeviceModel:
    from .physics.fuelcell import FuelCellModel, fuelcell_nameplate

    options = config.fuelcell
    try:
        nameplate = fuelcell_nameplate(options.chemistry, options.mode, options.fuel)
    except ValueError as exc:
        raise ConfigError(f"--fuelcell_chemistry/--fuelcell_mode/--fuelcell_fuel: {exc}") from None
    return FuelCellModel(nameplate, seed=seed)


ModelFactory = Callable[[SimConfig, AcType, int], DeviceModel]

_FACTORIES: dict[str, ModelFactory] = {
    "PV-1Phase": _pv,
    "PV-2Phase": _pv,
    "PV-3Phase": _pv,
    "Batt-1Phase": _battery,
    "Batt-2Phase": _battery,
    "Batt-3Phase": _battery,
    "Wind-T3-3Phase": _wind,
    "Wind-T4-3Phase": _wind,
    "Fuelcell-3Phase": _fuelcell,
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


def build_engine(config: SimConfig, wall_now: datetime) -> Engine:
    """Create the engine (devices, clock) a configuration describes."""
    factory = _FACTORIES.get(config.canonical_type)
    if factory is None:
        raise ConfigError(
            f"--device_type: {config.device_type!r} is not simulated by this build; "
            f"available: {', '.join(simulated_types())}"
        )
    ac_type = _ac_type(config.canonical_type) if config.canonical_type != "EVSE" else "three"
    devices = [
        DeviceSlot(
            index=i,
            model=factory(config, ac_type, config.seed + i),
            ac_type=ac_type,
            voltage_ln_nominal_v=nominal_voltage_ln_v(ac_type),
        )
        for i in range(config.device_count)
    ]
    clock = SimClock(
        start=start_time(config, wall_now),
        sim_seconds_per_tick=config.periodic_time_s * config.time_scale,
        wall_clock=config.wall_clock,
    )
    return Engine(devices, clock, config.device_type, config.device_profile_name)
