"""The one CSV reader behind every ``--dc_profile`` kind (input series and EV session schedules).

Format rules shared by all of them: UTF-8 text (a byte-order mark is allowed), comma separated
(the ``csv`` module's default dialect, so quoted cells work), blank lines and lines whose first
cell starts with ``#`` are ignored. Cells are returned with surrounding blanks stripped, each row
with its physical line number (1-based) so that callers can name the line in an error. What the
columns mean is the caller's business (``dc_profiles.py``, ``ev_sessions_csv.py``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple


class CsvRow(NamedTuple):
    """One non-blank, non-comment CSV row."""

    line: int
    """Physical line number in the file, 1-based."""
    cells: list[str]
    """The row's cells, blanks stripped."""


def csv_rows(text: str) -> list[CsvRow]:
    """The data-bearing rows of CSV ``text`` (header included), in file order."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    return [
        CsvRow(reader.line_num, [cell.strip() for cell in row])
        for row in reader
        if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]


def read_csv_rows(path: Path) -> list[CsvRow]:
    """``csv_rows`` of a file; raise ``ValueError`` with one line when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or exc}") from None
    return csv_rows(text)
