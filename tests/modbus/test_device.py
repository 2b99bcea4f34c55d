"""One device's SunSpec map answering requests, sans-IO (no sockets): the exceptions, unit ids,
whole-point writes and the map-level quirks.

Exception codes as the Modbus Application Protocol V1.1b3 §7 defines them: 01 illegal function,
02 illegal data address, 03 illegal data value, 04 server device failure; 0x0B gateway target
device failed to respond.
"""

from __future__ import annotations

import logging
import struct

import pytest

from dersim_trio.api.controls import ControlsUpdate
from dersim_trio.api.grid_support import FreqDroopUpdate, VoltVarPoint
from dersim_trio.api.schema import Snapshot
from dersim_trio.engine.core import Engine
from dersim_trio.protocols.modbus.codec import (
    FrameDecoder,
    MalformedFrame,
    ReadRegisters,
    Response,
    WriteMultiple,
    WriteSingle,
    decode_response,
    encode_frame,
    encode_request,
)
from dersim_trio.protocols.modbus.device import SunSpecDevice
from dersim_trio.protocols.modbus.models.stored_sets import Span, field_span
from dersim_trio.protocols.modbus.quirks import Quirks
from dersim_trio.protocols.modbus.registers import BASE_ADDRESS
from dersim_trio.service.build import device_identity
from dersim_trio.service.operator import Controller
from helpers import make_config, make_engine


class Bench:
    """A device over an engine, with the last snapshots a tick hook would keep."""

    def __init__(self, *flags: str, quirks: Quirks | None = None) -> None:
        self.engine: Engine = make_engine(*flags)
        self.controller = Controller(self.engine, device_identity(make_config(*flags)))
        self.snapshots: list[Snapshot] = self.engine.initial()
        self.device = SunSpecDevice(
            0, self.controller, lambda: self.snapshots[0], quirks or Quirks()
        )
        self.addresses = {m.section.model_id: m.start for m in self.device.map.sections}

    def tick(self) -> None:
        self.snapshots = self.engine.step()

    def ask(self, request: ReadRegisters | WriteSingle | WriteMultiple, unit: int = 1) -> Response:
        (frame,) = FrameDecoder().feed(encode_frame(77, unit, encode_request(request)))
        reply = self.device.handle(frame, "127.0.0.1:5000")
        assert reply is not None
        assert reply[:2] == b"\x00\x4d"
        assert reply[6] == unit
        return decode_response(reply[7:])

    def at(self, model: int, path: str) -> int:
        mapped = next(m for m in self.device.map.sections if m.section.model_id == model)
        return mapped.start + mapped.layout.by_path[path].offset

    def read(self, model: int, path: str, count: int = 1) -> tuple[int, ...]:
        response = self.ask(ReadRegisters(3, self.at(model, path), count))
        assert response.exception is None
        return response.registers


@pytest.fixture
def pv() -> Bench:
    return Bench("-d", "PV")


def test_the_map_starts_with_suns_and_ends_with_the_end_model(pv: Bench) -> None:
    head = pv.ask(ReadRegisters(3, BASE_ADDRESS, 4)).registers
    assert struct.pack(">2H", *head[:2]) == b"SunS"
    assert head[2:] == (1, 66)
    end = pv.device.map.end
    assert pv.ask(ReadRegisters(4, end - 2, 2)).registers == (0xFFFF, 0)
    assert list(pv.addresses) == [1, 701, 702, 703, 704, *range(705, 713), 714, 715]


@pytest.mark.parametrize(("address", "count"), [(0, 1), (39999, 2), (50000, 1)])
def test_reads_outside_the_map_get_exception_02(pv: Bench, address: int, count: int) -> None:
    assert pv.ask(ReadRegisters(3, address, count)).exception == 2
    end = pv.device.map.end
    assert pv.ask(ReadRegisters(3, end - 1, 2)).exception == 2


def test_unit_ids_1_0_and_255_are_answered_others_get_0x0b(pv: Bench) -> None:
    for unit in (1, 0, 255):
        assert pv.ask(ReadRegisters(3, BASE_ADDRESS, 2), unit).exception is None
    assert pv.ask(ReadRegisters(3, BASE_ADDRESS, 2), 7).exception == 0x0B


def test_unit_id_strict_answers_only_its_own_unit_id() -> None:
    bench = Bench("-d", "PV", quirks=Quirks(unit_id_strict=True))
    assert bench.ask(ReadRegisters(3, BASE_ADDRESS, 2), 1).exception is None
    for unit in (0, 255, 7):
        (frame,) = FrameDecoder().feed(
            encode_frame(1, unit, encode_request(ReadRegisters(3, BASE_ADDRESS, 2)))
        )
        assert bench.device.handle(frame, "peer") is None


def test_a_write_to_a_read_only_point_gets_02_and_changes_nothing(pv: Bench) -> None:
    before = pv.read(701, "W")
    assert pv.ask(WriteSingle(pv.at(701, "W"), 1234)).exception == 2
    assert pv.ask(WriteSingle(pv.at(1, "Mn"), 0x4142)).exception == 2  # part of a string
    assert pv.read(701, "W") == before


def test_half_of_a_32_bit_point_gets_02(pv: Bench) -> None:
    start = pv.at(704, "WMaxLimPctRvrtTms")
    assert pv.ask(WriteSingle(start, 0)).exception == 2
    assert pv.ask(WriteMultiple(start + 1, (0, 1))).exception == 2
    assert pv.ask(WriteMultiple(start, (0, 60))).exception is None


def test_a_write_across_a_model_boundary_gets_02(pv: Bench) -> None:
    start = pv.addresses[704] - 1
    assert pv.ask(WriteMultiple(start, (0, 704))).exception == 2


def test_wmaxlimpct_and_its_enable_curtail_through_the_controls(pv: Bench) -> None:
    """WMaxLimPct_SF is -1: 50.0 % is raw 500 (the value pysunspec2 sends)."""
    ena = pv.at(704, "WMaxLimPctEna")
    assert pv.ask(WriteSingle(ena + 1, 500)).exception is None  # held while disabled
    assert pv.controller.controls(0).active_power_limit_pct == 100.0
    assert pv.ask(WriteSingle(ena, 1)).exception is None
    assert pv.controller.controls(0).active_power_limit_pct == 50.0
    assert pv.read(704, "WMaxLimPctEna", 2) == (1, 500)
    pv.controller.update_controls(0, ControlsUpdate(active_power_limit_pct=30.0))
    assert pv.read(704, "WMaxLimPct") == (300,)  # a REST change shows in the next read


@pytest.mark.parametrize("raw", [1001, 0xFFFF])
def test_an_out_of_range_limit_gets_03_and_changes_nothing(pv: Bench, raw: int) -> None:
    ena = pv.at(704, "WMaxLimPctEna")
    assert pv.ask(WriteMultiple(ena, (1, raw))).exception == 3
    assert pv.controller.controls(0).active_power_limit_pct == 100.0
    assert pv.read(704, "WMaxLimPctEna", 2) == (0, 1000)


def test_rvrttms_arms_the_rest_reversion_timer(pv: Bench) -> None:
    ena = pv.at(704, "WMaxLimPctEna")
    tms = pv.at(704, "WMaxLimPctRvrtTms")
    assert pv.ask(WriteMultiple(tms, (0, 90))).exception is None
    assert pv.ask(WriteMultiple(ena, (1, 400))).exception is None
    assert pv.controller.controls(0).reversion == {"active_power_limit_pct": 90.0}
    assert pv.read(704, "WMaxLimPctRvrtRem", 2) == (0, 90)


def test_fc16_only_refuses_single_register_writes_with_01() -> None:
    bench = Bench("-d", "PV", quirks=Quirks(fc16_only=True))
    ena = bench.at(704, "WMaxLimPctEna")
    assert bench.ask(WriteSingle(ena, 1)).exception == 1
    assert bench.ask(WriteMultiple(ena, (1, 500))).exception is None
    assert bench.controller.controls(0).active_power_limit_pct == 50.0


def test_no_end_model_ends_the_map_after_the_last_model() -> None:
    bench = Bench("-d", "PV", quirks=Quirks(no_end_model=True))
    end = bench.device.map.end
    assert end == bench.device.map.sections[-1].end
    assert bench.ask(ReadRegisters(3, end, 1)).exception == 2
    assert bench.ask(ReadRegisters(3, end - 1, 1)).exception is None


def test_write_only_controls_hides_set_points_but_takes_writes() -> None:
    bench = Bench("-d", "PV", quirks=Quirks(write_only_controls=True))
    ena = bench.at(704, "WMaxLimPctEna")
    assert bench.ask(WriteMultiple(ena, (1, 500))).exception is None
    assert bench.controller.controls(0).active_power_limit_pct == 50.0
    assert bench.read(704, "WMaxLimPctEna", 2) == (0xFFFF, 0xFFFF)
    assert bench.read(704, "WMaxLimPct_SF") == (0xFFFF,)  # -1 as int16 reads 0xFFFF
    assert bench.read(701, "W") != (0x8000,)  # measurements still read


def test_715_opctl_stop_is_the_stop_command_and_a_refused_reset_gets_04() -> None:
    bench = Bench("-d", "Batt")
    opctl = bench.at(715, "OpCtl")
    assert bench.ask(WriteSingle(opctl, 0)).exception is None
    assert bench.controller.commands()[-1].command == "stop"
    bench.controller.inject_fault(0, "ground_fault")
    assert bench.ask(WriteSingle(bench.at(715, "AlarmReset"), 1)).exception == 4
    assert bench.controller.commands()[-1].outcome == "rejected"
    assert bench.ask(WriteSingle(opctl, 9)).exception == 3


def test_a_setpoint_on_pv_is_not_a_point_of_its_map(pv: Bench) -> None:
    """PV follows no active power setpoint (REST refuses it too): 704 WSet reads as not
    implemented and a write gets 02."""
    assert pv.read(704, "WSetEna") == (0xFFFF,)
    assert pv.ask(WriteSingle(pv.at(704, "WSetEna"), 1)).exception == 2


def test_every_write_is_logged_with_client_range_and_outcome(
    pv: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    ena = pv.at(704, "WMaxLimPctEna")
    with caplog.at_level(logging.INFO, logger="dersim_trio.Modbus"):
        pv.ask(WriteMultiple(ena, (1, 700)))
        pv.ask(WriteMultiple(ena, (1, 7000)))
        pv.ask(WriteSingle(pv.at(701, "W"), 1))
    lines = [r.getMessage() for r in caplog.records if r.name == "dersim_trio.Modbus"]
    assert len(lines) == 3
    assert f"registers {ena}-{ena + 1}" in lines[0]
    assert "127.0.0.1:5000" in lines[0]
    assert "active_power_limit_pct" in lines[0]
    assert "refused (exception 03)" in lines[1]
    assert "refused (exception 02)" in lines[2]
    assert "701.W: read-only" in lines[2]


def test_malformed_bytes_raise_for_the_shell_to_close_the_connection() -> None:
    with pytest.raises(MalformedFrame):
        FrameDecoder().feed(b"GET / HTTP/1.1\r\n\r\n")


def test_scale_factor_reads_and_the_measurement_follow_the_tick() -> None:
    # 08:00: the output rises through the morning (at noon a clear sky clips it at WMax)
    pv = Bench("-d", "PV", "--start_clock_time", "08:00:00")
    w_before = pv.read(701, "W")
    for _ in range(400):
        pv.tick()
    (w_sf,) = struct.unpack(">h", struct.pack(">H", *pv.read(701, "W_SF")))
    w = struct.unpack(">h", struct.pack(">H", *pv.read(701, "W")))[0] * 10.0**w_sf
    assert w == pytest.approx(pv.snapshots[0].metrics.power_kw * 1000.0, abs=10.0**w_sf)
    assert (w,) != w_before


def test_ena_and_adptcrvreq_in_one_write_apply_together_or_not_at_all(pv: Bench) -> None:
    """705 curve 2 with Q rising (Q3 > Q2): the adoption fails, so the enable in the same
    request does not apply either; a valid curve and the enable apply together."""
    q3 = pv.at(705, "Crv[2].Pt[3].Var")
    assert pv.ask(WriteSingle(q3, 5000)).exception is None  # +50.00 %, stored
    ena = pv.at(705, "Ena")
    assert pv.ask(WriteMultiple(ena, (1, 2))).exception == 3
    state = pv.controller.grid_support(0).volt_var
    assert (state.enabled, state.pt[2].var_pct) == (False, 0.0)
    assert pv.read(705, "AdptCrvReq", 2) == (2, 2)  # index 2, FAILED
    assert pv.ask(WriteSingle(q3, 0)).exception is None
    assert pv.ask(WriteMultiple(ena, (1, 2))).exception is None
    assert pv.controller.grid_support(0).volt_var.enabled
    assert pv.read(705, "AdptCrvReq", 2) == (2, 1)  # COMPLETED


def test_one_out_of_range_point_in_a_write_stores_none_of_it(pv: Bench) -> None:
    v1 = pv.at(705, "Crv[2].Pt[1].V")
    before = pv.read(705, "Crv[2].Pt[1].V", 4)
    assert pv.ask(WriteMultiple(v1, (9000, 5000, 13000, 0))).exception == 3  # V2 130 %
    assert pv.read(705, "Crv[2].Pt[1].V", 4) == before


def test_point_ranges_are_the_rest_fields_bounds() -> None:
    assert field_span(VoltVarPoint, "v_pct") == Span(82.0, 118.0)
    assert field_span(FreqDroopUpdate, "k_of") == Span(0.02, 0.05)
    with pytest.raises(ValueError, match="no closed range"):
        field_span(FreqDroopUpdate, "enabled")
