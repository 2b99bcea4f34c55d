"""``hypercorn -k trio dersim_trio.asgi:app``: settings, worker count, and shutdown.

The contract suite (``test_service_e2e.py``) runs against this launch too; here is what is
particular to it: the app sets hypercorn's settings unless the operator gave them, refuses more
than one worker, and at SIGINT/SIGTERM closes every telemetry client with 1001 and exits 0
within 2 s even with clients that stopped reading, in a real hypercorn process started with the
README's command line (``-w 0 --graceful-timeout 1``). The 2 s bound is a trio ``fail_after``
from the signal.

With hypercorn's default ``-w 1`` the app runs in a worker process that hypercorn's own process
starts and waits for; the worker stops as fast, and hypercorn's process then takes its own time
to exit (its interpreter teardown: 0.3 s here on a quiet machine, up to 1.3 s with the machine's
two cores loaded ten times over), so that case is held to ``W1_EXIT_BOUND_S``, still far below
what a stalled client could otherwise hold (``TCP_USER_TIMEOUT``, 10 s).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio_websocket
from hypercorn.config import Config

from dersim_trio.service.hub import Hub
from dersim_trio.service.hypercorn_launch import REFUSED_EXIT_CODE, HypercornLaunch
from dersim_trio.web.fastpath.door import TCP_USER_TIMEOUT_MS
from dersim_trio.web.hypercorn_bridge import explicitly_set
from dersim_trio.web.hypercorn_settings import SETTINGS
from helpers import ServerProcess, eventually, process_tree, server_info, upgrade_request

FLAGS = ("-d", "Batt", "-N", "20", "--periodic_time", "0.05")
EXIT_BOUND_S = 2.0
"""README/contract: exit 0 within 2 s of SIGINT/SIGTERM (``-w 0 --graceful-timeout 1``)."""
W1_EXIT_BOUND_S = 5.0
"""The same with hypercorn's default ``-w 1`` (see the module docstring)."""
WS_PATH = "/api/dersim/ws/telemetry"


# --- settings and worker count (the hook hypercorn's worker calls before it serves) -----------


def test_the_settings_are_applied_where_the_operator_gave_none() -> None:
    config = Config()
    config.keep_alive_timeout = 2  # as ``--keep-alive 2`` sets it
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))  # not listening yet: the backlog's listen() shows
        HypercornLaunch(Hub(1)).worker_starting(config, [listener])
        option = (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
        assert listener.getsockopt(*option) == TCP_USER_TIMEOUT_MS
        socket.create_connection(listener.getsockname(), timeout=2).close()
    assert config.keep_alive_timeout == 2
    assert config.graceful_timeout == 1.0
    assert config.websocket_max_message_size == 64 * 1024
    assert config.h11_max_incomplete_size == 16 * 1024
    assert config.read_timeout is None
    assert {name: getattr(config, name) for name in SETTINGS if name != "keep_alive_timeout"} == {
        name: value for name, value in SETTINGS.items() if name != "keep_alive_timeout"
    }


def test_values_from_a_config_file_count_as_given() -> None:
    config = Config.from_mapping(
        {"graceful_timeout": 5, "websocket_max_message_size": 1024, "backlog": 50}
    )
    assert explicitly_set(config, "graceful_timeout")
    assert not explicitly_set(config, "keep_alive_timeout")
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        HypercornLaunch(Hub(1)).worker_starting(config, [bound])
        with pytest.raises(ConnectionRefusedError):  # hypercorn's own backlog: not listened to
            socket.create_connection(bound.getsockname(), timeout=2).close()
    assert config.graceful_timeout == 5
    assert config.websocket_max_message_size == 1024
    assert config.keep_alive_timeout == SETTINGS["keep_alive_timeout"]


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [("workers", 2, "-w 2"), ("workers", 8, "-w 8"), ("max_requests", 100, "--max-requests 100")],
)
def test_several_workers_or_recycled_workers_are_refused_with_one_line(
    capsys: pytest.CaptureFixture[str], setting: str, value: int, named: str
) -> None:
    config = Config()
    setattr(config, setting, value)
    with pytest.raises(SystemExit) as info:
        HypercornLaunch(Hub(1)).worker_starting(config, [])
    assert info.value.code == REFUSED_EXIT_CODE == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dersim-trio: error: hypercorn " + named + ":")
    assert not explicitly_set(Config(), setting)  # the refusal does not touch the defaults


# --- the real process -------------------------------------------------------------------------


@contextlib.contextmanager
def hypercorn_process(
    tmp_path: Path, *, workers: int = 0, flags: tuple[str, ...] = FLAGS
) -> Iterator[ServerProcess]:
    log_path = tmp_path / "hypercorn.log"
    process = ServerProcess.hypercorn(flags, log_path, workers=workers)
    try:
        process.start()
        yield process
    finally:
        process.stop()


async def test_two_workers_are_refused_with_one_line_and_nothing_is_served(
    tmp_path: Path,
) -> None:
    with hypercorn_process(tmp_path, workers=2, flags=("-d", "Batt")) as process:
        returncode = await process.wait_stopped(60)
        log = process.log()
    assert log.splitlines() == [
        "dersim-trio: error: hypercorn -w 2: each worker would run its own simulator behind the "
        "one port; run one worker (-w 1, the default) and more simulators on more ports"
    ], log
    # every worker exits 2; hypercorn 0.18's own status drops a worker's failure (it reports
    # 0: hypercorn#269), so the line and the ended process are what an operator sees
    assert returncode in (0, REFUSED_EXIT_CODE)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", process.port), timeout=2).close()


def stalled_websocket(port: int) -> socket.socket:
    """A telemetry client that completes the handshake and never reads (4 KiB receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(upgrade_request(port))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def stalled_http_pipeliner(port: int) -> socket.socket:
    """Pipelines GETs of a 1 MB asset and never reads: hypercorn's send to it blocks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    request = (
        f"GET /static/swagger-ui/swagger-ui-bundle.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    ).encode()
    sock.sendall(request * 4)
    return sock


def blocked_sends(server_pid: int, port: int) -> int:
    """Server-side connections on ``port`` with unacknowledged data queued (a stalled peer)."""
    inodes = set()
    for pid in process_tree(server_pid):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = fd.readlink().name
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            tx_queue = int(fields[4].split(":")[0], 16)
            if local_port == port and fields[9] in inodes and tx_queue > 0:
                count += 1
    return count


def reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(
    ("workers", "bound_s"), [(0, EXIT_BOUND_S), (1, W1_EXIT_BOUND_S)], ids=["w0", "w1"]
)
async def test_a_signal_closes_telemetry_clients_with_1001_and_exits_0_despite_stalled_clients(
    tmp_path: Path, signum: signal.Signals, workers: int, bound_s: float
) -> None:
    with hypercorn_process(tmp_path, workers=workers) as process:
        await process.wait_serving()
        assert process.proc is not None
        assert (await trio.to_thread.run_sync(server_info, process.port))["fast_path"] is True
        stalled: list[socket.socket] = []
        try:
            for _ in range(3):
                stalled.append(await trio.to_thread.run_sync(stalled_websocket, process.port))
            stalled.append(await trio.to_thread.run_sync(stalled_http_pipeliner, process.port))

            pid = process.proc.pid

            async def all_stalled() -> bool:
                return await trio.to_thread.run_sync(blocked_sends, pid, process.port) >= 4

            await eventually(all_stalled, within=15)
            codes: list[int] = []
            async with trio.open_nursery() as nursery:
                readers_ready = trio.Semaphore(0)

                async def reader(device: str) -> None:
                    url = f"ws://127.0.0.1:{process.port}{WS_PATH}{device}"
                    async with trio_websocket.open_websocket_url(url) as ws:
                        await ws.get_message()
                        readers_ready.release()
                        try:
                            while True:
                                await ws.get_message()
                        except trio_websocket.ConnectionClosed as closed:
                            codes.append(closed.reason.code)
                    await ws._stream.aclose()  # the server closed first (see test_service_e2e)

                with trio.fail_after(10):
                    for device in ("", "?device=3"):
                        nursery.start_soon(reader, device)
                    for _ in range(2):
                        await readers_ready.acquire()
                signalled = trio.current_time()
                process.request_shutdown(signum)
            returncode = await process.wait_stopped(bound_s - (trio.current_time() - signalled))
        finally:
            for sock in stalled:
                reset(sock)
        log = process.log()
    assert codes == [1001, 1001]
    assert returncode == 0, log
    assert "Traceback" not in log
