"""A weak grid (``--grid_scr``, ``--grid_xr``): the device's own P and Q move its voltage, and
volt-var settles where its curve meets the network line.

The expected numbers come from the documented equations only (``grid/network.py``):
|Z| = 1/SCR, R = |Z|/√(1 + (X/R)²), X = R·(X/R), V = E + (R·P + X·Q)/V; and the IEEE 1547-2018
Table 8 category B volt-var curve (Q = 0 from 0.98 to 1.02 V_nom, −44 % of S at 1.08).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import pytest

from dersim_trio.engine.core import Engine
from dersim_trio.errors import ConfigError
from dersim_trio.grid.network import Thevenin
from dersim_trio.service.build import build_engine
from dersim_trio.setup.config import parse_args

START = datetime.fromisoformat("2026-06-21T12:00:00+00:00")


def engine(*flags: str, irradiance: float = 1000.0) -> Engine:
    eng = build_engine(parse_args(["--start_clock_time", "12:00:00", *flags]), START)
    for slot in eng.devices:
        slot.inputs.irradiance_w_m2 = irradiance
        slot.inputs.irradiance_is_poa = True  # the array's own plane: P holds still
        slot.inputs.ambient_temperature_c = 25.0
    eng.initial()
    return eng


def test_the_impedance_follows_scr_and_x_over_r() -> None:
    net = Thevenin(scr=4.0, xr=3.0)
    assert math.hypot(net.r_pu, net.x_pu) == pytest.approx(0.25)
    assert net.x_pu / net.r_pu == pytest.approx(3.0)
    v = net.terminal_pu(1.0, 0.8, -0.3)
    assert v == pytest.approx(1.0 + (net.r_pu * 0.8 + net.x_pu * -0.3) / v)
    assert net.terminal_pu(1.0, 0.0, -100.0) == pytest.approx(0.5)  # beyond the nose: E/2


def test_the_grid_is_stiff_by_default() -> None:
    eng = engine("-d", "PV-3Phase")
    snap = eng.step()[0]
    assert eng.devices[0].network is None
    assert snap.metrics.voltage_ln_v == pytest.approx(eng.devices[0].voltage_ln_nominal_v)


def test_injected_active_power_raises_the_terminal_voltage() -> None:
    eng = engine("-d", "PV-3Phase", "--grid_scr", "5", "--grid_xr", "2")
    for _ in range(5):
        snap = eng.step()[0]
    slot = eng.devices[0]
    s = slot.model.rating.va_max_kva
    p = snap.metrics.power_kw / s
    net = Thevenin(5.0, 2.0)
    expected = net.terminal_pu(1.0, p, 0.0)
    assert expected > 1.0 + 0.5 * net.r_pu * p
    assert snap.metrics.voltage_ln_v / slot.voltage_ln_nominal_v == pytest.approx(expected, 1e-12)


def _curve_q_kvar(v: float, q_abs_kvar: float) -> float:
    """Table 8 category B with the reactive power in % of the var rating (``VAR_MAX_PCT``; the
    default PV's ``VarMaxAbsRtg`` is below 0.44·S, so its −44 % of S is −100 % of the rating):
    0 in the dead band up to 1.02, −100 % at 1.08 and beyond."""
    if v <= 1.02:
        return 0.0
    return -q_abs_kvar * min(1.0, (v - 1.02) / 0.06)


def test_volt_var_settles_where_its_curve_meets_the_network() -> None:
    scr, xr = 4.0, 3.0
    eng = engine("-d", "PV-3Phase", "--grid_scr", str(scr), "--grid_xr", str(xr), irradiance=500)
    slot = eng.devices[0]
    gs = slot.supervisor.grid
    assert gs is not None
    gs.settings = dataclasses.replace(
        gs.settings, volt_var=dataclasses.replace(gs.settings.volt_var, enabled=True)
    )
    for _ in range(80):  # 120 s: 24 volt-var response times of 5 s
        snap = eng.step()[0]
    rating = slot.model.rating
    s = rating.va_max_kva
    q_abs = rating.var_max_abs_kvar
    p = snap.metrics.power_kw / s
    net = Thevenin(scr, xr)
    lo, hi = 0.5, 1.5  # the intersection, by bisection on the documented equations
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if net.terminal_pu(1.0, p, _curve_q_kvar(mid, q_abs) / s) > mid:
            lo = mid
        else:
            hi = mid
    v_star = 0.5 * (lo + hi)
    v = snap.metrics.voltage_ln_v / slot.voltage_ln_nominal_v
    q = snap.metrics.reactive_power_kvar
    assert 1.02 < v_star < 1.08  # on the sloped part, not in the dead band or at the limit
    assert v == pytest.approx(v_star, abs=1e-4)
    assert q == pytest.approx(_curve_q_kvar(v_star, q_abs), abs=0.01 * q_abs)
    assert v < net.terminal_pu(1.0, p, 0.0)  # absorbing vars pulled the voltage down


def test_the_weak_grid_flags_are_checked() -> None:
    with pytest.raises(ConfigError, match="--grid_xr: applies to a weak grid"):
        parse_args(["--grid_xr", "3"])
    with pytest.raises(ConfigError, match="--grid_scr"):
        parse_args(["--grid_scr", "0.5"])
    with pytest.raises(ConfigError, match="--grid_xr"):
        parse_args(["--grid_scr", "3", "--grid_xr", "-1"])
    config = parse_args(["--grid_scr", "3"])
    assert (config.grid_scr, config.grid_xr) == (3.0, 3.0)
