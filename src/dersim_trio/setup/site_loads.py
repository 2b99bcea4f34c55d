"""Reads the bundled site load shapes (``data/loads/``) for the hybrid's site load.

``h25.csv`` (households) and ``g25.csv`` (trade, commerce, services) are BDEW standard load
profiles as demandlib packages them (sources and licence: ``data/loads/ATTRIBUTION.md``): a first
header row of month names (``Januar`` … ``Dezember``, three columns each), a second of day types
(``SA``, ``FT``, ``WT``), then 96 rows, one per quarter hour, whose first cell names the quarter
hour and whose other cells are kWh per quarter hour for 1 GWh a year. Parsed with the project's
CSV reader (``csv_rows.py``) into ``physics.site_load.LoadShape``.
"""

from __future__ import annotations

import functools
from importlib import resources

from dersim_trio.physics.site_load import DAY_TYPES, QUARTERS_PER_DAY, LoadShape, SiteLoadKind
from dersim_trio.setup.csv_rows import csv_rows

_PACKAGE = "dersim_trio.data.loads"
_MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)
_FILES: dict[SiteLoadKind, tuple[str, str, bool]] = {
    "residential": ("h25.csv", "H25", True),
    "commercial": ("g25.csv", "G25", False),
}

DEFAULT_KWH_PER_YEAR: dict[SiteLoadKind, float] = {"residential": 5000.0, "commercial": 30000.0}
"""Yearly energy of the site when ``--hybrid_site_load_kwh`` is not given (our choice: a home
with a 10 kW array, a small business)."""


def parse_load_shape(text: str, name: str, dynamic: bool) -> LoadShape:
    """Parse one BDEW table in demandlib's layout (module docstring)."""
    rows = csv_rows(text)
    if len(rows) != 2 + QUARTERS_PER_DAY:
        raise ValueError(f"{name}: expected 2 header rows and {QUARTERS_PER_DAY} quarter hours")
    months, day_types = rows[0].cells[1:], rows[1].cells[1:]
    columns: dict[tuple[str, str], int] = {}
    for i, (month, day_type) in enumerate(zip(months, day_types, strict=True)):
        columns[(month, day_type)] = i + 1
    table: list[tuple[tuple[float, ...], ...]] = []
    for month in _MONTHS:
        days: list[tuple[float, ...]] = []
        for day_type in DAY_TYPES:
            column = columns.get((month, day_type))
            if column is None:
                raise ValueError(f"{name}: no column for {month} {day_type}")
            days.append(tuple(float(row.cells[column]) for row in rows[2:]))
        table.append(tuple(days))
    return LoadShape(name=name, quarter_hour_kwh=tuple(table), dynamic=dynamic)


@functools.cache
def load_shape(kind: SiteLoadKind) -> LoadShape:
    """The bundled load shape of a site kind (parsed once per process)."""
    file, name, dynamic = _FILES[kind]
    text = resources.files(_PACKAGE).joinpath(file).read_text("utf-8")
    return parse_load_shape(text, name, dynamic)
