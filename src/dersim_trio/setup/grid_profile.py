"""``--grid_profile FILE``: a grid event (``grid.events``) read from CSV at start.

The same as a ``POST /api/dersim/grid-events`` body for every device, as a table (read by
``csv_rows.py``: comma-separated, UTF-8, ``#`` lines and blank lines ignored; one header row):

* ``t_s``: simulated seconds since the simulator start; the first row at 0, never decreasing;
  two rows at the same time make a step, values ramp linearly between rows;
* then a voltage, a frequency or both: ``v_pu`` (every phase, 0..1.5) or the three per-phase
  line-to-neutral columns ``v_a_pu``, ``v_b_pu``, ``v_c_pu`` (three-phase devices), and
  ``freq_hz`` (45..65). An empty cell leaves that quantity without a point at that time (so
  voltage and frequency may change at different times); a series' first point must still be
  at 0.

Example (a 10 s sag to 0.60 pu, mandatory operation for category III, then a frequency ramp
to 60.5 Hz that the frequency droop answers)::

    t_s,v_pu,freq_hz
    0,1.00,60
    5,1.00,
    5,0.60,
    15,0.60,
    15,1.00,
    20,,60
    30,,60.5

Past its last row the event holds the last values and says so in the log. Every problem is a
``ConfigError`` ``--grid_profile FILE: line N: <problem>`` (line 1 is the header).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from dersim_trio.errors import ConfigError
from dersim_trio.grid.events import MAX_POINTS, GridEvent, Phases, Series
from dersim_trio.setup.csv_rows import read_csv_rows

VOLTAGE_RANGE = (0.0, 1.5)
FREQUENCY_RANGE = (45.0, 65.0)
_PHASE_COLUMNS = ("v_a_pu", "v_b_pu", "v_c_pu")
_EXPECTED = "t_s, then v_pu (or v_a_pu, v_b_pu, v_c_pu) and/or freq_hz"
Fail = Callable[[int, str], ConfigError]


def load_grid_profile(path: Path) -> GridEvent:
    """Read ``--grid_profile``; raise ``ConfigError`` naming the line (see the module doc)."""
    where = f"--grid_profile {path}"

    def fail(line: int, problem: str) -> ConfigError:
        return ConfigError(f"{where}: line {line}: {problem}")

    try:
        rows = read_csv_rows(path)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not rows:
        raise fail(1, f"empty file (expected a header: {_EXPECTED})")
    header_line, names = rows[0]
    if not names or names[0] != "t_s":
        raise fail(header_line, f"the first column must be t_s (expected: {_EXPECTED})")
    columns = names[1:]
    allowed = {"v_pu", "freq_hz", *_PHASE_COLUMNS}
    for name in columns:
        if name not in allowed or columns.count(name) > 1:
            raise fail(header_line, f"unexpected column {name!r} (expected: {_EXPECTED})")
    phases = [c for c in _PHASE_COLUMNS if c in columns]
    if phases and (len(phases) != 3 or "v_pu" in columns):
        raise fail(header_line, "per-phase voltage needs v_a_pu, v_b_pu and v_c_pu, without v_pu")
    if not columns:
        raise fail(header_line, f"no value column (expected: {_EXPECTED})")
    v_times: list[float] = []
    v_values: list[Phases] = []
    f_times: list[float] = []
    f_values: list[Phases] = []
    last_t = -math.inf
    for line, row in rows[1:]:
        if len(row) != len(names):
            raise fail(line, f"expected {len(names)} cells ({', '.join(names)}), got {len(row)}")
        cells = dict(zip(names, row, strict=True))
        t = _number(cells["t_s"])
        if t is None or t < 0.0:
            raise fail(line, f"t_s must be a number >= 0, got {cells['t_s']!r}")
        if t < last_t:
            raise fail(line, f"t_s {t:g} is before the previous row's {last_t:g}")
        last_t = t
        voltage = _voltage(cells, phases, line, fail)
        if voltage is not None:
            if not v_times and t != 0.0:
                raise fail(line, "the voltage series must start at t_s 0")
            v_times.append(t)
            v_values.append(voltage)
        raw_f = cells.get("freq_hz", "")
        if raw_f:
            f = _checked(raw_f, "freq_hz", FREQUENCY_RANGE, line, fail)
            if not f_times and t != 0.0:
                raise fail(line, "the frequency series must start at t_s 0")
            f_times.append(t)
            f_values.append((f, f, f))
    if not v_times and not f_times:
        raise fail(rows[-1][0], "no data rows with values")
    if len(v_times) > MAX_POINTS or len(f_times) > MAX_POINTS:
        raise fail(rows[-1][0], f"at most {MAX_POINTS} points per series")
    return GridEvent(
        start_s=0.0,
        voltage=Series(tuple(v_times), tuple(v_values)) if v_times else None,
        frequency=Series(tuple(f_times), tuple(f_values)) if f_times else None,
        source=path.name,
    )


def uses_phases(event: GridEvent) -> bool:
    """True when the event's voltage is unbalanced at some point (three-phase devices only)."""
    return event.voltage is not None and any(not a == b == c for a, b, c in event.voltage.values)


def _voltage(cells: dict[str, str], phases: list[str], line: int, fail: Fail) -> Phases | None:
    if phases:
        raw = [cells[c] for c in phases]
        if not any(raw):
            return None
        if not all(raw):
            raise fail(line, "give all three of v_a_pu, v_b_pu, v_c_pu or none")
        a, b, c = (
            _checked(x, n, VOLTAGE_RANGE, line, fail) for x, n in zip(raw, phases, strict=True)
        )
        return (a, b, c)
    raw_v = cells.get("v_pu", "")
    if not raw_v:
        return None
    v = _checked(raw_v, "v_pu", VOLTAGE_RANGE, line, fail)
    return (v, v, v)


def _checked(raw: str, name: str, span: tuple[float, float], line: int, fail: Fail) -> float:
    value = _number(raw)
    if value is None:
        raise fail(line, f"{name}: not a number: {raw!r}")
    lo, hi = span
    if not lo <= value <= hi:
        raise fail(line, f"{name}: {value:g} is outside {lo:g}..{hi:g}")
    return value


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
