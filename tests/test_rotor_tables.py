"""The bundled rotor performance tables and their reader (``setup/rotor_tables.py``)."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from dersim_trio.setup.rotor_tables import parse_rotor_table, rotor_performance

GOOD = """# ----- Rotor performance tables -----
# Pitch angle vector, 3 entries - x axis (matrix columns) (deg)
0.0   1.0   2.0
# TSR vector, 3 entries - y axis (matrix rows) (-)
6.0    7.0    8.0
# Wind speed vector - z axis (m/s)
11.4

# Power coefficient

0.40   0.39   0.37
0.45   0.44   0.41
0.44   0.42   0.38


#  Thrust coefficient

0.7   0.6   0.5
0.8   0.7   0.6
0.9   0.8   0.7


# Torque coefficient

0.07   0.06   0.06
0.06   0.06   0.06
0.05   0.05   0.05
"""


def test_a_rosco_format_table_is_read_into_arrays() -> None:
    table = parse_rotor_table(GOOD, "good")
    assert table.pitch_deg == (0.0, 1.0, 2.0)
    assert table.tip_speed_ratio == (6.0, 7.0, 8.0)
    assert table.power[1] == (0.45, 0.44, 0.41)
    assert table.peak() == (0.45, 7.0, 0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("# Power coefficient", "# Power"), "no '# Power coefficient' block"),
        (GOOD.replace("0.44   0.42   0.38\n", ""), "has 2 rows, expected 3"),
        (GOOD.replace("0.45   0.44   0.41", "0.45   x   0.41"), "not a list of numbers"),
        (GOOD.replace("6.0    7.0    8.0", "6.0    8.0    7.0"), "increasing"),
        (GOOD.replace("0.9   0.8   0.7", "0.9   0.8"), "does not match the axes"),
    ],
)
def test_a_malformed_table_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rotor_table(text, "bad")


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        (
            "Cp_Ct_Cq.NREL5MW.txt",
            "a8d9c2d88bd1d9073287256b042d7752d2202a01e611c08e283b9109504caf5b",
        ),
        (
            "Cp_Ct_Cq.IEA15MW.txt",
            "536345ba152428c42aac6bcee87d11f23685a31d2c9c1d264adb8df61fff25e1",
        ),
    ],
)
def test_the_bundled_tables_are_the_published_files_unchanged(name: str, sha256: str) -> None:
    """``data/wind/ATTRIBUTION.md``: ROSCO 2.10.6's files, redistributed unmodified."""
    data = resources.files("dersim_trio.data.wind").joinpath(name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert rotor_performance(name).name == name
