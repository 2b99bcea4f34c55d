"""Host names as they appear in a ``Host`` header or an ``--allowed_hosts`` entry.

``split_host`` parses ``name``, ``name:port``, ``[IPv6]`` and ``[IPv6]:port`` (RFC 9110 §7.2,
RFC 3986 §3.2.2) into a normalised name and an optional port; ``parse_allowed_hosts`` checks the
flag's comma-separated entries. Pure functions: the web layer (``web/hosts.py``) applies them.
"""

from __future__ import annotations

import ipaddress
import re

ANY_HOST = "*"
"""The ``--allowed_hosts`` entry that turns the Host check off."""

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
MAX_NAME_LENGTH = 253


def normalize_name(name: str) -> str:
    """A host name lower-cased without a trailing dot, or an IP literal in its canonical form
    (an IPv4-mapped IPv6 address as IPv4); ``ValueError`` if it is neither."""
    name = name.strip().lower().removesuffix(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
            raise ValueError(f"not a host name or IP address: {name!r}") from None
        return name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def split_host(value: str) -> tuple[str, int | None]:
    """``(normalised name, port or None)`` of ``name[:port]`` or ``[IPv6][:port]``;
    ``ValueError`` for anything else (an IPv6 literal must be bracketed when a port follows)."""
    value = value.strip()
    port_text: str | None = None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {value!r}")
        name, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"unexpected {rest!r} after the address in {value!r}")
            port_text = rest[1:]
        if ":" not in name:
            raise ValueError(f"brackets hold an IPv6 address only: {value!r}")
    elif value.count(":") == 1:
        name, port_text = value.split(":")
    elif ":" in value:
        raise ValueError(f"an IPv6 address needs brackets: {value!r}")
    else:
        name = value
    port = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"port must be 1..65535 in {value!r}")
        port = int(port_text)
    return normalize_name(name), port


def parse_allowed_hosts(raw: str) -> tuple[str, ...]:
    """The entries of ``--allowed_hosts`` (comma-separated ``name``, ``name:port``,
    ``[IPv6]:port`` or ``*``), each checked; ``ValueError`` naming the first bad one."""
    entries: list[str] = []
    for part in raw.split(","):
        entry = part.strip()
        if not entry:
            continue
        if entry != ANY_HOST:
            split_host(entry)
        entries.append(entry)
    return tuple(entries)
