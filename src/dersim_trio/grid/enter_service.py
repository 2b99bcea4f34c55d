"""Enter service after a trip (IEEE 1547-2018 §4.10; SunSpec 703).

Theory of operation
-------------------

A unit that has tripped (``trip``), or that the operator sends ``enter_service`` after a
``cease_to_energize`` (``controls.enter_service``), stays out of service until the grid has
been inside the enter-service window for the enter-service delay, plus a randomized delay when
one is set, and then raises its output along a linear ramp over the enter-service period. Both
go through the one ``ReEntry`` below, with the device's 703 settings:

::

    tripped, or entering_service after an operator enter_service
       │  (V and f inside the window, inverter running, for es_dly_tms_s [+ U(0, es_rnd_tms_s)])
       ▼
    ramping (grid_state entering_service) ──(es_rmp_tms_s elapsed)──▶ continuous
       ▲                                                                 │
       └─────────────────────────────(a trip)────────────────────────────┘

Leaving the window while waiting starts the delay over (the randomized part is drawn once per
wait). During the ramp the active power is at most t/es_rmp_tms_s of ``WMaxRtg`` (§4.10.3: "the
DER shall increase its output ... linearly ... over the enter service period"); a unit at
``WMaxRtg`` therefore needs the whole period, one at half output half of it. Defaults
(§4.10.2, §4.10.3): window 0.917..1.05 pu and 59.5..60.1 Hz, delay 300 s, randomized delay 0
(when used 1..1000 s), ramp 300 s (1..1000 s).

``--enter_service_delay_s`` (default 300 s, the standard's) is the delay every device starts
with and the one a reset to the defaults (``"enter_service": null`` or a ``category`` load)
restores. A harness shortens the wait and the ramp with ``PUT .../grid-support``
(``{"enter_service": {"es_dly_tms_s": 5, "es_rmp_tms_s": 1}}``: the standard lets the delay
go down to 0 s and the period to 1 s).

The randomized delay uses a ``random.Random`` the caller seeds (``--seed`` and the device
index), so runs repeat exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class RandomDelay(Protocol):
    """The source of the randomized delay (``random.Random`` or ``LazyRandom``)."""

    def uniform(self, a: float, b: float) -> float:
        """A uniform draw on [a, b]."""
        ...


class LazyRandom:
    """A ``random.Random(seed)`` made at its first draw, with the same draws.

    Every device has its own generator for the randomized delay, and most never draw from it
    (the delay's random part defaults to 0 s); a Mersenne Twister holds 2.5 KB of state, which
    made it the largest object of a PV device in a fleet.
    """

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int | str) -> None:
        self._seed = seed
        self._rng: random.Random | None = None

    def uniform(self, a: float, b: float) -> float:
        """``random.Random(seed).uniform``, continuing one stream."""
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng.uniform(a, b)


@dataclass(frozen=True, slots=True)
class EnterServiceSettings:
    """703 ``ESVHi``/``ESVLo``, ``ESHzHi``/``ESHzLo``, ``ESDlyTms``, ``ESRndTms``, ``ESRmpTms``."""

    es_v_hi_pct: float = 105.0
    es_v_lo_pct: float = 91.7
    es_hz_hi: float = 60.1
    es_hz_lo: float = 59.5
    es_dly_tms_s: float = 300.0
    es_rnd_tms_s: float = 0.0
    es_rmp_tms_s: float = 300.0

    def in_window(self, v_lo_pu: float, v_hi_pu: float, f_hz: float) -> bool:
        """True when every phase voltage and the frequency are inside the window."""
        return (
            v_lo_pu >= self.es_v_lo_pct / 100.0
            and v_hi_pu <= self.es_v_hi_pct / 100.0
            and self.es_hz_lo <= f_hz <= self.es_hz_hi
        )


@dataclass(slots=True)
class ReEntry:
    """The wait and ramp after a trip (``waiting`` False and ``ramp_s`` None: not re-entering)."""

    waiting: bool = False
    counted_s: float = 0.0
    random_s: float | None = None
    ramp_s: float | None = None
    """Seconds into the ramp; None when not ramping."""
    ramp_started: bool = False
    """The ramp began inside the step being advanced (``ramp_s`` already counts its part)."""

    def start_wait(self) -> None:
        """A trip happened: wait for the window."""
        self.waiting = True
        self.counted_s = 0.0
        self.random_s = None
        self.ramp_s = None
        self.ramp_started = False

    def advance_wait(
        self,
        settings: EnterServiceSettings,
        in_window: bool,
        dt_s: float,
        rng: RandomDelay,
    ) -> bool:
        """Count ``dt_s`` of the wait; True when the delay is over (the ramp starts)."""
        if not self.waiting:
            return False
        if not in_window:
            self.counted_s = 0.0
            self.random_s = None
            return False
        if self.random_s is None:
            rnd = settings.es_rnd_tms_s
            self.random_s = rng.uniform(0.0, rnd) if rnd > 0.0 else 0.0
        self.counted_s += dt_s
        needed = settings.es_dly_tms_s + self.random_s
        if self.counted_s + 1e-9 < needed:
            return False
        self.waiting = False
        # the ramp starts when the delay ends, inside this step: the step's ``ramp_cap_pu``
        # counts only the time after that (0 when the delay ends with the step)
        self.ramp_s = max(0.0, self.counted_s - needed)
        self.ramp_started = True
        return True

    def cancel(self) -> None:
        """The operator ceased to energize: no wait, no ramp."""
        self.waiting = False
        self.counted_s = 0.0
        self.random_s = None
        self.ramp_s = None
        self.ramp_started = False

    def ramp_cap_pu(self, settings: EnterServiceSettings, dt_s: float) -> float | None:
        """Advance the ramp by ``dt_s`` (in the step where the wait ended, by the part of the
        step after its end); the cap in pu of WMaxRtg, or None once it is over."""
        if self.ramp_s is None:
            return None
        if self.ramp_started:
            self.ramp_started = False
        else:
            self.ramp_s += dt_s
        if settings.es_rmp_tms_s <= 0.0 or self.ramp_s >= settings.es_rmp_tms_s:
            self.ramp_s = None
            return None
        return self.ramp_s / settings.es_rmp_tms_s
