"""Dashboard layout and presentation at desktop and phone width (see conftest.py for the real
server and Chromium): the analytics charts have at most two y-axes and no area fill, the energy
tile says "exported" / "imported" in a unit that suits the amount, the controls tab shows every
label and option whole and offers only the controls the device supports, and the I-V chart's
operating point stays inside the plot with its label outside it.

Screenshots go to test-output/screenshots/ (not committed) for review by eye.
"""

from __future__ import annotations

from typing import Any

import pytest
from browser_support import WAIT_MS, PageProbe, SimServer, fit_problems
from playwright.sync_api import expect


def load(probe: PageProbe, server: SimServer, tab: str = "") -> Any:
    page = probe.page
    probe.base = server.url
    page.goto(server.url + (f"#{tab}" if tab else ""))
    expect(page.locator("#conn-text")).to_have_text("Live")
    return page


def size_name(probe: PageProbe) -> str:
    size = probe.page.viewport_size
    return f"{size['width']}x{size['height']}"


def no_page_overflow(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


# ------------------------------------------------------------------------------------ charts

CHART_FACTS = """(name) => {
    const u = window.dersimDashboard[name];
    const {left, top, width, height} = u.bbox;
    const px = u.ctx.getImageData(left, top, width, height).data;
    let painted = 0;
    for (let k = 3; k < px.length; k += 4) if (px[k] > 0) painted++;
    const fills = u.series.slice(1).map((s, k) =>
        typeof s.fill === 'function' ? s.fill(u, k + 1) : (s.fill ?? null));
    return {
        yAxes: u.axes.slice(1).filter((a) => a.show).map((a) => [a.scale, a.side]),
        fills,
        painted: painted / (width * height),
        series: u.series.length - 1,
    };
}"""


def test_analytics_charts_have_two_y_axes_at_most_and_no_area_fill(
    pv_server: SimServer, sized_probe: PageProbe
) -> None:
    page = load(sized_probe, pv_server, "analytics")
    for name in ("mainChart", "voltChart", "keyChart"):
        page.wait_for_function(f"window.dersimDashboard.{name}?.data[0].length >= 5")
    page.wait_for_function("window.dersimDashboard.mainChart.data[1].some((v) => v > 0)")
    seen = {}
    for name in ("mainChart", "voltChart", "keyChart"):
        facts = page.evaluate(CHART_FACTS, name)
        seen[name] = facts
        assert len(facts["yAxes"]) <= 2, (name, facts["yAxes"])
        sides = [side for _scale, side in facts["yAxes"]]
        assert len(set(sides)) == len(sides), f"{name}: two y-axes on one side: {facts}"
        assert all(f is None for f in facts["fills"]), (name, facts["fills"])
        # Lines and grid only: an area fill under any line (the old pink voltage fill covered
        # the whole plot) paints most of the plot area.
        assert facts["painted"] < 0.2, (name, facts["painted"])
    # Power (kW, left) with current (A, right); both voltages on one V axis.
    assert seen["mainChart"]["yAxes"] == [["kW", 3], ["A", 1]]
    assert seen["voltChart"]["yAxes"] == [["V", 3]]
    assert seen["mainChart"]["series"] + seen["voltChart"]["series"] == 6
    no_page_overflow(page)
    sized_probe.screenshot(f"analytics-{size_name(sized_probe)}")


# ------------------------------------------------------------------------------------ energy


def test_energy_tile_says_exported_and_imported_in_a_unit_that_suits(
    pv_server: SimServer, sized_probe: PageProbe
) -> None:
    page = load(sized_probe, pv_server)
    tile = page.locator(".tile[data-key='energy']")
    expect(tile).to_contain_text("exported")
    expect(tile).to_contain_text("imported")
    assert "in / out" not in tile.inner_text()
    # A PV array at noon has exported some watt-hours within seconds: shown as Wh, not 0.00 kWh.
    page.wait_for_function(
        "parseFloat(document.querySelector('#v-energy-out').textContent.replace(/,/g, '')) > 0"
    )
    assert page.locator("#u-energy-out").inner_text() == "Wh"
    assert page.locator("#v-energy-in").inner_text() == "0.00"
    assert page.locator("#u-energy-in").inner_text() == "Wh"
    # Still under 1 kWh on the server, so Wh is the right unit.
    assert pv_server.get_json("/api/dersim/overview?device=0")["energy"]["injected_kwh"] < 1.0
    assert fit_problems(page, ".tile[data-key='energy']") == []
    no_page_overflow(page)

    # The unit switches where the smaller one would read 1,000.
    cases = [
        [0, "0.00", "Wh"],
        [0.0123, "12.3", "Wh"],
        [0.25, "250", "Wh"],
        [0.9994, "999", "Wh"],
        [0.9996, "1.00", "kWh"],
        [1.5, "1.50", "kWh"],
        [42.25, "42.3", "kWh"],
        [999.4, "999", "kWh"],
        [2500, "2.50", "MWh"],
        [1234567, "1,235", "MWh"],
    ]
    got = page.evaluate(
        """async (cases) => {
            const { fmtEnergy } = await import('/static/dashboard/dom.js');
            return cases.map(([kwh]) => fmtEnergy(kwh));
        }""",
        cases,
    )
    assert got == [[text, unit] for _kwh, text, unit in cases]
    sized_probe.screenshot(f"overview-pv-{size_name(sized_probe)}")


# ------------------------------------------------------------------------------------ controls


@pytest.mark.parametrize("device", ["pv", "battery"])
def test_controls_tab_shows_whole_labels_and_only_supported_controls(
    device: str, request: pytest.FixtureRequest, sized_probe: PageProbe
) -> None:
    server: SimServer = request.getfixturevalue(f"{device}_server")
    page = load(sized_probe, server, "controls")
    capability = page.locator("#ctl-capability")
    expect(capability).to_be_visible()
    setpoint_row = page.locator("#controls-form [data-field='active_power_setpoint_kw']")
    supported = server.get_json("/api/dersim/devices/0/controls")["capability"]
    if device == "pv":
        assert supported["setpoint_supported"] is False
        expect(setpoint_row).to_be_hidden()
        expect(capability).to_contain_text("no active power setpoint")
        expect(page.locator("#inputs-form [data-field='irradiance_w_m2']")).to_be_visible()
    else:
        assert supported["setpoint_supported"] is True
        expect(setpoint_row).to_be_visible()
        expect(capability).to_contain_text("active power setpoint supported")
    # The controls every device has.
    for field in ("active_power_limit_pct", "power_factor", "reactive_power_setpoint_kvar"):
        expect(page.locator(f"#controls-form [data-field='{field}']")).to_be_visible()
    excitation = page.locator("#ctl-excitation")
    expect(excitation).to_be_visible()
    assert excitation.evaluate("e => [...e.options].map((o) => o.text)") == [
        "over-excited (inject Q)",
        "under-excited (absorb Q)",
    ]
    expect(page.locator("#inputs-form [data-field='ambient_temperature_c'] label")).to_have_text(
        "Ambient temperature °C (-40…60)"
    )
    problems = fit_problems(page, "#tab-controls")
    assert problems == [], "\n".join(problems)
    # A unit and its range stay on one line ("°C (-40…60)", never "°C (-40…" / "60)").
    broken = page.evaluate(
        """() => [...document.querySelectorAll('#tab-controls label small')]
            .filter((e) => e.getClientRects().length > 1).map((e) => e.textContent)"""
    )
    assert broken == []
    no_page_overflow(page)
    sized_probe.screenshot(f"controls-{device}-{size_name(sized_probe)}")


def test_fit_check_finds_a_cut_off_select(pv_server: SimServer, sized_probe: PageProbe) -> None:
    """The layout check itself: a select too narrow for its options is reported."""
    page = load(sized_probe, pv_server, "controls")
    expect(page.locator("#ctl-excitation")).to_be_visible()
    page.evaluate("document.querySelector('#ctl-excitation').style.width = '90px'")
    problems = fit_problems(page, "#controls-card")
    assert any("over-excited (inject Q)" in p for p in problems), problems
    page.evaluate(
        "document.querySelector('#inputs-form label').style.cssText ="
        " 'white-space: nowrap; overflow: hidden; width: 40px; display: block'"
    )
    assert any("is cut" in p for p in fit_problems(page, "#inputs-card"))


# ------------------------------------------------------------------------------------ I-V curve

IV_FACTS = """() => {
    const u = window.dersimDashboard.ivChart;
    const plot = u.over.getBoundingClientRect();
    const legend = document.querySelector('#iv-legend').getBoundingClientRect();
    const card = document.querySelector('#iv-card').getBoundingClientRect();
    return {op: u.operatingPointPx, plot: [plot.left, plot.top, plot.right, plot.bottom],
            legend: [legend.left, legend.top, legend.right, legend.bottom],
            card: [card.left, card.top, card.right, card.bottom]};
}"""


def test_iv_operating_point_stays_in_the_plot_and_its_label_off_the_curve(
    pv_server: SimServer, sized_probe: PageProbe
) -> None:
    page = load(sized_probe, pv_server)
    page.wait_for_function(
        "window.dersimDashboard.ivChart && window.dersimDashboard.ivChart.operatingPointPx",
        timeout=WAIT_MS,
    )
    legend = page.locator("#iv-legend")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("operating point")
    page.wait_for_function("/ V · .* A · .* kW/.test(document.querySelector('#iv-op').textContent)")
    facts = page.evaluate(IV_FACTS)
    op = facts["op"]
    left, top, right, bottom = facts["plot"]
    # The marker, whole, inside the plot area.
    assert op["r"] <= op["x"] <= right - left - op["r"], facts
    assert op["r"] <= op["y"] <= bottom - top - op["r"], facts
    # The label is a legend line above the plot: inside the card, clear of the plot (the curve).
    l_left, _l_top, l_right, l_bottom = facts["legend"]
    c_left, _c_top, c_right, _c_bottom = facts["card"]
    assert c_left <= l_left, facts
    assert l_right <= c_right, facts
    assert l_bottom <= top, facts
    assert fit_problems(page, "#iv-card") == []
    no_page_overflow(page)
    sized_probe.screenshot(f"iv-curve-{size_name(sized_probe)}")
