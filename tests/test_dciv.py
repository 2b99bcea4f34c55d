"""``GET /api/dersim/dc-iv``: the PV string's I-V curve at the last tick's conditions, with the
operating point, in the shape DERSim documents (reference §3.5, power/dc_iv.html).

The engine is stepped by hand (sans-IO) and the app is driven through its test client: no tick
loop, no clock, exact values.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

import pytest
from quart_trio import QuartTrio

from dersim_trio.api.inputs import InputsUpdate
from dersim_trio.engine.core import Engine, encode
from dersim_trio.service.hub import Hub
from dersim_trio.service.operator import Controller
from dersim_trio.web.app import create_app

if TYPE_CHECKING:
    from conftest import Kit

DC_IV = "/api/dersim/dc-iv"


def build(kit: type[Kit], *flags: str) -> tuple[Engine, QuartTrio]:
    """An engine that has published tick 0 and the app serving it (with the control routes)."""
    config = kit.make_config(*flags)
    engine = kit.make_engine(*flags)
    hub = Hub(config.device_count)
    hub.publish(0, [encode(s) for s in engine.initial()])
    return engine, create_app(hub, kit.make_context(config), Controller(engine))


def step(engine: Engine, ticks: int = 1) -> None:
    for _ in range(ticks):
        engine.step()


async def get(app: QuartTrio, path: str) -> tuple[int, Any]:
    async with app.test_app() as test_app:
        response = await test_app.test_client().get(path)
        return response.status_code, json.loads(await response.get_data())


def assert_served(point: dict[str, float], v: float, i: float, p_w: float) -> None:
    """``point`` is (v, i, p) as served: rounded to 0.1 V, 0.01 A and 1 W."""
    assert point["v"] == pytest.approx(v, abs=0.05 + 1e-9)
    assert point["i"] == pytest.approx(i, abs=0.005 + 1e-9)
    assert point["p"] == pytest.approx(p_w, abs=0.5 + 1e-9)


def interpolate_current(curve: list[dict[str, float]], v: float) -> float:
    for a, b in itertools.pairwise(curve):
        if a["v"] <= v <= b["v"]:
            t = (v - a["v"]) / (b["v"] - a["v"])
            return a["i"] + t * (b["i"] - a["i"])
    raise AssertionError(f"{v} V is outside the curve")


async def test_the_answer_has_exactly_the_documented_shape(kit: type[Kit]) -> None:
    engine, app = build(kit, "-d", "PV")
    step(engine)
    status, body = await get(app, DC_IV)
    assert status == 200
    assert set(body) == {"irradiance_w_m2", "cell_temperature_c", "operating_point", "curve"}
    assert set(body["operating_point"]) == {"v", "i", "p"}
    assert all(set(point) == {"v", "i", "p"} for point in body["curve"])


async def test_the_curve_runs_from_short_circuit_to_open_circuit_at_the_last_ticks_conditions(
    kit: type[Kit],
) -> None:
    engine, app = build(kit, "-d", "PV")
    step(engine, 3)
    asset = engine.devices[0].last_output.asset  # type: ignore[union-attr]
    status, body = await get(app, DC_IV)
    assert status == 200
    assert body["irradiance_w_m2"] == pytest.approx(asset["effective_irradiance_w_m2"], abs=0.05)
    assert body["cell_temperature_c"] == pytest.approx(asset["cell_temperature_c"], abs=0.05)
    curve = body["curve"]
    assert len(curve) >= 100
    voltages = [point["v"] for point in curve]
    assert voltages == sorted(voltages)
    assert curve[0]["v"] == 0.0
    assert curve[0]["i"] > 0.0  # short-circuit current
    assert curve[-1]["v"] == pytest.approx(asset["dc_open_circuit_voltage_v"], abs=0.05)
    assert curve[-1]["i"] == 0.0
    for point in curve:  # p in W, not kW; each of v, i, p rounded to its own resolution
        rounding = 0.5 + 0.05 * point["i"] + 0.005 * point["v"] + 0.001
        assert point["p"] == pytest.approx(point["v"] * point["i"], abs=rounding)


async def test_the_mpp_is_a_sample_and_matches_the_pvwatts_power(kit: type[Kit]) -> None:
    """At 500 W/m² in plane the default 14 kW array does not clip: the string is at its MPP."""
    engine, app = build(kit, "-d", "PV")
    Controller(engine).update_inputs(0, InputsUpdate(irradiance_w_m2=500.0, irradiance_kind="poa"))
    step(engine)
    out = engine.devices[0].last_output
    assert out is not None
    _, body = await get(app, DC_IV)
    best = max(body["curve"], key=lambda point: point["p"])
    assert best["v"] == pytest.approx(out.asset["dc_mpp_voltage_v"], abs=0.05)
    assert best["p"] == pytest.approx(out.dc_power_kw * 1000.0, abs=0.5)
    assert body["operating_point"] == best


async def test_a_clipped_string_works_on_the_curve_right_of_the_mpp(kit: type[Kit]) -> None:
    """1000 W/m² in plane on the 1.4 DC/AC default array clips: the inverter moves up in V."""
    engine, app = build(kit, "-d", "PV")
    Controller(engine).update_inputs(
        0, InputsUpdate(irradiance_w_m2=1000.0, irradiance_kind="poa", ambient_temperature_c=25.0)
    )
    step(engine)
    out = engine.devices[0].last_output
    assert out is not None
    assert out.asset["clipped"] is True
    _, body = await get(app, DC_IV)
    op = body["operating_point"]
    assert_served(op, out.dc_voltage_v, out.dc_current_a, out.dc_power_kw * 1000.0)
    best = max(body["curve"], key=lambda point: point["p"])
    assert op["v"] > best["v"]
    assert op["p"] < best["p"]
    # dense enough that linear interpolation puts the operating point on the curve (0.1 % I_sc)
    i_sc = body["curve"][0]["i"]
    on_curve = interpolate_current(body["curve"], op["v"])
    assert on_curve == pytest.approx(op["i"], abs=1e-3 * i_sc + 0.01)  # + the 0.01 A rounding


async def test_in_the_dark_the_curve_is_one_point_at_the_origin(kit: type[Kit]) -> None:
    engine, app = build(kit, "-d", "PV")
    Controller(engine).update_inputs(0, InputsUpdate(irradiance_w_m2=0.0))
    step(engine)
    _, body = await get(app, DC_IV)
    assert body["irradiance_w_m2"] == 0.0
    assert body["curve"] == [{"v": 0.0, "i": 0.0, "p": 0.0}]
    assert body["operating_point"] == {"v": 0.0, "i": 0.0, "p": 0.0}


async def test_a_hybrid_reports_its_pv_string_not_the_dc_bus(kit: type[Kit]) -> None:
    engine, app = build(kit, "-d", "HybridDC-3Phase", "-N", "2")
    step(engine, 2)
    asset = engine.devices[1].last_output.asset  # type: ignore[union-attr]
    status, body = await get(app, f"{DC_IV}?device=1")
    assert status == 200
    assert body["irradiance_w_m2"] == pytest.approx(asset["effective_irradiance_w_m2"], abs=0.05)
    assert_served(
        body["operating_point"],
        asset["pv_voltage_v"],  # type: ignore[arg-type]
        asset["pv_current_a"],  # type: ignore[arg-type]
        float(asset["pv_power_kw"]) * 1000.0,  # type: ignore[arg-type]
    )
    assert body["operating_point"]["v"] > 0.0
    assert max(point["p"] for point in body["curve"]) >= body["operating_point"]["p"] - 1e-6


@pytest.mark.parametrize(
    ("device_type", "asset_type"),
    [("Batt", "battery"), ("Wind-T3-3Phase", "wind"), ("Fuelcell-3Phase", "fuelcell")],
)
async def test_other_device_types_get_404_not_applicable(
    kit: type[Kit], device_type: str, asset_type: str
) -> None:
    _, app = build(kit, "-d", device_type, "-N", "2")
    status, body = await get(app, f"{DC_IV}?device=1")
    assert status == 404
    assert body == {
        "error": "not_applicable",
        "detail": "dc-iv is available for PV and HybridDC devices; device 1 is " + asset_type,
    }


@pytest.mark.parametrize("raw", ["2", "-1", "x", "", "1.0"])
async def test_a_bad_device_is_404(kit: type[Kit], raw: str) -> None:
    _, app = build(kit, "-d", "PV", "-N", "2")
    status, body = await get(app, f"{DC_IV}?device={raw}")
    assert status == 404
    assert body["error"] == "device_not_found"
    assert "[0, 1]" in body["detail"]


async def test_before_the_first_tick_the_answer_is_503_not_ready_and_says_retry(
    kit: type[Kit],
) -> None:
    config = kit.make_config("-d", "PV")
    engine = kit.make_engine("-d", "PV")
    hub = Hub(config.device_count)
    app = create_app(hub, kit.make_context(config), Controller(engine))
    status, body = await get(app, f"{DC_IV}?device=0")
    assert status == 503
    assert body == {"error": "not_ready", "detail": "no tick has been computed yet; retry"}
    hub.publish(0, [encode(s) for s in engine.initial()])
    status, body = await get(app, f"{DC_IV}?device=0")
    assert status == 200
    assert body["curve"]
