"""Validated run configuration: what the command line (contract §1) resolves to.

``parse_args`` turns argv into a ``SimConfig`` or raises ``ConfigError`` naming the flag and the
allowed values; the CLI prints that one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dersim_trio.errors import ConfigError
from dersim_trio.grid.network import DEFAULT_XR, SCR_RANGE, XR_RANGE
from dersim_trio.physics.evse.spec import DEFAULT_STATION_NAME
from dersim_trio.protocols.modbus.quirks import DEFAULT_SLOW_MS, QUIRKS
from dersim_trio.setup.hostnames import parse_allowed_hosts
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

_DEVICE_TYPE_BY_LOWER: dict[str, str] = {name.lower(): name for name in DEVICE_TYPE_ALIASES}
"""``-d`` ignores case: ``pv``, ``batt``, ``evse`` are the names above."""

PV_ARRAY_TYPES = ("PV-1Phase", "PV-2Phase", "PV-3Phase", "HybridDC-3Phase")
WIND_TYPES = ("Wind-T3-3Phase", "Wind-T4-3Phase")
FUELCELL_TYPES = ("Fuelcell-3Phase",)
HYBRID_TYPES = ("HybridDC-3Phase",)

FLAG_DEVICE_TYPES: dict[str, tuple[str, ...]] = {
    "--evse_profile": ("EVSE",),
    "--dc_profile": (*PV_ARRAY_TYPES, *WIND_TYPES, "EVSE"),
    "--latitude": PV_ARRAY_TYPES,
    "--pv_tilt_deg": PV_ARRAY_TYPES,
    "--pv_azimuth_deg": PV_ARRAY_TYPES,
    "--wind_anemometer_height_m": WIND_TYPES,
    "--fuelcell_chemistry": FUELCELL_TYPES,
    "--fuelcell_mode": FUELCELL_TYPES,
    "--fuelcell_fuel": FUELCELL_TYPES,
    "--hybrid_pv_kw": HYBRID_TYPES,
    "--hybrid_batt_kw": HYBRID_TYPES,
    "--hybrid_batt_kwh": HYBRID_TYPES,
    "--hybrid_inverter_kva": HYBRID_TYPES,
    "--hybrid_soc_min_pct": HYBRID_TYPES,
    "--hybrid_soc_max_pct": HYBRID_TYPES,
    "--hybrid_dispatch": HYBRID_TYPES,
    "--hybrid_site_load": HYBRID_TYPES,
    "--hybrid_site_load_kwh": HYBRID_TYPES,
}
"""The flags that apply to some device types only (canonical types); every other flag applies
to all. A flag in this table given with another ``-d`` is refused (exit 2), naming its types."""

MAX_DEVICE_COUNT = 100_000
MAX_SHARD_COUNT = 256
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
HybridDispatch = Literal["self_consumption", "pv_priority", "manual"]
HybridSiteLoad = Literal["residential", "commercial", "none"]


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
    site_load: HybridSiteLoad = "residential"
    """``--hybrid_site_load``: the load shape behind the meter, or ``none``."""
    site_load_kwh: float | None = None
    """``--hybrid_site_load_kwh``: yearly site energy; None: the shape's default."""


MODBUS_MAX_PORT = 65535
MODBUS_DEFAULT_MAX_CONNECTIONS = 16
MODBUS_DEFAULT_IDLE_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ModbusOptions:
    """``--modbus_*`` flags: the SunSpec Modbus TCP server (device *i* on ``port`` + *i*)."""

    port: int
    """First device's port; 0: every device gets a free port (tests)."""
    ip: str
    quirks: tuple[str, ...] = ()
    slow_ms: float = DEFAULT_SLOW_MS
    """Response delay of the ``slow`` quirk, ms."""
    max_connections: int = MODBUS_DEFAULT_MAX_CONNECTIONS
    """Concurrent connections per device (``single_connection``: 1)."""
    idle_timeout_s: float = MODBUS_DEFAULT_IDLE_TIMEOUT_S

    def ports(self, device_count: int) -> list[int]:
        """The port of every device (all 0 when the OS picks them)."""
        if self.port == 0:
            return [0] * device_count
        return [self.port + i for i in range(device_count)]


MQTT_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_FLEET = "dersim"
_FLEET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """``--mqtt`` and its companions: the broker, its credentials and the topic layout."""

    host: str
    port: int
    tls: bool = False
    """``mqtts://``: TLS, checked against ``ca_file`` (else the system's CAs)."""
    ca_file: Path | None = None
    username: str | None = None
    """``DERSIM_MQTT_USERNAME`` (credentials come from the environment, never from a flag)."""
    password: str | None = field(default=None, repr=False)
    """``DERSIM_MQTT_PASSWORD``; kept out of ``repr``."""
    fleet: str = DEFAULT_FLEET
    """``--fleet``: the topic level after ``dersim/``."""
    batch: bool = False
    """``--mqtt_batch``: one message per process per tick instead of one per device."""

    @property
    def url(self) -> str:
        """The broker as given (without credentials), for logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ShardOptions:
    """``--shard_index k --shard_count K``: this process simulates the k-th of K contiguous
    slices of a fleet of ``fleet_device_count`` devices (``dersim-trio fleet``)."""

    index: int
    count: int
    fleet_device_count: int

    @property
    def devices(self) -> range:
        """The fleet's device indices of this shard: [k·N // K, (k+1)·N // K)."""
        n, k, shards = self.fleet_device_count, self.index, self.count
        return range(k * n // shards, (k + 1) * n // shards)


def shard_slices(fleet_device_count: int, shard_count: int) -> list[range]:
    """Every shard's device indices, in shard order."""
    return [ShardOptions(k, shard_count, fleet_device_count).devices for k in range(shard_count)]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything one simulator process runs with."""

    device_type: str = "PV"
    """As given on the command line (echoed in every snapshot)."""
    canonical_type: str = "PV-3Phase"
    device_count: int = 1
    """Devices this process simulates (a shard's slice of ``-N`` in a fleet shard)."""
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
    pv_tilt_deg: float = 20.0
    """``--pv_tilt_deg``: PV array tilt from horizontal (a nameplate's ``dersim.Tilt`` wins)."""
    pv_azimuth_deg: float | None = None
    """``--pv_azimuth_deg``: PV array azimuth, 180 = south; None = facing the equator."""
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
    enter_service_delay_s: float = 300.0
    """``--enter_service_delay_s``: every device's default IEEE 1547 enter-service delay
    (703 ``ESDlyTms``), s: the wait inside the window after an operator ``enter_service`` and
    after a trip."""
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
    modbus: ModbusOptions | None = None
    """``--modbus_port``: the SunSpec Modbus TCP server (None: off)."""
    mqtt: MqttOptions | None = None
    """``--mqtt``: publish telemetry and take controls over an MQTT broker (None: off)."""
    allowed_hosts: tuple[str, ...] = ()
    """``--allowed_hosts``: Host names accepted besides the bound address and the loopback
    names (``web/hosts.py``); ``*`` accepts any."""
    shard: ShardOptions | None = None
    """``--shard_index``/``--shard_count``: one shard of a fleet (None: the whole ``-N``)."""
    listen_fd: int | None = None
    """``--listen_fd``: serve HTTP on this inherited listening socket instead of binding
    ``-wi``/``-wp`` (the fleet supervisor hands each shard its socket)."""
    stop_on_stdin_close: bool = False
    """``--stop_on_stdin_close``: shut down gracefully when standard input reaches its end (a
    fleet shard's supervisor holds the other end, so a shard never outlives it)."""
    api_token: str | None = field(default=None, repr=False)
    """``--api_token`` / ``DERSIM_API_TOKEN``: bearer token for mutating requests (None: open).
    Kept out of ``repr`` so that logging a config never shows it."""

    @property
    def first_device(self) -> int:
        """The fleet index of this process's first device (0 but in a fleet shard): device
        ``first_device + i`` is the i-th simulated here and uses seed ``--seed`` + its index."""
        return self.shard.devices.start if self.shard is not None else 0

    @property
    def device_profile_name(self) -> str | None:
        """The profile name reported in snapshots (``--evse_profile`` or ``-f`` file stem)."""
        if self.evse_profile is not None:
            return Path(self.evse_profile).stem
        if self.nameplate_file is not None:
            return self.nameplate_file.stem
        return None


_FLAG_NAME_WIDTH = 30


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """``--help``: every flag's default after its text (argparse's own formatter, which would
    print "None" for a default that depends on other flags; those say theirs in words), and the
    epilogue's subcommand lines kept as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=_FLAG_NAME_WIDTH)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.nargs == 0 or "(default" in text:
            return text
        return super()._get_help_string(action)


class _Given(argparse.Action):
    """Stores the value like argparse's default action and records the flag as given, so that a
    flag with a default is refused for a device type it does not apply to only when it was
    typed."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        given: set[str] = getattr(namespace, "given_flags", set())
        given.update(self.option_strings)  # every spelling: -dc_p is --dc_profile
        namespace.given_flags = given


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


_USAGE = """dersim-trio [flags]
       dersim-trio watch URL [--device N] [--fields F ...] [--count N] [--seconds S]
       dersim-trio record URL --seconds S --out FILE [--device N] [--format jsonl|csv]
       dersim-trio fleet --shards K [--fleet_port P] [flags]"""

_EPILOG = """subcommands (watch and record: terminal clients of a running simulator):
  watch    print one line per device per tick (dersim-trio watch --help)
  record   write every snapshot for S seconds to a .jsonl or .csv file
           (dersim-trio record --help)
  fleet    run the -N devices in K shard processes on -wp + k, restarted when
           they exit, with a summary on --fleet_port (README "Fleets and shards")

A bad flag or file prints one line naming the flag and what is allowed and exits with code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (flag names as in the contract, §1).

    Every flag has a help text and shows its default (``--help``); flags that apply to some
    device types only are listed in ``FLAG_DEVICE_TYPES``.
    """
    p = _Parser(
        prog="dersim-trio",
        usage=_USAGE,
        description="DER simulator: devices with real physics, telemetry over HTTP and WebSocket.",
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    add = functools.partial(p.add_argument, action=_Given)
    types = ", ".join(DEVICE_TYPE_ALIASES)
    add("-d", "--device_type", default="PV", help=f"device type (any case): {types}")
    add(
        "-N",
        "--device_count",
        default="1",
        help=f"number of devices (of the whole fleet with --shard_count), 1..{MAX_DEVICE_COUNT}",
    )
    add(
        "--shard_index",
        default=None,
        metavar="k",
        help="with --shard_count K: simulate only the k-th of K contiguous slices of the -N "
        "devices (device indices stay the fleet's), serving on -wp + k (default: the whole "
        "fleet)",
    )
    add(
        "--shard_count",
        default=None,
        metavar="K",
        help=f"shards of the fleet, 1..{MAX_SHARD_COUNT} (default: none)",
    )
    add(
        "--listen_fd",
        default=None,
        metavar="FD",
        help="serve on this inherited listening socket instead of -wi/-wp (socket activation; "
        "the fleet supervisor uses it) (default: bind -wi/-wp)",
    )
    add(
        "--stop_on_stdin_close",
        default="no",
        help="yes: shut down gracefully when standard input is closed (fleet shards)",
    )
    add("-wi", "--website_ip", default="127.0.0.1", help="bind address of HTTP and WebSocket")
    add("-wp", "--website_port", default="8111", help="port, 0..65535; 0 picks a free one")
    add("--periodic_time", default="1.5", help="real seconds between ticks, 0.01..3600")
    add(
        "--time_scale",
        "--wind_time_scale",
        default=None,
        help="simulated seconds per real second, 0.001..1e6 (default: 1)",
    )
    add("-wc", "--wall_clock", default="no", help="yes: the simulator clock follows the real clock")
    add("-wc_tz", "--wall_clock_timezone", default="UTC", help="IANA time zone")
    add(
        "--start_clock_time",
        "--start-clock-time",
        "-start_clock_time",
        default=None,
        help="HH:MM:SS the simulator clock starts at; e.g. 12:00:00 for a sunny PV run at "
        "night (default: now)",
    )
    add(
        "--start_date",
        default=None,
        help="YYYY-MM-DD the simulator clock starts on (default: today)",
    )
    add(
        "-f",
        dest="nameplate_file",
        default=None,
        metavar="NAMEPLATE",
        help="nameplate JSON file (<model>.<point> keys) or a bundled nameplate name, see "
        "--list-profiles (default: the device type's own ratings)",
    )
    add(
        "--list-profiles",
        "--list_profiles",
        action="store_true",
        help="print the bundled nameplates and EVSE profiles, then exit",
    )
    add(
        "--evse_profile",
        default=None,
        help="EVSE station: a bundled name (see --list-profiles) or a JSON file; implies -d EVSE "
        f"(default: {DEFAULT_STATION_NAME})",
    )
    add(
        "-dc_p",
        "--dc_profile",
        default=None,
        help="DC-source CSV: irradiance (PV, HybridDC), wind speed (wind) or EV sessions (EVSE) "
        "(default: the model's own seeded source)",
    )
    add("--seed", default="0", help="seed of every random process; device i uses seed + i")
    add("--log_level", default="INFO", help="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    add(
        "--wind_anemometer_height_m",
        default="10",
        help="Wind-T3-3Phase, Wind-T4-3Phase: height of the wind speed data, 0.5..300 m",
    )
    add("--latitude", default="35.0", help="PV-*, HybridDC-3Phase: site latitude, -90..90°")
    add(
        "--pv_tilt_deg",
        default="20",
        help="PV-*, HybridDC-3Phase: array tilt from horizontal, 0..90°",
    )
    add(
        "--pv_azimuth_deg",
        default="equator",
        help="PV-*, HybridDC-3Phase: array azimuth, degrees clockwise from north (0..360, "
        "180 = south; equator: facing the equator)",
    )
    add(
        "--fast_path",
        default="yes",
        help="yes: telemetry through the pre-framed broadcaster; no: through the quart route",
    )
    add(
        "--allowed_hosts",
        default="",
        metavar="HOSTS",
        help="comma-separated Host names (name, name:port, [v6]:port; '*' for any) answered "
        "besides the bound address, localhost, 127.0.0.1 and [::1] on the server's port; "
        "any other Host gets 421 (DNS rebinding) (default: none)",
    )
    add(
        "--api_token",
        default=None,
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on mutating requests; prefer the variable: "
        "flags show in the process list (default: env DERSIM_API_TOKEN, else none)",
    )
    add("--startup_time_s", default="5", help="seconds in 'starting' after start, 0..3600")
    add("--shutdown_time_s", default="3", help="seconds to ramp to 0 after stop, 0..3600")
    add(
        "--enter_service_delay_s",
        default="300",
        help="default IEEE 1547 enter-service delay (703 ESDlyTms) after an enter_service "
        "command and after a trip, seconds 0..600",
    )
    add(
        "--grid_category",
        default="B,III",
        help="IEEE 1547 normal,abnormal performance categories every device starts with: "
        "A or B, then I, II or III",
    )
    add(
        "--grid_profile",
        default=None,
        help="grid event CSV (t_s, v_pu or v_a_pu/v_b_pu/v_c_pu, freq_hz) played from the start "
        "(default: none)",
    )
    add(
        "--grid_scr",
        default=None,
        help="weak grid: short-circuit ratio 1..1000 of each device's source impedance "
        "(default: a stiff grid)",
    )
    add(
        "--grid_xr",
        default=None,
        help=f"X/R ratio 0..50 with --grid_scr (default: {DEFAULT_XR:g})",
    )
    add(
        "--modbus_port",
        default=None,
        metavar="P",
        help="serve SunSpec Modbus TCP: device i on port P+i (0: free ports) (default: off)",
    )
    add("--modbus_ip", default=None, help="Modbus bind address (default: --website_ip)")
    add(
        "--modbus_quirks",
        default=None,
        help="comma list of device quirks: " + ", ".join(QUIRKS) + " (default: none)",
    )
    add(
        "--modbus_slow_ms",
        default=None,
        help=f"response delay of the slow quirk, 0..60000 ms (default: {DEFAULT_SLOW_MS:g})",
    )
    add(
        "--modbus_max_connections",
        default=None,
        help=f"connections per device, 1..1024 (default: {MODBUS_DEFAULT_MAX_CONNECTIONS})",
    )
    add(
        "--modbus_idle_timeout_s",
        default=None,
        help=f"close an idle Modbus connection after this many seconds, 0.1..86400 "
        f"(default: {MODBUS_DEFAULT_IDLE_TIMEOUT_S:g})",
    )
    add(
        "--fuelcell_chemistry",
        default="PEMFC",
        help="Fuelcell-3Phase: PEMFC or SOFC (one of four supported combinations with the "
        "mode and fuel)",
    )
    add("--fuelcell_mode", default="fc_only", help="Fuelcell-3Phase: fc_only or bidirectional")
    add("--fuelcell_fuel", default="tank", help="Fuelcell-3Phase: tank or continuous")
    add("--hybrid_pv_kw", default="10.0", help="HybridDC-3Phase: PV array rating, kW DC")
    add("--hybrid_batt_kw", default="10.0", help="HybridDC-3Phase: battery power rating, kW")
    add("--hybrid_batt_kwh", default="15.0", help="HybridDC-3Phase: battery energy, kWh")
    add(
        "--hybrid_inverter_kva",
        default="15.0",
        help="HybridDC-3Phase: shared inverter rating, kVA",
    )
    add(
        "--hybrid_soc_min_pct",
        default="10.0",
        help="HybridDC-3Phase: battery minimum state of charge, 0..100 %%",
    )
    add(
        "--hybrid_soc_max_pct",
        default="95.0",
        help="HybridDC-3Phase: battery maximum state of charge, 0..100 %%",
    )
    add(
        "--mqtt",
        default=None,
        metavar="URL",
        help="publish telemetry to and take controls from an MQTT broker: mqtt://host[:1883] or "
        "mqtts://host[:8883]; credentials from DERSIM_MQTT_USERNAME/DERSIM_MQTT_PASSWORD "
        "(default: off)",
    )
    add(
        "--mqtt_ca",
        default=None,
        metavar="FILE",
        help="CA certificates (PEM) for mqtts:// (default: the system's)",
    )
    add(
        "--mqtt_batch",
        action="store_true",
        help="one telemetry message per process per tick with every snapshot (default: one "
        "per device)",
    )
    add(
        "--fleet",
        default=None,
        metavar="NAME",
        help=f"fleet name in the MQTT topics dersim/NAME/... (default {DEFAULT_FLEET})",
    )
    add(
        "--hybrid_dispatch",
        default="self_consumption",
        help="HybridDC-3Phase: self_consumption, pv_priority or manual",
    )
    add(
        "--hybrid_site_load",
        default="residential",
        help="HybridDC-3Phase: site load behind the meter: residential (BDEW H25), commercial "
        "(BDEW G25) or none",
    )
    add(
        "--hybrid_site_load_kwh",
        default=None,
        help="HybridDC-3Phase: yearly energy of the site load, kWh (default: 5000 residential, "
        "30000 commercial)",
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


def _allowed_hosts(raw: str) -> tuple[str, ...]:
    try:
        return parse_allowed_hosts(raw)
    except ValueError as exc:
        raise ConfigError(
            f"--allowed_hosts: {exc} (expected name, name:port, [IPv6]:port or *, comma-separated)"
        ) from None


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


def _modbus(ns: argparse.Namespace, device_count: int, website_port: int) -> ModbusOptions | None:
    """``--modbus_*`` flags; a layout that cannot be served is refused here."""
    given = [
        flag
        for flag, value in (
            ("--modbus_ip", ns.modbus_ip),
            ("--modbus_quirks", ns.modbus_quirks),
            ("--modbus_slow_ms", ns.modbus_slow_ms),
            ("--modbus_max_connections", ns.modbus_max_connections),
            ("--modbus_idle_timeout_s", ns.modbus_idle_timeout_s),
        )
        if value is not None
    ]
    if ns.modbus_port is None:
        if given:
            raise ConfigError(f"{given[0]}: needs --modbus_port (the Modbus server is off)")
        return None
    port = _integer("--modbus_port", ns.modbus_port, 0, MODBUS_MAX_PORT)
    if port and port + device_count - 1 > MODBUS_MAX_PORT:
        raise ConfigError(
            f"--modbus_port: {device_count} devices need ports {port}..{port + device_count - 1}, "
            f"beyond {MODBUS_MAX_PORT}; the first port may be at most "
            f"{MODBUS_MAX_PORT - device_count + 1}"
        )
    if port and website_port and port <= website_port < port + device_count:
        raise ConfigError(
            f"--modbus_port: ports {port}..{port + device_count - 1} include the web port "
            f"{website_port} (--website_port)"
        )
    quirks: tuple[str, ...] = ()
    if ns.modbus_quirks is not None:
        names = [q.strip() for q in ns.modbus_quirks.split(",") if q.strip()]
        for name in names:
            if name not in QUIRKS:
                raise ConfigError(
                    f"--modbus_quirks: unknown quirk {name!r}; allowed: {', '.join(QUIRKS)} "
                    "(comma separated)"
                )
        quirks = tuple(dict.fromkeys(names))
    slow_ms = DEFAULT_SLOW_MS
    if ns.modbus_slow_ms is not None:
        if "slow" not in quirks:
            raise ConfigError("--modbus_slow_ms: applies only with --modbus_quirks slow")
        slow_ms = _number("--modbus_slow_ms", ns.modbus_slow_ms, 0, 60_000)
    return ModbusOptions(
        port=port,
        ip=ns.modbus_ip if ns.modbus_ip is not None else ns.website_ip,
        quirks=quirks,
        slow_ms=slow_ms,
        max_connections=_integer(
            "--modbus_max_connections",
            ns.modbus_max_connections or str(MODBUS_DEFAULT_MAX_CONNECTIONS),
            1,
            1024,
        ),
        idle_timeout_s=_number(
            "--modbus_idle_timeout_s",
            ns.modbus_idle_timeout_s or str(MODBUS_DEFAULT_IDLE_TIMEOUT_S),
            0.1,
            86_400,
        ),
    )


def _mqtt(ns: argparse.Namespace, environ: Mapping[str, str]) -> MqttOptions | None:
    """``--mqtt`` and its companions; an unusable URL, CA file or fleet name is refused here."""
    given = [
        flag
        for flag, value in (
            ("--mqtt_ca", ns.mqtt_ca),
            ("--mqtt_batch", ns.mqtt_batch or None),
            ("--fleet", ns.fleet),
        )
        if value is not None
    ]
    if ns.mqtt is None:
        if given:
            raise ConfigError(f"{given[0]}: needs --mqtt (MQTT is off)")
        return None
    raw = ns.mqtt
    expected = "expected mqtt://host[:port] or mqtts://host[:port]"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"--mqtt: {expected}; got {raw!r}") from None
    if (
        parts.scheme not in MQTT_DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(f"--mqtt: {expected}; got {raw!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "--mqtt: put no credentials in the URL (flags show in the process list); set "
            "DERSIM_MQTT_USERNAME and DERSIM_MQTT_PASSWORD"
        )
    if port == 0:
        raise ConfigError(f"--mqtt: the port must be in [1, 65535]; got {raw!r}")
    tls = parts.scheme == "mqtts"
    ca_file = None
    if ns.mqtt_ca is not None:
        if not tls:
            raise ConfigError("--mqtt_ca: applies to an mqtts:// broker")
        ca_file = Path(ns.mqtt_ca)
        if not ca_file.is_file():
            raise ConfigError(f"--mqtt_ca: file {str(ca_file)!r} does not exist or is not a file")
    fleet = DEFAULT_FLEET if ns.fleet is None else ns.fleet
    if not _FLEET_NAME.match(fleet):
        raise ConfigError(
            "--fleet: 1 to 64 letters, digits, '.', '_' or '-' (one MQTT topic level); "
            f"got {fleet!r}"
        )
    username = environ.get("DERSIM_MQTT_USERNAME") or None
    password = environ.get("DERSIM_MQTT_PASSWORD") or None
    if password is not None and username is None:
        raise ConfigError("DERSIM_MQTT_PASSWORD: set DERSIM_MQTT_USERNAME too")
    return MqttOptions(
        host=parts.hostname,
        port=port if port is not None else MQTT_DEFAULT_PORTS[parts.scheme],
        tls=tls,
        ca_file=ca_file,
        username=username,
        password=password,
        fleet=fleet,
        batch=bool(ns.mqtt_batch),
    )


def _device_type(raw: str) -> str:
    """The ``-d`` value in its documented spelling (any case is accepted)."""
    name = _DEVICE_TYPE_BY_LOWER.get(raw.strip().lower())
    if name is None:
        raise ConfigError(
            f"--device_type: must be one of {', '.join(DEVICE_TYPE_ALIASES)} (any case); "
            f"got {raw!r}"
        )
    return name


def _check_flags_apply(given: set[str], device_type: str) -> None:
    """Refuse a typed flag that ``FLAG_DEVICE_TYPES`` says does not apply to ``device_type``
    (``given``: every spelling of every flag on the command line)."""
    canonical = DEVICE_TYPE_ALIASES[device_type]
    for flag, types in FLAG_DEVICE_TYPES.items():
        if flag not in given or canonical in types:
            continue
        allowed = types[0] if len(types) == 1 else ", ".join(types[:-1]) + " or " + types[-1]
        shown = device_type if device_type == canonical else f"{device_type} ({canonical})"
        raise ConfigError(f"{flag}: applies only to -d {allowed}; this run is -d {shown}")


def _shard(ns: argparse.Namespace, fleet_device_count: int) -> ShardOptions | None:
    """``--shard_index``/``--shard_count`` (both or neither)."""
    if ns.shard_index is None and ns.shard_count is None:
        return None
    if ns.shard_index is None or ns.shard_count is None:
        given = "--shard_index" if ns.shard_count is None else "--shard_count"
        other = "--shard_count" if ns.shard_count is None else "--shard_index"
        raise ConfigError(f"{given}: needs {other} too (one shard of a fleet)")
    count = _integer("--shard_count", ns.shard_count, 1, min(MAX_SHARD_COUNT, fleet_device_count))
    index = _integer("--shard_index", ns.shard_index, 0, count - 1)
    return ShardOptions(index, count, fleet_device_count)


def parse_args(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> SimConfig:
    """Parse and validate the command line; raise ``ConfigError`` with one clear line.

    ``environ`` (default ``os.environ``) supplies ``DERSIM_API_TOKEN`` and the MQTT
    credentials ``DERSIM_MQTT_USERNAME`` / ``DERSIM_MQTT_PASSWORD``.
    """
    ns = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    given: set[str] = getattr(ns, "given_flags", set())
    device_type = _device_type(ns.device_type)
    if ns.evse_profile is not None and "--device_type" not in given:
        device_type = "EVSE"  # --evse_profile implies -d EVSE
    _check_flags_apply(given, device_type)
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
        site_load=_choice(  # type: ignore[arg-type]
            "--hybrid_site_load", ns.hybrid_site_load, ("residential", "commercial", "none")
        ),
        site_load_kwh=(
            None
            if ns.hybrid_site_load_kwh is None
            else _number("--hybrid_site_load_kwh", ns.hybrid_site_load_kwh, 0, 1e9)
        ),
    )
    if hybrid.soc_min_pct >= hybrid.soc_max_pct:
        raise ConfigError("--hybrid_soc_min_pct: must be below --hybrid_soc_max_pct")
    grid_normal, grid_abnormal = _grid_category(ns.grid_category)
    fleet_device_count = _integer("--device_count", ns.device_count, 1, MAX_DEVICE_COUNT)
    shard = _shard(ns, fleet_device_count)
    device_count = len(shard.devices) if shard is not None else fleet_device_count
    website_port = _integer("--website_port", ns.website_port, 0, 65535)
    if shard is not None and website_port:
        if website_port + shard.count - 1 > 65535:
            raise ConfigError(
                f"--website_port: {shard.count} shards serve on ports {website_port}.."
                f"{website_port + shard.count - 1}, beyond 65535"
            )
        website_port += shard.index
    modbus = _modbus(ns, fleet_device_count, website_port)
    if modbus is not None and shard is not None and modbus.port:
        # device i of the fleet is on port P + i whichever shard simulates it
        modbus = dataclasses.replace(modbus, port=modbus.port + shard.devices.start)
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
        device_count=device_count,
        website_ip=ns.website_ip,
        website_port=website_port,
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
        pv_tilt_deg=_number("--pv_tilt_deg", ns.pv_tilt_deg, 0, 90),
        pv_azimuth_deg=None
        if ns.pv_azimuth_deg == "equator"
        else _number("--pv_azimuth_deg", ns.pv_azimuth_deg, 0, 359.999),
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
        enter_service_delay_s=_number("--enter_service_delay_s", ns.enter_service_delay_s, 0, 600),
        grid_normal_category=grid_normal,
        grid_abnormal_category=grid_abnormal,
        grid_profile=grid_profile,
        grid_scr=grid_scr,
        grid_xr=grid_xr,
        modbus=modbus,
        shard=shard,
        listen_fd=_integer("--listen_fd", ns.listen_fd, 0, 65535) if ns.listen_fd else None,
        stop_on_stdin_close=_yes_no("--stop_on_stdin_close", ns.stop_on_stdin_close),
        mqtt=_mqtt(ns, env),
        allowed_hosts=_allowed_hosts(ns.allowed_hosts),
        api_token=_api_token(ns.api_token, env),
    )
