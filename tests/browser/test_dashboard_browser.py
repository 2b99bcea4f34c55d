"""The dashboard at ``/`` in headless Chromium against a real server (see conftest.py).

The dashboard shows a "not available" note where a server lacks an endpoint (an older
simulator); this server has them all, so a note shown is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from browser_support import WAIT_MS, PageProbe, SimServer, open_page
from playwright.sync_api import expect

pytestmark = pytest.mark.slow  # a browser and a server process per session: about a minute

LIVE = "Live"


def load(probe: PageProbe, server: SimServer, query: str = "") -> Any:
    page = probe.page
    probe.base = server.url
    page.goto(server.url + query)
    expect(page.locator("#conn-text")).to_have_text(LIVE)
    return page


def wait_ticks(page: Any, count: int = 3) -> None:
    """Wait until the tick shown advanced by ``count``."""
    start = int(page.locator("#tick").inner_text())
    page.wait_for_function(
        "n => Number(document.querySelector('#tick').textContent) >= n",
        arg=start + count,
        timeout=WAIT_MS,
    )


def number_in(page: Any, selector: str) -> float:
    return float(page.locator(selector).inner_text().replace(",", ""))


def wait_number(page: Any, selector: str, low: float, high: float) -> None:
    page.wait_for_function(
        """([sel, lo, hi]) => {
            const v = parseFloat(document.querySelector(sel).textContent.replace(/,/g, ''));
            return v >= lo && v <= hi;
        }""",
        arg=[selector, low, high],
        timeout=WAIT_MS,
    )


def assert_feature_shown(page: Any, note_selector: str) -> None:
    """The "not available" note of a feature is hidden: the server answered its endpoint."""
    note = page.locator(note_selector)
    assert not (note.is_visible() and "not available" in note.inner_text().lower()), (
        f"{note_selector}: {note.inner_text()}"
    )


# ------------------------------------------------------------------------------------ tests


def test_overview_streams_live_values(pv_server: SimServer, probe: PageProbe) -> None:
    page = load(probe, pv_server)
    assert any(u.endswith("/api/dersim/ws/telemetry?device=0") for u in probe.websockets)
    assert probe.websockets[0].startswith(f"ws://127.0.0.1:{pv_server.port}/")

    first = {sel: page.locator(sel).inner_text() for sel in ("#tick", "#clock", "#v-p")}
    wait_ticks(page, 3)
    page.wait_for_function(
        "prev => document.querySelector('#v-p').textContent !== prev",
        arg=first["#v-p"],
        timeout=WAIT_MS,
    )
    page.wait_for_function(
        "prev => document.querySelector('#clock').textContent !== prev", arg=first["#clock"]
    )
    expect(page.locator("#device-type")).to_contain_text("PV")
    expect(page.locator("#chip-inverter")).to_contain_text("inverter:")
    expect(page.locator("#asset-title")).to_have_text("PV array")
    expect(page.locator("#device-picker")).to_be_visible()
    page.wait_for_function("window.dersimDashboard.store.length >= 3")

    # Everything the page loaded came from the simulator itself (works offline, no CDN).
    for url in probe.requests:
        assert url.startswith((pv_server.url, f"ws://127.0.0.1:{pv_server.port}/")), url
    assert any(u.endswith("/static/uplot/uPlot.iife.min.js") for u in probe.requests)
    probe.screenshot("overview-1280x800")


def test_overview_on_a_phone(battery_server: SimServer, phone_probe: PageProbe) -> None:
    page = load(phone_probe, battery_server)
    expect(page.locator("#tile-soc")).to_be_visible()
    expect(page.locator("#soc-legend")).to_contain_text("reserve")
    wait_ticks(page, 2)
    # Nothing wider than the screen.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    phone_probe.screenshot("overview-390x844")
    page.click(".tab[data-tab=controls]")
    expect(page.locator("#inputs-form .form-row").first).to_be_visible()
    phone_probe.screenshot("controls-390x844")


def test_analytics_chart_presets_and_toggles(pv_server: SimServer, probe: PageProbe) -> None:
    page = load(probe, pv_server)
    page.click(".tab[data-tab=analytics]")
    expect(page.locator("#main-chart canvas")).to_be_visible()
    expect(page.locator("#window-presets button.active")).to_have_text("2 h")
    page.wait_for_function("window.dersimDashboard.mainChart.data[0].length >= 3")
    n0 = page.evaluate("window.dersimDashboard.store.length")
    page.wait_for_function(f"window.dersimDashboard.mainChart.data[0].length > {n0}")

    page.click("#window-presets button[data-seconds='900']")
    assert page.evaluate("window.dersimDashboard.store.windowS") == 900
    # The voltages have their own chart (one V axis); its series 1 is V L-L.
    page.click("#metric-toggles [data-metric='vll']")
    assert page.evaluate("window.dersimDashboard.voltChart.series[1].show") is False
    page.click("#metric-toggles [data-metric='vll']")
    assert page.evaluate("window.dersimDashboard.voltChart.series[1].show") is True
    # Hiding the only series of an axis hides the axis too.
    page.click("#metric-toggles [data-metric='i']")
    assert page.evaluate("window.dersimDashboard.mainChart.series[4].show") is False
    assert page.evaluate("window.dersimDashboard.mainChart.axes[2].show") is False
    page.click("#metric-toggles [data-metric='i']")
    assert page.evaluate("window.dersimDashboard.mainChart.axes[2].show") is True
    page.click("#window-presets button[data-seconds='7200']")
    assert_feature_shown(page, "#history-note")
    probe.screenshot("analytics-1280x800")


def test_chart_window_is_bounded(pv_server: SimServer, probe: PageProbe) -> None:
    """A day of ticks pushed through the store keeps only the window (steady memory)."""
    page = load(probe, pv_server)
    kept = page.evaluate(
        """() => {
        const store = new window.dersimDashboard.store.constructor();
        store.windowS = 900;
        const base = Date.parse('2026-06-21T00:00:00Z');
        const snap = (k) => ({tick: k, asset: {irradiance_w_m2: 1}, metrics: {
            timestamp: new Date(base + k * 1000).toISOString(), power_kw: 1,
            reactive_power_kvar: 0, apparent_power_kva: 1, current_a: 1, voltage_ll_v: 480,
            voltage_ln_v: 277, state_of_charge_pct: null}});
        let most = 0;
        for (let k = 0; k < 86400; k++) {
            store.push(snap(k));
            most = Math.max(most, store.length);
        }
        return [store.length, most];
    }"""
    )
    assert kept[0] <= 1000, kept
    assert kept[1] <= 1000, kept


def test_switch_device_reconnects_with_device_query(pv_server: SimServer, probe: PageProbe) -> None:
    page = load(probe, pv_server)
    with page.expect_websocket(lambda ws: ws.url.endswith("?device=1")):
        page.select_option("#device-select", "1")
    expect(page.locator("#device-type")).to_contain_text("device 1 of 2")
    expect(page.locator("#conn-text")).to_have_text(LIVE)
    assert "device=1" in page.url
    wait_ticks(page, 2)
    assert page.evaluate("window.dersimDashboard.last.device_index") == 1


def test_input_override_changes_telemetry(pv_server: SimServer, probe: PageProbe) -> None:
    page = load(probe, pv_server)
    page.click(".tab[data-tab=controls]")
    row = page.locator("#inputs-form [data-field='grid_frequency_hz']")
    expect(row).to_be_visible()

    row.locator("input").fill("61.5")
    row.locator("button[data-action=set]").click()
    expect(page.locator("#inputs-answer")).to_contain_text("HTTP 200")
    wait_number(page, "#v-f", 61.49, 61.51)

    row.locator("input").fill("99")
    row.locator("button[data-action=set]").click()
    answer = page.locator("#inputs-answer")
    expect(answer).to_contain_text("HTTP 422")
    expect(answer).to_contain_text("grid_frequency_hz")

    irr = page.locator("#inputs-form [data-field='irradiance_w_m2']")
    irr.locator("input").fill("0")
    irr.locator("button[data-action=set]").click()
    expect(page.locator("#inputs-answer")).to_contain_text("HTTP 200")
    wait_number(page, "#v-p", 0.0, 0.0)
    probe.screenshot("controls-1280x800")

    for r in (row, irr):
        r.locator("button[data-action=profile]").click()
        expect(page.locator("#inputs-answer")).to_contain_text("HTTP 200")
    wait_number(page, "#v-f", 59.0, 61.0)
    page.wait_for_function("parseFloat(document.querySelector('#v-p').textContent) > 0")


def test_power_setpoint_changes_telemetry(battery_server: SimServer, probe: PageProbe) -> None:
    page = load(probe, battery_server)
    page.click(".tab[data-tab=controls]")
    page.wait_for_function(
        "document.querySelector('#ccur-active_power_setpoint_kw').textContent !== '–'"
        " || !document.querySelector('#controls-note').hidden"
    )
    assert_feature_shown(page, "#controls-note")
    row = page.locator("#controls-form [data-field='active_power_setpoint_kw']")
    row.locator("input").fill("4")
    row.locator("button", has_text="Set").click()
    expect(page.locator("#controls-answer")).to_contain_text("HTTP 200")
    page.click(".tab[data-tab=overview]")
    wait_number(page, "#v-p", 3.5, 4.5)
    page.click(".tab[data-tab=controls]")
    row.locator("button", has_text="Clear").click()
    expect(page.locator("#controls-answer")).to_contain_text("HTTP 200")
    probe.screenshot("controls-battery-1280x800")


def test_faults_inject_then_clear_all(battery_server: SimServer, probe: PageProbe) -> None:
    """Every mutation the dashboard sends carries a JSON body (the server refuses one
    without), "Clear all" too (``{}``)."""
    page = load(probe, battery_server)
    page.click(".tab[data-tab=controls]")
    assert_feature_shown(page, "#faults-note")
    page.select_option("#fault-type", "ground_fault")
    page.click("#fault-inject")
    expect(page.locator("#faults-answer")).to_contain_text("HTTP 200")
    expect(page.locator("#fault-active")).to_contain_text("ground")
    page.click("#fault-clear-all")
    expect(page.locator("#faults-answer")).to_contain_text("DELETE")
    expect(page.locator("#faults-answer")).to_contain_text("HTTP 200")
    expect(page.locator("#fault-active")).not_to_contain_text("ground")


def test_logs_tab(pv_server: SimServer, probe: PageProbe) -> None:
    page = load(probe, pv_server)
    page.click(".tab[data-tab=logs]")
    page.wait_for_function(
        "!document.querySelector('#logs-note').hidden"
        " || document.querySelectorAll('#log-table tbody tr td.msg').length > 0"
    )
    assert_feature_shown(page, "#logs-note")
    page.click("#log-levels [data-level=info]")
    page.click("#log-levels [data-level=info]")
    expect(page.locator("#log-table tbody tr").first).to_be_visible()
    probe.screenshot("logs-1280x800")


def test_reconnects_after_server_restart(server_factory: Any, browser: Any) -> None:
    server = server_factory("-d", "Wind-T3-3Phase")
    for probe in open_page(browser):
        probe.allow_connection_errors = True  # the server is down for a while, on purpose
        page = load(probe, server)
        wait_ticks(page, 2)
        probe.screenshot("overview-wind-1280x800")
        server.stop()
        expect(page.locator("#conn-text")).to_contain_text("reconnecting")
        expect(page.locator("#conn")).to_have_class("conn conn-reconnecting")
        probe.screenshot("reconnecting-1280x800", full_page=False)
        sockets_before = len(probe.websockets)
        server.start()  # same port
        expect(page.locator("#conn-text")).to_have_text(LIVE, timeout=20_000)
        assert len(probe.websockets) > sockets_before
        wait_ticks(page, 2)


def test_a_shards_dashboard_offers_the_shards_fleet_indices(
    server_factory: Callable[..., SimServer], probe: PageProbe
) -> None:
    shard = server_factory("-d", "PV", "-N", "5", "--shard_index", "1", "--shard_count", "2")
    page = load(probe, shard)  # devices 2..4 of the fleet
    options = page.locator("#device-select option")
    expect(options).to_have_count(3)
    assert [options.nth(k).get_attribute("value") for k in range(3)] == ["2", "3", "4"]
    expect(page.locator("#device-type")).to_contain_text("device 2 (shard 1: 2–4 of 5)")
    with page.expect_websocket(lambda ws: ws.url.endswith("?device=4")):
        page.select_option("#device-select", "4")
    expect(page.locator("#conn-text")).to_have_text(LIVE)
    wait_ticks(page, 2)
    assert page.evaluate("window.dersimDashboard.last.device_index") == 4
