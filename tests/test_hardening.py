"""Hardening: hypercorn#225 containment, TCP_USER_TIMEOUT, and the real process under signals.

Stack notes §8: one WebSocket upgrade request with a trailing byte crashed hypercorn's whole
server; a client that stops reading pins a shielded send forever unless the kernel drops it
(``TCP_USER_TIMEOUT``, inherited by accepted sockets); only our own entry point turns
SIGINT/SIGTERM into close 1001 for every client and an exit with code 0.

The process tests run on the real clock with generous guards; the 2 s shutdown budget itself is
measured on virtual time in ``test_service_e2e.py``.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import trio
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from dersim_trio.web.fastpath.door import TCP_USER_TIMEOUT_MS, open_listener
from helpers import (
    RawClient,
    free_port,
    get_request,
    http_get_raw,
    server_info,
    simulator_process,
    upgrade_request,
    wait_answering,
    wait_exit,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]


# --- hypercorn#225 ---------------------------------------------------------------------------


def send_upgrade_with_trailing_byte(port: int, path: str) -> bytes:
    """Send the #225 trigger; return the server's response head (empty if it just closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(upgrade_request(port, path) + b"X")
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
    return answer.partition(b"\r\n\r\n")[0]


@pytest.mark.parametrize(
    "path", ["/api/dersim/overview", "/api/dersim/ws/telemetry", "/api/dersim/telemetry/ws"]
)
async def test_an_upgrade_with_trailing_bytes_does_not_take_the_server_down(
    start_service: StartService, path: str
) -> None:
    service = await start_service("-d", "Batt", "--periodic_time", "0.05")
    with trio.fail_after(10):
        for _ in range(3):
            await trio.to_thread.run_sync(send_upgrade_with_trailing_byte, service.port, path)
        status, body = await trio.to_thread.run_sync(
            http_get_raw, service.port, "/api/dersim/overview"
        )
    assert status == 200
    assert b'"tick"' in body
    assert service.hub.statistics().ticks_published > 0


async def test_a_connection_close_request_is_answered_then_the_connection_closes(
    start_service: StartService,
) -> None:
    """RFC 9112 §9.6: after a response to a request with ``Connection: close`` the server
    closes the connection (it even says ``Connection: close`` in the response)."""
    service = await start_service("-d", "Batt", "--periodic_time", "0.05")

    def exchange() -> bytes:
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            sock.sendall(get_request("/api/dersim/overview", service.port, close=True))
            data = b""
            with contextlib.suppress(TimeoutError):
                while chunk := sock.recv(65536):
                    data += chunk
                return data
            raise AssertionError(f"still open 2 s after the response: {data[:120]!r}")

    with trio.fail_after(10):
        answer = await trio.to_thread.run_sync(exchange)
    assert answer.startswith(b"HTTP/1.1 200")


# --- TCP_USER_TIMEOUT ------------------------------------------------------------------------


def test_listener_and_accepted_sockets_carry_tcp_user_timeout() -> None:
    """Linux (the platform the simulator is built for; ``socket.TCP_USER_TIMEOUT`` is Linux's)."""
    listener = open_listener("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()[:2], timeout=10) as client:
        option = (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
        assert listener.getsockopt(*option) == TCP_USER_TIMEOUT_MS
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(*option) == TCP_USER_TIMEOUT_MS
        assert client.getsockopt(*option) == 0  # the client side is untouched: inherited only


# --- the real process ------------------------------------------------------------------------


def dropped_messages(port: int) -> int:
    return int(server_info(port)["statistics"]["messages_dropped"])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("with_stalled_client", [False, True], ids=["reading", "stalled"])
async def test_a_signal_closes_clients_with_1001_and_the_process_exits_0(
    signum: signal.Signals, with_stalled_client: bool
) -> None:
    port = free_port()
    flags = ("-d", "Batt", "-N", "20", "-wp", str(port), "--periodic_time", "0.05")
    url = f"ws://127.0.0.1:{port}/api/dersim/ws/telemetry"
    stalled: RawClient | None = None
    with simulator_process(*flags) as proc:
        try:
            await wait_answering(proc, port)
            if with_stalled_client:
                stalled = await RawClient.open(port, rcvbuf=4096)
                await stalled.handshake(port)  # and never reads again
                # its sender is blocked once the server starts dropping its ticks
                with trio.fail_after(15):
                    while await trio.to_thread.run_sync(dropped_messages, port) == 0:  # noqa: ASYNC110
                        await trio.sleep(0.05)

            def client_session() -> int | None:
                with websockets.sync.client.connect(url, open_timeout=10) as client:
                    client.recv(timeout=10)
                    proc.send_signal(signum)
                    try:
                        while True:
                            client.recv(timeout=10)
                    except ConnectionClosed as exc:
                        return exc.rcvd.code if exc.rcvd else None

            with trio.fail_after(10):
                code = await trio.to_thread.run_sync(client_session)
            returncode = await wait_exit(proc, within=10)
        finally:
            if stalled is not None:
                stalled.reset()
    assert code == 1001
    assert returncode == 0


async def test_a_bad_device_type_exits_2_with_one_line() -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dersim_trio", "-d", "Nope"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )

    result = await trio.to_thread.run_sync(run)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "--device_type" in lines[0]
    assert "Batt" in lines[0]
