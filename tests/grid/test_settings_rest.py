"""``GET``/``PUT .../grid-support`` through the typed client against a real in-process server.

Defaults quoted from IEEE 1547-2018: category B volt-var (Table 8: 0.92/0.98/1.02/1.08 V_nom,
±44 % of S), category III trips (Table 13: UV1 0.88 V_nom / 21 s, UV2 0.50 / 2 s, OV1 1.10 / 13 s,
OV2 1.20 / 0.16 s) and category I (Table 11: UV1 0.70 / 2 s, UV2 0.45 / 0.16 s, OV1 1.10 / 2 s),
frequency trips (Table 18: 58.5 Hz / 300 s, 56.5 / 0.16, 61.2 / 300, 62.0 / 0.16).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from dersim_trio.client import ApiError, GridSupportUpdate
from dersim_trio.testing import SimulatorHandle

GUARD_S = 60.0


async def test_the_defaults_are_category_b_iii_with_only_droop_and_trips_on(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            gs = await api.grid_support(0)
    assert (gs.category.normal, gs.category.abnormal) == ("B", "III")
    assert gs.reactive_mode is None
    assert [p.v_pct for p in gs.volt_var.pt] == [92.0, 98.0, 102.0, 108.0]
    # the default PV's var ratings are 0.44·S each side, so ±44 % of S is ±100 % of the rating
    assert [p.var_pct for p in gs.volt_var.pt] == [100.0, 0.0, 0.0, -100.0]
    assert gs.freq_droop.enabled
    assert not any(
        f.enabled for f in (gs.volt_var, gs.watt_var, gs.volt_watt, gs.constant_pf, gs.constant_q)
    )
    assert [(p.v_pct, p.tms_s) for p in gs.trip.lv.must_trip] == [(88.0, 21.0), (50.0, 2.0)]
    assert [(p.v_pct, p.tms_s) for p in gs.trip.hv.must_trip] == [(110.0, 13.0), (120.0, 0.16)]
    assert [(p.freq_hz, p.tms_s) for p in gs.trip.lf.must_trip] == [(58.5, 300.0), (56.5, 0.16)]
    assert [(p.freq_hz, p.tms_s) for p in gs.trip.hf.must_trip] == [(61.2, 300.0), (62.0, 0.16)]
    assert gs.enter_service.es_dly_tms_s == 300.0
    assert gs.enter_service.es_rmp_tms_s == 300.0


async def test_a_get_body_sent_back_changes_nothing(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            before = await api.grid_support(0)
            body = before.model_dump(exclude={"device_index", "reactive_mode"})
            after = await api.set_grid_support(0, GridSupportUpdate.model_validate(body))
    assert after == before


async def test_a_put_changes_only_what_it_names_and_null_returns_to_the_default(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            before = await api.grid_support(0)
            changed = await api.set_grid_support(
                0, volt_var={"enabled": True, "rsp_tms_s": 10}, enter_service={"es_dly_tms_s": 5}
            )
            assert changed.volt_var.enabled
            assert changed.volt_var.rsp_tms_s == 10
            assert changed.reactive_mode == "volt_var"
            assert changed.volt_var.pt == before.volt_var.pt
            assert changed.enter_service.es_dly_tms_s == 5
            assert changed.enter_service.es_rmp_tms_s == 300
            assert changed.trip == before.trip
            reset = await api.set_grid_support(0, volt_var={"rsp_tms_s": None}, enter_service=None)
    assert reset.volt_var.enabled
    assert reset.volt_var.rsp_tms_s == 5
    assert reset.enter_service == before.enter_service


async def test_a_category_object_loads_that_pair_of_defaults(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            gs = await api.set_grid_support(
                0, category={"normal": "A", "abnormal": "I"}, volt_var={"enabled": True}
            )
    assert (gs.category.normal, gs.category.abnormal) == ("A", "I")
    assert [p.v_pct for p in gs.volt_var.pt] == [90.0, 100.0, 100.0, 110.0]  # Table 8, cat. A
    assert gs.volt_var.rsp_tms_s == 10.0
    assert gs.volt_var.enabled  # applied after the category's defaults
    assert [(p.v_pct, p.tms_s) for p in gs.trip.lv.must_trip] == [(70.0, 2.0), (45.0, 0.16)]
    assert gs.trip.hv.must_trip[0].tms_s == 2.0
    assert gs.trip.lv.mom_cess_v_pct is None


@pytest.mark.parametrize(
    ("body", "field", "allowed"),
    [
        ({"volt_var": {"bogus": 1}}, "volt_var.bogus", "enabled, pt"),
        ({"volt_var": {"v_ref_pct": 110}}, "volt_var.v_ref_pct", "95..105 %"),
        (
            {
                "volt_var": {
                    "pt": [
                        {"v_pct": 97, "var_pct": 100},
                        {"v_pct": 98, "var_pct": 0},
                        {"v_pct": 102, "var_pct": 0},
                        {"v_pct": 108, "var_pct": -100},
                    ]
                }
            },
            "volt_var.pt[0].v_pct",
            "82..96 %",
        ),
        (
            {"trip": {"lv": {"must_trip": [{"v_pct": 88, "tms_s": 5}, {"v_pct": 50, "tms_s": 2}]}}},
            "trip.lv.must_trip[0].tms_s",
            "21..50 s",
        ),
        (
            {
                "trip": {
                    "hv": {"must_trip": [{"v_pct": 115, "tms_s": 5}, {"v_pct": 112, "tms_s": 1}]}
                }
            },
            "trip.hv.must_trip[1].v_pct",
            "120 % (fixed)",
        ),
        ({"freq_droop": {"k_of": 0.01}}, "freq_droop.k_of", "0.02..0.05"),
        (
            {"volt_watt": {"pt": [{"v_pct": 106, "w_pct": 100}, {"v_pct": 110, "w_pct": -50}]}},
            "volt_watt.pt[1].w_pct",
            "0..100 %",
        ),
        ({"enter_service": {"es_rmp_tms_s": 0}}, "enter_service.es_rmp_tms_s", "1..1000 s"),
        ({"category": {"normal": "C"}}, "category.normal", "A or B"),
    ],
)
async def test_a_refused_body_names_the_field_and_its_range_and_changes_nothing(
    dersim: SimulatorHandle,
    autojump_clock: trio.testing.MockClock,
    body: dict[str, object],
    field: str,
    allowed: str,
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            before = await api.grid_support(0)
            with pytest.raises(ApiError) as caught:
                await api.request("PUT", "/api/dersim/devices/0/grid-support", body=body)
            after = await api.grid_support(0)
    assert caught.value.status == 422
    allowed_texts = [f.allowed or "" for f in caught.value.fields or [] if f.field == field]
    assert allowed_texts, caught.value.detail
    assert any(allowed in text for text in allowed_texts), allowed_texts
    assert after == before


@pytest.mark.dersim("-d", "Batt", "-N", "2")
async def test_the_all_devices_put_is_all_or_nothing(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            states = await api.set_all_grid_support(
                volt_watt={
                    "enabled": True,
                    "pt": [{"v_pct": 106, "w_pct": 100}, {"v_pct": 110, "w_pct": -50}],
                }
            )
            assert [s.volt_watt.pt[1].w_pct for s in states] == [-50.0, -50.0]  # storage: ok
            with pytest.raises(ApiError) as caught:
                await api.set_all_grid_support(
                    category={"abnormal": "I"}, freq_droop={"k_of": 0.025}
                )
            after = [await api.grid_support(i) for i in (0, 1)]
    assert caught.value.status == 422
    assert caught.value.fields is not None
    assert caught.value.fields[0].field == "freq_droop.k_of"
    assert caught.value.fields[0].allowed == "0.03..0.05"  # category I
    assert "device 0" in caught.value.fields[0].message
    assert all(s.volt_watt.enabled for s in after)  # nothing changed, on any device
    assert all(s.category.abnormal == "III" for s in after)


async def test_an_unknown_device_is_404(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            with pytest.raises(ApiError) as caught:
                await api.grid_support(3)
    assert caught.value.status == 404


async def test_volt_var_enabled_through_rest_drives_the_reactive_power(
    dersim: SimulatorHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """Category B curve at 1.05 V_nom: halfway between V3 = 1.02 and V4 = 1.08, so Q = −22 % of S
    (−50 % of the 0.44·S absorption rating)."""
    with trio.fail_after(GUARD_S):
        async with dersim.client() as api:
            await api.set_inputs(0, irradiance_w_m2=1000.0, grid_voltage_pu=1.05)
            await api.set_grid_support(0, volt_var={"enabled": True})
            await dersim.wait_ticks(30)
            snap = await api.overview(0)
            controls = await api.controls(0)
    rating = controls.capability
    assert snap.metrics.reactive_power_kvar == pytest.approx(
        -0.5 * rating.var_max_abs_kvar, rel=1e-3
    )
    assert snap.grid_support is not None
    assert snap.grid_support.functions[0] == "volt_var"
