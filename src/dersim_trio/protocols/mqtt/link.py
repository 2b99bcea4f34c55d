"""The broker connection: paho-mqtt's network loop and a publisher, each in its own thread.

Why paho-mqtt: it is the field's reference Python client (Eclipse), speaks MQTT 3.1.1 and 5
(response topic, correlation data, user properties), TLS, last will, and reconnects by itself
with an exponential backoff (``reconnect_delay_set``); its network loop runs in a thread of its
own (``loop_start``), so the trio thread never touches the broker socket. Writing a client here
would repeat all of that.

Threads and hand-over:

* the **trio thread** (the tick loop and the request handler) only calls ``offer_tick`` and
  ``send``, which take a lock for a few list operations and return: the tick never waits for
  the broker, connected or not;
* the **publisher thread** takes what is queued and hands it to paho (``Client.publish``),
  control messages (replies, statuses) first; it keeps at most ``WINDOW`` telemetry messages
  handed to paho and not yet written to the socket, so a slow broker backs the queue up here,
  where it is bounded, and not inside paho, where it is not;
* **paho's loop thread** does the socket I/O and calls ``on_connect`` / ``on_disconnect`` /
  ``on_message``; incoming requests go to the ``on_request`` callback (the trio shell passes them
  to the trio thread).

The outgoing queue: telemetry is one slot per process (the newest tick; a tick not yet fully
handed over when the next arrives loses its remaining messages, counted as dropped: drop-oldest),
so it never holds more than one tick beyond what the hub already keeps. Control messages
(request replies, statuses) are never dropped: they are QoS 1, queued until handed to paho, which
keeps QoS 1 messages across a reconnection and sends them again.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from dersim_trio.errors import ConfigError
from dersim_trio.protocols.mqtt.codec import OFFLINE, ONLINE, FleetTopics, batch_payload
from dersim_trio.setup.config import MqttOptions

log = logging.getLogger("dersim_trio.MQTT")

WINDOW = 1000
"""Telemetry messages handed to paho and not yet written to the socket, at most."""
CHUNK = 256
"""Telemetry messages taken from the queue per lock acquisition."""
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
"""paho's reconnect backoff: 1 s after a loss, doubling per failed attempt, at most 30 s."""
KEEPALIVE_S = 30
MAX_INFLIGHT_QOS1 = 100
"""QoS 1 messages paho sends before waiting for their acknowledgements."""
WAIT_SLICE_S = 0.2
"""How long the publisher waits for paho before it looks at the connection again (and, when
idle, how late ``published`` may count the last messages written)."""

RequestCallback = Callable[[str, bytes, str | None, bytes | None], None]
"""``on_request(topic, payload, response_topic, correlation_data)`` (paho's loop thread)."""


@dataclass(frozen=True, slots=True)
class MqttStatistics:
    """Counters of the MQTT front end (``MqttBridge.statistics``), for ``/metrics``."""

    connected: bool
    published: int
    """Telemetry messages written to the broker connection, plus QoS 1 messages (replies,
    statuses) handed to paho, which delivers them once connected."""
    dropped: int
    """Telemetry messages never sent: replaced by a newer tick while queued, or lost with a
    connection."""
    reconnects: int
    """Connections after the first."""
    commands: int
    """Requests answered (errors included, 503 ``busy`` too)."""
    outages: int
    """Periods without the broker: a lost connection, or a broker unreachable at start."""
    queued: int
    """Messages waiting in the outgoing queue (telemetry of the current tick, control)."""


@dataclass(slots=True)
class OutMessage:
    """A control message: QoS 1, never dropped."""

    topic: str
    payload: bytes
    retain: bool = False
    properties: Properties | None = None


@dataclass(slots=True)
class _PendingTick:
    tick: int
    payloads: Sequence[bytes]
    cursor: int = 0


@dataclass(slots=True)
class _Counters:
    published: int = 0
    dropped: int = 0
    reconnects: int = 0
    outages: int = 0
    connections: int = 0
    in_outage: bool = False
    outage_started: float = field(default=0.0)


ZERO_COPY_BYTES = 1 << 16
"""Outgoing packets at least this long are queued as a ``memoryview`` (see ``_Client``)."""


class _Client(paho.Client):
    """paho's client, writing a large packet to the socket without copying its rest each time.

    paho's ``_packet_write`` sends ``packet[pos:]`` until the socket has taken it all; on a
    ``bytearray`` that slice copies the whole remainder at every ``send``, so a packet the socket
    takes in *n* pieces costs *n* copies of half of it on average: quadratic. A ``--mqtt_batch``
    message of 50,000 PV snapshots (72 MB) went in 25 pieces on loopback and cost 0.60 s of CPU
    to write; queued as a ``memoryview`` (whose slice is a view, and which ``socket.send`` and
    ``SSLSocket.send`` take as they are) it costs 0.07 s (``scripts/bench_mqtt_write.py``). Small
    packets (replies, per-device telemetry) are left as paho makes them: one ``send`` takes them
    whole, so there is nothing to save. paho reads the queued packet only to slice and send it.
    """

    def _packet_queue(
        self,
        command: int,
        packet: bytes | bytearray,
        mid: int,
        qos: int,
        info: paho.MQTTMessageInfo | None = None,
    ) -> MQTTErrorCode:
        if len(packet) >= ZERO_COPY_BYTES:
            packet = memoryview(packet)  # type: ignore[assignment]
        return super()._packet_queue(command, packet, mid, qos, info)


def tls_context(options: MqttOptions) -> ssl.SSLContext:
    """The TLS context of an ``mqtts://`` broker (``ConfigError`` for an unreadable CA file)."""
    try:
        return ssl.create_default_context(
            cafile=str(options.ca_file) if options.ca_file is not None else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--mqtt_ca: cannot load {str(options.ca_file)!r}: {exc}") from None


class MqttLink:
    """One process's connection to the broker (see the module docstring)."""

    def __init__(
        self,
        options: MqttOptions,
        topics: FleetTopics,
        on_request: RequestCallback,
        *,
        client_id: str | None = None,
    ) -> None:
        self.options = options
        self.topics = topics
        self._on_request = on_request
        self._cond = threading.Condition()
        self._tick: _PendingTick | None = None
        self._control: deque[OutMessage] = deque()
        self._connected = False
        self._stopping = False
        self._counters = _Counters()
        self._thread: threading.Thread | None = None
        self._last_control: paho.MQTTMessageInfo | None = None
        # unique per process: two simulators sharing a client id would take the session from
        # each other in turn, each reconnection kicking the other out
        cid = client_id or f"dersim-{options.fleet}-{topics.first_device}-{secrets.token_hex(4)}"
        client = _Client(
            CallbackAPIVersion.VERSION2, client_id=cid, protocol=MQTTProtocolVersion.MQTTv5
        )
        client.will_set(topics.process_status, OFFLINE, qos=1, retain=True)
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set_context(tls_context(options))
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_inflight_messages_set(MAX_INFLIGHT_QOS1)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        client.on_message = self._handle_message
        self._client = client

    # --- trio thread ----------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (paho retries with backoff until the broker answers)."""
        self._client.connect_async(
            self.options.host, self.options.port, keepalive=KEEPALIVE_S, clean_start=True
        )
        self._client.loop_start()
        self._thread = threading.Thread(
            target=self._publish_loop, name="dersim-mqtt-publisher", daemon=True
        )
        self._thread.start()

    def offer_tick(self, tick: int, payloads: Sequence[bytes]) -> None:
        """Queue one tick's snapshots (never blocks; an unsent older tick is dropped)."""
        with self._cond:
            old = self._tick
            if old is not None:
                self._counters.dropped += (
                    1 if self.options.batch else len(old.payloads) - old.cursor
                )
            self._tick = _PendingTick(tick, payloads)
            self._cond.notify()

    def send(self, message: OutMessage) -> None:
        """Queue a control message (QoS 1, never dropped)."""
        with self._cond:
            self._control.append(message)
            self._cond.notify()

    def statistics(self, commands: int) -> MqttStatistics:
        """The counters (``commands`` is counted by the trio shell)."""
        with self._cond:
            c = self._counters
            tick = self._tick
            queued = len(self._control)
            if tick is not None:
                queued += 1 if self.options.batch else len(tick.payloads) - tick.cursor
            return MqttStatistics(
                connected=self._connected,
                published=c.published,
                dropped=c.dropped,
                reconnects=c.reconnects,
                outages=c.outages,
                commands=commands,
                queued=queued,
            )

    def stop(self, timeout_s: float) -> None:
        """Blocking (run it in a worker thread): write ``offline`` statuses, wait up to
        ``timeout_s`` for them and every queued reply to reach the broker, then disconnect
        cleanly (no last will) and end both threads."""
        deadline = time.monotonic() + timeout_s
        statuses = [] if self.options.batch else list(self.topics.status)
        with self._cond:
            for topic in statuses:
                self._control.append(OutMessage(topic, OFFLINE, retain=True))
            self._control.append(OutMessage(self.topics.process_status, OFFLINE, retain=True))
            self._tick = None
            self._cond.notify_all()
            while self._connected and self._control and time.monotonic() < deadline:
                self._cond.wait(max(0.0, min(WAIT_SLICE_S, deadline - time.monotonic())))
            self._stopping = True
            last = self._last_control
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if last is not None and self._connected:
            with contextlib.suppress(RuntimeError, ValueError):
                last.wait_for_publish(max(0.0, deadline - time.monotonic()))
        self._client.disconnect()
        self._client.loop_stop()

    # --- publisher thread ------------------------------------------------------------------
    def _publish_loop(self) -> None:
        inflight: deque[paho.MQTTMessageInfo] = deque()
        client = self._client
        while True:
            control: OutMessage | None = None
            batch: tuple[int, Sequence[bytes]] | None = None
            chunk: list[tuple[str, bytes]] = []
            with self._cond:
                while not self._stopping and not (
                    self._connected and (self._control or self._tick is not None)
                ):
                    if not self._connected and inflight:
                        self._counters.dropped += self._settle(inflight, lost=True)
                    elif inflight:  # count what paho has written since
                        self._counters.published += self._settle(inflight, lost=False)
                    self._cond.wait(WAIT_SLICE_S if inflight else None)
                if self._stopping:
                    return
                if self._control:
                    control = self._control.popleft()
                elif self._tick is not None:
                    pending = self._tick
                    if self.options.batch:
                        batch = (pending.tick, pending.payloads)
                        self._tick = None
                    else:
                        end = min(pending.cursor + CHUNK, len(pending.payloads))
                        topics = self.topics.telemetry
                        chunk = [
                            (topics[i], pending.payloads[i]) for i in range(pending.cursor, end)
                        ]
                        pending.cursor = end
                        if end == len(pending.payloads):
                            self._tick = None
                if control is not None or not self._control:
                    self._cond.notify_all()  # stop() waits for the control queue to empty
            if control is not None:
                try:
                    info = client.publish(
                        control.topic,
                        control.payload,
                        qos=1,
                        retain=control.retain,
                        properties=control.properties,
                    )
                except ValueError as exc:  # one topic paho refuses never ends the publisher
                    log.error("MQTT message to %r not sent: %s", control.topic[:200], exc)
                    continue
                with self._cond:
                    self._counters.published += 1
                    self._last_control = info
                continue
            if batch is not None:
                tick, payloads = batch
                chunk = [
                    (self.topics.batch, batch_payload(tick, self.topics.first_device, payloads))
                ]
            lost = 0
            for topic, payload in chunk:
                while len(inflight) >= WINDOW and self._connected:
                    with contextlib.suppress(RuntimeError, ValueError):
                        inflight[0].wait_for_publish(WAIT_SLICE_S)
                    self._count_written(inflight)
                info = client.publish(topic, payload, qos=0)
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    inflight.append(info)
                else:
                    lost += 1
            self._count_written(inflight, lost)

    def _count_written(self, inflight: deque[paho.MQTTMessageInfo], lost: int = 0) -> None:
        written = self._settle(inflight, lost=False)
        if written or lost:
            with self._cond:
                self._counters.published += written
                self._counters.dropped += lost

    @staticmethod
    def _settle(inflight: deque[paho.MQTTMessageInfo], *, lost: bool) -> int:
        """Take the written messages off the front of ``inflight`` and return how many; with
        ``lost`` (the connection is gone), take all and return how many were never written."""
        if lost:
            count = sum(1 for info in inflight if not info.is_published())
            inflight.clear()
            return count
        count = 0
        while inflight and inflight[0].is_published():
            inflight.popleft()
            count += 1
        return count

    # --- paho's loop thread ---------------------------------------------------------------
    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.options.url, reason_code)
            self._begin_outage()
            return
        client.subscribe([(topic, 1) for topic in self.topics.subscriptions()])
        statuses = [] if self.options.batch else self.topics.status
        with self._cond:
            c = self._counters
            c.connections += 1
            if c.connections > 1:
                c.reconnects += 1
            if c.in_outage:
                log.info(
                    "MQTT broker %s reachable again after %.1f s",
                    self.options.url,
                    time.monotonic() - c.outage_started,
                )
                c.in_outage = False
            else:
                log.info("connected to the MQTT broker %s", self.options.url)
            online = [OutMessage(self.topics.process_status, ONLINE, retain=True)]
            online += [OutMessage(topic, ONLINE, retain=True) for topic in statuses]
            self._control.extendleft(reversed(online))
            self._connected = True
            self._cond.notify_all()

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()
            stopping = self._stopping
        if not stopping:
            log.warning(
                "lost the MQTT broker %s (%s); reconnecting with backoff (%d..%d s)",
                self.options.url,
                reason_code,
                RECONNECT_MIN_S,
                RECONNECT_MAX_S,
            )
            self._begin_outage()

    def _handle_connect_fail(self, client: paho.Client, userdata: object) -> None:
        with self._cond:
            first = not self._counters.in_outage
        if first:
            log.warning(
                "cannot reach the MQTT broker %s; retrying with backoff (%d..%d s)",
                self.options.url,
                RECONNECT_MIN_S,
                RECONNECT_MAX_S,
            )
        self._begin_outage()

    def _begin_outage(self) -> None:
        with self._cond:
            c = self._counters
            if not c.in_outage:
                c.in_outage = True
                c.outages += 1
                c.outage_started = time.monotonic()

    def _handle_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        props = msg.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self._on_request(msg.topic, bytes(msg.payload), response_topic, correlation)


def reply_properties(status: int, correlation_data: bytes | None) -> Properties:
    """MQTT 5 properties of a reply: the request's correlation data, and the status as a user
    property (``status``), so a v5 client can route on it without parsing the body."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if correlation_data is not None:
        props.CorrelationData = correlation_data
    props.UserProperty = ("status", str(status))
    props.ContentType = "application/json"
    return props
