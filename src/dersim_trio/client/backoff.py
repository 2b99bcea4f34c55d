"""The reconnect policy: exponential backoff with jitter, capped, optionally bounded."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before reconnect attempt ``n`` (0-based), and when to give up.

    The base delay is ``initial_s · multiplier**n``, capped at ``max_s``; jitter then shortens
    it by a random fraction of at most ``jitter`` (``delay · (1 − jitter · U[0, 1)``), so a
    crowd of clients that lost the same server spreads out and no delay ever exceeds
    ``max_s``. ``max_attempts`` consecutive failed attempts raise ``ReconnectGaveUp``
    (``None``: retry until cancelled). The counter restarts once a connection delivers a
    message.
    """

    initial_s: float = 0.1
    multiplier: float = 2.0
    max_s: float = 5.0
    jitter: float = 0.25
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not self.initial_s > 0:
            raise ValueError(f"initial_s must be > 0; got {self.initial_s}")
        if not self.multiplier >= 1:
            raise ValueError(f"multiplier must be >= 1; got {self.multiplier}")
        if not self.max_s >= self.initial_s:
            raise ValueError(f"max_s must be >= initial_s; got {self.max_s} < {self.initial_s}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1]; got {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 or None; got {self.max_attempts}")

    def base_delay_s(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` without jitter."""
        try:
            return min(self.max_s, self.initial_s * self.multiplier ** max(0, attempt))
        except OverflowError:
            return self.max_s

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay before attempt ``attempt``, drawing from ``rng``."""
        base = self.base_delay_s(attempt)
        if self.jitter == 0:
            return base
        return base * (1.0 - self.jitter * rng.random())
