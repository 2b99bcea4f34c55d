"""The grid support against OpenDER 2.2.0 (EPRI's IEEE 1547-2018 behaviour model) as the oracle.

Both sides get the same nameplate (a 10 kVA / 10 kW single-phase PV inverter, 240 V, var
ratings 4.4 kvar, current limit 1.0 pu), the same settings and the same grid sequence at a
1.5 s step, and the tests compare (tolerances from the issue, the standard's from IEEE 1547.1
§4.2 / SVP ``p1547.py``):

* steady-state P and Q within 1 % of the rating, per function and category;
* the time to 90 % of a step within one tick of OpenDER's;
* trip, momentary-cessation and re-entry times within the standard's tolerance.

The operating points are those of the IEEE 1547.1-2020 procedures: constant PF (§5.14.3),
volt-var with and without V_ref (§5.14.4), watt-var (§5.14.6), constant Q (§5.14.7), volt-watt
(§5.14.9), frequency droop (§5.15), enter service (§5.6, after a trip and after the operator's
permit service), voltage and frequency trip (§5.4, §5.5), voltage ride-through (§6.4); the
procedures' whole step sequences are played in ``test_procedures``.

Known divergences, where these tests follow the standard instead of OpenDER:

* **Timers**: OpenDER counts whole steps (``ConditionalDelay`` adds ``t_s``), so at 1.5 s it
  trips after ⌈T/1.5⌉ steps; the project trips within 10 ms of T. The tests check our trip time
  against T (±20 ms) and that both land in the same tick.
* **Filter**: OpenDER's low-pass filter is bilinear (Tustin, τ = OLRT/2.3), ours the exact
  exponential (τ = OLRT/ln 10): per-sample values differ by up to ~24 % of a step on the first
  sample, so only the 90 % time (±1 tick) and the steady state are compared.
* **Capability warning**: OpenDER's ``der_q_capability_validity_check`` checks category A
  absorption against 44 % and B against 25 %, swapped from Table 7; it only logs, so no test
  depends on it, and our defaults follow Table 7 (A 25 %, B 44 %).
* **Traps of the oracle**: ``DER.t_s`` is a process-global class attribute (the ``oracle``
  fixture sets it and puts it back); its frequency functions and ride-through thresholds are
  for 60 Hz (ours too: ``freq_droop.NOMINAL_FREQUENCY_HZ``); its condition timers start at
  infinity, so every sequence starts with nominal steps; category keyword arguments go first;
  its current limit defaults to 1.2 pu (set to 1.0 here); droop is on by default (off unless the
  test is about frequency).
* Not compared (OpenDER is no oracle there): reactive mode transitions (it ramps from about
  0 var over 15 s), AP limit + volt-watt during enter service (it skips the ramp).
"""

from __future__ import annotations

import dataclasses

import pytest
from opender_pair import (
    DT,
    RATING,
    TOL_W,
    constant_pf_pair,
    make_oracle,
    ours_with,
    run_both,
    settle,
    t90,
)

from dersim_trio.grid.active_power_limit import ActivePowerLimitSettings
from dersim_trio.grid.constant_pf import ConstantPfSettings
from dersim_trio.grid.constant_q import ConstantQSettings
from dersim_trio.grid.enter_service import EnterServiceSettings
from dersim_trio.grid.freq_droop import FreqDroopSettings
from dersim_trio.grid.settings import category_defaults
from dersim_trio.grid.trip import GridSample
from dersim_trio.grid.volt_watt import VoltWattSettings

# --- steady state, per function and category -----------------------------------------------


@pytest.mark.parametrize("normal", ["A", "B"])
@pytest.mark.parametrize("v", [0.90, 0.93, 0.97, 1.0, 1.01, 1.04, 1.07, 1.09])
@pytest.mark.usefixtures("oracle")
def test_volt_var_steady_state_matches_opender(normal: str, v: float) -> None:
    base = category_defaults(normal, "III", RATING)  # type: ignore[arg-type]
    ours = ours_with(normal, "III", volt_var=dataclasses.replace(base.volt_var, enabled=True))
    der = make_oracle(normal, "III", QV_MODE_ENABLE=True)
    a, b = run_both(ours, der, settle(v))
    assert a[-1][1] == pytest.approx(b[-1][1], abs=TOL_W)
    assert a[-1][0] == pytest.approx(b[-1][0], abs=TOL_W)


@pytest.mark.parametrize("p_avail", [500.0, 1_500.0, 3_000.0, 6_000.0, 8_000.0, 10_000.0])
@pytest.mark.parametrize("normal", ["A", "B"])
@pytest.mark.usefixtures("oracle")
def test_watt_var_steady_state_matches_opender(normal: str, p_avail: float) -> None:
    base = category_defaults(normal, "III", RATING)  # type: ignore[arg-type]
    ours = ours_with(normal, "III", watt_var=dataclasses.replace(base.watt_var, enabled=True))
    der = make_oracle(normal, "III", QP_MODE_ENABLE=True)
    a, b = run_both(ours, der, settle(1.0, p=p_avail))
    assert a[-1][0] == pytest.approx(b[-1][0], abs=TOL_W)
    assert a[-1][1] == pytest.approx(b[-1][1], abs=TOL_W)


@pytest.mark.parametrize(
    ("pf", "ext"), [(0.9, "over"), (0.9, "under"), (0.95, "under"), (1.0, "over")]
)
@pytest.mark.parametrize("p_avail", [1_000.0, 5_000.0, 10_000.0])
@pytest.mark.usefixtures("oracle")
def test_constant_pf_steady_state_matches_opender(pf: float, ext: str, p_avail: float) -> None:
    ours, der = constant_pf_pair(pf, ext)
    a, b = run_both(ours, der, settle(1.0, p=p_avail))
    assert a[-1][0] == pytest.approx(b[-1][0], abs=TOL_W)
    assert a[-1][1] == pytest.approx(b[-1][1], abs=TOL_W)


@pytest.mark.parametrize("var_pct", [-100.0, -50.0, 30.0, 100.0])
@pytest.mark.parametrize("p_avail", [3_000.0, 10_000.0])
@pytest.mark.usefixtures("oracle")
def test_constant_q_steady_state_matches_opender(var_pct: float, p_avail: float) -> None:
    ours = ours_with("B", "III", constant_q=ConstantQSettings(enabled=True, var_set_pct=var_pct))
    der = make_oracle("B", "III", CONST_Q_MODE_ENABLE=True, CONST_Q=var_pct / 100 * 0.44)
    a, b = run_both(ours, der, settle(1.0, p=p_avail))
    assert a[-1][0] == pytest.approx(b[-1][0], abs=TOL_W)
    assert a[-1][1] == pytest.approx(b[-1][1], abs=TOL_W)


@pytest.mark.parametrize("v", [1.0, 1.06, 1.07, 1.08, 1.09, 1.095])
@pytest.mark.usefixtures("oracle")
def test_volt_watt_steady_state_matches_opender(v: float) -> None:
    ours = ours_with("B", "III", volt_watt=VoltWattSettings(enabled=True))
    der = make_oracle("B", "III", PV_MODE_ENABLE=True, PV_CURVE_P2=0)
    a, b = run_both(ours, der, settle(v))
    assert a[-1][0] == pytest.approx(b[-1][0], abs=TOL_W)


@pytest.mark.parametrize("abnormal", ["I", "II", "III"])
@pytest.mark.parametrize(
    ("f", "p_avail", "limit_pct"),
    [
        (60.2, 10_000.0, 100.0),
        (60.5, 10_000.0, 100.0),
        (61.0, 6_000.0, 100.0),
        (59.8, 10_000.0, 50.0),
        (59.5, 10_000.0, 50.0),
        (59.0, 8_000.0, 60.0),
    ],
)
@pytest.mark.usefixtures("oracle")
def test_frequency_droop_steady_state_matches_opender(
    abnormal: str, f: float, p_avail: float, limit_pct: float
) -> None:
    """Over-frequency curtails; under-frequency raises a unit curtailed by its limit (headroom)."""
    limited = limit_pct < 100.0
    ours = ours_with(
        "B",
        abnormal,
        freq_droop=FreqDroopSettings(),
        active_power_limit=ActivePowerLimitSettings(enabled=limited, w_max_lim_pct=limit_pct),
    )
    der = make_oracle(
        "B", abnormal, PF_MODE_ENABLE=True, AP_LIMIT_ENABLE=limited, AP_LIMIT=limit_pct / 100
    )
    sequence = [(1.0, 60.0, p_avail)] * 20 + [(1.0, f, p_avail)] * 40
    a, b = run_both(ours, der, sequence)
    assert a[19][0] == pytest.approx(b[19][0], abs=TOL_W)  # the pre-disturbance power
    assert a[-1][0] == pytest.approx(b[-1][0], abs=TOL_W)


# --- dynamics: the time to 90 % of a step ------------------------------------------------------


@pytest.mark.parametrize("normal", ["A", "B"])
@pytest.mark.usefixtures("oracle")
def test_volt_var_reaches_90_percent_within_a_tick_of_opender(normal: str) -> None:
    """IEEE 1547.1 §5.14.4: a step from V_ref to V_L... here 1.00 → 1.06 pu."""
    base = category_defaults(normal, "III", RATING)  # type: ignore[arg-type]
    ours = ours_with(normal, "III", volt_var=dataclasses.replace(base.volt_var, enabled=True))
    der = make_oracle(normal, "III", QV_MODE_ENABLE=True)
    a, b = run_both(ours, der, settle(1.06, n=30))
    qa, qb = [q for _, q in a], [q for _, q in b]
    assert abs(t90(qa, 2) - t90(qb, 2)) <= 1
    assert (t90(qa, 2) - 1) * DT <= base.volt_var.rsp_tms_s + DT  # 90 % after ≈ OLRT


@pytest.mark.usefixtures("oracle")
def test_volt_watt_reaches_90_percent_within_a_tick_of_opender() -> None:
    ours = ours_with("B", "III", volt_watt=VoltWattSettings(enabled=True))
    der = make_oracle("B", "III", PV_MODE_ENABLE=True, PV_CURVE_P2=0)
    a, b = run_both(ours, der, settle(1.08, n=30))
    pa, pb = [p for p, _ in a], [p for p, _ in b]
    assert abs(t90(pa, 2) - t90(pb, 2)) <= 1


@pytest.mark.usefixtures("oracle")
def test_frequency_droop_reaches_90_percent_within_a_tick_of_opender() -> None:
    ours = ours_with("B", "III", freq_droop=FreqDroopSettings())
    der = make_oracle("B", "III", PF_MODE_ENABLE=True)
    a, b = run_both(ours, der, settle(1.0, f=60.6, n=30))
    pa, pb = [p for p, _ in a], [p for p, _ in b]
    assert abs(t90(pa, 2) - t90(pb, 2)) <= 1


@pytest.mark.usefixtures("oracle")
def test_constant_pf_reaches_90_percent_within_a_tick_of_opender() -> None:
    """IEEE 1547.1 §5.14.3: enable PF 0.9 absorbing at full power."""
    ours = ours_with("B", "III")
    der = make_oracle("B", "III")
    sequence = [(1.0, 60.0, 10_000.0)] * 4
    a, b = run_both(ours, der, sequence)
    ours.unit.settings = dataclasses.replace(
        ours.unit.settings,
        constant_pf=ConstantPfSettings(enabled=True, pf_w_inj=0.9, pf_w_inj_ext="under"),
    )
    der.der_file.CONST_PF_MODE_ENABLE = True
    der.der_file.CONST_PF = 0.9
    der.der_file.CONST_PF_EXCITATION = "ABS"
    a2, b2 = run_both(ours, der, [(1.0, 60.0, 10_000.0)] * 30)
    qa, qb = [q for _, q in a + a2], [q for _, q in b + b2]
    assert qa[-1] == pytest.approx(qb[-1], abs=TOL_W)
    # OpenDER ramps a mode change over NP_MODE_TRANSITION_TIME (15 s) from about 0 var; the
    # standard leaves the transition to the manufacturer, ours uses the mode's 5 s response.
    assert t90(qa, 4) <= t90(qb, 4)


# --- trips, momentary cessation, re-entry ---------------------------------------------------


@pytest.mark.parametrize("abnormal", ["I", "II", "III"])
@pytest.mark.parametrize(
    ("v", "f", "cause"),
    [
        (1.25, 60.0, "OV2"),
        (1.15, 60.0, "OV1"),
        (0.80, 60.0, "UV1"),
        (0.40, 60.0, "UV2"),
        (1.0, 62.5, "OF2"),
        (1.0, 61.5, "OF1"),
        (1.0, 58.0, "UF1"),
        (1.0, 56.0, "UF2"),
    ],
)
@pytest.mark.usefixtures("oracle")
def test_trip_tick_matches_opender_and_time_matches_the_setting(
    abnormal: str, v: float, f: float, cause: str
) -> None:
    """IEEE 1547.1 §5.4/§5.5: a step beyond one threshold; the unit trips after its time."""
    ours = ours_with("B", abnormal)
    der = make_oracle("B", abnormal, ES_DELAY=300)
    trip = ours.unit.settings.trip
    curves = {"UV": trip.lv, "OV": trip.hv, "UF": trip.lf, "OF": trip.hf}
    point = curves[cause[:2]].must_trip[int(cause[2]) - 1]
    if cause == "UV1" and abnormal != "III":
        v = 0.65  # categories I and II set UV1 at 0.70 pu
    n = int(point.tms_s / DT) + 3
    a, b = run_both(ours, der, [(1.0, 60.0, 10_000.0)] * 2 + [(v, f, 10_000.0)] * n)
    statuses_ours = ours.unit.last_trip
    assert statuses_ours is not None
    assert statuses_ours.cause.startswith(cause[:2])
    trip_time = statuses_ours.time_s - 2 * DT
    expected = min(
        p.tms_s for p in curves[cause[:2]].must_trip if _beyond(cause[:2], p.threshold, v, f)
    )
    assert abs(trip_time - expected) <= 0.02  # within 20 ms of the clearing time
    assert der.der_status == "Trip"
    # the tick from which the output stays at 0 (momentary cessation may zero it earlier)
    ours_tick = next(i for i in range(2, len(a)) if all(p == 0.0 for p, _ in a[i:]))
    der_tick = next(i for i in range(2, len(b)) if all(p == 0.0 for p, _ in b[i:]))
    assert abs(ours_tick - der_tick) <= 1


def _beyond(kind: str, threshold: float, v: float, f: float) -> bool:
    return {
        "UV": v * 100 < threshold,
        "OV": v * 100 > threshold,
        "UF": f < threshold,
        "OF": f > threshold,
    }[kind]


@pytest.mark.usefixtures("oracle")
def test_momentary_cessation_and_restore_match_opender() -> None:
    """Category III: below 0.50 pu the unit ceases to energize without tripping (1 s < UV2 2 s)
    and restores when the voltage returns (IEEE 1547.1 §6.4 LVRT; IEEE 1547-2018 §6.4.2)."""
    ours = ours_with("B", "III")
    der = make_oracle("B", "III")
    sequence = [(1.0, 60.0, 10_000.0)] * 3 + [(0.3, 60.0, 10_000.0)] + [(1.0, 60.0, 10_000.0)] * 3
    a, b = run_both(ours, der, sequence)
    assert [round(p) for p, _ in a] == [round(p) for p, _ in b]
    assert a[3] == (0.0, 0.0)
    assert ours.unit.last_trip is None


@pytest.mark.usefixtures("oracle")
def test_mandatory_operation_at_low_voltage_is_current_limited_like_opender() -> None:
    """Category III, 0.60 pu for 6 s (mandatory operation, §6.4.2): P shrinks to 0.6 of S."""
    ours = ours_with("B", "III")
    der = make_oracle("B", "III")
    sequence = (
        [(1.0, 60.0, 10_000.0)] * 3 + [(0.6, 60.0, 10_000.0)] * 4 + [(1.0, 60.0, 10_000.0)] * 2
    )
    a, b = run_both(ours, der, sequence)
    for (pa, qa), (pb, qb) in zip(a, b, strict=True):
        assert pa == pytest.approx(pb, abs=TOL_W)
        assert qa == pytest.approx(qb, abs=TOL_W)
    assert a[4][0] == pytest.approx(6_000.0)
    assert ours.unit.state == "continuous"


@pytest.mark.parametrize(("delay", "ramp"), [(300.0, 300.0), (60.0, 30.0)])
@pytest.mark.usefixtures("oracle")
def test_reentry_after_a_trip_matches_opender(delay: float, ramp: float) -> None:
    """IEEE 1547.1 §5.6: after a trip the unit waits the delay in the window, then ramps."""
    ours = ours_with(
        "B", "III", enter_service=EnterServiceSettings(es_dly_tms_s=delay, es_rmp_tms_s=ramp)
    )
    der = make_oracle("B", "III", ES_DELAY=delay, ES_RAMP_RATE=ramp)
    n = int((delay + ramp) / DT) + 20
    sequence = [(1.0, 60.0, 10_000.0)] * 2 + [(1.25, 60.0, 10_000.0)] + [(1.0, 60.0, 10_000.0)] * n
    a, b = run_both(ours, der, sequence)
    first_a = next(i for i in range(3, len(a)) if a[i][0] > 0.0)
    first_b = next(i for i in range(3, len(b)) if b[i][0] > 0.0)
    full_a = next(i for i in range(3, len(a)) if a[i][0] >= 9_990.0)
    full_b = next(i for i in range(3, len(b)) if b[i][0] >= 9_990.0)
    tolerance = max(1, round(0.01 * (delay + ramp) / DT))  # 1547.1 time accuracy: 1 %
    assert abs(first_a - first_b) <= tolerance
    assert abs(full_a - full_b) <= tolerance
    assert (first_a - 3) * DT == pytest.approx(delay, abs=DT)


@pytest.mark.parametrize(("delay", "ramp"), [(300.0, 300.0), (60.0, 30.0)])
@pytest.mark.usefixtures("oracle")
def test_operator_enter_service_matches_opender_permit_service(delay: float, ramp: float) -> None:
    """IEEE 1547-2018 §4.10 / SunSpec 703 ``ES``: permit service off ceases to energize; back
    on, the unit waits the delay in the window, then ramps, as after a trip. OpenDER models the
    operator's permit as ``ES_PERMIT_SERVICE`` (its Eq 3.5.1-1 and 3.5.1-7); ours goes through
    the supervisor's ``enter_service``, which drives the same ``GridSupport`` as here."""
    ours = ours_with(
        "B", "III", enter_service=EnterServiceSettings(es_dly_tms_s=delay, es_rmp_tms_s=ramp)
    )
    der = make_oracle("B", "III", ES_DELAY=delay, ES_RAMP_RATE=ramp)
    n = int((delay + ramp) / DT) + 20
    a: list[float] = []
    b: list[float] = []
    sample = GridSample(1.0, 1.0, 60.0)
    service = "in_service"
    for i in range(3 + n):
        if i == 2:  # cease_to_energize, then at once enter_service
            der.der_file.ES_PERMIT_SERVICE = False
        if i == 3:
            der.der_file.ES_PERMIT_SERVICE = True
            ours.unit.start_entering()
            service = "entering_service"
        if service == "entering_service" and ours.unit.advance_entering(sample, DT, True):
            service = "in_service"
        if service == "in_service" and i != 2:
            a.append(ours.step(1.0, 60.0, 10_000.0)[0])
        else:  # not energized: the supervisor does not run the grid functions
            ours.t += DT
            ours.p_kw = 0.0
            a.append(0.0)
        der.update_der_input(v_pu=1.0, f=60.0, theta=0, p_dc_w=10_000.0)
        b.append(float(der.run()[0]))
    assert a[2] == 0.0
    assert b[2] == 0.0
    first_a = next(i for i in range(3, len(a)) if a[i] > 0.0)
    first_b = next(i for i in range(3, len(b)) if b[i] > 0.0)
    full_a = next(i for i in range(3, len(a)) if a[i] >= 9_990.0)
    full_b = next(i for i in range(3, len(b)) if b[i] >= 9_990.0)
    tolerance = max(1, round(0.01 * (delay + ramp) / DT))  # 1547.1 time accuracy: 1 %
    assert abs(first_a - first_b) <= tolerance
    assert abs(full_a - full_b) <= tolerance
    mid = (first_a + full_a) // 2
    assert a[mid] == pytest.approx(b[mid], abs=max(TOL_W, 10_000.0 * DT / ramp))


@pytest.mark.usefixtures("oracle")
def test_volt_var_with_autonomous_v_ref_matches_opender() -> None:
    """IEEE 1547.1 §5.14.5: V held at 1.03 pu; V_ref follows it (τ = 300 s) and Q returns to 0."""
    base = category_defaults("B", "III", RATING)
    vv = dataclasses.replace(base.volt_var, enabled=True, v_ref_auto_ena=True)
    ours = ours_with("B", "III", volt_var=vv)
    der = make_oracle("B", "III", QV_MODE_ENABLE=True, QV_VREF_AUTO_MODE=True, QV_VREF_TIME=300)
    a, b = run_both(ours, der, settle(1.03, n=1600))
    for i in (10, 200, 400, 800, 1600):
        assert a[i][1] == pytest.approx(b[i][1], abs=TOL_W), i
    assert abs(a[-1][1]) < TOL_W
