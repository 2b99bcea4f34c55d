"""Sans-IO WebSocket pieces for the fast telemetry path (RFC 6455).

* ``handshake_response`` validates an upgrade request's headers and builds the 101 response.
* ``text_frame`` / ``close_frame`` / ``pong_frame`` build unmasked server frames. Server frames
  are never masked, so one framed ``bytes`` serves every client.
* ``ClientFrameReader`` consumes client bytes and yields only what the server must act on:
  pings (answered with a pong), a close, or a protocol error (answered with a close code). Data
  messages are discarded as they stream by, checked against the message size cap; text messages
  are also checked to be UTF-8 (RFC 6455 §8.1). A client sending control frames (pings, pongs)
  faster than ``CONTROL_FRAMES_PER_S`` on average, beyond a burst of ``CONTROL_FRAME_BURST``, is
  refused with 1008: every ping costs the server a pong, and nothing a telemetry client needs
  comes near that rate (libraries ping every 20 to 30 s). The pull interface
  (``receive_data`` / ``next_event``) returns after every frame, so its caller can yield to the
  scheduler every so many frames however fast they arrive.

Why the client side is not wsproto (a dependency already, used by the client library): the
fast path reads client bytes on the tick's own trio thread, and what a telemetry client sends is
nothing, a ping, a close, or (from a hostile client) data nobody reads. wsproto has neither the
message size cap, nor the control-frame rate limit, nor a per-frame pull interface, and it
unmasks every data byte. Measured by ``scripts/bench_client_frames.py`` (CPU, best of 5; see
BENCHMARKS.md §6): binary data costs 0.22 ms per MiB here against 3.8–4.5 ms through wsproto
(discarded without unmasking), a ping 5.2 µs against 15–16 µs; text, which both unmask and
decode as UTF-8, costs 5.7 ms per MiB here against 3.5–3.7 ms, bounded by the size cap and the
rate of the caller's reads.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
MESSAGE_TOO_BIG_REASON = f"message too big (at most {MAX_CLIENT_MESSAGE_BYTES} bytes)"
"""The close reason of 1009 (both telemetry routes), stating the limit as a 413 does."""
MAX_CONTROL_PAYLOAD = 125
CONTROL_FRAMES_PER_S = 10.0
"""Sustained rate of client control frames (ping, pong) allowed on the fast path."""
CONTROL_FRAME_BURST = 50
"""Control frames a client may send at once before the rate applies."""

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009

_OP_CONTINUATION, _OP_TEXT, _OP_BINARY = 0x0, 0x1, 0x2
_OP_CLOSE, _OP_PING, _OP_PONG = 0x8, 0x9, 0xA
_VALID_CLOSE_CODES = frozenset(range(1000, 1015)) - {1004, 1005, 1006} | frozenset(
    range(3000, 5000)
)


class HandshakeError(ValueError):
    """The request is not a valid WebSocket upgrade (it goes to the HTTP stack instead)."""


def accept_key(client_key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(client_key.encode("ascii") + WS_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_response(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Validate upgrade headers (lower-case names) and return the 101 response bytes."""
    upgrade = connection = version = key = None
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value.decode("latin-1").strip().lower()
        elif name == b"connection":
            connection = {t.strip().lower() for t in value.decode("latin-1").split(",")}
        elif name == b"sec-websocket-version":
            version = value.decode("latin-1").strip()
        elif name == b"sec-websocket-key":
            key = value.decode("latin-1").strip()
    if upgrade != "websocket" or connection is None or "upgrade" not in connection:
        raise HandshakeError("not a WebSocket upgrade")
    if version != "13":
        raise HandshakeError("unsupported WebSocket version")
    try:
        if key is None or len(base64.b64decode(key, validate=True)) != 16:
            raise HandshakeError("bad Sec-WebSocket-Key")
    except ValueError:
        raise HandshakeError("bad Sec-WebSocket-Key") from None
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode("ascii") + b"\r\n\r\n"
    )


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame carrying UTF-8 ``payload``."""
    return _frame(_OP_TEXT, payload)


def pong_frame(payload: bytes) -> bytes:
    """A pong answering a ping with ``payload``."""
    return _frame(_OP_PONG, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit the 125-byte control payload."""
    encoded = reason.encode("utf-8")[: MAX_CONTROL_PAYLOAD - 2]
    while True:
        try:
            encoded.decode("utf-8")
            break
        except UnicodeDecodeError:
            encoded = encoded[:-1]
    return _frame(_OP_CLOSE, struct.pack("!H", code) + encoded)


@dataclass(frozen=True, slots=True)
class Ping:
    """The client sent a ping; answer with ``pong_frame(payload)``."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The client sent a close frame (``code`` None when it carried no status)."""

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The client broke the protocol; close with ``code`` and ``reason``."""

    code: int
    reason: str


ClientEvent = Ping | CloseReceived | ProtocolViolation


class Consumed:
    """``next_event``: a frame (or part of a data frame) was consumed; nothing to answer."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CONSUMED"


CONSUMED: Final = Consumed()


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class ClientFrameReader:
    """Incremental parser of client→server frames.

    Data frames are discarded as they stream by (their payload is never kept beyond the bytes
    received in one read); control frames (≤ 125 bytes) are parsed whole and unmasked. After a
    close or a violation it ignores further input.

    Pull interface: ``receive_data(data, now)`` then ``next_event()`` until it returns None;
    ``now`` (seconds, any monotonic clock) feeds the control-frame rate limit. ``feed`` does
    both at once and returns only the events to act on.
    """

    __slots__ = (
        "_buf",
        "_burst",
        "_decoder",
        "_done",
        "_frame_fin",
        "_in_message",
        "_last",
        "_mask",
        "_mask_pos",
        "_message_bytes",
        "_now",
        "_pos",
        "_rate",
        "_skip",
        "_tokens",
    )

    def __init__(
        self,
        *,
        control_frames_per_s: float = CONTROL_FRAMES_PER_S,
        control_frame_burst: int = CONTROL_FRAME_BURST,
    ) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._skip = 0
        """Payload bytes of the current data frame still to come."""
        self._mask = b"\0\0\0\0"
        self._mask_pos = 0
        self._frame_fin = False
        self._decoder: codecs.IncrementalDecoder | None = None
        """Set while a text message is being received (its UTF-8 check)."""
        self._in_message = False
        self._message_bytes = 0
        self._done = False
        self._rate = control_frames_per_s
        self._burst = float(control_frame_burst)
        self._tokens = float(control_frame_burst)
        self._last: float | None = None
        self._now = 0.0

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        """Add bytes read from the client at time ``now``; then call ``next_event``."""
        self._now = now
        if not self._done:
            self._buf += data

    def next_event(self) -> ClientEvent | Consumed | None:
        """The next step: an event to act on, ``CONSUMED``, or None (all input used)."""
        if self._done:
            return None
        if self._skip:
            return self._consume_payload()
        event = self._next_frame()
        if event is None:
            del self._buf[: self._pos]
            self._pos = 0
            return None
        if isinstance(event, (CloseReceived, ProtocolViolation)):
            self._finish()
        return event

    def feed(self, data: bytes, now: float = 0.0) -> list[ClientEvent]:
        """Consume ``data``; return the events it completes, in order."""
        self.receive_data(data, now)
        events: list[ClientEvent] = []
        while (event := self.next_event()) is not None:
            if not isinstance(event, Consumed):
                events.append(event)
        return events

    def _finish(self) -> None:
        self._done = True
        self._buf = bytearray()
        self._pos = 0
        self._skip = 0
        self._decoder = None

    def _violation(self, code: int, reason: str) -> ProtocolViolation:
        return ProtocolViolation(code, reason)

    def _consume_payload(self) -> ClientEvent | Consumed | None:
        """Discard the next available bytes of the current data frame (checking text)."""
        available = len(self._buf) - self._pos
        if not available:
            del self._buf[:]
            self._pos = 0
            return None
        n = min(self._skip, available)
        start = self._pos
        self._pos += n
        self._skip -= n
        if self._decoder is not None:
            shift = self._mask_pos % 4
            mask = self._mask[shift:] + self._mask[:shift]
            self._mask_pos += n
            chunk = _unmask(bytes(self._buf[start : start + n]), mask)
            if not self._decoded(chunk, final=self._frame_fin and not self._skip):
                self._finish()
                return self._violation(CLOSE_INVALID_PAYLOAD, "text message is not valid UTF-8")
        if not self._skip and self._frame_fin:
            self._decoder = None
        return CONSUMED

    def _decoded(self, chunk: bytes, *, final: bool) -> bool:
        assert self._decoder is not None
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            return False
        return True

    def _control_allowed(self) -> bool:
        """Take one control frame from the token bucket; False when the client is over rate."""
        if self._last is not None:
            elapsed = max(0.0, self._now - self._last)
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._last = self._now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _next_frame(self) -> ClientEvent | Consumed | None:
        """Parse one frame header (and a whole control frame) from the buffer."""
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < 2:
            return None
        b0, b1 = buf[pos], buf[pos + 1]
        fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
        masked, length = b1 & 0x80, b1 & 0x7F
        offset = 2
        if length == 126:
            if available < 4:
                return None
            length = struct.unpack_from("!H", buf, pos + 2)[0]
            offset = 4
        elif length == 127:
            if available < 10:
                return None
            length = struct.unpack_from("!Q", buf, pos + 2)[0]
            offset = 10
        if rsv:
            return self._violation(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension)")
        if not masked:
            return self._violation(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
        offset += 4
        if opcode >= 0x8:
            if opcode not in (_OP_CLOSE, _OP_PING, _OP_PONG):
                return self._violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
            if not fin or length > MAX_CONTROL_PAYLOAD:
                return self._violation(CLOSE_PROTOCOL_ERROR, "bad control frame")
            if available < offset + length:
                return None
            mask = bytes(buf[pos + offset - 4 : pos + offset])
            payload = _unmask(bytes(buf[pos + offset : pos + offset + length]), mask)
            self._pos = pos + offset + length
            if opcode == _OP_CLOSE:
                return self._close_event(payload)
            if not self._control_allowed():
                return self._violation(
                    CLOSE_POLICY_VIOLATION,
                    f"more than {self._rate:g} pings/pongs per second (bursts of {self._burst:g})",
                )
            return Ping(payload) if opcode == _OP_PING else CONSUMED
        if opcode not in (_OP_CONTINUATION, _OP_TEXT, _OP_BINARY):
            return self._violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if available < offset:
            return None
        if opcode == _OP_CONTINUATION and not self._in_message:
            return self._violation(CLOSE_PROTOCOL_ERROR, "continuation without a message")
        if opcode != _OP_CONTINUATION and self._in_message:
            return self._violation(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        if opcode != _OP_CONTINUATION:
            self._message_bytes = 0
            self._decoder = _Utf8Decoder() if opcode == _OP_TEXT else None
        self._message_bytes += length
        if self._message_bytes > MAX_CLIENT_MESSAGE_BYTES:
            return self._violation(CLOSE_MESSAGE_TOO_BIG, MESSAGE_TOO_BIG_REASON)
        self._in_message = not fin
        self._frame_fin = bool(fin)
        self._mask = bytes(buf[pos + offset - 4 : pos + offset])
        self._mask_pos = 0
        self._pos = pos + offset
        self._skip = length
        if not length and fin and self._decoder is not None:
            if not self._decoded(b"", final=True):
                return self._violation(CLOSE_INVALID_PAYLOAD, "text message is not valid UTF-8")
            self._decoder = None
        return CONSUMED

    def _close_event(self, payload: bytes) -> ClientEvent:
        if not payload:
            return CloseReceived(None, "")
        if len(payload) == 1:
            return self._violation(CLOSE_PROTOCOL_ERROR, "close payload of one byte")
        code = struct.unpack_from("!H", payload)[0]
        if code not in _VALID_CLOSE_CODES:
            return self._violation(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return self._violation(CLOSE_PROTOCOL_ERROR, "close reason is not UTF-8")
        return CloseReceived(code, reason)
