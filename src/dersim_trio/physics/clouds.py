"""Seeded clouds: the clear-sky index k of every PV device of a fleet, as arrays (sans-IO).

The sky of each device alternates between two regimes, a two-state Markov chain in continuous
time (mean dwell 3 h clear, 1 h cloudy: clear 75 % of the time), and inside each regime k
follows an Ornstein-Uhlenbeck process toward the regime's mean (clear: mean 0.99, σ 0.02,
τ 600 s; cloudy: mean 0.45, σ 0.20, τ 300 s). Both are advanced with their exact
discretisation over any step Δt, so the statistics do not depend on the tick:

    P(switch | clear)  = π_cloudy·(1 − e^(−Δt(r_clear + r_cloudy))),  r = 1 / mean dwell
    x(t+Δt) = μ + (x(t) − μ)·e^(−Δt/τ) + σ·√(1 − e^(−2Δt/τ))·N(0, 1)

and k = clamp(x, 0.1, 1.0). The regime switch is drawn before the OU step, which then uses the
new regime's parameters. A sky starts in its stationary distribution (clear with probability
0.75, x = μ + σ·N(0, 1) of that regime).

Random numbers (why not ``random.Random`` or ``numpy.random.Generator``): every device has its
own stream, keyed by its seed only (device i of a fleet has seed + i however the fleet is
sharded), and a fleet of 100,000 devices draws three numbers per device per tick. A generator
object per device costs a Python call per draw (about 1 µs each: 0.3 s per tick at 100,000
devices); one generator for the fleet would tie each device's sky to the fleet's size and
order. So the draws are counter-based, computed for every row at once with numpy: draw j of
step n of the device with seed s is u = H(H(s) + 4n + j)·2⁻⁶⁴ (53 bits), where H is the
SplitMix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
OOPSLA 2014; the mixing constants of ``java.util.SplittableRandom``); normals come from two
uniforms by Box-Muller. The stream depends only on the seed and on how many steps the sky has
taken, the same whether the device is stepped alone or with the fleet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Rows = slice | npt.NDArray[np.intp]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_POW_M53 = 2.0**-53


def splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The SplitMix64 output function of ``x`` + γ, element-wise (wrapping uint64 arithmetic)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def seed_keys(seeds: Sequence[int]) -> npt.NDArray[np.uint64]:
    """The stream key H(s) of each seed (any Python int, taken modulo 2⁶⁴)."""
    return splitmix64(np.array([s % 2**64 for s in seeds], dtype=np.uint64))


def uniforms(
    keys: npt.NDArray[np.uint64], counters: npt.NDArray[np.uint64], draw: int
) -> FloatArray:
    """Draw ``draw`` (0..3) of each row's step ``counters``: uniform on [0, 1)."""
    bits = splitmix64(keys + counters * np.uint64(4) + np.uint64(draw))
    return (bits >> _S11).astype(np.float64) * _TWO_POW_M53


def normals(keys: npt.NDArray[np.uint64], counters: npt.NDArray[np.uint64]) -> FloatArray:
    """A standard normal per row from draws 1 and 2 of its step (Box-Muller)."""
    u1 = uniforms(keys, counters, 1)
    u2 = uniforms(keys, counters, 2)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * math.pi * u2)


class CloudArray:
    """The clear-sky index of N seeded skies (see the module docstring).

    ``advance(rows, dt_s)`` moves the skies of ``rows`` forward by ``dt_s`` seconds and returns
    their new k; a sky's sequence depends only on its seed and the ``dt_s`` values it was
    advanced by.
    """

    CLEAR_FRACTION = 0.75
    """Long-run fraction of time in the clear regime: 3 h / (3 h + 1 h)."""
    K_MIN = 0.1
    K_MAX = 1.0

    # (mean dwell s, OU mean, OU sigma, OU tau s) per regime: index 0 clear, 1 cloudy.
    _DWELL_S = (3.0 * 3600.0, 3600.0)
    _MEAN = (0.99, 0.45)
    _SIGMA = (0.02, 0.20)
    _TAU_S = (600.0, 300.0)

    __slots__ = ("_cached", "_cloudy", "_counters", "_keys", "_x")

    def __init__(self, seeds: Sequence[int]) -> None:
        n = len(seeds)
        self._keys = seed_keys(seeds)
        start = np.zeros(n, dtype=np.uint64)
        self._cloudy = uniforms(self._keys, start, 0) >= self.CLEAR_FRACTION
        mean = np.where(self._cloudy, self._MEAN[1], self._MEAN[0])
        sigma = np.where(self._cloudy, self._SIGMA[1], self._SIGMA[0])
        self._x: FloatArray = mean + sigma * normals(self._keys, start)
        self._counters = np.ones(n, dtype=np.uint64)
        self._cached: tuple[float, tuple[float, ...]] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def clear_sky_index(self, rows: Rows) -> FloatArray:
        """The present k of ``rows``, clamped to [0.1, 1.0]."""
        return np.clip(self._x[rows], self.K_MIN, self.K_MAX)

    def cloudy(self, rows: Rows) -> npt.NDArray[np.bool_]:
        """True where a sky is in the cloudy regime."""
        return self._cloudy[rows].copy()

    def advance(self, rows: Rows, dt_s: float) -> FloatArray:
        """Advance ``rows`` by ``dt_s`` simulated seconds (≤ 0 or NaN: unchanged); their k."""
        if not dt_s > 0.0:
            return self.clear_sky_index(rows)
        p_clear, p_cloudy, decay_clear, decay_cloudy, noise_clear, noise_cloudy = self._step(dt_s)
        keys = self._keys[rows]
        counters = self._counters[rows]
        cloudy = self._cloudy[rows]
        switch = uniforms(keys, counters, 0) < np.where(cloudy, p_cloudy, p_clear)
        cloudy = cloudy ^ switch
        mean = np.where(cloudy, self._MEAN[1], self._MEAN[0])
        x = (
            mean
            + (self._x[rows] - mean) * np.where(cloudy, decay_cloudy, decay_clear)
            + np.where(cloudy, noise_cloudy, noise_clear) * normals(keys, counters)
        )
        self._x[rows] = x
        self._cloudy[rows] = cloudy
        self._counters[rows] = counters + np.uint64(1)
        return np.clip(x, self.K_MIN, self.K_MAX)

    def _step(self, dt_s: float) -> tuple[float, ...]:
        """(switch probability from clear, from cloudy, OU decays, OU noises) for ``dt_s``."""
        cached = self._cached
        if cached is not None and cached[0] == dt_s:
            return cached[1]
        rate_clear = 1.0 / self._DWELL_S[0]
        rate_cloudy = 1.0 / self._DWELL_S[1]
        total = rate_clear + rate_cloudy
        mix = -math.expm1(-dt_s * total)
        # From clear, switch with prob π_cloudy·mix; from cloudy, with prob π_clear·mix.
        values = (
            rate_clear / total * mix,
            rate_cloudy / total * mix,
            math.exp(-dt_s / self._TAU_S[0]),
            math.exp(-dt_s / self._TAU_S[1]),
            self._SIGMA[0] * math.sqrt(-math.expm1(-2.0 * dt_s / self._TAU_S[0])),
            self._SIGMA[1] * math.sqrt(-math.expm1(-2.0 * dt_s / self._TAU_S[1])),
        )
        self._cached = (dt_s, values)
        return values


class CloudModel:
    """One seeded sky: a ``CloudArray`` of one (the same streams as in a fleet)."""

    CLEAR_FRACTION = CloudArray.CLEAR_FRACTION
    K_MIN = CloudArray.K_MIN
    K_MAX = CloudArray.K_MAX

    __slots__ = ("_array",)

    _ROW = slice(0, 1)

    def __init__(self, seed: int) -> None:
        self._array = CloudArray([seed])

    @property
    def clear_sky_index(self) -> float:
        """The current clear-sky index k, clamped to [0.1, 1.0]."""
        return float(self._array.clear_sky_index(self._ROW)[0])

    @property
    def cloudy(self) -> bool:
        """True while the sky is in the cloudy regime."""
        return bool(self._array.cloudy(self._ROW)[0])

    def advance(self, dt_s: float) -> float:
        """Advance the sky by ``dt_s`` simulated seconds (negative or NaN → 0) and return k."""
        return float(self._array.advance(self._ROW, dt_s)[0])
