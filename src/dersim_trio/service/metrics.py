"""Prometheus metrics of one simulator process (``GET /metrics``, ``web/routes/metrics.py``).

Every process has its own ``prometheus_client.CollectorRegistry`` (never the library's global
one), so several services in one process (tests, the in-process fixture) keep their numbers
apart. Almost everything is read at scrape time by custom collectors from records the service
already keeps, so the tick loop pays nothing for it:

* ``HubCollector``: ticks, WebSocket subscribers, messages sent and dropped (``Hub.statistics``);
* ``FleetCollector``: devices by type and inverter state, fleet active and reactive power and
  energy, summed over the last tick's snapshots (one pass over the fleet per scrape);
* ``StatisticsCollector``: any object with a ``statistics()`` method returning a record whose
  attributes are numbers (a dataclass, a named tuple), e.g. the MQTT publisher; which
  attributes become which metrics is a ``StatisticsMetric`` table (``MQTT_METRICS`` names the
  attributes an MQTT publisher's record is expected to have; absent ones are left out);
* the HTTP request counter is the web layer's own (``web/metrics.py``), registered by
  ``create_app``.

The two histograms (tick duration and lateness) are the exception: a histogram needs every
observation, and the hub keeps only a window, so ``ServiceMetrics.observe_tick`` is called once
per tick by the tick loop (two bucket increments per tick, nothing per device).

Units follow Prometheus' conventions (seconds, watts, joules): a snapshot's kW is ×1,000 here
and its kWh ×3.6·10⁶.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dersim_trio.api.schema import Snapshot
from dersim_trio.api.wire import TickSnapshots
from dersim_trio.service.hub import Hub

NAMESPACE = "dersim"
KWH_TO_J = 3.6e6
TICK_DURATION_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Tick duration buckets, s: a 1,000-device tick takes tens of ms, 100,000 devices hundreds."""
THREAD_SUM_MIN_DEVICES = 5000
"""From this many devices on, ``GET /metrics`` sums the fleet in a worker thread (about 1 µs per
device on the project machine): the tick loop keeps its deadlines while a scrape sums 100,000
devices."""
TICK_LATENESS_BUCKETS_S = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Tick lateness buckets, s: the fleet target is p99 ≤ 100 ms."""


class HasStatistics(Protocol):
    """Anything that reports its counters as one immutable record (``Hub``, a publisher ...)."""

    def statistics(self) -> object:
        """The current counters (attributes read by name)."""
        ...


@dataclass(frozen=True, slots=True)
class StatisticsMetric:
    """One attribute of a ``statistics()`` record exposed as one metric."""

    attribute: str
    name: str
    """Metric name without the namespace (``mqtt_messages_published``)."""
    documentation: str
    kind: Literal["counter", "gauge"] = "counter"


MQTT_METRICS: tuple[StatisticsMetric, ...] = (
    StatisticsMetric("published", "mqtt_messages_published", "MQTT messages handed to the broker."),
    StatisticsMetric(
        "dropped",
        "mqtt_messages_dropped",
        "MQTT telemetry messages dropped (replaced by a newer tick, or lost with a connection).",
    ),
    StatisticsMetric("reconnects", "mqtt_reconnects", "Reconnections to the MQTT broker."),
    StatisticsMetric(
        "commands",
        "mqtt_commands",
        "Requests answered on the .../set and commands topics (errors and busy included).",
    ),
    StatisticsMetric("outages", "mqtt_outages", "Periods without the MQTT broker."),
    StatisticsMetric(
        "connected", "mqtt_connected", "1 while connected to the broker, else 0.", "gauge"
    ),
    StatisticsMetric("queued", "mqtt_queue_messages", "Messages waiting for the broker.", "gauge"),
)
"""What an MQTT publisher's ``statistics()`` record is read for: attributes ``published``,
``dropped``, ``reconnects``, ``commands``, ``outages`` (counters), ``connected``,
``queued`` (gauges)."""


class StatisticsCollector(Collector):
    """Expose the numeric attributes of ``source.statistics()`` named by ``metrics``.

    The record is read once per scrape; an attribute the record does not have (or that is not
    a number) is left out, so a source may report a subset.
    """

    def __init__(self, source: HasStatistics, metrics: Sequence[StatisticsMetric]) -> None:
        self._source = source
        self._metrics = tuple(metrics)

    def collect(self) -> Iterator[Metric]:
        """One family per attribute present in the current record."""
        record = self._source.statistics()
        for m in self._metrics:
            value = getattr(record, m.attribute, None)
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, int | float):
                continue
            name = f"{NAMESPACE}_{m.name}"
            if m.kind == "counter":
                yield CounterMetricFamily(name, m.documentation, value=value)
            else:
                yield GaugeMetricFamily(name, m.documentation, value=value)


class HubCollector(Collector):
    """Ticks, subscribers and messages from ``Hub.statistics``."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        """The hub's counters."""
        s = self._hub.statistics()
        yield CounterMetricFamily(
            f"{NAMESPACE}_ticks", "Ticks published (tick 0 included).", value=s.ticks_published
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_websocket_subscribers",
            "Telemetry WebSocket clients connected now.",
            value=s.subscribers,
        )
        yield CounterMetricFamily(
            f"{NAMESPACE}_messages_sent",
            "Telemetry messages written to WebSocket clients.",
            value=s.messages_sent,
        )
        yield CounterMetricFamily(
            f"{NAMESPACE}_messages_dropped",
            "Telemetry messages a slow WebSocket client never got (a newer tick replaced them).",
            value=s.messages_dropped,
        )


@dataclass(frozen=True, slots=True)
class FleetTotals:
    """One tick's sums over the fleet (kW, kvar, kWh, kvarh) and devices by type and state."""

    devices: dict[tuple[str, str], int]
    p_kw: float
    q_kvar: float
    injected_kwh: float
    absorbed_kwh: float
    q_injected_kvarh: float
    q_absorbed_kvarh: float

    @classmethod
    def of(cls, snapshots: Sequence[Snapshot]) -> FleetTotals:
        """The totals of one tick's snapshots (one C-level pass per quantity), read from the
        engine's checked columns when it has them (no row or ``Snapshot`` model per device)."""
        table = TickSnapshots.of(snapshots)
        states = Counter(
            zip(table.column("device_type"), table.column("status.inverter_state"), strict=True)
        )
        return cls(
            devices=dict(states),
            p_kw=math.fsum(table.column("metrics.power_kw")),
            q_kvar=math.fsum(table.column("metrics.reactive_power_kvar")),
            injected_kwh=math.fsum(table.column("energy.injected_kwh")),
            absorbed_kwh=math.fsum(table.column("energy.absorbed_kwh")),
            q_injected_kvarh=math.fsum(table.column("energy.reactive_injected_kvarh")),
            q_absorbed_kvarh=math.fsum(table.column("energy.reactive_absorbed_kvarh")),
        )


class FleetCollector(Collector):
    """Devices by type and inverter state, and the fleet's totals, from the last tick.

    The sums are computed at the first scrape after a tick and kept for that tick, so several
    scrapers cost one pass over the fleet per tick at most. ``totals`` only reads the last
    tick's snapshot list (replaced whole each tick, its snapshots immutable), so it may run in a
    worker thread; ``ServiceMetrics.render`` then uses what it computed.
    """

    def __init__(self, snapshots: Callable[[], Sequence[Snapshot]]) -> None:
        self._snapshots = snapshots
        self._cached: tuple[Sequence[Snapshot], FleetTotals] | None = None
        self.pinned: FleetTotals | None = None
        """Totals computed beforehand for the scrape being rendered (None: compute here)."""

    @property
    def device_count(self) -> int:
        """Devices in the last tick."""
        return len(self._snapshots())

    def totals(self) -> FleetTotals:
        """The last tick's totals."""
        snapshots = self._snapshots()
        cached = self._cached
        if cached is None or cached[0] is not snapshots:
            cached = (snapshots, FleetTotals.of(snapshots))
            self._cached = cached
        return cached[1]

    def forget(self) -> None:
        """Drop the kept totals (the next scrape sums the fleet again)."""
        self._cached = None

    def collect(self) -> Iterator[Metric]:
        """Sums over the last tick's snapshots (P, Q > 0 inject, SunSpec)."""
        t = self.pinned if self.pinned is not None else self.totals()
        devices = GaugeMetricFamily(
            f"{NAMESPACE}_devices",
            "Devices by device type and inverter state at the last tick.",
            labels=["device_type", "state"],
        )
        for (device_type, state), count in sorted(t.devices.items()):
            devices.add_metric([device_type, state], count)
        yield devices
        yield GaugeMetricFamily(
            f"{NAMESPACE}_fleet_active_power_watts",
            "Sum of every device's active power at the last tick; > 0 injects.",
            value=t.p_kw * 1000.0,
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_fleet_reactive_power_vars",
            "Sum of every device's reactive power at the last tick; > 0 injects.",
            value=t.q_kvar * 1000.0,
        )
        energy = CounterMetricFamily(
            f"{NAMESPACE}_fleet_energy_joules",
            "Active energy of the fleet by direction (injected into or absorbed from the grid).",
            labels=["direction"],
        )
        energy.add_metric(["injected"], t.injected_kwh * KWH_TO_J)
        energy.add_metric(["absorbed"], t.absorbed_kwh * KWH_TO_J)
        yield energy
        reactive = CounterMetricFamily(
            f"{NAMESPACE}_fleet_reactive_energy_varhours",
            "Reactive energy of the fleet by direction.",
            labels=["direction"],
        )
        reactive.add_metric(["injected"], t.q_injected_kvarh * 1000.0)
        reactive.add_metric(["absorbed"], t.q_absorbed_kvarh * 1000.0)
        yield reactive


class ServiceMetrics:
    """The registry of one process and the tick histograms fed by its tick loop."""

    def __init__(
        self,
        hub: Hub,
        snapshots: Callable[[], Sequence[Snapshot]],
        *,
        process: bool = True,
    ) -> None:
        """``process`` adds the library's process and platform collectors (CPU, memory, open
        files, Python version: ``process_*``, ``python_info``, the names dashboards expect)."""
        self.registry = CollectorRegistry()
        self.registry.register(HubCollector(hub))
        self.fleet = FleetCollector(snapshots)
        self.registry.register(self.fleet)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._duration = Histogram(
            f"{NAMESPACE}_tick_duration_seconds",
            "Time one tick took: stepping every device and publishing "
            "(encoding when it has readers).",
            buckets=TICK_DURATION_BUCKETS_S,
            registry=self.registry,
        )
        self._lateness = Histogram(
            f"{NAMESPACE}_tick_lateness_seconds",
            "How late a tick woke after its deadline.",
            buckets=TICK_LATENESS_BUCKETS_S,
            registry=self.registry,
        )

    @property
    def sums_in_thread(self) -> bool:
        """True when the fleet is large enough that a scrape sums it in a worker thread."""
        return self.fleet.device_count >= THREAD_SUM_MIN_DEVICES

    def render(
        self, encoder: Callable[[CollectorRegistry], bytes], totals: FleetTotals | None = None
    ) -> bytes:
        """The scrape in ``encoder``'s format; ``totals``: the fleet's sums computed beforehand
        (``fleet.totals`` in a worker thread), else computed here."""
        self.fleet.pinned = totals
        try:
            return encoder(self.registry)
        finally:
            self.fleet.pinned = None

    def observe_tick(self, duration_s: float, lateness_s: float) -> None:
        """Record one tick's duration and lateness (called by the tick loop)."""
        self._duration.observe(duration_s)
        self._lateness.observe(max(0.0, lateness_s))

    def add_statistics(self, source: HasStatistics, metrics: Iterable[StatisticsMetric]) -> None:
        """Expose ``source.statistics()`` (e.g. the MQTT publisher, with ``MQTT_METRICS``)."""
        self.registry.register(StatisticsCollector(source, tuple(metrics)))

    def register(self, collector: Collector) -> None:
        """Add a collector (the web layer's HTTP request counter)."""
        self.registry.register(collector)
