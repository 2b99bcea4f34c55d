#!/usr/bin/env python3
"""bench_fanout.py: a bounded fan-out benchmark of the dersim-trio telemetry stream.

What it measures, per case (every case runs against a fresh server process):

* tick lateness p50/p99/max and tick duration p99: the server's own statistics
  (``GET /api/dersim/server-info`` → ``statistics``) read right after the window; they cover the
  server's last ≤4096 ticks, i.e. start-up, the connects and the window;
* tick cadence jitter (client side): |first arrival of tick k+1 − first arrival of tick k −
  period| over the window;
* fan-out spread per tick: first-to-last reading-client arrival of that tick, from kernel receive
  timestamps (``SO_TIMESTAMPNS``), p50/p99/max;
* server CPU µs per delivered message: the sum of ``/proc/PID/task/*/schedstat`` of the server
  and its descendants over the window, divided by the messages reading clients received for the
  window's ticks; the client process's own CPU µs per message is reported beside it;
* server RSS per client: (RSS at the window end − RSS before the first connect) / (K + S);
* messages dropped during the window (delta of the server's ``messages_dropped``);
* delivered/expected, gaps and duplicates, from the ``"tick"`` (and ``"device_index"``) field
  of every message of every reading client.

How: the script picks a free port, starts the server on 127.0.0.1 in its own session (stdout and
stderr to a log file), waits for ``GET /api/dersim/overview`` = 200 (with a deadline), then runs
``_benchclient.py`` as a SEPARATE process: K reading WebSocket clients plus S stalled clients (the
handshake completes, then never a read; small ``SO_RCVBUF``) on plain non-blocking sockets in one
epoll loop with minimal RFC 6455 framing, so the load generator stays cheap on 2 cores. The client
connects everything (bounded), waits for a new tick, opens the window mid-gap, measures
``--duration`` seconds, closes every socket and prints one JSON object. The server is always
stopped afterwards: SIGTERM to its process group, SIGKILL after 5 s, also on errors and Ctrl-C.

Usage (from the repository root, with the project's venv):

    python scripts/bench_fanout.py -K 1000 -N 1 --period 1 --duration 15
    python scripts/bench_fanout.py -K 500 -S 100 --out /tmp/k500s100.json
    python scripts/bench_fanout.py --cases k1000,k1000s100,n10k100,stall --md /tmp/fanout.md
    python scripts/bench_fanout.py --cases k50n2,stall --duration 5          # a small smoke run
    python scripts/bench_fanout.py --cases stall --server-args '--fast_path no'
    python scripts/bench_fanout.py --cases k1000,stall --servers dersim-trio,raw-trio,fastapi
    python scripts/bench_fanout.py --cases k1000 --servers dersim-trio,hypercorn --repeat 3
    python scripts/bench_fanout.py -K 100 --server-cmd \\
        '{python} -m hypercorn -k trio -w 0 -b 127.0.0.1:{port} dersim_trio.asgi:app' \\
        --server-env 'DERSIM_ARGS=--periodic_time {period} -N {devices} -d {device_type}'

Cases (``--cases``, comma separated): the named ones ``k1000`` (K=1000, N=1), ``k1000s100``
(K=1000 + 100 stalled), ``n10k100`` (N=10, K=100, unfiltered), ``stall`` (K=100 + 100 stalled,
N=10, period 0.25 s); or any spec ``k<K>[s<S>][n<N>][p<period>][f<device filter>]``, e.g.
``k50n2`` or ``k200s20n5p0.5``. Unset parts come from -K/-S/-N/--period/--device-filter.

Servers (``--servers``, comma separated; every case runs against each, one report; with
``--repeat R`` the whole round R times, so servers alternate): ``dersim-trio`` (the default
launch), ``dersim-trio-quart-route`` (``--fast_path no``), ``hypercorn`` (``hypercorn -k trio -w
0 -b HOST:PORT --graceful-timeout 1 dersim_trio.asgi:app``, the README's command line, flags in
``DERSIM_ARGS``), ``hypercorn-w1`` (the same with hypercorn's default ``-w 1``: a worker process
under hypercorn's own, both counted), and the comparison servers of ``scripts/bench/`` that
honour the same contract on other stacks: ``raw-trio`` (bare trio, pre-framed bytes: the floor
for Python), ``fastapi`` (FastAPI + uvicorn), ``quart-trio`` and ``quart-trio-gc100k``
(quart-trio + hypercorn, default collector or a gen-0 threshold of 100,000). Their packages come
with the ``bench`` extra
(``pip install -r requirements/bench.lock``). ``--server-args`` is appended to every server's
command (meant for dersim-trio's flags; for the hypercorn launches to ``DERSIM_ARGS``).

Placeholders of ``--server-cmd``/``--server-env``: {port} {host} {devices} {period}
{device_type} {dersim} (the dersim-trio executable next to this Python) {bindir} (the directory
of this Python, e.g. {bindir}/hypercorn) {python} (this Python) {peers} (``scripts/bench``). The
server must bind 127.0.0.1 (all traffic stays on the loopback interface).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
CLIENT = Path(__file__).with_name("_benchclient.py")
PEERS = Path(__file__).with_name("bench")
sys.path.insert(0, str(CLIENT.parent))
from _benchclient import raise_nofile_limit  # noqa: E402  (the client process uses it too)

DEFAULT_CMD = (
    "{dersim} -wi {host} -wp {port} --periodic_time {period} -N {devices} -d {device_type}"
)
PEER_ARGS = "--host {host} --port {port} --devices {devices} --period {period}"
HYPERCORN_CMD = (
    "env 'DERSIM_ARGS=--periodic_time {{period}} -N {{devices}} -d {{device_type}}{{server_args}}' "
    "{{python}} -m hypercorn -k trio {workers}-b {{host}}:{{port}} --graceful-timeout 1 "
    "dersim_trio.asgi:app"
)
NAMED_SERVERS: dict[str, str] = {
    "dersim-trio": DEFAULT_CMD,
    "dersim-trio-quart-route": DEFAULT_CMD + " --fast_path no",
    # the same simulator under hypercorn (DERSIM_ARGS through env; {server_args} go there)
    "hypercorn": HYPERCORN_CMD.format(workers="-w 0 "),
    "hypercorn-w1": HYPERCORN_CMD.format(workers=""),
    # the comparison servers of scripts/bench/ (the `bench` extra installs what they need)
    "raw-trio": "{python} {peers}/peer_raw_trio.py " + PEER_ARGS,
    "fastapi": "{python} {peers}/peer_fastapi.py " + PEER_ARGS,
    "quart-trio": "{python} {peers}/peer_quart_trio.py " + PEER_ARGS,
    "quart-trio-gc100k": "{python} {peers}/peer_quart_trio.py --gc-gen0 100000 " + PEER_ARGS,
}
NAMED_CASES: dict[str, dict[str, Any]] = {
    "k1000": {"clients": 1000, "stalled": 0, "devices": 1},
    "k1000s100": {"clients": 1000, "stalled": 100, "devices": 1},
    "n10k100": {"clients": 100, "stalled": 0, "devices": 10},
    "stall": {"clients": 100, "stalled": 100, "devices": 10, "period": 0.25},
}
CASE_RE = re.compile(r"^k(\d+)(?:s(\d+))?(?:n(\d+))?(?:p([0-9.]+))?(?:f(\d+))?$")
STOP_GRACE_S = 5.0
MAX_CLIENTS = 5000
MAX_DURATION_S = 300.0


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


class Interrupted(Exception):
    """SIGTERM/SIGHUP to the benchmark: unwind (and stop the server) like Ctrl-C."""


def _on_signal(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def dersim_executable() -> str:
    local = Path(sys.executable).with_name("dersim-trio")
    if local.exists():
        return str(local)
    return shutil.which("dersim-trio") or "dersim-trio"


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(request.encode())
            head = s.recv(64)
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------------ the server process
class Server:
    """One server process in its own session; ``stop`` always ends the whole group."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = dict(os.environ)
        full_env.update(env)
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,  # our own process group: Ctrl-C does not reach it
            )
        except OSError:
            self._log.close()
            raise
        self.pid = self.proc.pid
        self.exit_code: int | None = None

    def wait_ready(self, port: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if http_status(port, "/api/dersim/overview") == 200:
                return True
            time.sleep(0.1)
        return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)  # the group id is the leader's pid (start_new_session)

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL after ``STOP_GRACE_S``; returns the exit code."""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log(f"server {self.pid} still running {STOP_GRACE_S:g} s after SIGTERM: SIGKILL")
                self._signal_group(signal.SIGKILL)
                self.proc.wait(5)
        self._signal_group(signal.SIGKILL)  # any descendant left behind in the group
        self._log.close()
        self.exit_code = self.proc.returncode
        return self.exit_code


# ------------------------------------------------------------------------ one case
def parse_case(name: str, a: argparse.Namespace) -> dict[str, Any]:
    base: dict[str, Any] = {
        "clients": a.clients,
        "stalled": a.stalled,
        "devices": a.devices,
        "period": a.period,
        "device_filter": a.device_filter,
    }
    if name in NAMED_CASES:
        base.update(NAMED_CASES[name])
    else:
        m = CASE_RE.match(name)
        if m is None:
            raise SystemExit(
                f"bench_fanout: unknown case {name!r} (named: {', '.join(NAMED_CASES)}; "
                "or k<K>[s<S>][n<N>][p<period>][f<filter>])"
            )
        k, s, n, p, f = m.groups()
        base["clients"] = int(k)
        for key, raw, conv in (
            ("stalled", s, int),
            ("devices", n, int),
            ("period", p, float),
            ("device_filter", f, int),
        ):
            if raw is not None:
                base[key] = conv(raw)
    check_case(name, base)
    return {"name": name, **base}


def check_case(name: str, c: dict[str, Any]) -> None:
    problems = []
    if not 1 <= c["clients"] <= MAX_CLIENTS or not 0 <= c["stalled"] <= MAX_CLIENTS:
        problems.append(f"K and S must be in [1|0, {MAX_CLIENTS}]")
    if not 1 <= c["devices"] <= 10_000:
        problems.append("N must be in [1, 10000]")
    if not 0.01 <= c["period"] <= 60:
        problems.append("period must be in [0.01, 60] s")
    if c["device_filter"] is not None and not 0 <= c["device_filter"] < c["devices"]:
        problems.append("device filter must be in [0, N)")
    if problems:
        raise SystemExit(f"bench_fanout: case {name!r}: " + "; ".join(problems))


def server_command(
    a: argparse.Namespace, template: str, case: dict[str, Any], port: int
) -> tuple[list[str], dict[str, str]]:
    values = {
        "port": port,
        "host": HOST,
        "devices": case["devices"],
        "period": f"{case['period']:g}",
        "device_type": a.device_type,
        "dersim": dersim_executable(),
        "bindir": str(Path(sys.executable).parent),
        "python": sys.executable,
        "peers": str(PEERS),
    }
    extra = a.server_args.format(**values) if a.server_args else ""
    if "{server_args}" in template:  # the flags go into the template (DERSIM_ARGS)
        argv = shlex.split(template.format(**values, server_args=" " + extra if extra else ""))
    else:
        argv = shlex.split(template.format(**values)) + shlex.split(extra)
    env: dict[str, str] = {}
    for item in a.server_env:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"bench_fanout: --server-env needs KEY=VALUE, got {item!r}")
        env[key] = value.format(**values)
    return argv, env


def run_client(a: argparse.Namespace, case: dict[str, Any], port: int, pid: int) -> dict:
    argv = [
        sys.executable,
        str(CLIENT),
        f"--port={port}",
        f"--server-pid={pid}",
        f"--clients={case['clients']}",
        f"--stalled={case['stalled']}",
        f"--stalled-rcvbuf={a.stalled_rcvbuf}",
        f"--devices={case['devices']}",
        f"--period={case['period']}",
        f"--duration={a.duration}",
        f"--connect-timeout={a.connect_timeout}",
        f"--connect-concurrency={a.connect_concurrency}",
    ]
    if case["device_filter"] is not None:
        argv.append(f"--device-filter={case['device_filter']}")
    # connect + warm-up (≤ max(10, 3P) + 3P + 5) + window + grace + server-info reads + margin
    p = case["period"]
    timeout = a.connect_timeout + max(10.0, 3 * p) + 3 * p + 5 + a.duration + p + 2 * p + 30
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"fatal": f"client process did not finish within {timeout:.0f} s"}
    finally:
        if proc.poll() is None:  # Ctrl-C or another exception while waiting
            proc.kill()
            proc.wait()
    try:
        res = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"fatal": f"client process exited {proc.returncode} without a result"}
    res["client_exit_code"] = proc.returncode
    return res


def run_case(
    a: argparse.Namespace, server_name: str, template: str, case: dict[str, Any], log_dir: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {"server": server_name, "case": case, "duration_s": a.duration}
    server: Server | None = None
    try:
        for attempt in range(3):  # a port picked free can be taken before the server binds
            port = free_port()
            argv, env = server_command(a, template, case, port)
            result["server_cmd"] = shlex.join(argv)
            result["server_env"] = env
            log(f"{server_name} {case['name']}: starting {result['server_cmd']}")
            try:
                server = Server(argv, env, log_dir / f"{server_name}-{case['name']}-{port}.log")
            except OSError as exc:
                result["fatal"] = f"cannot start the server: {exc}"
                return result
            result["server_log"] = str(server.log_path)
            if server.wait_ready(port, a.ready_timeout):
                break
            server_exited = server.proc.poll() is not None
            code = server.stop()
            tail = server.log_tail()
            server = None
            port_taken = "cannot listen" in tail or "Address already in use" in tail
            if code not in (None, 1, 2) or attempt == 2 or not port_taken:
                result["fatal"] = (
                    f"server exited (code {code}) before it was ready"
                    if server_exited
                    else f"server not ready within {a.ready_timeout:g} s"
                )
                result["server_log_tail"] = tail
                return result
        assert server is not None
        time.sleep(0.3)  # let start-up settle before the RSS baseline
        client = run_client(a, case, port, server.pid)
        result.update(client)
        if server.proc.poll() is not None:
            result["fatal"] = f"server exited during the run (code {server.proc.returncode})"
        return result
    finally:
        if server is not None:
            result["server_exit_code"] = server.stop()
            if result.get("fatal"):
                result["server_log_tail"] = server.log_tail()


def derive(res: dict[str, Any]) -> dict[str, Any]:
    """The reported figures of one case (the table row), from the raw client result."""
    case = res["case"]
    row: dict[str, Any] = {"server": res["server"], "case": case["name"]}
    row.update(K=case["clients"], S=case["stalled"])
    row.update(N=case["devices"], period_s=case["period"], filter=case["device_filter"])
    if res.get("fatal"):
        row["fatal"] = res["fatal"]
    info0 = res.get("server_info_start") or {}
    info1 = res.get("server_info_end") or {}
    st0, st1 = info0.get("statistics") or {}, info1.get("statistics") or {}
    for key in ("tick_lateness_p50_ms", "tick_lateness_p99_ms", "max_tick_lateness_ms"):
        row[key] = _r(st1.get(key))
    row["tick_duration_p99_ms"] = _r(st1.get("tick_duration_p99_ms"))
    row["dropped_window"] = (
        st1["messages_dropped"] - st0["messages_dropped"]
        if "messages_dropped" in st0 and "messages_dropped" in st1
        else None
    )
    row["dropped_total"] = st1.get("messages_dropped")
    row["fast_path"] = info1.get("fast_path")
    row["cadence_jitter_ms"] = res.get("tick_cadence_jitter_ms")
    row["spread_ms"] = res.get("fanout_spread_ms")
    row["delivered"], row["expected"] = res.get("delivered"), res.get("expected")
    row["gaps"], row["dups"] = res.get("gaps"), res.get("dups")
    row["window_ticks"] = res.get("window_ticks")
    row["server_us_per_msg"] = res.get("server_us_per_msg")
    row["client_us_per_msg"] = res.get("client_us_per_msg")
    row["client_cpu_util"] = res.get("client_cpu_util")
    before, after = res.get("server_rss_before_kib"), res.get("server_rss_after_kib")
    n = case["clients"] + case["stalled"]
    row["rss_per_client_kib"] = (
        round((after - before) / n, 2) if before is not None and after is not None else None
    )
    row["connected"] = f"{res.get('connected_reading')}+{res.get('connected_stalled')}"
    row["connect_s"] = res.get("connect_s")
    row["closed_reading"] = res.get("closed_reading_clients")
    row["stalled_open_at_end"] = res.get("stalled_open_at_end")
    row["errors"] = res.get("errors") or {}
    return row


def _r(x: Any, nd: int = 2) -> Any:
    return round(x, nd) if isinstance(x, float) else x


def _f(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"
    return str(x)


COLUMNS = (
    ("server", lambda r: r["server"]),
    ("case", lambda r: r["case"]),
    ("K+S", lambda r: f"{r['K']}+{r['S']}"),
    ("N", lambda r: str(r["N"]) + ("" if r["filter"] is None else f" (?device={r['filter']})")),
    ("P s", lambda r: f"{r['period_s']:g}"),
    ("deliv/exp", lambda r: f"{_f(r['delivered'])}/{_f(r['expected'])}"),
    ("gaps/dups", lambda r: f"{_f(r['gaps'])}/{_f(r['dups'])}"),
    ("srv µs/msg", lambda r: _f(r["server_us_per_msg"])),
    ("cli µs/msg", lambda r: _f(r["client_us_per_msg"])),
    ("spread p50/p99/max ms", lambda r: _triple(r["spread_ms"])),
    ("cadence jit p50/p99/max ms", lambda r: _triple(r["cadence_jitter_ms"])),
    (
        "late p50/p99/max ms",
        lambda r: "/".join(
            _f(r[k])
            for k in ("tick_lateness_p50_ms", "tick_lateness_p99_ms", "max_tick_lateness_ms")
        ),
    ),
    ("tick dur p99 ms", lambda r: _f(r["tick_duration_p99_ms"])),
    ("dropped (window)", lambda r: _f(r["dropped_window"])),
    ("RSS/client KiB", lambda r: _f(r["rss_per_client_kib"])),
    ("connect s", lambda r: _f(r["connect_s"])),
)


def _triple(s: dict[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return "–"
    return "/".join(_f(s[k]) for k in ("p50", "p99", "max"))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        if r.get("fatal") and r.get("delivered") is None:
            cells = [r["server"], r["case"], f"FAILED: {r['fatal']}"] + [""] * (len(COLUMNS) - 3)
        else:
            cells = [fmt(r) for _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def text_table(rows: list[dict[str, Any]]) -> str:
    """One line per metric, one column per case (fits a terminal for a few cases)."""
    columns = []
    for r in rows:
        if r.get("fatal") and r.get("delivered") is None:
            columns.append(
                [r["server"], r["case"], f"FAILED: {r['fatal']}"] + [""] * (len(COLUMNS) - 3)
            )
        else:
            columns.append([fmt(r) for _, fmt in COLUMNS])
    names = [name for name, _ in COLUMNS]
    width0 = max(len(n) for n in names)
    widths = [max(len(v) for v in col) for col in columns]
    lines = []
    for i, name in enumerate(names):
        cells = [col[i].ljust(w) for col, w in zip(columns, widths, strict=True)]
        lines.append("  ".join([name.ljust(width0), *cells]).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (head -60 scripts/bench_fanout.py) for details.",
    )
    p.add_argument("--clients", "-K", type=int, default=100, help="reading clients (100)")
    p.add_argument("--stalled", "-S", type=int, default=0, help="stalled clients (0)")
    p.add_argument("--devices", "-N", type=int, default=1, help="simulated devices (1)")
    p.add_argument("--device-filter", type=int, default=None, help="clients use ?device=F")
    p.add_argument("--period", "-P", type=float, default=1.0, help="tick period, s (1.0)")
    p.add_argument("--duration", "-T", type=float, default=15.0, help="window, s (15)")
    p.add_argument("--device-type", "-d", default="PV", help="device type (PV)")
    p.add_argument("--cases", default=None, help="comma-separated case names/specs (see doc)")
    p.add_argument(
        "--servers",
        default="dersim-trio",
        help="comma-separated named servers, each run on every case: "
        + ", ".join(NAMED_SERVERS)
        + " (dersim-trio)",
    )
    p.add_argument("--repeat", type=int, default=1, help="run the whole round R times (1)")
    p.add_argument(
        "--server-cmd", default=None, help="a server command template instead of --servers"
    )
    p.add_argument("--server-args", default="", help="extra server args, e.g. '--fast_path no'")
    p.add_argument(
        "--server-env", action="append", default=[], help="KEY=VALUE template (repeatable)"
    )
    p.add_argument("--stalled-rcvbuf", type=int, default=4096, help="stalled SO_RCVBUF (4096)")
    p.add_argument("--connect-concurrency", type=int, default=64)
    p.add_argument("--connect-timeout", type=float, default=60.0, help="s (60)")
    p.add_argument("--ready-timeout", type=float, default=30.0, help="server start, s (30)")
    p.add_argument("--label", default="", help="free text copied into the report")
    p.add_argument("--out", help="write every case's full JSON result here")
    p.add_argument("--md", help="also write the markdown report here")
    p.add_argument("--log-dir", help="server logs (default: a new temporary directory)")
    a = p.parse_args(argv)
    if not 0.5 <= a.duration <= MAX_DURATION_S:
        p.error(f"--duration must be in [0.5, {MAX_DURATION_S:g}] s")
    if a.server_cmd:
        servers = {"custom": a.server_cmd}
    else:
        wanted = [n.strip() for n in a.servers.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in NAMED_SERVERS]
        if unknown or not wanted:
            p.error(f"--servers: unknown {unknown}; named servers: {', '.join(NAMED_SERVERS)}")
        servers = {n: NAMED_SERVERS[n] for n in wanted}
    names = [n.strip() for n in a.cases.split(",") if n.strip()] if a.cases else ["custom"]
    if len(names) > 20:
        p.error("at most 20 cases per run")
    if not 1 <= a.repeat <= 10:
        p.error("--repeat must be in [1, 10]")
    cases = []
    for name in names:
        if name == "custom":
            case = {"name": f"k{a.clients}s{a.stalled}n{a.devices}p{a.period:g}"}
            case.update(
                clients=a.clients,
                stalled=a.stalled,
                devices=a.devices,
                period=a.period,
                device_filter=a.device_filter,
            )
            check_case(case["name"], case)
            cases.append(case)
        else:
            cases.append(parse_case(name, a))
    nofile = raise_nofile_limit()
    need = max(c["clients"] + c["stalled"] for c in cases) + 64
    if nofile[0] < need:
        p.error(f"RLIMIT_NOFILE hard limit {nofile[1]} is below the {need} descriptors needed")
    log_dir = Path(a.log_dir or tempfile.mkdtemp(prefix="bench_fanout-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    command = (
        shlex.join([Path(sys.executable).name, *sys.argv])
        if argv is None
        else shlex.join(["bench_fanout.py", *argv])
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    results: list[dict[str, Any]] = []
    interrupted = None
    try:
        rounds = [(n, t) for _ in range(a.repeat) for n, t in servers.items()]
        for server_name, template in rounds:
            for case in cases:
                res = run_case(a, server_name, template, case, log_dir)
                results.append(res)
                if res.get("fatal"):
                    log(f"{server_name} {case['name']}: {res['fatal']}")
                    if res.get("server_log_tail"):
                        log("server log tail:\n" + res["server_log_tail"])
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = type(exc).__name__ if isinstance(exc, KeyboardInterrupt) else str(exc)
        log(f"interrupted ({interrupted}); the server was stopped; reporting finished cases")
    rows = [derive(r) for r in results]
    report = {
        "command": command,
        "label": a.label,
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "host": {"nproc": os.cpu_count(), "python": sys.version.split()[0]},
        "duration_s": a.duration,
        "interrupted": interrupted,
        "rows": rows,
        "results": results,
    }
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    md = [
        f"Command: `{command}`" + (f" ({a.label})" if a.label else ""),
        "",
        f"Window {a.duration:g} s per case; {os.cpu_count()} CPUs; {report['when']}.",
        "Server commands: " + "; ".join(f"{n}: `{t}`" for n, t in servers.items()),
        "",
        markdown_table(rows),
        "",
        "srv µs/msg: server CPU (schedstat, server + descendants) over the window / messages "
        "delivered to reading clients. spread: first-to-last client arrival per tick (kernel "
        "rx timestamps). cadence jit: |Δ first arrival − period|. late: server tick lateness "
        "(its last ≤4096 ticks, incl. start-up and connects). dropped: server "
        "messages_dropped during the window.",
    ]
    md_text = "\n".join(md)
    if a.md:
        Path(a.md).write_text(md_text + "\n")
    print(text_table(rows))
    print()
    print(md_text)
    if any(r.get("fatal") for r in rows):
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
