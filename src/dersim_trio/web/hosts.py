"""The Host rule: a request must name this server, so a DNS rebinding cannot reach it.

A web page can make a visitor's browser send requests anywhere, but it cannot choose the
``Host`` header: the browser sends the name the page used. After a DNS rebinding (a name the
attacker controls, re-pointed to 127.0.0.1) that name is the attacker's, so refusing every Host
but our own names closes the attack. A request is answered only if its Host (for HTTP/2 the
``:authority``) is

* the address the connection came in on (the bound address, or for a wildcard bind the
  interface address the client used), the ``--website_ip`` value as given, ``localhost``,
  ``127.0.0.1`` or ``[::1]``, each with the server's port (no port means 80); or
* an ``--allowed_hosts`` entry: ``name`` (any port: behind a reverse proxy the public port
  differs) or ``name:port``; ``*`` turns the rule off.

Anything else gets 421 (Misdirected Request) with the API's JSON error body, on every HTTP route
and on the telemetry WebSocket upgrade of both paths (``HostGuard`` here for the quart app, the
front door for the fast path). The telemetry stream does not look at ``Origin``: it is read-only,
and open to pages on any origin by design (with the right Host).

``is_loopback_bind`` tells whether ``--website_ip`` keeps the server to this machine (the
service warns at start when it does not and no token protects the mutations).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dersim_trio.setup.hostnames import ANY_HOST, normalize_name, split_host

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
DEFAULT_HTTP_PORT = 80

Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]
ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]


def is_loopback_bind(website_ip: str) -> bool:
    """Whether binding ``website_ip`` keeps the server reachable from this machine only."""
    if website_ip.strip().lower().removesuffix(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(website_ip.strip()).is_loopback
    except ValueError:
        return False  # a wildcard or another host name


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Which ``Host`` values this server answers (see the module docstring)."""

    names: frozenset[str] = LOOPBACK_NAMES
    """Normalised names accepted on the server's own port."""
    extra: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)
    """``--allowed_hosts`` entries: (name, port), port None for any."""
    any_host: bool = False

    @classmethod
    def for_server(cls, website_ip: str, allowed_hosts: Iterable[str] = ()) -> HostPolicy:
        """The policy of a server bound to ``website_ip`` with ``--allowed_hosts`` entries
        (already checked by the flag parser)."""
        names = set(LOOPBACK_NAMES)
        if website_ip.strip() not in WILDCARD_BINDS:
            with contextlib.suppress(ValueError):  # not a name a Host header could carry
                names.add(normalize_name(website_ip))
        extra: set[tuple[str, int | None]] = set()
        any_host = False
        for entry in allowed_hosts:
            if entry == ANY_HOST:
                any_host = True
            else:
                extra.add(split_host(entry))
        return cls(frozenset(names), frozenset(extra), any_host)

    def refusal(self, host: str | None, local: tuple[str, int] | None) -> str | None:
        """None if ``host`` names this server, else why not. ``local`` is the connection's
        local (address, port), None when unknown (then the port is not checked)."""
        if self.any_host:
            return None
        if not host:
            return "the request has no Host header"
        try:
            name, port = split_host(host)
        except ValueError:
            return f"Host {host[:100]!r} is not a host name"
        wanted = port if port is not None else DEFAULT_HTTP_PORT
        for allowed_name, allowed_port in self.extra:
            if name == allowed_name and allowed_port in (None, wanted):
                return None
        if local is not None:
            try:
                local_name = normalize_name(str(local[0]))
            except ValueError:
                local_name = None
            if (name in self.names or name == local_name) and wanted == local[1]:
                return None
        elif name in self.names:
            return None
        return (
            f"Host {host[:100]!r} does not name this server: use its address, localhost, "
            "127.0.0.1 or [::1] with its port, or start it with --allowed_hosts"
        )


def misdirected_body(detail: str) -> bytes:
    """The JSON error body of a refused Host (the API's ``ErrorBody`` shape)."""
    return json.dumps({"error": "misdirected_request", "detail": detail}).encode()


class HostGuard:
    """ASGI middleware applying a ``HostPolicy`` to every HTTP request and WebSocket upgrade."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        """Answer 421 to a request whose Host is refused; pass everything else on."""
        kind = scope.get("type")
        if kind in ("http", "websocket"):
            host = None
            for name, value in scope.get("headers", ()):
                if name == b"host":
                    host = value.decode("latin-1")
                    break
            server = scope.get("server")
            local = (str(server[0]), int(server[1])) if server and server[1] else None
            refusal = self._policy.refusal(host, local)
            if refusal is not None:
                await _refuse(kind, scope, send, misdirected_body(refusal))
                return
        await self._app(scope, receive, send)


async def _refuse(kind: str, scope: Any, send: Send, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if kind == "http":
        await send({"type": "http.response.start", "status": 421, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 421, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without the HTTP-response extension: refuse the upgrade (403)
        await send({"type": "websocket.close", "code": 1008})
