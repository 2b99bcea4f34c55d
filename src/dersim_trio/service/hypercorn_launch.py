"""The front door's fast path and bounded shutdown inside ``hypercorn -k trio``'s own worker.

Under ``hypercorn -k trio dersim_trio.asgi:app`` hypercorn owns the listening socket, accepts
every connection and runs the worker's shutdown. ``HypercornLaunch`` plugs into that worker
through ``web/hypercorn_bridge.py`` (``serve_in_hypercorn_worker``) and gives it what
``dersim-trio`` has:

* **Routing.** Every accepted plaintext connection goes through a ``FrontDoor`` without a
  listener: a telemetry WebSocket upgrade (the request line and head the door checks under
  ``dersim-trio``) is served by the same pre-framed ``Broadcaster``; everything else is handed
  to hypercorn's own connection handling with the bytes read so far replayed.
* **Shutdown.** When the worker begins its graceful shutdown (hypercorn's ``terminated``), the
  hub is closed, so every telemetry client (fast path or quart route) gets close 1001; after
  hypercorn's ``graceful_timeout`` every connection still open (a client that stopped reading,
  which pins hypercorn's shielded send) is aborted, so the worker ends.
* **Settings and worker count.** Before the worker serves: ``web/hypercorn_settings.py`` is
  applied wherever the operator gave no value; the listening sockets get ``TCP_USER_TIMEOUT``
  (as the door's own listener) and, unless ``--backlog`` was given, the door's listen backlog
  (4096 where hypercorn's is 100, so a thousand clients connecting at once see no dropped
  SYNs; Linux takes a second ``listen`` on a listening socket as a new backlog). More than one
  worker (``-w N``, N > 1) or worker recycling (``--max-requests``) is refused with one line
  and exit code 2: each worker process would run its own simulator behind the one port, and
  clients would see different simulators.
"""

from __future__ import annotations

import logging
import socket
import sys
import time

import trio
from hypercorn.config import Config

from dersim_trio.service.hub import Hub
from dersim_trio.web.fastpath.broadcaster import Broadcaster
from dersim_trio.web.fastpath.door import LISTEN_BACKLOG, TCP_USER_TIMEOUT_MS, FrontDoor
from dersim_trio.web.hosts import HostPolicy
from dersim_trio.web.hypercorn_bridge import (
    HttpHandler,
    WorkerShutdown,
    explicitly_set,
    is_first_worker,
)
from dersim_trio.web.hypercorn_settings import SETTINGS, apply_settings

log = logging.getLogger("dersim_trio.Lab")

REFUSED_EXIT_CODE = 2
REFUSAL_WAIT_S = 30.0
"""How long a refusing worker other than the first waits to be terminated by hypercorn (the
first worker prints the refusal and exits, which ends the others)."""


class HypercornLaunch:
    """Serves the hub's telemetry on the fast path inside hypercorn's worker (``WorkerHooks``)."""

    def __init__(
        self, hub: Hub, *, fast_path: bool = True, hosts: HostPolicy | None = None
    ) -> None:
        self._hub = hub
        self._fast_path = fast_path
        self._hosts = hosts
        self._nursery: trio.Nursery | None = None
        self.broadcaster: Broadcaster | None = None
        self.door: FrontDoor | None = None
        self._watching = False
        self.aborted_at_shutdown = 0

    def start(self, nursery: trio.Nursery) -> None:
        """Create the broadcaster (its flush tasks run in ``nursery``): the ASGI lifespan's
        startup, before hypercorn accepts anything. Without the fast path the door routes every
        connection to hypercorn (the quart route serves the stream) and only bounds shutdown."""
        self._nursery = nursery
        self.broadcaster = Broadcaster(self._hub, nursery) if self._fast_path else None
        self.door = FrontDoor(
            None,
            None,
            self.broadcaster.serve_client if self.broadcaster is not None else None,
            hosts=self._hosts,
        )

    # --- WorkerHooks ------------------------------------------------------------------------------
    def worker_starting(self, config: Config, listen_sockets: list[socket.socket]) -> None:
        """Refuse several workers; apply the settings; TCP_USER_TIMEOUT on the listeners."""
        refusal = _refusal(config)
        if refusal is not None:
            if is_first_worker():  # every worker refuses; one line is enough
                print(f"dersim-trio: error: {refusal}", file=sys.stderr, flush=True)
            else:
                # hypercorn terminates every worker as soon as one exits, so a worker that
                # exited first could end the first one before its line: the others wait for
                # that termination (SIGTERM, at its default here), bounded in case it never comes
                time.sleep(REFUSAL_WAIT_S)
            raise SystemExit(REFUSED_EXIT_CODE)
        kept = frozenset(name for name in SETTINGS if explicitly_set(config, name))
        applied = apply_settings(config, keep=kept)
        log.info(
            "hypercorn settings: %s%s",
            ", ".join(f"{name}={value}" for name, value in applied.items()),
            f" (as given: {', '.join(f'{n}={getattr(config, n)}' for n in sorted(kept))})"
            if kept
            else "",
        )
        backlog = None if explicitly_set(config, "backlog") else LISTEN_BACKLOG
        for sock in listen_sockets:
            if sock.type != socket.SOCK_STREAM:
                continue
            if backlog is not None:
                sock.listen(backlog)
            if hasattr(socket, "TCP_USER_TIMEOUT") and sock.family != socket.AF_UNIX:
                # Linux copies it to every accepted socket, as for the door's own listener
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS)

    async def serve_connection(
        self, stream: trio.SocketStream, serve_http: HttpHandler, shutdown: WorkerShutdown
    ) -> None:
        """Route one accepted connection through the door (fast path or hypercorn)."""
        if self.door is None or self._nursery is None:  # not started: hypercorn serves it
            await serve_http(stream, b"")
            return
        if not self._watching:
            self._watching = True
            self._nursery.start_soon(self._close_at_shutdown, shutdown)
        await self.door.handle_connection(stream, serve_http)

    async def _close_at_shutdown(self, shutdown: WorkerShutdown) -> None:
        await shutdown.wait()
        assert self.door is not None
        log.info("shutting down: closing %d connection(s)", self.door.open_connections)
        self._hub.close_all()
        with trio.move_on_after(shutdown.graceful_timeout_s):
            await self.door.wait_all_closed()
        aborted = self.aborted_at_shutdown = self.door.abort_all()
        shutdown.end_connections()  # no shielded HTTP send outlives its aborted socket
        if aborted:
            log.info("aborted %d connection(s) that did not close in time", aborted)


def _refusal(config: Config) -> str | None:
    if config.workers > 1:
        return (
            f"hypercorn -w {config.workers}: each worker would run its own simulator behind the "
            "one port; run one worker (-w 1, the default) and more simulators on more ports"
        )
    if config.max_requests is not None:
        return (
            f"hypercorn --max-requests {config.max_requests}: a recycled worker starts a new "
            "simulator; leave --max-requests unset"
        )
    return None
