"""``dersim-trio watch`` and ``dersim-trio record``: terminal clients on ``dersim_trio.client``.

    dersim-trio watch URL [--device N] [--fields F ...] [--count N] [--seconds S]
    dersim-trio record URL --seconds S --out FILE [--device N] [--format jsonl|csv]

``watch`` prints one line per device per tick on stdout (``12:00:03 #2 d0: 3.21 kW``, or the
chosen fields); reconnects and gaps are noted on stderr. ``record`` writes every snapshot for
``S`` seconds as JSON Lines (the snapshot JSON, one per line) or CSV (one column per
quantity, dotted names), shows a progress bar on a terminal, and reports the gaps at the end.

Exit codes: 0 done, 1 the server could not be reached or refused the stream, 2 a usage
problem (bad URL, unknown field, unwritable file), 130 interrupted. Every error is one line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import IO, Any, NoReturn

import trio

from dersim_trio.client import (
    Backoff,
    DersimClient,
    DersimError,
    Gap,
    InvalidUrl,
    ServerUnreachable,
    Snapshot,
    UnknownField,
    field_value,
    flatten,
    open_telemetry,
    parse_server_url,
    resolve_field,
)

COMMANDS = ("watch", "record")
PROGRESS_WIDTH = 24
HTTP_TIMEOUT_S = 5.0
RETRIES_HELP = "reconnect attempts before giving up (default: forever)"


class UsageError(Exception):
    """A bad command line; ``str()`` is the one line shown (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


_non_negative_int.__name__ = "non-negative integer"  # argparse: "invalid <name> value: 'x'"
_positive_float.__name__ = "positive number"


def build_parser() -> argparse.ArgumentParser:
    """The ``watch``/``record`` command line."""
    parser = _Parser(prog="dersim-trio", description="Telemetry tools for a running simulator.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    watch = sub.add_parser("watch", help="print one line per tick")
    watch.add_argument("url", help="server URL, e.g. http://127.0.0.1:8111 (or its ws:// URL)")
    watch.add_argument("--device", type=_non_negative_int, help="one device (default: all)")
    watch.add_argument(
        "--fields",
        nargs="+",
        default=[],
        help="quantities to print, e.g. power_kw rotor_speed_rpm status.inverter_state",
    )
    watch.add_argument("--count", type=_non_negative_int, help="stop after this many lines")
    watch.add_argument("--seconds", type=_positive_float, help="stop after this many seconds")
    watch.add_argument(
        "--retries",
        type=_non_negative_int,
        help="reconnect attempts before giving up (default: forever)",
    )
    record = sub.add_parser("record", help="write snapshots to a file")
    record.add_argument("url", help="server URL, e.g. http://127.0.0.1:8111 (or its ws:// URL)")
    record.add_argument("--seconds", type=_positive_float, required=True, help="how long")
    record.add_argument("--out", type=Path, required=True, help="output file (.jsonl or .csv)")
    record.add_argument("--device", type=_non_negative_int, help="one device (default: all)")
    record.add_argument(
        "--format", choices=("jsonl", "csv"), help="default: from the file name (.csv: csv)"
    )
    record.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    record.add_argument(
        "--retries",
        type=_non_negative_int,
        help="reconnect attempts before giving up (default: forever)",
    )
    return parser


def main(argv: list[str]) -> int:
    """Run ``watch`` or ``record`` (``argv[0]``); return the exit code."""
    command = argv[0] if argv and argv[0] in COMMANDS else "tools"
    err = sys.stderr
    try:
        ns = build_parser().parse_args(argv)
        parse_server_url(ns.url)
        if ns.command == "watch":
            fields = [f for item in ns.fields for f in item.split(",") if f]
            return trio.run(_watch, ns, fields, sys.stdout, err)
        return trio.run(_record, ns, err)
    except (UsageError, InvalidUrl, UnknownField) as exc:
        print(f"dersim-trio {command}: error: {exc}", file=err)
        return 2
    except DersimError as exc:
        print(f"dersim-trio {command}: error: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"dersim-trio {command}: interrupted", file=err)
        return 130


def _backoff(retries: int | None) -> Backoff:
    return Backoff(max_attempts=None if retries is None else max(1, retries))


async def _check_server(url: str) -> None:
    """Fail fast, with one line, when nothing (or not a simulator) answers at ``url``."""
    async with DersimClient(url, timeout_s=HTTP_TIMEOUT_S) as api:
        await api.server_info()


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def format_line(snapshot: Snapshot, paths: list[str]) -> str:
    """One terminal line for ``snapshot``: power by default, else ``name=value`` per path."""
    head = f"{snapshot.clock_time} #{snapshot.tick} d{snapshot.device_index}:"
    if not paths:
        return f"{head} {snapshot.metrics.power_kw:.2f} kW"
    cells = [f"{p.rsplit('.', 1)[-1]}={_format_value(field_value(snapshot, p))}" for p in paths]
    return f"{head} " + " ".join(cells)


def _gap_line(gap: Gap) -> str:
    return (
        f"-- device {gap.device}: {gap.missed_ticks} tick(s) missed after tick {gap.last_tick}"
        f" ({gap.reason}) --"
    )


async def _watch(ns: argparse.Namespace, fields: list[str], out: IO[str], err: IO[str]) -> int:
    await _check_server(ns.url)

    def on_gap(gap: Gap) -> None:
        print(_gap_line(gap), file=err, flush=True)

    lines = 0
    paths: list[str] | None = None
    deadline = math.inf if ns.seconds is None else trio.current_time() + ns.seconds
    async with open_telemetry(
        ns.url, device=ns.device, backoff=_backoff(ns.retries), on_gap=on_gap
    ) as stream:
        with trio.move_on_at(deadline):
            async for snapshot in stream:
                if ns.count is not None and lines >= ns.count:
                    break
                if paths is None:
                    paths = [resolve_field(snapshot, f) for f in fields]
                print(format_line(snapshot, paths), file=out, flush=True)
                lines += 1
                if ns.count is not None and lines >= ns.count:
                    break
    return 0


class _Writer:
    """JSON Lines or CSV rows, one per snapshot."""

    def __init__(self, file: IO[str], fmt: str) -> None:
        self._file = file
        self._fmt = fmt
        self._csv: csv.DictWriter[str] | None = None

    def write(self, snapshot: Snapshot) -> None:
        if self._fmt == "jsonl":
            self._file.write(snapshot.model_dump_json() + "\n")
        else:
            row = {
                k: json.dumps(v) if isinstance(v, list | dict) else v
                for k, v in flatten(snapshot).items()
            }
            if self._csv is None:
                self._csv = csv.DictWriter(self._file, fieldnames=list(row), extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(row)
        self._file.flush()


def _open_output(path: Path, fmt: str) -> IO[str]:
    try:
        return path.open("w", encoding="utf-8", newline="" if fmt == "csv" else None)
    except OSError as exc:
        raise UsageError(f"--out: cannot write {str(path)!r}: {exc.strerror or exc}") from None


def _progress_bar(elapsed: float, total: float, count: int, gaps: int) -> str:
    done = min(1.0, elapsed / total)
    filled = round(done * PROGRESS_WIDTH)
    bar = "#" * filled + "-" * (PROGRESS_WIDTH - filled)
    return f"\r[{bar}] {min(elapsed, total):5.1f}/{total:g} s  {count} snapshots  {gaps} gap(s)"


def summary(count: int, ticks: tuple[int, int] | None, gaps: list[Gap], out: Path) -> str:
    """The end-of-recording report (one line, plus one per gap, at most ten)."""
    span = f" (ticks {ticks[0]}..{ticks[1]})" if ticks else ""
    text = f"recorded {count} snapshot(s){span} to {out}; "
    if not gaps:
        return text + "gaps: none"
    missed = sum(g.missed_ticks for g in gaps)
    lines = [text + f"gaps: {len(gaps)}, {missed} tick(s) missed"]
    lines += [f"  {_gap_line(g)}" for g in gaps[:10]]
    if len(gaps) > 10:
        lines.append(f"  ... and {len(gaps) - 10} more")
    return "\n".join(lines)


async def _record(ns: argparse.Namespace, err: IO[str]) -> int:
    await _check_server(ns.url)
    fmt = ns.format or ("csv" if ns.out.suffix.lower() == ".csv" else "jsonl")
    show: bool = ns.progress if ns.progress is not None else err.isatty()
    gaps: list[Gap] = []
    count = 0
    first_tick: int | None = None
    last_tick = 0
    start = trio.current_time()

    def draw() -> None:
        if show:
            bar = _progress_bar(trio.current_time() - start, ns.seconds, count, len(gaps))
            print(bar, end="", file=err, flush=True)

    with _open_output(ns.out, fmt) as file:
        writer = _Writer(file, fmt)
        async with open_telemetry(
            ns.url, device=ns.device, backoff=_backoff(ns.retries), on_gap=gaps.append
        ) as stream:
            with trio.move_on_after(ns.seconds):
                async for snapshot in stream:
                    writer.write(snapshot)
                    count += 1
                    first_tick = snapshot.tick if first_tick is None else first_tick
                    last_tick = snapshot.tick
                    draw()
    if show:
        draw()
        print(file=err, flush=True)
    ticks = (first_tick, last_tick) if first_tick is not None else None
    print(summary(count, ticks, gaps, ns.out), file=err, flush=True)
    if count == 0:
        raise ServerUnreachable(f"{ns.url}: no telemetry received in {ns.seconds:g} s")
    return 0
