"""Live telemetry as typed ``Snapshot`` models: reconnects with backoff, gap reporting.

Theory of operation. ``open_telemetry`` connects (retrying by its ``Backoff``) and yields a
``TelemetryStream``; iterating it reads the next WebSocket message *in the consumer's task*
(no background task, no nursery around your code), parses it into the server's own
``Snapshot`` model and checks its ``tick`` against the last tick delivered for that device:

* ``tick`` = last + 1: delivered.
* ``tick`` <= last: a duplicate (after a reconnect the server first re-sends its cached last
  tick, which you may already have): skipped, never delivered twice.
* ``tick`` > last + 1: delivered, after recording a ``Gap`` of ``tick − last − 1`` missed ticks,
  with reason ``"reconnect"`` when it is the first message of a new connection, else
  ``"slow_read"`` (the server drops the oldest tick for a client that reads too slowly).
* A new server run (the previous connection ended with close 1001 "going away", or the
  ``tick`` counter went backwards on reconnect): delivered, after a ``Gap`` with reason
  ``"restart"`` whose ``missed_ticks`` counts the new run's ticks before this one (what the old
  run published after ``last_tick`` cannot be known).

Gaps are reported three ways, all in stream order: the ``on_gap`` callback (called just before
the snapshot that follows the gap is returned), ``TelemetryStream.gaps`` (the most recent
``GAP_HISTORY``) and the totals of ``TelemetryStream.statistics()``.

When the connection ends for any reason but a refusal (close 1008, HTTP 4xx on the upgrade,
which raise ``TelemetryRejected``), the stream waits ``Backoff.delay_s`` (trio time: instant
under ``MockClock``) and reconnects, until a message arrives or ``Backoff.max_attempts``
consecutive attempts failed (``ReconnectGaveUp``). Everything is cancellable; leaving the
``async with`` (or a cancellation) sends close 1000 and closes the socket within
``close_timeout_s``.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import trio
from pydantic import ValidationError
from wsproto.utilities import RemoteProtocolError

from dersim_trio.api.schema import Snapshot
from dersim_trio.client._wsconn import ABNORMAL_CLOSURE, WsClosed, WsConnection, WsRejected
from dersim_trio.client.backoff import Backoff
from dersim_trio.client.errors import PayloadError, ReconnectGaveUp, TelemetryRejected
from dersim_trio.client.urls import ServerUrls, parse_server_url

log = logging.getLogger("dersim_trio.client")

GapReason = Literal["reconnect", "restart", "slow_read"]
GAP_HISTORY = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008


@dataclass(frozen=True, slots=True)
class Gap:
    """Ticks of one device that the stream never delivered (see the module docstring)."""

    device: int
    missed_ticks: int
    reason: GapReason
    last_tick: int
    """The last tick delivered for ``device`` before the gap."""
    next_tick: int
    """The tick delivered right after the gap."""


@dataclass(frozen=True, slots=True)
class TelemetryStatistics:
    """Counters of one ``TelemetryStream`` (an immutable record)."""

    connected: bool
    connections: int
    """Successful connections (the first one included)."""
    failed_attempts: int
    received: int
    """Messages read from the server."""
    delivered: int
    duplicates_skipped: int
    gaps: int
    missed_ticks: int
    last_error: str | None


class _Retryable(Exception):
    """A connection attempt failed in a way that another attempt may not."""


class TelemetryStream:
    """An async iterator of ``Snapshot``; create it with ``open_telemetry``."""

    def __init__(
        self,
        url: str,
        *,
        device: int | None,
        backoff: Backoff,
        rng: random.Random,
        on_gap: Callable[[Gap], None] | None,
        connect_timeout_s: float,
        idle_timeout_s: float | None,
        close_timeout_s: float,
    ) -> None:
        self._urls: ServerUrls = parse_server_url(url)
        self._device = device
        self._backoff = backoff
        self._rng = rng
        self._on_gap = on_gap
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._close_timeout_s = close_timeout_s
        self._conn: WsConnection | None = None
        self._closed = False
        self._waits = 0
        self._failures = 0
        self._backoff_pending = False
        self._last_tick: dict[int, int] = {}
        self._seen_on_connection: set[int] = set()
        self._new_run = False
        self._last_close_code: int | None = None
        self._gaps: deque[Gap] = deque(maxlen=GAP_HISTORY)
        self._connections = 0
        self._failed_attempts = 0
        self._received = 0
        self._delivered = 0
        self._duplicates = 0
        self._gap_count = 0
        self._missed = 0
        self._last_error: str | None = None

    # --- public ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The WebSocket URL this stream reads (with its ``?device=`` filter)."""
        return self._urls.telemetry_url(self._device)

    @property
    def device(self) -> int | None:
        """The server-side device filter (None: every device)."""
        return self._device

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """The most recent gaps (at most ``GAP_HISTORY``), oldest first."""
        return tuple(self._gaps)

    @property
    def last_ticks(self) -> dict[int, int]:
        """The last tick delivered per device."""
        return dict(self._last_tick)

    def statistics(self) -> TelemetryStatistics:
        """The stream's counters now."""
        return TelemetryStatistics(
            connected=self._conn is not None,
            connections=self._connections,
            failed_attempts=self._failed_attempts,
            received=self._received,
            delivered=self._delivered,
            duplicates_skipped=self._duplicates,
            gaps=self._gap_count,
            missed_ticks=self._missed,
            last_error=self._last_error,
        )

    def __aiter__(self) -> TelemetryStream:
        return self

    async def __anext__(self) -> Snapshot:
        try:
            return await self.receive()
        except trio.ClosedResourceError:
            raise StopAsyncIteration from None

    async def receive(self) -> Snapshot:
        """The next snapshot (reconnecting as needed); ``trio.ClosedResourceError`` once closed.

        Raises ``TelemetryRejected`` if the server refuses the stream, ``ReconnectGaveUp`` after
        ``Backoff.max_attempts`` failed attempts, ``PayloadError`` for a message that is not a
        ``Snapshot``.
        """
        while True:
            if self._closed:
                raise trio.ClosedResourceError("the telemetry stream is closed")
            if self._conn is None:
                await self.connect()
            conn = self._conn
            assert conn is not None
            try:
                text = await self._receive_text(conn)
            except WsClosed as closed:
                await self._lost(conn, closed)
                continue
            self._received += 1
            snapshot = self._parse(text)
            self._waits = 0
            self._failures = 0
            if self._account(snapshot):
                self._delivered += 1
                return snapshot

    async def connect(self) -> None:
        """Connect now if not connected, retrying by the ``Backoff`` (``receive`` calls this)."""
        while self._conn is None:
            if self._closed:
                raise trio.ClosedResourceError("the telemetry stream is closed")
            if self._backoff_pending:
                delay = self._backoff.delay_s(self._waits, self._rng)
                self._waits += 1
                await trio.sleep(delay)
            try:
                conn = await self._open()
            except _Retryable as exc:
                self._failures += 1
                self._failed_attempts += 1
                self._backoff_pending = True
                self._last_error = str(exc)
                limit = self._backoff.max_attempts
                if limit is not None and self._failures >= limit:
                    raise ReconnectGaveUp(self.url, self._failures, str(exc)) from None
                log.info("telemetry %s: attempt %d failed: %s", self.url, self._failures, exc)
                continue
            self._conn = conn
            self._backoff_pending = False
            self._connections += 1
            self._seen_on_connection.clear()
            self._new_run = self._last_close_code == CLOSE_GOING_AWAY
            log.info("telemetry %s: connected", self.url)

    async def aclose(self) -> None:
        """Close the connection (close 1000, bounded by ``close_timeout_s``); idempotent."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose(self._close_timeout_s)

    # --- internals ------------------------------------------------------------------------
    async def _receive_text(self, conn: WsConnection) -> str:
        if self._idle_timeout_s is None:
            return await conn.receive_text()
        with trio.move_on_after(self._idle_timeout_s):
            return await conn.receive_text()
        await conn.aclose(self._close_timeout_s)
        raise WsClosed(ABNORMAL_CLOSURE, f"no message for {self._idle_timeout_s:g} s")

    async def _open(self) -> WsConnection:
        url = self.url
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        resource = parts.path + (f"?{parts.query}" if parts.query else "")
        context = ssl.create_default_context() if secure else None
        try:
            with trio.fail_after(self._connect_timeout_s):
                return await WsConnection.connect(host, port, resource, ssl_context=context)
        except WsRejected as exc:
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                raise TelemetryRejected(url, exc.status, exc.body or "upgrade refused") from None
            raise _Retryable(str(exc)) from None
        except trio.TooSlowError:
            raise _Retryable(f"no answer within {self._connect_timeout_s:g} s") from None
        except (OSError, trio.BrokenResourceError, WsClosed, RemoteProtocolError) as exc:
            raise _Retryable(str(exc) or type(exc).__name__) from None

    async def _lost(self, conn: WsConnection, closed: WsClosed) -> None:
        self._conn = None
        await conn.aclose(self._close_timeout_s)
        self._last_close_code = closed.code
        self._last_error = str(closed)
        if closed.code == CLOSE_POLICY_VIOLATION:
            raise TelemetryRejected(self.url, closed.code, closed.reason)
        log.info("telemetry %s: %s; reconnecting", self.url, closed)
        # wait before reconnecting: after a restart every client would otherwise come back
        # in the same instant (the backoff's jitter spreads them)
        self._backoff_pending = True

    def _parse(self, text: str) -> Snapshot:
        try:
            return Snapshot.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(message)"
            raise PayloadError(
                f"{self.url}: message is not a Snapshot: {where}: {first['msg']}"
            ) from None

    def _account(self, snapshot: Snapshot) -> bool:
        """Update the per-device tick record; True to deliver ``snapshot``."""
        device, tick = snapshot.device_index, snapshot.tick
        fresh = device not in self._seen_on_connection
        self._seen_on_connection.add(device)
        last = self._last_tick.get(device)
        gap: Gap | None = None
        if last is None:
            pass
        elif fresh and (self._new_run or tick < last):
            gap = Gap(device, tick, "restart", last, tick)
        elif tick <= last:
            self._duplicates += 1
            return False
        elif tick > last + 1:
            gap = Gap(device, tick - last - 1, "reconnect" if fresh else "slow_read", last, tick)
        self._last_tick[device] = tick
        if gap is not None:
            self._gaps.append(gap)
            self._gap_count += 1
            self._missed += gap.missed_ticks
            log.info(
                "telemetry %s: device %d missed %d tick(s) (%s)",
                self.url,
                device,
                gap.missed_ticks,
                gap.reason,
            )
            if self._on_gap is not None:
                self._on_gap(gap)
        return True


@asynccontextmanager
async def open_telemetry(
    url: str,
    *,
    device: int | None = None,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    on_gap: Callable[[Gap], None] | None = None,
    connect_timeout_s: float = 10.0,
    idle_timeout_s: float | None = None,
    close_timeout_s: float = 0.5,
) -> AsyncIterator[TelemetryStream]:
    """Connect to a simulator's telemetry stream; yield a ``TelemetryStream`` of ``Snapshot``.

    ``url`` is the server (``http://HOST:PORT``) or the stream's ``ws://`` URL. ``device``
    filters server-side (None: every device, in index order per tick). The connection is open
    when the ``async with`` body starts (so nothing published after that is missed);
    ``backoff`` (default ``Backoff()``) governs the first connection and every reconnect,
    drawing jitter from ``rng``. ``idle_timeout_s`` treats a silent connection as lost.
    ``on_gap`` is called for every ``Gap`` just before the snapshot that follows it.

    Example::

        async with open_telemetry("http://127.0.0.1:8111", device=0) as stream:
            async for snapshot in stream:
                print(snapshot.clock_time, snapshot.metrics.power_kw)
    """
    stream = TelemetryStream(
        url,
        device=device,
        backoff=backoff or Backoff(),
        rng=rng or random.Random(),
        on_gap=on_gap,
        connect_timeout_s=connect_timeout_s,
        idle_timeout_s=idle_timeout_s,
        close_timeout_s=close_timeout_s,
    )
    try:
        await stream.connect()
        yield stream
    finally:
        await stream.aclose()
