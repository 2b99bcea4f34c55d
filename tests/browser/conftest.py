"""Fixtures of the dashboard browser tests (helpers live in ``browser_support``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_FLAGS, PageProbe, SimServer, open_page
from playwright.sync_api import sync_playwright


@pytest.fixture(scope="session")
def server_factory() -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def make(*flags: str, port: int = 0) -> SimServer:
        server = SimServer(*flags, port=port).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def pv_server(server_factory: Callable[..., SimServer]) -> SimServer:
    """Two PV devices (device selector shown), from 08:00 on a June day: the output rises
    through the morning and moves every tick with the clouds (at noon a clear sky would clip it
    at WMax, at night it is 0, both constant)."""
    return server_factory(
        "-d", "PV", "-N", "2", "--start_date", "2026-06-21", "--start_clock_time", "08:00:00"
    )


@pytest.fixture(scope="session")
def battery_server(server_factory: Callable[..., SimServer]) -> SimServer:
    return server_factory("-d", "Batt")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} not found: the browser tests drive Debian's chromium "
        "(scripts/test.sh installs it; or set DERSIM_CHROMIUM)"
    )
    with sync_playwright() as pw:
        # Playwright gives every launch a fresh, empty user-data-dir of its own.
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def probe(browser: Any) -> Iterator[PageProbe]:
    yield from open_page(browser)


@pytest.fixture
def phone_probe(browser: Any) -> Iterator[PageProbe]:
    yield from open_page(browser, 390, 844)


SIZES = [(1280, 800), (390, 844)]
"""Desktop and phone viewports for the layout tests."""


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def sized_probe(request: pytest.FixtureRequest, browser: Any) -> Iterator[PageProbe]:
    """A page at each of the desktop and the phone size."""
    yield from open_page(browser, *request.param)
