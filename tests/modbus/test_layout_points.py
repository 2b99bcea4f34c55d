"""SunSpec model layouts from pysunspec2's JSON, and point encoding.

Reference numbers: the model lengths ``L`` pysunspec2 1.3.7 computes for the SunSpec models
(model 1: 66, 701: 153, 702: 50, 703: 17, 704: 65, 713: 7, 715: 7, 802: 62; 705: 13 + NCrv·(10
+ 2·NPt); 711: 12 + 10·NCtl; 714: 18 + 25·NPrt), and the register of 704 ``WMaxLimPct`` in
pysunspec2's request trace of a 1/701/704 map (40240: model 1 at 40002, 701 at 40070, 704 at
40225, the point at offset 15). Sentinels: SunSpec's "not implemented" values, as
``sunspec2.mb.unimpl_value`` lists them.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import sunspec2.device
from hypothesis import given
from hypothesis import strategies as st
from sunspec2 import mb

from dersim_trio.protocols.modbus import layout
from dersim_trio.protocols.modbus.layout import PointDef, PointSlot, layout_model
from dersim_trio.protocols.modbus.points import (
    INT_TYPES,
    decode,
    encode_into,
    raw_to_scaled,
    scale_to_raw,
    sf_for_range,
)
from helpers import SUNSPEC_MODELS_DIR


@pytest.mark.parametrize(
    ("model_id", "counts", "length"),
    [
        (1, {}, 66),
        (701, {}, 153),
        (702, {}, 50),
        (703, {}, 17),
        (704, {}, 65),
        (713, {}, 7),
        (715, {}, 7),
        (802, {}, 62),
        (705, {"NCrv": 1, "NPt": 4}, 13 + 1 * (10 + 2 * 4)),
        (705, {"NCrv": 3, "NPt": 2}, 13 + 3 * (10 + 2 * 2)),
        (711, {"NCtl": 2}, 12 + 10 * 2),
        (714, {"NPrt": 2}, 18 + 25 * 2),
    ],
)
def test_model_lengths_are_the_ones_pysunspec2_computes(
    model_id: int, counts: dict[str, int], length: int
) -> None:
    assert layout_model(model_id, counts).length == length


def test_704_wmaxlimpct_sits_where_pysunspec2_writes_it() -> None:
    start = 40002 + layout_model(1).size + layout_model(701).size
    assert start + layout_model(704).by_path["WMaxLimPct"].offset == 40240


def test_repeated_groups_are_named_and_scaled_as_pysunspec2_names_them() -> None:
    vv = layout_model(705, {"NCrv": 2, "NPt": 4})
    slot = vv.by_path["Crv[2].Pt[3].V"]
    assert slot.sf_path == "V_SF"  # resolved at the model's top level
    assert vv.by_path["Crv[2].Pt[3].Var"].sf_path == "DeptRef_SF"
    trip = layout_model(707, {"NCrvSet": 1, "NPt": 2})
    assert "Crv[1].MustTrip.Pt[2].Tms" in trip.by_path
    dc = layout_model(714, {"NPrt": 1})
    assert dc.by_path["Prt[1].DCW"].sf_path == "DCW_SF"


def test_a_counted_group_without_its_count_is_refused() -> None:
    with pytest.raises(ValueError, match="NCrv"):
        layout_model(705)


def test_definitions_come_from_the_package_even_with_a_doctored_file_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pysunspec2's own loader searches the working directory first; ours never does."""
    genuine = layout_model(701).length
    doctored = json.loads((Path(SUNSPEC_MODELS_DIR) / "json" / "model_701.json").read_text())
    doctored["group"]["points"] = doctored["group"]["points"][:5]
    (tmp_path / "model_701.json").write_text(json.dumps(doctored))
    monkeypatch.chdir(tmp_path)
    saved = sunspec2.device.get_model_defs_path()
    sunspec2.device.set_model_defs_path([".", SUNSPEC_MODELS_DIR])  # pysunspec2's default
    try:
        trapped = sunspec2.device.get_model_def(701)
        assert len(trapped["group"]["points"]) == 5  # the trap is real
        layout.model_definition.cache_clear()
        assert layout_model(701).length == genuine
    finally:
        sunspec2.device.set_model_defs_path(saved)
        layout.model_definition.cache_clear()


def _slot(kind: str, size: int = 1, sf: str | None = None) -> PointSlot:
    return PointSlot("X", PointDef("X", kind, size, sf, False, False, False), 0, sf, None)


@pytest.mark.parametrize("kind", sorted(INT_TYPES))
def test_not_implemented_encodes_as_the_sunspec_sentinel(kind: str) -> None:
    int_type = INT_TYPES[kind]
    buf = bytearray(8)
    encode_into(buf, 0, _slot(kind, int_type.size), None, 0)
    (raw,) = int_type.fmt.unpack_from(buf)
    expected = mb.unimpl_value[kind]
    assert raw == (expected if int_type.fmt.format[-1].islower() else expected % (1 << 64))


@pytest.mark.parametrize(
    ("kind", "value", "raw"),
    [
        ("int16", -40000, -32767),  # never the 0x8000 sentinel
        ("int16", 40000, 32767),
        ("uint16", 70000, 65534),  # never 0xFFFF
        ("uint16", -5, 0),
        ("uint32", 2**33, 2**32 - 2),
        ("uint64", 2.0**70, 2**64 - 2),
        ("acc32", 2**32 + 5, 5),  # accumulators roll over
    ],
)
def test_a_live_value_is_clamped_short_of_its_sentinel(kind: str, value: float, raw: int) -> None:
    int_type = INT_TYPES[kind]
    buf = bytearray(8)
    encode_into(buf, 0, _slot(kind, int_type.size), value, 0)
    assert int_type.fmt.unpack_from(buf)[0] == raw


def test_32_and_64_bit_points_are_big_endian_words_included() -> None:
    buf = bytearray(8)
    encode_into(buf, 0, _slot("uint32", 2, "Hz_SF"), 60.001, -3)
    assert bytes(buf[:4]) == struct.pack(">I", 60001)
    encode_into(buf, 0, _slot("uint64", 4), 0x0102030405060708, 0)
    assert bytes(buf) == bytes(range(1, 9))


def test_strings_are_nul_padded_and_cut_at_a_character() -> None:
    buf = bytearray(8)
    encode_into(buf, 0, _slot("string", 4), "Mn", 0)
    assert bytes(buf) == b"Mn" + bytes(6)
    encode_into(buf, 0, _slot("string", 4), "abcdefgé", 0)  # é needs two bytes: dropped
    assert bytes(buf) == b"abcdefg\0"
    assert decode(_slot("string", 4), bytes(buf), 0) == "abcdefg"
    encode_into(buf, 0, _slot("string", 4), None, 0)
    assert bytes(buf) == bytes(8)
    assert decode(_slot("string", 4), bytes(buf), 0) is None


@given(st.floats(-3000, 3000, allow_nan=False), st.integers(-3, 2))
def test_scaling_is_within_half_a_step_and_decodes_back(value: float, sf: int) -> None:
    raw = scale_to_raw(value, sf)
    assert abs(raw_to_scaled(raw, sf) - value) <= 0.5 * 10.0**sf + 1e-9


def test_the_scale_factor_is_the_finest_that_fits() -> None:
    assert sf_for_range(15_000.0, "int16") == 0  # a 10 kW inverter: watts
    assert sf_for_range(7_500_000.0, "int16") == 3  # a 5 MW turbine: kilowatts
    assert sf_for_range(18.0, "int16") == -3
    assert sf_for_range(720.0, "uint16") == -1
