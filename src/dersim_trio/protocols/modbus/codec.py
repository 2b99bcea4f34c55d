"""Modbus TCP frames, sans-IO: bytes in, requests out; responses to bytes.

Theory of operation. A Modbus TCP frame (Modbus Messaging on TCP/IP Implementation Guide
V1.0b, §3.1.3) is a 7-byte MBAP header (transaction id, protocol id 0, length = the bytes that
follow the length field, unit id) and a PDU (function code and data, at most 253 bytes, Modbus
Application Protocol V1.1b3 §4.1). ``FrameDecoder.feed`` takes whatever the socket delivered
(fragments and pipelined frames alike) and returns every complete frame as a ``Frame`` with its
parsed ``Request``. This server speaks function codes 3 and 4 (read holding / input registers,
at most 125 registers), 6 (write single register) and 16 (write multiple registers, at most
123); any other function code parses to ``Invalid`` with exception 01, and a read or write
quantity out of range (or a byte count that disagrees with it) to ``Invalid`` with exception 03,
as §6 of the application protocol prescribes. A frame that is not Modbus TCP at all raises
``MalformedFrame``, and the shell closes that one connection:

* protocol id other than 0;
* a length field below 2 (no unit id and function code) or above 254 (oversized: no PDU is
  longer than 253 bytes);
* a PDU whose size disagrees with its own function's layout (length mismatch), e.g. a read
  request that is not exactly 5 bytes, or a write-multiple whose data is not its byte count;
* a connection that ends in the middle of a frame (truncated): ``pending`` says so.

Responses are built with ``read_response``, ``write_single_response``,
``write_multiple_response`` and ``exception_response`` and framed with ``encode_frame``, which
echoes the request's transaction and unit ids. The request encoders (``encode_request``) and
``decode_response`` serve clients (tests, the benchmark) and the round-trip tests.

Written by hand rather than taken from pymodbus: pymodbus is asyncio-only (its server cannot run
inside ``trio.run``) and its framer is not usable without its transport; the surface needed here is
the four function codes above.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

MBAP = struct.Struct(">HHHB")
"""Transaction id, protocol id, length, unit id."""
MBAP_LEN = MBAP.size
MAX_PDU_LEN = 253
MAX_LENGTH_FIELD = MAX_PDU_LEN + 1
MAX_READ_COUNT = 125
MAX_WRITE_COUNT = 123
MAX_ADDRESS = 0xFFFF

_ADDRESS_COUNT = struct.Struct(">HH")
_WRITE_MULTIPLE_HEAD = struct.Struct(">HHB")


class Function(IntEnum):
    """The function codes this server answers."""

    READ_HOLDING_REGISTERS = 3
    READ_INPUT_REGISTERS = 4
    WRITE_SINGLE_REGISTER = 6
    WRITE_MULTIPLE_REGISTERS = 16


class ExceptionCode(IntEnum):
    """Modbus exception codes (application protocol §7)."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    GATEWAY_TARGET_FAILED = 0x0B


class MalformedFrame(Exception):
    """The bytes are not Modbus TCP; ``str()`` says why (the connection is closed)."""


@dataclass(frozen=True, slots=True)
class ReadRegisters:
    """FC 3 or 4: ``count`` registers from ``address``."""

    function: int
    address: int
    count: int


@dataclass(frozen=True, slots=True)
class WriteSingle:
    """FC 6: one register."""

    address: int
    value: int
    function: int = Function.WRITE_SINGLE_REGISTER


@dataclass(frozen=True, slots=True)
class WriteMultiple:
    """FC 16: ``len(values)`` registers from ``address``."""

    address: int
    values: tuple[int, ...]
    function: int = Function.WRITE_MULTIPLE_REGISTERS


@dataclass(frozen=True, slots=True)
class Invalid:
    """A well-framed request this server answers with an exception."""

    function: int
    code: ExceptionCode
    reason: str


Request = ReadRegisters | WriteSingle | WriteMultiple | Invalid


@dataclass(frozen=True, slots=True)
class Frame:
    """One request with the MBAP ids its response must echo."""

    transaction_id: int
    unit_id: int
    request: Request


def parse_pdu(pdu: bytes) -> Request:
    """The request a PDU carries (raises ``MalformedFrame`` on a length mismatch)."""
    if not pdu:
        raise MalformedFrame("empty PDU")
    function = pdu[0]
    body = pdu[1:]
    if function in (Function.READ_HOLDING_REGISTERS, Function.READ_INPUT_REGISTERS):
        if len(body) != 4:
            raise MalformedFrame(f"function {function}: PDU of {len(pdu)} bytes, expected 5")
        address, count = _ADDRESS_COUNT.unpack(body)
        if not 1 <= count <= MAX_READ_COUNT:
            return Invalid(
                function,
                ExceptionCode.ILLEGAL_DATA_VALUE,
                f"read quantity {count} outside 1..{MAX_READ_COUNT}",
            )
        return ReadRegisters(function, address, count)
    if function == Function.WRITE_SINGLE_REGISTER:
        if len(body) != 4:
            raise MalformedFrame(f"function 6: PDU of {len(pdu)} bytes, expected 5")
        address, value = _ADDRESS_COUNT.unpack(body)
        return WriteSingle(address, value)
    if function == Function.WRITE_MULTIPLE_REGISTERS:
        if len(body) < _WRITE_MULTIPLE_HEAD.size:
            raise MalformedFrame(f"function 16: PDU of {len(pdu)} bytes, at least 6 expected")
        address, count, byte_count = _WRITE_MULTIPLE_HEAD.unpack_from(body)
        data = body[_WRITE_MULTIPLE_HEAD.size :]
        if len(data) != byte_count:
            raise MalformedFrame(
                f"function 16: byte count {byte_count} but {len(data)} data bytes follow"
            )
        if not 1 <= count <= MAX_WRITE_COUNT or byte_count != 2 * count:
            return Invalid(
                function,
                ExceptionCode.ILLEGAL_DATA_VALUE,
                f"write quantity {count} (byte count {byte_count}) outside 1..{MAX_WRITE_COUNT} "
                "or not two bytes per register",
            )
        return WriteMultiple(address, struct.unpack(f">{count}H", data))
    return Invalid(function, ExceptionCode.ILLEGAL_FUNCTION, f"function code {function}")


class FrameDecoder:
    """Turns a TCP byte stream into frames (see the module docstring)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of a frame not yet complete (0 between frames)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return every frame now complete (raises ``MalformedFrame``)."""
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        start = 0
        end = len(buffer)
        while end - start >= MBAP_LEN:
            transaction_id, protocol_id, length, unit_id = MBAP.unpack_from(buffer, start)
            if protocol_id != 0:
                raise MalformedFrame(f"protocol id {protocol_id}, expected 0")
            if length < 2:
                raise MalformedFrame(f"length field {length}, at least 2 expected")
            if length > MAX_LENGTH_FIELD:
                raise MalformedFrame(f"length field {length} exceeds {MAX_LENGTH_FIELD}")
            frame_end = start + 6 + length
            if frame_end > end:
                break
            pdu = bytes(buffer[start + MBAP_LEN : frame_end])
            frames.append(Frame(transaction_id, unit_id, parse_pdu(pdu)))
            start = frame_end
        if start:
            del buffer[:start]
        return frames


def encode_frame(transaction_id: int, unit_id: int, pdu: bytes) -> bytes:
    """An MBAP header followed by ``pdu``."""
    return MBAP.pack(transaction_id, 0, len(pdu) + 1, unit_id) + pdu


def read_response(function: int, registers: bytes) -> bytes:
    """FC 3/4 response PDU: byte count and the registers (big-endian bytes)."""
    return bytes((function, len(registers))) + registers


def write_single_response(address: int, value: int) -> bytes:
    """FC 6 response PDU: the request echoed."""
    return bytes((Function.WRITE_SINGLE_REGISTER,)) + _ADDRESS_COUNT.pack(address, value)


def write_multiple_response(address: int, count: int) -> bytes:
    """FC 16 response PDU: address and quantity."""
    return bytes((Function.WRITE_MULTIPLE_REGISTERS,)) + _ADDRESS_COUNT.pack(address, count)


def exception_response(function: int, code: ExceptionCode) -> bytes:
    """Exception response PDU: the function code with bit 7 set, then the code."""
    return bytes(((function | 0x80) & 0xFF, code))


# --- the client side (tests, benchmark) ----------------------------------------------------------


def encode_request(request: ReadRegisters | WriteSingle | WriteMultiple) -> bytes:
    """The PDU of a request."""
    if isinstance(request, ReadRegisters):
        return bytes((request.function,)) + _ADDRESS_COUNT.pack(request.address, request.count)
    if isinstance(request, WriteSingle):
        return bytes((request.function,)) + _ADDRESS_COUNT.pack(request.address, request.value)
    count = len(request.values)
    return (
        bytes((request.function,))
        + _WRITE_MULTIPLE_HEAD.pack(request.address, count, 2 * count)
        + struct.pack(f">{count}H", *request.values)
    )


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded response PDU: ``exception`` set, or ``registers`` for a read."""

    function: int
    exception: int | None = None
    registers: tuple[int, ...] = ()


def decode_response(pdu: bytes) -> Response:
    """The response a PDU carries (raises ``MalformedFrame`` if it is not one)."""
    if len(pdu) < 2:
        raise MalformedFrame(f"response PDU of {len(pdu)} bytes")
    function = pdu[0]
    if function & 0x80:
        return Response(function & 0x7F, exception=pdu[1])
    if function in (Function.READ_HOLDING_REGISTERS, Function.READ_INPUT_REGISTERS):
        byte_count = pdu[1]
        data = pdu[2:]
        if len(data) != byte_count or byte_count % 2:
            raise MalformedFrame(f"read response: byte count {byte_count}, {len(data)} bytes")
        return Response(function, registers=struct.unpack(f">{byte_count // 2}H", data))
    if len(pdu) != 5:
        raise MalformedFrame(f"write response of {len(pdu)} bytes")
    return Response(function)
