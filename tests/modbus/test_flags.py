"""The ``--modbus_*`` flags: what they parse to, and every impossible layout refused at start
with one line and exit code 2 (before any socket serves)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from dersim_trio import cli
from dersim_trio.errors import ConfigError
from dersim_trio.setup.config import ModbusOptions, parse_args


def test_modbus_is_off_by_default() -> None:
    assert parse_args([]).modbus is None


def test_the_flags_parse_to_the_server_options() -> None:
    config = parse_args(
        [
            *("-N", "3", "-wi", "127.0.0.2", "--modbus_port", "15020"),
            *("--modbus_quirks", "slow, fc16_only", "--modbus_slow_ms", "250"),
            *("--modbus_max_connections", "4", "--modbus_idle_timeout_s", "30"),
        ]
    )
    assert config.modbus == ModbusOptions(
        port=15020,
        ip="127.0.0.2",  # the web bind address unless --modbus_ip says otherwise
        quirks=("slow", "fc16_only"),
        slow_ms=250.0,
        max_connections=4,
        idle_timeout_s=30.0,
    )
    assert config.modbus.ports(3) == [15020, 15021, 15022]
    assert parse_args(["--modbus_port", "0", "-N", "2"]).modbus.ports(2) == [0, 0]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--modbus_quirks", "slow"], "--modbus_quirks: needs --modbus_port"),
        (["--modbus_ip", "0.0.0.0"], "--modbus_ip: needs --modbus_port"),
        (["--modbus_port", "70000"], "--modbus_port: must be an integer in [0, 65535]"),
        (["--modbus_port", "65000", "-N", "1000"], "ports 65000..65999, beyond 65535"),
        (["--modbus_port", "8100", "-N", "20", "-wp", "8111"], "include the web port 8111"),
        (["--modbus_port", "1502", "--modbus_quirks", "slow,dusk"], "unknown quirk 'dusk'"),
        (["--modbus_port", "1502", "--modbus_slow_ms", "10"], "only with --modbus_quirks slow"),
        (
            ["--modbus_port", "1502", "--modbus_quirks", "slow", "--modbus_slow_ms", "-1"],
            "--modbus_slow_ms: must be a number in [0, 60000]",
        ),
        (["--modbus_port", "1502", "--modbus_max_connections", "0"], "[1, 1024]"),
        (["--modbus_port", "1502", "--modbus_idle_timeout_s", "0"], "[0.1, 86400]"),
    ],
)
def test_an_impossible_layout_or_bad_value_is_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_args(argv)
    assert message in str(raised.value)


@contextlib.contextmanager
def _taken_after_a_free_port() -> Iterator[int]:
    """A port held by a listening socket whose predecessor was free a moment ago (another
    program on the machine may hold any given port: try again, a bounded number of times)."""
    for _ in range(50):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port - 1))
                except OSError:
                    continue
            yield port
            return
    raise AssertionError("no port with a free predecessor in 50 tries")


def test_main_exits_2_with_one_line_when_a_device_port_is_taken(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _taken_after_a_free_port() as port:  # device 0 listens on port - 1, device 1 cannot
        code = cli.main(["-wi", "127.0.0.1", "-wp", "0", "-N", "2", "--modbus_port", str(port - 1)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"--modbus_ip/--modbus_port: cannot listen on 127.0.0.1:{port}" in err


def test_main_exits_2_when_the_listeners_exceed_the_open_file_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each device's listener is one descriptor: 2000 devices under a 1024 limit cannot start."""
    monkeypatch.setattr(cli.resource, "getrlimit", lambda _which: (1024, 1024))
    code = cli.main(["-wi", "127.0.0.1", "-wp", "0", "-N", "2000", "--modbus_port", "20000"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "2000 devices need 2000 listening sockets" in err
    assert "the open-file limit is 1024" in err
