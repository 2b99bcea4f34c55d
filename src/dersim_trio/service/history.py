"""The telemetry history: every device's main metrics for every tick of the last ≥ 4 h (sans-IO).

Theory of operation. ``History.record(tick, sim_time, snapshots)`` is called once per tick with
the snapshots the engine just produced; ``History.window(seconds, device)`` returns exactly the
recorded ticks whose simulator time ``t`` satisfies ``t > now − seconds`` (``now`` = the newest
recorded tick's time), oldest first, as columns. No clock is read and nothing is encoded until a
query asks for it.

Storage is columnar and compact: one ``array`` per quantity, used as a ring buffer of
``capacity`` rows (one row per tick). Per tick the row holds the tick number and the simulator
time (``int64`` each; the time in integer microseconds since the Unix epoch, so the window
boundary is exact, never a float rounding question) plus, for each of the N devices, ten
``float32`` values (``METRICS``). A device's values of one tick sit next to the other devices'
values of the same tick (tick-major), so recording a tick is ten contiguous slice writes.
``None`` (no storage, no hydrogen reading) is stored as NaN and returned as ``null``.

Memory: ``BYTES_PER_DEVICE_TICK`` = 10 × 4 = 40 bytes per device per tick plus
``BYTES_PER_TICK`` = 16 bytes per tick shared by all devices, i.e. per device-hour
``40 × 3600 / step`` bytes (step = periodic_time × time_scale simulated seconds): 96,000 bytes at
the default 1.5 s. Memory grows linearly with N and with run time until the ring is full, then
stays constant. The ring holds ``ceil(4 h / step)`` ticks plus a 10 % margin, so a 1.5 s tick
keeps 10,560 ticks: 422,568,960 bytes (≈ 403 MiB) for N = 1000, 591,360 (≈ 0.6 MiB) for
N = 1. Two caps keep a tiny step or a huge N from exhausting memory, at the cost of a retention
below 4 h (the service logs it): at most ``MAX_TICKS`` = 200,000 ticks, and at most
``MAX_BYTES`` = 512 MiB (so at 1.5 s a full 4 h + 10 % fits up to N ≈ 1,270 devices).
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from dersim_trio.api.resolution import Resolution, quantize, resolution_of
from dersim_trio.api.schema import Snapshot
from dersim_trio.api.wire import TickSnapshots
from dersim_trio.physics.base import asset_column

RETENTION_S = 4 * 3600
"""The history the Analytics tab may ask for (its longest preset)."""
MARGIN_PCT = 10
MAX_TICKS = 200_000
MAX_BYTES = 512 * 1024 * 1024
MIN_TICKS = 16

METRICS = (
    "power_kw",
    "reactive_power_kvar",
    "apparent_power_kva",
    "voltage_ll_v",
    "current_a",
    "frequency_hz",
    "power_factor",
    "state_of_charge_pct",
    "dc_power_kw",
    "key_quantity",
)
"""The per-device columns, in response order (``key_quantity`` depends on the asset type)."""

_VALUE_TYPECODE: Final = "f"
_TICK_TYPECODE: Final = "q"
_TIME_TYPECODE: Final = "q"
BYTES_PER_DEVICE_TICK = len(METRICS) * array(_VALUE_TYPECODE).itemsize
"""40: ten float32 values per device per tick."""
BYTES_PER_TICK = array(_TICK_TYPECODE).itemsize + array(_TIME_TYPECODE).itemsize
"""16: the tick number and the simulator time (int64 µs), shared by all devices."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAN = math.nan


def _float32_bytes(values: npt.NDArray[np.float64]) -> bytes:
    """A float64 column as the buffer's float32 values: ``array("f")``'s C cast, value by
    value (NaN stays NaN, beyond float32's range is ±inf, as there, without a warning)."""
    with np.errstate(over="ignore"):
        return values.astype(np.float32).tobytes()


_PLAIN_METRICS = tuple(m for m in METRICS if m != "key_quantity")
"""The metrics read from the snapshot's own fields (null: NaN)."""

KeyColumn = Callable[[Sequence[Any]], list[float | None]]
"""Reads one asset type's key quantity from the values of one snapshot field of devices of that
type (None: no value)."""


def _evse_power_kw(assets: Sequence[Any]) -> list[float | None]:
    return [float(sum(c["power_kw"] for c in asset.get("connectors") or [])) for asset in assets]


def _asset_value(name: str) -> KeyColumn:
    def read(assets: Sequence[Any]) -> list[float | None]:
        return cast(list[float | None], asset_column(assets, name))

    return read


def _as_is(values: Sequence[Any]) -> list[float | None]:
    return list(values)


KEY_QUANTITIES: dict[str, tuple[str, str, KeyColumn]] = {
    "pv": ("irradiance_w_m2", "asset", _asset_value("irradiance_w_m2")),
    "wind": ("rotor_speed_rpm", "asset", _asset_value("rotor_speed_rpm")),
    "battery": ("state_of_charge_pct", "metrics.state_of_charge_pct", _as_is),
    "fuelcell": ("hydrogen_pct", "asset", _asset_value("hydrogen_pct")),
    "hybrid-dc": ("battery_soc_pct", "asset", _asset_value("battery_soc_pct")),
    "evse": ("ev_power_kw", "asset", _evse_power_kw),
}
"""Per asset type: the name of the one quantity that characterises it, the snapshot field it is
read from (``TickSnapshots.column``) and how (a column at a time: a fleet's devices are read in
one pass)."""


def bytes_per_device_hour(sim_seconds_per_tick: float) -> float:
    """Bytes one device's history costs per simulated hour (shared per-tick columns excluded)."""
    return BYTES_PER_DEVICE_TICK * 3600.0 / sim_seconds_per_tick


def capacity_for(
    sim_seconds_per_tick: float,
    device_count: int,
    *,
    retention_s: float = RETENTION_S,
    max_ticks: int = MAX_TICKS,
    max_bytes: int = MAX_BYTES,
) -> int:
    """Ring rows for ``retention_s`` simulated seconds plus ``MARGIN_PCT``, within the caps."""
    if sim_seconds_per_tick <= 0:
        raise ValueError("sim_seconds_per_tick must be > 0")
    if device_count < 1:
        raise ValueError("device_count must be >= 1")
    ticks = math.ceil(retention_s / sim_seconds_per_tick - 1e-9)
    ticks = -(-ticks * (100 + MARGIN_PCT) // 100)
    by_memory = max_bytes // (BYTES_PER_TICK + device_count * BYTES_PER_DEVICE_TICK)
    return max(MIN_TICKS, min(ticks, max_ticks, by_memory))


@dataclass(frozen=True, slots=True)
class HistoryStatistics:
    """What the history holds and costs (see ``History.statistics``)."""

    device_count: int
    capacity_ticks: int
    recorded_ticks: int
    retention_s: float
    """Simulated seconds the full ring covers (capacity × step)."""
    nbytes: int
    """Bytes held by the value arrays now (grows until the ring is full, then constant)."""
    bytes_per_device_hour: float


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """One device's recorded ticks within a window, oldest first, as aligned columns.

    A copy: it stays valid (and may be encoded in a worker thread) while recording goes on.
    """

    device_index: int
    period_s: float
    """Simulated seconds per tick."""
    tick: list[int]
    time_us: list[int]
    """Simulator time of each tick, integer microseconds since the Unix epoch."""
    tz: tzinfo
    """The simulator's timezone (timestamps carry its UTC offset, as the snapshots do)."""
    values: dict[str, array[float]]
    """``METRICS`` name → float32 values; NaN where the device has no such value."""
    key_quantity_name: str | None

    @property
    def count(self) -> int:
        """Number of ticks in the window."""
        return len(self.tick)

    def timestamps(self) -> list[str]:
        """Simulator times as ISO 8601 with milliseconds and UTC offset."""
        if not self.time_us:
            return []
        first, last = (_EPOCH + timedelta(microseconds=self.time_us[i]) for i in (0, -1))
        offset = first.astimezone(self.tz).utcoffset()
        if offset is not None and offset == last.astimezone(self.tz).utcoffset():
            # one offset for the whole window (no DST change inside): skip per-tick zone lookups
            local_epoch = _EPOCH.astimezone(timezone(offset))
            return [
                (local_epoch + timedelta(microseconds=t)).isoformat(timespec="milliseconds")
                for t in self.time_us
            ]
        tz = self.tz
        return [
            (_EPOCH + timedelta(microseconds=t)).astimezone(tz).isoformat(timespec="milliseconds")
            for t in self.time_us
        ]

    def column(self, name: str) -> list[float | None]:
        """One ``METRICS`` column as floats, ``None`` for a missing value."""
        return [None if v != v else v for v in self.values[name]]

    def to_json(self) -> str:
        """The ``GET /api/dersim/history`` body (each column rounded as its snapshot field is,
        ``api.resolution``)."""
        parts = [
            f'"device_index":{self.device_index}',
            f'"period_s":{self.period_s!r}',
            f'"count":{self.count}',
            f'"tick":{_json_list(self.tick)}',
            f'"timestamp":{_json_list(self.timestamps())}',
        ]
        for name in METRICS:
            field = name
            if name == "key_quantity":
                parts.append(f'"key_quantity_name":{json.dumps(self.key_quantity_name)}')
                field = self.key_quantity_name or ""
            parts.append(f'"{name}":[{_numbers(self.values[name], resolution_of(field))}]')
        return "{" + ",".join(parts) + "}"


def _numbers(values: array[float], resolution: Resolution | None) -> str:
    """A column as JSON numbers: rounded to the snapshot field's resolution (the table of
    ``api.resolution``; float32 with 7 digits for a quantity without one), NaN as null."""
    if resolution is None:
        return ",".join("null" if v != v else f"{v:.7g}" for v in values)
    scale = resolution.scale
    return ",".join("null" if v != v else repr(quantize(v, scale)) for v in values)


def _json_list(values: Sequence[int] | Sequence[str]) -> str:
    return json.dumps(values, separators=(",", ":"))


class History:
    """Columnar ring buffer of every device's main metrics, one row per tick (sans-IO)."""

    def __init__(
        self,
        device_count: int,
        sim_seconds_per_tick: float,
        *,
        capacity: int | None = None,
        first_device: int = 0,
    ) -> None:
        self.device_count = device_count
        self.devices = range(first_device, first_device + device_count)
        """The device indices recorded, in order (a fleet shard's slice of the fleet)."""
        self.sim_seconds_per_tick = sim_seconds_per_tick
        self.capacity = (
            capacity_for(sim_seconds_per_tick, device_count) if capacity is None else capacity
        )
        if self.capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._ticks = array(_TICK_TYPECODE)
        self._times_us = array(_TIME_TYPECODE)
        self._values = {name: array(_VALUE_TYPECODE) for name in METRICS}
        self._next_row = 0
        """Where the next tick goes once the ring is full (= the oldest row)."""
        self._tz: tzinfo = UTC
        self._key_names: list[str | None] = [None] * device_count
        self._key_columns: list[tuple[str, KeyColumn, list[int]]] = []
        """Per asset type present: its reader and the positions of its devices."""

    def __len__(self) -> int:
        return len(self._ticks)

    @property
    def retention_s(self) -> float:
        """Simulated seconds the full ring covers."""
        return self.capacity * self.sim_seconds_per_tick

    def statistics(self) -> HistoryStatistics:
        """Capacity, fill and memory of the buffer."""
        nbytes = sum(len(a) * a.itemsize for a in (self._ticks, self._times_us))
        nbytes += sum(len(a) * a.itemsize for a in self._values.values())
        return HistoryStatistics(
            device_count=self.device_count,
            capacity_ticks=self.capacity,
            recorded_ticks=len(self._ticks),
            retention_s=self.retention_s,
            nbytes=nbytes,
            bytes_per_device_hour=bytes_per_device_hour(self.sim_seconds_per_tick),
        )

    def record(self, tick: int, sim_time: datetime, snapshots: Sequence[Snapshot]) -> None:
        """Store one tick: ``snapshots`` has one entry per device, in device order."""
        n = self.device_count
        if len(snapshots) != n:
            raise ValueError(f"expected {n} snapshots, got {len(snapshots)}")
        # the engine's checked values, a column at a time (no model objects, no rows)
        table = TickSnapshots.of(snapshots)
        if not self._key_columns:
            groups: dict[str, list[int]] = {}
            for i, asset_type in enumerate(table.column("asset_type")):
                groups.setdefault(asset_type, []).append(i)
            for asset_type, positions in groups.items():
                name, path, read = KEY_QUANTITIES[asset_type]
                self._key_columns.append((path, read, positions))
                for i in positions:
                    self._key_names[i] = name
        if sim_time.tzinfo is not None:
            self._tz = sim_time.tzinfo
        time_us = (sim_time - _EPOCH) // timedelta(microseconds=1)
        # float32 bytes per quantity, made from the tick's float64 columns in one numpy cast
        # each (the C cast array("f") applies to a float, value by value: the same numbers)
        rows: dict[str, bytes] = {
            name: _float32_bytes(table.numbers(f"metrics.{name}")) for name in _PLAIN_METRICS
        }
        nan = _NAN
        key: list[float | None]
        if len(self._key_columns) == 1:  # every device of one asset type (a fleet)
            path, read, _ = self._key_columns[0]
            key = read(table.column(path))
        else:
            key = [None] * n
            for path, read, positions in self._key_columns:
                column = table.column(path)
                found = read([column[i] for i in positions])
                for i, value in zip(positions, found, strict=True):
                    key[i] = value
        rows["key_quantity"] = _float32_bytes(np.array([nan if v is None else v for v in key]))
        if len(self._ticks) < self.capacity:
            self._ticks.append(tick)
            self._times_us.append(time_us)
            for quantity, series in rows.items():
                self._values[quantity].frombytes(series)
            return
        row = self._next_row
        self._ticks[row] = tick
        self._times_us[row] = time_us
        start = row * n
        for quantity, series in rows.items():
            self._values[quantity][start : start + n] = array(_VALUE_TYPECODE, series)
        self._next_row = (row + 1) % self.capacity

    def _first_row_within(self, threshold_us: int) -> int:
        """Logical index (0 = oldest) of the first recorded tick with time > ``threshold_us``."""
        times = self._times_us
        size = len(times)
        oldest = self._next_row if size == self.capacity else 0
        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi) // 2
            if times[(oldest + mid) % size] > threshold_us:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def window(self, seconds: float, device: int) -> HistoryWindow:
        """Device ``device``'s ticks with simulator time ``t > now − seconds``, oldest first.

        ``now`` is the newest recorded tick's simulator time. Cost: a copy of the window's rows.
        """
        if device not in self.devices:
            raise IndexError(f"device {device} not in [{self.devices.start}, {self.devices.stop})")
        index, device = device, device - self.devices.start
        size = len(self._ticks)
        ticks = array(_TICK_TYPECODE)
        times_us = array(_TIME_TYPECODE)
        values = {name: array(_VALUE_TYPECODE) for name in METRICS}
        if size:
            oldest = self._next_row if size == self.capacity else 0
            newest_us = self._times_us[(oldest + size - 1) % size]
            first = self._first_row_within(newest_us - round(seconds * 1_000_000))
            # the window's rows are at most two contiguous runs of the ring
            begin = (oldest + first) % size
            end = begin + size - first
            runs = [(begin, min(end, size))] + ([(0, end - size)] if end > size else [])
            n = self.device_count
            for a, b in runs:
                ticks.extend(self._ticks[a:b])
                times_us.extend(self._times_us[a:b])
                for name, column in values.items():
                    column.extend(self._values[name][a * n + device : b * n : n])
        return HistoryWindow(
            device_index=index,
            period_s=self.sim_seconds_per_tick,
            tick=ticks.tolist(),
            time_us=times_us.tolist(),
            tz=self._tz,
            values=values,
            key_quantity_name=self._key_names[device],
        )
