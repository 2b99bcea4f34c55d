"""Voltage and frequency trip (IEEE 1547-2018 §6.4.1, Tables 11–13; §6.5.1, Table 18; SunSpec
707 LV trip, 708 HV trip, 709 LF trip, 710 HF trip).

Each direction has must-trip points (threshold, clearing time): the unit trips once the voltage
(frequency) has stayed beyond the threshold for the clearing time. Low-side thresholds trip when
the *lowest* phase voltage is strictly below them, high-side ones when the *highest* is strictly
above (OpenDER ``trip_crit.py``). The 1547 names map onto the points in order: ``lv`` = (UV1,
UV2), ``hv`` = (OV1, OV2), ``lf`` = (UF1, UF2), ``hf`` = (OF1, OF2).

Defaults (threshold in % of V_nom or Hz, clearing time in s):

============  ===========  ===========  ===========
setting       category I   category II  category III
============  ===========  ===========  ===========
OV2           120 / 0.16   120 / 0.16   120 / 0.16
OV1           110 / 2      110 / 2      110 / 13
UV1           70 / 2       70 / 10      88 / 21
UV2           45 / 0.16    45 / 0.16    50 / 2
OF2, OF1      62.0 / 0.16, 61.2 / 300 (every category, Table 18)
UF1, UF2      58.5 / 300, 56.5 / 0.16 (every category, Table 18)
============  ===========  ===========  ===========

Timing: the clearing time is honoured to within one integration sub-step (``SUB_STEP_S`` =
10 ms), not rounded to the tick. ``TripMonitor.advance`` takes the grid at every sub-step of the
tick (the caller samples its input, which may change inside the tick when a grid event plays),
and while every quantity is inside all thresholds and no timer runs it skips the sub-steps.
OpenDER instead counts whole steps (its ``ConditionalDelay`` adds ``t_s`` per step, so at 1.5 s
a 0.16 s trip happens one step late and a 2 s trip after two steps, 3 s): the oracle tests say so
and hold this module to the standard.

The momentary-cessation thresholds (``mom_cess_v_pct`` of ``lv`` and ``hv``) belong to the
ride-through regions (``ride_through``); they are kept here because SunSpec 707/708 carry them
in the same model as the must-trip curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

SUB_STEP_S = 0.01
"""Integration sub-step while outside the normal range (trip times within 20 ms of the setting)."""
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class TripPoint:
    """One must-trip point: ``threshold`` (% of V_nom, or Hz) and ``tms_s`` (clearing time)."""

    threshold: float
    tms_s: float


@dataclass(frozen=True, slots=True)
class VoltageTripCurve:
    """707/708: must-trip points and the momentary-cessation threshold (None: none)."""

    must_trip: tuple[TripPoint, ...]
    mom_cess_v_pct: float | None = None


@dataclass(frozen=True, slots=True)
class FrequencyTripCurve:
    """709/710: must-trip points."""

    must_trip: tuple[TripPoint, ...]


@dataclass(frozen=True, slots=True)
class TripSettings:
    """The four curves (category III defaults)."""

    lv: VoltageTripCurve = VoltageTripCurve(
        (TripPoint(88.0, 21.0), TripPoint(50.0, 2.0)), mom_cess_v_pct=50.0
    )
    hv: VoltageTripCurve = VoltageTripCurve(
        (TripPoint(110.0, 13.0), TripPoint(120.0, 0.16)), mom_cess_v_pct=110.0
    )
    lf: FrequencyTripCurve = FrequencyTripCurve((TripPoint(58.5, 300.0), TripPoint(56.5, 0.16)))
    hf: FrequencyTripCurve = FrequencyTripCurve((TripPoint(61.2, 300.0), TripPoint(62.0, 0.16)))


CAUSE_PREFIX: dict[str, str] = {"lv": "UV", "hv": "OV", "lf": "UF", "hf": "OF"}
"""A trip's cause is the prefix and the point's 1-based position (``OV2``: ``hv`` point 2)."""


class GridSample(NamedTuple):
    """The grid at one instant: lowest and highest phase voltage (pu) and frequency (Hz).

    (A named tuple: every device builds a few per tick, and the steady-state check compares
    them.)"""

    v_lo_pu: float
    v_hi_pu: float
    f_hz: float


@dataclass(frozen=True, slots=True)
class TripEvent:
    """A trip: its cause (``OV2``, ``UF1``, ...) and when it happened (simulated seconds)."""

    cause: str
    time_s: float


def _points(settings: TripSettings) -> Iterator[tuple[str, int, TripPoint]]:
    for key in ("lv", "hv", "lf", "hf"):
        curve: VoltageTripCurve | FrequencyTripCurve = getattr(settings, key)
        for i, point in enumerate(curve.must_trip):
            yield key, i, point


def beyond(key: str, point: TripPoint, sample: GridSample) -> bool:
    """True when ``sample`` is beyond the must-trip threshold of ``point``. Voltages are compared
    in per unit (the setting divided by 100), so that a grid exactly at the setting is not
    beyond it: in binary floating point 1.1 × 100 is 110.00000000000001, above 110."""
    if key == "lv":
        return sample.v_lo_pu < point.threshold / 100.0
    if key == "hv":
        return sample.v_hi_pu > point.threshold / 100.0
    if key == "lf":
        return sample.f_hz < point.threshold
    return sample.f_hz > point.threshold


@dataclass(slots=True)
class TripMonitor:
    """The clearing-time timers of every must-trip point."""

    timers_s: dict[tuple[str, int], float] = field(default_factory=dict)
    _band_of: TripSettings | None = None
    _band: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def _quiet(self, settings: TripSettings, sample: GridSample) -> bool:
        """True when ``sample`` is beyond no threshold (the band is computed once per settings:
        the highest low-voltage, lowest high-voltage (both in pu, see ``beyond``), highest
        under- and lowest over-frequency threshold)."""
        if settings is not self._band_of:
            self._band_of = settings
            self._band = (
                max((p.threshold / 100.0 for p in settings.lv.must_trip), default=-math.inf),
                min((p.threshold / 100.0 for p in settings.hv.must_trip), default=math.inf),
                max((p.threshold for p in settings.lf.must_trip), default=-math.inf),
                min((p.threshold for p in settings.hf.must_trip), default=math.inf),
            )
        lv, hv, lf, hf = self._band
        return sample.v_lo_pu >= lv and sample.v_hi_pu <= hv and lf <= sample.f_hz <= hf

    def advance(
        self,
        settings: TripSettings,
        start_s: float,
        dt_s: float,
        grid_at: Callable[[float], GridSample],
        corners: Sequence[float] = (),
    ) -> TripEvent | None:
        """Integrate from ``start_s`` over ``dt_s``; the first trip in that interval, if any.

        ``grid_at(t)`` gives the grid at simulated time t, linear between ``corners`` (the
        instants inside the interval where it changes slope or steps; none: linear or constant
        over the whole interval). The interval is split into ⌈dt/``SUB_STEP_S``⌉ equal
        sub-steps, sampled at their ends. When no timer runs and the grid is inside every
        threshold at both ends and at every corner (so everywhere in between), one look decides:
        a grid held constant over the tick needs no sub-steps.
        """
        if dt_s <= 0.0:
            return None
        end = grid_at(start_s + dt_s)
        if (
            not self.timers_s
            and self._quiet(settings, end)
            and self._quiet(settings, grid_at(start_s))
            and all(self._quiet(settings, grid_at(c)) for c in corners)
        ):
            return None
        n = max(1, math.ceil(dt_s / SUB_STEP_S - _EPS))
        h = dt_s / n
        for j in range(1, n + 1):
            t = start_s + j * h
            sample = end if j == n else grid_at(t)
            for key, i, point in _points(settings):
                slot = (key, i)
                if beyond(key, point, sample):
                    elapsed = self.timers_s.get(slot, 0.0) + h
                    self.timers_s[slot] = elapsed
                    if elapsed + _EPS >= point.tms_s:
                        self.timers_s.clear()
                        return TripEvent(f"{CAUSE_PREFIX[key]}{i + 1}", t)
                elif slot in self.timers_s:
                    del self.timers_s[slot]
        return None

    def reset(self) -> None:
        """Stop every timer."""
        self.timers_s.clear()
