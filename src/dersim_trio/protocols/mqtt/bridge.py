"""The trio shell of the MQTT front end: the hub's ticks out, requests in.

``MqttBridge.serve`` runs in the supervisor nursery (``service/run.py``). Every published tick
reaches ``MqttLink.offer_tick`` from the hub's listener callback: the hub's encoded bytes, not a
copy and not re-encoded, so an MQTT telemetry message is byte for byte the WebSocket message of
the same tick. Requests arrive on paho's thread and are passed to the trio thread
(``TrioToken.run_sync_soon``) into a bounded inbox; the handler answers them one at a time
between ticks through the operator façade (``codec.RequestHandler``), like the REST routes. An
inbox that is full (a flood of requests) answers 503 at once from the arriving thread, without
touching the simulation.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import trio

from dersim_trio.protocols.mqtt.codec import (
    FleetTopics,
    Reply,
    Request,
    RequestHandler,
    UnknownDevice,
    invalid_response_topic,
    response_topic_problem,
    too_large,
)
from dersim_trio.protocols.mqtt.link import (
    MqttLink,
    MqttStatistics,
    OutMessage,
    reply_properties,
)
from dersim_trio.service.hub import Hub, TickPayload
from dersim_trio.service.operator import Controller
from dersim_trio.setup.config import MqttOptions

log = logging.getLogger("dersim_trio.MQTT")

INBOX_SIZE = 1024
"""Requests waiting for the trio thread, at most; beyond, 503 ``busy``."""
STOP_TIMEOUT_S = 2.0
"""How long a clean stop waits for the ``offline`` statuses and queued replies to go out."""
BUSY = Reply(503, b'{"error":"busy","detail":"too many MQTT requests waiting; try again"}')


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes
    response_topic: str | None
    """A topic name to answer on (None: the device's reply topic)."""
    correlation_data: bytes | None
    response_topic_problem: str | None = None
    """Why the request's response topic was set aside (then it is refused, not applied)."""
    refused: Reply | None = None
    """The answer decided on arrival (413: the payload, over the limit, is not kept)."""


class MqttBridge:
    """Publishes the hub's ticks and answers requests for one process's devices."""

    def __init__(
        self,
        options: MqttOptions,
        hub: Hub,
        controller: Controller,
        *,
        fleet_device_count: int | None = None,
        client_id: str | None = None,
    ) -> None:
        """``fleet_device_count``: the devices of the whole fleet when this process is one of
        its shards (default: this process's devices are the fleet)."""
        self.options = options
        self.hub = hub
        self.topics = FleetTopics(
            options.fleet, hub.device_count, hub.devices.start, fleet_device_count
        )
        self.handler = RequestHandler(controller, self.topics)
        self._send, self._receive = trio.open_memory_channel[_Incoming](INBOX_SIZE)
        self._token: trio.lowlevel.TrioToken | None = None
        self.link = MqttLink(options, self.topics, self._arrived, client_id=client_id)
        self.commands = 0

    def statistics(self) -> MqttStatistics:
        """Published, dropped, reconnects, commands, outages (an immutable record)."""
        return self.link.statistics(self.commands)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; then stop cleanly (``offline`` statuses, no last will)."""
        self._token = trio.lowlevel.current_trio_token()
        self.link.start()
        self.hub.add_listener(self._on_tick)
        with contextlib.suppress(LookupError):  # no tick yet: the first comes to the listener
            self._on_tick(self.hub.last)
        log.info(
            "MQTT: devices %d..%d of fleet %r on %s%s",
            self.topics.first_device,
            self.topics.first_device + self.topics.device_count - 1,
            self.options.fleet,
            self.options.url,
            " (batched)" if self.options.batch else "",
        )
        task_status.started()
        try:
            async for incoming in self._receive:
                self._answer(incoming)
        finally:
            self._token = None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.link.stop, STOP_TIMEOUT_S)

    def _on_tick(self, item: TickPayload) -> None:
        if self._token is not None:  # serving (the hub keeps its listeners after a stop)
            self.link.offer_tick(item.tick, item.data)

    def _answer(self, incoming: _Incoming) -> None:
        request = self.topics.parse(incoming.topic)
        if request is None:
            return
        if incoming.response_topic_problem is not None:
            reply = invalid_response_topic(incoming.response_topic_problem)
        elif incoming.refused is not None:
            reply = incoming.refused
        elif isinstance(request, UnknownDevice):
            reply = self.topics.unknown_device(request)
        else:
            reply = self.handler.handle(request, incoming.payload)
        self.commands += 1
        self._reply(incoming, request, reply)

    def _reply(self, incoming: _Incoming, request: Request | UnknownDevice, reply: Reply) -> None:
        level = request.level if isinstance(request, UnknownDevice) else request.device
        topic = incoming.response_topic or self.topics.reply(level)
        props = reply_properties(reply.status, incoming.correlation_data)
        self.link.send(OutMessage(topic, reply.payload(), properties=props))

    # --- paho's loop thread ---------------------------------------------------------------
    def _arrived(
        self, topic: str, payload: bytes, response_topic: str | None, correlation: bytes | None
    ) -> None:
        token = self._token
        if token is None:
            return
        problem = None if not response_topic else response_topic_problem(response_topic)
        if problem is not None:
            response_topic = None
        # a payload over the body limit is refused by its size: the inbox never holds it
        refused = too_large(len(payload))
        if refused is not None:
            payload = b""
        incoming = _Incoming(topic, payload, response_topic or None, correlation, problem, refused)
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(self._enqueue, incoming)

    def _enqueue(self, incoming: _Incoming) -> None:
        try:
            self._send.send_nowait(incoming)
        except trio.WouldBlock:
            request = self.topics.parse(incoming.topic)
            if request is not None:
                self.commands += 1
                self._reply(incoming, request, BUSY)
        except trio.ClosedResourceError:
            pass
