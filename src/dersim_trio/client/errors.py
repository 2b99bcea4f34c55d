"""Exceptions raised by the client. Every one is a ``DersimError``; ``str()`` is one clear line."""

from __future__ import annotations

from dersim_trio.api.common import FieldError


class DersimError(Exception):
    """Base class of every error the client raises."""


class InvalidUrl(DersimError, ValueError):
    """The server URL cannot be used (wrong scheme, no host, bad port)."""


class ServerUnreachable(DersimError, ConnectionError):
    """No HTTP answer from the server (refused, timed out, name not resolved)."""


class ApiError(DersimError):
    """The server answered with an error status; carries its ``{"error", "detail"}`` body.

    ``fields`` lists the per-field problems of a rejected body (422), each naming the field,
    the problem and what is allowed.
    """

    def __init__(
        self,
        method: str,
        url: str,
        status: int,
        error: str,
        detail: str,
        fields: list[FieldError] | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = fields or []
        super().__init__(f"{method} {url} -> {status} {error}: {detail}")


class PayloadError(DersimError):
    """The server sent a body or message that does not match the expected model."""


class TelemetryRejected(DersimError):
    """The server refused the telemetry stream for good (e.g. close 1008 for a bad ``device``).

    Not retried: reconnecting would be refused the same way. ``code`` is the WebSocket close
    code (or the HTTP status of a refused upgrade) and ``reason`` the server's text.
    """

    def __init__(self, url: str, code: int, reason: str) -> None:
        self.url = url
        self.code = code
        self.reason = reason
        super().__init__(f"{url}: telemetry refused ({code}): {reason}")


class ReconnectGaveUp(DersimError):
    """``Backoff.max_attempts`` consecutive connection attempts failed."""

    def __init__(self, url: str, attempts: int, last_error: str) -> None:
        self.url = url
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"{url}: gave up after {attempts} attempt(s): {last_error}")
