"""Tests of the hybrid DC model: DC-bus energy balance, dispatch policies, limits, hot-swap."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dersim_trio.physics.base import DeviceModel, DeviceOutput, Dispatch, Environment
from dersim_trio.physics.battery import (
    BatteryModel,
    BatteryNameplate,
    converter_input_kw,
    converter_output_kw,
)
from dersim_trio.physics.hybrid import (
    DEFAULT_ARRAY,
    DEFAULT_BATTERY,
    DISPATCH_POLICIES,
    DispatchPolicy,
    HybridModel,
    HybridNameplate,
)
from dersim_trio.setup.site_loads import load_shape

MIDNIGHT = datetime(2024, 6, 21, 0, 0, tzinfo=UTC)
NOON = datetime(2024, 6, 21, 12, 0, tzinfo=UTC)
NIGHT = datetime(2024, 6, 21, 23, 0, tzinfo=UTC)
IDLE = Dispatch()
INVERTER_P0_KW = 15.0 / 0.96  # default shared inverter, PVWatts P_0 = S/η_nom
COUNTERS = (
    "pv_energy_kwh",
    "battery_charge_energy_kwh",
    "battery_discharge_energy_kwh",
    "ac_energy_injected_kwh",
    "ac_energy_absorbed_kwh",
    "loss_energy_kwh",
)


def hybrid(
    pv_kw: float = 10.0,
    *,
    inverter_kva: float = 15.0,
    initial_soc_pct: float = 50.0,
    self_discharge_pct_per_month: float = 2.0,
) -> HybridNameplate:
    """The default hybrid with another PV size, inverter, initial SoC or self-discharge."""
    return HybridNameplate(
        array=replace(DEFAULT_ARRAY, dc_rating_kw=pv_kw),
        battery=replace(
            DEFAULT_BATTERY,
            initial_soc_pct=initial_soc_pct,
            self_discharge_pct_per_month=self_discharge_pct_per_month,
        ),
        inverter_kva=inverter_kva,
    )


def env_at(
    t: datetime, irradiance_w_m2: float | None = None, *, load_kw: float | None = None
) -> Environment:
    return Environment(sim_time=t, irradiance_w_m2=irradiance_w_m2, site_load_kw=load_kw)


def hold(
    model: HybridModel, t: datetime, dispatch: Dispatch, dt_s: float, steps: int
) -> DeviceOutput:
    """Step ``steps`` times at the same simulator time (a steady sun)."""
    out = model.step(env_at(t), dispatch, dt_s)
    for _ in range(steps - 1):
        out = model.step(env_at(t), dispatch, dt_s)
    return out


def num(out: DeviceOutput, key: str) -> float:
    value = out.asset[key]
    assert isinstance(value, float)
    return value


def soc_of(out: DeviceOutput) -> float:
    assert out.storage is not None
    return out.storage.state_of_charge_pct


def run_day(
    model: HybridModel, dt_s: float, dispatch_at: dict[int, Dispatch] | None = None
) -> list[DeviceOutput]:
    """One simulated day from midnight; ``dispatch_at`` maps an hour to the dispatch from then."""
    outs = []
    dispatch = IDLE
    steps = round(86400.0 / dt_s)
    for k in range(1, steps + 1):
        t = MIDNIGHT + timedelta(seconds=k * dt_s)
        if dispatch_at is not None:
            dispatch = dispatch_at.get(int((k - 1) * dt_s // 3600), dispatch)
        outs.append(model.step(env_at(t), dispatch, dt_s))
    return outs


def assert_energy_balance(out: DeviceOutput, model: HybridModel, soc_start_pct: float) -> None:
    """DC bus: E_pv + E_dis − E_ch = E_inj − E_abs + E_loss (0.1 %); the pack matches its SoC."""
    a = {key: num(out, key) for key in COUNTERS}
    dc_in = a["pv_energy_kwh"] + a["battery_discharge_energy_kwh"] - a["battery_charge_energy_kwh"]
    ac_out = a["ac_energy_injected_kwh"] - a["ac_energy_absorbed_kwh"] + a["loss_energy_kwh"]
    throughput = a["pv_energy_kwh"] + a["battery_discharge_energy_kwh"]
    assert throughput > 1.0
    assert abs(dc_in - ac_out) <= 1e-3 * throughput
    # Battery: ΔSoC·E/100 = η_rt·E_ch − E_dis at its bus-side port (OpenDER Eq. 3.6.1-4 at the
    # converter's outer port; self-discharge off in these runs).
    plate = model.nameplate
    stored_kwh = (soc_of(out) - soc_start_pct) * plate.batt_kwh / 100.0
    bus_in = num(out, "battery_bus_charge_energy_kwh")
    bus_out = num(out, "battery_bus_discharge_energy_kwh")
    expected_kwh = plate.battery.round_trip_efficiency_pct / 100.0 * bus_in - bus_out
    moved = bus_in + bus_out
    # The DC-DC stage's losses sit between the bus and the pack terminals.
    assert a["battery_charge_energy_kwh"] < bus_in
    assert a["battery_discharge_energy_kwh"] > bus_out or bus_out == 0.0
    assert moved > 1.0
    assert abs(stored_kwh - expected_kwh) <= 1e-3 * moved


# --- defaults, protocol, reporting ------------------------------------------------------------


def test_defaults_are_the_dersim_documented_hybrid() -> None:
    """DERSim hybrid_dc.html (§2.8): 10 kW PV, 10 kW × 15 kWh battery, 15 kVA, SoC 10-95 %."""
    model = HybridModel()
    plate = model.nameplate
    assert (plate.pv_kw, plate.batt_kw, plate.batt_kwh, plate.inverter_kva) == (
        10.0,
        10.0,
        15.0,
        15.0,
    )
    assert (plate.soc_min_pct, plate.soc_max_pct) == (10.0, 95.0)
    assert plate.dispatch == "self_consumption"
    assert model.dispatch_policy == "self_consumption"
    assert (model.asset_type, model.dc_mode, model.dc_port_count) == ("hybrid-dc", "hybrid-dc", 2)
    rating = model.rating
    assert (rating.w_max_kw, rating.va_max_kva) == (15.0, 15.0)
    assert rating.var_max_inj_kvar == pytest.approx(0.44 * 15.0)
    assert rating.var_max_abs_kvar == pytest.approx(0.44 * 15.0)


def test_hybrid_model_satisfies_the_device_model_protocol() -> None:
    model: DeviceModel = HybridModel()
    out = model.step(env_at(NOON), IDLE, 1.5)
    assert isinstance(out, DeviceOutput)


def test_asset_carries_the_contract_keys_and_the_storage_report() -> None:
    """contract.md §2: hybrid asset keys pv_power_kw, battery_power_kw, dispatch; SoC report."""
    out = HybridModel().step(env_at(NOON), IDLE, 1.5)
    for key in ("pv_power_kw", "battery_power_kw", "irradiance_w_m2", "cell_temperature_c"):
        assert isinstance(out.asset[key], float)
    for key in ("battery_soc_pct", "pv_available_kw", "pv_curtailed_kw", *COUNTERS):
        assert isinstance(out.asset[key], float)
    assert out.asset["dispatch"] == "self_consumption"
    assert out.storage is not None
    assert out.storage.soc_reserve_min_pct == 10.0
    assert out.storage.soc_reserve_max_pct == 95.0
    assert out.storage.state_of_charge_pct == out.asset["battery_soc_pct"]


def test_dc_side_is_the_bus_sum_at_the_dc_link_voltage() -> None:
    """P_inv,dc = P_pv + P_batt; I = P/V_bus with the regulated 750 V link."""
    model = HybridModel(clouds=False)
    for t in (NOON, NIGHT):
        out = model.step(env_at(t), IDLE, 60.0)
        bus = num(out, "pv_power_kw") + num(out, "battery_power_kw")
        assert out.dc_power_kw == pytest.approx(bus, abs=1e-12)
        assert out.dc_voltage_v == 750.0
        assert out.dc_current_a == pytest.approx(out.dc_power_kw * 1000.0 / 750.0)
        assert out.reactive_power_kvar == 0.0


def test_same_seed_gives_identical_days() -> None:
    a = run_day(HybridModel(seed=5), 300.0)
    b = run_day(HybridModel(seed=5), 300.0)
    assert a == b


# --- energy balance over a day ----------------------------------------------------------------

DAY_CASES: list[tuple[DispatchPolicy, HybridNameplate, dict[int, Dispatch] | None]] = [
    ("self_consumption", hybrid(self_discharge_pct_per_month=0.0), None),
    (
        "pv_priority",
        hybrid(16.0, inverter_kva=6.0, self_discharge_pct_per_month=0.0),
        {0: IDLE, 16: Dispatch(active_power_limit_pct=50.0)},
    ),
    (
        "manual",
        hybrid(self_discharge_pct_per_month=0.0),
        {
            0: Dispatch(active_power_setpoint_kw=-4.0),
            3: Dispatch(active_power_setpoint_kw=2.5),
            9: Dispatch(active_power_setpoint_kw=1.0),
            15: Dispatch(active_power_setpoint_kw=6.0),
            20: Dispatch(),
        },
    ),
]


@pytest.mark.parametrize(("policy", "plate", "schedule"), DAY_CASES)
@pytest.mark.parametrize("dt_s", [60.0, 900.0])
def test_energy_balance_closes_over_a_day(
    policy: DispatchPolicy,
    plate: HybridNameplate,
    schedule: dict[int, Dispatch] | None,
    dt_s: float,
) -> None:
    """PV + discharge − charge = AC export − import + losses (≤ 0.1 %); pack energy = ΔSoC."""
    model = HybridModel(plate, seed=3)
    model.dispatch_policy = policy
    outs = run_day(model, dt_s, schedule)
    assert_energy_balance(outs[-1], model, plate.battery.initial_soc_pct)


# --- self_consumption -------------------------------------------------------------------------


def test_self_consumption_serves_the_load_and_charges_with_the_surplus_at_noon() -> None:
    """Clear noon, 0.8 kW of site load: PV serves it through the inverter, the surplus goes into
    the battery, nothing crosses the site's meter."""
    model = HybridModel(clouds=False)
    out = model.step(env_at(NOON, load_kw=0.8), IDLE, 60.0)
    assert num(out, "pv_power_kw") == pytest.approx(num(out, "pv_available_kw"))
    assert num(out, "battery_power_kw") < -5.0
    assert out.ac_power_kw == pytest.approx(0.8, abs=1e-9)
    assert num(out, "grid_power_kw") == pytest.approx(0.0, abs=1e-9)
    assert out.inverter_state == "running"


def test_self_consumption_covers_the_deficit_from_the_battery_at_night() -> None:
    """Night, 0.5 kW of site load: the battery supplies it through the inverter (PVWatts)."""
    model = HybridModel(clouds=False)
    out = model.step(env_at(NIGHT, load_kw=0.5), IDLE, 60.0)
    assert num(out, "pv_power_kw") == 0.0
    expected_dc = converter_input_kw(0.5, INVERTER_P0_KW)
    assert num(out, "battery_power_kw") == pytest.approx(expected_dc)
    assert out.ac_power_kw == pytest.approx(0.5)
    assert num(out, "grid_power_kw") == pytest.approx(0.0, abs=1e-9)
    assert soc_of(out) < 50.0


def test_the_site_imports_what_the_battery_cannot_cover() -> None:
    """A 14 kW evening load: the battery gives its 10 kW rating, the meter imports the rest."""
    model = HybridModel(clouds=False)
    out = model.step(env_at(NIGHT, load_kw=14.0), IDLE, 60.0)
    assert num(out, "battery_power_kw") == pytest.approx(10.0)
    assert out.ac_power_kw == pytest.approx(converter_output_kw(10.0, INVERTER_P0_KW))
    assert num(out, "grid_power_kw") == pytest.approx(14.0 - out.ac_power_kw)
    assert num(out, "grid_power_kw") > 4.0


def test_no_load_means_no_export_while_the_battery_can_absorb() -> None:
    """Without a site load (none configured, no input) self-consumption is zero export."""
    model = HybridModel(clouds=False)
    out = model.step(env_at(NOON), IDLE, 60.0)
    assert out.ac_power_kw == pytest.approx(0.0, abs=1e-9)
    assert num(out, "site_load_kw") == 0.0
    night = model.step(env_at(NIGHT), IDLE, 60.0)
    assert (night.ac_power_kw, num(night, "battery_power_kw")) == (0.0, 0.0)


def test_self_consumption_exports_what_the_battery_cannot_absorb() -> None:
    """20 kW of PV: the battery takes its 10 kW rating, the rest is exported up to 15 kVA."""
    model = HybridModel(hybrid(20.0), clouds=False)
    out = model.step(env_at(NOON, 1000.0, load_kw=0.5), IDLE, 1.5)
    assert num(out, "battery_power_kw") == pytest.approx(-10.0)
    p_inv = num(out, "pv_power_kw") - 10.0
    assert out.ac_power_kw == pytest.approx(converter_output_kw(p_inv, INVERTER_P0_KW))
    assert num(out, "grid_power_kw") == pytest.approx(0.5 - out.ac_power_kw)
    assert num(out, "grid_power_kw") < 0.0  # export


def test_self_consumption_exports_everything_once_the_battery_is_full() -> None:
    model = HybridModel(hybrid(initial_soc_pct=95.0), clouds=False)
    out = model.step(env_at(NOON, load_kw=0.5), IDLE, 60.0)
    assert abs(num(out, "battery_power_kw")) < 1e-3  # only self-discharge replacement
    assert num(out, "pv_curtailed_kw") == 0.0
    assert out.ac_power_kw > 6.0
    assert num(out, "grid_power_kw") == pytest.approx(0.5 - out.ac_power_kw)


def test_self_consumption_stops_at_soc_min_overnight() -> None:
    plate = hybrid(initial_soc_pct=12.0, self_discharge_pct_per_month=0.0)
    model = HybridModel(plate, clouds=False)
    out = model.step(env_at(NIGHT, load_kw=0.5), IDLE, 60.0)
    for _ in range(119):
        out = model.step(env_at(NIGHT, load_kw=0.5), IDLE, 60.0)
    assert soc_of(out) == pytest.approx(10.0, abs=1e-6)
    assert out.ac_power_kw == 0.0
    assert num(out, "grid_power_kw") == pytest.approx(0.5)
    assert out.inverter_state == "sleeping"
    assert out.message is not None
    assert "reserve min" in out.message


def residential() -> HybridNameplate:
    """The default hybrid behind the bundled BDEW H25 household load, 5000 kWh a year."""
    return HybridNameplate(site_load=load_shape("residential"), site_load_kwh_per_year=5000.0)


def test_with_a_site_load_the_energy_balance_closes_every_step() -> None:
    """A June day behind a seeded residential load (BDEW H25), 60 s steps, self-consumption:
    every step P_ac + P_grid = P_load at the meter and P_pv + P_batt = P_inv,dc on the bus."""
    model = HybridModel(residential(), seed=3)
    imported = exported = 0.0
    for out in run_day(model, 60.0):
        load = num(out, "site_load_kw")
        assert load > 0.0
        assert out.ac_power_kw + num(out, "grid_power_kw") == pytest.approx(load, abs=1e-12)
        assert out.dc_power_kw == pytest.approx(
            num(out, "pv_power_kw") + num(out, "battery_power_kw"), abs=1e-12
        )
        grid = num(out, "grid_power_kw")
        imported += max(grid, 0.0) / 60.0
        exported += max(-grid, 0.0) / 60.0
    assert num(out, "grid_import_energy_kwh") == pytest.approx(imported)
    assert num(out, "grid_export_energy_kwh") == pytest.approx(exported)
    assert num(out, "site_load_energy_kwh") == pytest.approx(
        num(out, "ac_energy_injected_kwh")
        - num(out, "ac_energy_absorbed_kwh")
        + imported
        - exported
    )


def test_self_consumption_imports_less_than_exporting_pv_first() -> None:
    """The same summer day and load under both policies: self-consumption covers the evening
    from the battery, so it imports far less than pv_priority, which leaves the battery idle."""
    results = {}
    for policy in ("self_consumption", "pv_priority"):
        model = HybridModel(residential(), seed=3)
        model.dispatch_policy = policy  # type: ignore[assignment]
        results[policy] = run_day(model, 60.0)[-1]
    assert num(results["self_consumption"], "grid_import_energy_kwh") < 0.5 * num(
        results["pv_priority"], "grid_import_energy_kwh"
    )


# --- pv_priority ------------------------------------------------------------------------------


def test_pv_priority_exports_up_to_the_rating_and_charges_with_the_surplus() -> None:
    """16 kW PV behind 6 kVA: AC at the rating, the DC surplus above D(6 kW) to the battery."""
    model = HybridModel(hybrid(16.0, inverter_kva=6.0), clouds=False)
    model.dispatch_policy = "pv_priority"
    out = model.step(env_at(NOON, 1000.0), IDLE, 1.5)
    d_rating = converter_input_kw(6.0, 6.0 / 0.96)
    assert out.ac_power_kw == pytest.approx(6.0)
    assert num(out, "battery_power_kw") == pytest.approx(d_rating - num(out, "pv_available_kw"))
    assert num(out, "pv_curtailed_kw") == 0.0


def test_pv_priority_leaves_the_battery_idle_below_the_rating_and_at_night() -> None:
    model = HybridModel(clouds=False)
    model.dispatch_policy = "pv_priority"
    day = model.step(env_at(NOON), IDLE, 60.0)
    assert num(day, "battery_power_kw") == 0.0
    assert day.ac_power_kw == pytest.approx(
        converter_output_kw(num(day, "pv_power_kw"), INVERTER_P0_KW)
    )
    night = model.step(env_at(NIGHT), IDLE, 60.0)
    assert (night.ac_power_kw, num(night, "battery_power_kw")) == (0.0, 0.0)
    assert night.inverter_state == "sleeping"


def test_pv_priority_clips_when_the_battery_is_full() -> None:
    """Surplus with a full battery: PV curtailed to the rating (clipping, not throttling)."""
    plate = hybrid(16.0, inverter_kva=6.0, initial_soc_pct=95.0)
    model = HybridModel(plate, clouds=False)
    model.dispatch_policy = "pv_priority"
    out = model.step(env_at(NOON, 1000.0), IDLE, 1.5)
    assert out.ac_power_kw == pytest.approx(6.0)
    assert num(out, "pv_curtailed_kw") > 5.0
    assert out.asset["clipped"] is True
    assert out.inverter_state == "running"


def test_wmaxlimpct_curtails_export_and_throttles() -> None:
    model = HybridModel(hybrid(initial_soc_pct=95.0), clouds=False)
    model.dispatch_policy = "pv_priority"
    out = model.step(env_at(NOON), Dispatch(active_power_limit_pct=20.0), 60.0)
    assert out.ac_power_kw == pytest.approx(3.0)
    assert out.inverter_state == "throttled"
    assert num(out, "pv_curtailed_kw") > 0.0


# --- manual -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("t", "setpoint_kw"), [(NOON, 3.0), (NOON, 9.0), (NIGHT, 4.0)])
def test_manual_follows_the_ac_setpoint_with_pv_at_mpp(t: datetime, setpoint_kw: float) -> None:
    model = HybridModel(clouds=False)
    model.dispatch_policy = "manual"
    out = model.step(env_at(t), Dispatch(active_power_setpoint_kw=setpoint_kw), 60.0)
    assert out.ac_power_kw == pytest.approx(setpoint_kw)
    assert num(out, "pv_power_kw") == pytest.approx(num(out, "pv_available_kw"))
    assert out.inverter_state == "running"


def test_manual_negative_setpoint_charges_from_grid_and_pv() -> None:
    """Import 4 kW: P_inv,dc = −η·4 kW; the battery takes that plus all the PV."""
    model = HybridModel(clouds=False)
    model.dispatch_policy = "manual"
    out = model.step(env_at(NOON), Dispatch(active_power_setpoint_kw=-4.0), 60.0)
    assert out.ac_power_kw == pytest.approx(-4.0)
    assert out.dc_power_kw == pytest.approx(-converter_output_kw(4.0, INVERTER_P0_KW))
    assert num(out, "battery_power_kw") == pytest.approx(out.dc_power_kw - num(out, "pv_power_kw"))


def test_manual_curtails_pv_off_mpp_when_the_battery_is_full() -> None:
    """Full battery, setpoint below PV: AC held at the setpoint, string moves above V_mp."""
    model = HybridModel(hybrid(initial_soc_pct=95.0), clouds=False)
    model.dispatch_policy = "manual"
    mpp = model.step(env_at(NOON), IDLE, 60.0)  # no setpoint: battery idle, PV at MPP
    out = model.step(env_at(NOON), Dispatch(active_power_setpoint_kw=2.0), 60.0)
    assert out.ac_power_kw == pytest.approx(2.0)
    assert num(out, "pv_curtailed_kw") > 4.0
    assert num(out, "pv_voltage_v") > num(mpp, "pv_voltage_v")
    assert out.inverter_state == "throttled"


def test_manual_import_with_a_full_battery_does_not_feed_inverter_no_load_loss() -> None:
    """A trickle (self-discharge replacement) would not wake the inverter: AC stays 0."""
    model = HybridModel(hybrid(initial_soc_pct=95.0), clouds=False)
    model.dispatch_policy = "manual"
    out = model.step(env_at(NIGHT), Dispatch(active_power_setpoint_kw=-5.0), 60.0)
    assert out.ac_power_kw == 0.0
    assert out.inverter_state == "throttled"


def test_manual_setpoint_not_reached_on_an_empty_battery_throttles() -> None:
    model = HybridModel(hybrid(initial_soc_pct=10.0), clouds=False)
    model.dispatch_policy = "manual"
    out = model.step(env_at(NIGHT), Dispatch(active_power_setpoint_kw=3.0), 60.0)
    assert out.ac_power_kw == 0.0
    assert out.inverter_state == "throttled"
    assert out.message is not None


def test_manual_without_a_setpoint_leaves_the_battery_idle() -> None:
    model = HybridModel(clouds=False)
    model.dispatch_policy = "manual"
    out = model.step(env_at(NOON), IDLE, 60.0)
    assert num(out, "battery_power_kw") == 0.0
    assert out.ac_power_kw > 5.0


# --- limits, hot-swap, large steps ------------------------------------------------------------


@pytest.mark.parametrize("policy", DISPATCH_POLICIES)
def test_the_inverter_kva_limit_is_never_exceeded(policy: DispatchPolicy) -> None:
    """30 kW of PV, 2000 W/m² and a full battery behind 15 kVA; setpoints far above and below."""
    model = HybridModel(hybrid(30.0, initial_soc_pct=94.0), clouds=False)
    model.dispatch_policy = policy
    for setpoint in (None, 40.0, -40.0, 14.9):
        for _ in range(20):
            out = model.step(env_at(NOON, 2000.0), Dispatch(active_power_setpoint_kw=setpoint), 60)
            assert abs(out.ac_power_kw) <= 15.0 + 1e-9


def test_policy_hot_swap_takes_effect_on_the_next_step() -> None:
    model = HybridModel(clouds=False)
    first = model.step(env_at(NIGHT, load_kw=1.0), IDLE, 60.0)
    assert num(first, "battery_power_kw") > 0.0  # self_consumption discharges at night
    model.dispatch_policy = "pv_priority"
    second = model.step(env_at(NIGHT), IDLE, 60.0)
    assert second.asset["dispatch"] == "pv_priority"
    assert num(second, "battery_power_kw") == 0.0
    model.dispatch_policy = "manual"
    third = model.step(env_at(NIGHT), Dispatch(active_power_setpoint_kw=2.0), 60.0)
    assert third.ac_power_kw == pytest.approx(2.0)


def test_an_unknown_policy_is_rejected() -> None:
    model = HybridModel()
    with pytest.raises(ValueError, match="dispatch policy"):
        model.dispatch_policy = "peak_shaving"  # type: ignore[assignment]
    assert model.dispatch_policy == "self_consumption"


def test_large_steps_land_soc_on_the_window_without_overshoot() -> None:
    """900 s steps at a bright noon: charging stops exactly at 95 %; overnight exactly at 10 %."""
    plate = hybrid(20.0, initial_soc_pct=80.0, self_discharge_pct_per_month=0.0)
    model = HybridModel(plate, clouds=False)
    socs = [soc_of(hold(model, NOON, IDLE, 900.0, 1)) for _ in range(8)]
    assert max(socs) <= 95.0
    assert socs[-1] == pytest.approx(95.0)
    night = env_at(NIGHT, load_kw=1.0)
    socs = [soc_of(model.step(night, IDLE, 3600.0)) for _ in range(30)]
    assert min(socs) >= 10.0
    assert socs[-1] == pytest.approx(10.0, abs=1e-9)


def test_a_day_at_900_s_matches_a_day_at_60_s() -> None:
    """Step-size independence: daily PV and AC energies within 2 % between dt = 60 s and 900 s."""
    fine = run_day(HybridModel(clouds=False), 60.0)[-1]
    coarse = run_day(HybridModel(clouds=False), 900.0)[-1]
    for key in ("pv_energy_kwh", "ac_energy_injected_kwh"):
        assert num(coarse, key) == pytest.approx(num(fine, key), rel=0.02)
    assert soc_of(coarse) == pytest.approx(soc_of(fine), abs=1.5)


@pytest.mark.parametrize(
    "build",
    [
        lambda: hybrid(0.0),
        lambda: HybridNameplate(inverter_kva=-1.0),
        lambda: HybridNameplate(battery=replace(DEFAULT_BATTERY, energy_kwh=math.nan)),
        lambda: HybridNameplate(dispatch="greedy"),  # type: ignore[arg-type]
        lambda: HybridNameplate(
            battery=replace(DEFAULT_BATTERY, soc_reserve_min_pct=95.0, soc_reserve_max_pct=10.0)
        ),
        lambda: HybridNameplate(site_load_kwh_per_year=-1.0),
        lambda: HybridNameplate(dc_bus_voltage_v=math.inf),
    ],
)
def test_nameplate_rejects_inconsistent_values(build: Callable[[], HybridNameplate]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        build()


def test_the_nameplate_is_composed_of_the_pv_and_battery_nameplates() -> None:
    """The PV port is the array with the shared inverter's ratings; the battery port is the
    battery nameplate itself (its converter is the DC-DC stage)."""
    plate = hybrid(16.0, inverter_kva=6.0)
    port = plate.pv_port()
    assert (port.dc_rating_kw, port.w_max_kw, port.va_max_kva) == (16.0, 6.0, 6.0)
    assert port.var_max_inj_kvar == pytest.approx(0.44 * 6.0)
    assert port.eta_inv_nom == pytest.approx(0.96)
    assert port.gamma_pdc_per_c == DEFAULT_ARRAY.gamma_pdc_per_c
    assert (plate.pv_kw, plate.batt_kw) == (16.0, 10.0)
    assert (plate.soc_min_pct, plate.soc_max_pct) == (10.0, 95.0)
    assert HybridModel(plate).battery.nameplate is plate.battery


# --- the battery helpers the hybrid reuses ----------------------------------------------------


def test_battery_advance_matches_step() -> None:
    """``BatteryModel.advance`` is the core of ``step``: same powers, SoC and pack voltage."""
    a, b = BatteryModel(seed=1), BatteryModel(seed=1)
    for request in (6.0, -12.0, 0.0, 3.0, -0.5):
        for dt_s in (1.5, 900.0):
            out = a.step(env_at(NOON), Dispatch(active_power_setpoint_kw=request), dt_s)
            core = b.advance(request, dt_s)
            assert core.outer_power_kw == out.ac_power_kw
            assert core.pack_power_kw == out.dc_power_kw
            assert core.soc_pct == soc_of(out)
            assert core.pack_voltage_v == out.dc_voltage_v
            assert core.message == out.message


@pytest.mark.parametrize("soc_pct", [10.0, 10.5, 12.0, 50.0, 89.0, 89.9, 90.0])
@pytest.mark.parametrize("dt_s", [1.5, 900.0, 3600.0])
def test_battery_power_limits_predict_step_for_requests_beyond_the_rating(
    soc_pct: float, dt_s: float
) -> None:
    plate = BatteryNameplate(initial_soc_pct=soc_pct)
    discharge_kw, charge_kw = BatteryModel(plate).power_limits_kw(dt_s)
    assert BatteryModel(plate).advance(50.0, dt_s).outer_power_kw == pytest.approx(discharge_kw)
    assert BatteryModel(plate).advance(-50.0, dt_s).outer_power_kw == pytest.approx(-charge_kw)


# --- properties -------------------------------------------------------------------------------


def self_discharge_per_h(plate: HybridNameplate) -> float:
    """k_sd of battery.py: the self-discharge rate per hour as a fraction of SoC."""
    return plate.battery.self_discharge_pct_per_month / 100.0 / 730.0


def test_a_pack_parked_at_its_reserve_drifts_below_it_by_self_discharge_only() -> None:
    """Regression for a property-test flake: at night under self-consumption with a load, a
    pack at its 10 % reserve minimum cannot discharge, so every hour it loses only its
    self-discharge, k_sd·SoC = 0.02/730 · 10 % = 2.74e-4 points. Four such hours put it 1.1e-3
    points below the reserve: the physics (battery.py), which the property test's fixed 1e-3
    allowance did not cover; its bound now grows with the elapsed time."""
    plate = hybrid(initial_soc_pct=10.0)
    model = HybridModel(plate)
    k = self_discharge_per_h(plate)
    soc = 10.0
    for hour in range(1, 5):
        out = model.step(env_at(MIDNIGHT + timedelta(hours=hour), load_kw=2.0), IDLE, 3600.0)
        soc *= 1.0 - k
        assert soc_of(out) == pytest.approx(soc, abs=1e-12)
        assert num(out, "battery_power_kw") == 0.0
        assert out.message == "battery discharge limited at SoC reserve min 10 %"
    assert soc_of(out) < 10.0 - 1e-3
    assert soc_of(out) >= 10.0 * (1.0 - k * 4.0)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    soc0=st.floats(0.0, 100.0),
    pv_kw=st.floats(0.5, 40.0),
    inverter_kva=st.floats(1.0, 30.0),
    steps=st.lists(
        st.tuples(
            st.sampled_from(DISPATCH_POLICIES),
            st.one_of(st.none(), st.floats(-60.0, 60.0), st.just(math.nan)),
            st.one_of(st.just(100.0), st.floats(-10.0, 150.0), st.just(math.nan)),
            st.sampled_from([0.0, 0.01, 1.5, 60.0, 900.0, 3600.0]),
            st.integers(0, 86399),
            st.one_of(st.none(), st.floats(-100.0, 2500.0)),
            st.one_of(st.none(), st.floats(0.0, 40.0)),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_outputs_are_finite_within_limits_and_counters_monotonic(
    seed: int,
    soc0: float,
    pv_kw: float,
    inverter_kva: float,
    steps: list[tuple[DispatchPolicy, float | None, float, float, int, float | None, float | None]],
) -> None:
    plate = hybrid(pv_kw, inverter_kva=inverter_kva, initial_soc_pct=soc0)
    model = HybridModel(plate, seed=seed)
    floor = min(soc0, plate.soc_min_pct)
    hi = max(soc0, plate.soc_max_pct) + 1e-9
    elapsed_h = 0.0
    previous = dict.fromkeys(COUNTERS, 0.0)
    for policy, setpoint, limit_pct, dt_s, second, irradiance, load in steps:
        elapsed_h += dt_s / 3600.0
        # Below the reserve only self-discharge moves SoC, at k_sd·SoC (battery.py).
        lo = floor * (1.0 - self_discharge_per_h(plate) * elapsed_h) - 1e-9
        model.dispatch_policy = policy
        env = env_at(MIDNIGHT + timedelta(seconds=second), irradiance, load_kw=load)
        dispatch = Dispatch(active_power_setpoint_kw=setpoint, active_power_limit_pct=limit_pct)
        out = model.step(env, dispatch, dt_s)
        numbers = [out.ac_power_kw, out.dc_power_kw, out.dc_voltage_v, out.dc_current_a]
        numbers += [v for v in out.asset.values() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in numbers)
        assert abs(out.ac_power_kw) <= inverter_kva + 1e-9
        assert num(out, "pv_power_kw") >= 0.0
        assert num(out, "pv_power_kw") <= num(out, "pv_available_kw") + 1e-12
        assert abs(num(out, "battery_power_kw")) <= plate.batt_kw + 1e-9
        assert out.dc_power_kw == pytest.approx(
            num(out, "pv_power_kw") + num(out, "battery_power_kw"), abs=1e-9
        )
        load_kw = 0.0 if load is None else load
        assert num(out, "site_load_kw") == load_kw
        assert out.ac_power_kw + num(out, "grid_power_kw") == pytest.approx(load_kw, abs=1e-9)
        assert lo <= soc_of(out) <= hi
        for key in COUNTERS:
            assert num(out, key) >= previous[key]
            previous[key] = num(out, key)
        dc_in = (
            previous["pv_energy_kwh"]
            + previous["battery_discharge_energy_kwh"]
            - previous["battery_charge_energy_kwh"]
        )
        ac_out = (
            previous["ac_energy_injected_kwh"]
            - previous["ac_energy_absorbed_kwh"]
            + previous["loss_energy_kwh"]
        )
        assert dc_in == pytest.approx(ac_out, abs=1e-9)
