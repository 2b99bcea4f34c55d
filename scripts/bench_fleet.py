#!/usr/bin/env python3
"""bench_fleet.py: a fleet publishing over MQTT, and the broker's own ceiling on this machine.

Every case starts its own Mosquitto (Debian's ``mosquitto``, 127.0.0.1, a free port, no
persistence) and one subscriber counting what the broker delivers: ``mosquitto_sub`` printing
one byte and a newline per message, counted here by newlines, so the subscriber costs C speed,
not Python's.

* ``fleet``: ``dersim-trio -d TYPE -N N --mqtt ...`` (per-device topics) or with
  ``--mqtt_batch`` (one message per tick), at the 1.5 s tick, for ``--duration`` seconds after a
  warm-up. Reported: device-messages per second delivered to the subscriber (a batch message
  counts as N), the share of the device-messages the ticks produced that arrived, the
  simulator's own tick lateness p50/p99 and tick duration p99 (``GET /api/dersim/server-info``;
  it keeps the last 4096 ticks, so at 1.5 s these are the run's ticks, start-up included), the
  ticks of the measured window alone (every shard's ``dersim_tick_lateness_seconds`` histogram
  of ``GET /metrics``, read at the window's start and end: how many ticks, how many later than
  100 ms, and the bucket bound their p99 lies within), and the CPU time per delivered
  device-message of the simulator and of the broker (``/proc/PID/stat``, utime + stime, over
  the window).
  Each fleet size is first run without ``--mqtt`` (CPU per device-tick, tick lateness p99), so
  the MQTT front end's own cost per message is the difference. With ``--shards K`` (K > 1) the
  fleet runs as ``dersim-trio fleet --shards K`` instead: the simulator's CPU is the sum over
  the supervisor and its shard processes, and the tick figures are the worst shard's (lateness
  p50 the median of the shards').
* ``ceiling``: the broker with minimal publishers instead of the simulator: ``--publishers``
  ``mosquitto_pub -l`` processes (C, one message per stdin line) fed payloads of the size of one
  snapshot as fast as the pipe takes them, QoS 0, to the same subscriber. Reported: messages
  per second delivered and the broker's CPU per message (and what one core at that cost would
  carry): the most this machine's single-threaded Mosquitto carries, so the fleet's rate can be
  read as a share of it.

Usage (from the repository root, with the project's venv):

    python scripts/bench_fleet.py                                  # ceiling + fleet 1000, 5000
    python scripts/bench_fleet.py --cases fleet --devices 2000 --type Batt --duration 30
    python scripts/bench_fleet.py --cases fleet --batch --devices 10000
    python scripts/bench_fleet.py --cases fleet --shards 2 --devices 30000

Everything is bounded (start-up deadlines, duration) and every process is stopped (SIGINT, then
SIGKILL after 10 s), also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TICK_S = 1.5
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """``pid`` and its child processes (a fleet supervisor's shards), from ``/proc``."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    children.append(int(entry.name))
    return [pid, *children]


def tree_cpu_seconds(pids: list[int]) -> float:
    """``cpu_seconds`` summed over ``pids`` (those gone count 0)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def simulator_argv(args: argparse.Namespace, devices: int, web_port: int) -> list[str]:
    """The simulator's command: one process, or the fleet supervisor with ``--shards``."""
    argv = [sys.executable, "-m", "dersim_trio"]
    if args.shards > 1:
        argv += ["fleet", "--shards", str(args.shards), "--fleet_port", str(free_port())]
    return [*argv, "-d", args.type, "-N", str(devices), "-wp", str(web_port)]


def shards_info(args: argparse.Namespace, web_port: int) -> list[dict[str, object]]:
    """``server-info`` of every shard (shard k serves on the web port + k)."""
    return [server_info(web_port + k) for k in range(max(1, args.shards))]


def worst(infos: list[dict[str, object]]) -> dict[str, float]:
    """The shards' tick statistics: the worst p99s, the median p50; the least tick count."""
    stats = [i["statistics"] for i in infos]
    assert all(isinstance(st, dict) for st in stats)
    p50 = sorted(float(st["tick_lateness_p50_ms"]) for st in stats)  # type: ignore[index]
    return {
        "tick": float(min(int(i["tick"]) for i in infos)),  # type: ignore[call-overload]
        "tick_lateness_p50_ms": p50[len(p50) // 2],
        "tick_lateness_p99_ms": max(float(st["tick_lateness_p99_ms"]) for st in stats),  # type: ignore[index]
        "tick_duration_p99_ms": max(float(st["tick_duration_p99_ms"]) for st in stats),  # type: ignore[index]
    }


def wait_for(predicate: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_fleet: {what} not ready within {within:g} s")
        time.sleep(0.05)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen(
        ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: accepts(port), 10, "mosquitto")
        yield port, process
    finally:
        stop(process)


class Counter:
    """``mosquitto_sub`` on ``topic``, one line per message; ``count`` is read live."""

    def __init__(self, port: int, topic: str) -> None:
        self.count = 0
        self.process = subprocess.Popen(
            ["mosquitto_sub", "-p", str(port), "-t", topic, "-F", "x"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := self.process.stdout.read1(1 << 16):
            self.count += chunk.count(b"\n")

    def close(self) -> None:
        stop(self.process)
        self._thread.join(5)


def server_info(port: int) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/api/dersim/server-info"
    with urllib.request.urlopen(url, timeout=60) as answer:
        return dict(json.loads(answer.read()))


def lateness_buckets(port: int) -> dict[float, float]:
    """The simulator's tick lateness histogram (``GET /metrics``): bucket bound s → ticks so far
    at most that late (cumulative, ``inf`` the total)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as answer:
        text = answer.read().decode()
    return {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "dersim_tick_lateness_seconds_bucket"
    }


def window_lateness(
    before: list[dict[float, float]], after: list[dict[float, float]]
) -> tuple[int, int, float]:
    """The ticks of the measured window over every shard (histogram differences): how many,
    how many later than 100 ms, and the bucket bound the window's p99 lies within, ms."""
    window = {
        bound: sum(a[bound] - b[bound] for a, b in zip(after, before, strict=True))
        for bound in after[0]
    }
    ticks = int(window[float("inf")])
    late = ticks - int(window[0.1])
    p99 = next(bound for bound in sorted(window) if window[bound] >= 0.99 * ticks)
    return ticks, late, p99 * 1e3


def serving(port: int) -> bool:
    try:
        server_info(port)
        return True
    except OSError:
        return False


@dataclass
class FleetResult:
    devices: int
    batch: bool
    device_type: str
    delivered_per_s: float
    delivered_share: float
    lateness_p50_ms: float
    lateness_p99_ms: float
    duration_p99_ms: float
    window_ticks: int
    window_late_ticks: int
    window_lateness_p99_bound_ms: float
    sim_cpu_us_per_msg: float
    broker_cpu_us_per_msg: float
    sim_cpu_share: float


def run_without_mqtt(args: argparse.Namespace, devices: int) -> tuple[float, float]:
    """The same simulator without ``--mqtt``: (CPU µs per device-tick, tick lateness p99 ms)."""
    web_port = free_port()
    argv = [*simulator_argv(args, devices, web_port), "--log_level", "WARNING"]
    sim = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(serving(web_port + k) for k in range(args.shards)), 180, "dersim-trio")
        time.sleep(args.warmup)
        pids = process_tree(sim.pid)
        tick0, cpu0 = worst(shards_info(args, web_port))["tick"], tree_cpu_seconds(pids)
        time.sleep(args.duration)
        info = worst(shards_info(args, web_port))
        cpu = tree_cpu_seconds(pids) - cpu0
    finally:
        stop(sim)
    ticks = int(info["tick"] - tick0)
    return cpu / max(ticks * devices, 1) * 1e6, info["tick_lateness_p99_ms"]


def run_fleet(args: argparse.Namespace, devices: int, workdir: Path) -> FleetResult:
    with broker(workdir) as (mqtt_port, broker_process):
        topic = "dersim/bench/process/+/telemetry" if args.batch else "dersim/bench/+/telemetry"
        counter = Counter(mqtt_port, topic)
        web_port = free_port()
        argv = simulator_argv(args, devices, web_port)
        argv += ["--mqtt", f"mqtt://127.0.0.1:{mqtt_port}"]
        argv += ["--fleet", "bench", "--log_level", "WARNING"]
        if args.batch:
            argv.append("--mqtt_batch")
        sim = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(
                lambda: all(serving(web_port + k) for k in range(args.shards)), 180, "dersim-trio"
            )
            wait_for(lambda: counter.count > 0, 30, "the first telemetry")
            time.sleep(args.warmup)
            pids = process_tree(sim.pid)
            ticks0 = [int(i["tick"]) for i in shards_info(args, web_port)]  # type: ignore[call-overload]
            buckets0 = [lateness_buckets(web_port + k) for k in range(args.shards)]
            count0, sim0, broker0 = (
                counter.count,
                tree_cpu_seconds(pids),
                cpu_seconds(broker_process.pid),
            )
            t0 = time.monotonic()
            time.sleep(args.duration)
            infos = shards_info(args, web_port)
            buckets1 = [lateness_buckets(web_port + k) for k in range(args.shards)]
            info = worst(infos)
            elapsed = time.monotonic() - t0
            ticks1 = [int(i["tick"]) for i in infos]  # type: ignore[call-overload]
            messages = counter.count - count0
            sim_cpu = tree_cpu_seconds(pids) - sim0
            broker_cpu = cpu_seconds(broker_process.pid) - broker0
        finally:
            stop(sim)
            counter.close()
    # a batch message holds one shard's devices (N / K of them)
    device_messages = messages * devices / args.shards if args.batch else messages
    # every shard's ticks, each of N / K devices
    produced = sum(b - a for a, b in zip(ticks0, ticks1, strict=True)) * devices / args.shards
    window_ticks, window_late, window_p99 = window_lateness(buckets0, buckets1)
    return FleetResult(
        devices=devices,
        batch=args.batch,
        device_type=args.type,
        delivered_per_s=device_messages / elapsed,
        delivered_share=device_messages / produced if produced else 0.0,
        lateness_p50_ms=info["tick_lateness_p50_ms"],
        lateness_p99_ms=info["tick_lateness_p99_ms"],
        duration_p99_ms=info["tick_duration_p99_ms"],
        window_ticks=window_ticks,
        window_late_ticks=window_late,
        window_lateness_p99_bound_ms=window_p99,
        sim_cpu_us_per_msg=sim_cpu / max(device_messages, 1) * 1e6,
        broker_cpu_us_per_msg=broker_cpu / max(device_messages, 1) * 1e6,
        sim_cpu_share=sim_cpu / elapsed,
    )


@dataclass
class CeilingResult:
    payload_bytes: int
    delivered_per_s: float
    broker_cpu_us_per_msg: float
    broker_cpu_share: float


def snapshot_size(device_type: str) -> int:
    """The size of one encoded snapshot of ``device_type`` (the fleet's message size)."""
    from datetime import UTC, datetime

    from dersim_trio.engine.core import encode
    from dersim_trio.service.build import build_engine
    from dersim_trio.setup.config import parse_args

    engine = build_engine(parse_args(["-d", device_type]), datetime.now(UTC))
    return len(encode(engine.initial()[0]))


def run_ceiling(args: argparse.Namespace, workdir: Path) -> CeilingResult:
    size = snapshot_size(args.type)
    line = b"x" * (size - 1) + b"\n"
    block = line * max(1, (1 << 20) // len(line))
    with broker(workdir) as (mqtt_port, broker_process):
        counter = Counter(mqtt_port, "bench/ceiling/+")
        publishers = [
            subprocess.Popen(
                ["mosquitto_pub", "-p", str(mqtt_port), "-t", f"bench/ceiling/{k}", "-l"],
                stdin=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            for k in range(args.publishers)
        ]
        stop_feeding = threading.Event()

        def feed(publisher: subprocess.Popen[bytes]) -> None:
            assert publisher.stdin is not None
            with contextlib.suppress(BrokenPipeError, ValueError):
                while not stop_feeding.is_set():
                    publisher.stdin.write(block)

        for publisher in publishers:
            threading.Thread(target=feed, args=(publisher,), daemon=True).start()
        try:
            wait_for(lambda: counter.count > 0, 30, "the first message")
            time.sleep(args.warmup)
            count0, broker0, t0 = counter.count, cpu_seconds(broker_process.pid), time.monotonic()
            time.sleep(args.duration)
            messages = counter.count - count0
            broker_cpu = cpu_seconds(broker_process.pid) - broker0
            elapsed = time.monotonic() - t0
        finally:
            stop_feeding.set()
            for publisher in publishers:
                with contextlib.suppress(BrokenPipeError, OSError):
                    assert publisher.stdin is not None
                    publisher.stdin.close()
                stop(publisher)
            counter.close()
    return CeilingResult(
        payload_bytes=size,
        delivered_per_s=messages / elapsed,
        broker_cpu_us_per_msg=broker_cpu / max(messages, 1) * 1e6,
        broker_cpu_share=broker_cpu / elapsed,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", default="ceiling,fleet", help="ceiling, fleet (comma list)")
    parser.add_argument("--devices", default="1000,5000", help="fleet sizes (comma list)")
    parser.add_argument("--type", default="PV", help="device type of the fleet (default PV)")
    parser.add_argument("--batch", action="store_true", help="the fleet with --mqtt_batch")
    parser.add_argument(
        "--publishers", type=int, default=2, help="mosquitto_pub processes of the ceiling case"
    )
    parser.add_argument(
        "--shards", type=int, default=1, help="run the fleet as `dersim-trio fleet --shards K`"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds before measuring")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    results: list[object] = []
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench_fleet-") as tmp:
        workdir = Path(tmp)
        if "ceiling" in cases:
            c = run_ceiling(args, workdir)
            results.append(c)
            print(
                f"ceiling: {c.delivered_per_s:,.0f} msgs/s of {c.payload_bytes} B delivered, "
                f"broker {c.broker_cpu_us_per_msg:.1f} µs CPU/msg "
                f"({c.broker_cpu_share:.0%} of a core; a whole core at that cost: "
                f"{1e6 / max(c.broker_cpu_us_per_msg, 1e-9):,.0f} msgs/s)"
            )
        if "fleet" in cases:
            for n in (int(d) for d in args.devices.split(",")):
                base_us, base_p99 = run_without_mqtt(args, n)
                print(
                    f"fleet {n} x {args.type} without MQTT: {base_us:.1f} µs CPU per "
                    f"device-tick, tick lateness p99 {base_p99:.1f} ms"
                )
                r = run_fleet(args, n, workdir)
                results.append(r)
                mode = "batch" if r.batch else "per-device"
                if args.shards > 1:
                    mode += f", {args.shards} shards"
                print(
                    f"fleet {n} x {r.device_type} ({mode}): {r.delivered_per_s:,.0f} "
                    f"device-msgs/s delivered ({r.delivered_share:.1%} of produced), tick "
                    f"lateness p50 {r.lateness_p50_ms:.1f} ms p99 {r.lateness_p99_ms:.1f} ms, "
                    f"duration p99 {r.duration_p99_ms:.0f} ms; in the window "
                    f"{r.window_late_ticks} of {r.window_ticks} ticks later than 100 ms, p99 "
                    f"≤ {r.window_lateness_p99_bound_ms:g} ms; CPU/device-msg simulator "
                    f"{r.sim_cpu_us_per_msg:.1f} µs ({r.sim_cpu_share:.0%} of a core), broker "
                    f"{r.broker_cpu_us_per_msg:.1f} µs"
                )
    if args.json:
        Path(args.json).write_text(
            json.dumps([{"case": type(r).__name__, **vars(r)} for r in results], indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
