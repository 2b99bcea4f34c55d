"""The simulator clock: simulated time as a pure function of the tick count.

Two modes (contract §1):

* **Own clock** (default): simulated time starts at ``start`` and advances by
  ``periodic_time_s · time_scale`` simulated seconds per tick, so tick k is at
  ``start + k · periodic_time_s · time_scale``. Nothing reads a wall clock; a day replays at
  whatever speed the tick loop runs.
* **Wall clock** (``--wall_clock yes``): the service passes the current wall time each tick;
  the simulator clock is that time in the configured timezone and ``time_scale`` is 1.

The step a device model integrates over is the simulated time between consecutive ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(slots=True)
class SimClock:
    """Simulated time, advanced one tick at a time (sans-IO)."""

    start: datetime
    """Timezone-aware simulated time of tick 0."""
    sim_seconds_per_tick: float
    """periodic_time_s × time_scale."""
    wall_clock: bool = False
    now: datetime | None = None
    tick: int = 0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("the simulator start time must be timezone-aware")
        if self.now is None:
            self.now = self.start

    @property
    def current(self) -> datetime:
        """Simulated time of the current tick."""
        assert self.now is not None
        return self.now

    def advance(self, wall_now: datetime | None = None) -> float:
        """Move to the next tick and return the simulated seconds elapsed since the previous one.

        In wall-clock mode ``wall_now`` (timezone-aware) is required and becomes the simulator
        time; the elapsed time is then the real time between ticks (never negative).
        """
        previous = self.current
        self.tick += 1
        if self.wall_clock:
            if wall_now is None or wall_now.tzinfo is None:
                raise ValueError("wall-clock mode needs the timezone-aware wall time")
            self.now = wall_now.astimezone(self.start.tzinfo)
            return max(0.0, (self.now - previous).total_seconds())
        self.now = self.start + timedelta(seconds=self.tick * self.sim_seconds_per_tick)
        return self.sim_seconds_per_tick
