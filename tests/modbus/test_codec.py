"""The Modbus TCP frame codec, sans-IO: frames, requests, responses, malformed input.

Reference: Modbus Application Protocol V1.1b3 (function codes 3, 4, 6, 16 and exception codes
01-04; at most 125 registers read and 123 written per request; PDU at most 253 bytes) and Modbus
Messaging on TCP/IP Implementation Guide V1.0b (MBAP header: transaction id, protocol id 0,
length of the unit id and PDU, unit id).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dersim_trio.protocols.modbus.codec import (
    MAX_READ_COUNT,
    MAX_WRITE_COUNT,
    ExceptionCode,
    Frame,
    FrameDecoder,
    Invalid,
    MalformedFrame,
    ReadRegisters,
    WriteMultiple,
    WriteSingle,
    decode_response,
    encode_frame,
    encode_request,
    exception_response,
    read_response,
    write_multiple_response,
    write_single_response,
)

u16 = st.integers(0, 0xFFFF)
reads = st.builds(ReadRegisters, st.sampled_from([3, 4]), u16, st.integers(1, MAX_READ_COUNT))
singles = st.builds(WriteSingle, u16, u16)
multiples = st.builds(
    WriteMultiple, u16, st.lists(u16, min_size=1, max_size=MAX_WRITE_COUNT).map(tuple)
)
requests = st.one_of(reads, singles, multiples)
frames = st.tuples(u16, st.integers(0, 255), requests)


def frame_bytes(tid: int, unit: int, request: ReadRegisters | WriteSingle | WriteMultiple) -> bytes:
    return encode_frame(tid, unit, encode_request(request))


@given(st.lists(frames, min_size=1, max_size=8), st.data())
def test_requests_round_trip_whatever_the_fragmentation(
    items: list[tuple[int, int, ReadRegisters | WriteSingle | WriteMultiple]], data: st.DataObject
) -> None:
    stream = b"".join(frame_bytes(*item) for item in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder()
    got: list[Frame] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        got += decoder.feed(stream[start:cut])
        start = cut
    assert got == [Frame(tid, unit, request) for tid, unit, request in items]
    assert decoder.pending == 0


@given(st.binary(max_size=600))
def test_garbage_gives_frames_or_a_malformed_frame_never_another_error(garbage: bytes) -> None:
    decoder = FrameDecoder()
    try:
        for frame in decoder.feed(garbage):
            assert isinstance(frame.request, ReadRegisters | WriteSingle | WriteMultiple | Invalid)
    except MalformedFrame:
        pass


@given(st.integers(1, 0xFFFF), st.binary(max_size=20))
def test_a_protocol_id_other_than_zero_is_malformed(protocol_id: int, rest: bytes) -> None:
    with pytest.raises(MalformedFrame, match="protocol id"):
        FrameDecoder().feed(struct.pack(">HHHB", 1, protocol_id, 6, 1) + rest)


@pytest.mark.parametrize("length", [0, 1, 255, 0xFFFF])
def test_a_length_field_out_of_range_is_malformed(length: int) -> None:
    """Below 2 there is no function code; above 254 the PDU would exceed 253 bytes."""
    with pytest.raises(MalformedFrame, match="length field"):
        FrameDecoder().feed(struct.pack(">HHHB", 1, 0, length, 1))


@pytest.mark.parametrize(
    "pdu",
    [
        bytes([3, 0x9C, 0x40, 0]),  # read: 4 bytes instead of 5
        bytes([4, 0x9C, 0x40, 0, 1, 0]),  # read: 6 bytes
        bytes([6, 0x9C, 0x40, 0]),  # write single: 4 bytes
        bytes([16, 0x9C, 0x40, 0, 1]),  # write multiple: no byte count
        bytes([16, 0x9C, 0x40, 0, 2, 4, 0, 1, 0]),  # byte count 4, 3 data bytes
        bytes([16, 0x9C, 0x40, 0, 1, 2, 0, 1, 0]),  # byte count 2, 3 data bytes
    ],
)
def test_a_pdu_that_disagrees_with_its_function_layout_is_malformed(pdu: bytes) -> None:
    with pytest.raises(MalformedFrame):
        FrameDecoder().feed(encode_frame(7, 1, pdu))


def test_a_frame_longer_than_260_bytes_is_oversized() -> None:
    """124 registers need a 254-byte PDU: over the 253-byte limit, whatever the count says."""
    pdu = bytes([16, 0x9C, 0x40, 0, 124, 248]) + bytes(248)
    with pytest.raises(MalformedFrame, match="exceeds"):
        FrameDecoder().feed(encode_frame(1, 1, pdu))


def test_a_truncated_frame_stays_pending() -> None:
    data = frame_bytes(1, 1, ReadRegisters(3, 40000, 10))
    decoder = FrameDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.pending == len(data) - 1


@pytest.mark.parametrize(
    ("pdu", "code"),
    [
        (bytes([3, 0x9C, 0x40, 0, 0]), ExceptionCode.ILLEGAL_DATA_VALUE),  # 0 registers
        (bytes([3, 0x9C, 0x40, 0, 126]), ExceptionCode.ILLEGAL_DATA_VALUE),  # 126 registers
        (bytes([16, 0x9C, 0x40, 0, 2, 2, 0, 1]), ExceptionCode.ILLEGAL_DATA_VALUE),  # 2 regs, 2 B
        (bytes([16, 0x9C, 0x40, 0, 200, 2, 0, 1]), ExceptionCode.ILLEGAL_DATA_VALUE),  # 200 regs
        (bytes([1, 0, 0, 0, 8]), ExceptionCode.ILLEGAL_FUNCTION),  # read coils
        (bytes([43, 14, 1, 0]), ExceptionCode.ILLEGAL_FUNCTION),  # read device identification
    ],
)
def test_well_framed_requests_this_server_refuses_parse_to_an_exception(
    pdu: bytes, code: ExceptionCode
) -> None:
    (frame,) = FrameDecoder().feed(encode_frame(9, 1, pdu))
    assert isinstance(frame.request, Invalid)
    assert frame.request.code == code
    assert frame.request.function == pdu[0]


def test_responses_have_the_standard_layout() -> None:
    assert read_response(3, b"\x53\x75\x6e\x53") == bytes([3, 4]) + b"SunS"
    assert write_single_response(40240, 500) == bytes([6]) + struct.pack(">HH", 40240, 500)
    assert write_multiple_response(40239, 2) == bytes([16]) + struct.pack(">HH", 40239, 2)
    assert exception_response(16, ExceptionCode.ILLEGAL_DATA_ADDRESS) == bytes([0x90, 2])
    assert encode_frame(0x1234, 1, bytes([0x83, 2])) == bytes.fromhex("123400000003018302")


@given(st.lists(u16, max_size=125))
def test_read_responses_round_trip(registers: list[int]) -> None:
    data = struct.pack(f">{len(registers)}H", *registers)
    assert decode_response(read_response(4, data)).registers == tuple(registers)


def test_an_exception_response_decodes_to_its_code() -> None:
    response = decode_response(exception_response(6, ExceptionCode.ILLEGAL_FUNCTION))
    assert (response.function, response.exception) == (6, 1)
