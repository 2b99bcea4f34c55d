"""``dersim_trio.testing``: the ``dersim`` fixture (a pytest plugin) and ``run_simulator``.

The simulator is the whole service on 127.0.0.1 in the test's trio run; with
``autojump_clock`` it runs in virtual time.
"""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from dersim_trio.testing import SimulatorHandle, run_simulator

HOUR_S = 3600.0
PERIOD = 1.5


async def test_a_simulated_hour_under_mockclock_runs_every_tick_in_virtual_time(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """2400 ticks of the default simulator (1.5 s period) pass in virtual time, none skipped
    (how much wall time that takes is measured by scripts/bench_toolkit.py)."""
    first = dersim.engine.tick
    await dersim.advance(HOUR_S + PERIOD / 4)
    assert dersim.engine.tick - first == 2400
    assert dersim.hub.statistics().ticks_published >= 2400
    assert trio.current_time() >= HOUR_S


@pytest.mark.dersim("-d", "Batt", "-N", "3", "--periodic_time", "2")
async def test_the_marker_passes_command_line_flags(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    assert dersim.config.device_count == 3
    assert dersim.config.periodic_time_s == 2.0
    with trio.fail_after(30):
        async with dersim.client() as api:
            info = await api.server_info()
    assert (info.device_type, info.device_count) == ("Batt", 3)
    assert dersim.http_url == f"http://127.0.0.1:{dersim.port}"
    assert dersim.ws_url == f"ws://127.0.0.1:{dersim.port}/api/dersim/ws/telemetry"


async def test_runs_are_pinned_to_the_default_start(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        async with dersim.client() as api:
            overview = await api.overview()
    assert overview.metrics.timestamp.startswith("2026-06-21T12:00")


async def test_wait_ticks_waits_for_exactly_that_many_ticks(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    start_tick, start = dersim.hub.last.tick, trio.current_time()
    with trio.fail_after(60):
        assert await dersim.wait_ticks(10) == start_tick + 10
    assert trio.current_time() - start == pytest.approx(10 * PERIOD)


async def test_restart_keeps_the_port_and_starts_a_new_run(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    port = dersim.port
    await dersim.wait_ticks(5)
    with trio.fail_after(30):
        await dersim.restart(downtime_s=3)
    assert dersim.port == port
    assert dersim.starts == 2
    assert dersim.engine.tick == 0
    await dersim.stop()
    assert not dersim.running
    with pytest.raises(RuntimeError, match="stopped"):
        _ = dersim.engine
    await dersim.start()
    assert dersim.running


async def test_the_fixture_serves_on_the_real_clock_too(dersim: SimulatorHandle) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as http:
            response = await http.get(dersim.http_url + "/api/dersim/overview")
    assert response.status_code == 200
    assert response.json()["device_index"] == 0


async def test_run_simulator_lets_the_bodys_exception_through_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with pytest.raises(ZeroDivisionError):  # noqa: PT012 - the body is the point
        async with run_simulator("-d", "Batt") as sim:
            await sim.wait_ticks(1)
            _ = 1 / 0
    assert not sim.running


def test_the_plugin_is_registered_for_pytest() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("dersim_trio") == "dersim_trio.testing"


async def test_a_user_project_gets_the_fixture_without_a_conftest(tmp_path: Path) -> None:
    """A fresh project (own ini, no conftest) uses ``dersim`` and ``autojump_clock``."""
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.dersim("-d", "Wind-T3-3Phase")
            async def test_an_hour(dersim, autojump_clock):
                async with dersim.client() as api:
                    await api.set_inputs(0, wind_speed_m_s=12.0)
                await dersim.advance(3600.4)
                assert dersim.engine.tick == 2400
                assert dersim.engine.devices[0].inputs.wind_speed_m_s == 12.0
            """
        )
    )
    with trio.fail_after(120):
        result = await trio.run_process(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
            cwd=tmp_path,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output
    assert "1 passed" in output
