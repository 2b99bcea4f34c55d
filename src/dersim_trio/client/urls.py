"""One server URL in, the HTTP base and the telemetry WebSocket URL out.

Accepted forms: ``http(s)://HOST:PORT[/prefix]``, ``ws(s)://HOST:PORT[/prefix]`` (the
telemetry path is appended), a full ``ws(s)://.../api/dersim/ws/telemetry`` URL (or its alias
``/api/dersim/telemetry/ws``), and a bare ``HOST:PORT`` (taken as ``http://``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from dersim_trio.client.errors import InvalidUrl

TELEMETRY_PATH = "/api/dersim/ws/telemetry"
_TELEMETRY_PATHS = (TELEMETRY_PATH, "/api/dersim/telemetry/ws")
_WS_OF = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_HTTP_OF = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


@dataclass(frozen=True, slots=True)
class ServerUrls:
    """Where one simulator answers."""

    http_base: str
    """e.g. ``http://127.0.0.1:8111`` (REST paths are appended)."""
    ws_url: str
    """The telemetry stream, without a query, e.g. ``ws://127.0.0.1:8111/api/dersim/ws/telemetry``."""

    def telemetry_url(self, device: int | None) -> str:
        """The stream URL with the server-side ``?device=N`` filter (all devices for None)."""
        if device is None:
            return self.ws_url
        return f"{self.ws_url}?{urlencode({'device': device})}"


def parse_server_url(url: str) -> ServerUrls:
    """Resolve ``url`` (any accepted form, see the module docstring) or raise ``InvalidUrl``."""
    text = url.strip()
    if not text:
        raise InvalidUrl("invalid URL '': expected http://HOST:PORT or ws://HOST:PORT")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _WS_OF:
        raise InvalidUrl(
            f"invalid URL {url!r}: scheme must be http, https, ws or wss; got {parts.scheme!r}"
        )
    if not parts.hostname:
        raise InvalidUrl(f"invalid URL {url!r}: no host")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    for telemetry in _TELEMETRY_PATHS:
        if path.endswith(telemetry):
            prefix = path[: -len(telemetry)]
            return ServerUrls(
                f"{_HTTP_OF[scheme]}://{netloc}{prefix}", f"{_WS_OF[scheme]}://{netloc}{path}"
            )
    return ServerUrls(
        f"{_HTTP_OF[scheme]}://{netloc}{path}", f"{_WS_OF[scheme]}://{netloc}{path}{TELEMETRY_PATH}"
    )
