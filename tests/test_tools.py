"""``dersim-trio watch`` and ``dersim-trio record`` as a user runs them: a subprocess against a
real server (the in-process simulator on 127.0.0.1, real clock, 0.05 s ticks)."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest
import trio

from dersim_trio.client import Snapshot
from dersim_trio.testing import SimulatorHandle

FAST = ("-d", "Batt", "-N", "2", "--periodic_time", "0.05")
LINE = re.compile(r"^\d\d:\d\d:\d\d #\d+ d(\d): -?\d+\.\d\d kW$")


async def dersim_trio(*args: str, within: float = 60) -> tuple[int, str, str]:
    """Run ``python -m dersim_trio ARGS``; (exit code, stdout, stderr)."""
    with trio.fail_after(within):
        result = await trio.run_process(
            [sys.executable, "-m", "dersim_trio", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@pytest.mark.dersim(*FAST)
async def test_watch_prints_one_line_per_device_per_tick(dersim: SimulatorHandle) -> None:
    code, out, err = await dersim_trio("watch", dersim.http_url, "--count", "6")
    lines = out.splitlines()
    assert code == 0, err
    assert len(lines) == 6
    assert all(LINE.match(line) for line in lines), lines
    assert [LINE.match(line)[1] for line in lines] == ["0", "1"] * 3  # type: ignore[index]
    ticks = [int(line.split("#")[1].split()[0]) for line in lines]
    assert ticks[::2] == list(range(ticks[0], ticks[0] + 3))


@pytest.mark.dersim(*FAST)
async def test_watch_shows_the_chosen_fields_of_one_device(dersim: SimulatorHandle) -> None:
    code, out, err = await dersim_trio(
        "watch",
        dersim.ws_url,
        "--device",
        "1",
        "--fields",
        "power_kw,state_of_charge_pct",
        "status.inverter_state",
        "--count",
        "3",
    )
    assert code == 0, err
    for line in out.splitlines():
        assert re.match(
            r"^\d\d:\d\d:\d\d #\d+ d1: power_kw=-?\d+\.\d\d state_of_charge_pct=\d+\.\d\d "
            r"inverter_state=\w+$",
            line,
        ), line


@pytest.mark.dersim(*FAST)
async def test_watch_names_an_unknown_field_and_what_exists(dersim: SimulatorHandle) -> None:
    code, out, err = await dersim_trio("watch", dersim.http_url, "--fields", "rotor_rpm")
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "unknown field 'rotor_rpm'" in err
    assert "metrics.power_kw" in err


@pytest.mark.dersim(*FAST)
async def test_watch_refused_device_is_one_line_and_exit_1(dersim: SimulatorHandle) -> None:
    code, _, err = await dersim_trio("watch", dersim.http_url, "--device", "7")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "refused (1008)" in err


@pytest.mark.dersim(*FAST)
async def test_record_writes_json_lines_of_snapshots(
    dersim: SimulatorHandle, tmp_path: Path
) -> None:
    out_file = tmp_path / "run.jsonl"
    code, _, err = await dersim_trio(
        "record", dersim.http_url, "--seconds", "1", "--out", str(out_file), "--device", "0"
    )
    assert code == 0, err
    snapshots = [Snapshot.model_validate_json(line) for line in out_file.read_text().splitlines()]
    assert len(snapshots) >= 5
    ticks = [s.tick for s in snapshots]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    assert {s.device_index for s in snapshots} == {0}
    assert f"recorded {len(snapshots)} snapshot(s)" in err
    assert "gaps: none" in err


@pytest.mark.dersim(*FAST)
async def test_record_writes_csv_with_a_progress_bar(
    dersim: SimulatorHandle, tmp_path: Path
) -> None:
    out_file = tmp_path / "run.csv"
    code, _, err = await dersim_trio(
        "record", dersim.http_url, "--seconds", "0.5", "--out", str(out_file), "--progress"
    )
    assert code == 0, err
    with out_file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    assert {"tick", "device_index", "metrics.power_kw", "status.inverter_state"} <= set(rows[0])
    assert {r["device_index"] for r in rows} == {"0", "1"}
    assert "\r[" in err
    assert "] " in err
    assert "snapshots" in err


@pytest.mark.slow
@pytest.mark.dersim(*FAST)
async def test_record_reports_the_gap_of_a_server_restart(
    dersim: SimulatorHandle, tmp_path: Path
) -> None:
    """The recording window (real clock: the recorder is another process) is long enough to
    hold the restart and the reconnect on a loaded machine."""
    out_file = tmp_path / "run.jsonl"

    async def restart_once_recording() -> None:
        recorded = trio.Path(out_file)
        with trio.fail_after(20):
            # another process writes the file: no event to wait on, so poll with a deadline
            while not await recorded.exists() or len(await recorded.read_text()) < 5000:  # noqa: ASYNC110
                await trio.sleep(0.05)
        await dersim.restart(downtime_s=0.3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(restart_once_recording)
        code, _, err = await dersim_trio(
            "record", dersim.http_url, "--seconds", "10", "--out", str(out_file), "--device", "0"
        )
    assert code == 0, err
    assert "gaps: 1," in err
    assert "(restart)" in err
    ticks = [json.loads(line)["tick"] for line in out_file.read_text().splitlines()]
    restart_at = next(i for i in range(1, len(ticks)) if ticks[i] < ticks[i - 1])
    assert ticks[:restart_at] == sorted(set(ticks[:restart_at]))  # no duplicates
    assert ticks[restart_at:] == sorted(set(ticks[restart_at:]))


@pytest.mark.parametrize("command", ["watch", "record"])
@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("ftp://127.0.0.1:8111", 2, "invalid URL 'ftp://127.0.0.1:8111': scheme must be"),
        ("http://127.0.0.1:99999", 2, "invalid URL"),
        ("http://127.0.0.1:9", 1, "cannot reach the server"),
    ],
)
async def test_a_bad_url_gives_one_clear_line_and_a_nonzero_exit(
    command: str, url: str, code: int, message: str, tmp_path: Path
) -> None:
    extra = ["--seconds", "1", "--out", str(tmp_path / "x.jsonl")] if command == "record" else []
    got, out, err = await dersim_trio(command, url, *extra)
    assert got == code
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"dersim-trio {command}: error: ")
    assert message in err
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.dersim(*FAST)
async def test_a_url_that_is_not_a_simulator_names_the_status(dersim: SimulatorHandle) -> None:
    code, _, err = await dersim_trio("watch", dersim.http_url + "/elsewhere")
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "/elsewhere/api/dersim/server-info -> 404" in err


async def test_a_bad_flag_is_one_line_with_exit_2() -> None:
    code, _, err = await dersim_trio("record", "http://127.0.0.1:8111", "--seconds", "-1")
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "--seconds" in err


async def test_the_simulators_own_flags_are_untouched() -> None:
    code, _, err = await dersim_trio("--device_type", "Nope")
    assert code == 2
    assert "--device_type" in err or "device" in err.lower()
