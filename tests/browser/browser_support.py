"""Support for the dashboard browser tests: the real server as a subprocess, Debian's Chromium
driven by Playwright's sync API (``executable_path``; no Playwright browser download).

Chromium and the ``playwright`` package are required (``scripts/test.sh`` installs both): without
them the tests fail, they are never skipped. Every wait is on a condition with a timeout; there
are no fixed sleeps.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import DETERMINISTIC_START, SERVING_LINE

CHROMIUM = os.environ.get("DERSIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
SERVER_START_TIMEOUT_S = 20.0
WAIT_MS = 10_000


class SimServer:
    """``python -m dersim_trio`` as a subprocess; the port is read from its startup log line."""

    def __init__(self, *flags: str, port: int = 0) -> None:
        self.flags = flags
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self.pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> SimServer:
        cmd = [sys.executable, "-m", "dersim_trio", "-wi", "127.0.0.1", "-wp", str(self.port)]
        cmd += ["--periodic_time", "0.2", *DETERMINISTIC_START, *self.flags]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, args=(self.proc, lines), daemon=True)
        self.pump.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"server did not start: {''.join(self.log)}") from None
            if line is None:
                raise RuntimeError(f"server exited: {''.join(self.log)}")
            match = SERVING_LINE.search(line)
            if match:
                self.port = int(match.group(2))
                return self

    def _pump(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for line in proc.stderr:
                self.log.append(line)
                del self.log[:-200]
                lines.put(line)
        lines.put(None)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.pump is not None:
            self.pump.join(timeout=5)

    def get_json(self, path: str) -> Any:
        import json

        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=5) as response:
            return json.loads(response.read())


@dataclass
class PageProbe:
    """A page plus what it logged: console errors and failed requests fail the test."""

    page: Any
    base: str = ""
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    allow_connection_errors: bool = False

    def on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        text = msg.text
        url = (msg.location or {}).get("url", "")
        # A 4xx answer of the API is shown in the page (e.g. 422 validation, 404 for an
        # endpoint this server does not have yet); Chromium still logs it as a console error.
        if "status of 4" in text and "/api/dersim/" in url:
            return
        if self.allow_connection_errors and (
            "WebSocket connection to" in text or "ERR_CONNECTION_REFUSED" in text
        ):
            return
        self.errors.append(f"{text} ({url})")

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if full_page:  # from the top: a sticky header scrolled along would sit mid-picture
            self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def open_page(browser: Any, width: int = 1280, height: int = 800) -> Iterator[PageProbe]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    probe = PageProbe(page)
    page.on("console", probe.on_console)
    page.on("pageerror", lambda exc: probe.errors.append(f"page error: {exc}"))
    page.on("request", lambda req: probe.requests.append(req.url))
    page.on("websocket", lambda ws: probe.websockets.append(ws.url))
    try:
        yield probe
        assert probe.errors == [], "console errors:\n" + "\n".join(probe.errors)
    finally:
        context.close()


# Everything in `root` that is cut off: a box whose content is wider than the box, a box sticking
# out of its card or the window, a select whose longest option does not fit beside the arrow.
# (SVG elements have no scroll box: a plot's text is checked only against its card and the window.)
FIT_PROBLEMS = """([rootSel, arrowPx]) => {
    const root = document.querySelector(rootSel);
    const ctx = document.createElement('canvas').getContext('2d');
    const textWidth = (text, e) => {
        const cs = getComputedStyle(e);
        ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
        return ctx.measureText(text).width;
    };
    const name = (e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}` +
        ` "${(e.textContent || e.value || '').trim().slice(0, 40)}"`;
    const problems = [];
    for (const e of root.querySelectorAll('*')) {
        if (!e.getClientRects().length) continue;  // not rendered (hidden)
        const r = e.getBoundingClientRect();
        if (r.right > window.innerWidth + 0.5 || r.left < -0.5) {
            problems.push(`${name(e)} leaves the window (${r.left}..${r.right})`);
        }
        const card = e.closest('.card, .tile');
        if (card && card !== e) {
            const c = card.getBoundingClientRect();
            if (r.left < c.left - 0.5 || r.right > c.right + 0.5) {
                problems.push(`${name(e)} sticks out of its card (${r.left}..${r.right} in `
                    + `${c.left}..${c.right})`);
            }
        }
        if (e.tagName === 'SELECT') {
            const cs = getComputedStyle(e);
            const room = e.clientWidth - parseFloat(cs.paddingLeft)
                - parseFloat(cs.paddingRight) - arrowPx;
            for (const o of e.options) {
                const w = textWidth(o.text, e);
                if (w > room) {
                    problems.push(`${name(e)}: option "${o.text}" needs ${w}px of ${room}`);
                }
            }
        } else if (e.tagName !== 'INPUT' && !(e instanceof SVGElement) && e.clientWidth > 0
                   && e.scrollWidth > e.clientWidth + 1) {
            problems.push(`${name(e)} is cut: content ${e.scrollWidth}px in ${e.clientWidth}px`);
        }
    }
    return problems;
}"""
SELECT_ARROW_PX = 20  # room Chromium's drop-down arrow takes inside a select


def fit_problems(page: Any, root: str) -> list[str]:
    problems: list[str] = page.evaluate(FIT_PROBLEMS, [root, SELECT_ARROW_PX])
    return problems
