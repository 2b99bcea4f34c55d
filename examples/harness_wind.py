"""Test harness: set a wind-speed override and check that the rotor speed settles.

    python examples/harness_wind.py [URL] [--wind 12] [--seconds 60] [--device 0]

Against a simulator started with ``dersim-trio -d Wind-T3-3Phase`` (or Wind-T4-3Phase). The
harness subscribes to the device's telemetry, applies the override, collects the rotor speed
of every following tick for ``--seconds`` (``DersimClient.burst``), puts the wind back to the
model's own and exits 0 if the last ``--last`` samples lie within ``--tolerance`` rpm, else 1.
"""

from __future__ import annotations

import argparse
import sys

import trio

from dersim_trio.client import Burst, DersimClient, DersimError


async def run_harness(url: str, device: int, wind_m_s: float, seconds: float) -> Burst | None:
    """Apply the override, return the rotor-speed burst (None: not a wind turbine)."""
    async with DersimClient(url) as api:
        info = await api.server_info()
        if not info.device_type.startswith("Wind"):
            print(
                f"{url} simulates {info.device_type}; start it with -d Wind-T3-3Phase",
                file=sys.stderr,
            )
            return None
        try:
            return await api.burst(
                lambda: api.set_inputs(device, wind_speed_m_s=wind_m_s),
                "rotor_speed_rpm",
                seconds=seconds,
                device=device,
            )
        finally:
            with trio.CancelScope(shield=True):
                await api.set_inputs(device, wind_speed_m_s=None)


def main() -> int:
    """Parse the command line, run the harness, print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8111")
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--wind", type=float, default=12.0, help="override, m/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to watch")
    parser.add_argument("--last", type=int, default=10, help="samples that must agree")
    parser.add_argument("--tolerance", type=float, default=0.05, help="rpm")
    ns = parser.parse_args()
    try:
        burst = trio.run(run_harness, ns.url, ns.device, ns.wind, ns.seconds)
    except DersimError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    if burst is None:
        return 2
    values = [v for v in burst.values if v is not None]
    if not values:
        print("harness: no telemetry after the override", file=sys.stderr)
        return 1
    print(
        f"wind {ns.wind:g} m/s: {len(values)} ticks from tick {burst.after_tick + 1}, "
        f"rotor {values[0]:.3f} -> {values[-1]:.3f} rpm"
    )
    for gap in burst.gaps:
        print(f"gap: {gap.missed_ticks} tick(s) missed after tick {gap.last_tick} ({gap.reason})")
    if burst.settled(within=ns.tolerance, last=ns.last):
        print(f"settled at {values[-1]:.3f} rpm (last {ns.last} within {ns.tolerance:g} rpm)")
        return 0
    tail = values[-ns.last :]
    print(f"NOT settled: last {len(tail)} span {max(tail) - min(tail):.3f} rpm", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
