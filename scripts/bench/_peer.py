"""What the comparison servers of ``scripts/bench/`` share: the payload, its encoding, the flags.

The comparison servers honour the telemetry contract of dersim-trio (``README.md``, "The
telemetry stream"): ``ws://HOST:PORT/api/dersim/ws/telemetry[?device=N]`` (and the
``/api/dersim/telemetry/ws`` alias), the cached snapshot(s) first, then one text message per
device per tick, a one-tick drop-oldest buffer per client, close 1008 with a reason for a bad
``device``, client frames read and discarded, and ``GET /api/dersim/overview[?device=N]``
answering the same bytes. They exist to measure what the *transport* costs on other stacks, so
their payload is synthetic: ``snapshot`` builds an object of the contract's shape and size
(about 1.4 KB, the size of a PV snapshot) whose numbers change every tick, with no physics
behind it. Each tick's payload is encoded once per device (orjson) and shared by every client.
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

WS_PATHS = ("/api/dersim/ws/telemetry", "/api/dersim/telemetry/ws")
OVERVIEW_PATH = "/api/dersim/overview"
EPOCH = datetime(2026, 6, 21, 6, 0, 0, tzinfo=UTC)
BAD_DEVICE_BODY = b'{"error":"invalid_device","detail":"device must be an integer in [0, N)"}'


def device_refusal(devices: int) -> str:
    """The close reason (code 1008) for a ``device`` query that is not in [0, devices)."""
    return f"device must be an integer in [0, {devices})"


def parse_device(raw: str | None, devices: int) -> int | None:
    """The ``device`` query value as an index; ``ValueError`` when it is not one of [0, N)."""
    if raw is None:
        return None
    device = int(raw)
    if not 0 <= device < devices:
        raise ValueError(raw)
    return device


def snapshot(device_index: int, tick: int, period_s: float) -> dict[str, Any]:
    """A snapshot of the contract's shape for ``device_index`` at ``tick`` (synthetic values)."""
    t = tick * period_s
    now = EPOCH + timedelta(seconds=t)
    irradiance = max(0.0, 850.0 * math.sin(t / 3600.0 + 0.3) + 40.0 * math.sin(t * 0.7))
    p = 0.0095 * irradiance + 0.01 * device_index
    q = 0.05 * p * math.sin(t * 0.11)
    s = math.hypot(p, q)
    v_ln = 277.13 + 1.7 * math.sin(t * 0.13 + device_index)
    v_ll = v_ln * math.sqrt(3.0)
    current = s * 1000.0 / (math.sqrt(3.0) * v_ll)
    return {
        "tick": tick,
        "metrics": {
            "power_kw": p,
            "reactive_power_kvar": q,
            "apparent_power_kva": s,
            "voltage_ll_v": v_ll,
            "voltage_ln_v": v_ln,
            "current_a": current,
            "frequency_hz": 60.0 + 0.01 * math.sin(t * 0.5),
            "power_factor": p / s if s else 1.0,
            "dc_power_kw": p / 0.96,
            "dc_voltage_v": 368.0 + 12.0 * math.sin(t * 0.03),
            "dc_current_a": p / 0.96 * 1000.0 / 368.0,
            "state_of_charge_pct": None,
            "soc_reserve_min_pct": None,
            "soc_reserve_max_pct": None,
            "soc_min_pct": None,
            "soc_max_pct": None,
            "timestamp": now.isoformat(timespec="milliseconds"),
        },
        "pq": {
            "active_kw": p,
            "reactive_kvar": q,
            "apparent_kva": s,
            "angle_deg": math.degrees(math.atan2(q, p)),
        },
        "status": {
            "service_state": "in_service",
            "inverter_state": "running",
            "connection_state": "connected",
            "message": None,
        },
        "energy": {
            "injected_kwh": p * t / 3600.0,
            "absorbed_kwh": 0.0,
            "reactive_injected_kvarh": 0.0,
            "reactive_absorbed_kvarh": 0.0,
        },
        "clock_time": now.strftime("%H:%M:%S"),
        "dc_mode": "pv",
        "dc_port_count": 1,
        "device_type": "PV",
        "device_profile_name": None,
        "asset_type": "pv",
        "device_index": device_index,
        "asset": {
            "irradiance_w_m2": irradiance,
            "cell_temperature_c": 25.0 + 0.03 * irradiance,
            "ambient_temperature_c": 18.0 + 3.0 * math.sin(t / 7200.0),
            "clear_sky_irradiance_w_m2": 1012.9,
            "clear_sky_index": irradiance / 1012.9,
            "solar_zenith_deg": 11.55 + t / 240.0 % 90.0,
            "dc_available_kw": p / 0.96,
            "clipped": False,
        },
    }


def encode_tick(tick: int, devices: int, period_s: float) -> tuple[bytes, ...]:
    """Every device's JSON for ``tick``, each encoded once."""
    return tuple(orjson.dumps(snapshot(d, tick, period_s)) for d in range(devices))


def parser(description: str) -> argparse.ArgumentParser:
    """The flags every comparison server takes (``scripts/bench_fanout.py`` passes them)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
    p.add_argument("--port", type=int, default=8111, help="port (8111)")
    p.add_argument("--devices", "-N", type=int, default=1, help="devices (1)")
    p.add_argument("--period", type=float, default=1.5, help="seconds between ticks (1.5)")
    p.add_argument(
        "--gc-gen0",
        type=int,
        default=None,
        help="gen-0 collection threshold (Python's default 700 when unset)",
    )
    return p


def prepare_process(gc_gen0: int | None) -> None:
    """One descriptor per client: soft RLIMIT_NOFILE up to the hard limit; the collector's
    gen-0 threshold when asked (dersim-trio's quart route uses 100,000, see
    ``service.run.manage_gc``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if gc_gen0 is not None:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gc_gen0, gen1, gen2)
