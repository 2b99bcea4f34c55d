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
order. So the draws are counter-based, computed for every row in one compiled loop: draw j of
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
from numba import njit

FloatArray = npt.NDArray[np.float64]

_TWO_POW_M53 = 2.0**-53

# (mean dwell s, OU mean, OU sigma, OU tau s) per regime: index 0 clear, 1 cloudy.
_DWELL_S = (3.0 * 3600.0, 3600.0)
_MEAN = (0.99, 0.45)
_SIGMA = (0.02, 0.20)
_TAU_S = (600.0, 300.0)
_CLEAR_FRACTION = 0.75
_K_MIN = 0.1
_K_MAX = 1.0


@njit(cache=True)
def _mix(x: np.uint64) -> np.uint64:
    """The SplitMix64 output function of x + γ (wrapping uint64 arithmetic)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniform(key: np.uint64, counter: np.uint64, draw: int) -> float:
    """Draw ``draw`` (0..3) of step ``counter`` of the stream ``key``: uniform on [0, 1)."""
    bits = _mix(key + counter * np.uint64(4) + np.uint64(draw))
    return float(bits >> np.uint64(11)) * _TWO_POW_M53


@njit(cache=True)
def _normal(key: np.uint64, counter: np.uint64) -> float:
    """A standard normal from draws 1 and 2 of step ``counter`` (Box-Muller)."""
    u1 = _uniform(key, counter, 1)
    u2 = _uniform(key, counter, 2)
    return math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def _start(keys: npt.NDArray[np.uint64], cloudy: npt.NDArray[np.bool_], x: FloatArray) -> None:
    """Each sky in its stationary distribution (step 0 of its stream)."""
    for r in range(keys.shape[0]):
        c = _uniform(keys[r], np.uint64(0), 0) >= _CLEAR_FRACTION
        cloudy[r] = c
        regime = 1 if c else 0
        x[r] = _MEAN[regime] + _SIGMA[regime] * _normal(keys[r], np.uint64(0))


@njit(cache=True)
def _advance(
    rows: npt.NDArray[np.intp],
    keys: npt.NDArray[np.uint64],
    counters: npt.NDArray[np.uint64],
    cloudy: npt.NDArray[np.bool_],
    x: FloatArray,
    step: FloatArray,
    k_out: FloatArray,
) -> None:
    """One step of ``rows`` with the step's (switch probability, decay, noise) per regime."""
    for k in range(rows.shape[0]):
        r = rows[k]
        key = keys[r]
        n = counters[r]
        c = cloudy[r]
        regime = 1 if c else 0
        if _uniform(key, n, 0) < step[regime]:
            c = not c
            regime = 1 - regime
        mean = _MEAN[regime]
        value = mean + (x[r] - mean) * step[2 + regime] + step[4 + regime] * _normal(key, n)
        x[r] = value
        cloudy[r] = c
        counters[r] = n + np.uint64(1)
        k_out[k] = min(_K_MAX, max(_K_MIN, value))


@njit(cache=True)
def _keys(seeds: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The stream key H(s) of each seed."""
    keys = np.empty_like(seeds)
    for r in range(seeds.shape[0]):
        keys[r] = _mix(seeds[r])
    return keys


class CloudArray:
    """The clear-sky index of N seeded skies (see the module docstring).

    ``advance(rows, dt_s)`` moves the skies of ``rows`` (an index array) forward by ``dt_s``
    seconds and returns their new k; a sky's sequence depends only on its seed and the ``dt_s``
    values it was advanced by. The rows are not checked (the compiled loop indexes with them):
    the caller passes rows of this array (``PvFleet`` checks its own).
    """

    CLEAR_FRACTION = _CLEAR_FRACTION
    """Long-run fraction of time in the clear regime: 3 h / (3 h + 1 h)."""
    K_MIN = _K_MIN
    K_MAX = _K_MAX

    __slots__ = ("_cached", "_cloudy", "_counters", "_keys", "_x")

    def __init__(self, seeds: Sequence[int]) -> None:
        n = len(seeds)
        self._keys = _keys(np.array([s % 2**64 for s in seeds], dtype=np.uint64))
        self._cloudy = np.zeros(n, dtype=np.bool_)
        self._x: FloatArray = np.zeros(n)
        _start(self._keys, self._cloudy, self._x)
        self._counters = np.ones(n, dtype=np.uint64)
        self._cached: tuple[float, FloatArray] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def clear_sky_index(self, rows: npt.NDArray[np.intp]) -> FloatArray:
        """The present k of ``rows``, clamped to [0.1, 1.0]."""
        return np.clip(self._x[rows], self.K_MIN, self.K_MAX)

    def cloudy(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """True where a sky is in the cloudy regime."""
        return self._cloudy[rows]

    def advance(self, rows: npt.NDArray[np.intp], dt_s: float) -> FloatArray:
        """Advance ``rows`` by ``dt_s`` simulated seconds (≤ 0 or NaN: unchanged); their k."""
        if not dt_s > 0.0:
            return self.clear_sky_index(rows)
        k = np.empty(rows.shape[0])
        _advance(rows, self._keys, self._counters, self._cloudy, self._x, self._step(dt_s), k)
        return k

    def _step(self, dt_s: float) -> FloatArray:
        """(switch probability from clear, from cloudy; OU decays; OU noises) for ``dt_s``."""
        cached = self._cached
        if cached is not None and cached[0] == dt_s:
            return cached[1]
        rate_clear = 1.0 / _DWELL_S[0]
        rate_cloudy = 1.0 / _DWELL_S[1]
        total = rate_clear + rate_cloudy
        mix = -math.expm1(-dt_s * total)
        # From clear, switch with prob π_cloudy·mix; from cloudy, with prob π_clear·mix.
        values = np.array(
            [
                rate_clear / total * mix,
                rate_cloudy / total * mix,
                math.exp(-dt_s / _TAU_S[0]),
                math.exp(-dt_s / _TAU_S[1]),
                _SIGMA[0] * math.sqrt(-math.expm1(-2.0 * dt_s / _TAU_S[0])),
                _SIGMA[1] * math.sqrt(-math.expm1(-2.0 * dt_s / _TAU_S[1])),
            ]
        )
        self._cached = (dt_s, values)
        return values


class CloudModel:
    """One seeded sky: a ``CloudArray`` of one (the same stream as in a fleet)."""

    CLEAR_FRACTION = _CLEAR_FRACTION
    K_MIN = _K_MIN
    K_MAX = _K_MAX

    __slots__ = ("_array",)

    _ROW = np.zeros(1, dtype=np.intp)

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
