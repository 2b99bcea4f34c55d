"""HTTP/2 (prior knowledge and h2c upgrade), then the client closes: nothing may leak.

The probe (issue 16, item 1): an HTTP/2 request followed at once by the client's FIN left the
connection's descriptor and task behind forever, and SIGTERM then never ended the process: the
HTTP-send shield (``web/asgi_shield.py``) kept the stream's last ``send`` waiting for a sender
task that had ended with the connection. The server runs as a real process here: on the unfixed
code the leaked tasks cannot be cancelled, and only a process can be killed.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time

import pytest
import trio

from helpers import (
    free_port,
    h2_prior_knowledge_request,
    h2c_upgrade_request,
    http_request,
    open_descriptors,
    server_info,
    simulator_process,
    upgrade_request,
    wait_answering,
    wait_exit,
)

CONNECTIONS = 20
FLAGS = ("-d", "Batt", "--periodic_time", "0.1")


def request_then_fin(port: int, request: bytes) -> bytes:
    """Send ``request`` and FIN in one go; read until the server closes (or 5 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
        return data


@pytest.mark.parametrize("mode", ["prior-knowledge", "h2c-upgrade"])
async def test_http2_requests_closed_by_the_client_leave_no_descriptor_behind(mode: str) -> None:
    port = free_port()
    with simulator_process(*FLAGS, "-wp", str(port)) as proc:
        await wait_answering(proc, port)
        baseline = open_descriptors(proc.pid)
        if mode == "prior-knowledge":
            request = h2_prior_knowledge_request(port, "/api/dersim/overview")
        else:
            request = h2c_upgrade_request(port, "/api/dersim/overview")

        async def one() -> None:
            await trio.to_thread.run_sync(request_then_fin, port, request)

        with trio.fail_after(15):
            async with trio.open_nursery() as nursery:
                for _ in range(CONNECTIONS):
                    nursery.start_soon(one)
        # every client saw the server close its side (else recv timed out above); and the
        # server holds no descriptor for any of them
        with trio.fail_after(5):
            while open_descriptors(proc.pid) > baseline:  # noqa: ASYNC110 - other process
                await trio.sleep(0.05)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 2) == 0


class Held:
    """Client sockets kept open across the signal, each checked for the server's close."""

    def __init__(self) -> None:
        self.socks: dict[str, socket.socket] = {}

    def add(self, name: str, sock: socket.socket) -> None:
        self.socks[name] = sock

    def still_open(self, wait: float = 0.0) -> list[str]:
        """Names of connections the server has not closed: no EOF or reset after reading
        whatever is buffered (waiting up to ``wait`` seconds per connection for more)."""
        open_ = []
        for name, sock in self.socks.items():
            sock.settimeout(wait) if wait else sock.setblocking(False)
            try:
                while sock.recv(65536):
                    pass
            except (BlockingIOError, TimeoutError):
                open_.append(name)
            except OSError:
                pass  # reset: closed
        return open_

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()


def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return sock


def open_every_kind(port: int, held: Held) -> None:
    """One connection of every protocol the server speaks, each left in a hard state."""
    # HTTP/2 request + FIN (the leak)
    sock = connect(port)
    sock.sendall(h2_prior_knowledge_request(port, "/api/dersim/overview"))
    sock.shutdown(socket.SHUT_WR)
    held.add("h2 request + FIN", sock)
    # HTTP/2 with a zero flow-control window asking for a large response: its stream's send
    # can never finish while the connection lives
    sock = connect(port)
    sock.sendall(h2_prior_knowledge_request(port, "/openapi.json", INITIAL_WINDOW_SIZE=0))
    held.add("h2 stalled stream", sock)
    # h2c upgrade, then idle
    sock = connect(port)
    sock.sendall(h2c_upgrade_request(port, "/api/dersim/overview"))
    held.add("h2c idle", sock)
    # HTTP/1.1 keep-alive, idle after one response
    sock = connect(port)
    sock.sendall(http_request(port, "GET", "/api/dersim/overview"))
    held.add("http/1.1 keep-alive", sock)
    # HTTP/1.1 with half a body
    sock = connect(port)
    request = http_request(port, "PUT", "/api/dersim/inputs", body=b'{"irradiance_w_m2": 1')
    sock.sendall(request[:-5])
    held.add("http/1.1 half body", sock)
    # a head that never ends
    sock = connect(port)
    sock.sendall(http_request(port, "GET", "/api/dersim/overview")[:-2])
    held.add("http/1.1 unfinished head", sock)
    # fast-path telemetry clients: one with room to receive, one that stalls (4 KiB buffer)
    for name, rcvbuf in (("ws", None), ("ws stalled", 4096)):
        sock = connect(port, rcvbuf)
        sock.sendall(upgrade_request(port))
        held.add(name, sock)


async def test_sigterm_closes_every_connection_of_every_protocol_and_exits_0_within_2_s() -> None:
    port = free_port()
    held = Held()
    with simulator_process(*FLAGS, "-N", "20", "-wp", str(port)) as proc:
        try:
            await wait_answering(proc, port)
            with trio.fail_after(10):
                await trio.to_thread.run_sync(open_every_kind, port, held)
                # the stalled telemetry client is parked once the server starts dropping for it
                while server_info(port)["statistics"]["messages_dropped"] == 0:  # noqa: ASYNC110
                    await trio.sleep(0.05)
            # all open before the signal (the request + FIN one too on the unfixed code)
            assert set(held.still_open()) >= set(held.socks) - {"h2 request + FIN"}
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            returncode = await wait_exit(proc, 2 - (time.monotonic() - signalled))
            assert returncode == 0
            with trio.fail_after(30):
                assert await trio.to_thread.run_sync(held.still_open, 2.0) == []
        finally:
            held.close()
