"""Every shell command of ``README.md`` and ``examples/README.md`` runs as written.

A reader runs the README's first command, then the others from the repository root in a new
shell, in the order the documents give them, while the first command's simulator keeps serving.
So does this test: every ``sh`` code block, every command (continuation lines joined) through
``bash -c`` with the working directory at the repository root and an environment whose ``PATH``
holds no virtual environment (a fresh shell never activated ``.venv``). A command must exit 0;
a ``curl`` must print JSON that is not an error body (a scrape of ``/metrics``: the Prometheus
text format, parsed by prometheus-client). The liberties it takes, each so that the
run is bounded and never needs a fixed port:

* **Ports**: 8111 to 8129 become a run of 19 consecutive free ports, in order (one run per
  document, ``helpers.free_port_run``), so a fleet on ``-wp 8120`` whose shards take 8121 and
  8122 and whose summary is on 8123 gets ports that were all free and that no other command of
  the document uses; a simulator started without ``-wp`` gets ``-wp`` and the port that stands
  for 8111, its default.
* **Servers** (``.venv/bin/dersim-trio`` without a subcommand, ``hypercorn``, the ``mosquitto``
  broker of the MQTT example; in the foreground or with ``&``) are started in the background and
  waited for until ``GET /api/dersim/overview`` answers 200 (the broker: until its port accepts a
  connection). They serve the commands that follow; starting one on
  a port that is taken stops the one there first, as the reader would with Ctrl-C. At the end
  each gets SIGINT (Ctrl-C) and must exit 0.
* **Long-running commands** (``LONG_RUNNING``: stream consumers that run until Ctrl-C) are
  started, checked to work by what they print, and stopped with SIGINT.
* **Durations**: ``--seconds S`` of ``dersim-trio watch`` and ``record`` is cut to
  ``TOOL_SECONDS``; files they write (``--out``) are removed afterwards.
* **The document's two clients** hard-code ``localhost:8111``; they run with the redirect
  ``test_examples.py`` uses (``helpers.PYTHON_REDIRECT_8111``, ``NODE_REDIRECT_8111``) to the
  port that stands for 8111.

Not run: the first command's install (``python3 -m venv .venv && .venv/bin/pip install -e .``):
the test runs in the environment it makes (``scripts/test.sh`` makes ``.venv`` the same way,
from the pinned test environment); and ``bash scripts/test.sh``, which runs this test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from helpers import NODE_REDIRECT_8111, PYTHON_REDIRECT_8111, ROOT, free_port_run, http_get_raw

pytestmark = pytest.mark.slow  # servers, CLIs and clients as processes: about a minute

DOCUMENTS = ["README.md", "examples/README.md"]
SHELL = {"sh", "bash", "shell"}
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e ."
NOT_RUN = {"bash scripts/test.sh": "runs this test"}
PORT = re.compile(r"\b81(?:1[1-9]|2\d)\b")
DEFAULT_PORT = "8111"
DOCUMENT_PORTS = [str(p) for p in range(8111, 8130)]
TOOL_SECONDS = 3
SERVER_START_LIMIT_S = 60.0
COMMAND_LIMIT_S = 120.0
STOP_LIMIT_S = 15.0
LONG_RUNNING = {
    # what the command prints once it works; then it is stopped (Ctrl-C)
    "examples/anomaly_detector.py": r"(?m)^watching ",
    "examples/client_websockets.py": r"(?m)^\d\d:\d\d:\d\d: -?\d+\.\d\d kW$",
    "examples/client_node.js": r"(?m)^\d\d:\d\d:\d\d: -?\d+\.\d\d kW$",
    "dersim-trio watch": r"(?m)^\d\d:\d\d:\d\d #\d+ d\d+: ",
}
STOPPED_BY_CTRL_C = (0, 130, -signal.SIGINT)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block, in order."""
    blocks, info, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, body = line[3:].strip(), []
            else:
                blocks.append((info, "\n".join(body)))
                info = None
        elif info is not None:
            body.append(line)
    assert info is None, "a code block is not closed"
    return blocks


def shell_commands(text: str) -> list[str]:
    """The commands of every ``sh`` block, in order (continuation lines joined, comment and
    blank lines left out)."""
    commands = []
    for block in (body for info, body in fenced_blocks(text) if info in SHELL):
        pending = ""
        for line in block.splitlines():
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            line, pending = pending + line.strip(), ""
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def readme_setup() -> str:
    """The README's first command minus the install: the simulator it starts."""
    first = shell_commands((ROOT / "README.md").read_text(encoding="utf-8"))[0]
    assert first.startswith(INSTALL + " && "), first
    return first.removeprefix(INSTALL + " && ")


def fresh_shell_env() -> dict[str, str]:
    """This process's environment as a new shell has it: no virtual environment on ``PATH``."""
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    venv_bins = {str(ROOT / ".venv" / "bin")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in venv_bins]
    path = [p for p in path if not (Path(p) / "activate").is_file()]
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def words(command: str) -> list[str]:
    """The command's words, environment assignments and a trailing ``&`` left out."""
    tokens = shlex.split(command, comments=True)
    while tokens and re.fullmatch(r"[A-Z_]+=.*", tokens[0]):
        tokens.pop(0)
    return tokens[:-1] if tokens and tokens[-1] == "&" else tokens


def is_server(command: str) -> bool:
    argv = words(command)
    if not argv:
        return False
    program = Path(argv[0]).name
    if program in ("hypercorn", "mosquitto"):
        return True
    tools = {"watch", "record", "--list-profiles", "--help", "-h"}
    return program == "dersim-trio" and not (len(argv) > 1 and argv[1] in tools)


def server_port(command: str) -> int:
    """The port a server command (after ``Session.substitute``) serves on."""
    argv = words(command)
    if Path(argv[0]).name == "mosquitto":
        return int(argv[argv.index("-p") + 1])
    for flag in ("-wp", "--website_port"):
        if flag in argv:
            return int(argv[argv.index(flag) + 1])
    if "-b" in argv:
        return int(argv[argv.index("-b") + 1].rsplit(":", 1)[1])
    raise AssertionError(f"no port in {command!r}")


def long_running_pattern(command: str) -> str | None:
    bounded = {"--seconds", "--count"} & set(words(command))
    for key, pattern in LONG_RUNNING.items():
        if key in command and not (key == "dersim-trio watch" and bounded):
            return pattern
    return None


@dataclass
class Session:
    """What one document's run started: servers by port, files to remove."""

    ports: dict[str, int]
    env: dict[str, str]
    servers: dict[int, tuple[str, trio.Process]] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def substitute(self, command: str) -> str:
        """The session's free ports for 8111..8129; a simulator without a port on the one for
        8111; tool durations cut to ``TOOL_SECONDS``."""
        command = PORT.sub(lambda m: str(self.ports[m[0]]), command)
        if is_server(command) and Path(words(command)[0]).name == "dersim-trio":
            argv = words(command)
            if "-wp" not in argv and "--website_port" not in argv:
                port = self.ports[DEFAULT_PORT]
                command = re.sub(r"(dersim-trio)(?=\s|$)", rf"\1 -wp {port}", command, count=1)
        if re.search(r"dersim-trio (watch|record) ", command):
            command = re.sub(
                r"--seconds (\d+)", lambda m: f"--seconds {min(int(m[1]), TOOL_SECONDS)}", command
            )
        argv = words(command)
        if "--out" in argv:
            self.written.append(ROOT / argv[argv.index("--out") + 1])
        # the document's two clients hard-code localhost:8111 (see helpers.PYTHON_REDIRECT_8111)
        python_client = "examples/client_websockets.py"
        redirect = f"-c {shlex.quote(PYTHON_REDIRECT_8111)} {python_client}"
        command = command.replace(f"python {python_client}", f"python {redirect}")
        node_client = "examples/client_node.js"
        command = command.replace(
            f"node {node_client}", f"node -r {NODE_REDIRECT_8111} {node_client}"
        )
        return command

    async def start(self, command: str) -> trio.Process:
        return await trio.lowlevel.open_process(
            ["bash", "-c", command],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches every process of it
        )

    async def serve(self, nursery: trio.Nursery, command: str) -> None:
        """Start a server (stopping one on the same port first) and wait until it answers."""
        command = command.removesuffix("&").rstrip()
        port = server_port(command)
        if port in self.servers:
            await self.stop_server(port)
        process = await self.start(command)
        output = Output(process)
        nursery.start_soon(output.drain)
        self.servers[port] = (command, process)
        ready = accepts if Path(words(command)[0]).name == "mosquitto" else answers
        with trio.fail_after(SERVER_START_LIMIT_S):
            while not await trio.to_thread.run_sync(ready, port):
                assert process.poll() is None, f"{command!r} exited:\n{output.text}"
                await trio.sleep(0.1)

    async def stop_server(self, port: int) -> None:
        command, process = self.servers.pop(port)
        code = await interrupt(process)
        assert code == 0, f"{command!r} exited {code} after Ctrl-C"

    async def run_long(self, command: str, pattern: str) -> None:
        """Start it, wait for ``pattern`` in its output, stop it with Ctrl-C."""
        process = await self.start(command)
        output = Output(process)
        try:
            with trio.fail_after(COMMAND_LIMIT_S):
                await output.wait_for(pattern)
        finally:
            code = await interrupt(process)
        assert code in STOPPED_BY_CTRL_C, f"{command!r} exited {code}:\n{output.text}"

    async def run(self, command: str) -> None:
        """Run it to the end: exit 0, and a curl prints JSON that is not an error body (or a
        Prometheus scrape)."""
        with trio.fail_after(COMMAND_LIMIT_S):
            result = await trio.run_process(
                ["bash", "-c", command],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        out, err = result.stdout.decode(), result.stderr.decode()
        assert result.returncode == 0, f"{command!r} exited {result.returncode}:\n{out}{err}"
        if words(command)[0] == "curl" and any(w.endswith("/metrics") for w in words(command)):
            found = {f.name for f in text_string_to_metric_families(out)}
            assert "dersim_ticks" in found, f"{command!r}: {out}"
        elif words(command)[0] == "curl":
            body = json.loads(out)
            assert not (isinstance(body, dict) and "error" in body), f"{command!r}: {out}"


class Output:
    """A process's merged output, read as it arrives."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self.text = ""

    async def wait_for(self, pattern: str) -> None:
        while re.search(pattern, self.text) is None:
            chunk = await self._stream.receive_some(65536)
            assert chunk, f"ended before {pattern!r}:\n{self.text}"
            self.text += chunk.decode(errors="replace")

    async def drain(self) -> None:
        """Keep reading (a server's log must never fill its pipe)."""
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            while chunk := await self._stream.receive_some(65536):
                self.text = (self.text + chunk.decode(errors="replace"))[-20_000:]


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback ``port`` (the broker)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def answers(port: int) -> bool:
    try:
        return http_get_raw(port, "/api/dersim/overview", timeout=5)[0] == 200
    except OSError:
        return False


async def interrupt(process: trio.Process) -> int:
    """Ctrl-C to the process group; its exit code (killed if it outlives ``STOP_LIMIT_S``). Its
    pipes are closed either way."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        with trio.move_on_after(STOP_LIMIT_S):
            return await process.wait()
        raise AssertionError(f"still running {STOP_LIMIT_S:g} s after Ctrl-C")
    finally:
        await kill(process)


async def kill(process: trio.Process) -> None:
    """SIGKILL to the process group (if anything is left of it), then reap it and close its
    pipes, even while the test is being cancelled."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with trio.CancelScope(shield=True):
        await process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                await stream.aclose()


def document_ports() -> dict[str, int]:
    """8111..8129 mapped in order onto a run of consecutive ports free right now."""
    base = free_port_run(len(DOCUMENT_PORTS))
    return {port: base + k for k, port in enumerate(DOCUMENT_PORTS)}


@contextlib.asynccontextmanager
async def session() -> AsyncIterator[tuple[Session, trio.Nursery]]:
    """A document's run: at the end every server gets Ctrl-C (and must exit 0) and every file a
    command wrote is removed."""
    run = Session(ports=document_ports(), env=fresh_shell_env())
    run.env["DERSIM_WS_HOSTPORT"] = f"127.0.0.1:{run.ports[DEFAULT_PORT]}"
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield run, nursery
                for port in list(run.servers):
                    await run.stop_server(port)
            finally:
                for _, process in run.servers.values():
                    await kill(process)
                nursery.cancel_scope.cancel()
    finally:
        for path in run.written:
            path.unlink(missing_ok=True)


def test_the_documents_have_shell_blocks_and_start_with_the_install() -> None:
    """The extraction finds what a reader sees (a change of fence would skip a whole block)."""
    readme = shell_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert readme[0].startswith(INSTALL)
    assert readme[1] == "bash scripts/test.sh"
    assert sum(c.startswith("curl ") for c in readme) >= 15
    assert any(is_server(c) and c.endswith("&") for c in readme)
    examples = shell_commands((ROOT / "examples" / "README.md").read_text(encoding="utf-8"))
    assert any("client_node.js" in c for c in examples)
    for text in ((ROOT / d).read_text(encoding="utf-8") for d in DOCUMENTS):
        # no command in an unmarked fence (a synopsis is marked ``text``)
        for block in (body for info, body in fenced_blocks(text) if not info):
            assert ".venv/bin/" not in block, block
            assert "curl " not in block, block


def test_the_documents_ports_are_one_run_of_free_ports_so_a_fleets_shards_fit() -> None:
    """The README's fleet takes -wp 8120, its shards 8121 and 8122 and its summary 8123: every
    port of the run stands for its document port and was free, and no other server of the
    documents is on one of the fleet's ports (the broker of the MQTT example still runs)."""
    ports = document_ports()
    assert list(ports) == DOCUMENT_PORTS
    base = ports[DEFAULT_PORT]
    assert list(ports.values()) == list(range(base, base + len(DOCUMENT_PORTS)))
    with contextlib.ExitStack() as held:
        for port in ports.values():  # all still free, all at once
            held.enter_context(socket.socket()).bind(("127.0.0.1", port))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    fleet = next(c for c in shell_commands(readme) if " fleet " in c)
    argv = words(fleet)
    first, k = int(argv[argv.index("-wp") + 1]), int(argv[argv.index("--shards") + 1])
    summary = argv[argv.index("--fleet_port") + 1]
    assert str(first) in ports
    assert summary in ports
    assert ports[summary] == ports[str(first)] + k  # the shards' ports lie inside the run
    fleet_ports = {str(p) for p in range(first, first + k + 1)}
    others = [c for d in DOCUMENTS for c in shell_commands((ROOT / d).read_text("utf-8"))]
    for command in others:  # no other server (simulator, broker) listens on one of them
        if is_server(command) and command != fleet:
            assert not fleet_ports & set(PORT.findall(command)), command


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_every_shell_command_runs_as_written(document: str) -> None:
    assert (ROOT / ".venv" / "bin" / "dersim-trio").is_file(), (
        "run the README's first command (or bash scripts/test.sh) first: it creates .venv"
    )
    commands = shell_commands((ROOT / document).read_text(encoding="utf-8"))
    if document == "README.md":
        commands = commands[1:]  # the first one is the setup, run below for every document
    commands = [c for c in commands if c not in NOT_RUN]
    async with session() as (run, nursery):
        await run.serve(nursery, run.substitute(readme_setup()))
        for written in commands:
            command = run.substitute(written)
            if is_server(command):
                await run.serve(nursery, command)
            elif (pattern := long_running_pattern(command)) is not None:
                await run.run_long(command, pattern)
            else:
                await run.run(command)
