"""The supervisor: one trio nursery running the tick loop beside the front door.

Wiring (``ServiceParts.assemble``, the one place that builds a process's parts; the plain
``hypercorn -k trio`` launch module ``dersim_trio.asgi`` uses it too): the engine from the flags,
the hub, the history and log buffer, the operator façade and the quart app over them.

Shape (everything a process runs is visible in ``run_service``):

    supervisor nursery
    ├── tick_loop            engine.step() every periodic_time, publish to the hub (encoded
    │                        only when someone reads it: nobody connected, no JSON); a crash
    │                        here ends the process (fail fast, never serve stale data); each
    │                        tick is also recorded into the History (``observe_ticks``)
    ├── modbus               the SunSpec Modbus TCP server (``--modbus_port``): one listener per
    │                        device, reading the last tick's snapshots, writing through the façade
    ├── mqtt                 the MQTT front end (``--mqtt``): the hub's ticks to the broker,
    │                        requests from it through the façade (``protocols/mqtt/``)
    ├── lifespan             the quart app's ASGI lifespan (before/after_serving)
    ├── accept loop          FrontDoor.serve on the socket we own
    └── connections nursery  one task per connection (hypercorn, or the fast broadcaster)

Shutdown (``RunningService.request_shutdown``, wired to SIGINT/SIGTERM by the CLI and to
``POST /api/dersim/stop`` through ``ServerContext.request_shutdown``): stop
accepting; end every hub subscription so each WebSocket client gets close 1001; tell hypercorn to
close idle keep-alive connections; wait up to ``SHUTDOWN_GRACE_S`` for connections to finish;
abort (RST) whatever is left, e.g. a client that stopped reading, and end every HTTP
connection's shielded sends (``web/asgi_shield.py``); run lifespan shutdown; return.
"""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import trio
from hypercorn.config import Config
from quart_trio import QuartTrio

from dersim_trio.api.schema import Snapshot
from dersim_trio.engine.core import Engine
from dersim_trio.protocols.modbus.quirks import Quirks
from dersim_trio.protocols.modbus.server import LatestSnapshots, ModbusServer, open_modbus_sockets
from dersim_trio.protocols.mqtt.bridge import MqttBridge
from dersim_trio.service.build import build_engine, device_identity
from dersim_trio.service.history import RETENTION_S, History
from dersim_trio.service.hub import Hub
from dersim_trio.service.logbuffer import InstalledHandler, LogBuffer, install_log_buffer
from dersim_trio.service.metrics import MQTT_METRICS, ServiceMetrics
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import SimConfig
from dersim_trio.web.app import create_app
from dersim_trio.web.context import ServerContext
from dersim_trio.web.fastpath.broadcaster import Broadcaster
from dersim_trio.web.fastpath.door import FrontDoor, open_listener
from dersim_trio.web.hosts import HostPolicy, is_loopback_bind
from dersim_trio.web.hypercorn_bridge import HypercornBridge
from dersim_trio.web.hypercorn_settings import GRACEFUL_TIMEOUT_S, apply_settings
from dersim_trio.web.hypercorn_settings import (  # the idle keep-alive both launches give hypercorn
    KEEP_ALIVE_TIMEOUT_S as KEEP_ALIVE_TIMEOUT_S,
)

log = logging.getLogger("dersim_trio.Lab")

SHUTDOWN_GRACE_S = GRACEFUL_TIMEOUT_S
ABORT_WAIT_S = 0.5
LIFESPAN_SHUTDOWN_S = 0.3

WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real time, timezone-aware (the only wall-clock read in the service)."""
    return datetime.now(UTC)


TickListener = Callable[[Engine, Sequence[Snapshot]], None]
"""Called after every tick with the engine and the snapshots it just published."""
TimingListener = Callable[[float, float], None]
"""Called after every tick but the first with its duration and lateness, s."""
HEARTBEAT_S = 60.0


async def tick_loop(
    engine: Engine,
    hub: Hub,
    periodic_time_s: float,
    *,
    wall_clock: WallClock | None = None,
    on_tick: TickListener | None = None,
    on_timing: TimingListener | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Publish tick 0 at once, then one tick every ``periodic_time_s`` on fixed deadlines.

    ``on_timing`` gets every later tick's duration and lateness, s (the metrics' histograms).
    Deadlines are ``start + k·period`` (``trio.sleep_until``), so the loop never drifts; a tick
    that overran by more than a whole period re-anchors the schedule instead of bursting. Any
    exception from the engine propagates and ends the supervisor.
    """
    snapshots = engine.initial()
    hub.publish_on_demand(0, snapshots)
    if on_tick is not None:
        on_tick(engine, snapshots)
    task_status.started()
    deadline = trio.current_time()
    while True:
        deadline += periodic_time_s
        await trio.sleep_until(deadline)
        woke = trio.current_time()
        lateness = woke - deadline
        snapshots = engine.step(wall_clock() if wall_clock is not None else None)
        hub.publish_on_demand(engine.tick, snapshots)
        if on_tick is not None:
            on_tick(engine, snapshots)
        duration = trio.current_time() - woke
        hub.record_tick_timing(duration, lateness)
        if on_timing is not None:
            on_timing(duration, lateness)
        if lateness > periodic_time_s:
            log.warning("tick %d was %.3f s late; re-anchoring the schedule", engine.tick, lateness)
            deadline = trio.current_time()


def open_history(config: SimConfig) -> History:
    """The telemetry history for ``config`` (logs when its caps keep it below 4 h)."""
    history = History(
        config.device_count,
        config.periodic_time_s * config.time_scale,
        first_device=config.first_device,
    )
    if history.retention_s < RETENTION_S:
        log.warning(
            "history keeps %d ticks (%.0f simulated s, below 4 h): capped by memory or tick count",
            history.capacity,
            history.retention_s,
        )
    return history


def observe_ticks(
    history: History, hub: Hub, periodic_time_s: float, latest: LatestSnapshots | None = None
) -> TickListener:
    """The tick hook: record every tick into ``history`` (and keep it in ``latest`` for the
    protocol front ends), and log an INFO heartbeat on ``dersim_trio.Lab`` about once a real
    minute (every ``HEARTBEAT_S / periodic_time_s`` ticks).
    """
    every = max(1, round(HEARTBEAT_S / periodic_time_s))

    def on_tick(engine: Engine, snapshots: Sequence[Snapshot]) -> None:
        history.record(engine.tick, engine.clock.current, snapshots)
        if latest is not None:
            latest.observe(snapshots)
        if engine.tick % every == 0 and engine.tick > 0:
            log.info(
                "heartbeat: tick %d, clock %s, %d subscriber(s)",
                engine.tick,
                snapshots[0].clock_time,
                hub.statistics().subscribers,
            )

    return on_tick


QUART_ROUTE_GC_GEN0_THRESHOLD = 100_000
DEFAULT_GC_GEN0_THRESHOLD = 700
"""CPython's own gen-0 threshold."""
GC_GEN0_PER_DEVICE = 24
"""Tracked containers a tick allocates per device and keeps until the next tick (its snapshot
record and asset, the device's per-tick objects), with margin: 11 to 15 measured when a tick
kept a dict row per device, fewer since (records, ``api.wire``), the EVSE's connectors the most
(``tests/test_manage_gc.py`` checks that no type's tick reaches it)."""


def manage_gc(fast_path: bool, device_count: int = 1) -> None:
    """Keep garbage collection from pausing ticks (call once, after start-up).

    The start-up heap (quart, pydantic, hypercorn: about 60,000 objects; the devices) never
    becomes garbage: ``gc.freeze()`` keeps it out of every later collection, so a full
    collection stays short. The quart route keeps one suspended send stack per client (about
    10⁵ live containers at 1,000 clients), which with the default gen-0 threshold of 700
    triggers dozens of collections per tick; a gen-0 threshold of 100,000 (as the fan-out
    yardstick's tuned reference) removes most of them. A tick of a fleet allocates up to
    ``GC_GEN0_PER_DEVICE`` containers per device that live until the next tick replaces them
    (its snapshot records, freed by reference counting, never cyclic): with the default
    threshold a 10,000-device tick ran about 150 collections that only scanned rows still in use
    (30 to 50 ms of a 400 ms tick, ``BENCHMARKS.md`` §3), so the gen-0 threshold is at least a
    tick's worth of them and a tick runs none.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    floor = DEFAULT_GC_GEN0_THRESHOLD if fast_path else QUART_ROUTE_GC_GEN0_THRESHOLD
    gc.set_threshold(max(floor, GC_GEN0_PER_DEVICE * device_count), gen1, gen2)


def host_policy(config: SimConfig) -> HostPolicy:
    """The Host rule of a server started with ``config`` (``web/hosts.py``)."""
    return HostPolicy.for_server(config.website_ip, config.allowed_hosts)


def warn_if_exposed(config: SimConfig) -> None:
    """Warn when the bind reaches beyond this machine and no token protects the mutations."""
    if config.api_token is None and not is_loopback_bind(config.website_ip):
        log.warning(
            "listening on %s without --api_token: anyone who can reach this address can change "
            "or stop the simulator (set DERSIM_API_TOKEN or --api_token)",
            config.website_ip or "every address",
        )


def hypercorn_config() -> Config:
    """hypercorn settings for connections the door hands over (``web/hypercorn_settings.py``,
    the same as under ``hypercorn -k trio``)."""
    cfg = Config()
    # keep-alive 5 s (re-armed after each response thanks to web/asgi_shield.py), graceful
    # timeout 1 s, client WebSocket messages at most 64 KiB on the quart route as on the fast
    # path (hypercorn's default is 16 MiB), request heads at most 16 KiB, no read timeout
    apply_settings(cfg)
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("dersim_trio.hypercorn")
    return cfg


@dataclass(slots=True)
class ServiceParts:
    """One simulator process, wired: the engine, what observes it, and the app in front of it.

    Built by ``assemble``; ``run_ticks`` is the tick loop that drives it and ``capture_logs``
    starts filling the Logs tab's buffer. ``run_service`` adds the front door and the
    supervisor; ``dersim_trio.asgi`` hands ``app`` to hypercorn and runs the ticks in the app's
    lifespan.
    """

    config: SimConfig
    engine: Engine
    hub: Hub
    history: History
    logs: LogBuffer
    controller: Controller
    context: ServerContext
    app: QuartTrio
    latest: LatestSnapshots
    """The last tick's snapshots, for the Modbus server and the metrics."""
    metrics: ServiceMetrics
    """The process's Prometheus registry (``GET /metrics``)."""
    modbus: ModbusServer | None = None
    """The SunSpec Modbus server while ``run_modbus`` runs."""
    mqtt: MqttBridge | None = None
    """The MQTT front end (``--mqtt``; None: off); ``statistics()`` has its counters."""

    @classmethod
    def assemble(
        cls,
        config: SimConfig,
        started_wall: datetime,
        started_trio_time: float,
        *,
        fast_path: bool = False,
        request_shutdown: Callable[[], None] | None = None,
        engine: Engine | None = None,
    ) -> ServiceParts:
        """Build every part for ``config`` started at ``started_wall`` (raises ``ConfigError``
        for a device type, file or model the flags cannot build). ``engine``: the engine
        already built from ``config`` at ``started_wall``, used as it is (building a large
        fleet is most of the start-up, so it is done once)."""
        if engine is None:
            engine = build_engine(config, started_wall)
        hub = Hub(config.device_count, config.first_device)
        context = ServerContext.for_run(
            config,
            started_wall,
            started_trio_time,
            fast_path=fast_path,
            request_shutdown=request_shutdown,
        )
        logs = LogBuffer()
        history = open_history(config)
        controller = Controller(engine, device_identity(config))
        latest = LatestSnapshots()
        metrics = ServiceMetrics(hub, lambda: latest.snapshots)
        app = create_app(
            hub,
            context,
            controller,
            api_token=config.api_token,
            history=history,
            logs=logs,
            hosts=host_policy(config),
            metrics=metrics,
        )
        mqtt = (
            MqttBridge(
                config.mqtt,
                hub,
                controller,
                fleet_device_count=None
                if config.shard is None
                else config.shard.fleet_device_count,
            )
            if config.mqtt is not None
            else None
        )
        if mqtt is not None:
            metrics.add_statistics(mqtt, MQTT_METRICS)
        return cls(
            config,
            engine,
            hub,
            history,
            logs,
            controller,
            context,
            app,
            latest,
            metrics,
            None,
            mqtt,
        )

    async def run_ticks(
        self,
        wall_clock: WallClock,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The tick loop over these parts; every tick is recorded into the history.
        ``wall_clock`` is read only with ``--wall_clock yes``."""
        config = self.config
        await tick_loop(
            self.engine,
            self.hub,
            config.periodic_time_s,
            wall_clock=wall_clock if config.wall_clock else None,
            on_tick=observe_ticks(self.history, self.hub, config.periodic_time_s, self.latest),
            on_timing=self.metrics.observe_tick,
            task_status=task_status,
        )

    async def run_modbus(
        self,
        sockets: Sequence[socket.socket] | None = None,
        *,
        task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The SunSpec Modbus TCP server over these parts (after the first tick); ``started``
        with the device ports. ``sockets`` are bound listeners (default: opened here from the
        ``--modbus_*`` flags)."""
        options = self.config.modbus
        if options is None:
            raise RuntimeError("the Modbus server is off (no --modbus_port)")
        if sockets is None:
            sockets = open_modbus_sockets(options.ip, options.ports(self.config.device_count))
        quirks = Quirks.parse(",".join(options.quirks), options.slow_ms)
        server = ModbusServer(
            self.controller,
            self.latest,
            quirks,
            max_connections=options.max_connections,
            idle_timeout_s=options.idle_timeout_s,
        )
        self.modbus = server
        try:
            await server.serve(sockets, task_status=task_status)
        finally:
            for sock in sockets:
                sock.close()

    async def run_mqtt(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The MQTT front end over these parts (after the first tick) until cancelled, then a
        clean stop (``offline`` statuses, no last will)."""
        if self.mqtt is None:
            raise RuntimeError("MQTT is off (no --mqtt)")
        await self.mqtt.serve(task_status=task_status)

    def capture_logs(self) -> InstalledHandler:
        """Start copying the ``dersim_trio`` loggers into the Logs tab's buffer."""
        return install_log_buffer(self.logs)


@dataclass(slots=True)
class RunningService:
    """Handle to a started service (``task_status.started`` value of ``run_service``)."""

    hub: Hub
    engine: Engine
    door: FrontDoor
    broadcaster: Broadcaster | None
    host: str
    port: int
    _shutdown: trio.Event
    modbus_ports: list[int]
    """Device *i*'s SunSpec Modbus TCP port (empty: the Modbus server is off)."""
    modbus: ModbusServer | None
    """The SunSpec Modbus server (None: off); ``devices[i].connections`` counts clients."""
    mqtt: MqttBridge | None = None
    """The MQTT front end (None: off); ``statistics()`` has its counters."""

    @property
    def http_url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8111``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Telemetry WebSocket URL."""
        return self.http_url.replace("http://", "ws://", 1) + "/api/dersim/ws/telemetry"

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown; ``run_service`` returns when it is complete."""
        self._shutdown.set()


async def run_service(
    config: SimConfig,
    *,
    listen_socket: socket.socket | None = None,
    modbus_sockets: Sequence[socket.socket] | None = None,
    wall_clock: WallClock = utc_now,
    fast_path: bool = True,
    freeze_gc: bool = True,
    prebuilt: tuple[Engine, datetime] | None = None,
    task_status: trio.TaskStatus[RunningService] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the simulator until ``request_shutdown``; ``task_status.started`` once it serves.

    ``fast_path=False`` serves the telemetry stream through the quart route only (the way
    ``hypercorn -k trio`` runs it). ``modbus_sockets`` are the bound Modbus listeners (one per
    device) when ``--modbus_port`` is on (default: opened from the flags). ``freeze_gc``
    freezes the start-up heap (see below); tests
    that start many services in one process turn it off. ``prebuilt``: the engine already built
    from ``config`` and the wall time it was built for (the CLI builds it before binding, to
    refuse bad flags with exit code 2); default: built here.
    """
    shutdown = trio.Event()
    built, started_wall = prebuilt if prebuilt is not None else (None, wall_clock())
    parts = ServiceParts.assemble(
        config,
        started_wall,
        trio.current_time(),
        fast_path=fast_path,
        request_shutdown=shutdown.set,
        engine=built,
    )
    engine, hub = parts.engine, parts.hub
    sock = listen_socket or open_listener(config.website_ip, config.website_port)
    host, port = sock.getsockname()[:2]
    log_handler = parts.capture_logs()
    bridge = HypercornBridge(parts.app, hypercorn_config())
    try:
        async with trio.open_nursery() as supervisor:
            await supervisor.start(partial(parts.run_ticks, wall_clock))
            modbus_scope = trio.CancelScope()
            modbus_ports: list[int] = []
            if config.modbus is not None:

                async def modbus(*, task_status: trio.TaskStatus[list[int]]) -> None:
                    with modbus_scope:
                        await parts.run_modbus(modbus_sockets, task_status=task_status)

                modbus_ports = await supervisor.start(modbus)
            mqtt_scope = trio.CancelScope()
            if parts.mqtt is not None:

                async def mqtt(*, task_status: trio.TaskStatus[None]) -> None:
                    with mqtt_scope:
                        await parts.run_mqtt(task_status=task_status)

                await supervisor.start(mqtt)
            lifespan_scope = trio.CancelScope()

            async def lifespan(*, task_status: trio.TaskStatus[None]) -> None:
                with lifespan_scope:
                    await bridge.start_lifespan(task_status=task_status)

            await supervisor.start(lifespan)
            if freeze_gc:
                manage_gc(fast_path, config.device_count)
            async with trio.open_nursery() as connections:
                broadcaster = Broadcaster(hub, connections) if fast_path else None
                door = FrontDoor(
                    sock,
                    bridge.serve_connection,
                    broadcaster.serve_client if broadcaster is not None else None,
                    hosts=host_policy(config),
                )
                accept_scope = trio.CancelScope()

                async def accept(
                    *, task_status: trio.TaskStatus[list[trio.SocketListener]]
                ) -> None:
                    with accept_scope:
                        await door.serve(connections, task_status=task_status)

                await supervisor.start(accept)
                log.info(
                    "dersim-trio serving %d x %s on http://%s:%d "
                    "(ws path /api/dersim/ws/telemetry)",
                    config.device_count,
                    config.device_type,
                    host,
                    port,
                )
                warn_if_exposed(config)
                task_status.started(
                    RunningService(
                        hub,
                        engine,
                        door,
                        broadcaster,
                        host,
                        port,
                        shutdown,
                        modbus_ports,
                        parts.modbus,
                        parts.mqtt,
                    )
                )
                await shutdown.wait()
                log.info("shutting down: closing %d connection(s)", door.open_connections)
                accept_scope.cancel()
                modbus_scope.cancel()
                mqtt_scope.cancel()
                hub.close_all()
                await bridge.close_idle()
                with trio.move_on_after(SHUTDOWN_GRACE_S):
                    await door.wait_all_closed()
                aborted = door.abort_all()
                bridge.end_connections()  # no shielded HTTP send outlives its aborted socket
                if aborted:
                    log.info("aborted %d connection(s) that did not close in time", aborted)
                with trio.move_on_after(ABORT_WAIT_S):
                    await door.wait_all_closed()
                connections.cancel_scope.cancel()
            with trio.move_on_after(LIFESPAN_SHUTDOWN_S):
                await bridge.stop_lifespan()
            lifespan_scope.cancel()
            supervisor.cancel_scope.cancel()
    finally:
        log_handler.remove()
    log.info("stopped")
