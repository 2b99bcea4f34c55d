"""Command line: a bad flag is a ``ConfigError`` naming the flag; ``main`` exits 2, one line.

Contract §1: "Bad flags or files: exit code 2 and one clear line naming the flag and the allowed
values."
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dersim_trio.cli import main
from dersim_trio.service import build as devices
from dersim_trio.service.build import build_engine, simulated_types
from dersim_trio.setup.config import (
    DEVICE_TYPE_ALIASES,
    FLAG_DEVICE_TYPES,
    ConfigError,
    build_parser,
    parse_args,
)
from dersim_trio.setup.evse_stations import bundled_station_names
from helpers import ROOT

if TYPE_CHECKING:
    from conftest import Kit

WALL = datetime(2026, 6, 21, 12, 0, 0, tzinfo=UTC)

BAD_VALUES: list[tuple[list[str], str]] = [
    (["-d", "Nope"], "--device_type"),
    (["--device_type", "pv3phase"], "--device_type"),
    (["-N", "0"], "--device_count"),
    (["-N", "-3"], "--device_count"),
    (["-N", "two"], "--device_count"),
    (["-N", "1.5"], "--device_count"),
    (["-N", "100001"], "--device_count"),
    (["-wp", "65536"], "--website_port"),
    (["-wp", "-1"], "--website_port"),
    (["-wp", "http"], "--website_port"),
    (["--periodic_time", "0"], "--periodic_time"),
    (["--periodic_time", "-1"], "--periodic_time"),
    (["--periodic_time", "nan"], "--periodic_time"),
    (["--periodic_time", "inf"], "--periodic_time"),
    (["--periodic_time", "fast"], "--periodic_time"),
    (["--periodic_time", "3601"], "--periodic_time"),
    (["--time_scale", "0"], "--time_scale"),
    (["--time_scale", "-60"], "--time_scale"),
    (["--time_scale", "x"], "--time_scale"),
    (["--time_scale", "1e7"], "--time_scale"),
    (["-wc", "maybe"], "--wall_clock"),
    (["-wc_tz", "Mars/Olympus_Mons"], "--wall_clock_timezone"),
    (["-wc_tz", "../../etc/passwd"], "--wall_clock_timezone"),
    (["--start_clock_time", "25:00:00"], "--start_clock_time"),
    (["--start_clock_time", "12:60:00"], "--start_clock_time"),
    (["--start_clock_time", "12:00:60"], "--start_clock_time"),
    (["--start_clock_time", "noon"], "--start_clock_time"),
    (["--start_clock_time", "12:00"], "--start_clock_time"),
    (["--start_date", "2026-13-01"], "--start_date"),
    (["--start_date", "21.06.2026"], "--start_date"),
    (["-f", "/nonexistent/nameplate.json"], "-f"),
    (["-dc_p", "/nonexistent/profile.csv"], "--dc_profile"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "abc"], "--seed"),
    (["--log_level", "LOUD"], "--log_level"),
    (["-d", "Wind-T3-3Phase", "--wind_anemometer_height_m", "0"], "--wind_anemometer_height_m"),
    (["--latitude", "91"], "--latitude"),
    (["--latitude", "north"], "--latitude"),
    (["--pv_tilt_deg", "95"], "--pv_tilt_deg"),
    (["--pv_tilt_deg", "flat"], "--pv_tilt_deg"),
    (["--pv_azimuth_deg", "360"], "--pv_azimuth_deg"),
    (["--pv_azimuth_deg", "south"], "--pv_azimuth_deg"),
    (["-d", "Fuelcell-3Phase", "--fuelcell_chemistry", "AFC"], "--fuelcell_chemistry"),
    (["-d", "Fuelcell-3Phase", "--fuelcell_mode", "both"], "--fuelcell_mode"),
    (["-d", "Fuelcell-3Phase", "--fuelcell_fuel", "air"], "--fuelcell_fuel"),
    (["-d", "HybridDC-3Phase", "--hybrid_pv_kw", "0"], "--hybrid_pv_kw"),
    (["-d", "HybridDC-3Phase", "--hybrid_batt_kw", "x"], "--hybrid_batt_kw"),
    (["-d", "HybridDC-3Phase", "--hybrid_batt_kwh", "-5"], "--hybrid_batt_kwh"),
    (["-d", "HybridDC-3Phase", "--hybrid_inverter_kva", "nan"], "--hybrid_inverter_kva"),
    (["-d", "HybridDC-3Phase", "--hybrid_soc_min_pct", "101"], "--hybrid_soc_min_pct"),
    (["-d", "HybridDC-3Phase", "--hybrid_soc_max_pct", "-1"], "--hybrid_soc_max_pct"),
    (
        ["-d", "HybridDC-3Phase", "--hybrid_soc_min_pct", "90", "--hybrid_soc_max_pct", "80"],
        "--hybrid_soc_min_pct",
    ),
    (["-d", "HybridDC-3Phase", "--hybrid_dispatch", "greedy"], "--hybrid_dispatch"),
    (["-d", "HybridDC-3Phase", "--hybrid_site_load", "industrial"], "--hybrid_site_load"),
    (["-d", "HybridDC-3Phase", "--hybrid_site_load_kwh", "-1"], "--hybrid_site_load_kwh"),
    (["--time_scale", "5", "--wall_clock", "yes"], "--time_scale"),
    (["-wc", "yes", "--start_clock_time", "08:00:00"], "--start_clock_time"),
    (["-wc", "yes", "--start_date", "2026-01-01"], "--start_date"),
    (["--bogus", "1"], "--bogus"),
    (["-d"], "--device_type"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_a_bad_flag_value_raises_config_error_naming_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(argv)
    message = str(info.value)
    assert flag in message
    assert "\n" not in message
    assert "applies only to" not in message  # each value is refused for itself


def test_a_non_number_time_scale_with_wall_clock_is_a_config_error() -> None:
    """``-wc yes --time_scale x`` must name --time_scale, not crash with a bare ValueError."""
    with pytest.raises(ConfigError, match="--time_scale"):
        parse_args(["-wc", "yes", "--time_scale", "x"])


def test_device_type_error_lists_every_allowed_value() -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(["-d", "Nope"])
    for name in DEVICE_TYPE_ALIASES:
        assert name in str(info.value)


def test_device_count_error_names_the_allowed_range() -> None:
    with pytest.raises(ConfigError, match=r"\[1, 100000\]"):
        parse_args(["-N", "0"])


def test_defaults_match_the_contract() -> None:
    config = parse_args([])
    assert config.device_type == "PV"
    assert config.canonical_type == "PV-3Phase"
    assert config.device_count == 1
    assert config.website_ip == "127.0.0.1"
    assert config.website_port == 8111
    assert config.periodic_time_s == 1.5
    assert config.time_scale == 1.0
    assert config.wall_clock is False
    assert config.timezone == "UTC"
    assert config.start_clock_time is None
    assert config.log_level == "INFO"


def test_aliases_resolve_to_canonical_types() -> None:
    assert parse_args(["-d", "Batt"]).canonical_type == "Batt-3Phase"
    assert parse_args(["-d", "PV"]).canonical_type == "PV-3Phase"
    assert parse_args(["-d", "Batt-1Phase"]).canonical_type == "Batt-1Phase"
    config = parse_args(["--evse_profile", "EVSE-AC-22kW-1port"])
    assert config.device_type == "EVSE"
    assert config.device_profile_name == "EVSE-AC-22kW-1port"


def test_good_values_parse_to_typed_fields(tmp_path: Path) -> None:
    nameplate = tmp_path / "my-inverter.json"
    nameplate.write_text('{"702.WMaxRtg": 8000}')
    config = parse_args(
        [
            *("-d", "Batt-2Phase", "-N", "3", "-wi", "0.0.0.0", "-wp", "0"),
            *("--periodic_time", "0.05", "--time_scale", "60", "-wc_tz", "Europe/Berlin"),
            *("--start_clock_time", "06:30:00", "--start_date", "2026-06-21", "--seed", "42"),
            *("--log_level", "debug", "-f", str(nameplate)),
        ]
    )
    assert config.device_count == 3
    assert config.website_port == 0
    assert config.periodic_time_s == 0.05
    assert config.time_scale == 60.0
    assert config.start_clock_time == time(6, 30)
    assert config.start_date == date(2026, 6, 21)
    assert config.seed == 42
    assert config.log_level == "DEBUG"
    assert config.device_profile_name == "my-inverter"


# --- device types in any case; flags that belong to other device types ----------------------


@pytest.mark.parametrize("name", list(DEVICE_TYPE_ALIASES))
def test_device_types_are_accepted_in_any_case_and_reported_in_their_documented_spelling(
    name: str,
) -> None:
    for typed in (name, name.lower(), name.upper(), name.swapcase()):
        config = parse_args(["-d", typed])
        assert config.device_type == name
        assert config.canonical_type == DEVICE_TYPE_ALIASES[name]


def test_a_lower_case_device_type_runs_under_its_documented_name() -> None:
    """``-d pv`` is ``-d PV`` everywhere after parsing: the snapshots say "PV"."""
    engine = build_engine(parse_args(["-d", "pv", "--start_clock_time", "12:00:00"]), WALL)
    snapshot = engine.initial()[0]
    assert snapshot.device_type == "PV"


def test_an_unknown_device_type_lists_the_allowed_ones_and_says_case_is_ignored() -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(["-d", "solar"])
    message = str(info.value)
    assert "any case" in message
    assert "'solar'" in message
    for name in DEVICE_TYPE_ALIASES:
        assert name in message


def _sample_values(tmp_path: Path) -> dict[str, str]:
    """A valid value for every flag of ``FLAG_DEVICE_TYPES`` (none equal to its default)."""
    csv = tmp_path / "profile.csv"
    csv.write_text("elapsed_s,irradiance_w_m2\n0,100\n60,200\n")
    return {
        "--evse_profile": bundled_station_names()[0],
        "--dc_profile": str(csv),
        "--latitude": "48",
        "--pv_tilt_deg": "30",
        "--pv_azimuth_deg": "170",
        "--wind_anemometer_height_m": "80",
        "--fuelcell_chemistry": "SOFC",
        "--fuelcell_mode": "bidirectional",
        "--fuelcell_fuel": "continuous",
        "--hybrid_pv_kw": "8",
        "--hybrid_batt_kw": "5",
        "--hybrid_batt_kwh": "10",
        "--hybrid_inverter_kva": "12",
        "--hybrid_soc_min_pct": "20",
        "--hybrid_soc_max_pct": "90",
        "--hybrid_dispatch": "manual",
        "--hybrid_site_load": "commercial",
        "--hybrid_site_load_kwh": "20000",
    }


def test_every_flag_of_the_table_is_a_flag_of_the_parser() -> None:
    options = {o for action in build_parser()._actions for o in action.option_strings}
    assert set(FLAG_DEVICE_TYPES) <= options


def test_a_short_spelling_of_a_type_specific_flag_is_refused_too(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("elapsed_s,wind_speed_m_s\n0,5\n60,6\n")
    with pytest.raises(ConfigError, match=r"^--dc_profile: applies only to -d PV-1Phase"):
        parse_args(["-d", "Batt", "-dc_p", str(csv)])


def test_every_type_specific_flag_has_a_sample_value(tmp_path: Path) -> None:
    """The tests below cover each flag of the table; a new flag needs a sample here."""
    assert set(_sample_values(tmp_path)) == set(FLAG_DEVICE_TYPES)


@pytest.mark.parametrize("flag", sorted(FLAG_DEVICE_TYPES))
def test_a_flag_given_for_a_device_type_it_does_not_apply_to_is_refused_naming_its_types(
    flag: str, tmp_path: Path
) -> None:
    value = _sample_values(tmp_path)[flag]
    applies = FLAG_DEVICE_TYPES[flag]
    others = [name for name, canonical in DEVICE_TYPE_ALIASES.items() if canonical not in applies]
    assert others
    for name in others:
        with pytest.raises(ConfigError) as info:
            parse_args(["-d", name, flag, value])
        message = str(info.value)
        assert message.startswith(f"{flag}: applies only to -d ")
        assert "\n" not in message
        for canonical in applies:
            assert canonical in message
        assert f"-d {name}" in message
    for canonical in applies:
        parse_args(["-d", canonical, flag, value])  # accepted where it applies


@pytest.mark.parametrize("name", list(DEVICE_TYPE_ALIASES))
def test_flags_left_at_their_defaults_are_never_refused(name: str) -> None:
    """Every type runs with every flag at its default (the fuel-cell and hybrid flags have
    defaults, and only a flag that was typed is checked)."""
    config = parse_args(["-d", name])
    build_engine(config, WALL)


def test_a_flag_typed_with_its_default_value_is_still_refused_for_another_type() -> None:
    with pytest.raises(ConfigError, match="--fuelcell_chemistry: applies only to -d Fuelcell"):
        parse_args(["-d", "Batt", "--fuelcell_chemistry", "PEMFC"])


def test_evse_profile_implies_evse_but_not_against_an_explicit_device_type() -> None:
    assert parse_args(["--evse_profile", "EVSE-AC-22kW-1port"]).device_type == "EVSE"
    assert parse_args(["-d", "evse", "--evse_profile", "EVSE-AC-22kW-1port"]).device_type == "EVSE"
    with pytest.raises(ConfigError, match=r"--evse_profile: applies only to -d EVSE; .* -d PV"):
        parse_args(["-d", "PV", "--evse_profile", "EVSE-AC-22kW-1port"])


@pytest.mark.parametrize("station", bundled_station_names())
def test_an_evse_station_name_given_to_f_points_to_evse_profile(station: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(["-d", "EVSE", "-f", station])
    message = str(info.value)
    assert message.startswith("-f: ")
    assert f"--evse_profile {station}" in message


@pytest.mark.usefixtures("isolated_logging")
def test_the_readme_shows_the_refusal_line_the_command_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README "Command line" quotes a refused type-specific flag; it is what main prints."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = re.search(r"\$ \.venv/bin/dersim-trio (.+)\n(dersim-trio: error: .+)\n", readme)
    assert quoted is not None
    assert main(quoted.group(1).split()) == 2
    assert capsys.readouterr().err == quoted.group(2) + "\n"


# --- --help -----------------------------------------------------------------------------------


def _help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser.formatter_class(prog=parser.prog)
    formatter.add_argument(action)
    return " ".join(formatter.format_help().split())


def test_every_flag_has_help_text_and_shows_its_default() -> None:
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
        if action.nargs == 0:  # --help, --list-profiles: no value, no default
            continue
        text = _help_of(parser, action)
        assert "(default" in text, text
        if action.default is not None:
            assert f"(default: {action.default or 'none'}" in text, text


@pytest.mark.usefixtures("isolated_logging")
def test_help_lists_the_subcommands_and_the_default_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "dersim-trio watch URL" in out
    assert "dersim-trio record URL" in out
    assert "(default: 8111)" in out


@pytest.fixture
def wind_t3_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build without the Wind-T3 model (every contract type is simulated by now)."""
    monkeypatch.delitem(devices._FACTORIES, "Wind-T3-3Phase")


@pytest.mark.usefixtures("wind_t3_not_built")
def test_a_type_not_simulated_by_this_build_is_refused_by_build_engine() -> None:
    config = parse_args(["-d", "Wind-T3-3Phase"])
    with pytest.raises(ConfigError, match="--device_type") as info:
        build_engine(config, WALL)
    for available in simulated_types():
        assert available in str(info.value)


def test_a_malformed_nameplate_file_is_refused_naming_f(tmp_path: Path) -> None:
    """Contract §1: bad files exit 2 with one line; a nameplate that is not JSON is a bad file."""
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="-f"):
        build_engine(parse_args(["-d", "PV", "-f", str(bad)]), WALL)


# --- main(): exit code 2, exactly one line on stderr ---------------------------------------


MAIN_FAILURES: list[tuple[list[str], str]] = [
    (["-d", "Nope"], "--device_type"),
    (["-N", "0"], "--device_count"),
    (["-wp", "70000"], "--website_port"),
    (["-wc_tz", "Nowhere/Special"], "--wall_clock_timezone"),
    (["--start_clock_time", "24:00:00"], "--start_clock_time"),
    (["-f", "/nonexistent/nameplate.json"], "-f"),
    (["--time_scale", "5", "--wall_clock", "yes"], "--time_scale"),
    (["--fuelcell_chemistry", "SOFC"], "--fuelcell_chemistry"),
    (["-d", "batt", "--hybrid_pv_kw", "5"], "--hybrid_pv_kw"),
    (["-f", "EVSE-AC-22kW-1port"], "--evse_profile"),
    (["-d", "pv3"], "--device_type"),
]


@pytest.fixture
def isolated_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` configures root logging once it parsed the flags; undo that after the test."""
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(logging.root, "level", logging.root.level)


@pytest.mark.parametrize(
    ("argv", "flag"), MAIN_FAILURES, ids=[" ".join(a) for a, _ in MAIN_FAILURES]
)
@pytest.mark.usefixtures("isolated_logging")
def test_main_exits_2_with_one_line_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dersim-trio: error: ")
    assert flag in lines[0]


@pytest.mark.usefixtures("isolated_logging", "wind_t3_not_built")
def test_main_exits_2_with_one_line_for_a_type_not_simulated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-d", "Wind-T3-3Phase"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "--device_type" in lines[0]
    assert "not simulated" in lines[0]


@pytest.mark.usefixtures("isolated_logging")
def test_main_exits_2_with_one_line_when_the_port_is_taken(
    capsys: pytest.CaptureFixture[str], kit: type[Kit]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main([*("-d", "Batt", "-wi", "127.0.0.1", "-wp", str(port))])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "--website_port" in lines[0]
    assert f"127.0.0.1:{port}" in lines[0]


# --- start-up -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("isolated_logging")
def test_main_builds_the_engine_once_and_serves_that_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine built to check the flags is the one served: building a large fleet is most of
    the start-up (scripts/bench_startup.py), so it is done once."""
    from dersim_trio import cli
    from dersim_trio.service import run

    built: list[object] = []

    def counting_build(config: object, wall: datetime) -> object:
        engine = build_engine(config, wall)  # type: ignore[arg-type]
        built.append(engine)
        return engine

    served: list[object] = []
    real_assemble = run.ServiceParts.assemble

    def recording_assemble(*args: object, **kwargs: object) -> run.ServiceParts:
        parts = real_assemble(*args, **kwargs)  # type: ignore[arg-type]
        served.append(parts.engine)
        return parts

    monkeypatch.setattr(cli, "build_engine", counting_build)
    monkeypatch.setattr(run, "build_engine", counting_build)
    monkeypatch.setattr(run.ServiceParts, "assemble", recording_assemble)
    # --stop_on_stdin_close on a standard input that is already at its end: the service starts,
    # then shuts down gracefully at once
    read_end, write_end = os.pipe()
    os.close(write_end)
    with open(read_end, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        code = main(["-d", "Batt", "-N", "3", "-wp", "0", "--stop_on_stdin_close", "yes"])
    assert code == 0
    assert len(built) == 1
    assert served == built
