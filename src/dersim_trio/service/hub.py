"""The telemetry hub: last snapshots, encoded at most once per tick, fanned out to subscribers.

Theory of operation. The tick loop calls ``Hub.publish_on_demand(tick, snapshots)`` once per tick
with the tick's checked snapshots, in device order, which encode themselves when first asked
(``EncodedOnDemand``: the engine's ``TickSnapshots``); ``Hub.publish(tick, payloads)`` takes the
JSON already encoded instead (one ``bytes`` per device). Either is synchronous and never blocks:
it stores the tick as the cached "last tick" (a ``TickPayload``) and drops it into every
subscriber's one-slot buffer (``LatestSlot``). A slot holds at most one tick; a newer tick
replaces an unread one and counts it as dropped (drop-oldest), so a slow or stalled reader costs
nothing but its own freshness. Each subscriber's sender task takes the tick out of its slot and
writes it to its client at its own pace.

Encoding on demand. A ``TickPayload`` encodes its tick the first time someone reads its bytes
(a subscriber's sender, a listener such as the broadcaster or the MQTT bridge, an HTTP GET), once
for all of them, and one device alone when only that device is asked for (``payload``). With
nobody connected no tick is encoded at all. The bytes are those eager encoding gives: the
snapshots a tick holds are never changed after the tick (``api.wire.TickSnapshots``).

A subscriber primed on ``subscribe()`` starts with the cached tick, so the first thing a client
receives is the last snapshot (contract §3.2). ``close_all()`` ends every subscription: a sender
blocked in ``receive()`` gets ``trio.EndOfChannel`` and closes its client with 1001.

Listeners (``add_listener``) are synchronous callbacks called by either after the slots are
filled: the front door's broadcaster writes pre-framed bytes from there.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import trio

TIMING_WINDOW = 4096


class EncodedOnDemand(Protocol):
    """One tick's snapshots, in device order, encoding their JSON when first asked
    (``api.wire.TickSnapshots``); the bytes never depend on when they are asked for."""

    def __len__(self) -> int:
        """The number of devices."""
        ...

    def payload(self, position: int) -> bytes:
        """The JSON of the device at ``position``."""
        ...

    @property
    def payloads(self) -> tuple[bytes, ...]:
        """Every device's JSON, in device order (encoded when first read)."""
        ...


class TickPayload:
    """One tick's snapshots as JSON, in device order: ``data`` as bytes and ``text`` as text,
    each made on first use (see "Encoding on demand" above)."""

    __slots__ = ("_data", "_source", "_text", "tick")

    def __init__(self, tick: int, data: Sequence[bytes]) -> None:
        self.tick = tick
        self._data: tuple[bytes, ...] | None = tuple(data)
        self._source: EncodedOnDemand | None = None
        self._text: tuple[str, ...] | None = None

    @classmethod
    def on_demand(cls, tick: int, source: EncodedOnDemand) -> TickPayload:
        """A tick whose bytes ``source`` makes when they are first read."""
        item = cls(tick, ())
        item._data, item._source = None, source
        return item

    def __len__(self) -> int:
        """The number of devices."""
        return len(self._data) if self._data is not None else len(self._source or ())

    @property
    def encoded(self) -> bool:
        """Whether every device's bytes were made (someone read ``data`` or ``text``)."""
        return self._data is not None

    @property
    def data(self) -> tuple[bytes, ...]:
        """Every device's JSON, encoded on first use, once."""
        data = self._data
        if data is None:
            assert self._source is not None
            data = self._data = self._source.payloads
            self._source = None
        return data

    def payload(self, position: int) -> bytes:
        """The JSON of the device at ``position`` (encoding only that device if nothing else
        was encoded yet)."""
        if self._data is not None:
            return self._data[position]
        assert self._source is not None
        return self._source.payload(position)

    @property
    def text(self) -> tuple[str, ...]:
        """The payloads as text frames for the quart route: decoded on first use, once per tick
        for all its subscribers (the fast path sends ``data`` and never needs this)."""
        if self._text is None:
            self._text = tuple(p.decode() for p in self.data)
        return self._text

    def for_position(self, position: int | None) -> tuple[str, ...]:
        """The text messages a subscriber receives for this tick: every device's (``None``), or
        the one at ``position`` in the payloads (``Hub.position``: a shard's device indices are
        the fleet's, its payloads start at its first device); that device alone is encoded if
        nothing else was."""
        if position is None:
            return self.text
        if self._text is not None:
            return (self._text[position],)
        return (self.payload(position).decode(),)


@dataclass(frozen=True, slots=True)
class HubStatistics:
    """Counters of the hub (see ``Hub.statistics``)."""

    subscribers: int
    ticks_published: int
    messages_sent: int
    messages_dropped: int
    last_tick_duration_ms: float
    max_tick_lateness_ms: float
    tick_lateness_p50_ms: float
    tick_lateness_p99_ms: float
    tick_duration_p50_ms: float
    tick_duration_p99_ms: float
    """Percentiles over the last ``TIMING_WINDOW`` ticks."""


class LatestSlot:
    """A one-item, drop-oldest buffer between the tick loop and one subscriber.

    ``put_nowait`` never blocks and never fails; ``receive`` waits for an item. After ``close``
    the remaining item (if any) is still delivered, then ``receive`` raises ``trio.EndOfChannel``.
    """

    __slots__ = ("_closed", "_item", "_lot", "dropped")

    def __init__(self) -> None:
        self._item: TickPayload | None = None
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self.dropped = 0
        """Ticks replaced before they were read."""

    def put_nowait(self, item: TickPayload) -> bool:
        """Store ``item``, replacing any unread one; return True if one was dropped."""
        replaced = self._item is not None
        if replaced:
            self.dropped += 1
        self._item = item
        self._lot.unpark()
        return replaced

    def close(self) -> None:
        """End the stream: wake the receiver, which gets EndOfChannel once the slot is empty."""
        self._closed = True
        self._lot.unpark_all()

    async def receive(self) -> TickPayload:
        """Wait for and take the newest unread tick."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._item is None:
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()
        item, self._item = self._item, None
        await trio.lowlevel.cancel_shielded_checkpoint()
        return item


class Subscription:
    """One subscriber: its device filter (the device's position in a tick's payloads, or
    ``None`` for every device) and its slot."""

    __slots__ = ("messages_per_tick", "position", "slot")

    def __init__(self, position: int | None, device_count: int) -> None:
        self.position = position
        self.messages_per_tick = device_count if position is None else 1
        self.slot = LatestSlot()

    @property
    def dropped_messages(self) -> int:
        """Messages this subscriber never received because a newer tick replaced them."""
        return self.slot.dropped * self.messages_per_tick


class Hub:
    """Last snapshots plus per-subscriber drop-oldest slots; the tick loop's only output."""

    def __init__(self, device_count: int, first_device: int = 0) -> None:
        if device_count < 1:
            raise ValueError("device_count must be >= 1")
        self.device_count = device_count
        self.devices = range(first_device, first_device + device_count)
        """The device indices of the payloads, in order (a fleet shard's slice of the fleet)."""
        self._last: TickPayload | None = None
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[TickPayload], None]] = []
        self._close_hooks: list[Callable[[], None]] = []
        self._external_subscribers: Callable[[], int] | None = None
        self._dropped_external = 0
        self._closed = False
        self._ticks_published = 0
        self._messages_sent = 0
        self._dropped_retired = 0
        self._last_tick_duration_s = 0.0
        self._max_lateness_s = 0.0
        self._lateness_s: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._duration_s: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._published = trio.Event()

    # --- tick loop side -------------------------------------------------------------------
    def publish(self, tick: int, payloads: Sequence[bytes]) -> TickPayload:
        """Cache one tick's encoded snapshots and offer them to every subscriber and listener
        (never blocks)."""
        return self._publish(TickPayload(tick, payloads))

    def publish_on_demand(self, tick: int, snapshots: EncodedOnDemand) -> TickPayload:
        """``publish`` for a tick whose snapshots are encoded when someone first reads them
        (the tick loop's way: with nobody connected nothing is encoded)."""
        return self._publish(TickPayload.on_demand(tick, snapshots))

    def _publish(self, item: TickPayload) -> TickPayload:
        if len(item) != self.device_count:
            raise ValueError(f"expected {self.device_count} payloads, got {len(item)}")
        self._last = item
        self._ticks_published += 1
        for sub in self._subscribers:
            sub.slot.put_nowait(item)
        for listener in self._listeners:
            listener(item)
        self._published.set()
        self._published = trio.Event()
        return item

    def record_tick_timing(self, duration_s: float, lateness_s: float) -> None:
        """Remember how long the last tick took and the worst lateness seen."""
        self._last_tick_duration_s = duration_s
        self._max_lateness_s = max(self._max_lateness_s, lateness_s)
        self._lateness_s.append(lateness_s)
        self._duration_s.append(duration_s)

    # --- readers ----------------------------------------------------------------------------
    @property
    def last(self) -> TickPayload:
        """The cached last tick (raises if nothing was published yet)."""
        if self._last is None:
            raise LookupError("no tick has been published yet")
        return self._last

    async def wait_published(self) -> TickPayload:
        """Wait for the next tick to be published and return it."""
        await self._published.wait()
        return self.last

    def position(self, device: int) -> int:
        """Where device ``device`` (one of ``devices``) is in a tick's payloads."""
        if device not in self.devices:
            raise ValueError(f"device must be in [{self.devices.start}, {self.devices.stop})")
        return device - self.devices.start

    @contextmanager
    def subscribe(self, device: int | None = None) -> Iterator[Subscription]:
        """Register a subscriber primed with the cached tick (every device, or device ``device``
        of ``devices``); unregister on exit."""
        sub = Subscription(None if device is None else self.position(device), self.device_count)
        if self._closed:
            sub.slot.close()
        elif self._last is not None:
            sub.slot.put_nowait(self._last)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
            self._dropped_retired += sub.dropped_messages

    def count_sent(self, messages: int) -> None:
        """Senders report delivered messages here (for ``statistics``)."""
        self._messages_sent += messages

    def count_dropped(self, messages: int) -> None:
        """External senders (the fast broadcaster) report messages they dropped here."""
        self._dropped_external += messages

    def add_listener(
        self,
        listener: Callable[[TickPayload], None],
        *,
        on_close: Callable[[], None] | None = None,
        subscribers: Callable[[], int] | None = None,
    ) -> None:
        """Call ``listener`` synchronously with every published tick.

        ``on_close`` runs on ``close_all``; ``subscribers`` reports the listener's own client
        count for ``statistics``.
        """
        self._listeners.append(listener)
        if on_close is not None:
            self._close_hooks.append(on_close)
        if subscribers is not None:
            self._external_subscribers = subscribers

    def close_all(self) -> None:
        """End every subscription (shutdown); later subscriptions end at once."""
        self._closed = True
        for sub in self._subscribers:
            sub.slot.close()
        for hook in self._close_hooks:
            hook()

    @property
    def closed(self) -> bool:
        """True once ``close_all`` was called."""
        return self._closed

    def statistics(self) -> HubStatistics:
        """An immutable record of the hub's counters."""
        dropped = self._dropped_retired + sum(s.dropped_messages for s in self._subscribers)
        dropped += self._dropped_external
        external = self._external_subscribers() if self._external_subscribers else 0
        return HubStatistics(
            subscribers=len(self._subscribers) + external,
            ticks_published=self._ticks_published,
            messages_sent=self._messages_sent,
            messages_dropped=dropped,
            last_tick_duration_ms=self._last_tick_duration_s * 1000.0,
            max_tick_lateness_ms=self._max_lateness_s * 1000.0,
            tick_lateness_p50_ms=_percentile(self._lateness_s, 0.50) * 1000.0,
            tick_lateness_p99_ms=_percentile(self._lateness_s, 0.99) * 1000.0,
            tick_duration_p50_ms=_percentile(self._duration_s, 0.50) * 1000.0,
            tick_duration_p99_ms=_percentile(self._duration_s, 0.99) * 1000.0,
        )


def _percentile(values: deque[float], q: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
