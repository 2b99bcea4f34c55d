"""The hypercorn boundary (``web/hypercorn_bridge.py``): pinned version, checked private shapes.

The front door drives hypercorn's private per-connection machinery itself. These tests fail
loudly when a hypercorn upgrade moves any of it: the version pin, the signature, method and
stream-typing checks (which must also *detect* a change), the check running at service start
rather than at import, and a real connection served through the bridge with a replayed prefix,
lifespan state and the worker's graceful close.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hypercorn.trio.run as hypercorn_trio_run
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from packaging.requirements import Requirement

from dersim_trio.web import hypercorn_bridge
from dersim_trio.web.hypercorn_bridge import (
    EXPECTED_PARAMETERS,
    SUPPORTED_HYPERCORN,
    HypercornBridge,
    HypercornInterfaceError,
    PrefixedStream,
    check_hypercorn_interfaces,
    is_first_worker,
)

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def hypercorn_requirement() -> Requirement:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    (spec,) = [d for d in project["dependencies"] if Requirement(d).name.lower() == "hypercorn"]
    return Requirement(spec)


# --- version pin and signatures -------------------------------------------------------------------


def test_the_installed_hypercorn_matches_the_pin_in_pyproject() -> None:
    requirement = hypercorn_requirement()
    installed = metadata.version("hypercorn")
    assert str(requirement.specifier) == "==0.18.*"
    assert requirement.specifier.contains(installed), (installed, str(requirement))
    # the start-up check and the pin name the same series
    assert installed.startswith(SUPPORTED_HYPERCORN)
    assert requirement.specifier.contains(SUPPORTED_HYPERCORN + "99")


def test_the_interface_check_passes_on_the_pinned_hypercorn() -> None:
    check_hypercorn_interfaces()


def test_a_changed_signature_fails_the_check_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def old_init(self: Any, app: Any, config: Any, context: Any, stream: Any) -> None:
        """hypercorn 0.16's shape: no ``state`` before ``stream``."""

    monkeypatch.setattr(TCPServer, "__init__", old_init)
    with pytest.raises(HypercornInterfaceError, match=r"TCPServer\(") as info:
        check_hypercorn_interfaces()
    assert "'state'" in str(info.value)


@pytest.mark.parametrize("name", list(EXPECTED_PARAMETERS))
def test_each_checked_signature_is_compared(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setitem(EXPECTED_PARAMETERS, name, [*EXPECTED_PARAMETERS[name], "added"])
    with pytest.raises(HypercornInterfaceError, match=name):
        check_hypercorn_interfaces()


def test_another_hypercorn_series_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = metadata.version

    def fake_version(name: str) -> str:
        return "0.19.0" if name == "hypercorn" else real_version(name)

    monkeypatch.setattr(metadata, "version", fake_version)
    with pytest.raises(HypercornInterfaceError, match=r"hypercorn 0\.19\.0 installed"):
        check_hypercorn_interfaces()


@pytest.mark.parametrize(
    ("cls", "method"),
    [
        (Lifespan, "handle_lifespan"),
        (Lifespan, "wait_for_startup"),
        (Lifespan, "wait_for_shutdown"),
        (TCPServer, "run"),
    ],
)
def test_a_missing_method_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, cls: type, method: str
) -> None:
    monkeypatch.delattr(cls, method)
    with pytest.raises(HypercornInterfaceError, match=rf"{cls.__name__}\.{method} missing"):
        check_hypercorn_interfaces()


def test_a_worker_that_calls_worker_serve_before_importing_the_app_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hypercorn launch wraps ``worker_serve`` from the app module, which only works if
    ``trio_worker`` imports the app first and looks ``worker_serve`` up afterwards."""

    def trio_worker(config: Any, sockets: Any = None, shutdown_event: Any = None) -> None:
        trio.run(worker_serve, config)  # noqa: F821
        load_application(config)  # noqa: F821

    monkeypatch.setattr(hypercorn_trio_run, "trio_worker", trio_worker)
    with pytest.raises(HypercornInterfaceError, match="after load_application"):
        check_hypercorn_interfaces()


def test_a_worker_that_stops_polling_the_shutdown_event_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The launch replaces that poll by a wait in a thread (it found the poll by its shape)."""

    def trio_worker(config: Any, sockets: Any = None, shutdown_event: Any = None) -> None:
        load_application(config)  # noqa: F821
        trio.run(worker_serve, config, shutdown_event)  # noqa: F821

    monkeypatch.setattr(hypercorn_trio_run, "trio_worker", trio_worker)
    with pytest.raises(HypercornInterfaceError, match="check_multiprocess_shutdown_event"):
        check_hypercorn_interfaces()


@pytest.mark.parametrize("name", ["graceful_timeout", "websocket_max_message_size", "workers"])
def test_a_config_setting_that_went_away_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delattr(Config, name)
    with pytest.raises(HypercornInterfaceError, match=rf"Config\.{name} missing"):
        check_hypercorn_interfaces()


def test_the_app_process_speaks_for_the_workers_when_it_is_the_only_one() -> None:
    assert is_first_worker()  # this test process is nobody's multiprocessing child


def test_tcpserver_tells_plain_tcp_by_the_absence_of_do_handshake() -> None:
    """``PrefixedStream`` relies on hypercorn's duck typing of its stream, which the check
    reads from hypercorn's source."""
    check_hypercorn_interfaces()
    assert not hasattr(PrefixedStream, "do_handshake")
    assert not hasattr(PrefixedStream, "transport_stream")
    stream = PrefixedStream(SimpleNamespace(socket="the socket"), b"")  # type: ignore[arg-type]
    assert stream.socket == "the socket"


def test_a_changed_stream_type_guess_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        hypercorn_bridge,
        "STREAM_TYPE_GUESS",
        (*hypercorn_bridge.STREAM_TYPE_GUESS, "isinstance(self.stream, trio.SSLStream)"),
    )
    with pytest.raises(HypercornInterfaceError, match="how it tells plain TCP from TLS"):
        check_hypercorn_interfaces()


def test_building_a_bridge_runs_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "0.19.0" if name == "hypercorn" else real_version(name)
    )
    with pytest.raises(HypercornInterfaceError, match=r"hypercorn 0\.19\.0 installed"):
        HypercornBridge(tiny_app, Config())


def test_a_mismatch_does_not_break_importing_the_package_or_the_pytest_plugin() -> None:
    """The check runs when the service starts, not when ``dersim_trio.testing`` (a pytest
    plugin every session in the environment loads) or the bridge is imported."""
    program = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda name: '0.19.0' if name == 'hypercorn' else real(name)\n"
        "import dersim_trio.testing, dersim_trio.service.run\n"
        "from dersim_trio.web.hypercorn_bridge import HypercornBridge, HypercornInterfaceError\n"
        "from hypercorn.config import Config\n"
        "try:\n"
        "    HypercornBridge(None, Config())\n"
        "except HypercornInterfaceError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: hypercorn 0.19.0 installed, 0.18.* required")


# --- a real connection through the bridge ---------------------------------------------------------


async def tiny_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that reports what hypercorn told it about the request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "set at startup"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = json.dumps(
        {
            "path": scope["path"],
            "client": list(scope["client"]),
            "server": list(scope["server"]),
            "body": body.decode(),
            "greeting": scope["state"].get("greeting"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(out)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": out})


async def read_response(stream: trio.SocketStream, buffer: bytearray) -> tuple[bytes, bytes]:
    """(head, body) of one response read by content-length; extra bytes stay in ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some(65536)
        assert chunk, "closed before a response head"
        buffer += chunk
    end = buffer.index(b"\r\n\r\n")
    head = bytes(buffer[:end])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    while len(buffer) < end + 4 + length:
        chunk = await stream.receive_some(65536)
        assert chunk, "closed before the end of a body"
        buffer += chunk
    body = bytes(buffer[end + 4 : end + 4 + length])
    del buffer[: end + 4 + length]
    return head, body


async def test_a_prefixed_stream_is_served_by_hypercorn_with_lifespan_state_and_peer_address(
    nursery: trio.Nursery,
) -> None:
    config = Config()
    config.keep_alive_timeout = 30
    bridge = HypercornBridge(tiny_app, config)
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    with trio.fail_after(10):
        await nursery.start(bridge.start_lifespan)
        client = await trio.open_tcp_stream("127.0.0.1", port)
        async with client, listener:
            server_side = await listener.accept()
            request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
            await client.send_all(request[:7])  # the door reads the request line's start...
            prefix = await server_side.receive_some(7)
            assert prefix == b"POST /e"
            served = trio.Event()

            async def serve() -> None:
                await bridge.serve_connection(server_side, prefix)
                served.set()

            nursery.start_soon(serve)
            await client.send_all(request[7:])  # ...and hypercorn gets the rest after it
            buffer = bytearray()
            head, body = await read_response(client, buffer)
            assert head.startswith(b"HTTP/1.1 200")
            seen = json.loads(body)
            assert seen["path"] == "/echo"
            assert seen["body"] == "hello world"
            assert seen["greeting"] == "set at startup"
            assert seen["client"] == list(client.socket.getsockname()[:2])
            assert seen["server"] == ["127.0.0.1", port]
            # keep-alive: a second request on the same connection
            await client.send_all(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = await read_response(client, buffer)
            assert json.loads(body)["path"] == "/second"
            # the worker's graceful close ends the idle keep-alive connection
            await bridge.close_idle()
            assert await client.receive_some(65536) == b""
            await served.wait()
        await bridge.stop_lifespan()
