"""The dashboard's Grid tab (IEEE 1547-2018 grid support) in Chromium against a real server (see
conftest.py): a setting changed in the form is applied and drawn with the live operating point,
the server's 422 message appears beside the field it names (the same text the REST API gives)
and changes nothing, a grid event played from the tab shows up with the trip it causes, and the
tab fits at desktop and phone width.

Screenshots go to test-output/screenshots/ (not committed) for review by eye.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from browser_support import PageProbe, SimServer, fit_problems
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

GS0 = "/api/dersim/devices/0/grid-support"


@pytest.fixture(scope="module")
def grid_server(server_factory: Callable[..., SimServer]) -> SimServer:
    """Two three-phase PV units: device 0 for the settings, device 1 for the grid event."""
    return server_factory("-d", "PV-3Phase", "-N", "2")


@pytest.fixture
def defaults(grid_server: SimServer) -> Iterator[None]:
    """Device 0 back to its category defaults and its grid inputs after each test."""
    yield
    rest(grid_server, "PUT", GS0, {"category": {}})
    rest(grid_server, "PUT", "/api/dersim/devices/0/inputs", {"grid_voltage_pu": None})


def rest(server: SimServer, method: str, path: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def open_grid(probe: PageProbe, server: SimServer, device: int = 0) -> Any:
    page = probe.page
    probe.base = server.url
    page.goto(f"{server.url}?device={device}#grid")
    expect(page.locator("#conn-text")).to_have_text("Live")
    expect(page.locator("#gs-category-now")).to_contain_text("now B, III")
    return page


def size_name(probe: PageProbe) -> str:
    size = probe.page.viewport_size
    return f"{size['width']}x{size['height']}"


MARKER_IN_PLOT = """(sel) => {
    const svg = document.querySelector(`${sel} svg`);
    const dot = svg && svg.querySelector('.gplot-op');
    if (!dot) return null;
    const d = dot.getBoundingClientRect();
    const f = svg.querySelector('.gplot-frame').getBoundingClientRect();
    return {inside: d.left >= f.left - 7 && d.right <= f.right + 7 && d.top >= f.top - 7
            && d.bottom <= f.bottom + 7, cx: Number(dot.getAttribute('cx')),
            cy: Number(dot.getAttribute('cy'))};
}"""


def test_grid_tab_shows_the_grid_and_applies_volt_var(
    grid_server: SimServer, sized_probe: PageProbe, defaults: None
) -> None:
    page = open_grid(sized_probe, grid_server)
    # The grid this three-phase unit sees, per phase, and the start defaults (category B, III:
    # unity PF, frequency droop on, trips at their defaults).
    for phase in ("A", "B", "C"):
        expect(page.locator("#grid-voltages")).to_contain_text(f"Voltage {phase}")
    expect(page.locator("#gv-0")).to_have_text("1.000")
    expect(page.locator("#gt-f")).to_have_text("60.000")
    expect(page.locator("#gt-rocof")).to_have_text("0.000")
    expect(page.locator("#gchip-state")).to_have_text("1547 region: continuous")
    expect(page.locator("#gchip-mode")).to_contain_text("none")
    expect(page.locator("#gcard-fd")).to_be_visible()
    expect(page.locator("#gcard-vw")).to_be_hidden()
    trip_rows = page.locator("#grid-trip-table tbody tr")
    expect(trip_rows).to_have_count(8)
    # IEEE 1547-2018 Table 13 (category III): OV2 1.20 pu in 0.16 s, UV1 0.88 pu in 21 s.
    expect(trip_rows.nth(0)).to_contain_text("OV2")
    expect(trip_rows.nth(0)).to_contain_text("120.0 %")
    expect(trip_rows.nth(0)).to_contain_text("0.16 s")
    expect(trip_rows.nth(2)).to_contain_text("UV1")
    expect(trip_rows.nth(2)).to_contain_text("21.00 s")

    # Volt-var on, from the form: the server has it, the chart draws its curve.
    vv = page.locator("fieldset[data-fn='volt_var']")
    vv.locator("[data-path='volt_var.enabled']").check()
    vv.locator("[data-apply]").click()
    expect(page.locator("#gs-answer-volt_var")).to_contain_text("HTTP 200 OK")
    assert grid_server.get_json(GS0)["volt_var"]["enabled"] is True
    expect(page.locator("#gchip-mode")).to_have_text("reactive mode: volt-var")
    expect(page.locator("#gchart-q-title")).to_contain_text("Volt-var")

    # The grid at 1.05 pu, from the tab's grid conditions: the unit absorbs vars (Table 8
    # category B: V3 1.02, V4 1.08 at Q4 = 44 % of S absorbing; 1.05 pu is half-way).
    page.fill("#gv-input", "1.05")
    page.click("#gv-set")
    expect(page.locator("#gc-answer")).to_contain_text("HTTP 200 OK")
    expect(page.locator("#gv-0")).to_have_text("1.050")
    # Q settles half-way down the absorbing slope: −50 % of the var rating (44 % of S).
    page.wait_for_function(
        """() => { const d = window.dersimDashboard.grid;
                   return Math.abs(d.operatingPoint(d.last).qPct + 50) < 0.5; }""",
        timeout=20_000,
    )
    expect(page.locator("#gs-qtarget")).to_have_text("-2.20 kvar")
    ops = page.evaluate(
        "() => window.dersimDashboard.grid.operatingPoint(window.dersimDashboard.grid.last)"
    )
    assert ops["vPct"] == pytest.approx(105.0, abs=0.01)
    marker = page.evaluate(MARKER_IN_PLOT, "#gchart-q")
    assert marker is not None
    assert marker["inside"], marker

    problems = fit_problems(page, "#tab-grid")
    assert problems == [], "\n".join(problems)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    sized_probe.screenshot(f"grid-{size_name(sized_probe)}")


def test_grid_tab_shows_the_servers_422_beside_the_field(
    grid_server: SimServer, probe: PageProbe, defaults: None
) -> None:
    page = open_grid(probe, grid_server)
    droop = page.locator("fieldset[data-fn='freq_droop']")
    k_of = droop.locator("[data-path='freq_droop.k_of']")
    expect(k_of).to_have_value("0.05")
    k_of.fill("0.5")
    droop.locator("[data-apply]").click()
    status, rest_answer = rest(grid_server, "PUT", GS0, {"freq_droop": {"k_of": 0.5}})
    assert status == 422
    field = rest_answer["fields"][0]
    assert field["field"] == "freq_droop.k_of"
    error = droop.locator(".field-error")
    expect(error).to_have_text(f"{field['message']} (allowed: {field['allowed']})")
    expect(k_of).to_have_class("invalid")
    expect(page.locator("#gs-answer-freq_droop")).to_contain_text("HTTP 422")
    # A refused body changed nothing.
    state = grid_server.get_json(GS0)
    assert state["freq_droop"]["k_of"] == 0.05

    # A curve out of order: the point named by the server is the one marked.
    vv = page.locator("fieldset[data-fn='volt_var']")
    v3 = vv.locator("[data-path='volt_var.pt.2.v_pct']")
    v3.fill("98")
    vv.locator("[data-apply]").click()
    body = {"volt_var": state["volt_var"] | {"pt": [dict(p) for p in state["volt_var"]["pt"]]}}
    body["volt_var"]["pt"][2]["v_pct"] = 98
    status, rest_answer = rest(grid_server, "PUT", GS0, body)
    assert status == 422
    field = rest_answer["fields"][0]
    assert field["field"] == "volt_var.pt[2].v_pct"
    expect(vv.locator(".field-error")).to_have_text(
        f"{field['field']}: {field['message']} (allowed: {field['allowed']})"
    )
    expect(v3).to_have_class("invalid")
    # Correcting it clears the marks and applies.
    v3.fill("101")
    vv.locator("[data-apply]").click()
    expect(page.locator("#gs-answer-volt_var")).to_contain_text("HTTP 200 OK")
    expect(vv.locator(".field-error")).to_have_count(0)
    state = grid_server.get_json(GS0)
    assert state["volt_var"]["pt"][2]["v_pct"] == 101
    # The form's own check: a number box with text in it is not sent.
    k_of.fill("")
    k_of.press_sequentially("e")
    droop.locator("[data-apply]").click()
    expect(droop.locator(".field-error")).to_have_text("enter a number")
    expect(page.locator("#gs-answer-freq_droop")).to_contain_text("not sent")


def test_a_grid_event_shows_up_with_its_trip(grid_server: SimServer, probe: PageProbe) -> None:
    """1.25 pu for 3 s on device 1 from the tab: the event is shown, the unit trips on OV2
    (Table 13: 1.20 pu clears in 0.16 s) and the trip reaches the tab's grid log."""
    page = open_grid(probe, grid_server, device=1)
    page.fill("#ge-v", "1.25")
    page.fill("#ge-dur", "3")
    page.click("#ge-play")
    expect(page.locator("#ge-answer")).to_contain_text("HTTP 200 OK")
    expect(page.locator("#gchip-event")).to_be_visible()
    expect(page.locator("#ge-state")).to_contain_text("for device 1: voltage 3 points")
    expect(page.locator("#gchip-state")).to_have_text("1547 region: tripped", timeout=20_000)
    expect(page.locator("#gchip-trip")).to_contain_text("last trip: OV2")
    expect(page.locator("#grid-log")).to_contain_text("tripped (OV2)", timeout=20_000)
    expect(page.locator("#gt-plim-by")).to_have_text("set by tripped")
    # Past its data the event holds the last point (back to 1.0 pu) and says so.
    expect(page.locator("#ge-state")).to_contain_text("holding the last value", timeout=20_000)
    page.click("#ge-end")
    expect(page.locator("#ge-state")).to_have_text("No grid event playing.")
    expect(page.locator("#gchip-event")).to_be_hidden()
    assert rest(grid_server, "DELETE", "/api/dersim/grid-events", {})[1]["active"] is False
    # A bad event gets the server's message beside the field.
    page.fill("#ge-v", "2")
    page.click("#ge-play")
    expect(page.locator("#ge-answer")).to_contain_text("HTTP 422")
    status, rest_answer = rest(
        grid_server,
        "POST",
        "/api/dersim/grid-events",
        {"device": 1, "voltage": [{"t_s": 0, "v_pu": 2}, {"t_s": 3, "v_pu": 2}]},
    )
    assert status == 422
    field = rest_answer["fields"][0]
    errors = page.locator("#grid-event-form .field-error")
    expect(errors).to_have_count(1)  # the same message for two points, shown once
    expect(errors).to_have_text(
        f"{field['field']}: {field['message']} (allowed: {field['allowed']})"
    )
    expect(page.locator("#ge-v")).to_have_class("invalid")
    assert grid_server.get_json("/api/dersim/grid-events")["active"] is False
    assert fit_problems(page, "#tab-grid") == []
    probe.screenshot("grid-event-1280x800")
