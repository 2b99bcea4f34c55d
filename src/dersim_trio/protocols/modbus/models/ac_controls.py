"""SunSpec model 704 (DER AC Controls) on the operator's controls (``GET/PUT .../controls``).

Every write becomes one ``ControlsUpdate`` through ``Controller.update_controls``, the call
behind ``PUT /api/dersim/devices/{i}/controls``, so Modbus and REST share one validation (a
refused write gets exception 03 and changes nothing) and one state (a REST change reads back at
the next Modbus read):

* ``WMaxLimPctEna`` + ``WMaxLimPct`` → ``active_power_limit_pct`` (disabled: null, 100 %; a
  limit of 100 % is no limit, and reads as disabled);
* ``WSetEna`` + ``WSetMod`` + ``WSet``/``WSetPct`` → ``active_power_setpoint_kw`` (WATTS: W;
  W_MAX_PCT: % of ``WMaxRtg``); only devices that follow a setpoint (storage, fuel cell,
  hybrid with manual dispatch, EVSE) have these points;
* ``VarSetEna`` + ``VarSetMod`` + ``VarSet``/``VarSetPct`` → ``reactive_power_setpoint_kvar``
  (VARS: var; W_MAX_PCT, VAR_MAX_PCT, VA_MAX_PCT: % of ``WMaxRtg``, of ``VarMaxInjRtg`` or
  ``VarMaxAbsRtg`` by the sign, of ``VAMaxRtg``; VAR_AVAL_PCT is refused);
* ``VarSetPri`` → ``p_q_priority`` (ACTIVE, REACTIVE; VENDOR is refused);
* ``PFWInjEna`` + ``PFWInj.PF`` + ``PFWInj.Ext`` → ``power_factor`` + ``excitation``. The
  simulator applies one fixed power factor whatever the direction of active power, so the
  absorbing-side points (``PFWAbs*``) are not implemented;
* ``WRmp`` → ``ramp_rate_pct_per_s`` (whole %/s; 0 reads and writes "no ramp limit");
  ``WRmpRef`` is W_MAX;
* ``*RvrtTms`` (seconds) behave as the REST ``revert_after_s``: written with its control (or
  while the control is enabled) it arms the control's reversion timer, 0 disarms it (the value
  stays); ``*RvrtRem`` is the time left. The reversion targets (``*EnaRvrt`` DISABLED,
  ``WMaxLimPctRvrt`` 100 %) are the controls' defaults and read-only. REST's one
  ``revert_after_s`` per body means one write can arm one reversion time: a write that would
  arm different times for two controls gets exception 03.

A control's value registers hold what a client wrote while the control is disabled (as a device
register does, so ``WMaxLimPct`` then ``WMaxLimPctEna`` in two writes works); enabled, they read
the control in force. Those held values and the ``*RvrtTms`` settings are the only state kept
here, all of it register content that has no effect until a control is enabled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from dersim_trio.api.controls import MAX_REVERT_S, ControlsState, ControlsUpdate
from dersim_trio.errors import RequestRejected, validation_problems
from dersim_trio.protocols.modbus.codec import ExceptionCode
from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values, WriteRefused

_SYMBOLS = {s.path: s.point.symbols for s in layout_model(704).points if s.point.symbols}
DISABLED = _SYMBOLS["WMaxLimPctEna"]["DISABLED"]
ENABLED = _SYMBOLS["WMaxLimPctEna"]["ENABLED"]
WSET_WATTS = _SYMBOLS["WSetMod"]["WATTS"]
WSET_PCT = _SYMBOLS["WSetMod"]["W_MAX_PCT"]
VARSET_MODES = _SYMBOLS["VarSetMod"]
EXCITATION = {
    _SYMBOLS["PFWInj.Ext"]["OVER_EXCITED"]: "over",
    _SYMBOLS["PFWInj.Ext"]["UNDER_EXCITED"]: "under",
}
PRIORITY = {
    _SYMBOLS["VarSetPri"]["ACTIVE"]: "active",
    _SYMBOLS["VarSetPri"]["REACTIVE"]: "reactive",
}

LIMIT_POINTS = ("WMaxLimPctEna", "WMaxLimPct", "WMaxLimPctRvrtTms")
WSET_POINTS = ("WSetEna", "WSetMod", "WSet", "WSetPct", "WSetRvrtTms")
VARSET_POINTS = ("VarSetEna", "VarSetMod", "VarSet", "VarSetPct", "VarSetRvrtTms")
PF_POINTS = ("PFWInjEna", "PFWInj.PF", "PFWInj.Ext", "PFWInjRvrtTms")


@dataclass(frozen=True, slots=True)
class Held:
    """Register content of disabled controls and the reversion-time settings."""

    limit_pct: float = 100.0
    limit_rvrt_s: int = 0
    wset_mod: int = WSET_WATTS
    wset_w: float | None = None
    wset_pct: float | None = None
    wset_rvrt_s: int = 0
    varset_mod: int = VARSET_MODES["VARS"]
    varset_var: float | None = None
    varset_pct: float | None = None
    varset_rvrt_s: int = 0
    pf: float | None = None
    pf_ext: int = 0
    pf_rvrt_s: int = 0


def _refuse(reason: str) -> WriteRefused:
    return WriteRefused(ExceptionCode.ILLEGAL_DATA_VALUE, reason)


def _enable(value: Any, point: str) -> bool:
    if value == ENABLED:
        return True
    if value == DISABLED:
        return False
    raise _refuse(f"{point}: {value} is neither DISABLED ({DISABLED}) nor ENABLED ({ENABLED})")


def _choice(value: Any, allowed: Iterable[int], message: str) -> int:
    if not isinstance(value, int) or value not in set(allowed):
        raise _refuse(message)
    return value


def _seconds(value: Any, point: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= MAX_REVERT_S:
        raise _refuse(f"{point}: {value} outside 0..{int(MAX_REVERT_S)} s")
    return value


def _number(value: Any, point: str) -> float:
    if not isinstance(value, int | float):
        raise _refuse(f"{point}: no value (not implemented) to enable")
    return float(value)


class AcControlsSection(Section):
    """Model 704 (see the module docstring)."""

    model_id = 704
    live = True
    controls = True

    def __init__(self, view: DeviceView) -> None:
        self.held = Held()
        self.setpoints = view.controller.controls(view.index).capability.setpoint_supported

    def writable(self) -> frozenset[str]:
        """The mapped RW points."""
        points = {*LIMIT_POINTS, *VARSET_POINTS, *PF_POINTS, "VarSetPri", "WRmp", "WRmpRef"}
        if self.setpoints:
            points.update(WSET_POINTS)
        return frozenset(points)

    def values(self, view: DeviceView) -> Values:
        """The controls in force (and the held registers of disabled ones)."""
        c = view.controller.controls(view.index)
        return self._values(c)

    def _values(self, c: ControlsState) -> Values:
        h = self.held
        cap = c.capability
        w_max = cap.w_max_kw * 1000.0
        remaining = {k: math.ceil(v) for k, v in c.reversion.items()}
        limit_on = c.active_power_limit_pct < 100.0
        values: Values = {
            "PF_SF": -3,
            "WMaxLimPct_SF": -1,
            "WSet_SF": 0,
            "WSetPct_SF": -2,
            "VarSet_SF": 0,
            "VarSetPct_SF": -2,
            "WMaxLimPctEna": ENABLED if limit_on else DISABLED,
            "WMaxLimPct": c.active_power_limit_pct if limit_on else h.limit_pct,
            "WMaxLimPctRvrt": 100.0,
            "WMaxLimPctEnaRvrt": DISABLED,
            "WMaxLimPctRvrtTms": h.limit_rvrt_s,
            "WMaxLimPctRvrtRem": remaining.get("active_power_limit_pct", 0),
            "VarSetPri": _SYMBOLS["VarSetPri"][c.p_q_priority.upper()],
            "WRmp": round(c.ramp_rate_pct_per_s) if c.ramp_rate_pct_per_s is not None else 0,
            "WRmpRef": _SYMBOLS["WRmpRef"]["W_MAX"],
        }
        if self.setpoints:
            sp = c.active_power_setpoint_kw
            values.update(
                {
                    "WSetEna": ENABLED if sp is not None else DISABLED,
                    "WSetMod": h.wset_mod,
                    "WSet": sp * 1000.0 if sp is not None else h.wset_w,
                    "WSetPct": 100.0 * sp * 1000.0 / w_max if sp is not None else h.wset_pct,
                    "WSetEnaRvrt": DISABLED,
                    "WSetRvrtTms": h.wset_rvrt_s,
                    "WSetRvrtRem": remaining.get("active_power_setpoint_kw", 0),
                }
            )
        q = c.reactive_power_setpoint_kvar
        values.update(
            {
                "VarSetEna": ENABLED if q is not None else DISABLED,
                "VarSetMod": h.varset_mod,
                "VarSet": q * 1000.0 if q is not None else h.varset_var,
                "VarSetPct": self._var_pct(q, h.varset_mod, cap) if q is not None else h.varset_pct,
                "VarSetEnaRvrt": DISABLED,
                "VarSetRvrtTms": h.varset_rvrt_s,
                "VarSetRvrtRem": remaining.get("reactive_power_setpoint_kvar", 0),
            }
        )
        pf = c.power_factor
        ext = {v: k for k, v in EXCITATION.items()}
        values.update(
            {
                "PFWInjEna": ENABLED if pf is not None else DISABLED,
                "PFWInj.PF": pf if pf is not None else h.pf,
                "PFWInj.Ext": ext[c.excitation or "over"] if pf is not None else h.pf_ext,
                "PFWInjEnaRvrt": DISABLED,
                "PFWInjRvrtTms": h.pf_rvrt_s,
                "PFWInjRvrtRem": remaining.get("power_factor", 0),
            }
        )
        return values

    @staticmethod
    def _var_base_kvar(mode: int, q_kvar: float, cap: Any) -> float:
        """The reference of a ``VarSetMod`` percentage, kvar."""
        if mode == VARSET_MODES["W_MAX_PCT"]:
            return float(cap.w_max_kw)
        if mode == VARSET_MODES["VA_MAX_PCT"]:
            return float(cap.va_max_kva)
        return float(cap.var_max_inj_kvar if q_kvar >= 0.0 else cap.var_max_abs_kvar)

    def _var_pct(self, q_kvar: float, mode: int, cap: Any) -> float | None:
        base = self._var_base_kvar(mode, q_kvar, cap)
        return 100.0 * q_kvar / base if base > 0.0 else None

    def write(self, view: DeviceView, changes: Values, current: Values) -> str:
        """One ``ControlsUpdate`` from the written points (see the module docstring)."""
        state = view.controller.controls(view.index)
        cap = state.capability
        new = {**current, **changes}
        held = self.held
        fields: dict[str, Any] = {}
        timers: dict[str, int] = {}
        """Reversion time per control the update sets (0: none)."""

        def touched(points: tuple[str, ...]) -> bool:
            return any(p in changes for p in points)

        if touched(LIMIT_POINTS):
            on = _enable(new["WMaxLimPctEna"], "WMaxLimPctEna")
            rvrt = _seconds(new["WMaxLimPctRvrtTms"], "WMaxLimPctRvrtTms")
            pct = new["WMaxLimPct"]
            if on:
                fields["active_power_limit_pct"] = _number(pct, "WMaxLimPct")
                timers["WMaxLimPct"] = rvrt
            elif current["WMaxLimPctEna"] == ENABLED or "WMaxLimPctEna" in changes:
                fields["active_power_limit_pct"] = None
            held = replace(
                held,
                limit_rvrt_s=rvrt,
                limit_pct=float(pct) if isinstance(pct, int | float) else held.limit_pct,
            )
        if self.setpoints and touched(WSET_POINTS):
            on = _enable(new["WSetEna"], "WSetEna")
            mod = _choice(
                new["WSetMod"],
                (WSET_WATTS, WSET_PCT),
                f"WSetMod: {new['WSetMod']} is neither W_MAX_PCT nor WATTS",
            )
            rvrt = _seconds(new["WSetRvrtTms"], "WSetRvrtTms")
            if on:
                if mod == WSET_WATTS:
                    kw = _number(new["WSet"], "WSet") / 1000.0
                else:
                    kw = _number(new["WSetPct"], "WSetPct") / 100.0 * cap.w_max_kw
                fields["active_power_setpoint_kw"] = kw
                timers["WSet"] = rvrt
            elif current["WSetEna"] == ENABLED or "WSetEna" in changes:
                fields["active_power_setpoint_kw"] = None
            held = replace(
                held,
                wset_mod=mod,
                wset_w=_maybe(new["WSet"]),
                wset_pct=_maybe(new["WSetPct"]),
                wset_rvrt_s=rvrt,
            )
        if touched(VARSET_POINTS):
            on = _enable(new["VarSetEna"], "VarSetEna")
            mod = _choice(
                new["VarSetMod"],
                (v for k, v in VARSET_MODES.items() if k != "VAR_AVAIL_PCT"),
                f"VarSetMod: {new['VarSetMod']} is none of W_MAX_PCT, VAR_MAX_PCT, VA_MAX_PCT, "
                "VARS",
            )
            rvrt = _seconds(new["VarSetRvrtTms"], "VarSetRvrtTms")
            if on:
                if mod == VARSET_MODES["VARS"]:
                    kvar = _number(new["VarSet"], "VarSet") / 1000.0
                else:
                    pct = _number(new["VarSetPct"], "VarSetPct")
                    kvar = pct / 100.0 * self._var_base_kvar(mod, pct, cap)
                fields["reactive_power_setpoint_kvar"] = kvar
                timers["VarSet"] = rvrt
            elif current["VarSetEna"] == ENABLED or "VarSetEna" in changes:
                fields["reactive_power_setpoint_kvar"] = None
            held = replace(
                held,
                varset_mod=mod,
                varset_var=_maybe(new["VarSet"]),
                varset_pct=_maybe(new["VarSetPct"]),
                varset_rvrt_s=rvrt,
            )
        if touched(PF_POINTS):
            on = _enable(new["PFWInjEna"], "PFWInjEna")
            ext = _choice(
                new["PFWInj.Ext"],
                EXCITATION,
                f"PFWInj.Ext: {new['PFWInj.Ext']} is neither OVER_EXCITED (0) nor "
                "UNDER_EXCITED (1)",
            )
            rvrt = _seconds(new["PFWInjRvrtTms"], "PFWInjRvrtTms")
            if on:
                fields["power_factor"] = _number(new["PFWInj.PF"], "PFWInj.PF")
                fields["excitation"] = EXCITATION[ext]
                timers["PFWInj"] = rvrt
            elif current["PFWInjEna"] == ENABLED or "PFWInjEna" in changes:
                fields["power_factor"] = None
            held = replace(
                held,
                pf=_maybe(new["PFWInj.PF"]),
                pf_ext=ext,
                pf_rvrt_s=rvrt,
            )
        if "VarSetPri" in changes:
            pri = _choice(
                changes["VarSetPri"],
                PRIORITY,
                f"VarSetPri: {changes['VarSetPri']} is neither ACTIVE nor REACTIVE",
            )
            fields["p_q_priority"] = PRIORITY[pri]
        if "WRmp" in changes:
            ramp = changes["WRmp"]
            if not isinstance(ramp, int) or not 0 <= ramp <= 100:
                raise _refuse(f"WRmp: {ramp} outside 0..100 %/s")
            fields["ramp_rate_pct_per_s"] = float(ramp) if ramp else None
        if "WRmpRef" in changes and changes["WRmpRef"] != _SYMBOLS["WRmpRef"]["W_MAX"]:
            raise _refuse("WRmpRef: this device ramps in % of WMax only (W_MAX)")
        armed = {t for t in timers.values()}
        if len(armed) > 1:
            raise _refuse(
                "one write arms one reversion time: "
                + ", ".join(f"{k}RvrtTms {v}" for k, v in sorted(timers.items()))
            )
        if armed and (seconds := armed.pop()) > 0:
            fields["revert_after_s"] = float(seconds)
        summary = "registers held"
        if fields:
            try:
                update = ControlsUpdate.model_validate(fields)
            except ValidationError as exc:
                raise _refuse("; ".join(p.text() for p in validation_problems(exc))) from None
            try:
                view.controller.update_controls(view.index, update)
            except RequestRejected as exc:
                raise _refuse(str(exc)) from None
            summary = "controls " + update.model_dump_json(exclude_unset=True)
        self.held = held
        return summary


def _maybe(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
