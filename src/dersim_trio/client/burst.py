"""The result of ``DersimClient.burst``: one quantity over the ticks after an action."""

from __future__ import annotations

from dataclasses import dataclass

from dersim_trio.client.telemetry import Gap


@dataclass(frozen=True, slots=True)
class Sample:
    """One tick's value of the burst's quantity."""

    tick: int
    timestamp: str
    """Simulator time, ISO 8601."""
    value: float | None


@dataclass(frozen=True, slots=True)
class Burst:
    """The samples of ``quantity`` for ``device`` from the first tick after the action."""

    quantity: str
    device: int
    after_tick: int
    """The last tick published before the action took effect; samples start after it."""
    samples: tuple[Sample, ...]
    gaps: tuple[Gap, ...]

    @property
    def values(self) -> list[float | None]:
        """The sampled values, oldest first."""
        return [s.value for s in self.samples]

    @property
    def ticks(self) -> list[int]:
        """The sampled ticks, oldest first."""
        return [s.tick for s in self.samples]

    def settled(self, *, within: float, last: int) -> bool:
        """True when the last ``last`` values exist and span at most ``within``."""
        tail = [v for v in self.values[-last:] if v is not None]
        if last < 1 or len(tail) < last:
            return False
        return max(tail) - min(tail) <= within
