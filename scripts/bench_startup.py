#!/usr/bin/env python3
"""Start-up of a ``dersim-trio`` process: from ``exec`` until it answers its first request.

The script opens the listening socket itself and hands it over with ``--listen_fd`` (as the
fleet supervisor does for its shards), sends ``GET /api/dersim/server-info`` at once (the
connection waits in the listen backlog until the service serves) and stops the process with
SIGTERM once the answer is in. Per run it reports the wall seconds until the answer and the
CPU seconds the process had used by then (``/proc/PID/stat`` utime + stime: the figure that
does not depend on how busy the machine is). Median of ``--repeat`` runs.

Usage: python scripts/bench_startup.py [--repeat 3] [--timeout 600] -- [simulator flags]
e.g.   python scripts/bench_startup.py -- -N 10000
       python scripts/bench_startup.py -- -N 100000 --shard_count 4 --shard_index 1
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` so far (``proc(5)``: fields 14 and 15 of stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def one_run(flags: list[str], timeout: float) -> tuple[float, float]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dersim_trio", *flags, "--listen_fd", str(fd)],
        pass_fds=(fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(
                b"GET /api/dersim/server-info HTTP/1.1\r\n"
                + f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            first = conn.recv(64)
        wall = time.perf_counter() - start
        cpu = cpu_seconds(process.pid)
        if not first.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"unexpected answer: {first!r}")
        return wall, cpu
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("flags", nargs="*", help="simulator flags (after --)")
    args = parser.parse_args()
    walls, cpus = [], []
    for _ in range(args.repeat):
        wall, cpu = one_run(args.flags, args.timeout)
        walls.append(wall)
        cpus.append(cpu)
        print(f"  run: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    print(
        f"dersim-trio {' '.join(args.flags)}: ready after {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU (median of {args.repeat})"
    )


if __name__ == "__main__":
    main()
