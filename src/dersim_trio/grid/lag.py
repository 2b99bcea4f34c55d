"""Open-loop response time as a first-order lag (IEEE 1547-2018 §3.1 "open-loop response time").

The standard specifies a function's dynamics by its open-loop response time (OLRT): the time
after a step of the input at which the output has made 90 % of its change. A first-order lag
y' = (x − y)/τ reaches 1 − e^(−t/τ) of a step after t, so 90 % at t = τ·ln 10:

    τ = OLRT / ln 10,    y(k+1) = y(k) + (1 − e^(−Δt/τ))·(x − y(k))

This is the exact discretisation of the continuous lag for an input held over the step (zero-order
hold), so the 90 % point does not depend on the tick length (sandialabs svp_1547.1 ``p1547.py``
``calculate_open_loop_value`` uses the same τ). OpenDER instead uses a bilinear (Tustin) filter
with τ = OLRT/2.3; the two agree on the steady state and on the 90 % time within one tick (the
oracle tests check both), not on every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LN_10 = math.log(10.0)


def lag_gain(response_time_s: float, dt_s: float) -> float:
    """The per-step gain 1 − e^(−Δt/τ) of a lag with 90 % at ``response_time_s`` (1.0: none)."""
    if response_time_s <= 0.0:
        return 1.0
    if dt_s <= 0.0:
        return 0.0
    return 1.0 - math.exp(-dt_s * LN_10 / response_time_s)


@dataclass(slots=True)
class Lag:
    """One first-order lag; ``value`` is None until the first input (it then starts there)."""

    value: float | None = None
    _gain_of: tuple[float, float] = (-1.0, -1.0)
    _gain: float = 1.0

    def gain(self, response_time_s: float, dt_s: float) -> float:
        """``lag_gain``, kept for the last (response time, step) pair (ticks repeat them)."""
        if (response_time_s, dt_s) != self._gain_of:
            self._gain_of = (response_time_s, dt_s)
            self._gain = lag_gain(response_time_s, dt_s)
        return self._gain

    def step(self, target: float, response_time_s: float, dt_s: float) -> float:
        """Move toward ``target`` by one step of ``dt_s`` and return the new output."""
        if self.value is None:
            self.value = target
            return target
        self.value += self.gain(response_time_s, dt_s) * (target - self.value)
        return self.value

    def preview(self, target: float, response_time_s: float, dt_s: float) -> float:
        """What ``step`` would return, without moving the state."""
        if self.value is None:
            return target
        return self.value + self.gain(response_time_s, dt_s) * (target - self.value)

    def reset(self, value: float | None = None) -> None:
        """Forget the state (None: the next input passes straight through)."""
        self.value = value
