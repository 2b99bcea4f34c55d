"""Every file in ``examples/`` runs against a real server (the in-process simulator on
127.0.0.1, real clock) as a subprocess, the way a user runs it.

The two clients from the user's document hard-code ``ws://localhost:8111``; they stay byte for
byte as written, and a shim (a ``websockets.connect`` wrapper for Python, a ``node -r``
preload for Node) points that address at the test server's port, so the suite never needs
port 8111.
"""

from __future__ import annotations

import re
import shutil
import sys

import pytest
import trio

from dersim_trio.testing import SimulatorHandle
from helpers import NODE_REDIRECT_8111, PYTHON_REDIRECT_8111, ROOT, running

EXAMPLES = ROOT / "examples"
POWER_LINE = re.compile(r"^\d\d:\d\d:\d\d: -?\d+\.\d\d kW$", re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "first_line", "last_line"),
    [
        ("client_websockets.py", "import asyncio", "asyncio.run(main())"),
        ("client_node.js", 'const WebSocket = require("ws");', "});"),
    ],
)
def test_the_users_clients_are_verbatim_copies_of_the_document(
    name: str, first_line: str, last_line: str
) -> None:
    """The README quotes the user's telemetry-stream document's two clients verbatim (its
    "The telemetry stream" section); the examples are the same bytes."""
    document = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (EXAMPLES / name).read_text(encoding="utf-8").rstrip("\n")
    assert example.startswith(first_line)
    assert example.endswith(last_line)
    assert f"\n{example}\n```" in document


@pytest.mark.dersim("--periodic_time", "0.05")
async def test_python_websockets_example_prints_power_lines(dersim: SimulatorHandle) -> None:
    env = {"DERSIM_WS_HOSTPORT": f"127.0.0.1:{dersim.port}"}
    with trio.fail_after(30):
        async with running(
            sys.executable,
            "-c",
            PYTHON_REDIRECT_8111,
            str(EXAMPLES / "client_websockets.py"),
            env=env,
        ) as output:
            await output.wait_for(r"(?m)^.*kW\n(.*\n){2}")
    lines = [line for line in output.text.splitlines() if line.endswith("kW")]
    assert len(lines) >= 3
    assert all(POWER_LINE.match(line) for line in lines), output.text


@pytest.mark.dersim("--periodic_time", "0.05")
async def test_node_ws_example_connects_and_prints_power_lines(dersim: SimulatorHandle) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed (scripts/test.sh installs Debian's nodejs)"
    assert (EXAMPLES / "node_modules" / "ws").is_dir(), "run `npm ci --prefix examples`"
    env = {"DERSIM_WS_HOSTPORT": f"127.0.0.1:{dersim.port}"}
    preload = str(NODE_REDIRECT_8111)
    with trio.fail_after(30):
        async with running(
            node, "-r", preload, str(EXAMPLES / "client_node.js"), env=env
        ) as output:
            await output.wait_for(r"(?m)^connected$")
            await output.wait_for(r"(?m)(^\d\d:\d\d:\d\d: -?\d+\.\d\d kW\n){3}")
    assert POWER_LINE.search(output.text), output.text


@pytest.mark.slow
@pytest.mark.dersim("-d", "Wind-T3-3Phase", "--periodic_time", "0.05", "--time_scale", "30")
async def test_wind_harness_sees_the_rotor_settle(dersim: SimulatorHandle) -> None:
    """0.05 s ticks at time scale 30: each tick is 1.5 simulated seconds, as by default."""
    with trio.fail_after(60):
        result = await trio.run_process(
            [
                sys.executable,
                str(EXAMPLES / "harness_wind.py"),
                dersim.http_url,
                "--wind",
                "12",
                "--seconds",
                "6",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        async with dersim.client() as api:
            inputs = await api.inputs(0)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "wind 12 m/s:" in out
    assert re.search(r"settled at 1\d\.\d{3} rpm", out), out
    assert inputs.wind_speed_m_s is None  # the harness put the model's wind back


@pytest.mark.dersim("-d", "Batt", "--periodic_time", "0.05")
async def test_wind_harness_refuses_a_simulator_that_is_not_wind(dersim: SimulatorHandle) -> None:
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, str(EXAMPLES / "harness_wind.py"), dersim.http_url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 2
    assert "simulates Batt" in result.stderr.decode()


@pytest.mark.dersim("-d", "PV", "--periodic_time", "0.05")
async def test_anomaly_detector_flags_a_step_in_power(dersim: SimulatorHandle) -> None:
    """Steady irradiance, then a step from 1000 to 100 W/m²: the detector reports the jump."""
    with trio.fail_after(60):
        async with dersim.client() as api:
            await api.set_inputs(0, irradiance_w_m2=1000.0)
            async with running(
                sys.executable,
                str(EXAMPLES / "anomaly_detector.py"),
                dersim.http_url,
                "--window",
                "10",
                "--seconds",
                "30",
            ) as output:
                await output.wait_for(r"(?m)^watching ")
                await dersim.wait_ticks(25)  # the window fills with the steady level
                quiet = output.text
                await api.set_inputs(0, irradiance_w_m2=100.0)
                alert = await output.wait_for(r"(?m)^ALERT .* tick (\d+) device 0: power_kw jumped")
    assert "ALERT" not in quiet
    assert int(alert[1]) > 0


@pytest.mark.dersim("-d", "PV", "--modbus_port", "0", "--periodic_time", "0.05")
async def test_sunspec_client_reads_and_curtails_over_modbus(dersim: SimulatorHandle) -> None:
    """pysunspec2 (examples/sunspec_client.py) scans the device, reads 701, writes 704, and
    writes, adopts and enables a 705 volt-var curve."""
    port = dersim.modbus_ports[0]
    with trio.fail_after(60):
        result = await trio.run_process(
            [
                sys.executable,
                str(EXAMPLES / "sunspec_client.py"),
                "--port",
                str(port),
                "--limit",
                "40",
                "--volt-var",
                "93:80,99:0,101:0,107:-80",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        async with dersim.client() as api:
            limit = (await api.controls(0)).active_power_limit_pct
            volt_var = (await api.grid_support(0)).volt_var
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "dersim-trio PV-3Phase DERSIM-00000: models [1, 701, 702," in out
    assert re.search(r"(?m)^W \d+ VA \d+ var -?\d+ PF -?[\d.]+ Hz 60\.0 TotWhInj \d+", out), out
    assert "WMaxLimPctEna 1 WMaxLimPct 40.0" in out
    assert limit == 40.0
    curve = [(93.0, 80.0), (99.0, 0.0), (101.0, 0.0), (107.0, -80.0)]
    assert f"volt-var Ena 1 AdptCrvRslt COMPLETED curve {curve}" in out
    assert volt_var.enabled
    assert [(p.v_pct, p.var_pct) for p in volt_var.pt] == curve
