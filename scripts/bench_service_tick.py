#!/usr/bin/env python3
"""The running service's own tick, with nobody connected: ``dersim-trio -d TYPE -N N``.

Each case starts the real service (``python -m dersim_trio``, 127.0.0.1, a free port, no
client, no MQTT), waits until it serves and ``--warmup`` ticks have passed, then lets
``--ticks`` more ticks run and reads, at both ends of that window:

* ``GET /api/dersim/server-info``: the tick, and its ``statistics`` (last tick duration, tick
  duration p50 (where the tree reports it) and p99, lateness p50 and p99; the hub keeps the
  last 4096 ticks, so these cover every tick since tick 1, warm-up included);
* ``GET /metrics``: the tick duration histogram's sum and count, so the mean tick duration of
  the window itself;
* ``/proc/PID/stat``: the process's CPU time (utime + stime), so CPU per tick and per
  device-tick over the window (everything the process did: the tick, the collector, the two
  requests of the end reading).

Then it stops the service (SIGINT, SIGKILL after 10 s) and prints one table row per case. The
service is found through ``PYTHONPATH`` like any ``python -m``, so two trees are compared by
running the script once with each (``PYTHONPATH=<tree>/src``). Every wait is bounded
(``--timeout`` per case, start-up included).

``--profile`` runs the same service in this process instead (``run_service`` on 127.0.0.1,
port 0, nobody connected). After the warm-up it times ``--ticks`` ticks as they are, split into
``engine.step()`` and the rest of the tick (medians; the collector's own time from
``gc.callbacks``), then profiles ``--ticks`` more with cProfile: the tick loop's callees and
theirs, cumulative ms per tick (profiler overhead included).

Usage (from the repository root, with the project's venv):

    python scripts/bench_service_tick.py -d PV,Batt -N 10000 --ticks 10
    python scripts/bench_service_tick.py -d PV -N 2000,5000 --ticks 20 --label after
    python scripts/bench_service_tick.py -d PV -N 2000 --ticks 10 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_fleet import cpu_seconds, free_port, server_info, stop

TICK_SUM = re.compile(rb"^dersim_tick_duration_seconds_sum\S* (\S+)$", re.MULTILINE)
TICK_COUNT = re.compile(rb"^dersim_tick_duration_seconds_count\S* (\S+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Reading:
    """The service at one instant."""

    tick: int
    cpu_s: float
    duration_sum_s: float
    duration_count: float
    statistics: dict[str, float]


@dataclass(frozen=True, slots=True)
class CaseResult:
    device_type: str
    devices: int
    ticks: int
    mean_ms: float
    last_ms: float
    p50_ms: float | None
    p99_ms: float
    lateness_p50_ms: float
    lateness_p99_ms: float
    cpu_ms_per_tick: float

    @property
    def cpu_us_per_device_tick(self) -> float:
        return self.cpu_ms_per_tick * 1e3 / self.devices


def tick_histogram(port: int) -> tuple[float, float]:
    """The tick duration histogram's (sum s, count) from ``GET /metrics``."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=60) as answer:
        text = answer.read()
    total, count = TICK_SUM.search(text), TICK_COUNT.search(text)
    if total is None or count is None:
        raise SystemExit("bench_service_tick: /metrics has no tick duration histogram")
    return float(total.group(1)), float(count.group(1))


def read(port: int, pid: int) -> Reading:
    """The histogram first, the CPU last: the two requests are inside the window once."""
    duration_sum, duration_count = tick_histogram(port)
    info = server_info(port)
    stats = info["statistics"]
    assert isinstance(stats, dict)
    return Reading(int(info["tick"]), cpu_seconds(pid), duration_sum, duration_count, stats)  # type: ignore[call-overload]


def wait_tick(port: int, pid: int, target: int, deadline: float, period_s: float) -> Reading:
    """Poll (about once a tick, never faster than twice a second) until ``target`` is reached."""
    while True:
        info = server_info(port)
        tick = int(info["tick"])  # type: ignore[call-overload]
        if tick >= target:
            return read(port, pid)
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_service_tick: tick {target} not reached (at {tick})")
        time.sleep(max(0.5, period_s))


def wait_serving(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        try:
            server_info(port)
            return
        except OSError:
            if process.poll() is not None:
                code = process.returncode
                raise SystemExit(f"bench_service_tick: the service exited ({code})") from None
            if time.monotonic() > deadline:
                raise SystemExit("bench_service_tick: the service did not answer in time") from None
            time.sleep(0.2)


def run_case(args: argparse.Namespace, device_type: str, devices: int) -> CaseResult:
    port = free_port()
    argv = [sys.executable, "-m", "dersim_trio", "-d", device_type, "-N", str(devices)]
    argv += ["-wi", "127.0.0.1", "-wp", str(port), "--periodic_time", str(args.periodic_time)]
    argv += ["--log_level", "WARNING"]
    deadline = time.monotonic() + args.timeout
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_serving(port, process, deadline)
        first = wait_tick(port, process.pid, args.warmup, deadline, args.periodic_time)
        last = wait_tick(port, process.pid, first.tick + args.ticks, deadline, args.periodic_time)
    finally:
        stop(process)
    ticks = last.tick - first.tick
    counted = last.duration_count - first.duration_count
    stats = last.statistics
    p50 = stats.get("tick_duration_p50_ms")
    return CaseResult(
        device_type=device_type,
        devices=devices,
        ticks=ticks,
        mean_ms=(last.duration_sum_s - first.duration_sum_s) / max(counted, 1) * 1e3,
        last_ms=float(stats["last_tick_duration_ms"]),
        p50_ms=None if p50 is None else float(p50),
        p99_ms=float(stats["tick_duration_p99_ms"]),
        lateness_p50_ms=float(stats["tick_lateness_p50_ms"]),
        lateness_p99_ms=float(stats["tick_lateness_p99_ms"]),
        cpu_ms_per_tick=(last.cpu_s - first.cpu_s) / max(ticks, 1) * 1e3,
    )


def profile_case(args: argparse.Namespace, device_type: str, devices: int) -> None:
    """The service in this process, nobody connected: ``--ticks`` ticks timed, then profiled."""
    import trio

    from dersim_trio.service.run import run_service
    from dersim_trio.setup.config import parse_args

    flags = ["-d", device_type, "-N", str(devices), "-wi", "127.0.0.1", "-wp", "0"]
    config = parse_args([*flags, "--periodic_time", str(args.periodic_time)])
    profiler = cProfile.Profile()
    collections: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            collections.append(time.perf_counter() - started.pop())

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            service = await nursery.start(run_service, config)
            hub, engine = service.hub, service.engine
            step = engine.step
            steps: list[float] = []

            def timed_step(wall_now: datetime | None = None) -> Sequence[object]:
                start = time.perf_counter()
                try:
                    return step(wall_now)
                finally:
                    steps.append(time.perf_counter() - start)

            engine.step = timed_step  # the tick loop looks it up on every tick
            rest: list[float] = []
            with trio.fail_after(args.timeout):
                while hub.last.tick < args.warmup:
                    await hub.wait_published()
                gc.callbacks.append(on_gc)
                for _ in range(args.ticks):  # the tick's own split, no profiler
                    await hub.wait_published()
                    rest.append(hub.statistics().last_tick_duration_ms / 1e3 - steps[-1])
                gc.callbacks.remove(on_gc)
                tick_s = [s + r for s, r in zip(steps[-args.ticks :], rest, strict=True)]
                print(
                    f"-d {device_type} -N {devices}: tick median "
                    f"{statistics.median(tick_s) * 1e3:,.1f} ms = engine.step "
                    f"{statistics.median(steps[-args.ticks :]) * 1e3:,.1f} ms + the rest "
                    f"{statistics.median(rest) * 1e3:,.1f} ms (medians over {args.ticks} "
                    f"ticks); collector {sum(collections) * 1e3 / args.ticks:.1f} ms per tick "
                    f"({len(collections) / args.ticks:.0f} collections per tick)"
                )
                first = hub.last.tick
                profiler.enable()
                while hub.last.tick < first + args.ticks:
                    await hub.wait_published()
                profiler.disable()
            service.request_shutdown()

    trio.run(run)
    print_tick_tree(pstats.Stats(profiler), args.ticks, args.top)


def print_tick_tree(stats: pstats.Stats, ticks: int, top: int) -> None:
    """The tick loop's callees and theirs (two levels, ``top`` each), cumulative ms per tick."""
    stats.calc_callees()
    callees = stats.all_callees  # type: ignore[attr-defined]
    loop = next(key for key in callees if key[2] == "tick_loop")

    def name(key: tuple[str, int, str]) -> str:
        file, _, function = key
        return f"{Path(file).parent.name}/{Path(file).name}:{function}" if file != "~" else function

    def children(key: tuple[str, int, str]) -> list[tuple[float, tuple[str, int, str]]]:
        return sorted(((v[3], k) for k, v in callees.get(key, {}).items()), reverse=True)[:top]

    print("| in the tick loop (cumulative, profiler included) | ms per tick |")
    print("|---|---|")
    for ct, key in children(loop):
        print(f"| {name(key)} | {ct * 1e3 / ticks:,.1f} |")
        for sub_ct, sub in children(key):
            if sub_ct * 1e3 / ticks >= 0.5:
                print(f"| &nbsp;&nbsp;{name(sub)} | {sub_ct * 1e3 / ticks:,.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-d", "--type", default="PV", help="device types (comma list)")
    parser.add_argument("-N", "--devices", default="2000", help="fleet sizes (comma list)")
    parser.add_argument("--ticks", type=int, default=10, help="ticks measured per case")
    parser.add_argument("--warmup", type=int, default=2, help="ticks before the window")
    parser.add_argument("--periodic_time", type=float, default=1.5, help="the service's tick, s")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per case at most")
    parser.add_argument("--label", default="", help="first column of the rows (e.g. the tree)")
    parser.add_argument("--profile", action="store_true", help="cProfile in this process")
    parser.add_argument("--top", type=int, default=6, help="callees listed per level")
    args = parser.parse_args()
    if args.ticks < 1 or args.warmup < 1:
        parser.error("--ticks and --warmup must be at least 1")
    if args.profile:
        for device_type in (t.strip() for t in args.type.split(",") if t.strip()):
            for devices in (int(n) for n in args.devices.split(",")):
                profile_case(args, device_type, devices)
        return 0
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    print(
        "| tree | case | ticks | mean ms (window) | last ms | p50 ms | p99 ms "
        "| lateness p50/p99 ms | CPU ms / tick | CPU µs / device-tick |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for device_type in (t.strip() for t in args.type.split(",") if t.strip()):
        for devices in (int(n) for n in args.devices.split(",")):
            r = run_case(args, device_type, devices)
            p50 = "n/a" if r.p50_ms is None else f"{r.p50_ms:,.0f}"
            print(
                f"| {args.label} | -d {r.device_type} -N {r.devices} | {r.ticks} "
                f"| {r.mean_ms:,.0f} | {r.last_ms:,.0f} | {p50} | {r.p99_ms:,.0f} "
                f"| {r.lateness_p50_ms:,.0f} / {r.lateness_p99_ms:,.0f} "
                f"| {r.cpu_ms_per_tick:,.0f} | {r.cpu_us_per_device_tick:.1f} |",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
