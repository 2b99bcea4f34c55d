"""The client: typed telemetry, reconnects with backoff, gap reports, REST helpers, burst.

Most tests run the real simulator in-process (``dersim`` fixture) on pytest-trio's
``autojump_clock``: reconnect delays and ticks cost no wall time and counts are exact. Every
I/O wait is bounded by a (virtual) ``fail_after``.
"""

from __future__ import annotations

import itertools
import random
import sys
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from dersim_trio.client import (
    ApiError,
    Backoff,
    DersimClient,
    Gap,
    InvalidUrl,
    ReconnectGaveUp,
    ServerUnreachable,
    Snapshot,
    TelemetryRejected,
    open_telemetry,
    parse_server_url,
)
from dersim_trio.testing import SimulatorHandle
from helpers import ROOT

PERIOD = 1.5


# --- backoff and URLs (pure) ------------------------------------------------------------------


def test_backoff_grows_geometrically_and_is_capped() -> None:
    backoff = Backoff(initial_s=0.1, multiplier=2.0, max_s=1.0, jitter=0.0)
    delays = [backoff.delay_s(n, random.Random(0)) for n in range(7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert backoff.base_delay_s(10_000) == 1.0  # no overflow, still capped


def test_jitter_only_shortens_the_delay_and_a_seeded_rng_repeats_it() -> None:
    backoff = Backoff(initial_s=1.0, multiplier=2.0, max_s=8.0, jitter=0.5)
    first = [backoff.delay_s(n, random.Random(7)) for n in range(6)]
    again = [backoff.delay_s(n, random.Random(7)) for n in range(6)]
    assert first == again
    for n, delay in enumerate(first):
        base = backoff.base_delay_s(n)
        assert base * 0.5 <= delay <= base
    spread = {round(backoff.delay_s(3, random.Random(seed)), 6) for seed in range(20)}
    assert len(spread) > 10  # clients that lost the same server do not return in lockstep


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_s": 0}, "initial_s"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"initial_s": 2, "max_s": 1}, "max_s"),
        ({"jitter": 1.5}, "jitter"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_backoff_rejects_settings_that_cannot_work(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "http_base", "ws_url"),
    [
        (
            "http://127.0.0.1:8111",
            "http://127.0.0.1:8111",
            "ws://127.0.0.1:8111/api/dersim/ws/telemetry",
        ),
        ("127.0.0.1:8111/", "http://127.0.0.1:8111", "ws://127.0.0.1:8111/api/dersim/ws/telemetry"),
        (
            "https://sim.example/lab",
            "https://sim.example/lab",
            "wss://sim.example/lab/api/dersim/ws/telemetry",
        ),
        ("ws://h:1/api/dersim/ws/telemetry", "http://h:1", "ws://h:1/api/dersim/ws/telemetry"),
        ("ws://h:1/api/dersim/telemetry/ws", "http://h:1", "ws://h:1/api/dersim/telemetry/ws"),
        ("http://[::1]:8111", "http://[::1]:8111", "ws://[::1]:8111/api/dersim/ws/telemetry"),
    ],
)
def test_every_accepted_url_form_gives_the_rest_base_and_the_stream_url(
    url: str, http_base: str, ws_url: str
) -> None:
    urls = parse_server_url(url)
    assert (urls.http_base, urls.ws_url) == (http_base, ws_url)
    assert urls.telemetry_url(2) == ws_url + "?device=2"


@pytest.mark.parametrize("url", ["", "ftp://h:1", "http://:80", "http://h:99999", "http://h:x"])
def test_unusable_urls_raise_invalid_url_with_one_clear_line(url: str) -> None:
    with pytest.raises(InvalidUrl) as info:
        parse_server_url(url)
    assert "invalid URL" in str(info.value)
    assert "\n" not in str(info.value)


# --- telemetry --------------------------------------------------------------------------------


@pytest.mark.dersim("-d", "Batt", "-N", "2")
async def test_stream_yields_typed_snapshots_one_per_device_per_tick(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[tuple[int, int]] = []
    with trio.fail_after(60):
        async with dersim.telemetry() as stream:
            async for snapshot in stream:
                assert isinstance(snapshot, Snapshot)
                got.append((snapshot.tick, snapshot.device_index))
                if len(got) == 10:
                    break
    first = got[0][0]
    assert got == [(first + k, d) for k in range(5) for d in (0, 1)]
    assert stream.gaps == ()


@pytest.mark.dersim("-d", "Batt", "-N", "3")
async def test_device_filter_is_applied_by_the_server(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with dersim.telemetry(device=2) as stream:
            devices = [(await stream.receive()).device_index for _ in range(4)]
    assert devices == [2, 2, 2, 2]
    assert stream.url.endswith("/api/dersim/ws/telemetry?device=2")


@pytest.mark.dersim("-d", "Batt")
async def test_client_survives_a_server_restart_reports_the_gap_and_never_duplicates(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """Stop the server for 10 s, start it again on the same port: the stream reconnects by
    itself, marks the new run with a ``restart`` gap and delivers each tick at most once."""
    events: list[tuple[str, int]] = []
    backoff = Backoff(initial_s=0.5, multiplier=2.0, max_s=2.0, jitter=0.0)
    four_ticks = trio.Event()

    def on_gap(gap: Gap) -> None:
        events.append(("gap", gap.next_tick))

    async def restart_after_four_ticks() -> None:
        await four_ticks.wait()
        await dersim.restart(downtime_s=10)

    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(restart_after_four_ticks)
            async with dersim.telemetry(device=0, backoff=backoff, on_gap=on_gap) as stream:
                async for snapshot in stream:
                    events.append(("tick", snapshot.tick))
                    if len(events) == 4:
                        four_ticks.set()
                    if stream.gaps and snapshot.tick >= stream.gaps[0].next_tick + 4:
                        break
    ticks = [t for kind, t in events if kind == "tick"]
    (gap,) = stream.gaps
    assert gap.reason == "restart"
    assert gap.device == 0
    split = events.index(("gap", gap.next_tick))
    old_run, new_run = ticks[:split], ticks[split:]
    assert old_run == list(range(old_run[0], old_run[0] + 4))  # nothing twice, nothing missing
    assert new_run == list(range(gap.next_tick, gap.next_tick + len(new_run)))
    assert gap.missed_ticks == gap.next_tick  # the new run's ticks before the first received
    assert gap.last_tick == old_run[-1]
    assert ("gap", gap.next_tick) in events
    assert events[split + 1] == ("tick", gap.next_tick)  # reported just before the tick
    stats = stream.statistics()
    assert stats.connections == 2
    assert stats.failed_attempts >= 1  # the server was down while it retried
    assert stats.duplicates_skipped == 0


@pytest.mark.dersim("-d", "Batt")
async def test_a_dropped_connection_reconnects_and_reports_exactly_the_ticks_missed(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """The server keeps ticking while the client is away for 4 s (jitter 0): ticks k+1 and
    k+2 are published meanwhile; k+2 is the cached snapshot sent on reconnect, so exactly one
    tick (k+1) is missed."""
    backoff = Backoff(initial_s=4.0, max_s=4.0, jitter=0.0)
    ticks: list[int] = []
    with trio.fail_after(120):
        async with dersim.telemetry(device=0, backoff=backoff) as stream:
            async for snapshot in stream:
                ticks.append(snapshot.tick)
                if len(ticks) == 3:
                    await trio.sleep(PERIOD / 4)  # off the tick boundary
                    assert dersim.drop_connections() == 1
                if len(ticks) == 7:
                    break
    (gap,) = stream.gaps
    assert gap.reason == "reconnect"
    assert gap.last_tick == ticks[2]
    assert gap.next_tick == ticks[3]
    assert ticks[3] == ticks[2] + 2
    assert gap.missed_ticks == 1
    assert ticks[3:] == list(range(ticks[3], ticks[3] + 4))
    assert stream.statistics().connections == 2


@pytest.mark.dersim("-d", "Batt")
async def test_a_quick_reconnect_skips_the_cached_snapshot_it_already_delivered(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    backoff = Backoff(initial_s=0.01, jitter=0.0)
    ticks: list[int] = []
    with trio.fail_after(120):
        async with dersim.telemetry(device=0, backoff=backoff) as stream:
            async for snapshot in stream:
                ticks.append(snapshot.tick)
                if len(ticks) == 2:
                    await trio.sleep(PERIOD / 4)
                    dersim.drop_connections()
                if len(ticks) == 5:
                    break
    assert ticks == list(range(ticks[0], ticks[0] + 5))
    assert stream.gaps == ()
    assert stream.statistics().duplicates_skipped == 1


@pytest.mark.dersim("-d", "Batt", "-N", "40")
async def test_a_slow_reader_is_told_how_many_ticks_the_server_dropped(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """40 devices unfiltered fill the socket buffers in a few ticks; the server then drops the
    oldest tick for this client, and the stream reports a ``slow_read`` gap."""
    with trio.fail_after(600):
        async with dersim.telemetry() as stream:
            await stream.receive()
            await trio.sleep(120)  # stop reading for 80 ticks
            while not stream.gaps:
                await stream.receive()
    gap = stream.gaps[0]
    assert gap.reason == "slow_read"
    assert gap.missed_ticks >= 1
    assert gap.next_tick - gap.last_tick - 1 == gap.missed_ticks


async def test_cancelling_the_consumer_closes_the_socket_promptly(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """On virtual time: the server sees the client gone (no subscriber, no open connection)
    well within a second after the consumer's cancel scope fires."""
    received = 0
    with trio.fail_after(10):
        with trio.move_on_after(0.5):
            async with dersim.telemetry() as stream:
                async for _ in stream:
                    received += 1
        cancelled_at = trio.current_time()
        while dersim.service.door.open_connections or dersim.hub.statistics().subscribers:  # noqa: ASYNC110
            await trio.sleep(0.005)
        closed_after = trio.current_time() - cancelled_at
    assert received >= 1
    assert closed_after < 0.5
    assert stream.statistics().connected is False


async def test_reconnect_attempts_back_off_geometrically_up_to_the_cap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A listener that accepts and hangs up at once: the attempts' spacing is the backoff."""
    accepted: list[float] = []

    async def hang_up(stream: trio.SocketStream) -> None:
        accepted.append(trio.current_time())
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, hang_up, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        backoff = Backoff(initial_s=0.1, multiplier=2.0, max_s=0.8, jitter=0.0, max_attempts=7)
        with trio.fail_after(60), pytest.raises(ReconnectGaveUp) as info:
            async with open_telemetry(f"http://127.0.0.1:{port}", backoff=backoff):
                pass
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(accepted)]
    assert gaps == [0.1, 0.2, 0.4, 0.8, 0.8, 0.8]
    assert info.value.attempts == 7


async def test_a_cancelled_reconnect_wait_ends_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = Backoff(initial_s=100.0, max_s=100.0, jitter=0.0)
    start = trio.current_time()
    with trio.move_on_after(5) as scope:
        async with open_telemetry("http://127.0.0.1:9", backoff=backoff):
            pass
    assert scope.cancelled_caught
    assert trio.current_time() - start == pytest.approx(5)


@pytest.mark.dersim("-d", "Batt", "-N", "2")
async def test_a_bad_device_filter_is_refused_without_retrying(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30), pytest.raises(TelemetryRejected) as info:
        async with dersim.telemetry(device=5) as stream:
            await stream.receive()
    assert info.value.code == 1008
    assert "[0, 1]" in info.value.reason
    assert stream.statistics().connections == 1


async def test_an_unknown_stream_path_is_refused_with_the_http_status(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30), pytest.raises(TelemetryRejected) as info:
        async with open_telemetry(dersim.http_url + "/not-here"):
            pass
    assert info.value.code == 404


# --- REST -------------------------------------------------------------------------------------


@pytest.mark.dersim("-d", "Wind-T3-3Phase", "-N", "2")
async def test_rest_helpers_return_the_servers_models(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        async with dersim.client() as api:
            info = await api.server_info()
            overview = await api.overview(1)
            devices = await api.devices()
            state = await api.set_inputs(1, wind_speed_m_s=12.0)
            again = await api.inputs(1)
            reset = await api.set_all_inputs(wind_speed_m_s=None)
    assert (info.device_type, info.device_count) == ("Wind-T3-3Phase", 2)
    assert overview.device_index == 1
    assert [d.device_index for d in devices] == [0, 1]
    assert state.wind_speed_m_s == again.wind_speed_m_s == 12.0
    assert [s.wind_speed_m_s for s in reset] == [None, None]


@pytest.mark.dersim("-d", "Wind-T3-3Phase")
async def test_an_error_status_raises_api_error_with_the_servers_body(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        async with dersim.client() as api:
            with pytest.raises(ApiError) as invalid:
                await api.set_inputs(0, wind_speed_m_s=100.0)
            with pytest.raises(ApiError) as missing:
                await api.inputs(7)
    assert invalid.value.status == 422
    assert invalid.value.error == "validation_error"
    assert [f.field for f in invalid.value.fields] == ["wind_speed_m_s"]
    assert "0..75" in (invalid.value.fields[0].allowed or "")
    assert str(invalid.value).startswith("PUT ")
    assert "-> 422 validation_error" in str(invalid.value)
    assert missing.value.status == 404


async def test_no_server_raises_server_unreachable_in_one_line() -> None:
    with trio.fail_after(10):
        async with DersimClient("http://127.0.0.1:9", timeout_s=2) as api:
            with pytest.raises(ServerUnreachable) as info:
                await api.server_info()
    assert "127.0.0.1:9" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.dersim("-d", "Batt")
async def test_controls_round_trip(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        async with dersim.client() as api:
            state = await api.set_controls(0, active_power_limit_pct=50.0)
            again = await api.controls(0)
            with pytest.raises(ApiError) as both:
                await api.set_controls(0, power_factor=0.9, reactive_power_setpoint_kvar=1.0)
    assert state.device_index == 0
    assert state.active_power_limit_pct == again.active_power_limit_pct == 50.0
    assert both.value.status == 422


@pytest.mark.dersim("-d", "Batt")
async def test_commands_and_their_log(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with dersim.client() as api:
            (record,) = await api.command("stop", device=0)
            listed = await api.commands(limit=5)
    assert record.command == "stop"
    assert record.outcome == "accepted"
    assert listed[-1].id == record.id


@pytest.mark.dersim("-d", "Batt")
async def test_faults_inject_list_and_clear(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with dersim.client() as api:
            injected = await api.inject_fault(0, "over_temperature")
            await dersim.wait_ticks(2)
            snapshot = await api.overview(0)
            listed = await api.faults(0)
            cleared = await api.clear_faults(0)
    assert injected.active == listed.active == ["over_temperature"]
    assert snapshot.status.inverter_state == "fault"
    assert cleared.active == []


@pytest.mark.dersim("-d", "Batt")
async def test_history_covers_the_last_seconds(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    await dersim.advance(60 + PERIOD / 4)
    with trio.fail_after(30):
        async with dersim.client() as api:
            history = await api.history(seconds=30, device=0)
    assert history.device_index == 0
    assert history.count == len(history.tick) == len(history.power_kw)
    assert 19 <= history.count <= 21
    assert history.tick == sorted(history.tick)


# --- burst ------------------------------------------------------------------------------------


@pytest.mark.dersim("-d", "Wind-T3-3Phase")
async def test_burst_collects_only_ticks_after_the_action(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(600):
        async with dersim.client() as api:
            burst = await api.burst(
                lambda: api.set_inputs(0, wind_speed_m_s=12.0),
                "rotor_speed_rpm",
                seconds=90 + PERIOD / 4,
            )
    assert burst.quantity == "asset.rotor_speed_rpm"
    assert burst.ticks == list(range(burst.after_tick + 1, burst.after_tick + 61))
    assert burst.gaps == ()
    assert burst.settled(within=0.1, last=10)


# --- typing -----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_users_code_passes_mypy_strict() -> None:
    """``py.typed`` ships and the public API is fully annotated: a user's harness (and the
    two Python harness examples) type-check under ``mypy --strict``."""
    files = [
        ROOT / "tests" / "typing_user.py",
        ROOT / "examples" / "harness_wind.py",
        ROOT / "examples" / "anomaly_detector.py",
    ]
    with trio.fail_after(300):
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--cache-dir",
                str(ROOT / ".mypy_cache"),
                *map(str, files),
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=ROOT / "tests",
        )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output
    assert "Success" in output


async def test_stop_server_stops_a_real_server(start_service: Any) -> None:
    """The client sends every mutation with a JSON body (``{}`` for stop): the server refuses a
    mutation without one."""
    service = await start_service("-d", "Batt", "--periodic_time", "0.05")
    with trio.fail_after(10):
        async with DersimClient(service.http_url) as api:
            await api.stop_server()
        await service.done.wait()


# --- against a fleet shard --------------------------------------------------------------------


@pytest.mark.dersim("-d", "PV", "-N", "6", "--shard_index", "1", "--shard_count", "2")
async def test_without_a_device_the_client_reads_a_shards_first_device(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """Shard 1 of 2 of 6 devices simulates fleet devices 3..5: the client's default device is
    the server's ``first_device``, not 0 (which this shard refuses)."""
    await dersim.advance(30 + PERIOD / 4)
    with trio.fail_after(120):
        async with dersim.client() as api:
            assert (await api.server_info()).first_device == 3
            assert (await api.overview()).device_index == 3
            assert (await api.history(seconds=10)).device_index == 3
            assert await api.dc_iv() == await api.dc_iv(3)  # device 0 would be refused
            burst = await api.burst(None, "metrics.power_kw", seconds=3 * PERIOD + PERIOD / 4)
            with pytest.raises(ApiError) as refused:
                await api.overview(0)
    assert burst.device == 3
    assert len(burst.samples) == 3
    assert refused.value.status == 404
    assert "device_not_found" in str(refused.value)
