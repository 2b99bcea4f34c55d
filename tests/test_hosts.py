"""The Host rule's pure parts (``setup/hostnames.py``, ``web/hosts.py``); the rule on a real
server is probed in ``tests/hostile/test_browser.py``."""

from __future__ import annotations

import pytest

from dersim_trio.cli import main
from dersim_trio.setup.hostnames import parse_allowed_hosts, split_host
from dersim_trio.web.hosts import HostPolicy, is_loopback_bind


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:8111", ("localhost", 8111)),
        ("LocalHost.", ("localhost", None)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("[::1]:8111", ("::1", 8111)),
        ("[0:0:0:0:0:0:0:1]", ("::1", None)),
        ("[::ffff:127.0.0.1]:80", ("127.0.0.1", 80)),
        ("sim.example.org:443", ("sim.example.org", 443)),
    ],
)
def test_host_values_are_split_and_normalised(value: str, expected: tuple[str, int | None]) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "::1",
        "[::1",
        "[::1]x",
        "[localhost]",
        "host:0",
        "host:65536",
        "host:８０",
        "a b",
        "-a.b",
        "",
    ],
)
def test_malformed_host_values_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        split_host(value)


def test_the_policy_takes_the_connection_address_and_the_port() -> None:
    policy = HostPolicy.for_server("0.0.0.0")
    assert policy.refusal("192.168.1.5:8111", ("192.168.1.5", 8111)) is None
    assert policy.refusal("[::1]:8111", ("::ffff:127.0.0.1", 8111)) is None
    assert policy.refusal("192.168.1.5:8111", ("127.0.0.1", 8111)) is not None
    assert policy.refusal("localhost:8112", ("127.0.0.1", 8111)) is not None
    assert policy.refusal(None, ("127.0.0.1", 8111)) is not None
    assert HostPolicy.for_server("sim.lan").refusal("SIM.lan:80", ("10.0.0.2", 80)) is None


def test_allowed_hosts_entries_with_and_without_a_port() -> None:
    policy = HostPolicy.for_server("127.0.0.1", parse_allowed_hosts("a.example, b.example:8080"))
    local = ("127.0.0.1", 8111)
    assert policy.refusal("a.example:1234", local) is None
    assert policy.refusal("a.example", local) is None
    assert policy.refusal("b.example:8080", local) is None
    assert policy.refusal("b.example:8111", local) is not None
    assert HostPolicy.for_server("127.0.0.1", ("*",)).refusal("anything:1", local) is None


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("sim.lan", False),
    ],
)
def test_loopback_binds(bind: str, loopback: bool) -> None:
    assert is_loopback_bind(bind) is loopback


def test_a_bad_allowed_hosts_entry_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--allowed_hosts", "ok.example,not a host"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "--allowed_hosts" in err
    assert "not a host" in err
