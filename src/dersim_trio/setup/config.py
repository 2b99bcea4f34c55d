"""Validated run configuration: what the command line (contract §1) resolves to.

``parse_args`` turns argv into a ``SimConfig`` or raises ``ConfigError`` naming the flag and the
allowed values; the CLI prints that one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dersim_trio.errors import ConfigError
from dersim_trio.grid.network import DEFAULT_XR, SCR_RANGE, XR_RANGE
from dersim_trio.setup.nameplates import resolve_nameplate

DEVICE_TYPE_ALIASES: dict[str, str] = {
    "PV": "PV-3Phase",
    "PV-1Phase": "PV-1Phase",
    "PV-2Phase": "PV-2Phase",
    "PV-3Phase": "PV-3Phase",
    "Batt": "Batt-3Phase",
    "Batt-1Phase": "Batt-1Phase",
    "Batt-2Phase": "Batt-2Phase",
    "Batt-3Phase": "Batt-3Phase",
    "Wind-T3-3Phase": "Wind-T3-3Phase",
    "Wind-T4-3Phase": "Wind-T4-3Phase",
    "Fuelcell-3Phase": "Fuelcell-3Phase",
    "HybridDC-3Phase": "HybridDC-3Phase",
    "EVSE": "EVSE",
}
"""Every ``--device_type`` value the contract names, mapped to its canonical type."""

MAX_DEVICE_COUNT = 10_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
HybridDispatch = Literal["self_consumption", "pv_priority", "manual"]


@dataclass(frozen=True, slots=True)
class FuelCellOptions:
    """``--fuelcell_*`` flags."""

    chemistry: str = "PEMFC"
    mode: str = "fc_only"
    fuel: str = "tank"


@dataclass(frozen=True, slots=True)
class HybridOptions:
    """``--hybrid_*`` flags (kW, kWh, kVA, %)."""

    pv_kw: float = 10.0
    batt_kw: float = 10.0
    batt_kwh: float = 15.0
    inverter_kva: float = 15.0
    soc_min_pct: float = 10.0
    soc_max_pct: float = 95.0
    dispatch: HybridDispatch = "self_consumption"


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything one simulator process runs with."""

    device_type: str = "PV"
    """As given on the command line (echoed in every snapshot)."""
    canonical_type: str = "PV-3Phase"
    device_count: int = 1
    website_ip: str = "127.0.0.1"
    website_port: int = 8111
    periodic_time_s: float = 1.5
    time_scale: float = 1.0
    wall_clock: bool = False
    timezone: str = "UTC"
    start_clock_time: time | None = None
    """None: the wall-clock time of day at start-up."""
    start_date: date | None = None
    """None: the wall-clock date at start-up (in ``timezone``)."""
    nameplate_file: Path | None = None
    evse_profile: str | None = None
    dc_profile: Path | None = None
    seed: int = 0
    log_level: str = "INFO"
    wind_anemometer_height_m: float = 10.0
    latitude_deg: float = 35.0
    fast_path: bool = True
    """Serve the telemetry stream through the front door's broadcaster (else the quart route)."""
    fuelcell: FuelCellOptions = field(default_factory=FuelCellOptions)
    hybrid: HybridOptions = field(default_factory=HybridOptions)
    list_profiles: bool = False
    """``--list-profiles``: print the bundled nameplates (and EVSE profiles) and exit 0."""
    startup_time_s: float = 5.0
    """``--startup_time_s``: simulated seconds in ``starting`` after a start command."""
    shutdown_time_s: float = 3.0
    """``--shutdown_time_s``: simulated seconds the output ramps to 0 after a stop command."""
    enter_service_delay_s: float = 5.0
    """``--enter_service_delay_s``: delay after an operator ``enter_service`` command, s."""
    grid_normal_category: Literal["A", "B"] = "B"
    """``--grid_category``: IEEE 1547 normal performance category every device starts in."""
    grid_abnormal_category: Literal["I", "II", "III"] = "III"
    """``--grid_category``: IEEE 1547 abnormal performance category every device starts in."""
    grid_profile: Path | None = None
    """``--grid_profile``: a grid event CSV played to every device from the start."""
    grid_scr: float | None = None
    """``--grid_scr``: short-circuit ratio of a weak grid (None: a stiff grid)."""
    grid_xr: float = DEFAULT_XR
    """``--grid_xr``: X/R ratio of that grid's source impedance."""
    api_token: str | None = field(default=None, repr=False)
    """``--api_token`` / ``DERSIM_API_TOKEN``: bearer token for mutating requests (None: open).
    Kept out of ``repr`` so that logging a config never shows it."""

    @property
    def device_profile_name(self) -> str | None:
        """The profile name reported in snapshots (``--evse_profile`` or ``-f`` file stem)."""
        if self.evse_profile is not None:
            return Path(self.evse_profile).stem
        if self.nameplate_file is not None:
            return self.nameplate_file.stem
        return None


class _Parser(argparse.ArgumentParser):
    """argparse that raises ``ConfigError`` (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def _yes_no(flag: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "y", "true", "1", "on"):
        return True
    if lowered in ("no", "n", "false", "0", "off"):
        return False
    raise ConfigError(f"{flag}: expected yes or no, got {value!r}")


def _finite(flag: str, value: float, lo: float, hi: float) -> float:
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(f"{flag}: must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return value


_HMS = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")


def _clock_time(value: str) -> time:
    match = _HMS.match(value.strip())
    if match is None:
        raise ConfigError(
            f"--start_clock_time: expected HH:MM:SS (00:00:00..23:59:59), got {value!r}"
        )
    h, m, s = (int(g) for g in match.groups())
    if h > 23 or m > 59 or s > 59:
        raise ConfigError(
            f"--start_clock_time: expected HH:MM:SS (00:00:00..23:59:59), got {value!r}"
        )
    return time(h, m, s)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (flag names as in the contract, §1)."""
    p = _Parser(
        prog="dersim-trio",
        description="DER simulator: devices with real physics, telemetry over HTTP and WebSocket.",
    )
    add = p.add_argument
    types = ", ".join(DEVICE_TYPE_ALIASES)
    add("-d", "--device_type", default="PV", help=f"device type: {types} (default PV)")
    add("-N", "--device_count", default="1", help="number of devices, 1..10000 (default 1)")
    add("-wi", "--website_ip", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    add("-wp", "--website_port", default="8111", help="port, 0..65535; 0 picks a free one")
    add("--periodic_time", default="1.5", help="seconds between ticks, 0.01..3600 (default 1.5)")
    add(
        "--time_scale",
        "--wind_time_scale",
        default=None,
        help="simulated seconds per real second, 0.001..1e6 (default 1)",
    )
    add("-wc", "--wall_clock", default="no", help="yes: the simulator clock follows the real clock")
    add("-wc_tz", "--wall_clock_timezone", default="UTC", help="IANA time zone (default UTC)")
    add(
        "--start_clock_time",
        "--start-clock-time",
        "-start_clock_time",
        default=None,
        help="HH:MM:SS the simulator clock starts at (default: now)",
    )
    add(
        "--start_date",
        default=None,
        help="YYYY-MM-DD the simulator clock starts on (default: today)",
    )
    add("-f", dest="nameplate_file", default=None, help="nameplate JSON (<model>.<point> keys)")
    add(
        "--list-profiles",
        "--list_profiles",
        action="store_true",
        help="print the bundled nameplates and EVSE profiles, then exit",
    )
    add("--evse_profile", default=None, help="EVSE profile name or JSON file (implies -d EVSE)")
    add("-dc_p", "--dc_profile", default=None, help="DC-source profile CSV")
    add("--seed", default="0", help="seed of every random process (default 0)")
    add("--log_level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    add("--wind_anemometer_height_m", default="10", help="wind data measurement height, m")
    add("--latitude", default="35.0", help="site latitude for the sun position, degrees")
    add(
        "--fast_path",
        default="yes",
        help="yes: telemetry through the pre-framed broadcaster; no: through the quart route",
    )
    add(
        "--api_token",
        default=None,
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on mutating requests (default: env "
        "DERSIM_API_TOKEN, else none); prefer the variable: flags show in the process list",
    )
    add("--startup_time_s", default="5", help="seconds in 'starting' after start, 0..3600 (5)")
    add("--shutdown_time_s", default="3", help="seconds to ramp to 0 after stop, 0..3600 (3)")
    add(
        "--enter_service_delay_s",
        default="5",
        help="enter-service delay after enter_service, seconds 0..3600 (5)",
    )
    add(
        "--grid_category",
        default="B,III",
        help="IEEE 1547 normal,abnormal performance categories every device starts with: "
        "A or B, then I, II or III (default B,III)",
    )
    add(
        "--grid_profile",
        default=None,
        help="grid event CSV (t_s, v_pu or v_a_pu/v_b_pu/v_c_pu, freq_hz) played from the start",
    )
    add(
        "--grid_scr",
        default=None,
        help="weak grid: short-circuit ratio 1..1000 of each device's source impedance "
        "(default: a stiff grid)",
    )
    add("--grid_xr", default=None, help=f"X/R ratio 0..50 with --grid_scr ({DEFAULT_XR:g})")
    add("--fuelcell_chemistry", default="PEMFC", help="PEMFC or SOFC")
    add("--fuelcell_mode", default="fc_only", help="fc_only or bidirectional")
    add("--fuelcell_fuel", default="tank", help="tank or continuous")
    add("--hybrid_pv_kw", default="10.0")
    add("--hybrid_batt_kw", default="10.0")
    add("--hybrid_batt_kwh", default="15.0")
    add("--hybrid_inverter_kva", default="15.0")
    add("--hybrid_soc_min_pct", default="10.0")
    add("--hybrid_soc_max_pct", default="95.0")
    add(
        "--hybrid_dispatch",
        default="self_consumption",
        help="self_consumption, pv_priority or manual",
    )
    return p


def _number(flag: str, raw: str, lo: float, hi: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{flag}: must be a number in [{lo:g}, {hi:g}], got {raw!r}") from None
    return _finite(flag, value, lo, hi)


def _integer(flag: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{flag}: must be an integer in [{lo}, {hi}], got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{flag}: must be an integer in [{lo}, {hi}], got {raw!r}")
    return value


def _choice(flag: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(f"{flag}: must be one of {', '.join(allowed)}; got {raw!r}")
    return raw


_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


def _api_token(flag_value: str | None, environ: Mapping[str, str]) -> str | None:
    """The token from ``--api_token``, else ``DERSIM_API_TOKEN``; errors never show the value."""
    if flag_value is not None:
        source, value = "--api_token", flag_value
    elif "DERSIM_API_TOKEN" in environ:
        source, value = "DERSIM_API_TOKEN", environ["DERSIM_API_TOKEN"]
    else:
        return None
    if not value:
        raise ConfigError(f"{source}: the token must not be empty (leave it unset for no token)")
    if not set(value) <= _TOKEN_CHARS:
        raise ConfigError(
            f"{source}: the token may contain only printable ASCII without spaces "
            f"({len(value)} characters given)"
        )
    return value


def _grid_category(raw: str) -> tuple[Literal["A", "B"], Literal["I", "II", "III"]]:
    parts = [p.strip().upper() for p in raw.split(",")]
    if len(parts) != 2 or parts[0] not in ("A", "B") or parts[1] not in ("I", "II", "III"):
        raise ConfigError(
            f"--grid_category: expected NORMAL,ABNORMAL with A or B and I, II or III "
            f"(e.g. B,III); got {raw!r}"
        )
    return parts[0], parts[1]  # type: ignore[return-value]


def parse_args(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> SimConfig:
    """Parse and validate the command line; raise ``ConfigError`` with one clear line.

    ``environ`` (default ``os.environ``) supplies ``DERSIM_API_TOKEN``.
    """
    ns = build_parser().parse_args(argv)
    device_type = ns.device_type
    if ns.evse_profile is not None:
        if device_type not in ("PV", "EVSE"):
            raise ConfigError(
                "--evse_profile implies -d EVSE; do not combine it with -d " + device_type
            )
        device_type = "EVSE"
    if device_type not in DEVICE_TYPE_ALIASES:
        raise ConfigError(
            f"--device_type: must be one of {', '.join(DEVICE_TYPE_ALIASES)}; got {device_type!r}"
        )
    wall_clock = _yes_no("--wall_clock", ns.wall_clock)
    time_scale = _number("--time_scale", ns.time_scale or "1", 0.001, 1e6)
    if wall_clock and time_scale != 1.0:
        raise ConfigError(
            "--time_scale: must be 1 with --wall_clock yes (the real clock runs at 1)"
        )
    if wall_clock and (ns.start_clock_time is not None or ns.start_date is not None):
        raise ConfigError("--start_clock_time/--start_date: not allowed with --wall_clock yes")
    try:
        ZoneInfo(ns.wall_clock_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"--wall_clock_timezone: unknown IANA time zone {ns.wall_clock_timezone!r} "
            "(e.g. UTC, America/Los_Angeles)"
        ) from None
    start_date = None
    if ns.start_date is not None:
        try:
            start_date = date.fromisoformat(ns.start_date)
        except ValueError:
            raise ConfigError(f"--start_date: expected YYYY-MM-DD, got {ns.start_date!r}") from None
    nameplate = None
    if ns.nameplate_file is not None:
        nameplate = resolve_nameplate(ns.nameplate_file)  # a path or a bundled name
    dc_profile = Path(ns.dc_profile) if ns.dc_profile is not None else None
    if dc_profile is not None and not dc_profile.is_file():
        raise ConfigError(f"--dc_profile: file {str(dc_profile)!r} does not exist or is not a file")
    hybrid = HybridOptions(
        pv_kw=_number("--hybrid_pv_kw", ns.hybrid_pv_kw, 0.1, 100_000),
        batt_kw=_number("--hybrid_batt_kw", ns.hybrid_batt_kw, 0.1, 100_000),
        batt_kwh=_number("--hybrid_batt_kwh", ns.hybrid_batt_kwh, 0.1, 1_000_000),
        inverter_kva=_number("--hybrid_inverter_kva", ns.hybrid_inverter_kva, 0.1, 100_000),
        soc_min_pct=_number("--hybrid_soc_min_pct", ns.hybrid_soc_min_pct, 0, 100),
        soc_max_pct=_number("--hybrid_soc_max_pct", ns.hybrid_soc_max_pct, 0, 100),
        dispatch=_choice(  # type: ignore[arg-type]
            "--hybrid_dispatch", ns.hybrid_dispatch, ("self_consumption", "pv_priority", "manual")
        ),
    )
    if hybrid.soc_min_pct >= hybrid.soc_max_pct:
        raise ConfigError("--hybrid_soc_min_pct: must be below --hybrid_soc_max_pct")
    grid_normal, grid_abnormal = _grid_category(ns.grid_category)
    grid_profile = Path(ns.grid_profile) if ns.grid_profile is not None else None
    if grid_profile is not None and not grid_profile.is_file():
        raise ConfigError(
            f"--grid_profile: file {str(grid_profile)!r} does not exist or is not a file"
        )
    grid_scr = _number("--grid_scr", ns.grid_scr, *SCR_RANGE) if ns.grid_scr is not None else None
    if ns.grid_xr is not None and grid_scr is None:
        raise ConfigError("--grid_xr: applies to a weak grid; give --grid_scr too")
    grid_xr = _number("--grid_xr", ns.grid_xr, *XR_RANGE) if ns.grid_xr is not None else DEFAULT_XR
    return SimConfig(
        device_type=device_type,
        canonical_type=DEVICE_TYPE_ALIASES[device_type],
        device_count=_integer("--device_count", ns.device_count, 1, MAX_DEVICE_COUNT),
        website_ip=ns.website_ip,
        website_port=_integer("--website_port", ns.website_port, 0, 65535),
        periodic_time_s=_number("--periodic_time", ns.periodic_time, 0.01, 3600),
        time_scale=time_scale,
        wall_clock=wall_clock,
        timezone=ns.wall_clock_timezone,
        start_clock_time=_clock_time(ns.start_clock_time) if ns.start_clock_time else None,
        start_date=start_date,
        nameplate_file=nameplate,
        evse_profile=ns.evse_profile,
        dc_profile=dc_profile,
        seed=_integer("--seed", ns.seed, 0, 2**63 - 1),
        log_level=_choice("--log_level", ns.log_level.upper(), LOG_LEVELS),
        wind_anemometer_height_m=_number(
            "--wind_anemometer_height_m", ns.wind_anemometer_height_m, 0.5, 300
        ),
        latitude_deg=_number("--latitude", ns.latitude, -90, 90),
        fast_path=_yes_no("--fast_path", ns.fast_path),
        fuelcell=FuelCellOptions(
            chemistry=_choice("--fuelcell_chemistry", ns.fuelcell_chemistry, ("PEMFC", "SOFC")),
            mode=_choice("--fuelcell_mode", ns.fuelcell_mode, ("fc_only", "bidirectional")),
            fuel=_choice("--fuelcell_fuel", ns.fuelcell_fuel, ("tank", "continuous")),
        ),
        hybrid=hybrid,
        list_profiles=ns.list_profiles,
        startup_time_s=_number("--startup_time_s", ns.startup_time_s, 0, 3600),
        shutdown_time_s=_number("--shutdown_time_s", ns.shutdown_time_s, 0, 3600),
        enter_service_delay_s=_number("--enter_service_delay_s", ns.enter_service_delay_s, 0, 3600),
        grid_normal_category=grid_normal,
        grid_abnormal_category=grid_abnormal,
        grid_profile=grid_profile,
        grid_scr=grid_scr,
        grid_xr=grid_xr,
        api_token=_api_token(ns.api_token, os.environ if environ is None else environ),
    )
