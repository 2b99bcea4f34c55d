"""WebSocket fan-out client process for ``bench_fanout.py`` (run by it; not meant to be used alone).

K reading clients and S stalled clients in ONE process, ONE thread: plain non-blocking stdlib
sockets, one ``select.epoll`` loop and a minimal RFC 6455 client (server frames are unmasked; pings
are answered with masked pongs; nothing else is ever sent). No asyncio/trio, the garbage collector
is off, and per message the work is one regex match and one list append, so the client costs a few
µs per message and is not the bottleneck at K=1000 on 2 cores (its own CPU is reported).

Timeline (everything bounded):

1. connect all clients (at most ``--connect-concurrency`` handshakes in flight, a per-handshake
   timeout and an overall ``--connect-timeout``); stalled clients get a small ``SO_RCVBUF`` before
   ``connect`` and are never read after the 101 response;
2. warm-up: wait until every reading client has its cached snapshot, then for the first arrival
   of a newer tick; the window opens half a period later (mid-gap, the server idle);
3. window: ``round(duration / period)`` periods. At both edges: the server's CPU time (sum of
   ``/proc/PID/task/*/schedstat`` over PID and its descendants), its RSS, this process's rusage and
   ``GET /api/dersim/server-info``. Ticks whose first arrival falls inside the window count;
   their messages arriving up to ``--grace`` after the window still count;
4. every socket is closed, the result is one JSON object on stdout.

Arrival time of a message = the kernel receive timestamp (``SO_TIMESTAMPNS``, read with
``recvmsg``) of the data that completed it, mapped onto ``time.monotonic()``, so this process's
own scheduling delay does not blur the fan-out spread.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import gc
import json
import os
import re
import resource
import select
import socket
import struct
import sys
import time
from typing import Any

TICK_RE = re.compile(rb'"tick"\s*:\s*(-?\d+)')
DEV_RE = re.compile(rb'"device_index"\s*:\s*(\d+)')
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux SO_TIMESTAMPNS(_OLD)
TIMESPEC = struct.Struct("qq")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
PATH = "/api/dersim/ws/telemetry"
HANDSHAKE_TIMEOUT_S = 10.0


def log(*parts: object) -> None:
    print("[client]", *parts, file=sys.stderr, flush=True)


def raise_nofile_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE := hard limit (each client is one descriptor); returns the result."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ------------------------------------------------------------------------ server accounting
def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (one pass over /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds (ns resolution) of ``pid`` and descendants: sum of per-thread schedstat."""
    total = 0
    found = False
    for p in process_tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
                found = True
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9 if found else None


def server_rss_kib(pid: int) -> int | None:
    total = 0
    found = False
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
            found = True
        except (OSError, ValueError, IndexError):
            pass
    return total if found else None


def http_get_json(host: str, port: int, path: str, timeout: float = 5.0) -> Any:
    """Blocking ``GET path``; the decoded JSON body, or None on any error.

    Stops at Content-Length (or the last chunk): hypercorn's trio worker answers
    ``Connection: close`` but keeps the connection open until its read timeout.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(request.encode())
            raw = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = s.recv(65536)
                if not data:
                    break
                raw += data
                head, sep, body = raw.partition(b"\r\n\r\n")
                if not sep:
                    continue
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
                if not m and body.endswith(b"0\r\n\r\n"):
                    break
        head, _, body = raw.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return None
        if b"transfer-encoding: chunked" in head.lower():
            body = _unchunk(body)
        return json.loads(body)
    except (OSError, ValueError):
        return None


def _unchunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            break
        out.append(body[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2
    return b"".join(out)


# ------------------------------------------------------------------------ WebSocket clients
def masked_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A client->server frame (clients must mask); only pongs and closes, payload < 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload[:125]))
    return bytes((0x80 | opcode, 0x80 | len(body))) + mask + body


class Client:
    __slots__ = ("buf", "frag", "idx", "nmsg", "sock", "stalled", "state", "t_start")

    def __init__(self, idx: int, stalled: bool) -> None:
        self.idx = idx
        self.stalled = stalled
        self.state = "new"  # new -> connecting -> handshake -> open -> closed
        self.buf = b""
        self.frag: bytes | None = None
        self.nmsg = 0
        self.sock: socket.socket | None = None
        self.t_start = 0.0


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.ep = select.epoll()
        self.by_fd: dict[int, Client] = {}
        self.reading = [Client(i, False) for i in range(a.clients)]
        self.stalled = [Client(a.clients + i, True) for i in range(a.stalled)]
        self.dpc = 1 if (a.device_filter is not None or a.devices == 1) else a.devices
        self.only_dev = 0 if a.device_filter is None else a.device_filter  # used when dpc == 1
        path = PATH if a.device_filter is None else f"{PATH}?device={a.device_filter}"
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nUser-Agent: bench_fanout\r\n\r\n"
        ).encode()
        self.errors: dict[str, int] = {}
        self.close_codes: dict[str, int] = {}
        self.closed_reading = 0
        self.bytes_rx = 0
        # recording (flat lists: cheap appends, analysed after the window)
        self.recording = False
        self.rec_client: list[int] = []
        self.rec_tick: list[int] = []
        self.rec_dev: list[int] = []
        self.rec_t: list[float] = []
        self.max_tick = -1
        self.first_seen: dict[int, float] = {}  # tick -> first arrival (all time)
        # kernel timestamps are CLOCK_REALTIME; map them onto time.monotonic()
        self.rt_base = int(time.time())
        self.rt_to_mono = time.monotonic() - (time.time() - self.rt_base)

    # -- connection handling
    def count_error(self, why: str) -> None:
        self.errors[why] = self.errors.get(why, 0) + 1

    def fail(self, c: Client, why: str) -> None:
        self.count_error(why)
        self.drop(c)

    def drop(self, c: Client) -> None:
        if c.state == "closed" or c.sock is None:
            return
        if c.state == "open" and not c.stalled:
            self.closed_reading += 1
        c.state = "closed"
        fd = c.sock.fileno()
        with contextlib.suppress(OSError, ValueError):
            self.ep.unregister(fd)
        self.by_fd.pop(fd, None)
        c.sock.close()

    def start_connect(self, c: Client) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if c.stalled:
            if self.a.stalled_rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.a.stalled_rcvbuf)
        else:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setblocking(False)
        try:
            s.connect((self.a.host, self.a.port))
        except BlockingIOError:
            pass
        except OSError as exc:
            s.close()
            c.state = "closed"
            self.count_error(type(exc).__name__)
            return
        c.sock, c.state, c.t_start = s, "connecting", time.monotonic()
        self.by_fd[s.fileno()] = c
        self.ep.register(s.fileno(), select.EPOLLOUT)

    def connect_all(self) -> float:
        a = self.a
        todo = list(reversed(self.reading + self.stalled))
        t0 = time.monotonic()
        deadline = t0 + a.connect_timeout
        while time.monotonic() < deadline:
            pending = [c for c in self.by_fd.values() if c.state in ("connecting", "handshake")]
            while todo and len(pending) < a.connect_concurrency:
                c = todo.pop()
                self.start_connect(c)
                if c.state == "connecting":
                    pending.append(c)
            if not todo and not pending:
                break
            self.pump(0.05)
            now = time.monotonic()
            for c in pending:
                if c.state in ("connecting", "handshake") and now - c.t_start > HANDSHAKE_TIMEOUT_S:
                    self.fail(c, "handshake_timeout")
        for c in list(self.by_fd.values()):
            if c.state in ("connecting", "handshake"):
                self.fail(c, "connect_deadline")
        for c in todo:
            c.state = "closed"
            self.count_error("not_started_before_deadline")
        return time.monotonic() - t0

    # -- event loop
    def pump(self, timeout: float) -> None:
        events = self.ep.poll(timeout)
        if not events:
            return
        by_fd = self.by_fd
        for fd, _ in events:
            c = by_fd.get(fd)
            if c is None:
                continue
            if c.state == "open":
                self.on_readable(c)
            elif c.state == "connecting":
                self.on_connected(c, fd)
            elif c.state == "handshake":
                self.on_handshake(c)

    def on_connected(self, c: Client, fd: int) -> None:
        assert c.sock is not None
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.fail(c, errno.errorcode.get(err, str(err)))
            return
        try:
            c.sock.send(self.request)  # small: fits an empty send buffer
        except OSError as exc:
            self.fail(c, type(exc).__name__)
            return
        c.state = "handshake"
        self.ep.modify(fd, select.EPOLLIN)

    def on_handshake(self, c: Client) -> None:
        assert c.sock is not None
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(c, type(exc).__name__)
            return
        if not data:
            self.fail(c, "closed_in_handshake")
            return
        c.buf += data
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(c.buf) > 16384:
                self.fail(c, "bad_handshake")
            return
        if not c.buf.startswith(b"HTTP/1.1 101"):
            self.fail(c, "status_" + c.buf[9:12].decode(errors="replace"))
            return
        rest, c.buf = c.buf[end + 4 :], b""
        c.state = "open"
        if c.stalled:
            self.ep.unregister(c.sock.fileno())  # never read again
            return
        if rest:
            self.parse(c, rest, time.monotonic())

    def on_readable(self, c: Client) -> None:
        sock = c.sock
        assert sock is not None
        try:
            data, anc, _, _ = sock.recvmsg(262144, 64)
        except BlockingIOError:
            return
        except OSError as exc:
            self.count_error(type(exc).__name__)
            self.drop(c)
            return
        if not data:
            self.drop(c)
            return
        if anc:
            sec, nsec = TIMESPEC.unpack_from(anc[0][2])
            now = (sec - self.rt_base) + nsec * 1e-9 + self.rt_to_mono
        else:
            now = time.monotonic()
        self.parse(c, data, now)

    def parse(self, c: Client, data: bytes, now: float) -> None:
        """Split unmasked server frames; complete data messages go to ``on_message``."""
        self.bytes_rx += len(data)
        buf = c.buf + data if c.buf else data
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                head += 4  # a masked server frame is a protocol error; tolerate it
            if n - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            opcode = b0 & 0x0F
            if opcode in (0x1, 0x2, 0x0):
                if not b0 & 0x80:
                    c.frag = (c.frag or b"") + payload
                    continue
                if c.frag is not None:
                    payload, c.frag = c.frag + payload, None
                self.on_message(c, payload, now)
            elif opcode == 0x9:  # ping -> pong
                with contextlib.suppress(OSError):
                    c.sock.send(masked_frame(0xA, payload))  # type: ignore[union-attr]
            elif opcode == 0x8:  # close: echo the code, then drop
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.close_codes[str(code)] = self.close_codes.get(str(code), 0) + 1
                with contextlib.suppress(OSError):
                    c.sock.send(masked_frame(0x8, payload[:2]))  # type: ignore[union-attr]
                c.buf = b""
                self.drop(c)
                return
        c.buf = buf[pos:] if pos < n else b""

    def on_message(self, c: Client, payload: bytes, now: float) -> None:
        c.nmsg += 1
        m = TICK_RE.search(payload)
        tick = int(m.group(1)) if m else -1
        if tick > self.max_tick:
            self.max_tick = tick
            self.first_seen[tick] = now
        elif tick in self.first_seen and now < self.first_seen[tick]:
            self.first_seen[tick] = now
        if self.recording:
            if self.dpc == 1:
                dev = self.only_dev
            else:
                d = DEV_RE.search(payload)
                dev = int(d.group(1)) if d else -1
            self.rec_client.append(c.idx)
            self.rec_tick.append(tick)
            self.rec_dev.append(dev)
            self.rec_t.append(now)

    def pump_until(self, t_end: float) -> None:
        while True:
            left = t_end - time.monotonic()
            if left <= 0:
                return
            self.pump(min(left, 1.0))

    # -- the run
    def run(self) -> dict[str, Any]:
        a = self.a
        res: dict[str, Any] = {"errors": self.errors, "close_codes": self.close_codes}
        res["nofile_limit"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
        res["server_rss_before_kib"] = server_rss_kib(a.server_pid)
        res["connect_s"] = round(self.connect_all(), 3)
        n_r = sum(1 for c in self.reading if c.state == "open")
        n_s = sum(1 for c in self.stalled if c.state == "open")
        res["connected_reading"], res["connected_stalled"] = n_r, n_s
        log(
            f"connected {n_r}/{a.clients} reading + {n_s}/{a.stalled} stalled in "
            f"{res['connect_s']} s; errors {self.errors}"
        )
        if n_r == 0:
            res["fatal"] = "no reading client connected"
            self.close_all()
            return res
        # warm-up: every reading client has its cached snapshot; then align on a new tick
        deadline = time.monotonic() + max(10.0, 3 * a.period)
        while time.monotonic() < deadline and any(
            c.nmsg == 0 for c in self.reading if c.state == "open"
        ):
            self.pump(0.05)
        res["clients_without_cached_msg"] = sum(
            1 for c in self.reading if c.state == "open" and c.nmsg == 0
        )
        seen = self.max_tick
        deadline = time.monotonic() + 3 * a.period + 5
        while time.monotonic() < deadline and self.max_tick <= seen:
            self.pump(0.02)
        if self.max_tick <= seen:
            res["fatal"] = "no new tick arrived after the warm-up"
            self.close_all()
            return res
        n_periods = max(1, round(a.duration / a.period))
        self.pump_until(self.first_seen[self.max_tick] + 0.5 * a.period)
        # window start: mid-gap
        info0 = http_get_json(a.host, a.port, "/api/dersim/server-info")
        cpu0, ru0 = server_cpu_s(a.server_pid), resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        self.recording = True
        self.pump_until(t0 + n_periods * a.period)
        t1 = time.monotonic()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)  # before the /proc walk: not counted
        cpu1 = server_cpu_s(a.server_pid)
        res["server_rss_after_kib"] = server_rss_kib(a.server_pid)
        info1 = http_get_json(a.host, a.port, "/api/dersim/server-info")
        self.pump_until(t1 + a.grace)  # late messages of window ticks still count
        self.recording = False
        res["closed_reading_clients"] = self.closed_reading
        res["stalled_open_at_end"] = sum(1 for c in self.stalled if c.state == "open")
        self.close_all()
        res["server_info_start"] = info0
        res["server_info_end"] = info1
        res.update(self.analyse(t0, t1, n_periods))
        cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        ccpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        delivered = res["delivered"]
        res["server_cpu_s"] = None if cpu is None else round(cpu, 4)
        res["server_cpu_util"] = None if cpu is None else round(cpu / (t1 - t0), 4)
        res["server_us_per_msg"] = round(cpu / delivered * 1e6, 2) if cpu and delivered else None
        res["client_cpu_s"] = round(ccpu, 4)
        res["client_cpu_util"] = round(ccpu / (t1 - t0), 4)
        res["client_us_per_msg"] = round(ccpu / delivered * 1e6, 2) if delivered else None
        res["bytes_rx_total"] = self.bytes_rx
        return res

    def close_all(self) -> None:
        for c in list(self.by_fd.values()) + self.stalled:
            self.drop(c)
        self.ep.close()

    def analyse(self, t0: float, t1: float, n_periods: int) -> dict[str, Any]:
        a = self.a
        first: dict[int, float] = {}
        last: dict[int, float] = {}
        for tick, t in zip(self.rec_tick, self.rec_t, strict=True):
            if tick not in first or t < first[tick]:
                first[tick] = t
            if tick not in last or t > last[tick]:
                last[tick] = t
        window = sorted(k for k, t in first.items() if t0 <= t < t1)
        wset = set(window)
        devs = [a.device_filter] if a.device_filter is not None else list(range(a.devices))
        got: dict[int, dict[tuple[int, int], int]] = {}
        delivered = 0
        for ci, tick, dev in zip(self.rec_client, self.rec_tick, self.rec_dev, strict=True):
            if tick in wset:
                delivered += 1
                per = got.setdefault(ci, {})
                per[(tick, dev)] = per.get((tick, dev), 0) + 1
        want = {(k, d) for k in window for d in devs}
        gaps = dups = gap_clients = 0
        for c in self.reading:
            per = got.get(c.idx, {})
            dups += sum(v - 1 for v in per.values())
            missing = len(want - per.keys())
            gaps += missing
            gap_clients += 1 if missing else 0
        spread = [last[k] - first[k] for k in window]
        cadence = [
            abs((first[window[i + 1]] - first[window[i]]) - a.period * (window[i + 1] - window[i]))
            for i in range(len(window) - 1)
        ]
        expected = len(window) * len(devs) * a.clients
        return {
            "window_s": round(t1 - t0, 3),
            "window_ticks": len(window),
            "window_tick_range": [window[0], window[-1]] if window else None,
            "nominal_ticks": n_periods,
            "devices_per_client": len(devs),
            "delivered": delivered,
            "expected": expected,
            "delivered_ratio": round(delivered / expected, 5) if expected else None,
            "gaps": gaps,
            "gap_clients": gap_clients,
            "dups": dups,
            "fanout_spread_ms": summary_ms(spread),
            "tick_cadence_jitter_ms": summary_ms(cadence),
        }


def pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))]


def summary_ms(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {
        "n": len(xs),
        "p50": round(pct(xs, 50) * 1e3, 3),
        "p99": round(pct(xs, 99) * 1e3, 3),
        "max": round(max(xs) * 1e3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bench_fanout client process")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--stalled", type=int, default=0)
    p.add_argument("--stalled-rcvbuf", type=int, default=4096)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--device-filter", type=int, default=None)
    p.add_argument("--period", type=float, required=True)
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--grace", type=float, default=None)
    p.add_argument("--connect-concurrency", type=int, default=64)
    p.add_argument("--connect-timeout", type=float, default=60.0)
    a = p.parse_args(argv)
    if a.host != "127.0.0.1":
        p.error("only 127.0.0.1 is allowed")
    if a.grace is None:
        a.grace = min(0.45 * a.period, 2.0)
    raise_nofile_limit()
    gc.disable()  # no collector pauses inside the window (bounded run, bounded garbage)
    res = Bench(a).run()
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 1 if "fatal" in res else 0


if __name__ == "__main__":
    sys.exit(main())
