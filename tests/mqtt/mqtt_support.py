"""A real Mosquitto for the MQTT tests, and a trio-side MQTT client built on paho-mqtt.

``Broker`` runs Debian's ``mosquitto`` on 127.0.0.1 and a free port with its own configuration
file (anonymous, no persistence, log to stdout); ``start`` returns once Mosquitto logs that it
is running, ``stop`` terminates it, ``restart`` does both on the same port. ``TestClient`` is a
paho-mqtt client whose network loop runs in its thread; messages reach the trio thread through
an unbounded memory channel (``TrioToken.run_sync_soon``), so ``receive`` waits on an event,
never on a sleep.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import trio
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from helpers import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
_ids = itertools.count()


class Broker:
    """One Mosquitto process (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        nursery: trio.Nursery,
        *,
        tls: TlsFiles | None = None,
        password_file: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.tls = tls
        self.config = directory / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1"]
        if tls is not None:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        if password_file is not None:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines += ["allow_anonymous true"]
        # as root, Mosquitto would switch to the user "mosquitto", who cannot read tmp_path
        lines += ["user root" if os.geteuid() == 0 else "", "persistence false", "log_dest stderr"]
        lines += [f"log_type {t}" for t in ("error", "warning", "notice", "information")]
        self.config.write_text("\n".join(lines) + "\n")
        self.log: list[str] = []
        self._nursery = nursery
        self._process: trio.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls is not None else "mqtt"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start Mosquitto and return once it accepts connections."""
        assert self._process is None
        process = await trio.lowlevel.open_process(
            [MOSQUITTO, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # unbuffered, unlike its stdout into a pipe
        )
        self._process = process
        self.starts += 1
        running = trio.Event()
        self._nursery.start_soon(self._read_log, process, running)
        try:
            await running.wait()
        except BaseException:  # timed out or cancelled: never leave a broker behind
            self._process = None
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
            raise

    async def _read_log(self, process: trio.Process, running: trio.Event) -> None:
        assert process.stderr is not None
        pending = b""
        async for chunk in process.stderr:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                self.log.append(text)
                if " running" in text:
                    running.set()
        if not running.is_set():
            await process.wait()
            raise AssertionError("mosquitto exited before running:\n" + "\n".join(self.log))

    async def stop(self) -> None:
        """Terminate Mosquitto and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        await process.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def kill_now(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


async def make_tls_files(directory: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (``openssl``)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    san = directory / "san.ext"
    san.write_text("subjectAltName=IP:127.0.0.1\n")
    new_key = ["-newkey", "rsa:2048", "-nodes"]
    subject = ["-subj", "/CN=dersim test CA"]
    sign = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-extfile", san]
    for argv in (
        ["req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "2", *subject],
        ["req", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, *sign, "-out", cert, "-days", "2"],
    ):
        command = ["openssl", *map(str, argv)]
        await trio.run_process(command, capture_stdout=True, capture_stderr=True)
    return TlsFiles(ca, cert, key)


async def make_password_file(directory: Path, user: str, password: str) -> Path:
    """A Mosquitto password file with one user (``mosquitto_passwd``)."""
    path = directory / "passwords"
    await trio.run_process(["mosquitto_passwd", "-b", "-c", str(path), user, password])
    return path


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    correlation_data: bytes | None
    user_properties: tuple[tuple[str, str], ...]


class TestClient:
    """A paho-mqtt client for tests (MQTT 5 unless ``v311``)."""

    __test__ = False

    def __init__(
        self,
        port: int,
        *,
        v311: bool = False,
        tls: TlsFiles | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.v311 = v311
        protocol = MQTTProtocolVersion.MQTTv311 if v311 else MQTTProtocolVersion.MQTTv5
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{next(_ids)}", protocol=protocol
        )
        self._token = trio.lowlevel.current_trio_token()
        self._send, self._receive = trio.open_memory_channel[Message](math.inf)
        self._connected = trio.Event()
        self._acks: dict[int, trio.Event] = {}
        if tls is not None:
            self.client.tls_set(ca_certs=str(tls.ca))
        if credentials is not None:
            self.client.username_pw_set(*credentials)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    async def __aenter__(self) -> TestClient:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        await self._connected.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.client.disconnect()
        await trio.to_thread.run_sync(self.client.loop_stop)

    async def subscribe(self, *topics: str) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        event = trio.Event()
        _, mid = self.client.subscribe([(topic, 1) for topic in topics])
        assert mid is not None
        self._acks[mid] = event
        await event.wait()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
    ) -> None:
        props = None
        if response_topic is not None or correlation_data is not None:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                props.ResponseTopic = response_topic
            if correlation_data is not None:
                props.CorrelationData = correlation_data
        self.client.publish(topic, payload, qos=1, properties=props)

    async def receive(self, topic: str | None = None) -> Message:
        """The next message (on ``topic`` if given; others before it are skipped)."""
        async for message in self._receive:
            if topic is None or paho.topic_matches_sub(topic, message.topic):
                return message
        raise AssertionError("the client's channel closed")

    # paho's loop thread
    def _on_connect(self, client: paho.Client, *args: object) -> None:
        self._token.run_sync_soon(self._connected.set)

    def _on_subscribe(self, client: paho.Client, userdata: object, mid: int, *args: object) -> None:
        def acked() -> None:
            event = self._acks.pop(mid, None)
            if event is not None:
                event.set()

        self._token.run_sync_soon(acked)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        props = msg.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        users = tuple(getattr(props, "UserProperty", ()) or ()) if props is not None else ()
        message = Message(
            msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, correlation, users
        )
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._send.send_nowait, message)


class StallingProxy:
    """A TCP relay between a simulator and the broker whose simulator→broker direction can be
    held: held, it stops reading what the simulator writes (as a stalled or overloaded broker
    does, so the simulator's socket buffers fill and its writes block), while the broker's
    messages (requests, acknowledgements) still reach the simulator. Its receive buffer is
    small, so a held relay backs the simulator up quickly."""

    RECEIVE_BUFFER = 16 * 1024

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.port = 0
        self._flowing = trio.Event()
        self._flowing.set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RECEIVE_BUFFER)
        await sock.bind(("127.0.0.1", 0))
        sock.listen()
        self.port = sock.getsockname()[1]
        listener = trio.SocketListener(sock)
        task_status.started()
        await trio.serve_listeners(self._relay, [listener])

    def hold(self) -> None:
        """Stop reading from the simulator (after the chunk in hand, if any)."""
        if self._flowing.is_set():
            self._flowing = trio.Event()

    def release(self) -> None:
        self._flowing.set()

    async def _relay(self, simulator: trio.SocketStream) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", self.broker_port)
        async with simulator, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, simulator, upstream, True, nursery.cancel_scope)
            nursery.start_soon(self._pump, upstream, simulator, False, nursery.cancel_scope)

    async def _pump(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        holdable: bool,
        done: trio.CancelScope,
    ) -> None:
        try:
            while True:
                if holdable:
                    await self._flowing.wait()
                data = await source.receive_some(65536)
                if not data:
                    break
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()
