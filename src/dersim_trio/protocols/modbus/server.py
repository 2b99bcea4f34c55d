"""The SunSpec Modbus TCP server: a thin trio shell around the sans-IO codec and device maps.

Layout: device *i* listens on its own TCP port, ``--modbus_port`` + *i* (port 0: each device a
free port, for tests), on ``--modbus_ip`` (default: the web bind address), as real devices each
have their own address. Every listening socket is bound before the first client is served (the
CLI binds them before the service starts, so a port in use exits 2 with one line).

Per connection (one trio task each, in the server's nursery): bytes go through a
``FrameDecoder``; each complete frame is answered by its ``SunSpecDevice`` (synchronous: one
request sees one tick), and the answers to the frames of one read go out in one send (a send is
the costliest step of a request on loopback: a profile put 0.5 ms of a loaded machine's CPU on
each) before the next bytes are read. Limits, named here
once:

* ``--modbus_max_connections`` per device (default 16; 1 with ``single_connection``): a
  connection above it is accepted and closed at once (the client sees the connection end before
  any answer), logged at most once a second per device;
* ``--modbus_idle_timeout_s`` (default 60 s) without a byte between frames closes the
  connection, ``FRAME_TIMEOUT_S`` (5 s) in the middle of a frame (a client that stalled);
* ``SEND_TIMEOUT_S`` (10 s) to deliver an answer to a client that stopped reading;
* a malformed frame (``codec.MalformedFrame``) closes that connection only.

Nothing a client does reaches the tick loop or another connection: the handler never blocks,
and every send is a checkpoint, so the tick loop keeps its deadlines while clients poll.

Scale: each device costs one listening descriptor and each client one more. N devices need the
ports P..P+N−1 (at most 65535, and better below the system's ephemeral range, 32768 on Linux by
default, so outgoing connections never take one) and N + clients descriptors under the process's
open-file limit (the CLI raises the soft limit to the hard limit and refuses to start when N
listeners would not fit).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from functools import partial

import trio

from dersim_trio.api.schema import Snapshot
from dersim_trio.protocols.modbus.codec import FrameDecoder, MalformedFrame
from dersim_trio.protocols.modbus.device import SunSpecDevice
from dersim_trio.protocols.modbus.quirks import Quirks
from dersim_trio.service.operator import Controller

log = logging.getLogger("dersim_trio.Modbus")

FRAME_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 10.0
RECEIVE_BYTES = 4096
LISTEN_BACKLOG = 64
REFUSAL_LOG_INTERVAL_S = 1.0
DESCRIPTOR_RESERVE = 256
"""Descriptors kept for everything but the Modbus listeners (web clients, files, the loop)."""


def open_modbus_sockets(host: str, ports: Sequence[int]) -> list[socket.socket]:
    """Bound, listening TCP sockets, one per port (0: a free one); raises ``OSError`` naming
    the port that failed (the sockets already opened are closed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    opened: list[socket.socket] = []
    try:
        for port in ports:
            sock = socket.socket(family, socket.SOCK_STREAM)
            opened.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise OSError(exc.errno, f"{host}:{port}: {exc.strerror or exc}") from None
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return opened


class LatestSnapshots:
    """The last tick's snapshots, replaced by the tick hook (``observe``)."""

    def __init__(self) -> None:
        self.snapshots: Sequence[Snapshot] = ()

    def observe(self, snapshots: Sequence[Snapshot]) -> None:
        """Keep a tick's snapshots (called after every tick)."""
        self.snapshots = snapshots

    def of(self, index: int) -> Snapshot:
        """Device ``index``'s snapshot of the last tick."""
        return self.snapshots[index]


class ModbusServer:
    """Every device's SunSpec map behind its own listening socket (see the module docstring)."""

    def __init__(
        self,
        controller: Controller,
        latest: LatestSnapshots,
        quirks: Quirks,
        *,
        max_connections: int = 16,
        idle_timeout_s: float = 60.0,
    ) -> None:
        self.quirks = quirks
        self.max_connections = 1 if quirks.single_connection else max_connections
        self.idle_timeout_s = idle_timeout_s
        # device i of the controller (a fleet shard's global index) is the position-th snapshot
        self.devices = [
            SunSpecDevice(i, controller, partial(latest.of, position), quirks)
            for position, i in enumerate(controller.devices)
        ]
        self._last_refusal_log = dict.fromkeys(controller.devices, -REFUSAL_LOG_INTERVAL_S)
        self._refused = dict.fromkeys(controller.devices, 0)

    async def serve(
        self,
        sockets: Sequence[socket.socket],
        *,
        task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve device *i* on ``sockets[i]`` until cancelled; ``started`` with the ports."""
        if len(sockets) != len(self.devices):
            raise ValueError(f"{len(self.devices)} devices need as many sockets")
        ports = [s.getsockname()[1] for s in sockets]
        async with trio.open_nursery() as nursery:
            for device, sock in zip(self.devices, sockets, strict=True):
                listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                nursery.start_soon(
                    partial(
                        trio.serve_listeners,
                        partial(self._connection, device),
                        [listener],
                        handler_nursery=nursery,
                    )
                )
            quirks = ", ".join(self.quirks.names) or "none"
            log.info(
                "SunSpec Modbus TCP: %d device(s) on ports %s, unit id %d, quirks: %s",
                len(ports),
                _port_span(ports),
                self.devices[0].unit_id if self.devices else 1,
                quirks,
            )
            task_status.started(ports)

    def _refuse(self, device: SunSpecDevice, peer: str) -> None:
        i = device.index
        self._refused[i] += 1
        now = trio.current_time()
        if now - self._last_refusal_log[i] >= REFUSAL_LOG_INTERVAL_S:
            self._last_refusal_log[i] = now
            log.warning(
                "device %d: Modbus connection from %s refused: %d connection(s) open, the limit "
                "(%d refused since start)",
                i,
                peer,
                device.connections,
                self._refused[i],
            )

    async def _connection(self, device: SunSpecDevice, stream: trio.SocketStream) -> None:
        peer = _peer(stream)
        if device.connections >= self.max_connections:
            self._refuse(device, peer)
            with trio.move_on_after(SEND_TIMEOUT_S):
                await stream.aclose()
            return
        device.connections += 1
        try:
            await self._serve(device, stream, peer)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("device %d: Modbus client %s reset the connection", device.index, peer)
        except Exception:  # one connection's failure never ends the server
            log.exception("device %d: Modbus connection from %s failed", device.index, peer)
        finally:
            device.connections -= 1
            await trio.aclose_forcefully(stream)

    async def _serve(self, device: SunSpecDevice, stream: trio.SocketStream, peer: str) -> None:
        decoder = FrameDecoder()
        quirks = self.quirks
        index = device.index
        while True:
            mid_frame = decoder.pending > 0
            timeout = (
                min(FRAME_TIMEOUT_S, self.idle_timeout_s) if mid_frame else self.idle_timeout_s
            )
            with trio.move_on_after(timeout) as waited:
                data = await stream.receive_some(RECEIVE_BYTES)
            if waited.cancelled_caught:
                what = "stalled in the middle of a frame" if mid_frame else "idle"
                log.info(
                    "device %d: Modbus client %s %s for %g s: closed", index, peer, what, timeout
                )
                return
            if not data:
                if decoder.pending:
                    log.warning(
                        "device %d: Modbus client %s closed in the middle of a frame "
                        "(truncated, %d bytes)",
                        index,
                        peer,
                        decoder.pending,
                    )
                return
            try:
                frames = decoder.feed(data)
            except MalformedFrame as exc:
                log.warning(
                    "device %d: malformed Modbus frame from %s: %s; closed", index, peer, exc
                )
                return
            replies = [r for r in (device.handle(f, peer) for f in frames) if r is not None]
            if not replies:
                continue
            # pipelined requests: their answers in one send (slow: each after its own delay)
            batches = replies if quirks.slow else [b"".join(replies)]
            for batch in batches:
                if quirks.slow:
                    await trio.sleep(quirks.slow_s)
                with trio.move_on_after(SEND_TIMEOUT_S) as sent:
                    await stream.send_all(batch)
                if sent.cancelled_caught:
                    log.info("device %d: Modbus client %s stopped reading: closed", index, peer)
                    return


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _port_span(ports: Sequence[int]) -> str:
    if not ports:
        return "none"
    if len(ports) == 1:
        return str(ports[0])
    if ports == list(range(ports[0], ports[0] + len(ports))):
        return f"{ports[0]}-{ports[-1]}"
    return ", ".join(str(p) for p in ports[:8]) + (", ..." if len(ports) > 8 else "")
