"""The hypercorn settings the service runs with, under either launch (one source of truth).

``dersim-trio`` builds hypercorn's ``Config`` itself (``service.run.hypercorn_config``); under
``hypercorn -k trio dersim_trio.asgi:app`` the app applies the same values to the worker's
``Config`` before it serves, except where the operator gave a value on hypercorn's command line
or in its config file (``service.hypercorn_launch``). Names are hypercorn ``Config`` attributes.

* ``keep_alive_timeout`` 5 s: an idle keep-alive connection closes after this (re-armed after
  every response, see ``web/asgi_shield.py``); it is also the front door's head timeout.
* ``read_timeout`` none (hypercorn's default, set explicitly): hypercorn's trio worker runs its
  read timer on every read, also while the app computes a response and on WebSocket
  connections whose clients never send (the telemetry stream's normal case). Keeping those
  alive would take ``websocket_ping_interval``, and hypercorn's ping task keeps every closed
  WebSocket connection open until its next ping is due (measured: 500 closed quart-route
  connections still open with a 20 s interval). Dead peers are dropped by ``TCP_USER_TIMEOUT``
  (10 s, on the listening socket under either launch), idle keep-alive connections by the
  keep-alive timeout, a first request head that never completes by the door's head timeout.
* ``h11_max_incomplete_size`` 16 KiB: the largest request head (the front door reads a
  telemetry head up to the same size).
* ``websocket_max_message_size`` 64 KiB: the largest message a client may send; the fast path
  closes with 1009 above the same size.
* ``graceful_timeout`` 1 s: how long shutdown waits for connections after every telemetry
  client got close 1001; whatever is still open then (a client that stopped reading) is
  aborted, so the process exits within 2 s of SIGINT/SIGTERM.
"""

from __future__ import annotations

from typing import Any

from hypercorn.config import Config

from dersim_trio.web.fastpath.door import HEAD_TIMEOUT_S, MAX_HEAD_BYTES
from dersim_trio.web.fastpath.frames import MAX_CLIENT_MESSAGE_BYTES

KEEP_ALIVE_TIMEOUT_S = HEAD_TIMEOUT_S
GRACEFUL_TIMEOUT_S = 1.0

SETTINGS: dict[str, Any] = {
    "keep_alive_timeout": KEEP_ALIVE_TIMEOUT_S,
    "read_timeout": None,
    "h11_max_incomplete_size": MAX_HEAD_BYTES,
    "websocket_max_message_size": MAX_CLIENT_MESSAGE_BYTES,
    "graceful_timeout": GRACEFUL_TIMEOUT_S,
}


def apply_settings(config: Config, *, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Set ``SETTINGS`` on ``config`` except the names in ``keep``; return what was set."""
    applied = {name: value for name, value in SETTINGS.items() if name not in keep}
    for name, value in applied.items():
        setattr(config, name, value)
    return applied
