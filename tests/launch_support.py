"""The launches the contract suite runs against, behind one interface.

* ``fast_path`` and ``quart_route``: ``run_service`` in the test's own trio run (what
  ``dersim-trio`` and ``dersim-trio --fast_path no`` run), observed through its objects.
* ``hypercorn``: ``hypercorn -k trio --graceful-timeout 1 dersim_trio.asgi:app`` as a real
  process (hypercorn's default single worker, so a parent and one worker process), flags in
  ``DERSIM_ARGS``, observed from outside: ``/api/dersim/server-info`` and the process tree's
  sockets in ``/proc``. Its listening socket is bound by the test (port 0) and passed as
  ``-b fd://N``, so no port is picked and lost to a race.

Every wait is bounded by a trio ``fail_after``; nothing sleeps a fixed time to wait for
something (polling with a deadline where another process holds the state).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import trio

LAUNCHES = ("fast_path", "quart_route", "hypercorn")
HYPERCORN_ARGS = ("-k", "trio", "--graceful-timeout", "1")
APP = "dersim_trio.asgi:app"


class Launched(Protocol):
    """A started simulator under one of the launches."""

    port: int

    @property
    def http_url(self) -> str: ...

    async def statistics(self) -> dict[str, Any]:
        """``statistics`` of ``/api/dersim/server-info``."""
        ...

    async def last_tick(self) -> int:
        """The tick published last."""
        ...

    async def open_connections(self) -> int:
        """Accepted connections the server still holds."""
        ...

    async def failed_connections(self) -> int:
        """Connections that failed inside the server (logged and closed)."""
        ...

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown (SIGTERM for a process)."""

    async def wait_stopped(self, within: float) -> int:
        """The exit status once stopped (0 for a clean stop); ``TooSlowError`` after ``within``."""
        ...


class InProcessLaunch:
    """``run_service`` in this trio run (a ``conftest.Served``)."""

    def __init__(self, served: Any) -> None:
        self.served = served
        self.port: int = served.port

    @property
    def http_url(self) -> str:
        return str(self.served.http_url)

    async def statistics(self) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        return dataclasses.asdict(self.served.hub.statistics())

    async def last_tick(self) -> int:
        await trio.lowlevel.checkpoint()
        return int(self.served.hub.last.tick)

    async def open_connections(self) -> int:
        await trio.lowlevel.checkpoint()
        return int(self.served.door.open_connections)

    async def failed_connections(self) -> int:
        await trio.lowlevel.checkpoint()
        return int(self.served.door.connections_failed)

    def request_shutdown(self) -> None:
        self.served.request_shutdown()

    async def wait_stopped(self, within: float) -> int:
        with trio.fail_after(within):
            await self.served.done.wait()
        return 0


class ServerProcess:
    """A simulator process started by a test; ``stop`` always ends it (SIGKILL if needed)."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._argv = argv
        self._env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def hypercorn(
        cls, flags: tuple[str, ...], log_path: Path, *hypercorn_args: str
    ) -> ServerProcess:
        """``hypercorn -k trio --graceful-timeout 1 [hypercorn_args] dersim_trio.asgi:app``."""
        argv = [sys.executable, "-m", "hypercorn", *HYPERCORN_ARGS, *hypercorn_args]
        return cls(argv, {"DERSIM_ARGS": " ".join(flags)}, 0, log_path)

    @classmethod
    def dersim(cls, flags: tuple[str, ...], log_path: Path) -> ServerProcess:
        """``python -m dersim_trio [flags]`` (it binds ``-wp`` itself)."""
        return cls([sys.executable, "-m", "dersim_trio", *flags], {}, 0, log_path)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, bind_port: int | None = None) -> None:
        """Start the process. hypercorn gets a listening socket bound here (``-b fd://N``);
        ``python -m dersim_trio`` binds ``bind_port`` itself."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._env}
        argv = list(self._argv)
        listener: socket.socket | None = None
        if bind_port is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            self.port = listener.getsockname()[1]
            argv += ["-b", f"fd://{listener.fileno()}", APP]
        else:
            self.port = bind_port
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    pass_fds=() if listener is None else (listener.fileno(),),
                )
        finally:
            if listener is not None:
                listener.close()  # the child has its own copy

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_serving(self, within: float = 30) -> None:
        """Until ``GET /api/dersim/overview`` answers 200 (fails if the process exits)."""
        assert self.proc is not None
        with trio.fail_after(within):
            while True:
                assert self.proc.poll() is None, f"exited during start-up:\n{self.log()}"
                status = await trio.to_thread.run_sync(http_status, self.port)
                if status == 200:
                    return
                await trio.sleep(0.05)

    async def statistics(self) -> dict[str, Any]:
        info = await trio.to_thread.run_sync(server_info, self.port)
        return dict(info["statistics"])

    async def last_tick(self) -> int:
        return int((await trio.to_thread.run_sync(server_info, self.port))["tick"])

    async def open_connections(self) -> int:
        assert self.proc is not None
        pid = self.proc.pid
        return await trio.to_thread.run_sync(server_side_connections, pid, self.port)

    async def failed_connections(self) -> int:
        await trio.lowlevel.checkpoint()
        return self.log().count("connection failed")

    def request_shutdown(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_stopped(self, within: float) -> int:
        assert self.proc is not None
        with trio.fail_after(within):
            while self.proc.poll() is None:  # noqa: ASYNC110 - a child process has no trio event
                await trio.sleep(0.01)
        return self.proc.returncode

    def stop(self) -> None:
        """Kill the process if it still runs, and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def http_status(port: int, path: str = "/api/dersim/overview") -> int | None:
    """The status of a one-shot GET, or None if nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def server_info(port: int) -> dict[str, Any]:
    """``GET /api/dersim/server-info`` (read by content-length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"GET /api/dersim/server-info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "closed before the response head"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "closed before the end of the body"
            body += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return dict(json.loads(body))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (hypercorn's worker is a child of its main process)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def server_side_connections(pid: int, port: int) -> int:
    """TCP connections on local ``port`` (not the listener) held open by ``pid``'s tree."""
    inodes = set()
    for p in process_tree(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = fields[3] == "0A"
            if local_port == port and not listening and fields[9] in inodes:
                count += 1
    return count


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float) -> None:
    """Poll ``check`` until true; ``trio.TooSlowError`` after ``within`` seconds."""
    with trio.fail_after(within):
        while not await check():  # noqa: ASYNC110 - polling state another process holds
            await trio.sleep(0.02)
