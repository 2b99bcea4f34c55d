"""Reads the bundled rotor performance tables (``data/wind/``) for the wind physics.

The files are in the format the ROSCO toolbox writes (``Cp_Ct_Cq.*.txt``): comment lines
starting with ``#``; a ``# Pitch angle vector`` line followed by one line of pitch angles in
degrees; a ``# TSR vector`` line followed by one line of tip-speed ratios; then the
``# Power coefficient``, ``#  Thrust coefficient`` and ``# Torque coefficient`` blocks, one row
per tip-speed ratio and one column per pitch angle. The model uses the power coefficients (its
torque is C_q = C_p/λ; no thrust is modelled); the other two blocks are read only to check the
file's shape. Sources and licence: ``data/wind/ATTRIBUTION.md``.
"""

from __future__ import annotations

import functools
from importlib import resources

from dersim_trio.physics.wind.aero import RotorPerformance

_PACKAGE = "dersim_trio.data.wind"


def _numbers(line: str, name: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in line.split())
    except ValueError:
        raise ValueError(f"{name}: {what} is not a list of numbers") from None


def parse_rotor_table(text: str, name: str) -> RotorPerformance:
    """Parse one ROSCO-format rotor performance file (module docstring)."""
    lines = [line.strip() for line in text.splitlines()]

    def data_after(marker: str, count: int) -> list[tuple[float, ...]]:
        start = next((k for k, line in enumerate(lines) if line.startswith(marker)), None)
        if start is None:
            raise ValueError(f"{name}: no '{marker}' block")
        rows: list[tuple[float, ...]] = []
        for line in lines[start + 1 :]:
            if len(rows) == count:
                break
            if not line:
                continue
            if line.startswith("#"):
                break
            rows.append(_numbers(line, name, marker))
        if len(rows) != count:
            raise ValueError(f"{name}: '{marker}' has {len(rows)} rows, expected {count}")
        return rows

    pitch = data_after("# Pitch angle vector", 1)[0]
    tsr = data_after("# TSR vector", 1)[0]
    power = data_after("# Power coefficient", len(tsr))
    for marker in ("#  Thrust coefficient", "# Torque coefficient"):
        if any(len(row) != len(pitch) for row in data_after(marker, len(tsr))):
            raise ValueError(f"{name}: the '{marker}' table does not match the axes")
    return RotorPerformance(name=name, pitch_deg=pitch, tip_speed_ratio=tsr, power=tuple(power))


@functools.cache
def rotor_performance(file_name: str) -> RotorPerformance:
    """The bundled table ``data/wind/<file_name>`` (read once per process)."""
    text = resources.files(_PACKAGE).joinpath(file_name).read_text(encoding="ascii")
    return parse_rotor_table(text, file_name)
