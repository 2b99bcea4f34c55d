"""Sans-IO WebSocket pieces of the fast path (``web/wsframes.py``), checked against RFC 6455.

No sockets and no trio: the handshake validator, the server frame builders and the client
frame reader are pure functions of their input bytes.
"""

from __future__ import annotations

import base64
import itertools
import struct

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from dersim_trio.web.fastpath.frames import (
    CONSUMED,
    CONTROL_FRAME_BURST,
    CONTROL_FRAMES_PER_S,
    MAX_CLIENT_MESSAGE_BYTES,
    ClientEvent,
    ClientFrameReader,
    CloseReceived,
    HandshakeError,
    Ping,
    ProtocolViolation,
    accept_key,
    close_frame,
    handshake_response,
    pong_frame,
    text_frame,
)
from helpers import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, WS_KEY, client_frame

RFC_KEY = WS_KEY
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def feed_all(data: bytes) -> list[ClientEvent]:
    return ClientFrameReader().feed(data)


def upgrade_headers(**overrides: str | None) -> list[tuple[bytes, bytes]]:
    """Lower-case header pairs of a valid upgrade (as h11 hands them over); None drops one."""
    headers = {
        "host": "127.0.0.1:8111",
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": RFC_KEY,
        "sec-websocket-version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return [(k.encode(), v.encode()) for k, v in headers.items()]


# --- handshake ------------------------------------------------------------------------------------


def test_the_rfc_6455_example_key_gives_the_rfc_accept_value() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_a_valid_upgrade_gets_a_101_with_the_accept_value_and_no_extension() -> None:
    headers = upgrade_headers(sec_websocket_extensions="permessage-deflate")
    response = handshake_response(headers)
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert response.endswith(b"\r\n\r\n")
    lines = response.decode().split("\r\n")
    assert f"Sec-WebSocket-Accept: {RFC_ACCEPT}" in lines
    assert "Upgrade: websocket" in lines
    assert "Connection: Upgrade" in lines
    assert "extensions" not in response.decode().lower()


@pytest.mark.parametrize(
    "overrides",
    [
        {"upgrade": "WebSocket"},
        {"connection": "keep-alive, Upgrade"},
        {"connection": "upgrade"},
        {"sec_websocket_key": f"  {RFC_KEY} "},
    ],
    ids=["upgrade-mixed-case", "connection-list", "connection-lower", "key-padded"],
)
def test_upgrade_header_values_are_matched_case_and_list_insensitively(
    overrides: dict[str, str],
) -> None:
    assert RFC_ACCEPT.encode() in handshake_response(upgrade_headers(**overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"upgrade": None}, "not a WebSocket upgrade"),
        ({"upgrade": "h2c"}, "not a WebSocket upgrade"),
        ({"connection": None}, "not a WebSocket upgrade"),
        ({"connection": "keep-alive"}, "not a WebSocket upgrade"),
        ({"sec_websocket_version": "12"}, "unsupported WebSocket version"),
        ({"sec_websocket_version": None}, "unsupported WebSocket version"),
        ({"sec_websocket_key": None}, "bad Sec-WebSocket-Key"),
        ({"sec_websocket_key": "not base64!"}, "bad Sec-WebSocket-Key"),
        ({"sec_websocket_key": "short"}, "bad Sec-WebSocket-Key"),
        ({"sec_websocket_key": base64.b64encode(b"x" * 15).decode()}, "bad Sec-WebSocket-Key"),
        ({"sec_websocket_key": base64.b64encode(b"x" * 17).decode()}, "bad Sec-WebSocket-Key"),
    ],
    ids=[
        "no-upgrade",
        "upgrade-h2c",
        "no-connection",
        "connection-without-upgrade",
        "version-12",
        "no-version",
        "no-key",
        "key-not-base64",
        "key-bad-padding",
        "key-15-bytes",
        "key-17-bytes",
    ],
)
def test_an_invalid_upgrade_is_refused_with_a_reason(
    overrides: dict[str, str | None], message: str
) -> None:
    with pytest.raises(HandshakeError, match=message):
        handshake_response(upgrade_headers(**overrides))


# --- server frames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_text_frames_use_the_shortest_length_encoding(size: int, header: bytes) -> None:
    payload = b"a" * size
    frame = text_frame(payload)
    assert frame == header + payload


def test_a_pong_carries_the_ping_payload_unmasked() -> None:
    assert pong_frame(b"hello") == b"\x8a\x05hello"
    assert pong_frame(b"") == b"\x8a\x00"


def test_a_close_frame_carries_the_code_and_reason() -> None:
    assert close_frame(1001, "bye") == b"\x88\x05" + struct.pack("!H", 1001) + b"bye"
    assert close_frame(1000) == b"\x88\x02\x03\xe8"


def test_a_long_close_reason_is_cut_to_125_bytes_on_a_character_boundary() -> None:
    frame = close_frame(1008, "é" * 100)  # 200 bytes of UTF-8
    assert frame[0] == 0x88
    length = frame[1]
    assert length <= 125
    payload = frame[2:]
    assert len(payload) == length
    assert struct.unpack("!H", payload[:2]) == (1008,)
    reason = payload[2:].decode("utf-8")  # no split character
    assert reason == "é" * 61


# --- client frame reader --------------------------------------------------------------------------


def test_a_ping_is_reported_with_its_unmasked_payload() -> None:
    assert feed_all(client_frame(PING, b"are you there?")) == [Ping(b"are you there?")]
    assert feed_all(client_frame(PING)) == [Ping(b"")]


def test_a_ping_of_125_bytes_is_a_valid_control_frame() -> None:
    assert feed_all(client_frame(PING, bytes(range(125)))) == [Ping(bytes(range(125)))]


def test_pongs_and_data_messages_produce_no_events() -> None:
    data = (
        client_frame(PONG, b"p")
        + client_frame(TEXT, b"hello")
        + client_frame(BINARY, bytes(300))
        + client_frame(TEXT, b"a", fin=False)
        + client_frame(CONTINUATION, b"b")
    )
    assert feed_all(data) == []


def test_an_unmasked_client_frame_is_a_protocol_error() -> None:
    events = feed_all(client_frame(TEXT, b"hi", mask=None))
    assert events == [ProtocolViolation(1002, "client frames must be masked")]


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_reserved_bits_are_a_protocol_error(rsv: int) -> None:
    events = feed_all(client_frame(TEXT, b"hi", rsv=rsv))
    assert events == [ProtocolViolation(1002, "reserved bits set (no extension)")]


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_an_unknown_opcode_is_a_protocol_error(opcode: int) -> None:
    events = feed_all(client_frame(opcode, b"??"))
    assert events == [ProtocolViolation(1002, f"unknown opcode {opcode:#x}")]


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_a_control_frame_over_125_bytes_is_a_protocol_error(opcode: int) -> None:
    # the violation is seen from the header alone: the payload need not arrive
    events = feed_all(client_frame(opcode, b"", length=126))
    assert events == [ProtocolViolation(1002, "bad control frame")]


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_a_fragmented_control_frame_is_a_protocol_error(opcode: int) -> None:
    events = feed_all(client_frame(opcode, b"x", fin=False))
    assert events == [ProtocolViolation(1002, "bad control frame")]


def test_a_close_without_payload_has_no_code() -> None:
    assert feed_all(client_frame(CLOSE)) == [CloseReceived(None, "")]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1014, 3000, 4999])
def test_a_close_reports_its_code_and_reason(code: int) -> None:
    payload = struct.pack("!H", code) + "au revoir ✓".encode()
    assert feed_all(client_frame(CLOSE, payload)) == [CloseReceived(code, "au revoir ✓")]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_an_invalid_close_code_is_a_protocol_error(code: int) -> None:
    events = feed_all(client_frame(CLOSE, struct.pack("!H", code)))
    assert events == [ProtocolViolation(1002, f"invalid close code {code}")]


def test_a_one_byte_close_payload_is_a_protocol_error() -> None:
    events = feed_all(client_frame(CLOSE, b"\x03"))
    assert events == [ProtocolViolation(1002, "close payload of one byte")]


def test_a_close_reason_that_is_not_utf8_is_a_protocol_error() -> None:
    events = feed_all(client_frame(CLOSE, struct.pack("!H", 1000) + b"\xff\xfe"))
    assert events == [ProtocolViolation(1002, "close reason is not UTF-8")]


def test_input_after_a_close_or_a_violation_is_ignored() -> None:
    reader = ClientFrameReader()
    events = reader.feed(client_frame(CLOSE, struct.pack("!H", 1000)) + client_frame(PING, b"1"))
    assert events == [CloseReceived(1000, "")]
    assert reader.feed(client_frame(PING, b"2")) == []

    reader = ClientFrameReader()
    assert reader.feed(client_frame(TEXT, mask=None) + client_frame(PING, b"3")) == [
        ProtocolViolation(1002, "client frames must be masked")
    ]
    assert reader.feed(client_frame(PING, b"4")) == []


def test_a_fragmented_message_with_a_ping_in_between_is_accepted() -> None:
    data = (
        client_frame(TEXT, b"part 1 ", fin=False)
        + client_frame(PING, b"mid")
        + client_frame(CONTINUATION, b"part 2 ", fin=False)
        + client_frame(CONTINUATION, b"end")
        + client_frame(BINARY, b"next message")
        + client_frame(PING, b"after")
    )
    assert feed_all(data) == [Ping(b"mid"), Ping(b"after")]


def test_a_continuation_without_a_message_is_a_protocol_error() -> None:
    events = feed_all(client_frame(CONTINUATION, b"orphan"))
    assert events == [ProtocolViolation(1002, "continuation without a message")]


def test_a_continuation_after_a_finished_message_is_a_protocol_error() -> None:
    data = client_frame(TEXT, b"done") + client_frame(CONTINUATION, b"late")
    assert feed_all(data) == [ProtocolViolation(1002, "continuation without a message")]


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_a_new_message_inside_a_fragmented_one_is_a_protocol_error(opcode: int) -> None:
    data = client_frame(TEXT, b"start", fin=False) + client_frame(opcode, b"intruder")
    assert feed_all(data) == [ProtocolViolation(1002, "new message inside a fragmented one")]


def test_a_message_of_exactly_64_kib_is_accepted() -> None:
    data = client_frame(BINARY, bytes(MAX_CLIENT_MESSAGE_BYTES)) + client_frame(PING, b"ok")
    assert feed_all(data) == [Ping(b"ok")]


def test_a_frame_over_64_kib_is_refused_with_1009_from_its_header() -> None:
    # only the header is sent: the reader must not wait for (or buffer) the payload
    header = client_frame(TEXT, b"", length=MAX_CLIENT_MESSAGE_BYTES + 1)
    assert feed_all(header) == [ProtocolViolation(1009, "message too big (at most 65536 bytes)")]


def test_a_fragmented_message_over_64_kib_in_total_is_refused_with_1009() -> None:
    half = MAX_CLIENT_MESSAGE_BYTES // 2
    reader = ClientFrameReader()
    assert reader.feed(client_frame(TEXT, bytes(half), fin=False)) == []
    assert reader.feed(client_frame(CONTINUATION, bytes(half), fin=False)) == []
    assert reader.feed(client_frame(CONTINUATION, b"!")) == [
        ProtocolViolation(1009, "message too big (at most 65536 bytes)")
    ]


def test_the_size_cap_counts_per_message_not_per_connection() -> None:
    big = client_frame(BINARY, bytes(MAX_CLIENT_MESSAGE_BYTES - 10))
    assert feed_all(big * 3 + client_frame(PING, b"still fine")) == [Ping(b"still fine")]


def test_data_frames_are_skipped_without_buffering_their_payload() -> None:
    """White box: the reader's buffer never holds more than one frame header."""
    payload = bytes(range(256)) * 240  # 61,440 bytes
    frame = client_frame(BINARY, payload)
    reader = ClientFrameReader()
    largest = 0
    for start in range(0, len(frame), 1000):
        assert reader.feed(frame[start : start + 1000]) == []
        largest = max(largest, len(reader._buf))
    assert largest <= 14  # 2 + 8 length + 4 mask: at most a header
    assert reader._skip == 0
    assert reader.feed(client_frame(PING, b"next")) == [Ping(b"next")]


# --- UTF-8 of text messages (RFC 6455 §8.1) -------------------------------------------------------

NOT_UTF8 = ProtocolViolation(1007, "text message is not valid UTF-8")


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"caf\xc3", b"\xed\xa0\x80", b"ok \xc0\xaf"],
    ids=["invalid-byte", "truncated", "surrogate", "overlong"],
)
def test_a_text_message_that_is_not_utf8_is_refused_with_1007(payload: bytes) -> None:
    assert feed_all(client_frame(TEXT, payload) + client_frame(PING, b"x")) == [NOT_UTF8]


def test_a_binary_message_is_not_checked_for_utf8() -> None:
    assert feed_all(client_frame(BINARY, b"\xff\xfe") + client_frame(PING)) == [Ping(b"")]


def test_a_character_split_across_fragments_and_reads_is_valid() -> None:
    euro = "€".encode()  # 3 bytes
    data = (
        client_frame(TEXT, b"price " + euro[:1], fin=False)
        + client_frame(PING, b"between")
        + client_frame(CONTINUATION, euro[1:] + b" 5")
        + client_frame(PING, b"after")
    )
    reader = ClientFrameReader()
    events = [e for i in range(len(data)) for e in reader.feed(data[i : i + 1])]
    assert events == [Ping(b"between"), Ping(b"after")]


def test_a_message_ending_inside_a_character_is_refused() -> None:
    data = client_frame(TEXT, "€".encode()[:2], fin=False) + client_frame(CONTINUATION, b"")
    assert feed_all(data) == [NOT_UTF8]


# --- control-frame rate ---------------------------------------------------------------------------

OVER_RATE = ProtocolViolation(
    1008,
    f"more than {CONTROL_FRAMES_PER_S:g} pings/pongs per second (bursts of {CONTROL_FRAME_BURST})",
)


def test_a_burst_of_control_frames_is_answered_then_one_more_is_refused_with_1008() -> None:
    pings = client_frame(PING, b"p") * (CONTROL_FRAME_BURST - 1) + client_frame(PONG)
    assert feed_all(pings) == [Ping(b"p")] * (CONTROL_FRAME_BURST - 1)
    assert feed_all(pings + client_frame(PING, b"one more")) == [
        *[Ping(b"p")] * (CONTROL_FRAME_BURST - 1),
        OVER_RATE,
    ]


def test_control_frames_at_the_documented_rate_are_never_refused() -> None:
    reader = ClientFrameReader()
    for k in range(10 * CONTROL_FRAME_BURST):
        now = k / CONTROL_FRAMES_PER_S
        assert reader.feed(client_frame(PING, b"%d" % k), now) == [Ping(b"%d" % k)]


def test_a_close_frame_is_not_rate_limited() -> None:
    flood = client_frame(PING) * CONTROL_FRAME_BURST
    assert feed_all(flood + client_frame(CLOSE, struct.pack("!H", 1000)))[-1] == CloseReceived(
        1000, ""
    )


def test_the_pull_interface_returns_after_every_frame() -> None:
    """``next_event`` hands back control after each frame, so the caller can yield."""
    reader = ClientFrameReader()
    reader.receive_data(client_frame(BINARY, b"a") * 3 + client_frame(PING, b"p"))
    steps = []
    while (event := reader.next_event()) is not None:
        steps.append(event)
    assert steps == [CONSUMED] * 6 + [Ping(b"p")]  # header + payload of each data frame


# --- incremental parsing --------------------------------------------------------------------------

close_codes = st.sampled_from([1000, 1001, 1003, 1008, 3000, 4000, 999, 1005])
frames = st.one_of(
    st.builds(lambda p: client_frame(PING, p), st.binary(max_size=125)),
    st.builds(lambda p: client_frame(PONG, p), st.binary(max_size=125)),
    st.builds(lambda p: client_frame(TEXT, p), st.binary(max_size=300)),
    st.builds(lambda p: client_frame(BINARY, p), st.binary(max_size=300)),
    st.builds(
        lambda a, b: client_frame(TEXT, a, fin=False) + client_frame(CONTINUATION, b),
        st.binary(max_size=200),
        st.binary(max_size=200),
    ),
    st.builds(lambda p: client_frame(TEXT, p, fin=False), st.binary(max_size=50)),
    st.builds(lambda p: client_frame(CONTINUATION, p), st.binary(max_size=50)),
    st.builds(
        lambda c, r: client_frame(CLOSE, struct.pack("!H", c) + r),
        close_codes,
        st.binary(max_size=20),
    ),
    st.builds(lambda p: client_frame(TEXT, p, mask=None), st.binary(max_size=20)),
    st.builds(lambda p: client_frame(BINARY, p, rsv=0x40), st.binary(max_size=20)),
    st.just(client_frame(BINARY, b"", length=70_000)),
)


def feed_in_pieces(data: bytes, cuts: list[int]) -> list[ClientEvent]:
    reader = ClientFrameReader()
    events: list[ClientEvent] = []
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        events += reader.feed(data[start:end])
    return events


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=8))
def test_bytes_fed_one_at_a_time_give_the_same_events_as_all_at_once(parts: list[bytes]) -> None:
    data = b"".join(parts)
    reader = ClientFrameReader()
    one_by_one: list[ClientEvent] = []
    for i in range(len(data)):
        one_by_one += reader.feed(data[i : i + 1])
    assert one_by_one == feed_all(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=8), st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_of_the_input_gives_the_same_events(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    assert feed_in_pieces(data, cuts) == feed_all(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=12))
def test_arbitrary_bytes_never_crash_the_reader_and_split_consistently(
    data: bytes, cuts: list[int]
) -> None:
    events = feed_all(data)
    assert all(isinstance(e, Ping | CloseReceived | ProtocolViolation) for e in events)
    assert feed_in_pieces(data, cuts) == events
