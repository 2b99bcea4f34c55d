"""EVSE station specs from ``--evse_profile``: the bundled stations and custom JSON files.

Documented behaviour §4.6 (six bundled stations, custom JSON of the same shape); bad files give
one ``ValueError`` line naming the field, its allowed range and the offending value.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dersim_trio.errors import ConfigError
from dersim_trio.physics.evse.spec import DEFAULT_STATION_NAME
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import parse_args
from dersim_trio.setup.evse_stations import bundled_station_names, load_station_spec
from dersim_trio.setup.nameplates import list_profiles_text

BUNDLED = [
    "EVSE-AC-22kW-1port",
    "EVSE-AC-7.4kW-2port",
    "EVSE-DC-150kW-CCS-1port",
    "EVSE-DC-350kW-CCS-2port",
    "EVSE-Hybrid-2DC-1AC",
    "EVSE-V2G-DC-50kW-bidir",
]


def test_the_six_documented_profiles_are_bundled() -> None:
    """Documented behaviour §4.6 lists exactly these six bundled EVSE profiles."""
    assert bundled_station_names() == sorted(BUNDLED)
    for name in BUNDLED:
        assert load_station_spec(name).name == name
        assert load_station_spec(name + ".json") == load_station_spec(name)


def test_the_default_station_is_the_22kw_ac_single_port() -> None:
    assert DEFAULT_STATION_NAME == "EVSE-AC-22kW-1port"
    assert load_station_spec().name == "EVSE-AC-22kW-1port"


def test_list_profiles_names_every_bundled_station() -> None:
    text = list_profiles_text()
    for name in BUNDLED:
        assert f"  {name}" in text


def write(tmp_path: Path, content: str) -> str:
    path = tmp_path / "custom.json"
    path.write_text(content, encoding="utf-8")
    return str(path)


def custom(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = load_station_spec("EVSE-Hybrid-2DC-1AC").model_dump()
    data.update(changes)
    return data


BAD_KIND = {"id": 1, "kind": "XX", "max_power_kw": 1, "max_current_a": 1}
TOO_POWERFUL = {"id": 1, "kind": "DC", "max_power_kw": 2000, "max_current_a": 1}
AC_WITHOUT_PHASES = {"id": 1, "kind": "AC", "max_power_kw": 7, "max_current_a": 32}


def test_a_custom_json_file_of_the_same_shape_loads(tmp_path: Path) -> None:
    """Documented behaviour §4.6: custom JSON 'with the same shape' is accepted."""
    data = custom()
    del data["name"]
    profile = load_station_spec(write(tmp_path, json.dumps(data)))
    assert profile.name == "custom"  # the file stem when the JSON has no name
    assert len(profile.connectors) == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"name": "x",\n  "connectors": [}',
            r"invalid JSON at line 2, column 18: Expecting value",
        ),
        ("[1, 2]", r"the top level must be a JSON object"),
        (
            json.dumps(custom(grid_limit_kw=-5)),
            r"grid_limit_kw: Input should be greater than 0 \(allowed: > 0 and <= 10000\), "
            r"got -5",
        ),
        (
            json.dumps(custom(connectors=[BAD_KIND])),
            r"connectors\[0\]\.kind: Input should be 'AC' or 'DC', got 'XX'",
        ),
        (
            json.dumps(custom(connectors=[TOO_POWERFUL])),
            r"connectors\[0\]\.max_power_kw: .*less than or equal to 1000 "
            r"\(allowed: > 0 and <= 1000\), got 2000",
        ),
        (
            json.dumps(custom(connectors=[AC_WITHOUT_PHASES])),
            r"connectors\[0\]: an AC connector needs phases \(1 or 3\) and voltage_v",
        ),
        (json.dumps(custom(connectors=[])), r"connectors: List should have at least 1 item"),
        (json.dumps(custom(colour="red")), r"colour: Extra inputs are not permitted"),
        (json.dumps(custom(v2g=True)), r"v2g must be true exactly when a connector is bidirec"),
        (
            json.dumps(custom(backing_battery_power_kw=0)),
            r"backing_battery_kwh and backing_battery_power_kw must both be > 0 or both 0",
        ),
        (
            json.dumps({"name": "x"}),
            r"connectors: Field required$",
        ),
    ],
)
def test_a_bad_custom_profile_gives_one_clear_line(
    tmp_path: Path, content: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected) as info:
        load_station_spec(write(tmp_path, content))
    message = str(info.value)
    assert message.startswith("EVSE profile ")
    assert "\n" not in message


def test_duplicate_connector_ids_are_refused(tmp_path: Path) -> None:
    data = custom()
    data["connectors"][1]["id"] = 1
    with pytest.raises(ValueError, match=r"connector ids must be unique, got \[1, 1, 3\]"):
        load_station_spec(write(tmp_path, json.dumps(data)))


def test_a_missing_file_and_an_unknown_name_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^EVSE profile file not found: .*nope\.json$"):
        load_station_spec(str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match=r"^unknown EVSE profile 'EVSE-AC-99kW'; bundled") as info:
        load_station_spec("EVSE-AC-99kW")
    for name in BUNDLED:
        assert name in str(info.value)


# --- supply voltage ---------------------------------------------------------------------------

WALL = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", BUNDLED)
def test_the_bundled_stations_run_at_400_v_like_their_iec_connectors(name: str) -> None:
    """IEC 60038 230/400 V: Type 2 connectors at 230 V line-to-neutral sit on a 400 V supply,
    and the station's telemetry reports that supply (not the 480 V three-phase default)."""
    spec = load_station_spec(name)
    assert spec.supply_voltage_ll_v == 400.0
    for connector in spec.connectors:
        if connector.voltage_v is not None:
            assert connector.voltage_v == pytest.approx(400.0 / math.sqrt(3.0), rel=0.01)
    engine = build_engine(parse_args(["--evse_profile", name]), WALL)
    metrics = engine.initial()[0].metrics
    assert metrics.voltage_ll_v == pytest.approx(400.0)
    assert metrics.voltage_ln_v == pytest.approx(400.0 / math.sqrt(3.0))


def test_a_connector_voltage_that_does_not_fit_the_supply_is_refused(tmp_path: Path) -> None:
    data = custom(grid_voltage_v=480.0)
    with pytest.raises(
        ValueError, match=r"connector 3: voltage_v 230 V does not fit the station's 480 V supply"
    ):
        load_station_spec(write(tmp_path, json.dumps(data)))


def test_without_grid_voltage_the_supply_follows_the_ac_connectors(tmp_path: Path) -> None:
    """A North American station: J1772 single-phase 277 V connectors → 480 V supply; a
    single-phase 208 V connector between two lines of a 208 V supply also fits."""
    data = custom(grid_voltage_v=None)
    data["connectors"][2].update(voltage_v=277.0, phases=1)
    assert load_station_spec(write(tmp_path, json.dumps(data))).supply_voltage_ll_v == (
        pytest.approx(277.0 * math.sqrt(3.0))
    )
    data = custom(grid_voltage_v=208.0)
    data["connectors"][2].update(voltage_v=208.0, phases=1)
    assert load_station_spec(write(tmp_path, json.dumps(data))).supply_voltage_ll_v == 208.0
    dc_only = custom(grid_voltage_v=None, group_limit_kw=None)
    dc_only["connectors"] = dc_only["connectors"][:2]
    assert load_station_spec(write(tmp_path, json.dumps(dc_only))).supply_voltage_ll_v == 400.0


def test_a_nameplate_vnom_must_match_the_station_supply(tmp_path: Path) -> None:
    plate = tmp_path / "plate.json"
    plate.write_text(json.dumps({"702.VNom": 480}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"702\.VNom: 480 V contradicts the EVSE station's 400"):
        build_engine(parse_args(["-d", "EVSE", "-f", str(plate)]), WALL)
    plate.write_text(json.dumps({"702.VNom": 400}), encoding="utf-8")
    engine = build_engine(parse_args(["-d", "EVSE", "-f", str(plate)]), WALL)
    assert engine.initial()[0].metrics.voltage_ll_v == pytest.approx(400.0)
