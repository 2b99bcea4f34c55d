"""A device's operator setpoints (SunSpec 704 style): values, defaults, clamps, reversion timers.

Defaults (what a field returns to on ``null`` or when its reversion timer runs out): no active
power setpoint, active power limit 100 %, unity power factor (``power_factor`` null), no var
setpoint, P-Q priority "active", no ramp (instant).

Validation happens in two layers. Field ranges are the pydantic model's (``ControlsUpdate``);
what depends on the device or on several fields is ``DeviceControls.check``, which returns every
problem at once so a rejected body changes nothing. Values beyond a rating are not refused but
clamped (an active power setpoint at ``WMaxRtg`` injecting, at ``WChaRteMaxRtg`` absorbing), and
the clamp is kept (``clamps``) for as long as the clamped value is in force, so the controls state
and the status message can report it. What no clamp can honour is refused: an active power
setpoint in a direction the device cannot run at all (absorbing with ``WChaRteMaxRtg`` 0,
injecting for an EVSE without V2G), or closer to 0 than its least running power (a fuel cell's
minimum turndown), where the model would idle.

Reversion (704 ``*Rvrt``/``*RvrtTms``/``*RvrtRem``): ``revert_after_s`` in an update applies to
the setpoints present in that same update. Their deadlines are kept in simulated seconds since
the simulator start; ``expire(now_s)`` returns them to their defaults once ``now_s`` reaches the
deadline. A later update of a field without ``revert_after_s`` makes its new value permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from dersim_trio.api.controls import ClampRecord, ControlsUpdate, Excitation, Priority
from dersim_trio.errors import FieldProblem
from dersim_trio.physics.base import AcRating, Dispatch

SETPOINT_FIELDS: tuple[str, ...] = (
    "active_power_setpoint_kw",
    "active_power_limit_pct",
    "power_factor",
    "reactive_power_setpoint_kvar",
)
"""The fields a reversion timer applies to (``excitation`` goes with ``power_factor``)."""

SETPOINT_ASSETS: frozenset[str] = frozenset({"battery", "fuelcell", "hybrid-dc", "evse"})
"""Asset types that follow ``active_power_setpoint_kw`` (PV and wind do not)."""

_EPS = 1e-9
_CLAMP_LABELS = {
    "active_power_setpoint_kw": ("active power setpoint", "kW"),
    "reactive_power_setpoint_kvar": ("reactive power setpoint", "kvar"),
}


@dataclass(frozen=True, slots=True)
class Clamp:
    """A requested value cut back at a rating."""

    field: str
    requested: float
    applied: float
    reason: str

    @property
    def message(self) -> str:
        """E.g. "active power setpoint clamped at 10.00 kW (WMaxRtg)"."""
        label, unit = _CLAMP_LABELS.get(self.field, (self.field, ""))
        return f"{label} clamped at {self.applied:.2f} {unit} ({self.reason})".replace("  ", " ")

    def record(self) -> ClampRecord:
        """The JSON form."""
        return ClampRecord(
            field=self.field, requested=self.requested, applied=self.applied, reason=self.reason
        )


def _clamp(name: str, value: float, low: float, high: float, low_why: str, high_why: str) -> Clamp:
    if value > high + _EPS:
        return Clamp(name, value, high, high_why)
    if value < low - _EPS:
        return Clamp(name, value, low, low_why)
    return Clamp(name, value, value, "")


def _setpoint_range(rating: AcRating) -> str:
    low = 0.0 - rating.w_charge_max_kw  # 0.0 -: never "-0"
    high = rating.w_max_kw if rating.injects else 0.0
    return f"{low:g}..{high:g} kW"


def _direction_problems(sp: float, asset_type: str, rating: AcRating) -> list[FieldProblem]:
    """Why an active power setpoint asks for a direction the device cannot run in."""
    if sp < -_EPS and rating.w_charge_max_kw <= 0.0:
        why = (
            "it cannot absorb active power (WChaRteMaxRtg 0; a fc_only fuel cell has no "
            "electrolysis branch)"
            if asset_type == "fuelcell"
            else "it cannot absorb active power (WChaRteMaxRtg 0)"
        )
        return [
            FieldProblem(
                "active_power_setpoint_kw",
                f"a negative setpoint asks this {asset_type} device to absorb, and {why}",
                _setpoint_range(rating),
            )
        ]
    if _EPS < abs(sp) < rating.w_min_run_kw - _EPS:
        floor = rating.w_min_run_kw
        return [
            FieldProblem(
                "active_power_setpoint_kw",
                f"{abs(sp):g} kW is below this {asset_type} device's minimum turndown of "
                f"{floor:g} kW, where it would idle",
                f"0 (idle) or {floor:g} kW and more in magnitude, within {_setpoint_range(rating)}",
            )
        ]
    if sp > _EPS and not rating.injects:
        return [
            FieldProblem(
                "active_power_setpoint_kw",
                f"a positive setpoint asks this {asset_type} device to export, and it cannot "
                "(no V2G: negative values cap its charging, 0 pauses it)",
                _setpoint_range(rating),
            )
        ]
    return []


_V = TypeVar("_V")
_NONE: Mapping[str, Any] = MappingProxyType({})
"""The empty mapping every device without timers or clamps shares (read-only)."""


def _without(entries: Mapping[str, _V], name: str) -> Mapping[str, _V]:
    """``entries`` without ``name`` (the same object when it has no such entry)."""
    if name not in entries:
        return entries
    return {key: value for key, value in entries.items() if key != name} or _NONE


@dataclass(slots=True)
class DeviceControls:
    """The operator's setpoints for one device (read by ``controls.supervisor`` every tick)."""

    active_power_setpoint_kw: float | None = None
    active_power_limit_pct: float = 100.0
    power_factor: float | None = None
    excitation: Excitation = "over"
    reactive_power_setpoint_kvar: float | None = None
    p_q_priority: Priority = "active"
    ramp_rate_pct_per_s: float | None = None
    revert_at_s: Mapping[str, float] = field(default_factory=lambda: _NONE)
    """Reversion deadline per setpoint field, simulated seconds since the start."""
    clamps: Mapping[str, Clamp] = field(default_factory=lambda: _NONE)
    """Clamps of the values in force, per field.

    Both are replaced on each change, never changed in place: a device with neither holds the
    one shared empty mapping instead of two empty dicts of its own (128 bytes per device of a
    fleet)."""

    @property
    def is_default(self) -> bool:
        """True when nothing differs from the defaults (the engine's fast path)."""
        return (
            self.active_power_setpoint_kw is None
            and self.active_power_limit_pct >= 100.0
            and self.power_factor is None
            and self.reactive_power_setpoint_kvar is None
            and self.ramp_rate_pct_per_s is None
        )

    def check(
        self,
        update: ControlsUpdate,
        asset_type: str,
        hybrid_policy: str | None,
        rating: AcRating,
    ) -> list[FieldProblem]:
        """Every reason ``update`` cannot apply to this device (empty: it can).

        ``hybrid_policy`` is the hybrid's dispatch policy once the update applies (None for
        other assets). A setpoint in a direction the device cannot run at all (a negative one
        for a unit that cannot absorb, a positive one for an EVSE without V2G) is refused here;
        one beyond a rating in a direction it can run is clamped by ``apply``.
        """
        fields = update.model_fields_set
        problems: list[FieldProblem] = []
        if update.active_power_setpoint_kw is not None:
            if asset_type not in SETPOINT_ASSETS:
                problems.append(
                    FieldProblem(
                        "active_power_setpoint_kw",
                        f"a {asset_type} device does not follow an active power setpoint; "
                        "curtail it with active_power_limit_pct",
                        "storage, fuel cell, hybrid (manual dispatch) and EVSE devices",
                    )
                )
            elif asset_type == "hybrid-dc" and hybrid_policy != "manual":
                problems.append(
                    FieldProblem(
                        "active_power_setpoint_kw",
                        f"the hybrid follows a setpoint only with hybrid_dispatch manual "
                        f"(it is {hybrid_policy})",
                        'with "hybrid_dispatch": "manual" (in this body or set before)',
                    )
                )
            else:
                problems += _direction_problems(update.active_power_setpoint_kw, asset_type, rating)
        both_reactive = (
            update.power_factor is not None and update.reactive_power_setpoint_kvar is not None
        )
        if both_reactive:
            problems.append(
                FieldProblem(
                    "reactive_power_setpoint_kvar",
                    "power_factor and reactive_power_setpoint_kvar are mutually exclusive",
                    "one of power_factor or reactive_power_setpoint_kvar per body",
                )
            )
        elif update.excitation is not None:
            # (with both, the excitation's power factor is the one refused above)
            pf_after = update.power_factor if "power_factor" in fields else self.power_factor
            if update.reactive_power_setpoint_kvar is not None:
                pf_after = None
            if pf_after is None:
                problems.append(
                    FieldProblem(
                        "excitation",
                        "excitation qualifies a fixed power factor, and none is set",
                        "over or under, with power_factor in this body or set before",
                    )
                )
        if update.hybrid_dispatch is not None and asset_type != "hybrid-dc":
            problems.append(
                FieldProblem(
                    "hybrid_dispatch",
                    f"only a hybrid DC device has a dispatch policy; this is {asset_type}",
                    "HybridDC-3Phase devices",
                )
            )
        if update.revert_after_s is not None and not self._timed_fields(fields):
            problems.append(
                FieldProblem(
                    "revert_after_s",
                    "applies to the setpoints in the same body, and there is none",
                    "with " + ", ".join(SETPOINT_FIELDS),
                )
            )
        return problems

    @staticmethod
    def _timed_fields(fields: set[str]) -> list[str]:
        timed = [name for name in SETPOINT_FIELDS if name in fields]
        if "excitation" in fields and "power_factor" not in timed:
            timed.append("power_factor")
        return timed

    def apply(self, update: ControlsUpdate, rating: AcRating, now_s: float) -> list[Clamp]:
        """Apply a checked update at simulated time ``now_s``; return the clamps it caused."""
        fields = update.model_fields_set
        new_clamps: list[Clamp] = []
        if "active_power_setpoint_kw" in fields:
            self.clamps = _without(self.clamps, "active_power_setpoint_kw")
            sp = update.active_power_setpoint_kw
            if sp is not None:
                c = _clamp(
                    "active_power_setpoint_kw",
                    sp,
                    -rating.w_charge_max_kw,
                    rating.w_max_kw,
                    "WChaRteMaxRtg",
                    "WMaxRtg",
                )
                sp = c.applied
                if c.reason:
                    self.clamps = {**self.clamps, c.field: c}
                    new_clamps.append(c)
            self.active_power_setpoint_kw = sp
        if "active_power_limit_pct" in fields:
            limit = update.active_power_limit_pct
            self.active_power_limit_pct = 100.0 if limit is None else limit
        if "power_factor" in fields:
            self.power_factor = update.power_factor
            if update.power_factor is None:
                self.excitation = "over"
            else:
                self._reset("reactive_power_setpoint_kvar")
        if "excitation" in fields:
            self.excitation = update.excitation or "over"
        if "reactive_power_setpoint_kvar" in fields:
            self.clamps = _without(self.clamps, "reactive_power_setpoint_kvar")
            q = update.reactive_power_setpoint_kvar
            if q is not None:
                c = _clamp(
                    "reactive_power_setpoint_kvar",
                    q,
                    -rating.var_max_abs_kvar,
                    rating.var_max_inj_kvar,
                    "VarMaxAbsRtg",
                    "VarMaxInjRtg",
                )
                q = c.applied
                if c.reason:
                    self.clamps = {**self.clamps, c.field: c}
                    new_clamps.append(c)
                self._reset("power_factor")
            self.reactive_power_setpoint_kvar = q
        if "p_q_priority" in fields:
            self.p_q_priority = update.p_q_priority or "active"
        if "ramp_rate_pct_per_s" in fields:
            self.ramp_rate_pct_per_s = update.ramp_rate_pct_per_s
        for name in self._timed_fields(fields):
            if update.revert_after_s is not None:
                self.revert_at_s = {**self.revert_at_s, name: now_s + update.revert_after_s}
            else:
                self.revert_at_s = _without(self.revert_at_s, name)
        return new_clamps

    def _reset(self, name: str) -> None:
        """Return one setpoint field to its default and drop its timer and clamp."""
        if name == "active_power_setpoint_kw":
            self.active_power_setpoint_kw = None
        elif name == "active_power_limit_pct":
            self.active_power_limit_pct = 100.0
        elif name == "power_factor":
            self.power_factor = None
            self.excitation = "over"
        elif name == "reactive_power_setpoint_kvar":
            self.reactive_power_setpoint_kvar = None
        self.revert_at_s = _without(self.revert_at_s, name)
        self.clamps = _without(self.clamps, name)

    def expire(self, now_s: float) -> list[str]:
        """Return the setpoints whose deadline ``now_s`` has reached to their defaults."""
        if not self.revert_at_s:
            return []
        due = [name for name, at in self.revert_at_s.items() if now_s >= at - _EPS]
        for name in due:
            self._reset(name)
        return due

    def remaining_s(self, now_s: float) -> dict[str, float]:
        """Simulated seconds left per reversion timer."""
        return {name: max(0.0, at - now_s) for name, at in self.revert_at_s.items()}

    def base_dispatch(self) -> Dispatch:
        """The operator's active power request, before states, ramps and priorities."""
        return Dispatch(self.active_power_setpoint_kw, self.active_power_limit_pct)
