"""The AC relations at the point of connection (``physics.ac``): the module's equations and
its worked examples (physics reference B.6), for one device and for a tick's columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dersim_trio.physics.ac import (
    AcConnections,
    measure,
    measure_columns,
    nominal_voltage_ln_v,
)


def test_the_reference_examples() -> None:
    """Physics reference B.6: 100 kVA at 480 V three-phase gives 120.3 A; 10 kVA at 240 V
    split-phase gives 41.7 A."""
    three = measure("three", 100.0, 0.0, nominal_voltage_ln_v("three"), 1.0, 60.0)
    assert three.voltage_ll_v == pytest.approx(480.0)
    assert three.current_a == pytest.approx(120.3, abs=0.05)
    split = measure("split", 6.0, 8.0, nominal_voltage_ln_v("split"), 1.0, 60.0)
    assert split.voltage_ll_v == pytest.approx(240.0)
    assert split.apparent_power_kva == pytest.approx(10.0)
    assert split.current_a == pytest.approx(41.7, abs=0.05)
    single = measure("single", 2.3, 0.0, nominal_voltage_ln_v("single"), 1.0, 50.0)
    assert single.voltage_ll_v == single.voltage_ln_v == pytest.approx(230.0)
    assert single.current_a == pytest.approx(10.0)
    assert single.frequency_hz == 50.0


@pytest.mark.parametrize(
    ("p", "q", "pf", "angle"),
    [
        (6.0, 8.0, 0.6, 53.130102354),
        (-6.0, 8.0, -0.6, 126.869897646),  # absorbing, over-excited: PF carries P's sign
        (6.0, -8.0, 0.6, -53.130102354),
        (0.0, 0.0, 1.0, 0.0),  # S = 0: PF 1
        (0.0, 5.0, 0.0, 90.0),
    ],
)
def test_power_factor_and_angle_follow_the_signs(
    p: float, q: float, pf: float, angle: float
) -> None:
    m = measure("three", p, q, nominal_voltage_ln_v("three"), 1.0, 60.0)
    assert m.power_factor == pytest.approx(pf)
    assert m.angle_deg == pytest.approx(angle)
    assert m.apparent_power_kva == pytest.approx(math.hypot(p, q))


def test_columns_are_each_devices_measurement() -> None:
    """A tick's columns (mixed connection types, voltages, a dead bus) equal each device's
    ``measure`` and the module's equations written out."""
    rng = np.random.default_rng(7)
    types = ["three", "split", "single"] * 40
    v_nom = [nominal_voltage_ln_v(t) * rng.uniform(0.9, 1.1) for t in types]
    p = rng.uniform(-50.0, 50.0, len(types))
    q = rng.uniform(-30.0, 30.0, len(types))
    v_pu = rng.uniform(0.5, 1.2, len(types))
    v_pu[5] = 0.0  # no voltage: no current
    p[7] = q[7] = 0.0
    cols = measure_columns(AcConnections.of(types, v_nom), p, q, v_pu)
    for i, t in enumerate(types):
        one = measure(t, float(p[i]), float(q[i]), v_nom[i], float(v_pu[i]), 60.0)
        assert cols.apparent_power_kva[i] == one.apparent_power_kva
        assert cols.current_a[i] == one.current_a
        s = math.hypot(p[i], q[i])
        v_ll = {"three": math.sqrt(3.0), "split": 2.0, "single": 1.0}[t] * v_nom[i] * v_pu[i]
        expected_i = (
            0.0 if v_ll <= 0 else s * 1000.0 / ((math.sqrt(3.0) if t == "three" else 1.0) * v_ll)
        )
        assert cols.current_a[i] == pytest.approx(expected_i, rel=1e-12, abs=0.0)
        assert cols.voltage_ll_v[i] == pytest.approx(v_ll, rel=1e-12)
        assert cols.power_factor[i] == pytest.approx(1.0 if s == 0 else p[i] / s, rel=1e-12)
        assert cols.angle_deg[i] == pytest.approx(math.degrees(math.atan2(q[i], p[i])), rel=1e-12)
    assert cols.current_a[5] == 0.0
    assert cols.power_factor[7] == 1.0
