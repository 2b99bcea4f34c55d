"""Engine, simulator clock and tick loop: time, physics relations, counters, determinism.

The AC relations are checked against the contract (§2) and ``physics/ac.py`` (IEEE Std 1459
definitions): S² = P² + Q², PF = P/S (1.0 at S = 0, sign of P), three-phase V_LL = √3·V_LN and
I = S/(√3·V_LL), split-phase V_LL = 2·V_LN and I = S/V_LL, single-phase V_LL = V_LN and
I = S/V. They must hold on every snapshot of a simulated day, not just at one operating point.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from dersim_trio.api.inputs import InputsUpdate
from dersim_trio.api.schema import Snapshot, round_snapshot_payload
from dersim_trio.engine.clock import SimClock
from dersim_trio.engine.core import Engine, encode
from dersim_trio.physics.base import Dispatch
from dersim_trio.physics.hybrid import HybridModel
from dersim_trio.service.build import build_engine
from dersim_trio.service.hub import Hub
from dersim_trio.service.operator import Controller
from dersim_trio.service.run import tick_loop
from dersim_trio.setup.config import parse_args

if TYPE_CHECKING:
    from conftest import Kit


DAY_FLAGS = ("--periodic_time", "1.5", "--time_scale", "400")  # 600 simulated s per tick
TICKS_PER_DAY = 144
START = datetime.fromisoformat("2026-06-21T12:00:00+00:00")

SNAPSHOT_KEYS = [
    *("tick", "metrics", "pq", "status", "clock_time", "dc_mode", "dc_port_count"),
    *("device_type", "device_profile_name", "asset_type", "device_index", "asset"),
]
METRICS_KEYS = [
    *("power_kw", "reactive_power_kvar", "apparent_power_kva", "voltage_ll_v", "voltage_ln_v"),
    *("current_a", "frequency_hz", "power_factor", "dc_power_kw", "dc_voltage_v", "dc_current_a"),
    *("state_of_charge_pct", "soc_reserve_min_pct", "soc_reserve_max_pct", "soc_min_pct"),
    *("soc_max_pct", "timestamp"),
]

AC_TYPES = {"1Phase": "single", "2Phase": "split", "3Phase": "three"}


def assert_ac_relations(snap: Snapshot, ac_type: str) -> None:
    m = snap.metrics
    p, q, s = m.power_kw, m.reactive_power_kvar, m.apparent_power_kva
    where = f"tick {snap.tick} device {snap.device_index}"
    assert s**2 == pytest.approx(p**2 + q**2, rel=1e-9, abs=1e-9), where
    if s == 0:
        assert m.power_factor == 1.0, where
    else:
        assert m.power_factor == pytest.approx(p / s, rel=1e-9), where
        if p != 0:
            assert math.copysign(1, m.power_factor) == math.copysign(1, p), where
    if ac_type == "three":
        assert m.voltage_ll_v == pytest.approx(math.sqrt(3) * m.voltage_ln_v, rel=1e-9), where
        expected_i = s * 1000 / (math.sqrt(3) * m.voltage_ll_v)
    elif ac_type == "split":
        assert m.voltage_ll_v == pytest.approx(2 * m.voltage_ln_v, rel=1e-9), where
        expected_i = s * 1000 / m.voltage_ll_v
    else:
        assert m.voltage_ll_v == pytest.approx(m.voltage_ln_v, rel=1e-9), where
        expected_i = s * 1000 / m.voltage_ll_v
    assert m.current_a == pytest.approx(expected_i, rel=1e-9, abs=1e-9), where
    # the P-Q block mirrors the metrics, angle = atan2(Q, P)
    assert (snap.pq.active_kw, snap.pq.reactive_kvar, snap.pq.apparent_kva) == (p, q, s), where
    assert snap.pq.angle_deg == pytest.approx(math.degrees(math.atan2(q, p)), abs=1e-9), where


def energy_tuple(snap: Snapshot) -> tuple[float, float, float, float]:
    e = snap.energy
    return (e.injected_kwh, e.absorbed_kwh, e.reactive_injected_kvarh, e.reactive_absorbed_kvarh)


def run_day(
    engine: Engine, dispatch_by_tick: dict[int, float] | None = None
) -> list[list[Snapshot]]:
    """Tick 0 plus one simulated day; apply battery setpoints at the given ticks."""
    ticks = [engine.initial()]
    for k in range(1, TICKS_PER_DAY + 1):
        if dispatch_by_tick and k in dispatch_by_tick:
            for slot in engine.devices:
                slot.dispatch = Dispatch(active_power_setpoint_kw=dispatch_by_tick[k])
        ticks.append(engine.step())
    return ticks


# --- simulator clock ----------------------------------------------------------------------


def test_tick_k_is_at_start_plus_k_times_period_times_time_scale(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "Batt", "--periodic_time", "1.5", "--time_scale", "60")
    assert engine.initial()[0].metrics.timestamp == "2026-06-21T12:00:00.000+00:00"
    for k in range(1, 201):
        snap = engine.step()[0]
        expected = START + timedelta(seconds=k * 1.5 * 60)
        assert snap.tick == k
        assert datetime.fromisoformat(snap.metrics.timestamp) == expected
        assert snap.clock_time == expected.strftime("%H:%M:%S")
    # 200 ticks of 90 s = 5 h: crosses no ambiguity, ends at 17:00:00
    assert snap.clock_time == "17:00:00"


def test_clock_uses_the_configured_timezone_offset(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "Batt", "-wc_tz", "America/Los_Angeles")
    snap = engine.initial()[0]
    assert snap.metrics.timestamp == "2026-06-21T12:00:00.000-07:00"
    assert snap.clock_time == "12:00:00"


def test_many_ticks_do_not_accumulate_rounding_drift() -> None:
    clock = SimClock(start=START, sim_seconds_per_tick=0.1)
    for _ in range(100_000):
        clock.advance()
    assert clock.current == START + timedelta(seconds=10_000)


def test_wall_clock_mode_takes_the_passed_wall_time_and_never_goes_backwards(
    kit: type[Kit],
) -> None:
    config = parse_args(["-d", "Batt", "-wc", "yes", "-wc_tz", "Europe/Berlin"])
    engine = build_engine(config, kit.FIXED_WALL)
    assert engine.initial()[0].metrics.timestamp == "2026-06-21T14:00:00.000+02:00"
    snap = engine.step(kit.FIXED_WALL + timedelta(seconds=2.5))[0]
    assert snap.metrics.timestamp == "2026-06-21T14:00:02.500+02:00"
    assert engine.clock.advance(kit.FIXED_WALL) == 0.0  # a wall clock stepped back: dt clamps at 0
    with pytest.raises(ValueError, match="wall"):
        engine.step()


def test_sim_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(start=datetime(2026, 6, 21, 12), sim_seconds_per_tick=1.0)


# --- physics relations and counters over a simulated day ----------------------------------


@pytest.mark.parametrize("phase", ["1Phase", "2Phase", "3Phase"])
def test_pv_ac_relations_hold_on_every_snapshot_of_a_day(phase: str, kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", f"PV-{phase}", "-N", "2", *DAY_FLAGS)
    days = run_day(engine)
    produced = [s.metrics.power_kw for tick in days for s in tick]
    assert max(produced) > 1.0, "a June day must produce power (else the check is vacuous)"
    assert min(produced) >= 0.0
    for tick in days:
        for snap in tick:
            assert_ac_relations(snap, AC_TYPES[phase])
            assert snap.asset_type == "pv"
            assert snap.metrics.state_of_charge_pct is None
            assert snap.metrics.soc_min_pct is None


@pytest.mark.parametrize("phase", ["1Phase", "2Phase", "3Phase"])
def test_battery_ac_relations_hold_while_charging_and_discharging(
    phase: str, kit: type[Kit]
) -> None:
    engine = kit.make_engine("-d", f"Batt-{phase}", *DAY_FLAGS)
    days = run_day(engine, {1: -8.0, 50: 8.0, 130: 0.0})
    powers = [tick[0].metrics.power_kw for tick in days]
    assert min(powers) < -1.0, "the battery never charged"
    assert max(powers) > 1.0, "the battery never discharged"
    for tick in days:
        snap = tick[0]
        assert_ac_relations(snap, AC_TYPES[phase])
        m = snap.metrics
        assert m.state_of_charge_pct is not None
        assert m.soc_min_pct is not None
        assert m.soc_max_pct is not None
        assert m.soc_min_pct <= m.state_of_charge_pct <= m.soc_max_pct


@pytest.mark.parametrize("device_type", ["PV", "Batt"])
def test_energy_counters_never_decrease(device_type: str, kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", device_type, "-N", "2", *DAY_FLAGS)
    days = run_day(engine, {1: -6.0, 40: 6.0} if device_type == "Batt" else None)
    assert energy_tuple(days[0][0]) == (0.0, 0.0, 0.0, 0.0)
    for device in range(2):
        series = [energy_tuple(tick[device]) for tick in days]
        for before, after in itertools.pairwise(series):
            assert all(a >= b for a, b in zip(after, before, strict=True)), (before, after)
        assert series[-1][0] > 0.0  # something was injected over the day
    if device_type == "Batt":
        assert energy_tuple(days[-1][0])[1] > 0.0  # and absorbed while charging


def test_injected_energy_integrates_power_over_the_tick(kit: type[Kit]) -> None:
    """E_inj(k) − E_inj(k−1) = P(k)·Δt/3600 with Δt = 600 s (the step-average power)."""
    engine = kit.make_engine("-d", "Batt", *DAY_FLAGS)
    engine.initial()
    engine.devices[0].dispatch = Dispatch(active_power_setpoint_kw=3.0)
    before = engine.step()[0]
    after = engine.step()[0]
    assert after.metrics.power_kw == pytest.approx(3.0)
    delta = after.energy.injected_kwh - before.energy.injected_kwh
    assert delta == pytest.approx(3.0 * 600 / 3600, rel=1e-9)


def test_every_snapshot_round_trips_through_the_schema(kit: type[Kit]) -> None:
    """The wire form is the snapshot rounded to its fields' resolutions (``api.resolution``);
    it reads back as a valid snapshot, and encoding that again gives the same bytes."""
    engine = kit.make_engine("-d", "PV", "-N", "3", *DAY_FLAGS)
    for tick in run_day(engine)[::12]:
        for snap in tick:
            raw = encode(snap)
            decoded = Snapshot.model_validate_json(raw)
            assert decoded.model_dump() == round_snapshot_payload(snap.model_dump())
            assert encode(decoded) == raw


def test_one_tick_has_one_snapshot_per_device_in_index_order_with_the_same_tick(
    kit: type[Kit],
) -> None:
    engine = kit.make_engine("-d", "Batt", "-N", "4")
    engine.initial()
    for _ in range(3):
        snaps = engine.step()
        assert [s.device_index for s in snaps] == [0, 1, 2, 3]
        assert {s.tick for s in snaps} == {engine.tick}
        assert {s.device_type for s in snaps} == {"Batt"}


def test_snapshot_has_every_contract_key(kit: type[Kit]) -> None:
    snap = json.loads(encode(kit.make_engine("-d", "Batt").initial()[0]))
    assert set(SNAPSHOT_KEYS) <= set(snap)
    assert set(METRICS_KEYS) <= set(snap["metrics"])
    assert {"chemistry", "state_of_health_pct", "energy_available_kwh"} <= set(snap["asset"])
    assert snap["asset_type"] == "battery"
    assert snap["dc_mode"] == "battery"


@pytest.mark.parametrize("device_type", ["PV", "Batt"])
def test_same_config_gives_identical_bytes(device_type: str, kit: type[Kit]) -> None:
    def day_bytes() -> list[bytes]:
        engine = kit.make_engine("-d", device_type, "-N", "2", "--seed", "7", *DAY_FLAGS)
        days = run_day(engine, {1: -5.0, 60: 5.0} if device_type == "Batt" else None)
        return [encode(s) for tick in days for s in tick]

    assert day_bytes() == day_bytes()


def test_a_different_seed_changes_the_pv_day(kit: type[Kit]) -> None:
    def day_bytes(seed: str) -> list[bytes]:
        engine = kit.make_engine("-d", "PV", "--seed", seed, *DAY_FLAGS)
        return [encode(t[0]) for t in run_day(engine)]

    assert day_bytes("1") != day_bytes("2")


def test_devices_of_one_engine_have_their_own_seed(kit: type[Kit]) -> None:
    engine = kit.make_engine("-d", "PV", "-N", "2", *DAY_FLAGS)
    days = run_day(engine)
    first = [t[0].model_dump(exclude={"device_index"}) for t in days]
    second = [t[1].model_dump(exclude={"device_index"}) for t in days]
    assert first != second


# --- the tick loop (virtual time) ---------------------------------------------------------


async def test_tick_loop_publishes_tick_k_at_k_periods_without_drift(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    engine = kit.make_engine("-d", "Batt", "-N", "2", "--periodic_time", "1.5")
    hub = Hub(2)
    times: list[tuple[int, float]] = []
    t0 = trio.current_time()
    await nursery.start(
        partial(
            tick_loop,
            engine,
            hub,
            1.5,
            on_tick=lambda e, _snapshots: times.append((e.tick, trio.current_time())),
        )
    )
    assert hub.last.tick == 0  # published before started()
    await trio.sleep(1000 * 1.5 + 0.4)
    assert [k for k, _ in times] == list(range(1001))
    for k, t in times:
        assert t - t0 == pytest.approx(k * 1.5, abs=1e-6)
    stats = hub.statistics()
    assert stats.ticks_published == 1001
    assert stats.max_tick_lateness_ms == 0.0


async def test_tick_loop_reanchors_after_an_overrun_instead_of_bursting(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    engine = kit.make_engine("-d", "Batt", "--periodic_time", "1.0")
    hub = Hub(1)
    times: list[tuple[int, float]] = []
    t0 = trio.current_time()

    def on_tick(e: Engine, _snapshots: Sequence[Snapshot]) -> None:
        times.append((e.tick, trio.current_time() - t0))
        if e.tick == 3:
            autojump_clock.jump(2.5)  # tick 3 "took" 2.5 periods

    await nursery.start(partial(tick_loop, engine, hub, 1.0, on_tick=on_tick))
    await trio.sleep(9.25)
    got = [(k, round(t, 6)) for k, t in times]
    # tick 4 was due at 4.0, ran at 5.5 (1.5 late > 1 period): re-anchored, next at 6.5, 7.5 ...
    assert got == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 5.5), (5, 6.5), (6, 7.5), (7, 8.5)]
    assert hub.statistics().max_tick_lateness_ms == pytest.approx(1500.0)


async def test_tick_loop_catches_up_after_a_small_overrun_keeping_the_schedule(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    engine = kit.make_engine("-d", "Batt", "--periodic_time", "1.0")
    hub = Hub(1)
    times: list[float] = []
    t0 = trio.current_time()

    def on_tick(e: Engine, _snapshots: Sequence[Snapshot]) -> None:
        times.append(round(trio.current_time() - t0, 6))
        if e.tick == 2:
            autojump_clock.jump(1.5)  # 0.5 late for tick 3: within one period

    await nursery.start(partial(tick_loop, engine, hub, 1.0, on_tick=on_tick))
    await trio.sleep(5.25)
    assert times == [0, 1, 2, 3.5, 4, 5]
    assert hub.statistics().max_tick_lateness_ms == pytest.approx(500.0)


async def test_tick_loop_propagates_an_engine_failure(
    autojump_clock: trio.testing.MockClock, kit: type[Kit]
) -> None:
    engine = kit.make_engine("-d", "Batt")
    hub = Hub(1)

    def explode(e: Engine, _snapshots: Sequence[Snapshot]) -> None:
        if e.tick == 2:
            raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"), trio.fail_after(60):
        await tick_loop(engine, hub, 1.0, on_tick=explode)
    assert hub.last.tick == 2


# --- the hybrid's site load ---------------------------------------------------------------------


def hybrid_engine(*flags: str) -> Engine:
    argv = ["-d", "HybridDC-3Phase", "--start_date", "2026-06-21", "--start_clock_time", "19:00:00"]
    return build_engine(parse_args([*argv, *flags]), datetime(2026, 6, 21, 19, 0, tzinfo=UTC))


def test_the_hybrid_serves_a_residential_site_load_by_default() -> None:
    """--hybrid_site_load residential (BDEW H25, 5000 kWh/a): a summer evening's load is served
    from the battery, so the site's meter stays near zero while the inverter delivers it."""
    engine = hybrid_engine()
    for _ in range(10):
        snapshot = engine.step()[0]
    asset = snapshot.asset.model_dump()
    assert asset["site_load_kw"] > 0.1
    assert snapshot.metrics.power_kw == pytest.approx(asset["site_load_kw"], rel=1e-9)
    assert asset["grid_power_kw"] == pytest.approx(0.0, abs=1e-9)


def test_a_load_override_and_a_profile_column_drive_the_site_load(tmp_path: Path) -> None:
    """PUT .../inputs {"load_kw": …} overrides; null returns to the --dc_profile load_kw column."""
    path = tmp_path / "load.csv"
    path.write_text("elapsed_s,load_kw\n0,2.0\n3600,2.0\n", encoding="utf-8")
    engine = hybrid_engine("--dc_profile", str(path), "--hybrid_site_load", "none")
    assert engine.step()[0].asset.model_dump()["site_load_kw"] == pytest.approx(2.0)
    operator = Controller(engine)
    state = operator.update_inputs(0, InputsUpdate(load_kw=3.5))[0]
    assert state.load_kw == 3.5
    assert engine.step()[0].asset.model_dump()["site_load_kw"] == 3.5
    operator.update_inputs(0, InputsUpdate(load_kw=None))
    assert engine.step()[0].asset.model_dump()["site_load_kw"] == pytest.approx(2.0)
    none = hybrid_engine("--hybrid_site_load", "none")
    assert none.step()[0].asset.model_dump()["site_load_kw"] == 0.0


def test_an_irradiance_override_says_whether_it_is_horizontal_or_in_plane() -> None:
    """Inputs API ``irradiance_kind``: ``ghi`` (default) is transposed to the tilted array,
    ``poa`` reaches it as given; ``null`` resets the kind to ``ghi``."""
    engine = build_engine(
        parse_args(["-d", "PV", "--start_date", "2026-12-21", "--start_clock_time", "12:00:00"]),
        datetime(2026, 12, 21, 12, 0, tzinfo=UTC),
    )
    controller = Controller(engine)
    (state,) = controller.update_inputs(0, InputsUpdate(irradiance_w_m2=400.0))
    assert state.irradiance_kind == "ghi"
    asset = engine.step()[0].asset
    assert asset.ghi_w_m2 == 400.0  # type: ignore[union-attr]
    assert asset.irradiance_w_m2 > 1.2 * 400.0  # type: ignore[union-attr]  # 20° south, winter
    (state,) = controller.update_inputs(0, InputsUpdate(irradiance_kind="poa"))
    assert (state.irradiance_w_m2, state.irradiance_kind) == (400.0, "poa")
    assert engine.step()[0].asset.irradiance_w_m2 == 400.0  # type: ignore[union-attr]
    (state,) = controller.update_inputs(0, InputsUpdate(irradiance_kind=None))
    assert state.irradiance_kind == "ghi"


def test_hybrid_arrays_share_the_runs_solar_site_and_the_pv_orientation_flags() -> None:
    """One sky per run (physics/solar.py, setup/solar_site.py): every hybrid's PV port uses the
    run's SolarSite, with the Linke turbidity climatology, and the --pv_tilt_deg flag."""
    engine = hybrid_engine("-N", "2", "--pv_tilt_deg", "35")
    models = [slot.model for slot in engine.devices]
    assert all(isinstance(m, HybridModel) for m in models)
    sites = [m.solar_site for m in models if isinstance(m, HybridModel)]
    assert sites[0] is not None
    assert sites[0] is sites[1]
    plates = [m.nameplate for m in models if isinstance(m, HybridModel)]
    assert plates[0].array.tilt_deg == 35.0


def test_the_grid_block_row_is_a_valid_grid_support_status_and_is_shared_while_unchanged() -> None:
    """The snapshot's grid-support block is a plain row built by the engine (no model per
    device-tick): it validates as ``GridSupportStatus``, the published snapshot carries it, and
    the next tick reuses the same row while nothing in it changed."""
    from dersim_trio.api.schema import GridSupportStatus

    eng = build_engine(parse_args(["-d", "PV-3Phase"]), datetime(2026, 6, 21, 12, tzinfo=UTC))
    eng.step()
    first = eng.step()
    cached = eng.devices[0].grid_status
    assert cached is not None
    row = cached[1]
    assert GridSupportStatus.model_validate(row).model_dump() == row
    assert first[0].grid_support == GridSupportStatus.model_validate(row)
    eng.devices[0].inputs.irradiance_w_m2 = 0.0  # P changes, the block's values do not
    eng.step()
    again = eng.devices[0].grid_status
    assert again is not None
    assert again[1] is row


def test_devices_with_equal_grid_support_values_share_one_block() -> None:
    """A fleet on one grid publishes one grid-support block for all its devices; a device
    whose values differ gets its own, and the others keep theirs."""
    eng = build_engine(
        parse_args(["-d", "PV-3Phase", "-N", "4"]), datetime(2026, 6, 21, 12, tzinfo=UTC)
    )
    eng.step()
    tick = eng.step()
    blocks = [slot.grid_status[1] for slot in eng.devices if slot.grid_status is not None]
    assert len(blocks) == 4
    assert all(block is blocks[0] for block in blocks)
    eng.devices[2].inputs.grid_voltage_pu = 1.04
    tick = eng.step()
    after = [slot.grid_status[1] for slot in eng.devices if slot.grid_status is not None]
    assert after[2] is not blocks[0]
    assert after[2]["v_pct"] == pytest.approx(104.0)
    assert [after[k] is after[0] for k in (1, 3)] == [True, True]
    assert tick[2].grid_support is not None
    assert tick[0].grid_support is not None
    assert tick[2].grid_support.v_pct == pytest.approx(104.0)
    assert tick[0].grid_support.v_pct == pytest.approx(100.0)


def test_a_non_finite_grid_value_fails_the_tick() -> None:
    eng = build_engine(parse_args(["-d", "PV-1Phase"]), datetime(2026, 6, 21, 12, tzinfo=UTC))
    eng.step()
    grid = eng.devices[0].supervisor.grid
    assert grid is not None
    eng.devices[0].grid_status = None
    grid.q_target_kvar = math.nan
    from dersim_trio.engine.core import _grid_support

    with pytest.raises(ValueError, match="non-finite value"):
        _grid_support(eng.devices[0], (1.0,), 0.0, {})
    grid.q_target_kvar = 0.0
    with pytest.raises(ValueError, match="non-finite value"):
        _grid_support(eng.devices[0], (math.inf,), 0.0, {})


def test_the_engine_steps_each_fleet_once_a_tick_and_keeps_device_order() -> None:
    """Slots whose models are rows of one fleet are stepped by one ``step_columns`` call per tick
    (the whole fleet in row order when it can), beside models stepped alone; every device
    gets its own output, in device order, equal to stepping it alone."""
    from dersim_trio.controls.supervisor import DeviceSupervisor
    from dersim_trio.engine.core import DeviceSlot
    from dersim_trio.physics.pv import PvFleet, PvModel, PvNameplate
    from dersim_trio.physics.solar import SolarSite

    plates = [PvNameplate(), PvNameplate(tilt_deg=45.0), PvNameplate(w_max_kw=5.0)]
    calls: list[tuple[int, list[int]]] = []

    def counted(fleet: PvFleet) -> PvFleet:
        step_columns = fleet.step_columns

        def spy(rows: Sequence[int], *args: object) -> object:
            calls.append((id(fleet), list(rows)))
            return step_columns(rows, *args)  # type: ignore[arg-type]

        fleet.step_columns = spy  # type: ignore[method-assign]
        return fleet

    def engine(models: Sequence[object]) -> Engine:
        slots = [
            DeviceSlot(
                index=i,
                model=model,  # type: ignore[arg-type]
                ac_type="three",
                voltage_ln_nominal_v=277.0,
                supervisor=DeviceSupervisor(),
            )
            for i, model in enumerate(models)
        ]
        return Engine(slots, SimClock(start=START, sim_seconds_per_tick=1.5), "PV-3Phase")

    whole = counted(PvFleet(plates, [1, 2, 3], site=SolarSite()))
    apart = counted(PvFleet(plates[:2], [4, 5], site=SolarSite()))
    lone = PvModel(plates[2], seed=6)
    together = engine([*whole.members(), apart.members()[1], lone, apart.members()[0]])
    alone = engine(
        [PvModel(p, seed=s, site=SolarSite()) for p, s in zip(plates, [1, 2, 3], strict=True)]
        + [
            PvModel(plates[1], seed=5, site=SolarSite()),
            PvModel(plates[2], seed=6),
            PvModel(plates[0], seed=4, site=SolarSite()),
        ]
    )
    for _ in range(5):
        calls.clear()
        assert together.step().payloads == alone.step().payloads
        assert calls == [(id(whole), [0, 1, 2]), (id(apart), [1, 0])]
    # a slot given another model is stepped with it from the next tick (the plan is redone)
    together.devices[3].model = PvModel(plates[0], seed=9)
    alone.devices[3].model = PvModel(plates[0], seed=9)
    for _ in range(3):
        calls.clear()
        assert together.step().payloads == alone.step().payloads
        assert calls == [(id(whole), [0, 1, 2]), (id(apart), [0])]
    # one fleet for every device: its one call gives the tick's outputs as they are
    only = counted(PvFleet(plates, [1, 2, 3], site=SolarSite()))
    single = engine(only.members())
    three = engine(
        [PvModel(p, seed=s, site=SolarSite()) for p, s in zip(plates, [1, 2, 3], strict=True)]
    )
    for _ in range(3):
        calls.clear()
        assert single.step().payloads == three.step().payloads
        assert calls == [(id(only), [0, 1, 2])]
