"""Anomaly detector: watch the telemetry stream and flag what a human should look at.

    python examples/anomaly_detector.py [URL] [--device N] [--seconds S] [--window 20] [--z 4]

Per device it flags
* a jump in active power: |P − mean| > z·max(σ, 1 % of |mean|, 0.05 kW) over the last
  ``--window`` ticks (a rolling z-score with a floor, so a flat signal does not alarm on noise);
* an inverter fault or a disconnect (``status``), once per change;
* grid frequency outside 59.5–60.5 Hz or 49.5–50.5 Hz, whichever is nearer;
* telemetry gaps (missed ticks, from the client's ``Gap`` reports).
One ``ALERT``/``GAP`` line per finding on stdout; a summary at the end (after ``--seconds``,
or on Ctrl-C).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import deque
from dataclasses import dataclass, field

import trio

from dersim_trio.client import DersimError, Gap, Snapshot, open_telemetry


@dataclass
class DeviceState:
    """What the detector remembers about one device."""

    power_kw: deque[float]
    state: str = ""


@dataclass
class Detector:
    """Rolling checks over snapshots; ``check`` returns the alerts for one snapshot."""

    window: int = 20
    z: float = 4.0
    devices: dict[int, DeviceState] = field(default_factory=dict)
    alerts: int = 0

    def check(self, snap: Snapshot) -> list[str]:
        """The findings for ``snap`` (and remember it)."""
        dev = self.devices.setdefault(snap.device_index, DeviceState(deque(maxlen=self.window)))
        found: list[str] = []
        power = snap.metrics.power_kw
        if len(dev.power_kw) == self.window:
            mean = statistics.fmean(dev.power_kw)
            spread = max(statistics.pstdev(dev.power_kw), 0.01 * abs(mean), 0.05)
            if abs(power - mean) > self.z * spread:
                found.append(
                    f"power_kw jumped to {power:.2f} (mean {mean:.2f}, {self.window} ticks)"
                )
                dev.power_kw.clear()  # re-learn the new level instead of alarming on every tick
        dev.power_kw.append(power)
        state = f"{snap.status.inverter_state}/{snap.status.connection_state}"
        if state != dev.state:
            if snap.status.inverter_state == "fault" or "disconnected" in state:
                found.append(f"status {state}: {snap.status.message or 'no message'}")
            dev.state = state
        f_hz = snap.metrics.frequency_hz
        nominal = 50.0 if abs(f_hz - 50.0) < abs(f_hz - 60.0) else 60.0
        if f_hz > 0 and abs(f_hz - nominal) > 0.5:
            found.append(f"frequency {f_hz:.2f} Hz outside {nominal:g} ± 0.5 Hz")
        self.alerts += len(found)
        return found


async def detect(url: str, device: int | None, seconds: float, detector: Detector) -> int:
    """Stream for ``seconds`` (inf: until cancelled); return the number of snapshots seen."""
    seen = 0

    def on_gap(gap: Gap) -> None:
        print(
            f"GAP device {gap.device}: {gap.missed_ticks} tick(s) missed after tick "
            f"{gap.last_tick} ({gap.reason})",
            flush=True,
        )

    async with open_telemetry(url, device=device, on_gap=on_gap) as stream:
        print(f"watching {stream.url}", flush=True)
        with trio.move_on_after(seconds):
            async for snap in stream:
                seen += 1
                for finding in detector.check(snap):
                    print(
                        f"ALERT {snap.clock_time} tick {snap.tick} device {snap.device_index}: "
                        f"{finding}",
                        flush=True,
                    )
    return seen


def main() -> int:
    """Parse the command line and run until ``--seconds`` have passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8111")
    parser.add_argument("--device", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=math.inf)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--z", type=float, default=4.0)
    ns = parser.parse_args()
    detector = Detector(window=ns.window, z=ns.z)
    try:
        seen = trio.run(detect, ns.url, ns.device, ns.seconds, detector)
    except DersimError as exc:
        print(f"anomaly_detector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        seen = -1
    print(f"summary: {seen} snapshot(s), {detector.alerts} alert(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
