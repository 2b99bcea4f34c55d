"""The published snapshots (``api.wire``): checked in bulk, encoded fast, and what
``/openapi.json`` declares.

* every device type's published bytes decode to the ``Snapshot`` model of the same row, and
  validate against the ``Snapshot`` schema of the served ``/openapi.json`` (every key declared,
  every type and enum as documented, no undeclared key where the schema forbids one);
* the bulk check refuses what per-device validation refused: NaN and infinity anywhere (the
  assets' extra keys included), numbers out of range, states outside their choices, missing and
  unknown keys, a number where a string belongs; it names the device and the field;
* an ``int`` in a ``float`` field is published as the float pydantic would make of it;
* a tick encoded on demand, ticks later and after operator writes, gives the bytes encoding at
  its tick gave.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import numpy as np
import pytest

from dersim_trio.api.controls import CommandRequest, ControlsUpdate
from dersim_trio.api.grid_support import GridSupportUpdate
from dersim_trio.api.inputs import InputsUpdate
from dersim_trio.api.schema import round_snapshot_payload
from dersim_trio.api.wire import (
    _RECORD_RULES,
    RECORD_FIELDS,
    TICK_FIELDS,
    Record,
    SnapshotError,
    TickCommon,
    TickSnapshots,
    check_rows,
    encode_row,
    row_of_record,
    snapshot_of,
)
from dersim_trio.engine.core import Engine, encode
from dersim_trio.physics.base import (
    AssetLayout,
    AssetRow,
    AssetRows,
    AssetTable,
    Dispatch,
    asset_column,
)
from dersim_trio.service.hub import Hub
from dersim_trio.service.operator import Controller
from dersim_trio.web.app import create_app

if TYPE_CHECKING:
    from conftest import Kit

DEVICE_TYPES = [
    "PV",
    "PV-1Phase",
    "PV-3Phase",
    "Batt",
    "Batt-3Phase",
    "Wind-T3-3Phase",
    "Wind-T4-3Phase",
    "Fuelcell-3Phase",
    "HybridDC-3Phase",
    "EVSE",
]


def stepped(kit: type[Kit], device_type: str, ticks: int = 4) -> tuple[Engine, TickSnapshots]:
    """Three devices of ``device_type`` at noon, stepped ``ticks`` times (storage working)."""
    engine = kit.make_engine("-d", device_type, "-N", "3", "--start_clock_time", "12:00:00")
    for i, slot in enumerate(engine.devices):
        slot.dispatch = Dispatch(active_power_setpoint_kw=2.0 if i % 2 else -2.0)
    tick = engine.initial()
    for _ in range(ticks):
        tick = engine.step()
    return engine, tick


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_the_published_bytes_are_the_model_of_the_row(kit: type[Kit], device_type: str) -> None:
    _, tick = stepped(kit, device_type)
    assert len(tick.payloads) == 3
    for row, payload in zip(tick.rows, tick.payloads, strict=True):
        model = snapshot_of(row)  # full precision; the payload is rounded (api.resolution)
        assert json.loads(payload) == round_snapshot_payload(json.loads(model.model_dump_json()))
        assert json.loads(payload) == json.loads(encode(model))  # (asset key order may differ)
    assert [s.device_index for s in tick] == [0, 1, 2]
    assert tick[-1] is tick[2]  # read once, kept


def operator_writes(controller: Controller) -> list[Callable[[], object]]:
    """Writes that change what the next ticks publish: a power limit, the grid voltage (every
    device, then one), volt-var where the device has grid support (its grid block then moves
    every tick), a command."""
    writes: list[Callable[[], object]] = [
        lambda: controller.update_controls(0, ControlsUpdate(active_power_limit_pct=40.0)),
        lambda: controller.update_inputs(None, InputsUpdate(grid_voltage_pu=1.04)),
        lambda: controller.update_inputs(1, InputsUpdate(grid_voltage_pu=1.06)),
        lambda: controller.command(CommandRequest(command="stop", device=2)),
    ]
    volt_var = GridSupportUpdate.model_validate({"volt_var": {"enabled": True}})
    writes += [
        partial(controller.update_grid_support, i, volt_var)
        for i in controller.devices
        if controller.has_grid_support(i)
    ]
    return writes


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_a_tick_encoded_from_its_records_gives_each_rows_bytes(
    kit: type[Kit], device_type: str
) -> None:
    """``payloads`` encodes a tick from its columns, building no row it keeps; each device's
    bytes are those of its row encoded alone (``encode_row``). Twelve devices with different
    set points, one stopped, so the columns hold different values."""
    engine = kit.make_engine("-d", device_type, "-N", "12", "--start_clock_time", "11:00:00")
    for i, slot in enumerate(engine.devices):
        slot.dispatch = Dispatch(active_power_setpoint_kw=(i - 6) / 3.0)
    Controller(engine).command(CommandRequest(command="stop", device=5))
    engine.initial()
    for _ in range(3):
        tick = engine.step()
        assert tick.common is not None  # from records, rows not built yet
        payloads = tick.payloads
        assert payloads == tuple(encode_row(row) for row in tick.rows)


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_a_tick_encoded_later_gives_the_bytes_encoding_at_its_tick_gave(
    kit: type[Kit], device_type: str
) -> None:
    """The service publishes a tick unencoded and encodes it when someone first asks
    (``Hub.publish_on_demand``): maybe ticks later, after operator writes. Two engines built
    alike get the same writes; one encodes every tick at once, the other keeps its ticks and
    encodes them all at the end, one device alone first (``payload``), then every device."""
    flags = ("-d", device_type, "-N", "3", "--start_clock_time", "12:00:00")
    at_once, later = kit.make_engine(*flags), kit.make_engine(*flags)
    writes = zip(
        operator_writes(Controller(at_once)), operator_writes(Controller(later)), strict=True
    )
    eager: list[tuple[bytes, ...]] = [at_once.initial().payloads]
    kept: list[TickSnapshots] = [later.initial()]
    for write_at_once, write_later in [*writes, *[(lambda: None, lambda: None)] * 3]:
        eager.append(at_once.step().payloads)
        kept.append(later.step())
        write_at_once()
        write_later()
    assert len({payloads for payloads in eager}) == len(eager)  # every tick differs
    for k, (now, tick) in enumerate(zip(eager, kept, strict=True)):
        assert tick.payload(k % 3) == now[k % 3]
        assert tick.payloads == now
        assert tick.payload(-1) == now[-1]


async def test_every_published_key_and_type_is_the_one_openapi_declares(kit: type[Kit]) -> None:
    config = kit.make_config("-d", "PV")
    engine = kit.make_engine("-d", "PV")
    hub = Hub(config.device_count)
    app = create_app(hub, kit.make_context(config), Controller(engine))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/openapi.json")
        doc = json.loads(await response.get_data())
    schemas = doc["components"]["schemas"]
    assert schemas["Metrics"]["additionalProperties"] is False  # unknown keys are refused
    validator = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/Snapshot", "components": doc["components"]}
    )
    checked = 0
    for device_type in DEVICE_TYPES:
        _, tick = stepped(kit, device_type)
        for payload in tick.payloads:
            errors = [e.message for e in validator.iter_errors(json.loads(payload))]
            assert errors == [], (device_type, errors)
            checked += 1
    assert checked == 3 * len(DEVICE_TYPES)
    # the validator does refuse what the schema refuses
    bad = json.loads(tick.payloads[0])
    bad["metrics"]["surprise"] = 1.0
    assert not validator.is_valid(bad)


def rows_of(kit: type[Kit], device_type: str = "Batt") -> list[dict[str, Any]]:
    return copy.deepcopy(stepped(kit, device_type, ticks=1)[1].rows)


LAX = {("metrics", "voltage_ll_v"), ("metrics", "soc_min_pct"), ("tick",), ("dc_port_count",)}
"""pydantic's lax mode takes "230" for a float and 1.0 for an int; the bulk check does not."""


BREAKAGES = [
    (("metrics", "power_kw"), math.nan, r"device 1: snapshot field metrics.power_kw = nan"),
    (("metrics", "current_a"), math.inf, "metrics.current_a = inf: not finite"),
    (("metrics", "current_a"), -0.5, r"metrics.current_a = -0.5: outside \[0, inf\]"),
    (("metrics", "power_factor"), 1.5, r"outside \[-1, 1\]"),
    (("metrics", "state_of_charge_pct"), math.nan, "state_of_charge_pct = nan"),
    (("metrics", "soc_min_pct"), "5", "soc_min_pct = '5': not a number"),
    (("metrics", "voltage_ll_v"), None, "must not be null"),
    (("metrics", "voltage_ll_v"), "230", "not a number"),
    (("energy", "injected_kwh"), -1e-9, "energy.injected_kwh"),
    (("pq", "angle_deg"), -math.inf, "pq.angle_deg = -inf"),
    (("status", "inverter_state"), "dancing", "status.inverter_state = 'dancing': not allowed"),
    (("status", "message"), 42, "not a string"),
    (("dc_mode",), "steam", "dc_mode = 'steam': not allowed"),
    (("asset", "energy_available_kwh"), -1.0, "asset.energy_available_kwh"),
    (("asset", "state_of_health_pct"), math.nan, "asset.state_of_health_pct = nan"),
    (("grid_support", "p_limit_kw"), math.inf, "grid_support.p_limit_kw = inf"),
    (("device_index",), -1, "not an integer >= 0"),
    (("dc_port_count",), 1.0, "dc_port_count = 1.0: not an integer"),
    (("tick",), 1.0, "tick = 1.0: not an integer"),
]
"""Breakages of one device's snapshot (the path, the value, the error), for rows and records."""


@pytest.mark.parametrize(("where", "value", "message"), BREAKAGES)
def test_the_bulk_check_refuses_what_validation_refused(
    kit: type[Kit], where: tuple[str, ...], value: object, message: str
) -> None:
    rows = rows_of(kit)
    target = rows[1]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(SnapshotError, match=message):
        check_rows(rows)
    if where not in LAX:  # pydantic agrees (except where its lax mode converts)
        with pytest.raises(ValueError, match="validation error"):
            snapshot_of(rows[1])


def test_an_extra_asset_value_must_be_finite_too(kit: type[Kit]) -> None:
    rows = rows_of(kit, "PV")
    extra = next(k for k in rows[2]["asset"] if k not in ("irradiance_w_m2", "cell_temperature_c"))
    rows[2]["asset"][extra] = math.nan
    with pytest.raises(SnapshotError, match=f"device 2: snapshot field asset.{extra} = nan"):
        check_rows(rows)
    rows = rows_of(kit, "EVSE")
    rows[0]["asset"]["connectors"][0]["voltage_v"] = -math.inf
    with pytest.raises(SnapshotError, match=r"device 0: .*connectors\.voltage_v = -inf"):
        check_rows(rows)


def test_missing_and_unknown_keys_are_refused(kit: type[Kit]) -> None:
    rows = rows_of(kit)
    del rows[0]["pq"]["angle_deg"]
    with pytest.raises(
        SnapshotError, match=r"device 0: snapshot field pq .*missing \['angle_deg'\]"
    ):
        check_rows(rows)
    rows = rows_of(kit)
    rows[2]["energy"]["bonus_kwh"] = 1.0
    with pytest.raises(SnapshotError, match=r"unknown \['bonus_kwh'\]"):
        check_rows(rows)
    rows = rows_of(kit)
    del rows[1]["asset"]["chemistry"]
    with pytest.raises(SnapshotError, match=r"device 1: snapshot field asset .*missing"):
        check_rows(rows)


def test_an_int_in_a_float_field_is_published_as_a_float(kit: type[Kit]) -> None:
    rows = rows_of(kit)
    rows[0]["metrics"]["dc_voltage_v"] = 0
    rows[0]["pq"]["angle_deg"] = 3
    check_rows(rows)
    tick = TickSnapshots(rows)
    assert b'"dc_voltage_v":0.0' in tick.payloads[0]
    assert b'"angle_deg":3.0' in tick.payloads[0]
    assert tick.payloads[0] == encode(tick[0])


def test_a_failing_tick_names_the_engine_device_index(kit: type[Kit]) -> None:
    engine, _ = stepped(kit, "Batt", ticks=1)
    fleet = engine.devices[2].model.fleet  # type: ignore[attr-defined]
    original = fleet.step_columns

    def broken(rows: Any, *args: Any) -> Any:  # the battery fleet's row 2 is device 2
        step = original(rows, *args)
        dc_voltage_v = step.dc_voltage_v.copy()
        dc_voltage_v[list(rows).index(2)] = math.nan
        return dataclasses.replace(step, dc_voltage_v=dc_voltage_v)

    fleet.step_columns = broken
    with pytest.raises(
        SnapshotError, match=r"device 2: snapshot field metrics\.dc_voltage_v = nan"
    ):
        engine.step()


def test_a_list_of_numbers_must_hold_finite_numbers(kit: type[Kit]) -> None:
    rows = rows_of(kit, "PV-3Phase")
    block = rows[1]["grid_support"] = dict(rows[1]["grid_support"])
    assert len(block["phase_voltage_pu"]) == 3
    block["phase_voltage_pu"] = [1.0, math.nan, 1.0]
    with pytest.raises(
        SnapshotError, match=r"device 1: snapshot field grid_support\.phase_voltage_pu = nan"
    ):
        check_rows(rows)
    block["phase_voltage_pu"] = [1.0, "1.0", 1.0]
    with pytest.raises(SnapshotError, match="not a finite number"):
        check_rows(rows)


def test_a_new_grid_support_block_is_checked_beside_blocks_seen_before(kit: type[Kit]) -> None:
    """The engine hands out a device's grid-support block again while its values stay, and
    the check skips a block it has passed before (``api.wire._REUSED_BLOCKS``); a block made
    this tick is checked, whatever its neighbours are."""
    engine, tick = stepped(kit, "PV-3Phase", ticks=2)
    rows = list(tick.rows)
    again = engine.step().rows
    assert all(
        a["grid_support"] is b["grid_support"] for a, b in zip(rows, again, strict=True)
    )  # a steady grid: the same blocks
    fresh = [dict(row) for row in again]
    fresh[2]["grid_support"] = dict(again[2]["grid_support"], v_pct=math.nan)
    with pytest.raises(SnapshotError, match=r"device 2: snapshot field grid_support\.v_pct = nan"):
        check_rows(fresh)
    check_rows(again)  # the blocks seen before pass again


# --- records: the engine's tick as flat tuples, checked by column (api.wire.RECORD_FIELDS) ---


def records_of(kit: type[Kit], device_type: str = "Batt") -> tuple[TickCommon, list[Record]]:
    """A stepped tick's common values and records, deep-copied (safe to break)."""
    tick = stepped(kit, device_type, ticks=1)[1]
    assert tick.common is not None  # the engine hands over records
    assert len(tick.records) == 3
    return tick.common, copy.deepcopy(list(tick.records))


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_a_tick_encoded_from_its_columns_gives_the_rows_bytes(
    kit: type[Kit], device_type: str
) -> None:
    """``payloads`` of a tick whose rows are not built (rounded a column at a time, the
    nested blocks one by one) equals ``encode_row`` of each row, for every type."""
    from_columns = stepped(kit, device_type)[1]
    from_rows = stepped(kit, device_type)[1]
    expected = [encode_row(row) for row in from_rows.rows]
    assert from_columns._rows is None
    assert list(from_columns.payloads) == expected
    assert from_columns._rows is None


@pytest.mark.parametrize("device_type", ["PV-3Phase", "Batt-3Phase"])
@pytest.mark.parametrize(
    "value", [0.0, -0.0, 0.0005, 0.0015, 0.00049999, 123.4565, 0.05, 0.15, 4.5e15, 1e300, math.nan]
)
def test_a_fleets_assets_are_rounded_as_columns_as_row_by_row(
    kit: type[Kit], device_type: str, value: float
) -> None:
    """A quiet fleet's asset column (``AssetRows``) is rounded as the table's columns; every
    float of the table at values on rounding boundaries, beyond the range rounding applies to,
    at ±0 and NaN (null where the key allows it), a constant and a nameplate value per row
    among them: the same bytes as rounding each row's dict."""
    engine = kit.make_engine("-d", device_type, "-N", "3", "--start_clock_time", "12:00:00")
    engine.initial()
    for _ in range(3):
        tick = engine.step()
    assets = tick.column("asset")
    assert type(assets) is AssetRows  # every device quiet: the fleet's table, row by row
    table = assets.table
    floats = np.full_like(table.floats, value)
    for _, source, column in table.layout.plan:
        if source == "flag":
            floats[:, column] = 1.0
        elif source == "float" and math.isnan(value):
            floats[:, column] = 1.25  # NaN only where null is allowed
    number = 1.25 if math.isnan(value) else value  # where null is not allowed
    consts = {k: number if type(v) is float else v for k, v in table.consts.items()}
    per_row = {
        k: [number if type(v) is float else v for v in values]
        for k, values in table.per_row.items()
    }
    odd = AssetTable(table.layout, floats, consts, per_row, table.rows)
    assert tick.common is not None
    columns = list(zip(*tick.records, strict=True))
    at = RECORD_FIELDS.index("asset")
    columns[at] = AssetRows(odd, range(len(odd)))
    by_columns = TickSnapshots.of_columns(tick.common, columns, [0, 1, 2])
    columns[at] = [odd.row(i) for i in range(len(odd))]
    by_rows = TickSnapshots.of_columns(tick.common, columns, [0, 1, 2])
    assert list(by_columns.payloads) == [encode_row(row) for row in by_rows.rows]


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        5e-324,
        2.5e-7,
        0.0005,
        0.0015,
        0.00049999,
        1.0 / 3.0,
        99.99949,
        -123.4565,
        4.5e15,
        1.3e16,
        1e300,
        -1e300,
    ],
)
def test_columns_round_every_number_as_the_rows_rounder(kit: type[Kit], value: float) -> None:
    """Every number field of the record, nested blocks included (a trip, the grid block shared
    by two devices, an asset dict shared by two devices), at values on rounding boundaries,
    beyond the range rounding applies to, and at ±0: the bytes from the columns are the rows'
    bytes."""
    common, records = records_of(kit, "Batt")
    numbers = [
        k
        for k, rule in enumerate(_RECORD_RULES)
        if rule.kind == "float" and rule.ge is None and rule.le is None
    ]
    assert RECORD_FIELDS.index("metrics.power_kw") in numbers
    trip = RECORD_FIELDS.index("status.last_trip")
    grid = RECORD_FIELDS.index("grid_support")
    asset = RECORD_FIELDS.index("asset")
    shared_asset = {**records[0][asset], "note_kw": value}
    broken = []
    for i, record in enumerate(records):
        values = list(record)
        for k in numbers:
            values[k] = value if i != 1 else -value
        values[trip] = {"cause": "OV1", "time_s": abs(value) if i == 2 else 12.3456789}
        values[grid] = records[0][grid]  # one block for every device
        values[asset] = shared_asset if i < 2 else values[asset]
        broken.append(tuple(values))
    columns = TickSnapshots.of_records(common, broken, [0, 1, 2])
    rows = TickSnapshots.of_records(common, broken, [0, 1, 2])
    expected = [encode_row(row) for row in rows.rows]
    assert list(columns.payloads) == expected
    # the same numbers as the engine hands them over: float64 arrays
    arrays: list[Any] = list(zip(*broken, strict=True))
    for k in numbers:
        arrays[k] = np.array(arrays[k], dtype=np.float64)
    assert list(TickSnapshots.of_columns(common, arrays, [0, 1, 2]).payloads) == expected


def test_text_with_percent_signs_quotes_and_non_ascii_gives_the_rows_bytes(
    kit: type[Kit],
) -> None:
    """Text the template encoder writes as it is: a profile name every device shares (written
    into the tick's template, so its ``%`` must stay a ``%``), messages that differ by device,
    two of them equal strings that are different objects: the bytes from the columns are the
    rows' bytes."""
    common, records = records_of(kit, "Batt")
    common = dataclasses.replace(common, device_profile_name='50 % "Ünïcode" \\ %s ✓\t')
    message = RECORD_FIELDS.index("status.message")
    texts = ["%d%% of %s", "".join(["é", "%"]), "é%"]
    broken = [
        tuple(texts[i] if k == message else v for k, v in enumerate(record))
        for i, record in enumerate(records)
    ]
    assert broken[1][message] == broken[2][message]
    assert broken[1][message] is not broken[2][message]
    columns = TickSnapshots.of_records(common, broken, [0, 1, 2])
    rows = TickSnapshots.of_records(common, broken, [0, 1, 2])
    expected = [encode_row(row) for row in rows.rows]
    assert list(columns.payloads) == expected
    assert json.loads(expected[0])["device_profile_name"] == common.device_profile_name


@pytest.mark.parametrize(("where", "value", "message"), BREAKAGES)
def test_the_record_check_refuses_what_the_row_check_refuses(
    kit: type[Kit], where: tuple[str, ...], value: object, message: str
) -> None:
    """The same breakages as ``test_the_bulk_check_refuses_what_validation_refused``, made in
    the engine's records instead of rows: the same errors, naming the engine's device index."""
    common, records = records_of(kit)
    path = ".".join(where)
    if path == "tick":
        common = dataclasses.replace(common, tick=value)  # type: ignore[arg-type]
    elif path in RECORD_FIELDS:
        record = list(records[1])
        record[RECORD_FIELDS.index(path)] = value
        records[1] = tuple(record)
    else:  # a key inside a nested block: a copy of the block as a dict, changed
        record = list(records[1])
        k = RECORD_FIELDS.index(where[0])
        record[k] = {**record[k], where[1]: value}
        records[1] = tuple(record)
    with pytest.raises(SnapshotError, match=message.replace("device 1", "device 11")):
        TickSnapshots.of_records(common, records, [10, 11, 12])
    rows = [row_of_record(common.values(), r) for r in records]
    with pytest.raises(SnapshotError, match=message):
        check_rows(rows)  # the rows' check agrees


def test_the_tick_values_and_the_record_length_are_checked(kit: type[Kit]) -> None:
    common, records = records_of(kit)
    with pytest.raises(SnapshotError, match="device 0: snapshot field tick = -1"):
        TickSnapshots.of_records(dataclasses.replace(common, tick=-1), records, [0, 1, 2])
    with pytest.raises(SnapshotError, match=r"metrics\.timestamp = None: not a string"):
        TickSnapshots.of_records(
            dataclasses.replace(common, timestamp=None),  # type: ignore[arg-type]
            records,
            [0, 1, 2],
        )
    records[2] = records[2][:-1]
    with pytest.raises(SnapshotError, match=r"device 2: .* a record of 35 fields, not 36"):
        TickSnapshots.of_records(common, records, [0, 1, 2])


def test_an_int_in_a_record_is_published_as_a_float(kit: type[Kit]) -> None:
    common, records = records_of(kit)
    record = list(records[0])
    record[RECORD_FIELDS.index("metrics.dc_voltage_v")] = 0
    records[0] = tuple(record)
    tick = TickSnapshots.of_records(common, records, [0, 1, 2])
    assert b'"dc_voltage_v":0.0' in tick.payloads[0]
    assert tick.column("metrics.dc_voltage_v")[0] == 0.0


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_columns_and_rows_of_a_tick_agree(kit: type[Kit], device_type: str) -> None:
    """``column`` (the history's and the metrics' read) gives each row's value at every path,
    for a tick from records and for the same tick from rows; a row built alone is the row."""
    _, tick = stepped(kit, device_type)
    assert tick.common is not None
    by_rows = TickSnapshots(copy.deepcopy(tick.rows))
    assert set(RECORD_FIELDS) | set(TICK_FIELDS) >= {"metrics.power_kw", "asset", "tick"}
    for path in RECORD_FIELDS + TICK_FIELDS:
        keys = path.split(".")
        expected = [row[keys[0]] if len(keys) == 1 else row[keys[0]][keys[1]] for row in tick.rows]
        assert tick.column(path) == expected, path
        assert by_rows.column(path) == expected, path
        assert not [v for v in tick.column(path) if isinstance(v, np.generic)], path
    fresh = stepped(kit, device_type)[1]
    alone = [fresh.row(i) for i in range(3)]  # before the rows are built
    assert alone == fresh.rows
    # the engine's float64 columns become plain floats in every row, built alone or together
    assert not [v for row in alone + fresh.rows for v in _leaves(row) if isinstance(v, np.generic)]


def _leaves(value: object) -> Iterator[object]:
    """Every scalar inside a row (nested mappings and lists walked)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# --- a fleet's assets as columns (physics.base.AssetTable), checked on the arrays ---


PV_LIKE = AssetLayout(
    (
        ("irradiance_w_m2", "float", 0),
        ("ghi_w_m2", "float_or_null", 1),
        ("cell_temperature_c", "float", 2),
        ("clear_sky_irradiance_w_m2", "const", -1),
        ("ambient_temperature_c", "float", 3),
        ("clipped", "flag", 4),
        ("note", "row", -1),
    )
)
"""Two declared floats, a float that may be null, a constant, a flag and a per-row text."""


def pv_table(values: list[list[float]]) -> AssetTable:
    return AssetTable(
        PV_LIKE,
        np.array(values, dtype=np.float64),
        consts={"clear_sky_irradiance_w_m2": 812.5},
        per_row={"note": ["a", "b", "c", "d"][: len(values)]},
    )


def test_an_asset_row_is_the_dict_of_its_table_row() -> None:
    table = pv_table([[800.0, 700.0, 40.0, 25.0, 0.0], [1.5, np.nan, 20.0, 21.0, 1.0]] * 2)
    row = AssetRow(table, 1)
    expected = {
        "irradiance_w_m2": 1.5,
        "ghi_w_m2": None,
        "cell_temperature_c": 20.0,
        "clear_sky_irradiance_w_m2": 812.5,
        "ambient_temperature_c": 21.0,
        "clipped": True,
        "note": "b",
    }
    assert row.as_dict() == expected
    assert list(row.as_dict()) == list(expected)  # the plan's key order
    assert dict(row) == expected
    assert row == expected
    assert row["clipped"] is True
    assert row.get("ghi_w_m2", 0.0) is None
    assert row.get("missing") is None
    assert type(row.as_dict()["irradiance_w_m2"]) is float
    assert AssetRow(table, 0)["clipped"] is False


def test_a_tables_column_is_each_rows_value() -> None:
    """``AssetTable.column`` (a float column read at once) gives ``value`` of every row for
    every source, fleet rows out of order included; ``asset_column`` reads a table's column
    only where the assets are its rows in order, and asks each asset otherwise."""
    values = [[800.0, 700.0, 40.0, 25.0, 0.0], [1.5, np.nan, 20.0, 21.0, 1.0]] * 2
    table = AssetTable(
        PV_LIKE,
        np.array(values, dtype=np.float64),
        consts={"clear_sky_irradiance_w_m2": 812.5},
        per_row={"note": ["a", "b", "c", "d"]},
        rows=[3, 0, 2, 1],
    )
    for key in PV_LIKE.keys:
        expected = [table.value(i, key) for i in range(4)]
        assert table.column(key) == expected, key
        assert [type(v) for v in table.column(key)] == [type(v) for v in expected], key
    assert table.column("note") == ["d", "a", "c", "b"]
    assert table.column("ghi_w_m2") == [700.0, None, 700.0, None]
    with pytest.raises(KeyError):
        table.column("missing")
    rows = [AssetRow(table, i) for i in range(4)]
    assert asset_column(rows, "irradiance_w_m2") == [800.0, 1.5, 800.0, 1.5]
    assert asset_column(rows, "missing") == [None] * 4
    mixed = [rows[1], rows[0], {"irradiance_w_m2": 7.0}, rows[3]]
    assert asset_column(mixed, "irradiance_w_m2") == [1.5, 800.0, 7.0, 1.5]
    assert asset_column(rows[:3], "clipped") == [False, True, False]
    assert asset_column([], "clipped") == []


@pytest.mark.parametrize("device_type", ["Batt-3Phase", "PV-3Phase"])
def test_numbers_are_the_columns_values_as_float64(kit: type[Kit], device_type: str) -> None:
    """``TickSnapshots.numbers``: a number field of every device as float64, NaN for null,
    the same for a tick from columns and from rows."""
    _, tick = stepped(kit, device_type)
    by_rows = TickSnapshots(copy.deepcopy(tick.rows))
    paths = [p for p in RECORD_FIELDS if p.startswith(("metrics.", "energy."))]
    assert "metrics.state_of_charge_pct" in paths
    for path in paths:
        for t in (tick, by_rows):
            got = t.numbers(path)
            assert got.dtype == np.float64
            expected = [math.nan if v is None else v for v in t.column(path)]
            np.testing.assert_array_equal(got, expected, err_msg=path)
    soc = tick.numbers("metrics.state_of_charge_pct")
    assert bool(np.isnan(soc).all()) is (device_type == "PV-3Phase")


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        (1, 0, math.nan, r"device 11: snapshot field asset\.irradiance_w_m2 = nan"),
        (2, 2, math.inf, r"device 12: snapshot field asset\.cell_temperature_c = inf"),
        (0, 1, -math.inf, r"device 10: snapshot field asset\.ghi_w_m2 = -inf"),
        (2, 3, math.nan, r"device 12: snapshot field asset\.ambient_temperature_c = nan"),
    ],
)
def test_a_table_asset_is_checked_on_its_columns(
    kit: type[Kit], row: int, column: int, value: float, message: str
) -> None:
    """The engine's records with PV assets from a table: a NaN or an infinity in a column is
    refused naming the device and the key; a NaN where the key may be null is published as
    null."""
    common, records = records_of(kit, "PV")
    at = RECORD_FIELDS.index("asset")
    values = [[800.0, 700.0, 40.0, 25.0, 0.0], [500.0, np.nan, 30.0, 24.0, 1.0], [0.0] * 5]
    good = pv_table(values)
    records = [(*r[:at], AssetRow(good, i), *r[at + 1 :]) for i, r in enumerate(records)]
    tick = TickSnapshots.of_records(common, records, [10, 11, 12])
    assert json.loads(tick.payload(1))["asset"]["ghi_w_m2"] is None
    assert json.loads(tick.payload(1))["asset"]["clipped"] is True
    values[row][column] = value
    bad = pv_table(values)
    in_order = [(*r[:at], AssetRow(bad, i), *r[at + 1 :]) for i, r in enumerate(records)]
    with pytest.raises(SnapshotError, match=message):
        TickSnapshots.of_records(common, in_order, [10, 11, 12])
    # the table's rows in another order (not a whole fleet in row order): the same refusal,
    # naming the device that holds the bad row
    reverse = [(*r[:at], AssetRow(bad, 2 - i), *r[at + 1 :]) for i, r in enumerate(records)]
    field = message.split(": ", 1)[1]
    with pytest.raises(SnapshotError, match=rf"device {12 - row}: {field}"):
        TickSnapshots.of_records(common, reverse, [10, 11, 12])


def test_a_pv_fleet_publishes_its_asset_table(kit: type[Kit]) -> None:
    """A PV fleet's outputs are rows of one table per step; the snapshot holds their dicts."""
    engine, tick = stepped(kit, "PV-3Phase")
    outs = [slot.last_output for slot in engine.devices]
    assert all(type(out.asset) is AssetRow for out in outs if out is not None)
    assert len({id(out.asset.table) for out in outs if type(out.asset) is AssetRow}) == 1
    for out, row in zip(outs, tick.rows, strict=True):
        assert out is not None
        assert row["asset"] == dict(out.asset)
        assert type(row["asset"]) is dict


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "energy_available_kwh",
            -1.0,
            r"device 1: snapshot field asset\.energy_available_kwh = -1",
        ),
        ("state_of_health_pct", math.nan, r"device 1: snapshot field asset\.state_of_health_pct"),
        ("pack_ocv_v", math.inf, r"device 1: snapshot field asset\.pack_ocv_v = inf"),
    ],
)
def test_a_battery_fleets_asset_table_is_checked_against_the_model(
    kit: type[Kit], key: str, value: float, message: str
) -> None:
    """The battery fleet's table (``BatteryAsset``: ``energy_available_kwh`` ≥ 0 declared):
    a value out of its declared range or not finite is refused naming the device and key."""
    common, records = records_of(kit, "Batt")
    at = RECORD_FIELDS.index("asset")
    table = records[0][at].table
    assert type(records[0][at]) is AssetRow
    floats = table.floats.copy()
    per_row = {k: list(v) for k, v in table.per_row.items()}
    if key in per_row:
        per_row[key][1] = value
    else:
        floats[1, next(c for k, _, c in table.layout.plan if k == key)] = value
    bad = AssetTable(table.layout, floats, table.consts, per_row, table.rows)
    records = [(*r[:at], AssetRow(bad, i), *r[at + 1 :]) for i, r in enumerate(records)]
    with pytest.raises(SnapshotError, match=message):
        TickSnapshots.of_records(common, records, [0, 1, 2])
