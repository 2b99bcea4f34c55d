"""The in-process log buffer behind ``GET /api/dersim/logs`` (the dashboard's Logs tab).

Theory of operation. ``LogBufferHandler`` is a ``logging.Handler`` attached to the
``dersim_trio`` logger (``install_log_buffer``); every record that reaches it becomes one
``LogEntry`` in a ``LogBuffer``: a bounded deque (``capacity`` entries, default 5,000; the oldest
is dropped and counted once it is full). Each entry gets the next id of a monotonic counter, so
a poller asks for ``id > after`` and receives only what is new.

What an entry says:

* ``module``: the first part of the logger name after ``dersim_trio.``, one of ``MODULES``
  (``Lab`` supervisor, ``AC`` AC side, ``DC`` DC source, ``Grid`` IEEE 1547 grid support: trips,
  re-entry, grid events and settings changes, ``WS`` web server and WebSocket, ``API`` HTTP
  API, ``Modbus`` the SunSpec Modbus server: every register write); ``dersim_trio.hypercorn``
  (the web server's own log) is ``WS``, the bare ``dersim_trio`` logger (quart's app logger:
  request exceptions) is ``API``, anything else ``Lab``.
* ``level``: ``debug``/``info``/``warning``/``error`` (critical counts as error).
* ``device``: ``extra={"device": n}`` on the call, else a "device N" in the message, else None.
* ``time``: the record's own creation time (wall clock, UTC, ISO 8601 with milliseconds).

Audit records (``extra={"audit": True}`` on the call: every mutating API request, every Modbus
write) are kept in a bounded buffer of their own (``audit_capacity``, default 1,000), so a flood
of connection chatter (thousands of anonymous WebSocket connects) cannot push the record of a
change out; a query reads both buffers merged by id (``audit_only`` reads only the audit one).

Records are turned into entries under a lock, so any thread may log and query. The message is
formatted when the record arrives (its arguments may change later); the timestamp text only
when queried.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final, Literal, NamedTuple

Module = Literal["Lab", "AC", "DC", "Grid", "WS", "API", "Modbus"]
LevelName = Literal["debug", "info", "warning", "error"]

MODULES: Final[tuple[Module, ...]] = ("Lab", "AC", "DC", "Grid", "WS", "API", "Modbus")
LEVELS: Final[dict[LevelName, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
DEFAULT_CAPACITY = 5000
DEFAULT_AUDIT_CAPACITY = 1000
ROOT_LOGGER = "dersim_trio"

_MODULE_ALIASES: Final[dict[str, Module]] = {
    **{m: m for m in MODULES},
    "hypercorn": "WS",
}
_DEVICE_IN_MESSAGE = re.compile(r"\bdevice\s*[=#:]?\s*(\d+)\b", re.IGNORECASE)


@lru_cache(maxsize=256)
def module_of(logger_name: str) -> Module:
    """The Logs-tab module of a logger name (see the module docstring)."""
    if logger_name == ROOT_LOGGER:
        return "API"
    prefix = ROOT_LOGGER + "."
    if not logger_name.startswith(prefix):
        return "Lab"
    head = logger_name[len(prefix) :].split(".", 1)[0]
    return _MODULE_ALIASES.get(head, "Lab")


def level_name(levelno: int) -> LevelName:
    """The Logs-tab level of a ``logging`` level number."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def device_of(record: logging.LogRecord, message: str) -> int | None:
    """``extra={"device": n}`` of the record, else "device N" in the message, else None."""
    device = getattr(record, "device", None)
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return device
    if "evice" not in message:  # the regex only when it can match
        return None
    match = _DEVICE_IN_MESSAGE.search(message)
    return int(match.group(1)) if match else None


class LogEntry(NamedTuple):
    """One buffered log record (a named tuple: cheap to create under a flood)."""

    id: int
    created: float
    """Wall-clock creation time, seconds since the Unix epoch (``LogRecord.created``)."""
    levelno: int
    module: Module
    device: int | None
    message: str
    audit: bool = False
    """An audit record of a change (kept in the audit buffer)."""

    @property
    def level(self) -> LevelName:
        """``debug``, ``info``, ``warning`` or ``error``."""
        return level_name(self.levelno)

    @property
    def time(self) -> str:
        """The creation time, ISO 8601 UTC with milliseconds."""
        return datetime.fromtimestamp(self.created, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class LogPage:
    """A query result: entries oldest first, and the id to poll after next time."""

    entries: list[LogEntry]
    next_after: int
    """The newest id in the buffer at query time (0 if nothing was ever logged)."""


@dataclass(frozen=True, slots=True)
class LogBufferStatistics:
    """Counters of the buffer (see ``LogBuffer.statistics``)."""

    capacity: int
    size: int
    last_id: int
    dropped: int
    """Entries pushed out by newer ones since the start (not counting audit records)."""
    audit_capacity: int = DEFAULT_AUDIT_CAPACITY
    audit_size: int = 0
    audit_dropped: int = 0
    """Audit records pushed out by newer audit records since the start."""


class LogBuffer:
    """The newest ``capacity`` log entries and the newest ``audit_capacity`` audit records, with
    monotonic ids shared by both (thread-safe)."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, audit_capacity: int = DEFAULT_AUDIT_CAPACITY
    ) -> None:
        if capacity < 1 or audit_capacity < 1:
            raise ValueError("capacities must be >= 1")
        self.capacity = capacity
        self.audit_capacity = audit_capacity
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._audit: deque[LogEntry] = deque(maxlen=audit_capacity)
        self._last_id = 0
        self._dropped = 0
        self._audit_dropped = 0
        self._lock = threading.Lock()

    def append(
        self,
        created: float,
        levelno: int,
        module: Module,
        device: int | None,
        message: str,
        *,
        audit: bool = False,
    ) -> LogEntry:
        """Store one entry in its buffer (dropping that buffer's oldest when full); return it."""
        with self._lock:
            self._last_id += 1
            entry = LogEntry(self._last_id, created, levelno, module, device, message, audit)
            if audit:
                if len(self._audit) == self.audit_capacity:
                    self._audit_dropped += 1
                self._audit.append(entry)
            else:
                if len(self._entries) == self.capacity:
                    self._dropped += 1
                self._entries.append(entry)
            return entry

    def query(
        self,
        *,
        module: Module | None = None,
        min_level: LevelName | None = None,
        limit: int = 200,
        after: int = 0,
        audit_only: bool = False,
    ) -> LogPage:
        """The newest ``limit`` entries with ``id > after`` matching the filters, oldest first
        (both buffers merged by id; only the audit buffer with ``audit_only``)."""
        min_levelno = LEVELS[min_level] if min_level is not None else 0
        with self._lock:
            newest = self._last_id
            sources = [reversed(self._audit)]
            if not audit_only:
                sources.append(reversed(self._entries))
            picked: list[LogEntry] = []
            for entry in heapq.merge(*sources, key=_newest_first):
                if entry.id <= after:
                    break
                if entry.levelno < min_levelno or (module is not None and entry.module != module):
                    continue
                picked.append(entry)
                if len(picked) >= limit:
                    break
        picked.reverse()
        return LogPage(picked, newest)

    def statistics(self) -> LogBufferStatistics:
        """Capacities, fills, last id and dropped counts."""
        with self._lock:
            return LogBufferStatistics(
                self.capacity,
                len(self._entries),
                self._last_id,
                self._dropped,
                self.audit_capacity,
                len(self._audit),
                self._audit_dropped,
            )


def _newest_first(entry: LogEntry) -> int:
    return -entry.id


class LogBufferHandler(logging.Handler):
    """Feeds every record it handles into a ``LogBuffer``."""

    def __init__(self, buffer: LogBuffer, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        """Turn ``record`` into a ``LogEntry`` (never raises into the logging call)."""
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message} ({type(exc).__name__}: {exc})"
            self.buffer.append(
                record.created,
                record.levelno,
                module_of(record.name),
                device_of(record, message),
                message,
                audit=getattr(record, "audit", False) is True,
            )
        except Exception:
            self.handleError(record)


_saved_levels: dict[str, int] = {}
"""Logger name → its level before the first buffer handler lowered it."""


def _buffer_handlers(logger: logging.Logger) -> list[LogBufferHandler]:
    return [h for h in logger.handlers if isinstance(h, LogBufferHandler)]


@dataclass(slots=True)
class InstalledHandler:
    """A handler attached by ``install_log_buffer``; ``remove()`` undoes the installation."""

    logger: logging.Logger
    handler: LogBufferHandler

    def remove(self) -> None:
        """Detach the handler; the last one removed restores the logger's original level."""
        self.logger.removeHandler(self.handler)
        if not _buffer_handlers(self.logger):
            saved = _saved_levels.pop(self.logger.name, None)
            if saved is not None:
                self.logger.setLevel(saved)


def install_log_buffer(
    buffer: LogBuffer, *, logger_name: str = ROOT_LOGGER, level: int = logging.DEBUG
) -> InstalledHandler:
    """Attach a ``LogBufferHandler`` to ``logger_name`` so records of ``level`` and up reach it.

    The logger's own level is lowered to ``level`` if needed (otherwise an INFO heartbeat would
    never reach the buffer under a WARNING root); what a console shows is up to the console
    handler's level (the CLI sets it from ``--log_level``). Call ``remove()`` on the result when
    the buffer's owner stops (tests start many services in one process).
    """
    logger = logging.getLogger(logger_name)
    if not _buffer_handlers(logger):
        _saved_levels[logger_name] = logger.level
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    handler = LogBufferHandler(buffer, level)
    logger.addHandler(handler)
    return InstalledHandler(logger, handler)
