"""The controls, commands and faults routes through the quart test client (``web/routes_control``).

The app is built as the service builds it (``create_app(hub, context, controller)``); the engine
is stepped by hand and its snapshots published to the hub, so each test sees exactly the ticks
it made.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from quart_trio import QuartTrio

from dersim_trio.engine.core import Engine, encode
from dersim_trio.service.hub import Hub
from dersim_trio.service.operator import Controller
from dersim_trio.web.app import create_app

if TYPE_CHECKING:
    from conftest import Kit


class Served:
    """App plus the engine behind it; ``tick()`` steps the engine and publishes the snapshots."""

    def __init__(self, kit: type[Kit], *flags: str) -> None:
        config = kit.make_config(*flags)
        self.engine: Engine = kit.make_engine(*flags)
        self.hub = Hub(config.device_count)
        self.hub.publish(0, [encode(s) for s in self.engine.initial()])
        self.app: QuartTrio = create_app(
            self.hub, kit.make_context(config), Controller(self.engine)
        )

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.hub.publish(self.engine.tick + 1, [encode(s) for s in self.engine.step()])

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.app.test_app() as test_app:
            response = await test_app.test_client().open(path, method=method, **kwargs)
            data = await response.get_data()
            body = json.loads(data) if response.mimetype == "application/json" else None
            return response.status_code, body

    async def overview(self, device: int = 0) -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/dersim/overview?device={device}")
        assert status == 200
        return dict(body)


@pytest.fixture
async def batt(kit: type[Kit]) -> Served:
    return Served(kit, "-d", "Batt", "-N", "2")


CONTROLS = "/api/dersim/devices/0/controls"
FAULTS = "/api/dersim/devices/0/faults"


async def test_get_controls_gives_the_defaults_and_the_capability(batt: Served) -> None:
    status, body = await batt.call("GET", CONTROLS)
    assert status == 200
    assert body == {
        "device_index": 0,
        "active_power_setpoint_kw": None,
        "active_power_limit_pct": 100.0,
        "power_factor": None,
        "excitation": None,
        "reactive_power_setpoint_kvar": None,
        "p_q_priority": "active",
        "ramp_rate_pct_per_s": None,
        "hybrid_dispatch": None,
        "reversion": {},
        "clamped": [],
        "capability": {
            "w_max_kw": 10.0,
            "va_max_kva": 10.0,
            "var_max_inj_kvar": 4.4,
            "var_max_abs_kvar": 4.4,
            "setpoint_supported": True,
        },
    }


async def test_put_controls_applies_from_the_next_tick_and_reports_clamps(batt: Served) -> None:
    status, body = await batt.call(
        "PUT", CONTROLS, json={"active_power_setpoint_kw": 4.0, "reactive_power_setpoint_kvar": 9}
    )
    assert status == 200
    assert body["active_power_setpoint_kw"] == 4.0
    assert body["clamped"] == [
        {
            "field": "reactive_power_setpoint_kvar",
            "requested": 9.0,
            "applied": 4.4,
            "reason": "VarMaxInjRtg",
        }
    ]
    assert (await batt.overview())["metrics"]["power_kw"] == 0.0  # not yet
    batt.tick()
    snap = await batt.overview()
    assert snap["metrics"]["power_kw"] == pytest.approx(4.0)
    assert snap["metrics"]["reactive_power_kvar"] == pytest.approx(4.4)
    assert "VarMaxInjRtg" in snap["status"]["message"]
    other = await batt.overview(1)
    assert other["metrics"]["power_kw"] == 0.0


@pytest.mark.parametrize(
    ("body", "field", "allowed"),
    [
        ({"power_factor": 0.7}, "power_factor", "0.8..1.0"),
        ({"active_power_limit_pct": 120}, "active_power_limit_pct", "0..100"),
        (
            {"power_factor": 0.9, "reactive_power_setpoint_kvar": 1},
            "reactive_power_setpoint_kvar",
            "one of",
        ),
        (  # the one error, without a second one about excitation
            {"power_factor": 0.9, "excitation": "under", "reactive_power_setpoint_kvar": 1},
            "reactive_power_setpoint_kvar",
            "one of",
        ),
        ({"excitation": "under"}, "excitation", "power_factor"),
        ({"revert_after_s": 5}, "revert_after_s", "active_power_setpoint_kw"),
        ({"setpoint": 5}, "setpoint", "active_power_setpoint_kw"),
    ],
)
async def test_invalid_controls_are_422_naming_the_field_and_range(
    batt: Served, body: dict[str, Any], field: str, allowed: str
) -> None:
    status, error = await batt.call("PUT", CONTROLS, json=body)
    assert status == 422
    assert error["error"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == [field]
    assert allowed in error["fields"][0]["allowed"]
    _, state = await batt.call("GET", CONTROLS)
    assert state["power_factor"] is None  # nothing applied


async def test_a_setpoint_on_pv_is_422_naming_the_field(kit: type[Kit]) -> None:
    pv = Served(kit, "-d", "PV")
    status, error = await pv.call("PUT", CONTROLS, json={"active_power_setpoint_kw": 2})
    assert status == 422
    assert error["fields"][0]["field"] == "active_power_setpoint_kw"
    assert "active_power_setpoint_kw" in error["detail"]


async def test_a_negative_setpoint_on_a_fuel_cell_that_cannot_absorb_is_422(
    kit: type[Kit],
) -> None:
    """Never a 200 with an empty ``clamped`` list followed by a unit that idles."""
    fuelcell = Served(kit, "-d", "Fuelcell-3Phase")
    status, error = await fuelcell.call("PUT", CONTROLS, json={"active_power_setpoint_kw": -3})
    assert status == 422
    [field] = error["fields"]
    assert field["field"] == "active_power_setpoint_kw"
    assert "cannot absorb" in field["message"]
    assert field["allowed"] == "0..5 kW"
    _, state = await fuelcell.call("GET", CONTROLS)
    assert state["active_power_setpoint_kw"] is None


async def test_unknown_devices_are_404_json(batt: Served) -> None:
    for method, path, body in [
        ("GET", "/api/dersim/devices/2/controls", None),
        ("PUT", "/api/dersim/devices/-1/controls", {}),
        ("GET", "/api/dersim/devices/7/faults", None),
        ("POST", "/api/dersim/devices/7/faults", {"type": "ground_fault"}),
        ("DELETE", "/api/dersim/devices/7/faults", {}),
        ("POST", "/api/dersim/commands", {"command": "stop", "device": 5}),
    ]:
        kwargs = {} if body is None else {"json": body}
        status, error = await batt.call(method, path, **kwargs)
        assert status == 404, (method, path)
        assert error["error"] == "device_not_found"


async def test_a_non_json_body_is_415(batt: Served) -> None:
    status, error = await batt.call(
        "PUT", CONTROLS, data="power_factor=0.9", headers={"Content-Type": "text/plain"}
    )
    assert status == 415
    assert error["error"] == "unsupported_media_type"


async def test_commands_walk_and_are_listed_newest_last(batt: Served) -> None:
    status, records = await batt.call("POST", "/api/dersim/commands", json={"command": "stop"})
    assert status == 200
    assert [(r["device"], r["outcome"], r["command"]) for r in records] == [
        (0, "accepted", "stop"),
        (1, "accepted", "stop"),
    ]
    assert records[0]["detail"] == "running → shutting_down for 3 s, then off"
    assert set(records[0]) == {"id", "command", "device", "time", "tick", "outcome", "detail"}
    batt.tick(3)  # 4.5 s > 3 s
    assert (await batt.overview())["status"]["inverter_state"] == "off"
    status, records = await batt.call(
        "POST", "/api/dersim/commands", json={"command": "stop", "device": 0}
    )
    assert records[0]["outcome"] == "rejected"
    status, listed = await batt.call("GET", "/api/dersim/commands?limit=2")
    assert status == 200
    assert [r["id"] for r in listed] == [2, 3]
    status, error = await batt.call("GET", "/api/dersim/commands?limit=0")
    assert status == 400
    status, error = await batt.call("POST", "/api/dersim/commands", json={"command": "jump"})
    assert status == 422
    assert error["fields"][0]["field"] == "command"


async def test_faults_inject_list_and_clear_one_or_all(batt: Served) -> None:
    status, state = await batt.call("POST", FAULTS, json={"type": "grid_disconnect"})
    assert (status, state) == (
        200,
        {"device_index": 0, "active": ["grid_disconnect"], "latched": True},
    )
    await batt.call("POST", FAULTS, json={"type": "ground_fault"})
    batt.tick()
    snap = await batt.overview()
    assert snap["status"]["inverter_state"] == "fault"
    assert snap["status"]["connection_state"] == "disconnected"
    assert snap["status"]["message"] == "fault: ground_fault, grid_disconnect"
    status, state = await batt.call("DELETE", FAULTS, json={"type": "ground_fault"})
    assert (status, state["active"]) == (200, ["grid_disconnect"])
    status, state = await batt.call("DELETE", FAULTS, json={})  # {}: every condition
    assert (status, state["active"], state["latched"]) == (200, [], True)
    status, state = await batt.call("GET", FAULTS)
    assert (status, state["active"], state["latched"]) == (200, [], True)
    _, records = await batt.call("POST", "/api/dersim/commands", json={"command": "reset"})
    assert records[0]["outcome"] == "accepted"
    assert records[1]["outcome"] == "rejected"  # device 1 never faulted
    status, _ = await batt.call("POST", FAULTS, json={"type": "meteor"})
    assert status == 422


async def test_the_new_routes_are_in_the_openapi_document(batt: Served) -> None:
    _, doc = await batt.call("GET", "/openapi.json")
    paths = doc["paths"]
    assert set(paths["/api/dersim/devices/{index}/controls"]) >= {"get", "put"}
    assert set(paths["/api/dersim/commands"]) >= {"get", "post"}
    assert set(paths["/api/dersim/devices/{index}/faults"]) >= {"get", "post", "delete"}
