"""Voltage and frequency ride-through regions (IEEE 1547-2018 §6.4.2 voltage, §6.5.2
frequency).

The region tells what the unit must do while the grid is abnormal (trips are ``trip``'s job):

* ``continuous``: normal operation, every function in force;
* ``mandatory``: keep exchanging current (mandatory operation);
* ``permissive``: may keep exchanging current or cease to energize; this model keeps operating
  ("may ride through or may trip" regions report ``permissive`` as well);
* ``momentary_cessation``: cease to energize (P = Q = 0) without tripping, and restore output
  when the voltage comes back (within 0.4 s, §6.4.2; here at the first sub-step or tick back
  inside). Category III has it below 0.50 pu and above 1.10 pu (§6.4.2, thresholds
  ``trip.lv.mom_cess_v_pct``/``trip.hv.mom_cess_v_pct``); the "cease to energize" regions of
  categories I and II (§6.4.2) are reported the same way. With a category III
  threshold removed (``null``) the region it covered becomes mandatory operation (OpenDER
  ``rt_crit.py`` with ``MC_ENABLE`` off).

Voltage regions by abnormal category (pu of V_nom; the lowest phase decides below nominal, the
highest above):

=========  ===========================  ==========================  ===========================
category   below 0.88                   0.88..1.10                  above 1.10
=========  ===========================  ==========================  ===========================
I          ≥0.70 mandatory; ≥0.50       continuous                  ≤1.20 permissive; else
           permissive; else cease                                   cease
II         ≥0.65 mandatory; ≥0.30       continuous                  ≤1.20 permissive; else
           permissive; else cease                                   cease
III        ≥0.50 mandatory; else        continuous                  momentary cessation
           momentary cessation
=========  ===========================  ==========================  ===========================

Frequency (§6.5.2, every category, as OpenDER ``rt_crit.py``): 58.8..61.2 Hz continuous;
57.0..58.8 and 61.2..61.8 Hz mandatory; beyond, permissive. The voltage region wins over the
frequency one unless the voltage is continuous.
"""

from __future__ import annotations

from typing import Literal

from dersim_trio.grid.trip import GridSample, TripSettings

AbnormalCategory = Literal["I", "II", "III"]
Region = Literal["continuous", "mandatory", "permissive", "momentary_cessation"]

_LV_MANDATORY_PU: dict[AbnormalCategory, float] = {"I": 0.70, "II": 0.65, "III": 0.50}
_LV_CEASE_PU: dict[AbnormalCategory, float] = {"I": 0.50, "II": 0.30, "III": 0.0}
CONTINUOUS_V_PU = (0.88, 1.10)
CONTINUOUS_F_HZ = (58.8, 61.2)
MANDATORY_F_HZ = (57.0, 61.8)


def voltage_region(
    category: AbnormalCategory, trip: TripSettings, v_lo_pu: float, v_hi_pu: float
) -> Region:
    """The voltage ride-through region for the lowest and highest phase voltages."""
    lv_mc = trip.lv.mom_cess_v_pct
    hv_mc = trip.hv.mom_cess_v_pct
    if lv_mc is not None and v_lo_pu <= lv_mc / 100.0:
        return "momentary_cessation"
    if hv_mc is not None and v_hi_pu >= hv_mc / 100.0 and v_hi_pu > CONTINUOUS_V_PU[1]:
        return "momentary_cessation"
    region: Region = "continuous"
    if v_hi_pu > CONTINUOUS_V_PU[1]:
        if category == "III":
            region = "mandatory"
        elif v_hi_pu > 1.20:
            return "momentary_cessation"
        else:
            region = "permissive"
    if v_lo_pu < CONTINUOUS_V_PU[0]:
        if v_lo_pu >= _LV_MANDATORY_PU[category]:
            return "mandatory" if region == "continuous" else region
        if category == "III":
            return "mandatory"
        if v_lo_pu >= _LV_CEASE_PU[category]:
            return "permissive"
        return "momentary_cessation"
    return region


def frequency_region(f_hz: float) -> Region:
    """The frequency ride-through region."""
    if CONTINUOUS_F_HZ[0] <= f_hz <= CONTINUOUS_F_HZ[1]:
        return "continuous"
    if MANDATORY_F_HZ[0] <= f_hz <= MANDATORY_F_HZ[1]:
        return "mandatory"
    return "permissive"


def region(category: AbnormalCategory, trip: TripSettings, sample: GridSample) -> Region:
    """The combined region: the voltage's, unless that is continuous."""
    v = voltage_region(category, trip, sample.v_lo_pu, sample.v_hi_pu)
    return v if v != "continuous" else frequency_region(sample.f_hz)
