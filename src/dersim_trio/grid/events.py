"""Grid events: a voltage and/or frequency time series the grid plays to the devices (sans-IO).

A harness plays an IEEE 1547.1 ride-through or frequency-ramp profile with one (``POST
/api/dersim/grid-events``, or ``--grid_profile FILE`` at start). Each series is a list of points
``(t_s, value)``, ``t_s`` in simulated seconds after the event starts, the first at 0, never
decreasing. Between two points the value moves linearly (a ramp); two points at the same time
make a step (the later one applies from that instant). A voltage value is one per-unit number
(every phase) or three per-phase line-to-neutral values (an unbalanced sag, three-phase
devices). Past its last point a series holds its last value; the engine says so once in the log
(``dersim_trio.Grid``) and the event stays in force until it is ended or replaced.

The engine asks the event for the grid at the end of every tick and, through the trip monitor,
at 10 ms sub-steps inside it (``trip.SUB_STEP_S``), so a step in the middle of a 1.5 s tick is
seen within 10 ms of its time. A quantity the event has no series for comes from the device's
inputs (``PUT .../inputs``). Sampling is a bisection over the point times plus one linear
interpolation; every device asks for the same instants, so the last sample is cached.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

Phases = tuple[float, float, float]

MAX_POINTS = 2000
"""Points per series (a 1547.1 ride-through profile needs a few dozen)."""
MAX_TIME_S = 10_000_000.0
"""Latest point time (about 116 simulated days)."""
_BEFORE_S = 1e-9
"""How far before a point its left-hand value is looked at (a step's old value)."""


def order_problem(times: Sequence[float]) -> tuple[int, str] | None:
    """(index, reason) of the first point that breaks the time rules, or None."""
    if not times:
        return 0, "a series needs at least one point"
    if times[0] != 0.0:
        return 0, f"the first point must be at t_s 0 (the event's start), got {times[0]:g}"
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            return i, (
                f"t_s {times[i]:g} is before the previous point's {times[i - 1]:g} "
                "(times never decrease; equal times make a step)"
            )
    return None


@dataclass(frozen=True, slots=True)
class Series:
    """One quantity's points: ``times_s`` never decreasing from 0, ``values`` per point."""

    times_s: tuple[float, ...]
    values: tuple[Phases, ...]

    @property
    def end_s(self) -> float:
        """The last point's time."""
        return self.times_s[-1]

    def at(self, t_s: float) -> Phases:
        """The value at ``t_s`` after the start (held before 0 and after the last point)."""
        times = self.times_s
        i = bisect_right(times, t_s)
        if i >= len(times):
            return self.values[-1]
        if i == 0:
            return self.values[0]
        t0, t1 = times[i - 1], times[i]
        v0, v1 = self.values[i - 1], self.values[i]
        if t1 <= t0:
            return v1
        k = (t_s - t0) / (t1 - t0)
        return (
            v0[0] + (v1[0] - v0[0]) * k,
            v0[1] + (v1[1] - v0[1]) * k,
            v0[2] + (v1[2] - v0[2]) * k,
        )


def series(points: Sequence[tuple[float, float | Sequence[float]]]) -> Series:
    """A ``Series`` from ``(t_s, value)`` pairs; a single number stands for every phase."""
    times: list[float] = []
    values: list[Phases] = []
    for t, value in points:
        times.append(float(t))
        if isinstance(value, int | float):
            v = float(value)
            values.append((v, v, v))
        else:
            a, b, c = (float(x) for x in value)
            values.append((a, b, c))
    problem = order_problem(times)
    if problem is not None:
        raise ValueError(f"point {problem[0]}: {problem[1]}")
    return Series(tuple(times), tuple(values))


@dataclass(slots=True)
class GridEvent:
    """A voltage and/or frequency series started at simulated time ``start_s`` (seconds since
    the simulator start), for one device or every device (``device`` None)."""

    start_s: float
    voltage: Series | None = None
    frequency: Series | None = None
    device: int | None = None
    source: str = "api"
    """Where it came from: ``api`` (POST) or the ``--grid_profile`` file name."""
    past_reported: bool = False
    """True once the engine has logged that the event ran past its data."""
    _key: float | None = field(default=None, repr=False)
    _sample: tuple[Phases | None, float | None] = field(default=(None, None), repr=False)

    @property
    def end_s(self) -> float:
        """Seconds after its start at which the event's data ends (the later series' end)."""
        ends = [s.end_s for s in (self.voltage, self.frequency) if s is not None]
        return max(ends) if ends else 0.0

    def applies_to(self, index: int) -> bool:
        """True when the event plays to device ``index``."""
        return self.device is None or self.device == index

    def sample(self, now_s: float) -> tuple[Phases | None, float | None]:
        """(per-phase voltage pu, frequency Hz) at simulated time ``now_s``; None for a
        quantity without a series."""
        if now_s == self._key:
            return self._sample
        t = now_s - self.start_s
        v = self.voltage.at(t) if self.voltage is not None else None
        f = self.frequency.at(t)[0] if self.frequency is not None else None
        self._key = now_s
        self._sample = (v, f)
        return v, f

    def corners(self, t0_s: float, t1_s: float) -> list[float]:
        """The instants in (``t0_s``, ``t1_s``) (simulated time) where a series changes slope
        or steps, each with the instant just before it, so that the grid between them is
        linear (the trip monitor's quick look, ``trip.TripMonitor.advance``)."""
        out: list[float] = []
        for s in (self.voltage, self.frequency):
            if s is None:
                continue
            for t in s.times_s:
                at = self.start_s + t
                if t0_s < at < t1_s:
                    out.append(at)
                    if at - _BEFORE_S > t0_s:
                        out.append(at - _BEFORE_S)
        return out

    def past_data(self, now_s: float) -> bool:
        """True once ``now_s`` is beyond the event's last point."""
        return now_s - self.start_s > self.end_s


def describe_event(event: GridEvent) -> str:
    """``voltage 6 points over 20 s, frequency 2 points over 10 s`` (for the log)."""
    parts = []
    for name, s in (("voltage", event.voltage), ("frequency", event.frequency)):
        if s is not None:
            parts.append(f"{name} {len(s.times_s)} point(s) over {s.end_s:g} s")
    return ", ".join(parts)
