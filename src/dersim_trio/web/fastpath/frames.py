"""Sans-IO WebSocket pieces for the fast telemetry path (RFC 6455).

* ``handshake_response`` validates an upgrade request's headers and builds the 101 response.
* ``text_frame`` / ``close_frame`` / ``pong_frame`` build unmasked server frames. Server frames
  are never masked, so one framed ``bytes`` serves every client.
* ``ClientFrameReader`` consumes client bytes and yields only what the server must act on:
  pings (answered with a pong), a close, or a protocol error (answered with a close code). Data
  messages are skipped without unmasking; they are only checked against the message size cap.

Why the client side is not wsproto (a dependency already, used by the client library): the
fast path reads client bytes on the tick's own trio thread, and what a telemetry client sends is
either nothing, a ping, a close, or (from a hostile client) data nobody reads. wsproto unmasks
and, for text, UTF-8-decodes every data byte and has no per-message size cap, so it would cost
the tick thread 30 to 40 times more per byte of unread data. Measured by
``scripts/bench_client_frames.py`` (CPU per MiB of 60 KiB client messages, best of 5; see
BENCHMARKS.md): this reader 0.12–0.16 ms, wsproto's ``WSConnection`` 4.7–4.9 ms and its
``FrameProtocol`` 4.2–4.7 ms; per ping 3.8 µs against 16–17 µs. The frame rules it checks
(masking, reserved bits, opcodes, control frame size and fragmentation, continuation order,
close codes and reason encoding) are RFC 6455 §5.2–5.5 and §7.4, pinned by
``tests/test_wsframes.py``.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
MAX_CONTROL_PAYLOAD = 125

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
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


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class ClientFrameReader:
    """Incremental parser of client→server frames; keeps at most one frame header buffered.

    Data frames are skipped as they stream by (never buffered); control frames (≤ 125 bytes)
    are buffered whole and unmasked. After a close or a violation it ignores further input.
    """

    __slots__ = ("_buf", "_done", "_in_message", "_message_bytes", "_skip")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip = 0
        self._in_message = False
        self._message_bytes = 0
        self._done = False

    def feed(self, data: bytes) -> list[ClientEvent]:
        """Consume ``data``; return the events it completes, in order."""
        if self._done:
            return []
        events: list[ClientEvent] = []
        view = memoryview(data)
        if self._skip:
            taken = min(self._skip, len(view))
            self._skip -= taken
            view = view[taken:]
        self._buf += view
        while not self._done and not self._skip:
            event = self._next_frame()
            if event is None:
                break
            if isinstance(event, (CloseReceived, ProtocolViolation)):
                self._done = True
            if not isinstance(event, bool):
                events.append(event)
        return events

    def _violation(self, code: int, reason: str) -> ProtocolViolation:
        return ProtocolViolation(code, reason)

    def _next_frame(self) -> ClientEvent | bool | None:
        """Parse one frame from the buffer: an event, True (data skipped), or None (need more)."""
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
        masked, length = b1 & 0x80, b1 & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack_from("!H", buf, 2)[0]
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack_from("!Q", buf, 2)[0]
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
            if len(buf) < offset + length:
                return None
            payload = _unmask(bytes(buf[offset : offset + length]), bytes(buf[offset - 4 : offset]))
            del buf[: offset + length]
            if opcode == _OP_PING:
                return Ping(payload)
            if opcode == _OP_PONG:
                return True
            return self._close_event(payload)
        if opcode not in (_OP_CONTINUATION, _OP_TEXT, _OP_BINARY):
            return self._violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if len(buf) < offset:
            return None
        if opcode == _OP_CONTINUATION and not self._in_message:
            return self._violation(CLOSE_PROTOCOL_ERROR, "continuation without a message")
        if opcode != _OP_CONTINUATION and self._in_message:
            return self._violation(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        if opcode != _OP_CONTINUATION:
            self._message_bytes = 0
        self._message_bytes += length
        if self._message_bytes > MAX_CLIENT_MESSAGE_BYTES:
            return self._violation(CLOSE_MESSAGE_TOO_BIG, "message too big (64 KiB max)")
        self._in_message = not fin
        available = len(buf) - offset
        if available >= length:
            del buf[: offset + length]
        else:
            del buf[:]
            self._skip = length - available
        return True

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
