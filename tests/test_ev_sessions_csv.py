"""EV session schedules (``--dc_profile`` of an EVSE): the CSV format and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dersim_trio.physics.evse.cars import CARS_BY_NAME
from dersim_trio.physics.evse.sessions import EvSession
from dersim_trio.setup.ev_sessions_csv import load_sessions_csv, parse_sessions_csv

HEADER = "arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct,target_soc_pct"


# --- CSV --------------------------------------------------------------------------------------


def test_the_documented_csv_example_parses() -> None:
    text = (
        "arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct,target_soc_pct,"
        "max_power_kw\n0,7200,1,60,20,80,11\n600,4200,2,77,35,90,\n"
    )
    sessions = parse_sessions_csv(text)
    assert sessions == [
        EvSession(0.0, 7200.0, 1, 60.0, 20.0, 80.0, max_ac_kw=11.0, max_dc_kw=11.0),
        EvSession(600.0, 4200.0, 2, 77.0, 35.0, 90.0),
    ]
    assert sessions[1].max_ac_kw == 11.0
    assert sessions[1].max_dc_kw == 150.0
    assert sessions[1].pack_voltage_v == 400.0


def test_csv_columns_may_come_in_any_order_with_comments_and_blank_lines() -> None:
    text = (
        "# a schedule\n"
        "connector,target_soc_pct,arrival_s,departure_s,capacity_kwh,arrival_soc_pct,"
        "pack_voltage_v\n\n2,90,100,200,50,10,800\n# done\n1,85,0,50,40,20,400\n"
    )
    sessions = parse_sessions_csv(text)
    assert [s.connector for s in sessions] == [1, 2]  # sorted by arrival
    assert sessions[1].pack_voltage_v == 800.0
    assert sessions[1].target_soc_pct == 90.0


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("0,abc,1,60,20,80", r"^line 3, column 2 \(departure_s\): 'abc' is not a number$"),
        ("100,100,1,60,20,80", r"^line 3, column 2 \(departure_s\): must be greater than"),
        ("100,50,1,60,20,80", r"^line 3, column 2 \(departure_s\): must be greater than"),
        ("0,100,1,60,120,80", r"^line 3, column 5 \(arrival_soc_pct\): must be within 0-100"),
        ("0,100,1,60,20,-1", r"^line 3, column 6 \(target_soc_pct\): must be within 0-100"),
        ("0,100,1.5,60,20,80", r"^line 3, column 3 \(connector\): must be an integer >= 1"),
        ("0,100,1,0,20,80", r"^line 3, column 4 \(capacity_kwh\): must be greater than 0"),
        ("-5,100,1,60,20,80", r"^line 3, column 1 \(arrival_s\): must be >= 0"),
        ("0,inf,1,60,20,80", r"^line 3, column 2 \(departure_s\): 'inf' is not a finite"),
        ("0,100,1,60,20", r"^line 3: expected 6 fields, got 5$"),
    ],
)
def test_a_bad_csv_row_names_its_line_and_column(rows: str, expected: str) -> None:
    text = f"{HEADER}\n0,50,2,60,20,80\n{rows}\n"
    with pytest.raises(ValueError, match=expected) as info:
        parse_sessions_csv(text)
    assert "\n" not in str(info.value)


def test_a_bad_header_is_reported_on_its_line() -> None:
    with pytest.raises(ValueError, match=r"^line 1, column 7: unknown column 'colour'"):
        parse_sessions_csv(HEADER + ",colour\n")
    with pytest.raises(ValueError, match=r"^line 1: missing column\(s\) target_soc_pct"):
        parse_sessions_csv("arrival_s,departure_s,connector,capacity_kwh,arrival_soc_pct\n")
    with pytest.raises(ValueError, match=r"^line 1, column 7: duplicate column 'connector'"):
        parse_sessions_csv(HEADER + ",connector\n")
    with pytest.raises(ValueError, match="empty"):
        parse_sessions_csv("# nothing\n\n")


def test_overlapping_sessions_on_one_connector_are_refused_with_the_later_line() -> None:
    text = f"{HEADER}\n0,1000,1,60,20,80\n2000,3000,2,60,20,80\n500,1500,1,60,20,80\n"
    with pytest.raises(ValueError, match=r"^line 4, column 1 \(arrival_s\): .* connector 1"):
        parse_sessions_csv(text)


def test_a_file_is_read_through_the_shared_reader_with_quotes_and_a_bom(tmp_path: Path) -> None:
    """The csv module reads the file: a byte-order mark and quoted cells are accepted."""
    path = tmp_path / "sessions.csv"
    path.write_text("\ufeff" + HEADER + '\n"0","7200",1,60,20,80\n', encoding="utf-8")
    assert load_sessions_csv(path) == [EvSession(0.0, 7200.0, 1, 60.0, 20.0, 80.0)]


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + b"\n0,10,1,60,20,80 \xe9\n")
    with pytest.raises(ValueError, match=r"^not UTF-8 text$"):
        load_sessions_csv(path)
    with pytest.raises(ValueError, match=r"^cannot read the file: "):
        load_sessions_csv(tmp_path / "missing.csv")


# --- named cars -------------------------------------------------------------------------------

CAR_HEADER = "arrival_s,departure_s,connector,arrival_soc_pct,target_soc_pct,car,capacity_kwh"


def test_a_row_may_name_its_car_and_another_describe_an_unnamed_one() -> None:
    sessions = parse_sessions_csv(
        f"{CAR_HEADER}\n0,7200,1,20,80,,60\n600,4200,2,35,90,vw-id4-77,\n"
    )
    assert sessions[0] == EvSession(0.0, 7200.0, 1, 60.0, 20.0, 80.0)
    assert sessions[1] == EvSession.for_car(CARS_BY_NAME["vw-id4-77"], 600.0, 4200.0, 2, 35, 90)
    assert sessions[1].capacity_kwh == 77.0
    only_cars = "arrival_s,departure_s,connector,arrival_soc_pct,target_soc_pct,car\n"
    assert parse_sessions_csv(only_cars + "0,60,1,10,90,hyundai-ioniq5\n")[0].car is not None


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("0,100,1,20,80,beetle,", r"^line 2, column 6 \(car\): unknown car 'beetle'; named cars: "),
        ("0,100,1,20,80,vw-id4-77,60", r"column 7 \(capacity_kwh\): leave it empty, the car"),
        ("0,100,1,20,80,,", r"^line 2, column 7 \(capacity_kwh\): required for a row without"),
    ],
)
def test_a_bad_car_cell_names_its_line_and_column(row: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_sessions_csv(f"{CAR_HEADER}\n{row}\n")


def test_the_header_needs_a_car_or_a_capacity_column() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) car or capacity_kwh"):
        parse_sessions_csv("arrival_s,departure_s,connector,arrival_soc_pct,target_soc_pct\n")
