"""Numbers on the wire are rounded to a documented resolution per field (issue 11).

``api.resolution`` holds the one table; these tests pin what it promises: no float in a served
payload (HTTP, both WebSocket routes, the history) has more decimals than its field's resolution,
every float field of the snapshot schema has one and documents it, rounding never makes a NaN, an
infinity, a negative zero or a value outside a range, and the engine's own snapshots keep full
precision (the physics tests read those).

The digits are read from the JSON text itself (``parse_float=str``), so the check does not
depend on how Python would print the parsed float.
"""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any, get_args, get_origin

import pytest
import trio
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from dersim_trio.api.dciv import DcIv, DcIvPoint
from dersim_trio.api.resolution import (
    BY_NAME,
    BY_UNIT,
    Resolution,
    quantize,
    record_rounding,
    resolution_of,
    round_payload,
)
from dersim_trio.api.schema import (
    ASSET_MODELS,
    GridSupportStatus,
    Snapshot,
    round_snapshot_payload,
)
from dersim_trio.engine.core import encode

if TYPE_CHECKING:
    from conftest import Kit

DEVICE_TYPES = [
    "PV-1Phase",
    "PV-3Phase",
    "Batt-3Phase",
    "Wind-T3-3Phase",
    "Wind-T4-3Phase",
    "Fuelcell-3Phase",
    "HybridDC-3Phase",
    "EVSE",
]
NOON = ("--start_clock_time", "12:00:00")


def wire_floats(text: str | bytes) -> list[tuple[str, str]]:
    """Every float literal of a JSON text with the key it sits under (list items: the list's)."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and _is_number(node):
            found.append((key, node))

    walk(json.loads(text, parse_float=lambda s: "#" + s), "")
    return [(key, literal[1:]) for key, literal in found]


def _is_number(value: str) -> bool:
    return value.startswith("#")


def decimals(literal: str) -> int:
    """Decimals a JSON number literal shows (1e-05 shows 5)."""
    exponent = Decimal(literal).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def assert_within_resolution(
    text: str | bytes,
    key_map: dict[str, str] | None = None,
    own: dict[str, Resolution] | None = None,
) -> int:
    """Every float in ``text`` has a resolution (``own``'s, else its key's) and at most its
    decimals; returns how many."""
    floats = wire_floats(text)
    for key, literal in floats:
        name = (key_map or {}).get(key, key)
        found = (own or {}).get(name) or resolution_of(name)
        assert found is not None, f"{key} = {literal}: no resolution for this field"
        assert decimals(literal) <= found.decimals, f"{key} = {literal} (resolution {found})"
        assert math.isfinite(float(literal)), (key, literal)
        assert literal != "-0.0", key
    return len(floats)


def engine_snapshots(kit: type[Kit], device_type: str, ticks: int = 40) -> list[Snapshot]:
    engine = kit.make_engine("-d", device_type, "-N", "2", *NOON)
    snapshots: list[Snapshot] = []
    for _ in range(ticks):
        snapshots = engine.step()
    return snapshots


# --- the rounding itself ----------------------------------------------------------------------

RESOLUTIONS = sorted(
    {*BY_UNIT.values(), *BY_NAME.values()}, key=lambda r: (r.decimals, r.unit, r.follows)
)


@pytest.mark.parametrize("resolution", RESOLUTIONS, ids=lambda r: f"{r.decimals}{r.unit}")
@given(value=st.floats(allow_nan=False, allow_infinity=False))
@example(value=-0.0)
@example(value=-1e-9)
@example(value=277.1281292110204)
@example(value=1.7976931348623157e308)
def test_quantize_is_finite_close_short_and_signless_at_zero(
    resolution: Resolution, value: float
) -> None:
    rounded = quantize(value, resolution.scale)
    assert math.isfinite(rounded)
    if abs(value) * resolution.scale < 2**51:
        assert abs(rounded - value) <= resolution.step / 2 * (1 + 1e-9) + abs(value) * 1e-15
        assert decimals(repr(rounded)) <= resolution.decimals
    else:
        assert rounded == pytest.approx(value, rel=1e-12)
    if rounded == 0:
        assert math.copysign(1.0, rounded) == 1.0  # never -0.0


@given(
    low=st.integers(-(10**6), 10**6),
    width=st.integers(0, 10**6),
    fraction=st.floats(0, 1),
    decimals_=st.integers(0, 4),
)
def test_quantize_keeps_a_value_inside_a_range_whose_bounds_are_on_the_grid(
    low: int, width: int, fraction: float, decimals_: int
) -> None:
    scale = 10.0**decimals_
    lo, hi = low / scale, (low + width) / scale
    value = min(hi, max(lo, lo + fraction * (hi - lo)))
    assert lo <= quantize(value, scale) <= hi


def test_the_table_follows_the_sunspec_scale_factors() -> None:
    """Scale factors the SunSpec Modbus server uses (``protocols/modbus/models/``): W, var, VA
    at 1 (kW at 0.001), V at 0.1, A at 0.01, Hz at 0.001, PF at 0.001, Wh at 1, °C at 0.1,
    SoC at 0.1 %."""
    expected = {
        "power_kw": 0.001,
        "reactive_power_kvar": 0.001,
        "apparent_power_kva": 0.001,
        "voltage_ll_v": 0.1,
        "dc_voltage_v": 0.1,
        "current_a": 0.01,
        "dc_current_a": 0.01,
        "frequency_hz": 0.001,
        "power_factor": 0.001,
        "injected_kwh": 0.001,
        "cell_temperature_c": 0.1,
        "state_of_charge_pct": 0.1,
        "cell_voltage_v": 0.001,
        "hydrogen_flow_g_s": 0.0001,
        "hub_wind_speed_m_s": 0.01,
    }
    for name, step in expected.items():
        found = resolution_of(name)
        assert found is not None, name
        assert found.step == pytest.approx(step), name
    assert resolution_of("tick") is None
    assert resolution_of("device_index") is None


# --- the schema declares and documents every resolution -------------------------------------


def float_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Every float field (float, float | None, list[float]) of ``model`` and the models in it."""
    names: list[str] = []
    if model in seen:
        return names
    seen.add(model)
    for name, info in model.model_fields.items():
        stack: list[Any] = [info.annotation]
        while stack:
            annotation = stack.pop()
            if annotation is float:
                names.append(name)
            elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names += float_fields(annotation, seen)
            elif get_origin(annotation) is not None:
                stack.extend(get_args(annotation))
    return names


def test_every_float_field_of_the_snapshot_has_a_resolution() -> None:
    names = float_fields(Snapshot, set())
    for model in ASSET_MODELS.values():
        names += float_fields(model, set())
    assert len(names) > 40
    missing = sorted({n for n in names if resolution_of(n) is None})
    assert not missing, missing


def test_the_schema_states_each_resolution_in_the_field_description() -> None:
    schema = Snapshot.model_json_schema(mode="serialization")
    checked = 0
    for model in schema["$defs"].values():
        for name, prop in model.get("properties", {}).items():
            found = resolution_of(name)
            if found is None:
                continue
            assert prop["x-resolution"] == found.step, name
            assert prop["description"].endswith(f"Resolution {found.text()}."), name
            checked += 1
    assert checked > 40
    for name in ("PvAsset", "EvseConnector"):  # extra keys: the rule is stated
        assert "_kw 0.001 kW" in schema["$defs"][name]["description"]


def test_the_dc_iv_points_document_their_resolutions() -> None:
    point = DcIv.model_json_schema(mode="serialization")["$defs"]["DcIvPoint"]["properties"]
    assert {name: point[name]["x-resolution"] for name in ("v", "i", "p")} == {
        "v": 0.1,
        "i": 0.01,
        "p": 1.0,
    }
    assert point["p"]["description"] == "DC power, W. Resolution 1 W."


# --- the wire -------------------------------------------------------------------------------


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_every_float_of_an_encoded_snapshot_is_within_its_resolution(
    kit: type[Kit], device_type: str
) -> None:
    for snapshot in engine_snapshots(kit, device_type):
        count = assert_within_resolution(encode(snapshot))
        assert count >= 20
        Snapshot.model_validate_json(encode(snapshot))  # still a valid snapshot


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_the_declared_plan_and_the_key_by_key_walk_agree(kit: type[Kit], device_type: str) -> None:
    for snapshot in engine_snapshots(kit, device_type, ticks=5):
        assert round_snapshot_payload(snapshot.model_dump()) == round_payload(snapshot.model_dump())


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_the_rounded_copy_is_the_rounded_row_and_leaves_the_row_alone(
    kit: type[Kit], device_type: str
) -> None:
    """``payload_rounder`` (one pass, a copy) against a copy rounded key by key, on rows with
    every part a tick has (the grid-support block, phase lists, the asset's extra keys)."""
    engine = kit.make_engine("-d", device_type, "-N", "2", *NOON)
    for _ in range(4):
        tick = engine.step()
    for row in tick.rows:
        before = copy.deepcopy(row)
        rounded = round_snapshot_payload(row)
        assert row == before  # untouched: the history keeps full precision
        expected = round_payload(copy.deepcopy(row))
        assert json.dumps(rounded) == json.dumps(expected)  # values and key order
        assert rounded != row  # something was rounded


def test_the_engine_snapshot_keeps_full_precision(kit: type[Kit]) -> None:
    (snapshot,) = kit.make_engine("-d", "Batt").step()
    assert snapshot.metrics.voltage_ln_v == pytest.approx(480 / math.sqrt(3), rel=1e-12)
    assert json.loads(encode(snapshot))["metrics"]["voltage_ln_v"] == 277.1


async def test_http_websocket_and_history_serve_rounded_numbers(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    from dersim_trio.service.run import ServiceParts

    config = kit.make_config("-d", "HybridDC-3Phase", "-N", "2", "--periodic_time", "1.5", *NOON)
    parts = ServiceParts.assemble(config, kit.FIXED_WALL, trio.current_time())
    await nursery.start(parts.run_ticks, None)
    await trio.sleep(30 * 1.5 + 0.4)
    async with parts.app.test_app() as app:
        client = app.test_client()
        with trio.fail_after(10):
            overview = await (await client.get("/api/dersim/overview?device=1")).get_data()
            devices = await (await client.get("/api/dersim/devices")).get_data()
            history = await (await client.get("/api/dersim/history?seconds=60")).get_data()
            dc_iv = await (await client.get("/api/dersim/dc-iv?device=1")).get_data()
            async with client.websocket("/api/dersim/ws/telemetry") as ws:
                message = await ws.receive()
    assert assert_within_resolution(overview) >= 40
    assert assert_within_resolution(devices) >= 80
    assert assert_within_resolution(message) >= 40
    key_name = json.loads(history)["key_quantity_name"]
    assert assert_within_resolution(history, {"key_quantity": key_name}) >= 300
    assert '"voltage_ln_v":277.1,' in overview.decode()
    # the I-V curve's documented names (v, i, p) carry no unit: the model names their resolution
    assert assert_within_resolution(dc_iv, own=DcIvPoint.field_resolutions) >= 60
    assert json.loads(dc_iv)["operating_point"]["p"] > 0  # noon: a real operating point


def test_record_rounding_follows_the_rounders_plan() -> None:
    """``record_rounding`` names each record value's rounding as the snapshot's rounder does
    it: a float by its field's 10ⁿ, a nested block by its rounder; a list of floats, or a
    model that allows extra keys, is refused."""
    floats, nested = record_rounding(
        Snapshot, ["metrics.power_kw", "status.message", "status.last_trip", "asset", "tick"]
    )
    assert floats == ((0, resolution_of("power_kw").scale),)  # type: ignore[union-attr]
    assert [position for position, _ in nested] == [2, 3]
    trip = {"cause": "OV1", "time_s": 1.23456789}
    time_scale = resolution_of("time_s").scale  # type: ignore[union-attr]
    assert nested[0][1](trip) == {"cause": "OV1", "time_s": quantize(1.23456789, time_scale)}
    assert nested[0][1](trip) != trip
    assert trip["time_s"] == 1.23456789  # a copy is rounded, not the block
    asset = {"energy_available_kwh": 1.23456789, "chemistry": "LFP"}
    assert nested[1][1](asset) == round_payload(dict(asset))
    with pytest.raises(ValueError, match="a list of floats"):
        record_rounding(GridSupportStatus, ["phase_voltage_pu"])
    with pytest.raises(ValueError, match="allows extra keys"):
        record_rounding(ASSET_MODELS["battery"], ["energy_available_kwh"])
