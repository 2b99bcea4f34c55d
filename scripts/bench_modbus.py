#!/usr/bin/env python3
"""bench_modbus.py: a bounded benchmark of the SunSpec Modbus TCP server.

What it measures, each case against a fresh server process (``dersim-trio`` with
``--modbus_port``, on 127.0.0.1 only):

* ``throughput``: reads of model 701 per second one device serves. K connections to device 0
  (default 4) each read 701 back to back, the way pysunspec2 reads it: two requests, 123
  registers from 40070 and then the remaining 32, pipelined, the next read as soon as both
  answers are in. Reported: 701 reads per second, and the server's CPU time per 701 read
  (``/proc/PID/task/*/schedstat`` over the window, divided by the reads).
* ``poll``: the tick loop's lateness while C clients (default 100) each poll their own device's
  701 once a second (N = C devices, phases spread over the second), over ``--duration``
  seconds. Reported: the server's own tick lateness p50/p99/max and tick duration p99
  (``GET /api/dersim/server-info``, read before and after the window; the server keeps the last
  4096 ticks, so the window's ticks dominate at a 0.1 s period), the clients' read latency
  p50/p99, and the CPU per 701 read. Target: tick lateness p99 under 5 ms.
* ``idle``: the same server as ``poll`` with no Modbus client, for the baseline lateness.

The load generator is this process: one thread, non-blocking stdlib sockets and one
``selectors`` loop, frames built and parsed with the project's codec
(``dersim_trio.protocols.modbus.codec``), so it costs a few µs per request. Everything is
bounded (connections, duration, start-up deadline); the server is always stopped (SIGTERM to
its process group, SIGKILL after 5 s), also on errors and Ctrl-C.

Usage (from the repository root, with the project's venv):

    python scripts/bench_modbus.py                               # every case, defaults
    python scripts/bench_modbus.py --cases throughput -K 8 --duration 10
    python scripts/bench_modbus.py --cases poll,idle -C 100 --period 0.1 --duration 60
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import socket
import struct
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchclient import server_cpu_s
from bench_fanout import Server, dersim_executable, free_port
from dersim_trio.protocols.modbus.codec import (
    MBAP,
    ReadRegisters,
    encode_frame,
    encode_request,
)

HOST = "127.0.0.1"
MODEL_701 = 40070
"""701's ID register: SunS at 40000, model 1 (ID, L and 66 registers) from 40002."""
READ_701 = (ReadRegisters(3, MODEL_701, 123), ReadRegisters(3, MODEL_701 + 123, 32))
MAX_CONNECTIONS = 2000
MAX_DURATION_S = 600.0
START_TIMEOUT_S = 60.0


def log(*parts: object) -> None:
    print("[bench_modbus]", *parts, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Conn:
    """One client connection reading 701 (two pipelined requests per read)."""

    sock: socket.socket
    due: float
    sent_at: float = 0.0
    awaiting: int = 0
    inbuf: bytearray = field(default_factory=bytearray)
    tid: int = 0


def _request_bytes(conn: Conn) -> bytes:
    frames = []
    for request in READ_701:
        conn.tid = (conn.tid + 1) & 0xFFFF
        frames.append(encode_frame(conn.tid, 1, encode_request(request)))
    return b"".join(frames)


def run_clients(
    ports: list[int], per_port: int, interval_s: float | None, duration_s: float
) -> dict[str, Any]:
    """Read 701 over ``per_port`` connections to each port for ``duration_s`` seconds: back to
    back (``interval_s`` None) or once per interval, phases spread. Returns counts/latencies."""
    sel = selectors.DefaultSelector()
    conns: list[Conn] = []
    start = time.monotonic()
    total = len(ports) * per_port
    for i, port in enumerate(p for p in ports for _ in range(per_port)):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        phase = (interval_s or 0.0) * i / max(1, total)
        conn = Conn(sock, start + phase)
        conns.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)
    reads = 0
    latencies: list[float] = []
    errors = 0
    cpu0 = time.process_time()
    end = start + duration_s
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                break
            next_due = end
            for conn in conns:
                if conn.awaiting == 0:
                    if conn.due <= now:
                        conn.sock.sendall(_request_bytes(conn))
                        conn.sent_at = now
                        conn.awaiting = 2
                    else:
                        next_due = min(next_due, conn.due)
            timeout = max(0.0, min(next_due, end) - time.monotonic())
            for key, _ in sel.select(timeout if interval_s is not None else 0.05):
                conn = key.data
                data = conn.sock.recv(65536)
                if not data:
                    raise ConnectionError("the server closed a benchmark connection")
                conn.inbuf += data
                while len(conn.inbuf) >= MBAP.size:
                    length = struct.unpack_from(">H", conn.inbuf, 4)[0]
                    if len(conn.inbuf) < 6 + length:
                        break
                    function = conn.inbuf[7]
                    del conn.inbuf[: 6 + length]
                    if function & 0x80:
                        errors += 1
                    conn.awaiting -= 1
                    if conn.awaiting == 0:
                        done = time.monotonic()
                        reads += 1
                        latencies.append(done - conn.sent_at)
                        conn.due = done if interval_s is None else conn.due + interval_s
    finally:
        for conn in conns:
            conn.sock.close()
        sel.close()
    return {
        "reads": reads,
        "errors": errors,
        "seconds": duration_s,
        "latency_p50_ms": 1000 * pct(latencies, 0.50),
        "latency_p99_ms": 1000 * pct(latencies, 0.99),
        "client_cpu_share": (time.process_time() - cpu0) / duration_s,
    }


def server_info(port: int) -> dict[str, Any]:
    url = f"http://{HOST}:{port}/api/dersim/server-info"
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


@contextlib.contextmanager
def server(devices: int, period: float, workdir: Path, first_port: int) -> Any:
    web = free_port()
    modbus = free_port() if devices == 1 else first_port
    argv = [
        dersim_executable(),
        *("-wi", HOST, "-wp", str(web), "-N", str(devices), "--periodic_time", str(period)),
        *("--modbus_port", str(modbus), "--modbus_max_connections", "64"),
    ]
    proc = Server(argv, {}, workdir / f"server-{web}.log")
    try:
        if not proc.wait_ready(web, START_TIMEOUT_S):
            raise RuntimeError("the server did not start:\n" + proc.log_tail())
        yield proc, web, [modbus + i for i in range(devices)]
    finally:
        proc.stop()


def case_throughput(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with server(1, 1.0, workdir, 0) as (proc, _web, ports):
        run_clients(ports, args.K, None, 1.0)  # warm-up
        cpu0 = server_cpu_s(proc.pid) or 0.0
        result = run_clients(ports, args.K, None, args.duration)
        cpu = (server_cpu_s(proc.pid) or 0.0) - cpu0
    reads = result["reads"]
    return {
        "case": "throughput",
        "connections": args.K,
        "reads_701_per_s": reads / args.duration,
        "server_cpu_us_per_701_read": 1e6 * cpu / reads if reads else float("nan"),
        "server_cpu_share": cpu / args.duration,
        **result,
    }


def case_poll(args: argparse.Namespace, workdir: Path, clients: int) -> dict[str, Any]:
    with server(args.C, args.period, workdir, args.first_port) as (proc, web, ports):
        before = server_info(web)["statistics"]
        cpu0 = server_cpu_s(proc.pid) or 0.0
        if clients:
            result = run_clients(ports[:clients], 1, 1.0, args.duration)
        else:
            time.sleep(args.duration)
            result = {"reads": 0, "errors": 0, "client_cpu_share": 0.0}
        cpu = (server_cpu_s(proc.pid) or 0.0) - cpu0
        stats = server_info(web)["statistics"]
    reads = result["reads"]
    return {
        "case": "poll" if clients else "idle",
        "devices": args.C,
        "clients": clients,
        "period_s": args.period,
        "ticks": stats["ticks_published"] - before["ticks_published"],
        "tick_lateness_p50_ms": stats["tick_lateness_p50_ms"],
        "tick_lateness_p99_ms": stats["tick_lateness_p99_ms"],
        "tick_lateness_max_ms": stats["max_tick_lateness_ms"],
        "tick_duration_p99_ms": stats["tick_duration_p99_ms"],
        "server_cpu_share": cpu / args.duration,
        "server_cpu_us_per_701_read": 1e6 * cpu / reads if reads else None,
        **result,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", default="throughput,poll,idle")
    p.add_argument("-K", type=int, default=4, help="connections of the throughput case")
    p.add_argument("-C", type=int, default=100, help="pollers (and devices) of the poll case")
    p.add_argument("--period", type=float, default=0.1, help="tick period of poll/idle, s")
    p.add_argument("--duration", type=float, default=30.0, help="measurement window, s")
    p.add_argument(
        "--first-port",
        type=int,
        default=20000,
        help="Modbus port of device 0 in the poll/idle cases (device i: +i)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = p.parse_args(argv)
    if not 1 <= args.K <= 64 or not 1 <= args.C <= MAX_CONNECTIONS:
        p.error("-K must be in 1..64 and -C in 1..2000")
    if not 1.0 <= args.duration <= MAX_DURATION_S:
        p.error(f"--duration must be in 1..{MAX_DURATION_S:g} s")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_modbus-") as tmp:
        workdir = Path(tmp)
        for case in args.cases.split(","):
            log("case", case)
            if case == "throughput":
                results.append(case_throughput(args, workdir))
            elif case == "poll":
                results.append(case_poll(args, workdir, args.C))
            elif case == "idle":
                results.append(case_poll(args, workdir, 0))
            else:
                p.error(f"unknown case {case!r} (throughput, poll, idle)")
            log(json.dumps(results[-1]))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
