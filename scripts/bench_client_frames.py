#!/usr/bin/env python3
"""Client→server WebSocket frames on the fast path: the project's ``ClientFrameReader`` against
wsproto, on the same bytes.

The fast path (``web/fastpath/broadcaster.py``) reads what a telemetry client sends (normally
nothing, sometimes a ping or a close, from a hostile client a stream of data messages) on the
same trio thread as the tick. This script feeds identical masked client frames, in 64 KiB reads
as the broadcaster receives them, to

* ``reader``: ``web.fastpath.frames.ClientFrameReader`` (discards binary payloads without
  unmasking them; unmasks text only for its UTF-8 check);
* ``wsproto``: wsproto's public ``WSConnection`` (server side, after the upgrade, as hypercorn
  uses it), draining ``events()`` after every read;
* ``wsproto-frames``: wsproto's lower-level ``FrameProtocol`` (no connection state machine);

and reports CPU time (``time.process_time``, best of --repeat) per message and per MiB.

Usage: python scripts/bench_client_frames.py [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from collections.abc import Callable

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection
from wsproto.frame_protocol import FrameProtocol

from dersim_trio.web.fastpath.frames import ClientFrameReader

RECV_BYTES = 65536
"""What the broadcaster reads per ``recv`` (``broadcaster.RECV_BYTES``)."""

UPGRADE_HEADERS = [
    (b"host", b"127.0.0.1"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-version", b"13"),
]


def masked_frame(opcode: int, payload: bytes, mask: bytes = b"\x12\x34\x56\x78") -> bytes:
    """One final client frame (masked, as RFC 6455 §5.3 requires of clients)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big") if n else b""
    return header + mask + body


CASES: dict[str, tuple[int, int, int]] = {
    # name: (opcode, payload bytes, messages)
    "ping, 16 B": (0x9, 16, 20_000),
    "text, 100 B": (0x1, 100, 20_000),
    "text, 60 KiB": (0x1, 60 * 1024, 400),
    "binary, 60 KiB": (0x2, 60 * 1024, 400),
}


def stream_of(opcode: int, size: int, count: int) -> list[bytes]:
    """``count`` frames cut into the reads a socket would deliver."""
    payload = (b"dersim-trio telemetry client " * (size // 29 + 1))[:size]
    data = masked_frame(opcode, payload) * count
    return [data[i : i + RECV_BYTES] for i in range(0, len(data), RECV_BYTES)]


def run_reader(chunks: list[bytes]) -> int:
    # the control-frame rate limit off: this measures parsing, not the limit
    reader = ClientFrameReader(control_frames_per_s=1e12, control_frame_burst=10**12)
    events = 0
    for chunk in chunks:
        events += len(reader.feed(chunk))
    return events


def run_wsproto(chunks: list[bytes]) -> int:
    ws = WSConnection(ConnectionType.SERVER)
    ws.initiate_upgrade_connection(UPGRADE_HEADERS, "/api/dersim/ws/telemetry")
    ws.send(AcceptConnection())
    events = 0
    for chunk in chunks:
        ws.receive_data(chunk)
        for _ in ws.events():
            events += 1
    return events


def run_wsproto_frames(chunks: list[bytes]) -> int:
    proto = FrameProtocol(client=False, extensions=[])
    events = 0
    for chunk in chunks:
        proto.receive_bytes(chunk)
        for _ in proto.received_frames():
            events += 1
    return events


PARSERS: dict[str, Callable[[list[bytes]], int]] = {
    "reader": run_reader,
    "wsproto": run_wsproto,
    "wsproto-frames": run_wsproto_frames,
}


def best_cpu_s(
    parse: Callable[[list[bytes]], int], chunks: list[bytes], repeat: int, least_events: int
) -> float:
    """Best CPU time of ``repeat`` runs; each must report at least ``least_events`` events
    (wsproto reports a long data message in several parts, the reader only pings)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        events = parse(chunks)
        best = min(best, time.process_time() - start)
        if events < least_events:
            raise SystemExit(f"{parse.__name__}: {events} events, expected {least_events}")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    results = []
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {args.repeat}")
    print(f"{'case':<16} {'parser':<15} {'µs/message':>11} {'ms/MiB':>8}")
    for case, (opcode, size, count) in CASES.items():
        chunks = stream_of(opcode, size, count)
        mib = sum(len(c) for c in chunks) / 2**20
        for name, parse in PARSERS.items():
            least = count if (opcode == 0x9 or name != "reader") else 0
            cpu = best_cpu_s(parse, chunks, args.repeat, least)
            per_message_us = cpu / count * 1e6
            per_mib_ms = cpu / mib * 1e3
            results.append(
                {
                    "case": case,
                    "parser": name,
                    "us_per_message": round(per_message_us, 2),
                    "ms_per_mib": round(per_mib_ms, 2),
                }
            )
            print(f"{case:<16} {name:<15} {per_message_us:>11.2f} {per_mib_ms:>8.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
