"""pysunspec2, a real SunSpec client, against every simulated device over Modbus TCP.

pysunspec2 is blocking, so it runs in ``trio.to_thread`` against the real server on 127.0.0.1
(free ports: ``--modbus_port 0``). Ticks are frozen: the tick period is an hour on a trio
``MockClock`` running at the real rate (``rate = 1``: timeouts and ``fail_after`` guards behave
as on the real clock), and ``clock.jump`` brings the next tick when a test wants one, so a scan
and the snapshot it is compared with belong to the same tick. With ``--time_scale 0.001`` a tick
is 3.6 simulated seconds.

Every value read is compared with the tick's JSON snapshot within one step of its scale factor
(the client computes raw × 10^SF; the server rounds, so half a step is the most it can be off).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sunspec2.modbus.client as sunspec_client
import sunspec2.modbus.modbus as modbus_client
import trio
from trio.testing import MockClock

from dersim_trio.api.resolution import AMP, HERTZ, KW, VOLT
from dersim_trio.protocols.modbus.codec import WriteMultiple
from dersim_trio.testing import SimulatorHandle, run_simulator
from helpers import (
    modbus_exception_code,
    modbus_request,
    sunspec_point,
    sunspec_scan,
    sunspec_write,
    wait_until,
)

PERIOD = ("--periodic_time", "3600", "--time_scale", "0.001", "--modbus_port", "0")
IO_LIMIT_S = 60.0
PHASES = {"single": 1, "split": 2, "three": 3}
GRID_MODELS = [703, 704, *range(705, 713)]
STORAGE = {"battery", "hybrid-dc"}


@asynccontextmanager
async def frozen(clock: MockClock, *flags: str) -> AsyncIterator[SimulatorHandle]:
    """A simulator whose ticks come only on ``tick``; the clock runs at the real rate."""
    clock.rate = 1.0
    async with run_simulator(*PERIOD, *flags) as sim:
        yield sim


async def tick(sim: SimulatorHandle, clock: MockClock, n: int = 1) -> None:
    """Bring ``n`` ticks now."""
    for _ in range(n):
        clock.jump(3600.0)
        with trio.fail_after(IO_LIMIT_S):
            await sim.wait_ticks(1)


def snapshot(sim: SimulatorHandle, device: int = 0) -> dict[str, Any]:
    """The last tick's JSON snapshot of a device."""
    data: dict[str, Any] = json.loads(sim.hub.last.data[device])
    return data


async def in_thread(fn: Any, *args: Any) -> Any:
    with trio.fail_after(IO_LIMIT_S):
        return await trio.to_thread.run_sync(fn, *args)


def points(device: Any, model_id: int) -> Any:
    return device.models[model_id][0]


WIRE_HALF_STEP = {
    "A": AMP.step / 2,
    "V": VOLT.step / 2,
    "Hz": HERTZ.step / 2,
    **dict.fromkeys(("W", "VA", "var", "Wh", "varh"), KW.step * 1000.0 / 2),
}
"""A value read from the JSON snapshot is itself rounded, to half its resolution
(``api/resolution.py``: 0.01 A, 0.1 V, 0.001 Hz, 1 W), which can be coarser than a point's
scale factor (A_SF -3 on a small unit, V_SF -2 at 400 V): by SunSpec unit of the point."""


def near(model: Any, name: str, expected: float, sf_name: str | None = None) -> None:
    """A point's scaled value is within one scale-factor step of ``expected`` (plus the JSON's
    own rounding where it is coarser than the point's scale factor)."""
    point = model.points[name]
    sf = model.points[sf_name].value if sf_name is not None else 0
    assert point.cvalue is not None, name
    wire = WIRE_HALF_STEP.get(point.pdef.get("units", ""), 0.0)
    assert point.cvalue == pytest.approx(expected, abs=10.0**sf + wire), name


def expected_models(asset: str, dc_ports: int) -> list[int]:
    models = [1, 701, 702, *GRID_MODELS]
    if asset in STORAGE:
        models.append(713)
    if dc_ports:
        models.append(714)
    models.append(715)
    if asset in STORAGE:
        models.append(802)
    return models


def check_701(m: Any, snap: dict[str, Any]) -> None:
    met, energy, status = snap["metrics"], snap["energy"], snap["status"]
    near(m, "W", met["power_kw"] * 1000.0, "W_SF")
    near(m, "VA", met["apparent_power_kva"] * 1000.0, "VA_SF")
    near(m, "Var", met["reactive_power_kvar"] * 1000.0, "Var_SF")
    near(m, "PF", met["power_factor"], "PF_SF")
    near(m, "A", met["current_a"], "A_SF")
    near(m, "LLV", met["voltage_ll_v"], "V_SF")
    near(m, "LNV", met["voltage_ln_v"], "V_SF")
    near(m, "Hz", met["frequency_hz"], "Hz_SF")
    near(m, "TotWhInj", energy["injected_kwh"] * 1000.0, "TotWh_SF")
    near(m, "TotWhAbs", energy["absorbed_kwh"] * 1000.0, "TotWh_SF")
    near(m, "TotVarhInj", energy["reactive_injected_kvarh"] * 1000.0, "TotVarh_SF")
    near(m, "TotVarhAbs", energy["reactive_absorbed_kvarh"] * 1000.0, "TotVarh_SF")
    inv = m.points["InvSt"]
    names = {s["value"]: s["name"] for s in inv.pdef["symbols"]}
    assert names[inv.value].lower() == status["inverter_state"]
    conn = m.points["ConnSt"]
    assert conn.value == (1 if status["connection_state"] == "connected" else 0)
    n = PHASES[{0: "single", 1: "split", 2: "three"}[m.points["ACType"].value]]
    w_step = 10.0 ** m.points["W_SF"].value
    phase_w = [m.points[f"WL{k}"].cvalue for k in range(1, n + 1)]
    assert sum(phase_w) == pytest.approx(met["power_kw"] * 1000.0, abs=n * w_step)
    for k in range(1, n + 1):
        near(m, f"VL{k}", met["voltage_ln_v"], "V_SF")
        near(m, f"AL{k}", met["current_a"], "A_SF")
    for k in range(n + 1, 4):
        assert m.points[f"WL{k}"].value is None  # a phase the connection does not have
    assert m.points["TmpCab"].value is None  # not implemented
    assert m.points["ThrotPct"].value is None


ES_POINTS = {
    "ESVHi": ("es_v_hi_pct", "V_SF"),
    "ESVLo": ("es_v_lo_pct", "V_SF"),
    "ESHzHi": ("es_hz_hi", "Hz_SF"),
    "ESHzLo": ("es_hz_lo", "Hz_SF"),
    "ESDlyTms": ("es_dly_tms_s", None),
    "ESRndTms": ("es_rnd_tms_s", None),
    "ESRmpTms": ("es_rmp_tms_s", None),
}
CURVES = {  # model: REST function, (x point, field, SF), (y point, field, SF)
    705: ("volt_var", ("V", "v_pct", "V_SF"), ("Var", "var_pct", "DeptRef_SF")),
    706: ("volt_watt", ("V", "v_pct", "V_SF"), ("W", "w_pct", "DeptRef_SF")),
    712: ("watt_var", ("W", "w_pct", "W_SF"), ("Var", "var_pct", "DeptRef_SF")),
}
TRIPS = {  # model: REST curve, threshold point, field, SF
    707: ("lv", "V", "v_pct", "V_SF"),
    708: ("hv", "V", "v_pct", "V_SF"),
    709: ("lf", "Hz", "freq_hz", "Hz_SF"),
    710: ("hf", "Hz", "freq_hz", "Hz_SF"),
}
DROOP = {
    "DbOf": ("db_of_hz", "Db_SF"),
    "DbUf": ("db_uf_hz", "Db_SF"),
    "KOf": ("k_of", "K_SF"),
    "KUf": ("k_uf", "K_SF"),
    "RspTms": ("rsp_tms_s", "RspTms_SF"),
    "PMin": ("p_min_pct", None),
}
ENABLED, COMPLETED, FAILED, READ_ONLY, READ_WRITE = 1, 1, 2, 1, 0


def close(model: Any, path: str, expected: float, sf_name: str | None) -> None:
    """A point (``sunspec_point`` path) is within one step of its scale factor (1 without)."""
    step = 10.0 ** model.points[sf_name].value if sf_name is not None else 1.0
    value = sunspec_point(model, path).cvalue
    assert value is not None, path
    assert value == pytest.approx(expected, abs=step), path


def check_grid(
    d: Any, grid: dict[str, Any], sets: tuple[int, ...] = (1, 2, 3), result: int = COMPLETED
) -> None:
    """Every point of 703 and 705-712 against the REST grid-support view: the set in force
    (``Crv[1]``, read-only) and, on a fresh device, the stored sets, which start as a copy;
    ``result``: the last adoption's (COMPLETED on a fresh device)."""
    es = points(d, 703)
    for point, (field, sf) in ES_POINTS.items():
        close(es, point, grid["enter_service"][field], sf)
    assert (es.points["ES"].value, es.points["ESDlyRemTms"].value) == (ENABLED, None)
    for model_id, (name, x, y) in CURVES.items():
        m, f = points(d, model_id), grid[name]
        top = ("Ena", "NCrv", "NPt", "AdptCrvRslt", "RvrtTms")
        assert [m.points[p].value for p in top] == [f["enabled"], 3, len(f["pt"]), result, None]
        for n in sets:
            c = f"Crv[{n}]."
            assert sunspec_point(m, c + "ReadOnly").value == (READ_ONLY if n == 1 else READ_WRITE)
            assert sunspec_point(m, c + "ActPt").value == len(f["pt"])
            for i, pt in enumerate(f["pt"], 1):
                for point, field, sf in (x, y):
                    close(m, f"{c}Pt[{i}].{point}", pt[field], sf)
            if model_id != 712:  # 712 has no response time point
                close(m, c + "RspTms", f["rsp_tms_s"], "RspTms_SF")
    vv, f = points(d, 705), grid["volt_var"]
    for n in sets:
        c = f"Crv[{n}]."
        close(vv, c + "VRef", f["v_ref_pct"], "V_SF")
        close(vv, c + "VRefAutoTms", f["v_ref_auto_tms_s"], None)
        assert sunspec_point(vv, c + "VRefAutoEna").value == f["v_ref_auto_ena"]
        assert sunspec_point(vv, c + "DeptRef").value == 1  # VAR_MAX_PCT
        assert sunspec_point(vv, c + "Pri").value is None
        assert sunspec_point(vv, c + "VRefAuto").value is None
    for model_id, (key, point, field, sf) in TRIPS.items():
        m, f = points(d, model_id), grid["trip"][key]
        assert [m.points[p].value for p in ("Ena", "NCrvSet", "NPt")] == [ENABLED, 3, 2]
        for n in sets:
            c = f"Crv[{n}]."
            assert sunspec_point(m, c + "MustTrip.ActPt").value == len(f["must_trip"])
            for i, pt in enumerate(f["must_trip"], 1):
                close(m, f"{c}MustTrip.Pt[{i}].{point}", pt[field], sf)
                close(m, f"{c}MustTrip.Pt[{i}].Tms", pt["tms_s"], "Tms_SF")
            assert sunspec_point(m, c + "MayTrip.ActPt").value is None
            mc = f.get("mom_cess_v_pct")
            if point == "V" and mc is not None:
                assert sunspec_point(m, c + "MomCess.ActPt").value == 1
                close(m, c + "MomCess.Pt[1].V", mc, sf)
            else:
                assert sunspec_point(m, c + "MomCess.ActPt").value in (0, None)
    fd, f = points(d, 711), grid["freq_droop"]
    assert [fd.points[p].value for p in ("Ena", "NCtl", "AdptCtlRslt")] == [
        f["enabled"],
        3,
        result,
    ]
    for n in sets:
        for point, (field, sf) in DROOP.items():
            close(fd, f"Ctl[{n}].{point}", f[field], sf)


def check_714(m: Any, snap: dict[str, Any]) -> None:
    met, asset = snap["metrics"], snap["asset"]
    assert m.points["NPrt"].value == snap["dc_port_count"]
    near(m, "DCW", met["dc_power_kw"] * 1000.0, "DCW_SF")
    near(m, "DCA", met["dc_current_a"], "DCA_SF")
    ports = m.groups["Prt"]
    kind = snap["asset_type"]
    if kind == "hybrid-dc":
        expected = [
            ("PV", asset["pv_voltage_v"], asset["pv_current_a"], asset["pv_power_kw"]),
            (
                "ESS",
                asset["battery_voltage_v"],
                asset["battery_current_a"],
                asset["battery_pack_power_kw"],
            ),
        ]
    elif kind == "evse":  # DC connectors charge EVs out of the DC side; a backing battery
        expected = [
            ("EV", c["voltage_v"], -c["current_a"], -c["power_kw"])
            for c in asset["connectors"]
            if c["kind"] != "AC"
        ]
        if asset["backing_battery_soc_pct"] is not None:
            v, kw = met["dc_voltage_v"], asset["backing_battery_power_kw"]
            expected.append(("ESS", v, kw * 1000.0 / v if v else 0.0, kw))
    else:
        label = {"pv": "PV", "battery": "ESS", "wind": "INJ", "fuelcell": "INJ"}[kind]
        expected = [(label, met["dc_voltage_v"], met["dc_current_a"], met["dc_power_kw"])]
    assert len(ports) == len(expected)
    for port, (label, v, a, kw) in zip(ports, expected, strict=True):
        typ = port.points["PrtTyp"]
        names = {s["value"]: s["name"] for s in typ.pdef["symbols"]}
        assert names[typ.value] == label
        near_sf = 10.0 ** m.points["DCV_SF"].value
        assert port.points["DCV"].cvalue == pytest.approx(v, abs=near_sf)
        assert port.points["DCA"].cvalue == pytest.approx(a, abs=10.0 ** m.points["DCA_SF"].value)
        assert port.points["DCW"].cvalue == pytest.approx(
            kw * 1000.0, abs=10.0 ** m.points["DCW_SF"].value
        )


def check_storage(d: Any, snap: dict[str, Any]) -> None:
    met, asset = snap["metrics"], snap["asset"]
    m713 = points(d, 713)
    near(m713, "SoC", met["state_of_charge_pct"], "Pct_SF")
    near(m713, "WHAvail", asset["energy_available_kwh"] * 1000.0, "WH_SF")
    m802 = points(d, 802)
    near(m802, "SoC", met["state_of_charge_pct"], "SoC_SF")
    near(m802, "SoCRsvMin", met["soc_reserve_min_pct"], "SoC_SF")
    near(m802, "SocRsvMax", met["soc_reserve_max_pct"], "SoC_SF")
    if snap["asset_type"] == "battery":
        near(m802, "W", met["dc_power_kw"] * 1000.0, "W_SF")
        near(m802, "V", met["dc_voltage_v"], "V_SF")
    else:
        near(m802, "W", asset["battery_pack_power_kw"] * 1000.0, "W_SF")
        near(m802, "V", asset["battery_voltage_v"], "V_SF")


OPERATING_POINTS: dict[str, dict[str, Any]] = {
    "PV": {"controls": {"power_factor": 0.95, "excitation": "under"}},
    "Batt": {"controls": {"active_power_setpoint_kw": -4.0}},
    "Wind": {"inputs": {"wind_speed_m_s": 11.0}},
    "Fuelcell": {"controls": {"active_power_setpoint_kw": 3.0}},
}
DEVICE_TYPES = [
    "PV-1Phase",
    "PV-2Phase",
    "PV-3Phase",
    "Batt-1Phase",
    "Batt-2Phase",
    "Batt-3Phase",
    "Wind-T3-3Phase",
    "Wind-T4-3Phase",
    "Fuelcell-3Phase",
    "HybridDC-3Phase",
    "EVSE",
    "EVSE-Hybrid-2DC-1AC",
]
"""Every device type, and an EVSE profile with DC connectors (714 EV ports)."""


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
async def test_every_device_type_scans_and_reads_the_ticks_values(
    device_type: str, mock_clock: MockClock
) -> None:
    if device_type.startswith("EVSE-"):
        flags = ["--evse_profile", device_type]
    else:
        flags = ["-d", device_type]
    async with frozen(mock_clock, *flags) as sim:
        setup = OPERATING_POINTS.get(device_type.split("-")[0], {})
        async with sim.client() as api:
            if "controls" in setup:
                await api.set_controls(0, **setup["controls"])
            if "inputs" in setup:
                await api.set_inputs(0, **setup["inputs"])
            capability = (await api.controls(0)).capability
            grid = (await api.grid_support(0)).model_dump()
        await tick(sim, mock_clock, 2)
        before = sim.hub.last.tick
        device = await in_thread(sunspec_scan, sim.modbus_ports[0])
        assert sim.hub.last.tick == before  # the scan and the snapshot belong to one tick
        snap = snapshot(sim)
        model_ids = [m for m in device.models if isinstance(m, int)]
        assert model_ids == expected_models(snap["asset_type"], snap["dc_port_count"])
        for model_id in model_ids:
            assert points(device, model_id).error_info == "", model_id
        common = points(device, 1)
        assert common.points["Md"].value == device_type
        assert common.points["SN"].value == "DERSIM-00000"
        assert common.points["Opt"].value is None
        check_701(points(device, 701), snap)
        m702 = points(device, 702)
        near(m702, "WMaxRtg", capability.w_max_kw * 1000.0, "W_SF")
        near(m702, "VAMaxRtg", capability.va_max_kva * 1000.0, "VA_SF")
        near(m702, "VarMaxInjRtg", capability.var_max_inj_kvar * 1000.0, "Var_SF")
        if snap["dc_port_count"]:
            check_714(points(device, 714), snap)
        if snap["asset_type"] in STORAGE:
            check_storage(device, snap)
        check_grid(device, grid)


async def test_identity_unit_id_and_energy_seeds_come_from_the_nameplate_file(
    mock_clock: MockClock, tmp_path: Path
) -> None:
    """``1.DA`` 3: the device answers unit id 3 (and 0 and 255 as SunSpec clients try them);
    unit id 1 is another device's and gets exception 0x0B, which ends pysunspec2's probe."""
    plate = tmp_path / "acme.json"
    seeds = {f"701.TotWhInjL{k}": 1_000_000.0 + k for k in (1, 2, 3)}
    plate.write_text(
        json.dumps({"1.Mn": "Acme Power", "1.Md": "AP-10", "1.DA": 3, **seeds}), encoding="utf-8"
    )
    async with frozen(mock_clock, "-d", "PV", "-f", str(plate)) as sim:
        port = sim.modbus_ports[0]
        device = await in_thread(lambda: sunspec_scan(port, unit=3))
        common = points(device, 1)
        assert (common.points["Mn"].value, common.points["Md"].value) == ("Acme Power", "AP-10")
        assert common.points["DA"].value == 3
        near(points(device, 701), "TotWhInj", 3_000_006.0, "TotWh_SF")
        device = await in_thread(lambda: sunspec_scan(port, unit=255))
        assert 701 in device.models
        with pytest.raises(sunspec_client.SunSpecModbusClientError, match="exception 11"):
            await in_thread(lambda: sunspec_scan(port, unit=1))


async def test_704_wmaxlimpct_curtails_shows_in_controls_and_the_next_tick(
    mock_clock: MockClock,
) -> None:
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]
        w_max = 10_000.0
        assert snapshot(sim)["metrics"]["power_kw"] * 1000.0 > 0.5 * w_max

        def curtail() -> None:
            device = sunspec_scan(port)
            m = points(device, 704)
            m.WMaxLimPctEna.cvalue = 1
            m.WMaxLimPct.cvalue = 40
            m.write()

        await in_thread(curtail)
        async with sim.client() as api:
            assert (await api.controls(0)).active_power_limit_pct == 40.0
        await tick(sim, mock_clock)
        assert snapshot(sim)["metrics"]["power_kw"] * 1000.0 <= 0.4 * w_max + 1.0
        async with sim.client() as api:
            await api.set_controls(0, active_power_limit_pct=25.0)

        def read_limit() -> tuple[int, float]:
            m = points(sunspec_scan(port), 704)
            return m.WMaxLimPctEna.value, m.WMaxLimPct.cvalue

        assert await in_thread(read_limit) == (1, 25.0)  # a REST change, the next read


async def test_704_reversion_time_behaves_as_rest_revert_after_s(mock_clock: MockClock) -> None:
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]

        def limit_for_5_s() -> None:
            m = points(sunspec_scan(port), 704)
            m.WMaxLimPctEna.cvalue = 1
            m.WMaxLimPct.cvalue = 30
            m.WMaxLimPctRvrtTms.cvalue = 5
            m.write()

        await in_thread(limit_for_5_s)
        async with sim.client() as api:
            state = await api.controls(0)
        assert state.active_power_limit_pct == 30.0
        assert state.reversion == {"active_power_limit_pct": 5.0}
        await tick(sim, mock_clock)  # 3.6 s: still limited
        assert snapshot(sim)["metrics"]["power_kw"] <= 3.0 + 1e-3
        await tick(sim, mock_clock)  # 7.2 s: reverted
        async with sim.client() as api:
            state = await api.controls(0)
        assert (state.active_power_limit_pct, state.reversion) == (100.0, {})

        def read() -> tuple[int, int]:
            m = points(sunspec_scan(port), 704)
            return m.WMaxLimPctEna.value, m.WMaxLimPctRvrtRem.value

        assert await in_thread(read) == (0, 0)


async def test_715_opctl_stop_and_start_are_the_rest_commands(mock_clock: MockClock) -> None:
    async with frozen(mock_clock, "-d", "Batt", "--shutdown_time_s", "1") as sim:
        port = sim.modbus_ports[0]

        def opctl(value: int) -> None:
            m = points(sunspec_scan(port), 715)
            m.OpCtl.value = value
            m.write()

        await in_thread(opctl, 0)  # STOP
        async with sim.client() as api:
            record = (await api.commands(limit=1))[-1]
        assert (record.command, record.outcome) == ("stop", "accepted")
        await tick(sim, mock_clock)
        assert snapshot(sim)["status"]["inverter_state"] == "off"
        await in_thread(opctl, 1)  # START
        async with sim.client() as api:
            record = (await api.commands(limit=1))[-1]
        assert (record.command, record.outcome) == ("start", "accepted")
        await tick(sim, mock_clock)
        assert snapshot(sim)["status"]["inverter_state"] == "starting"


async def test_out_of_range_and_read_only_writes_get_their_exception_and_change_nothing(
    mock_clock: MockClock,
) -> None:
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]

        def write(model_id: int, **values: float) -> int:
            m = points(sunspec_scan(port), model_id)
            for name, value in values.items():
                m.points[name].cvalue = value
            try:
                m.write()
            except modbus_client.ModbusClientException as exc:
                return modbus_exception_code(exc)
            return 0

        assert await in_thread(lambda: write(704, WMaxLimPctEna=1, WMaxLimPct=150)) == 3
        assert await in_thread(lambda: write(704, PFWInjEna=1)) == 3  # no PF to enable
        assert await in_thread(lambda: write(701, W=1234)) == 2
        assert await in_thread(lambda: write(702, WMax=5000)) == 2
        async with sim.client() as api:
            state = await api.controls(0)
        assert (state.active_power_limit_pct, state.power_factor) == (100.0, None)


# --- quirks ------------------------------------------------------------------------------------


async def test_sf_change_moves_the_power_scale_factor_with_the_output(
    mock_clock: MockClock,
) -> None:
    async with frozen(mock_clock, "-d", "PV", "--modbus_quirks", "sf_change") as sim:
        port = sim.modbus_ports[0]

        def w() -> tuple[int, float]:
            m = points(sunspec_scan(port), 701)
            return m.W_SF.value, m.W.cvalue

        sf_high, w_high = await in_thread(w)
        assert w_high == pytest.approx(snapshot(sim)["metrics"]["power_kw"] * 1000, abs=1)
        async with sim.client() as api:
            await api.set_controls(0, active_power_limit_pct=1.0)  # dusk: 100 W
        await tick(sim, mock_clock)
        sf_low, w_low = await in_thread(w)
        assert (sf_high, sf_low) == (0, -2)
        assert w_low == pytest.approx(snapshot(sim)["metrics"]["power_kw"] * 1000, abs=0.01)


async def test_fc16_only_refuses_pysunspec2s_single_register_write(mock_clock: MockClock) -> None:
    async with frozen(mock_clock, "-d", "PV", "--modbus_quirks", "fc16_only") as sim:
        port = sim.modbus_ports[0]

        def write(**values: float) -> int:
            m = points(sunspec_scan(port), 704)
            for name, value in values.items():
                m.points[name].cvalue = value
            try:
                m.write()
            except modbus_client.ModbusClientException as exc:
                return modbus_exception_code(exc)
            return 0

        assert await in_thread(lambda: write(WMaxLimPct=50)) == 1  # one register: FC 6
        assert await in_thread(lambda: write(WMaxLimPctEna=1, WMaxLimPct=50)) == 0  # FC 16
        async with sim.client() as api:
            assert (await api.controls(0)).active_power_limit_pct == 50.0


async def test_slow_delays_every_answer_past_a_short_client_timeout(
    mock_clock: MockClock,
) -> None:
    flags = ("-d", "PV", "--modbus_quirks", "slow", "--modbus_slow_ms", "1500")
    async with frozen(mock_clock, *flags) as sim:
        port = sim.modbus_ports[0]

        def read(timeout: float) -> bytes:
            client = sunspec_client.SunSpecModbusClientDeviceTCP(
                ipaddr="127.0.0.1", ipport=port, timeout=timeout
            )
            client.connect()
            try:
                return bytes(client.read(40000, 2))
            finally:
                client.disconnect()

        with pytest.raises(modbus_client.ModbusClientTimeout):
            await in_thread(read, 0.2)
        assert await in_thread(read, 10.0) == b"SunS"


async def test_single_connection_drops_a_second_client_until_the_first_leaves(
    mock_clock: MockClock,
) -> None:
    async with frozen(mock_clock, "-d", "PV", "--modbus_quirks", "single_connection") as sim:
        port = sim.modbus_ports[0]
        first = sunspec_client.SunSpecModbusClientDeviceTCP(ipaddr="127.0.0.1", ipport=port)
        second = sunspec_client.SunSpecModbusClientDeviceTCP(ipaddr="127.0.0.1", ipport=port)
        await in_thread(first.connect)
        try:
            assert await in_thread(first.read, 40000, 2) == b"SunS"
            await in_thread(second.connect)
            with pytest.raises((modbus_client.ModbusClientError, OSError)):
                await in_thread(second.read, 40000, 2)
            second.disconnect()
        finally:
            first.disconnect()
        server = sim.service.modbus
        assert server is not None
        with trio.fail_after(IO_LIMIT_S):
            await wait_until(lambda: server.devices[0].connections == 0, within=IO_LIMIT_S)
        device = await in_thread(sunspec_scan, port)
        assert 701 in device.models


async def test_no_end_model_ends_pysunspec2s_scan_with_exception_2(
    mock_clock: MockClock,
) -> None:
    async with frozen(mock_clock, "-d", "PV", "--modbus_quirks", "no_end_model") as sim:
        port = sim.modbus_ports[0]
        client = sunspec_client.SunSpecModbusClientDeviceTCP(ipaddr="127.0.0.1", ipport=port)
        try:
            with pytest.raises(modbus_client.ModbusClientException) as raised:
                await in_thread(client.scan)
        finally:
            client.disconnect()
        assert modbus_exception_code(raised.value) == 2
        assert [m for m in client.models if isinstance(m, int)] == expected_models("pv", 1)


async def test_write_only_controls_take_writes_but_read_as_not_implemented(
    mock_clock: MockClock,
) -> None:
    flags = ("-d", "PV", "--modbus_quirks", "write_only_controls")
    async with frozen(mock_clock, *flags) as sim:
        port = sim.modbus_ports[0]

        def write_and_read() -> tuple[Any, Any]:
            m = points(sunspec_scan(port), 704)
            m.WMaxLimPctEna.value = 1
            m.WMaxLimPct.value = 400  # raw: WMaxLimPct_SF reads as not implemented
            m.write()
            again = points(sunspec_scan(port), 704)
            return again.WMaxLimPctEna.value, again.WMaxLimPct.value

        assert await in_thread(write_and_read) == (None, None)
        async with sim.client() as api:
            assert (await api.controls(0)).active_power_limit_pct == 40.0


async def test_unit_id_strict_leaves_other_unit_ids_unanswered(mock_clock: MockClock) -> None:
    async with frozen(mock_clock, "-d", "PV", "--modbus_quirks", "unit_id_strict") as sim:
        port = sim.modbus_ports[0]
        assert 701 in (await in_thread(sunspec_scan, port)).models
        with pytest.raises(sunspec_client.SunSpecModbusClientError, match=r"timed out|timeout"):
            await in_thread(lambda: sunspec_scan(port, unit=255, timeout=0.5))


# --- grid support: 703, 705-712 ----------------------------------------------------------------


def adopt_request(model_id: int) -> str:
    return "AdptCtlReq" if model_id == 711 else "AdptCrvReq"


async def test_a_volt_var_curve_written_to_curve_2_and_adopted_is_rest_s_and_acts(
    mock_clock: MockClock,
) -> None:
    """The SunSpec sequence: fill a stored curve, then ``AdptCrvReq`` = its index (a second
    write: pysunspec2 writes top-level points before the groups'). Volt-var and watt-var both
    enabled is allowed, as over REST (volt-var takes precedence)."""
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]
        curve = [(93.0, 80.0), (99.0, 0.0), (101.0, 0.0), (107.0, -80.0)]
        values = {"Crv[2].RspTms": 2.0}
        for i, (v, q) in enumerate(curve, 1):
            values |= {f"Crv[2].Pt[{i}].V": v, f"Crv[2].Pt[{i}].Var": q}
        async with sim.client() as api:
            before = await api.grid_support(0)
        assert await in_thread(sunspec_write, port, 705, values) == 0
        async with sim.client() as api:
            assert await api.grid_support(0) == before  # stored, not in force
        assert await in_thread(sunspec_write, port, 705, {"AdptCrvReq": 2}) == 0
        assert await in_thread(sunspec_write, port, 705, {"Ena": 1}) == 0
        assert await in_thread(sunspec_write, port, 712, {"Ena": 1}) == 0
        async with sim.client() as api:
            state = await api.grid_support(0)
            capability = (await api.controls(0)).capability
        assert [(p.v_pct, p.var_pct) for p in state.volt_var.pt] == curve
        assert (state.volt_var.rsp_tms_s, state.volt_var.enabled) == (2.0, True)
        assert (state.watt_var.enabled, state.reactive_mode) == (True, "volt_var")
        device = await in_thread(sunspec_scan, port)
        m = points(device, 705)
        assert (m.points["AdptCrvReq"].value, m.points["AdptCrvRslt"].value) == (2, COMPLETED)
        check_grid(device, state.model_dump(), sets=(1,))
        # the effect: at 1.06 pu the curve asks (106 - 101) / (107 - 101) of -80 % of the
        # absorbing var rating
        async with sim.client() as api:
            await api.set_inputs(0, grid_voltage_pu=1.06)
        await tick(sim, mock_clock, 4)
        q_kvar = snapshot(sim)["metrics"]["reactive_power_kvar"]
        expected = -5.0 / 6.0 * 0.8 * capability.var_max_abs_kvar
        assert q_kvar == pytest.approx(expected, rel=0.05)
        # a REST change shows in the next read
        async with sim.client() as api:
            state = await api.set_grid_support(
                0, volt_var={"pt": [{"v_pct": v, "var_pct": q / 2} for v, q in curve]}
            )
        check_grid(await in_thread(sunspec_scan, port), state.model_dump(), sets=(1,))


async def test_a_droop_control_set_adopted_over_711_cuts_power_at_high_frequency(
    mock_clock: MockClock,
) -> None:
    """IEEE 1547 §6.5.2.7.2: above 60 Hz + db_of the output drops by (f - 60 - db_of) /
    (60 k_of) of the rating; at 60.5 Hz k 0.05 takes 0.155 pu, k 0.02 0.40 pu."""
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]
        async with sim.client() as api:
            await api.set_inputs(0, grid_frequency_hz=60.5)
        await tick(sim, mock_clock, 4)
        p_k05 = snapshot(sim)["metrics"]["power_kw"]
        control = {"Ctl[2].DbOf": 0.017, "Ctl[2].KOf": 0.02}
        assert await in_thread(sunspec_write, port, 711, control) == 0
        assert await in_thread(sunspec_write, port, 711, {"AdptCtlReq": 2}) == 0
        async with sim.client() as api:
            droop = (await api.grid_support(0)).freq_droop
        assert (droop.db_of_hz, droop.k_of, droop.enabled) == (0.017, 0.02, True)
        await tick(sim, mock_clock, 4)
        p_k02 = snapshot(sim)["metrics"]["power_kw"]
        w_max_kw = 10.0
        cut = ((0.5 - 0.017) / (60 * 0.02) - (0.5 - 0.036) / (60 * 0.05)) * w_max_kw
        assert p_k05 - p_k02 == pytest.approx(cut, rel=0.05)


async def test_703_settings_and_permit_service_round_trip(mock_clock: MockClock) -> None:
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]
        window = {"ESVLo": 90.0, "ESVHi": 105.5, "ESHzLo": 59.2, "ESHzHi": 60.5}
        assert await in_thread(sunspec_write, port, 703, window) == 0
        assert await in_thread(sunspec_write, port, 703, {"ESDlyTms": 5, "ESRmpTms": 1}) == 0
        async with sim.client() as api:
            es = (await api.grid_support(0)).enter_service
        assert (es.es_v_lo_pct, es.es_v_hi_pct, es.es_hz_lo, es.es_hz_hi) == (90, 105.5, 59.2, 60.5)
        assert (es.es_dly_tms_s, es.es_rmp_tms_s) == (5.0, 1.0)
        assert await in_thread(sunspec_write, port, 703, {"ES": 0}) == 0
        async with sim.client() as api:
            record = (await api.commands(limit=1))[-1]
        assert (record.command, record.outcome) == ("cease_to_energize", "accepted")
        await tick(sim, mock_clock)
        assert snapshot(sim)["status"]["service_state"] == "out_of_service"
        assert points(await in_thread(sunspec_scan, port), 703).points["ES"].value == 0
        assert await in_thread(sunspec_write, port, 703, {"ES": 1}) == 0
        async with sim.client() as api:
            record = (await api.commands(limit=1))[-1]
            await api.set_grid_support(0, enter_service={"es_rnd_tms_s": 30})
        assert (record.command, record.outcome) == ("enter_service", "accepted")
        m = points(await in_thread(sunspec_scan, port), 703)
        assert (m.points["ES"].value, m.points["ESRndTms"].value) == (ENABLED, 30)


async def test_trip_curves_round_trip_and_rest_changes_show(mock_clock: MockClock) -> None:
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]
        ov1 = {"Crv[3].MustTrip.Pt[1].V": 111.0, "Crv[3].MustTrip.Pt[1].Tms": 5.0}
        assert await in_thread(sunspec_write, port, 708, ov1) == 0
        assert await in_thread(sunspec_write, port, 708, {"AdptCrvReq": 3}) == 0
        assert await in_thread(sunspec_write, port, 707, {"Crv[2].MomCess.ActPt": 0}) == 0
        assert await in_thread(sunspec_write, port, 707, {"AdptCrvReq": 2}) == 0
        assert await in_thread(sunspec_write, port, 707, {"Ena": 1}) == 0  # always enabled
        async with sim.client() as api:
            trip = (await api.grid_support(0)).trip
            assert (trip.hv.must_trip[0].v_pct, trip.hv.must_trip[0].tms_s) == (111.0, 5.0)
            assert trip.lv.mom_cess_v_pct is None
            state = await api.set_grid_support(
                0,
                trip={
                    "lf": {
                        "must_trip": [
                            {"freq_hz": 58.0, "tms_s": 200},
                            {"freq_hz": 56.0, "tms_s": 1},
                        ]
                    }
                },
            )
        check_grid(await in_thread(sunspec_scan, port), state.model_dump(), sets=(1,))


async def test_grid_writes_rest_would_refuse_get_03_and_change_nothing(
    mock_clock: MockClock,
) -> None:
    """Point writes are checked against the REST field's range at once; a curve as a whole
    (count, order, ranges that depend on other points or the categories) when adopted, which
    then fails with 03 and ``AdptCrvRslt`` FAILED. The settings, over REST and in curve 1,
    do not move."""
    async with frozen(mock_clock, "-d", "PV") as sim:
        port = sim.modbus_ports[0]
        async with sim.client() as api:
            before = await api.grid_support(0)
        at_once: list[tuple[int, dict[str, float], int]] = [
            (705, {"Crv[2].Pt[1].V": 130.0}, 3),  # V outside 82..118 %
            (705, {"Crv[2].Pt[2].Var": 150.0}, 3),  # Var outside -100..100 %
            (705, {"Crv[2].DeptRef": 0}, 3),  # W_MAX_PCT: this device's curves are VAR_MAX_PCT
            (705, {"Crv[2].ActPt": 5}, 3),  # more than NPt
            (706, {"Crv[2].DeptRef": 1}, 3),  # W_AVAL_PCT
            (711, {"Ctl[2].KOf": 0.2}, 3),  # outside 0.02..0.05
            (708, {"Crv[2].MustTrip.Pt[1].Tms": 2000.0}, 3),  # outside 0.16..1000 s
            (703, {"ESVHi": 110.0}, 3),  # outside 105..106 %
            (703, {"ESHzLo": 58.0}, 3),  # outside 59..59.9 Hz
            (703, {"ES": 7}, 3),
            (705, {"Ena": 2}, 3),
            (707, {"Ena": 0}, 3),  # must-trip cannot be disabled
            (705, {"AdptCrvReq": 4}, 3),  # three stored curves
            (705, {"Crv[1].Pt[1].V": 90.0}, 2),  # the curve in force is read-only
            (705, {"Crv[2].Pri": 1}, 2),  # not implemented
            (705, {"RvrtTms": 60}, 2),
        ]
        for model_id, values, code in at_once:
            assert await in_thread(sunspec_write, port, model_id, values) == code, values
        on_adoption: list[tuple[int, dict[str, float]]] = [
            (705, {"Crv[2].Pt[3].Var": 50.0}),  # Q rises with V: Q3 > Q2
            (705, {"Crv[2].ActPt": 3}),  # three points: volt-var has four
            (705, {"Crv[2].Pt[1].V": 97.0}),  # V1 above V2 - 2
            (706, {"Crv[2].Pt[2].W": -50.0}),  # PV cannot absorb
            (712, {"Crv[2].Pt[5].W": 90.0}),  # P2 outside 40..80 %
            (707, {"Crv[2].MustTrip.Pt[1].Tms": 10.0}),  # category III UV1: 21..50 s
            (710, {"Crv[2].MustTrip.Pt[2].Hz": 61.0}),  # OF2 below OF1
            (711, {"Ctl[2].PMin": -50}),  # PV cannot absorb
        ]
        for model_id, values in on_adoption:
            assert await in_thread(sunspec_write, port, model_id, values) == 0, values
            request = adopt_request(model_id)
            assert await in_thread(sunspec_write, port, model_id, {request: 2}) == 3, values
            m = points(await in_thread(sunspec_scan, port), model_id)
            result = m.points[request.replace("Req", "Rslt")].value
            assert (m.points[request].value, result) == (2, FAILED), values
            restore = {p: sunspec_point(m, p.replace("[2]", "[1]", 1)).cvalue for p in values}
            assert await in_thread(sunspec_write, port, model_id, restore) == 0
        async with sim.client() as api:
            assert await api.grid_support(0) == before
        check_grid(await in_thread(sunspec_scan, port), before.model_dump(), result=FAILED)


async def test_fc16_only_adopts_a_curve_only_through_write_multiple(
    mock_clock: MockClock,
) -> None:
    """pysunspec2 writes the lone ``AdptCrvReq`` register with function 6 (exception 01,
    nothing adopted); the same register written with function 16 adopts the curve."""
    async with frozen(mock_clock, "-d", "PV", "--modbus_quirks", "fc16_only") as sim:
        port = sim.modbus_ports[0]
        curve = {"Crv[2].Pt[1].W": -90.0, "Crv[2].Pt[1].Var": 60.0}  # two registers: FC 16
        assert await in_thread(sunspec_write, port, 712, curve) == 0
        assert await in_thread(sunspec_write, port, 712, {"AdptCrvReq": 2}) == 1
        async with sim.client() as api:
            assert (await api.grid_support(0)).watt_var.pt[0].w_pct == -100.0
        m = points(await in_thread(sunspec_scan, port), 712)
        address = m.model_addr + m.points["AdptCrvReq"].offset
        response = await in_thread(modbus_request, port, WriteMultiple(address, (2,)))
        assert response.exception is None
        async with sim.client() as api:
            pt = (await api.grid_support(0)).watt_var.pt[0]
        assert (pt.w_pct, pt.var_pct) == (-90.0, 60.0)


async def test_write_only_controls_hide_the_stored_curves_not_the_curve_in_force(
    mock_clock: MockClock,
) -> None:
    flags = ("-d", "PV", "--modbus_quirks", "write_only_controls")
    async with frozen(mock_clock, *flags) as sim:
        port = sim.modbus_ports[0]
        values = {"Crv[2].Pt[1].V": 106.0, "Crv[2].Pt[2].V": 109.0}
        assert await in_thread(sunspec_write, port, 706, values) == 0
        assert await in_thread(sunspec_write, port, 706, {"AdptCrvReq": 2, "Ena": 1}) == 0
        async with sim.client() as api:
            vw = (await api.grid_support(0)).volt_watt
        assert ([p.v_pct for p in vw.pt], vw.enabled) == ([106.0, 109.0], True)
        m = points(await in_thread(sunspec_scan, port), 706)
        assert (m.points["Ena"].value, m.points["AdptCrvReq"].value) == (None, None)
        assert sunspec_point(m, "Crv[2].Pt[1].V").value is None
        assert sunspec_point(m, "Crv[1].Pt[1].V").cvalue == 106.0  # read-only: still shown
