"""Fleets: ``-N`` up to 100,000, shards (``--shard_index``/``--shard_count``) and the
``dersim-trio fleet`` supervisor.

* The seed rule: device i of a fleet is the same device (same seed + i, same bytes at every
  tick) whether the fleet runs in one process or in shards; checked on the engines and through
  a shard's HTTP API on virtual time, and on real shard processes tick by tick (their
  histories: every tick's metrics at the same simulator timestamps).
* A shard's API takes and reports the fleet's device indices.
* The supervisor as a real process: a killed shard is restarted on the same port with fresh
  state, SIGTERM stops every shard and the supervisor exits 0, and shards stop by themselves
  when the supervisor is killed. Every wait is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing
import trio_websocket

from dersim_trio.asgi import create_asgi_app
from dersim_trio.cli import main as cli_main
from dersim_trio.engine.core import encode
from dersim_trio.errors import ConfigError
from dersim_trio.service.build import build_engine
from dersim_trio.service.fleet import parse_fleet_args
from dersim_trio.service.run import ServiceParts
from dersim_trio.setup.config import MAX_DEVICE_COUNT, parse_args, shard_slices
from helpers import (
    FIXED_WALL,
    Output,
    fleet_command,
    make_config,
    release,
    running,
    summary_of,
    wait_serving,
    ws_url,
)

TICKS = 40
GUARD_S = 600.0
"""Virtual seconds for the in-process tests."""
REAL_GUARD_S = 20.0
"""Real seconds for one in-process service on real sockets."""
PROCESS_GUARD_S = 240.0
"""Real seconds for a fleet of shard processes to start on a loaded 2-core machine."""


# --- flags --------------------------------------------------------------------------------------


def test_a_fleet_of_100000_devices_is_accepted_and_one_more_is_not() -> None:
    assert MAX_DEVICE_COUNT == 100_000
    assert parse_args(["-N", "100000"]).device_count == 100_000
    with pytest.raises(ConfigError, match=r"--device_count: must be an integer in \[1, 100000\]"):
        parse_args(["-N", "100001"])


@pytest.mark.parametrize(("n", "k"), [(10, 3), (100_000, 7), (5, 5), (1, 1)])
def test_shards_are_contiguous_slices_covering_the_fleet(n: int, k: int) -> None:
    slices = shard_slices(n, k)
    assert [i for s in slices for i in s] == list(range(n))
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


def test_a_shards_config_is_its_slice_with_fleet_indices_and_ports() -> None:
    flags = ["-N", "10", "--shard_index", "2", "--shard_count", "3", "-wp", "9000"]
    config = parse_args([*flags, "--modbus_port", "20000"])
    assert config.shard is not None
    assert config.first_device == 6
    assert config.device_count == 4  # devices 6..9
    assert config.website_port == 9002  # -wp + k
    assert config.modbus is not None
    assert config.modbus.ports(config.device_count) == [20006, 20007, 20008, 20009]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shard_index", "0"], "--shard_index: needs --shard_count"),
        (["--shard_count", "2"], "--shard_count: needs --shard_index"),
        (["--shard_index", "3", "--shard_count", "3"], r"--shard_index: must be .* \[0, 2\]"),
        (["-N", "2", "--shard_index", "0", "--shard_count", "3"], r"--shard_count: .* \[1, 2\]"),
        (["--listen_fd", "x"], "--listen_fd: must be an integer"),
    ],
)
def test_bad_shard_flags_are_one_line_errors(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_args(["-N", "10", *flags])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shards", "4", "-N", "3"], r"--shards: must be an integer in \[1, 3\]"),
        (["--shards", "two"], "--shards: must be an integer"),
        (["--shards", "2", "--shard_index", "0"], "--shard_index: set by the fleet supervisor"),
        (["--shards", "2", "-wp", "9000", "--fleet_port", "9001"], "one of the shards' ports"),
        (["--shards", "2", "-d", "Nope"], "--device_type: must be one of"),
    ],
)
def test_bad_fleet_flags_are_refused(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fleet_args(["-N", "10", *flags])


def test_the_fleet_command_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["fleet", "--shards", "0", "-N", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dersim-trio fleet: error: --shards:")
    assert err.count("\n") == 1


def test_fleet_help_is_the_supervisors_own(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--help", "-h"):
        with pytest.raises(SystemExit) as info:
            cli_main(["fleet", "-N", "9", flag])
        assert info.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        assert out.startswith("usage: dersim-trio fleet --shards K")
        assert "--shards K number of shard processes, 1..256" in out
        assert "(default: 1)" in out
        assert "--fleet_port P" in out
        assert "(default: -wp + K; a free port with -wp 0)" in out
        assert (
            "Every other flag is a simulator flag (dersim-trio --help) and is passed to every shard"
            in out
        )
        assert "--device_type" not in out  # not the simulator's help


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shards"], "argument --shards: expected one argument"),
        (["--shards", "two"], "--shards: must be an integer in [1, 9]"),
        (["--fleet_port", "x"], "--fleet_port: must be an integer in [0, 65535]"),
        (["--shards", "2", "--shardz", "3"], "unrecognized arguments: --shardz 3"),
        (["--shards", "2", "--shard_index", "0"], "--shard_index: set by the fleet supervisor"),
    ],
)
def test_bad_fleet_flags_exit_2_with_one_line(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["fleet", "-N", "9", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("dersim-trio fleet: error: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("spelling", [["--fleet", "feeder"], ["--fleet=feeder"]])
def test_the_simulators_fleet_flag_is_not_taken_for_the_supervisors_fleet_port(
    spelling: list[str],
) -> None:
    """``--fleet`` (the MQTT fleet name) reaches the shards; an abbreviation of ``--fleet_port``
    it is not."""
    flags = ["--shards", "2", "-N", "4", "--mqtt", "mqtt://h"]
    options = parse_fleet_args([*flags, *spelling])
    assert options.config.mqtt is not None
    assert options.config.mqtt.fleet == "feeder"
    assert spelling[-1] in options.shard_argv
    assert options.fleet_port == parse_fleet_args(flags).fleet_port  # the default


def test_the_fleet_port_defaults_to_the_one_after_the_shards() -> None:
    options = parse_fleet_args(["--shards", "3", "-N", "9", "-wp", "9000"])
    assert options.fleet_port == 9003
    assert parse_fleet_args(["--shards", "3", "-N", "9", "-wp", "0"]).fleet_port == 0


# --- the seed rule on engines and through a shard's API (virtual time) -------------------------


@pytest.mark.parametrize("device_type", ["PV", "Batt", "EVSE", "Wind-T3-3Phase"])
def test_a_fleet_sharded_1_or_3_ways_has_the_same_devices(device_type: str) -> None:
    n = 7
    whole = build_engine(make_config("-d", device_type, "-N", str(n), "--seed", "11"), FIXED_WALL)
    shards = [
        build_engine(
            make_config(
                "-d", device_type, "-N", str(n), "--seed", "11",
                "--shard_index", str(k), "--shard_count", "3",
            ),
            FIXED_WALL,
        )
        for k in range(3)
    ]  # fmt: skip
    assert [len(s.devices) for s in shards] == [2, 2, 3]

    def tick(snapshots: list[Any]) -> list[bytes]:
        return [encode(s) for s in snapshots]

    expected = tick(whole.initial())
    got = [b for shard in shards for b in tick(shard.initial())]
    assert got == expected
    for _ in range(TICKS):
        expected = tick(whole.step())
        got = [b for shard in shards for b in tick(shard.step())]
        assert got == expected
    assert [json.loads(b)["device_index"] for b in got] == list(range(n))
    # the devices differ from each other: the seeds really are per device
    assert len({json.dumps(json.loads(b)["asset"]) for b in got}) > 1 or device_type == "Batt"


async def test_a_shards_api_speaks_fleet_indices(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    flags = ("-d", "PV", "-N", "10", "--seed", "3", "--periodic_time", "1.5")
    whole = ServiceParts.assemble(make_config(*flags), FIXED_WALL, trio.current_time())
    shard = ServiceParts.assemble(
        make_config(*flags, "--shard_index", "1", "--shard_count", "3"),
        FIXED_WALL,
        trio.current_time(),
    )
    with trio.fail_after(GUARD_S):
        for parts in (whole, shard):
            await nursery.start(partial(parts.run_ticks, lambda: FIXED_WALL))
        for _ in range(5):
            await shard.hub.wait_published()
        a, b = whole.app.test_client(), shard.app.test_client()
        assert whole.engine.tick == shard.engine.tick == 5
        for device in (3, 4, 5):  # shard 1 of 3 of 10 devices: 3..5
            want = await (
                await a.get("/api/dersim/overview", query_string={"device": device})
            ).get_data()
            got = await (
                await b.get("/api/dersim/overview", query_string={"device": device})
            ).get_data()
            assert got == want
            controls = await b.get(f"/api/dersim/devices/{device}/controls")
            assert controls.status_code == 200
            assert (await controls.get_json())["device_index"] == device
            history = await b.get("/api/dersim/history", query_string={"device": device})
            assert (await history.get_json())["device_index"] == device
        outside = await b.get("/api/dersim/overview", query_string={"device": 6})
        assert outside.status_code == 404
        assert "[3, 5]" in (await outside.get_json())["detail"]
        missing = await b.get("/api/dersim/devices/0/controls")
        assert missing.status_code == 404
        assert "[3, 5]" in (await missing.get_json())["detail"]
        command = await b.post(
            "/api/dersim/commands",
            json={"command": "stop"},  # every device of the shard
        )
        assert [r["device"] for r in await command.get_json()] == [3, 4, 5]
        info = await (await b.get("/api/dersim/server-info")).get_json()
        assert info["device_count"] == 3
        assert info["first_device"] == 3
        assert info["shard"] == {
            "index": 1,
            "count": 3,
            "first_device": 3,
            "fleet_device_count": 10,
        }
        devices = await (await b.get("/api/dersim/devices")).get_json()
        assert [d["device_index"] for d in devices] == [3, 4, 5]


OUTSIDE_SHARD_1 = [0, 2, 6, 9, 10, 99_999, 100_000, -1, 999_999_999]
"""Indices shard 1 of 3 of a fleet of 10 (devices 3..5) does not own: other shards' devices,
past the fleet, past any fleet, negative."""

DEVICE_REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/dersim/overview?device={i}", None),
    ("GET", "/api/dersim/history?device={i}", None),
    ("GET", "/api/dersim/dc-iv?device={i}", None),
    ("GET", "/api/dersim/devices/{i}/controls", None),
    ("PUT", "/api/dersim/devices/{i}/controls", {"active_power_limit_pct": 20}),
    ("GET", "/api/dersim/devices/{i}/inputs", None),
    ("PUT", "/api/dersim/devices/{i}/inputs", {"irradiance_w_m2": 100}),
    ("GET", "/api/dersim/devices/{i}/grid-support", None),
    ("PUT", "/api/dersim/devices/{i}/grid-support", {"constant_pf": {"enabled": True}}),
    ("GET", "/api/dersim/devices/{i}/faults", None),
    ("POST", "/api/dersim/devices/{i}/faults", {"type": "ground_fault"}),
    ("DELETE", "/api/dersim/devices/{i}/faults", {"type": "ground_fault"}),
    ("POST", "/api/dersim/commands", {"command": "stop", "device": "{i}"}),
    (
        "POST",
        "/api/dersim/grid-events",
        {"device": "{i}", "voltage": [{"t_s": 0, "v_pu": 1.2}]},
    ),
]


async def shard_state(client: Any) -> dict[str, Any]:
    """Everything a request could change on shard 1's devices 3..5, read over its API."""
    state: dict[str, Any] = {}
    for device in (3, 4, 5):
        for part in ("controls", "inputs", "grid-support", "faults"):
            answer = await client.get(f"/api/dersim/devices/{device}/{part}")
            state[f"{device}/{part}"] = await answer.get_json()
    for path in ("/api/dersim/commands", "/api/dersim/grid-events"):
        state[path] = await (await client.get(path)).get_json()
    return state


async def test_a_shard_answers_404_naming_its_devices_for_any_other_index_and_changes_nothing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Every route that takes a device index, given one outside the shard's slice (another
    shard's, past the fleet, negative): 404 ``device_not_found`` naming ``[3, 5]``, nothing
    changed, and the shard still serves."""
    flags = ("-d", "PV", "-N", "10", "--periodic_time", "1.5")
    shard = ServiceParts.assemble(
        make_config(*flags, "--shard_index", "1", "--shard_count", "3"),
        FIXED_WALL,
        trio.current_time(),
    )
    with trio.fail_after(GUARD_S):
        await nursery.start(partial(shard.run_ticks, lambda: FIXED_WALL))
        await shard.hub.wait_published()
        client = shard.app.test_client()
        before = await shard_state(client)
        for method, path, body in DEVICE_REQUESTS:
            for index in OUTSIDE_SHARD_1:
                url = path.format(i=index)
                if body is None:
                    answer = await client.open(url, method=method)
                else:
                    sent = json.loads(json.dumps(body).replace('"{i}"', str(index)))
                    answer = await client.open(url, method=method, json=sent)
                got = await answer.get_json()
                assert answer.status_code == 404, (method, url, got)
                assert got["error"] == "device_not_found", (method, url, got)
                assert "[3, 5]" in got["detail"], (method, url, got)
                assert str(index) in got["detail"], (method, url, got)
        await shard.hub.wait_published()
        assert await shard_state(client) == before
        ok = await client.put("/api/dersim/devices/4/controls", json={"active_power_limit_pct": 20})
        assert ok.status_code == 200
        assert (await ok.get_json())["device_index"] == 4


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_shards_websocket_refuses_another_shards_device_with_1008_naming_its_devices(
    start_service: Any, fast_path: bool
) -> None:
    svc = await start_service(
        "-N", "10", "--shard_index", "1", "--shard_count", "3", "--periodic_time", "0.2",
        fast_path=fast_path,
    )  # fmt: skip
    with trio.fail_after(REAL_GUARD_S):
        for index in ("6", "0", "10", "-1"):
            url = ws_url(svc.port) + f"?device={index}"
            async with trio_websocket.open_websocket_url(url) as ws:
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await ws.get_message()
            await release(ws)
            assert info.value.reason.code == 1008
            assert "[3, 5]" in (info.value.reason.reason or "")
            assert repr(index) in (info.value.reason.reason or "")
        async with trio_websocket.open_websocket_url(ws_url(svc.port) + "?device=5") as ws:
            assert json.loads(await ws.get_message())["device_index"] == 5


# --- the supervisor as a real process ----------------------------------------------------------


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


COMPARED_TICKS = 12


@pytest.mark.slow
async def test_the_same_devices_tick_by_tick_whether_sharded_once_or_three_times() -> None:
    """Two real fleets of the same 7 PV devices, in one shard and in three, tick on their own
    (every shard on its own timer), so their latest snapshots are of different ticks; but a
    tick is a fixed step of simulated time from the same start, so each device's history
    (every tick's metrics and simulator timestamp) must be identical tick for tick in both."""
    flags = (
        "-d", "PV", "-N", "7", "--seed", "5", "--periodic_time", "0.25", "--time_scale", "10",
    )  # fmt: skip
    async with (
        running(*fleet_command("--shards", "1", *flags)) as one,
        running(*fleet_command("--shards", "3", *flags)) as three,
        httpx.AsyncClient(timeout=10) as client,
    ):
        with trio.fail_after(PROCESS_GUARD_S):
            histories: list[list[dict[str, Any]]] = []
            for output in (one, three):
                port, _ = await summary_of(output, client)
                fleet = await wait_serving(client, port)
                for s in fleet["shards"]:  # until every shard has the ticks compared
                    info = s["url"] + "/api/dersim/server-info"
                    while True:  # polled: another process's ticks cannot be awaited
                        if (await client.get(info)).json()["tick"] >= COMPARED_TICKS:
                            break
                        await trio.sleep(0.1)
                devices = []
                for s in fleet["shards"]:
                    for d in range(s["first_device"], s["first_device"] + s["device_count"]):
                        answer = await client.get(
                            s["url"] + "/api/dersim/history",
                            params={"device": d, "seconds": 14400},
                        )
                        devices.append(answer.json())
                histories.append(devices)
    whole, sharded = histories
    assert [h["device_index"] for h in sharded] == list(range(7))

    def first_ticks(history: dict[str, Any]) -> dict[str, Any]:
        """Every column's rows for ticks 0..COMPARED_TICKS (the history starts at tick 0)."""
        assert history["tick"][: COMPARED_TICKS + 1] == list(range(COMPARED_TICKS + 1))
        return {
            name: column[: COMPARED_TICKS + 1]
            for name, column in history.items()
            if isinstance(column, list)
        }

    for a, b in zip(whole, sharded, strict=True):
        assert first_ticks(b) == first_ticks(a)
    powers = [first_ticks(h)["power_kw"] for h in whole]
    assert all(p > 0 for device in powers for p in device)  # noon in June: the arrays produce
    assert len({tuple(p) for p in powers}) > 1  # per-device seeds (clouds): devices differ
    assert any(len(set(p)) > 1 for p in powers)  # and the ticks compared are not all alike


@pytest.mark.slow
async def test_a_killed_shard_is_restarted_and_sigterm_stops_the_fleet() -> None:
    async with (
        running(*fleet_command("--shards", "2", "-d", "Batt", "-N", "4")) as output,
        httpx.AsyncClient(timeout=10) as client,
    ):
        with trio.fail_after(PROCESS_GUARD_S):
            summary_port, _ = await summary_of(output, client)
            fleet = await wait_serving(client, summary_port)
            victim = fleet["shards"][1]
            before = (await client.get(victim["url"] + "/api/dersim/server-info")).json()
            os.kill(victim["pid"], signal.SIGKILL)
            fleet = await wait_serving(client, summary_port, restarts=1)
            again = fleet["shards"][1]
            assert again["port"] == victim["port"]
            assert again["pid"] != victim["pid"]
            assert again["last_exit_code"] == -signal.SIGKILL
            after = (await client.get(again["url"] + "/api/dersim/server-info")).json()
            assert after["shard"] == before["shard"]
            assert after["started_at"] >= before["started_at"]
            assert after["statistics"]["ticks_published"] <= 3  # fresh state, from tick 0
            overview = await client.get(again["url"] + "/api/dersim/overview?device=2")
            assert overview.json()["device_index"] == 2
            metrics = (await client.get(f"http://127.0.0.1:{summary_port}/metrics")).text
            assert 'dersim_fleet_shard_restarts_total{shard="1"} 1.0' in metrics
            assert 'dersim_fleet_shard_up{shard="0"} 1.0' in metrics
            pids = [s["pid"] for s in fleet["shards"]]

            output.process.send_signal(signal.SIGTERM)
            assert await output.process.wait() == 0
            while not all(gone(pid) for pid in pids):  # noqa: ASYNC110 - other processes
                await trio.sleep(0.05)
        log = await output.read_to_end()
    assert "Traceback" not in log, log
    assert "shard 1 (devices 2..3) exited with code -9; restarting" in log


@contextlib.asynccontextmanager
async def two_shards() -> AsyncIterator[tuple[Output, list[int]]]:
    """A fleet of two battery shards, serving; its output and the shards' process ids."""
    async with (
        running(*fleet_command("--shards", "2", "-d", "Batt", "-N", "2")) as output,
        httpx.AsyncClient(timeout=10) as client,
    ):
        with trio.fail_after(PROCESS_GUARD_S):
            summary_port, _ = await summary_of(output, client)
            fleet = await wait_serving(client, summary_port)
        yield output, [s["pid"] for s in fleet["shards"]]


@pytest.mark.slow
async def test_sigint_is_forwarded_to_every_shard_and_the_fleet_exits_0() -> None:
    """A terminal's ^C: the supervisor gets SIGINT (its shards, in sessions of their own, do
    not), forwards it, and exits 0 once both shards stopped cleanly."""
    async with two_shards() as (output, pids):
        with trio.fail_after(PROCESS_GUARD_S):
            output.process.send_signal(signal.SIGINT)
            assert await output.process.wait() == 0
            while not all(gone(pid) for pid in pids):  # noqa: ASYNC110 - other processes
                await trio.sleep(0.05)
        log = await output.read_to_end()
    assert "received SIGINT: stopping every shard" in log, log
    assert "shard 0 stopped" in log
    assert "shard 1 stopped" in log
    assert "Traceback" not in log, log


@pytest.mark.slow
async def test_shards_stop_when_the_supervisor_is_killed() -> None:
    async with two_shards() as (output, pids):
        with trio.fail_after(PROCESS_GUARD_S):
            output.process.kill()
            await output.process.wait()
            while not all(gone(pid) for pid in pids):  # noqa: ASYNC110 - orphaned processes
                await trio.sleep(0.05)
            text = await output.read_to_end()
    assert text.count("standard input closed: shutting down") == 2, text


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--listen_fd", "3"], "--listen_fd"),
        (["--stop_on_stdin_close", "yes"], "--stop_on_stdin_close"),
    ],
)
def test_under_hypercorn_the_supervisor_only_flags_are_refused(
    capsys: pytest.CaptureFixture[str], flags: list[str], flag: str
) -> None:
    with pytest.raises(SystemExit) as info:
        create_asgi_app(flags, tune_gc=False)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dersim-trio: error: DERSIM_ARGS: {flag}: not under hypercorn")
    assert err.count("\n") == 1
