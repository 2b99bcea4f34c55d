"""Nameplate files (``-f``): SunSpec ``<model>.<point>`` keys change the device models.

Contract §1 (``-f FILE``: bundled by default, EVSE profiles refused with a pointer to
``--evse_profile``, bad files exit 2 with one line); documented behaviour §5.5 (key naming,
701 energy seeds); physics reference B.8 (the SunSpec points).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dersim_trio.cli import main
from dersim_trio.engine.core import Engine
from dersim_trio.physics.battery import BatteryModel, BatteryNameplate
from dersim_trio.physics.fuelcell.model import FuelCellModel
from dersim_trio.physics.fuelcell.stacks import fuelcell_nameplate
from dersim_trio.physics.pv import PvModel, PvNameplate
from dersim_trio.physics.wind import WindModel, iea_15mw_nameplate, nrel_5mw_nameplate
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import ConfigError, parse_args
from dersim_trio.setup.nameplates import BUNDLED, apply_pv_nameplate, load_nameplate

WALL = datetime(2026, 6, 21, 12, 0, 0, tzinfo=UTC)
NOON = ("--start_date", "2026-06-21", "--start_clock_time", "12:00:00")
DATA = Path(__file__).parents[1] / "src" / "dersim_trio" / "data" / "nameplates"


def engine_for(*argv: str) -> Engine:
    return build_engine(parse_args([*NOON, *argv]), WALL)


def bundled_argv(name: str) -> list[str]:
    entry = next(b for b in BUNDLED if b.name == name)
    argv = ["-d", entry.device_types[0], "-f", name]
    if entry.fuelcell is not None:
        chemistry, mode, fuel = entry.fuelcell
        argv += ["--fuelcell_chemistry", chemistry, "--fuelcell_mode", mode]
        argv += ["--fuelcell_fuel", fuel]
    return argv


def test_every_json_file_in_the_data_folder_is_a_listed_bundled_nameplate() -> None:
    assert {p.stem for p in DATA.glob("*.json")} == {b.name for b in BUNDLED}


@pytest.mark.parametrize("name", [b.name for b in BUNDLED])
def test_every_bundled_nameplate_loads_and_sets_the_rating_and_nominal_voltage(name: str) -> None:
    points = json.loads((DATA / f"{name}.json").read_text())
    engine = engine_for(*bundled_argv(name))
    slot = engine.devices[0]
    assert slot.model.rating.w_max_kw == pytest.approx(points["702.WMaxRtg"] / 1000.0)
    snap = engine.initial()[0]
    assert snap.metrics.voltage_ll_v == pytest.approx(points["702.VNom"])
    assert snap.device_profile_name == name


def test_the_commercial_pv_nameplate_gives_a_500_kw_inverter_on_a_700_kw_800_v_array() -> None:
    model = engine_for("-f", "500kW-3Phase.json").devices[0].model
    assert isinstance(model, PvModel)
    assert model.rating.w_max_kw == pytest.approx(500.0)
    plate = model.nameplate
    assert plate.dc_rating_kw == pytest.approx(700.0)
    assert plate.v_mp_stc_v == pytest.approx(800.0)
    assert plate.mppt_v_min_v < plate.v_mp_stc_v < plate.mppt_v_max_v
    assert (plate.mppt_v_min_v, plate.mppt_v_max_v) == (550.0, 1000.0)
    assert plate.start_threshold_kw == pytest.approx(3.5)  # 0.7 % of WMax, as the 10 kW default


def test_the_default_bundled_nameplates_match_the_model_defaults() -> None:
    """The files behind "bundled by default" describe exactly what runs without ``-f``."""
    pv = engine_for("-f", "10kW-3Phase").devices[0].model
    assert isinstance(pv, PvModel)
    assert pv.nameplate == PvNameplate()
    batt = engine_for("-d", "Batt", "-f", "Batt-10kW-15kWh-3Phase").devices[0].model
    assert isinstance(batt, BatteryModel)
    assert batt.nameplate.ac_voltage_v == 480.0  # 702.VNom, the default three-phase voltage
    assert replace(batt.nameplate, ac_voltage_v=None) == BatteryNameplate()
    assert batt.nameplate.series_cells == BatteryNameplate().series_cells
    t3 = engine_for("-d", "Wind-T3-3Phase", "-f", "Wind-NREL-5MW").devices[0].model
    t4 = engine_for("-d", "Wind-T4-3Phase", "-f", "Wind-IEA-15MW").devices[0].model
    assert isinstance(t3, WindModel)
    assert isinstance(t4, WindModel)
    assert (t3.nameplate, t4.nameplate) == (nrel_5mw_nameplate(), iea_15mw_nameplate())
    for entry in BUNDLED:
        if entry.fuelcell is not None:
            fc = engine_for(*bundled_argv(entry.name)).devices[0].model
            assert isinstance(fc, FuelCellModel)
            assert fc.nameplate == fuelcell_nameplate(*entry.fuelcell)


def test_the_lfp_battery_nameplate_sets_chemistry_energy_and_soc_window() -> None:
    model = engine_for("-d", "Batt", "-f", "Batt-LFP-100kW-200kWh-3Phase").devices[0].model
    assert isinstance(model, BatteryModel)
    plate = model.nameplate
    assert (plate.chemistry, plate.energy_kwh, plate.w_charge_max_kw) == ("LFP", 200.0, 100.0)
    assert (plate.soc_min_pct, plate.soc_reserve_min_pct) == (0.0, 5.0)
    assert (plate.soc_reserve_max_pct, plate.soc_max_pct) == (95.0, 100.0)
    # 480 V three-phase from an LFP pack usable down to 0 %: 272 cells, 680-993 V open-circuit
    assert plate.series_cells == 272
    assert 272 * 2.5 >= 2**0.5 * 480.0
    assert plate.cell_capacity_ah == pytest.approx(200000.0 / (272 * 3.30))


def write(tmp_path: Path, body: object, name: str = "plate.json") -> Path:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def test_a_user_nameplate_maps_sunspec_units_onto_the_model(tmp_path: Path) -> None:
    path = write(tmp_path, {"702.WMaxRtg": 8000, "714.Prt[0].DCW": 9600, "702.VNom": 208})
    engine = engine_for("-f", str(path))
    model = engine.devices[0].model
    assert isinstance(model, PvModel)
    assert model.rating.w_max_kw == 8.0
    assert model.rating.var_max_inj_kvar == pytest.approx(0.44 * 8.0)
    assert model.rating.va_max_kva == pytest.approx(math.hypot(8.0, 0.44 * 8.0))
    assert model.nameplate.dc_rating_kw == pytest.approx(9.6)
    assert engine.devices[0].voltage_ln_nominal_v == pytest.approx(208.0 / math.sqrt(3.0))


def test_vnom_of_a_split_phase_device_is_the_240_v_leg_to_leg_voltage(tmp_path: Path) -> None:
    path = write(tmp_path, {"701.ACType": "split", "702.VNom": 240})
    slot = engine_for("-d", "PV-2Phase", "-f", str(path)).devices[0]
    assert slot.voltage_ln_nominal_v == pytest.approx(120.0)


def test_a_wind_turbine_defaults_to_690_v_line_to_line() -> None:
    snap = engine_for("-d", "Wind-T3-3Phase").initial()[0]
    assert snap.metrics.voltage_ll_v == pytest.approx(690.0)


def test_energy_seeds_sum_the_phases_into_the_snapshot_energy(tmp_path: Path) -> None:
    seeds = {"701.TotWhInjL1": 1000, "701.TotWhInjL2": 2000, "701.TotWhInjL3": 3000}
    seeds |= {"701.TotWhAbsL1": 500, "701.TotVarhInjL2": 250, "701.TotVarhAbsL3": 125}
    path = write(tmp_path, seeds)
    snap = engine_for("-d", "Batt", "-N", "2", "-f", str(path)).initial()[1]
    assert snap.energy.injected_kwh == pytest.approx(6.0)
    assert snap.energy.absorbed_kwh == pytest.approx(0.5)
    assert snap.energy.reactive_injected_kvarh == pytest.approx(0.25)
    assert snap.energy.reactive_absorbed_kvarh == pytest.approx(0.125)


BAD_FILES: list[tuple[str, object, str, list[str]]] = [
    ("wrong key", {"702.WMax": 1}, "PV", ["702.WMax: unknown key for PV-3Phase", "702.WMaxRtg"]),
    ("wrong type", {"702.WMaxRtg": "10000"}, "PV", ["702.WMaxRtg:", "allowed: a number"]),
    ("bool for int", {"1.DA": True}, "PV", ["1.DA:", "allowed: an integer in [1, 247]"]),
    ("negative", {"702.WMaxRtg": -5}, "PV", ["702.WMaxRtg: must be greater than 0", "got -5"]),
    ("out of range", {"802.SoCMax": 120}, "Batt", ["802.SoCMax:", "allowed: a number in [0, 100]"]),
    ("not finite", '{"702.WMaxRtg": NaN}', "PV", ["702.WMaxRtg: must be a finite number"]),
    ("chemistry", {"802.Typ": "NiCd"}, "Batt", ["802.Typ:", "(allowed: NMC, LFP)"]),
    ("evse file", {"connectors": [{"max_kw": 22}]}, "PV", ["EVSE profile", "--evse_profile"]),
    ("bad json", '{\n  "702.WMaxRtg": 10000,,\n}', "PV", ["invalid JSON at line 2 column"]),
    ("not an object", "[1, 2]", "PV", ["expected a JSON object", "allowed: 1.DA"]),
    ("not for type", {"713.WHRtg": 15000}, "PV", ["713.WHRtg: does not apply to device type PV"]),
    ("ac type", {"701.ACType": "single"}, "PV", ["701.ACType: 'single' does not match", "three"]),
    ("va below w", {"702.WMaxRtg": 10000, "702.VAMaxRtg": 9000}, "PV", ["702.VAMaxRtg:"]),
    ("soc order", {"802.SoCRsvMin": 60, "802.SocRsvMax": 50}, "Batt", ["SoCRsvMin", "50"]),
    ("mppt", {"714.Prt[0].DCV": 700, "dersim.MpptVMax": 600}, "PV", ["714.Prt[0].DCV: Vmp"]),
]


@pytest.mark.parametrize(
    ("body", "device_type", "fragments"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_each_bad_nameplate_is_one_config_error_line_naming_f_and_the_key(
    tmp_path: Path, body: object, device_type: str, fragments: list[str]
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        engine_for("-d", device_type, "-f", str(path))
    message = str(info.value)
    assert message.startswith(f"-f {path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_a_bundled_nameplate_for_another_device_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"-f 10kW-1Phase: bundled nameplate for PV-1Phase"):
        engine_for("-f", "10kW-1Phase")


def test_a_bundled_fuel_cell_nameplate_names_the_flags_it_needs() -> None:
    with pytest.raises(ConfigError, match="--fuelcell_chemistry SOFC --fuelcell_mode fc_only"):
        engine_for("-d", "Fuelcell-3Phase", "-f", "Fuelcell-SOFC-200kW-pipeline")


def test_an_unknown_name_lists_the_bundled_nameplates() -> None:
    with pytest.raises(ConfigError, match=r"^-f: 'nope' is neither .*500kW-3Phase"):
        parse_args(["-f", "nope"])


def test_pv_nameplate_keeps_unset_fields(tmp_path: Path) -> None:
    plate = load_nameplate(write(tmp_path, {"714.Prt[0].DCW": 12000}), "PV-3Phase")
    assert apply_pv_nameplate(plate, PvNameplate()) == PvNameplate(dc_rating_kw=12.0)


def test_list_profiles_prints_every_bundled_nameplate_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--list-profiles"]) == 0
    out = capsys.readouterr().out
    for entry in BUNDLED:
        assert entry.name in out
        assert entry.device_types[0] in out


def test_main_exits_2_with_one_line_for_a_bad_nameplate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "{not json", "bad.json")
    assert main(["-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"-f {path}: invalid JSON at line 1 column 2" in err


def test_pv_orientation_comes_from_the_flags_and_a_nameplate_overrides_it(tmp_path: Path) -> None:
    """``--pv_tilt_deg``/``--pv_azimuth_deg`` (default 20° facing the equator) and the
    ``dersim.Tilt``/``dersim.Azimuth`` nameplate keys."""
    default = engine_for("-d", "PV-3Phase").devices[0].model
    assert isinstance(default, PvModel)
    assert default.nameplate.geometry == (20.0, 180.0)
    south = engine_for("-d", "PV-3Phase", "--latitude", "-33.9").devices[0].model
    assert isinstance(south, PvModel)
    assert south.nameplate.geometry == (20.0, 0.0)
    flagged = engine_for("-d", "PV-3Phase", "--pv_tilt_deg", "30", "--pv_azimuth_deg", "270")
    flagged_model = flagged.devices[0].model
    assert isinstance(flagged_model, PvModel)
    assert flagged_model.nameplate.geometry == (30.0, 270.0)
    path = write(tmp_path, {"dersim.Tilt": 10, "dersim.Azimuth": 90})
    filed = engine_for("-d", "PV-3Phase", "--pv_tilt_deg", "30", "-f", str(path))
    filed_model = filed.devices[0].model
    assert isinstance(filed_model, PvModel)
    assert filed_model.nameplate.geometry == (10.0, 90.0)


def test_a_pv_nameplate_without_va_can_deliver_its_vars_at_full_power(tmp_path: Path) -> None:
    """No ``702.VAMaxRtg``: VA = √(W² + Var²) (the physics-fidelity issue)."""
    path = write(tmp_path, {"702.WMaxRtg": 8000, "702.VarMaxInjRtg": 3000})
    model = engine_for("-d", "PV-3Phase", "-f", str(path)).devices[0].model
    assert model.rating.va_max_kva == pytest.approx(math.hypot(8.0, 0.44 * 8.0), rel=1e-9)
    assert model.rating.var_max_inj_kvar == pytest.approx(3.0)


def test_an_out_of_range_tilt_in_a_nameplate_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"dersim.Tilt": 120})
    with pytest.raises(ConfigError, match=r"dersim\.Tilt"):
        engine_for("-d", "PV-3Phase", "-f", str(path))
