"""Nameplate files (``-f FILE``): SunSpec ``<model>.<point>`` keys → the physics nameplates.

A nameplate file is one JSON object whose keys name SunSpec points (physics reference B.8)::

    {"1.Mn": "Acme", "701.ACType": "three", "702.WMaxRtg": 500000, "702.VNom": 480,
     "714.Prt[0].DCW": 700000, "714.Prt[0].DCV": 800}

``-f`` takes a path or the name of a bundled file (``data/nameplates/*.json``, with or without
``.json``); ``dersim-trio --list-profiles`` lists the bundled ones. Loading is strict: the JSON is
validated by a pydantic model built from ``POINTS`` (unknown keys, wrong types, out-of-range
numbers refused), then each key must apply to the chosen device type. Every error is one line,
``-f FILE: <key>: <problem> (allowed: …)``, raised as ``ConfigError`` (exit code 2).

Units are SunSpec's (W, VA, var, V, Wh, %); the physics nameplates use kW, kVA, kvar, kWh. The
mapping, per asset (a key not listed for an asset is refused naming the device type):

* every asset: ``1.DA`` (Modbus device address, kept for the SunSpec side), ``1.Mn``/``1.Md``
  (manufacturer, model), ``701.ACType`` (must match the device type's phases),
  ``702.VNom`` (see below) and the 701 energy seeds ``701.TotWhInjL1..L3``, ``TotWhAbsL1..L3``,
  ``TotVarhInjL1..L3``, ``TotVarhAbsL1..L3``: the phases are summed and start the device's
  ``EnergyCounters`` (kWh, kvarh) from that baseline, for replay scenarios.
* PV: ``702.WMaxRtg`` → ``w_max_kw`` (also scales the inverter start threshold, 0.7 % of WMax),
  ``702.VAMaxRtg`` (default: WMaxRtg), ``702.VarMaxInjRtg``/``VarMaxAbsRtg`` (default
  0.44·VAMaxRtg, IEEE 1547 Category B), ``714.Prt[0].DCW`` → ``dc_rating_kw`` (array at STC),
  ``714.Prt[0].DCV`` → ``v_mp_stc_v``. The string's V_oc, cells in series, maximum DC voltage and
  the MPPT window scale with DCV/400 V (the defaults' proportions) unless ``dersim.MpptVMin`` /
  ``dersim.MpptVMax`` give the window; ``dersim.Tilt`` (0..90°) and ``dersim.Azimuth``
  (0..360°, 180 = south) orient the array (default: the ``--pv_tilt_deg``/``--pv_azimuth_deg``
  flags, 20° facing the equator). These four are not SunSpec points (SunSpec 702/714 have no
  MPPT window or array orientation); the ``dersim.`` prefix marks simulator extensions. Without
  ``702.VAMaxRtg`` a PV nameplate's VA rating is √(WMaxRtg² + VarMaxRtg²), so the advertised
  reactive capability is deliverable at full active power.
* battery: the AC ratings as for PV; ``702.WDisChaRteMaxRtg`` (= WMaxRtg in this model),
  ``702.WChaRteMaxRtg`` (default WMaxRtg), ``713.WHRtg`` → ``energy_kwh`` (the cells are sized
  to the energy, with the matching resistance), ``702.VNom`` → ``ac_voltage_v`` (the pack gets
  the cells in series its DC link needs at that AC voltage, ``physics/battery.py``),
  ``713.SoH``, ``802.SoCMin``/``SoCMax``/``SoCRsvMin``/``SocRsvMax`` (SunSpec's spelling) and
  ``802.Typ`` (chemistry, ``NMC`` or ``LFP``).
* wind: ``702.WMaxRtg`` → ``rated_power_kw`` (the controller keeps its published constants;
  the rated torque follows the rating) and
  ``702.VarMaxInjRtg``/``VarMaxAbsRtg`` (equal: the model's reactive range is symmetric).
* fuel cell: ``702.WMaxRtg`` → ``rated_power_kw`` (the stack must carry it) and the equal var
  ratings. The chemistry, mode and fuel come from the ``--fuelcell_*`` flags; a bundled
  fuel-cell nameplate names its combination and the flags must match it.

Nominal voltage (``DeviceSlot.voltage_ln_nominal_v``): ``702.VNom`` is the line-to-line voltage
for three-phase, the leg-to-leg voltage (240 V) for split-phase and the line voltage for
single-phase; the line-to-neutral value is derived with ``physics/ac.py``. Without it:
``physics/ac.py`` defaults (480 V three-phase, 120/240 V split, 230 V single), except wind
turbines, 690 V line-to-line: an ASSUMPTION, the usual low-voltage generator/converter terminal
voltage of multi-MW turbines (the step-up transformer is not modelled).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from dersim_trio.errors import ConfigError, validation_problems
from dersim_trio.physics.ac import AcType, EnergyCounters, ll_from_ln, nominal_voltage_ln_v
from dersim_trio.setup.evse_stations import bundled_station_names

if TYPE_CHECKING:  # the device models are imported only when a device type needs them
    from dersim_trio.physics.battery import BatteryNameplate, Chemistry
    from dersim_trio.physics.fuelcell.stacks import FuelCellNameplate
    from dersim_trio.physics.pv import PvNameplate
    from dersim_trio.physics.wind import WindNameplate

Asset = Literal["pv", "battery", "wind", "fuelcell", "hybrid", "evse"]
PointValue = float | int | str

WIND_NOMINAL_VOLTAGE_LL_V = 690.0
"""Assumed wind-turbine terminal voltage, line-to-line (module docstring)."""

_ALL: frozenset[Asset] = frozenset(("pv", "battery", "wind", "fuelcell", "hybrid", "evse"))
_PV: frozenset[Asset] = frozenset(("pv", "hybrid"))
_BATT: frozenset[Asset] = frozenset(("battery", "hybrid"))
_AC_RATED: frozenset[Asset] = frozenset(("pv", "battery", "wind", "fuelcell", "hybrid"))
_VA_RATED: frozenset[Asset] = frozenset(("pv", "battery", "hybrid"))
_MAX_W = 1e9
_MAX_WH = 1e16


@dataclass(frozen=True, slots=True)
class Point:
    """One nameplate key: its JSON type, its range and the assets it applies to."""

    key: str
    kind: type[float] | type[int] | type[str] | tuple[str, ...]
    assets: frozenset[Asset]
    lo: float = 0.0
    hi: float = _MAX_W
    lo_open: bool = False
    """True: ``lo`` itself is refused (the value must be greater)."""
    unit: str = ""

    @property
    def allowed(self) -> str:
        """The values this key accepts, as shown in error messages."""
        if isinstance(self.kind, tuple):
            return ", ".join(self.kind)
        if self.kind is str:
            return f"text of at most {int(self.hi)} characters"
        what = "an integer" if self.kind is int else "a number"
        bracket = "(" if self.lo_open else "["
        unit = f" {self.unit}" if self.unit else ""
        return f"{what} in {bracket}{self.lo:g}, {self.hi:g}]{unit}"


def _energy_seeds() -> list[Point]:
    return [
        Point(f"701.Tot{quantity}{direction}L{phase}", float, _ALL, 0.0, _MAX_WH, unit=unit)
        for quantity, unit in (("Wh", "Wh"), ("Varh", "varh"))
        for direction in ("Inj", "Abs")
        for phase in (1, 2, 3)
    ]


POINTS: tuple[Point, ...] = (
    Point("1.DA", int, _ALL, 1, 247),
    Point("1.Mn", str, _ALL, 0, 32),
    Point("1.Md", str, _ALL, 0, 32),
    Point("701.ACType", ("single", "split", "three"), _ALL),
    Point("702.WMaxRtg", float, _AC_RATED, lo_open=True, unit="W"),
    Point("702.VAMaxRtg", float, _VA_RATED, lo_open=True, unit="VA"),
    Point("702.VarMaxInjRtg", float, _AC_RATED, unit="var"),
    Point("702.VarMaxAbsRtg", float, _AC_RATED, unit="var"),
    Point("702.VNom", float, _ALL, 100.0, 50_000.0, unit="V"),
    Point("702.WChaRteMaxRtg", float, _BATT, lo_open=True, unit="W"),
    Point("702.WDisChaRteMaxRtg", float, _BATT, lo_open=True, unit="W"),
    Point("713.WHRtg", float, _BATT, 0.0, _MAX_WH, lo_open=True, unit="Wh"),
    Point("713.SoH", float, _BATT, 0.0, 100.0, lo_open=True, unit="%"),
    Point("802.SoCMax", float, _BATT, 0.0, 100.0, unit="%"),
    Point("802.SoCMin", float, _BATT, 0.0, 100.0, unit="%"),
    Point("802.SocRsvMax", float, _BATT, 0.0, 100.0, unit="%"),
    Point("802.SoCRsvMin", float, _BATT, 0.0, 100.0, unit="%"),
    Point("802.Typ", ("NMC", "LFP"), _BATT),
    Point("714.Prt[0].DCW", float, _PV, lo_open=True, unit="W"),
    Point("714.Prt[0].DCV", float, _PV, 10.0, 1500.0, unit="V"),
    Point("dersim.MpptVMin", float, _PV, 10.0, 1500.0, unit="V"),
    Point("dersim.MpptVMax", float, _PV, 10.0, 1500.0, unit="V"),
    Point("dersim.Tilt", float, _PV, 0.0, 90.0, unit="deg"),
    Point("dersim.Azimuth", float, _PV, 0.0, 359.999, unit="deg"),
    *_energy_seeds(),
)
"""Every key a nameplate file may hold (SunSpec units; ``dersim.*`` are simulator extensions)."""

_POINT_BY_KEY: dict[str, Point] = {p.key: p for p in POINTS}


def _field(point: Point) -> Any:
    annotation: Any
    if isinstance(point.kind, tuple):
        annotation = Literal[point.kind] | None
        return (Annotated[annotation, Field(default=None, alias=point.key)], None)
    if point.kind is str:
        return (str | None, Field(default=None, alias=point.key, max_length=int(point.hi)))
    if point.lo_open:
        return (point.kind | None, Field(default=None, alias=point.key, gt=point.lo, le=point.hi))
    return (point.kind | None, Field(default=None, alias=point.key, ge=point.lo, le=point.hi))


def _field_name(key: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in key)


NameplatePoints: type[BaseModel] = create_model(
    "NameplatePoints",
    __config__=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False),
    **{_field_name(p.key): _field(p) for p in POINTS},
)
"""The pydantic model of a nameplate file (one optional field per entry of ``POINTS``)."""


def asset_of(canonical_type: str) -> Asset:
    """The asset family of a canonical device type (decides which keys apply)."""
    if canonical_type.startswith("PV-"):
        return "pv"
    if canonical_type.startswith("Batt-"):
        return "battery"
    if canonical_type.startswith("Wind-"):
        return "wind"
    if canonical_type.startswith("Fuelcell-"):
        return "fuelcell"
    if canonical_type.startswith("HybridDC-"):
        return "hybrid"
    return "evse"


def _allowed_text(keys: list[str]) -> str:
    """Keys for an error message, per-phase triples shortened to ``…L1..L3``."""
    shown = [k[:-2] + "L1..L3" if k.endswith("L1") else k for k in keys]
    return ", ".join(k for k in shown if not k.endswith(("L2", "L3")))


def allowed_keys(canonical_type: str) -> list[str]:
    """The nameplate keys that apply to a device type, in ``POINTS`` order."""
    asset = asset_of(canonical_type)
    return [p.key for p in POINTS if asset in p.assets]


# --- bundled files ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BundledNameplate:
    """A nameplate shipped in ``data/nameplates/`` and what it describes."""

    name: str
    device_types: tuple[str, ...]
    description: str
    fuelcell: tuple[str, str, str] | None = None
    """(chemistry, mode, fuel) the ``--fuelcell_*`` flags must name, for fuel-cell files."""


BUNDLED: tuple[BundledNameplate, ...] = (
    BundledNameplate(
        "10kW-3Phase", ("PV-3Phase",), "residential PV, 10 kW / 10 kVA, 14 kW DC (PV default)"
    ),
    BundledNameplate(
        "10kW-2Phase", ("PV-2Phase",), "residential PV, 10 kW, split-phase 120/240 V, 14 kW DC"
    ),
    BundledNameplate(
        "10kW-1Phase", ("PV-1Phase",), "residential PV, 10 kW, single-phase 230 V, 14 kW DC"
    ),
    BundledNameplate(
        "500kW-3Phase",
        ("PV-3Phase",),
        "commercial PV, 500 kW AC at 480 V, 700 kW DC, Vmp 800 V, MPPT 550-1000 V",
    ),
    BundledNameplate(
        "Batt-10kW-15kWh-3Phase",
        ("Batt-3Phase",),
        "residential battery, NMC, 10 kW / 15 kWh (battery default)",
    ),
    BundledNameplate(
        "Batt-LFP-100kW-200kWh-3Phase",
        ("Batt-3Phase",),
        "commercial battery, LFP, 100 kW / 200 kWh at 480 V",
    ),
    BundledNameplate(
        "Wind-NREL-5MW",
        ("Wind-T3-3Phase",),
        "NREL 5-MW reference turbine, Type III (DFIG), 690 V (Wind-T3 default)",
    ),
    BundledNameplate(
        "Wind-IEA-15MW",
        ("Wind-T4-3Phase",),
        "IEA 15-MW reference turbine, Type IV (full converter), 690 V (Wind-T4 default)",
    ),
    BundledNameplate(
        "Fuelcell-PEMFC-5kW",
        ("Fuelcell-3Phase",),
        "PEM fuel cell 5 kW, fc_only, hydrogen tank (fuel-cell default)",
        ("PEMFC", "fc_only", "tank"),
    ),
    BundledNameplate(
        "Fuelcell-PEMFC-reversible-5kW",
        ("Fuelcell-3Phase",),
        "reversible PEM fuel cell / electrolyser 5 kW, hydrogen tank",
        ("PEMFC", "bidirectional", "tank"),
    ),
    BundledNameplate(
        "Fuelcell-SOFC-reversible-200kW",
        ("Fuelcell-3Phase",),
        "reversible solid-oxide fuel cell / electrolyser 200 kW, hydrogen tank",
        ("SOFC", "bidirectional", "tank"),
    ),
    BundledNameplate(
        "Fuelcell-SOFC-200kW-pipeline",
        ("Fuelcell-3Phase",),
        "solid-oxide fuel cell 200 kW, fc_only, natural-gas pipeline",
        ("SOFC", "fc_only", "continuous"),
    ),
)
"""Every bundled nameplate (one JSON file each in ``data/nameplates/``)."""

_BUNDLED_BY_NAME: dict[str, BundledNameplate] = {b.name: b for b in BUNDLED}


def _bundled_file(name: str) -> Path:
    return Path(str(resources.files("dersim_trio.data.nameplates").joinpath(f"{name}.json")))


def resolve_nameplate(ref: str) -> Path:
    """The file ``-f REF`` names: an existing path, else a bundled name (``.json`` optional)."""
    path = Path(ref)
    if path.is_file():
        return path
    stem = ref.removesuffix(".json")
    if stem in _BUNDLED_BY_NAME:
        return _bundled_file(stem)
    if stem in bundled_station_names():
        raise ConfigError(
            f"-f: {ref!r} is an EVSE profile, not a nameplate; pass it with "
            f"--evse_profile {stem} (which implies -d EVSE)"
        )
    raise ConfigError(
        f"-f: {ref!r} is neither a file nor a bundled nameplate "
        f"(bundled: {', '.join(b.name for b in BUNDLED)})"
    )


def list_profiles_text() -> str:
    """What ``--list-profiles`` prints: bundled nameplates, then the bundled EVSE stations."""
    width = max(len(b.name) for b in BUNDLED)
    lines = ["Nameplates (-f NAME):"]
    lines += [
        f"  {b.name:<{width}}  {', '.join(b.device_types):<16} {b.description}" for b in BUNDLED
    ]
    lines.append("EVSE profiles (--evse_profile NAME, implies -d EVSE):")
    lines += [f"  {name}" for name in bundled_station_names()]
    return "\n".join(lines)


# --- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nameplate:
    """A validated nameplate file: its present keys and values (SunSpec units)."""

    source: str
    """The ``-f`` argument as given (shown in error messages)."""
    points: Mapping[str, PointValue]
    bundled: BundledNameplate | None = None

    def get(self, key: str) -> float | None:
        """A numeric point, or None when the file does not set it."""
        value = self.points.get(key)
        return None if value is None or isinstance(value, str) else float(value)

    def error(self, key: str, problem: str) -> ConfigError:
        """A one-line ``ConfigError`` about one key of this file."""
        return ConfigError(f"-f {self.source}: {key}: {problem}")


def load_nameplate(ref: str | Path, canonical_type: str) -> Nameplate:
    """Read and validate ``-f REF`` for a device type; raise a one-line ``ConfigError``."""
    path = resolve_nameplate(str(ref))
    bundled = _BUNDLED_BY_NAME.get(path.stem) if path == _bundled_file(path.stem) else None
    source = bundled.name if bundled is not None else str(ref)
    if bundled is not None and canonical_type not in bundled.device_types:
        raise ConfigError(
            f"-f {source}: bundled nameplate for {', '.join(bundled.device_types)}, "
            f"not {canonical_type} (see --list-profiles)"
        )
    keys_for_type = allowed_keys(canonical_type)
    allowed = _allowed_text(keys_for_type)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"-f {source}: cannot read the file: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"-f {source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"-f {source}: expected a JSON object of <model>.<point> keys (allowed: {allowed})"
        )
    if "connectors" in raw:
        raise ConfigError(
            f"-f {source}: this is an EVSE profile, not a nameplate; "
            "pass it with --evse_profile (which implies -d EVSE)"
        )
    try:
        validated = NameplatePoints.model_validate(raw)
    except ValidationError as exc:

        def point_allowed(key: str) -> str:
            point = _POINT_BY_KEY.get(key)
            return point.allowed if point is not None else allowed

        problem = validation_problems(exc, point_allowed, known_fields=keys_for_type)[0]
        if problem.message == "unknown field":
            problem = replace(problem, message=f"unknown key for {canonical_type}", allowed=allowed)
        raise ConfigError(f"-f {source}: {problem.text()}") from None
    points: dict[str, PointValue] = {
        k: v for k, v in validated.model_dump(by_alias=True, exclude_none=True).items()
    }
    for key in points:
        if key not in keys_for_type:
            raise ConfigError(
                f"-f {source}: {key}: does not apply to device type {canonical_type} "
                f"(allowed: {allowed})"
            )
    return Nameplate(source=source, points=points, bundled=bundled)


def check_ac_type(nameplate: Nameplate, ac_type: AcType, device_type: str) -> None:
    """Refuse a ``701.ACType`` that contradicts the device type's phases."""
    given = nameplate.points.get("701.ACType")
    if given is not None and given != ac_type:
        raise nameplate.error(
            "701.ACType",
            f"{given!r} does not match --device_type {device_type} (allowed: {ac_type})",
        )


# --- mapping onto the physics nameplates ------------------------------------------------------


def _kilo(value: float | None, default: float) -> float:
    return default if value is None else value / 1000.0


def _ac_ratings(
    nameplate: Nameplate, w_max_kw: float, va: float, q_inj: float, q_abs: float
) -> tuple[float, float, float, float]:
    """(W, VA, var inj, var abs) in kW/kVA/kvar; unset VA follows W, unset vars follow VA."""
    w_set = nameplate.get("702.WMaxRtg")
    va_set = nameplate.get("702.VAMaxRtg")
    w = _kilo(w_set, w_max_kw)
    va_kva = _kilo(va_set, w if w_set is not None else va)
    if va_kva < w:
        raise nameplate.error(
            "702.VAMaxRtg", f"must be at least 702.WMaxRtg ({w * 1000:g} W), got {va_kva * 1000:g}"
        )
    rescaled = w_set is not None or va_set is not None
    inj = _kilo(nameplate.get("702.VarMaxInjRtg"), 0.44 * va_kva if rescaled else q_inj)
    absorb = _kilo(nameplate.get("702.VarMaxAbsRtg"), 0.44 * va_kva if rescaled else q_abs)
    for key, q in (("702.VarMaxInjRtg", inj), ("702.VarMaxAbsRtg", absorb)):
        if q > va_kva:
            raise nameplate.error(key, f"must not exceed 702.VAMaxRtg ({va_kva * 1000:g} VA)")
    return w, va_kva, inj, absorb


def apply_pv_nameplate(nameplate: Nameplate, base: PvNameplate) -> PvNameplate:
    """``base`` with the file's PV keys applied (module docstring)."""
    w, va, inj, absorb = _ac_ratings(
        nameplate, base.w_max_kw, base.va_max_kva, base.var_max_inj_kvar, base.var_max_abs_kvar
    )
    ratings = ("702.WMaxRtg", "702.VarMaxInjRtg", "702.VarMaxAbsRtg")
    if nameplate.get("702.VAMaxRtg") is None and any(nameplate.get(k) is not None for k in ratings):
        # The reactive capability is deliverable at full active power (module docstring).
        va = math.hypot(w, max(inj, absorb))
    dcv = nameplate.get("714.Prt[0].DCV")
    k = 1.0 if dcv is None else dcv / base.v_mp_stc_v
    mppt_min = nameplate.get("dersim.MpptVMin")
    mppt_max = nameplate.get("dersim.MpptVMax")
    fields: dict[str, Any] = {
        "w_max_kw": w,
        "va_max_kva": va,
        "var_max_inj_kvar": inj,
        "var_max_abs_kvar": absorb,
        "dc_rating_kw": _kilo(nameplate.get("714.Prt[0].DCW"), base.dc_rating_kw),
        "v_mp_stc_v": base.v_mp_stc_v * k,
        "v_oc_stc_v": base.v_oc_stc_v * k,
        "cells_in_series": max(1, round(base.cells_in_series * k)),
        "v_dc_max_v": base.v_dc_max_v * k,
        "mppt_v_min_v": base.mppt_v_min_v * k if mppt_min is None else mppt_min,
        "mppt_v_max_v": base.mppt_v_max_v * k if mppt_max is None else mppt_max,
        "start_threshold_kw": base.start_threshold_kw * w / base.w_max_kw,
    }
    tilt = nameplate.get("dersim.Tilt")
    azimuth = nameplate.get("dersim.Azimuth")
    if tilt is not None:
        fields["tilt_deg"] = tilt
    if azimuth is not None:
        fields["azimuth_deg"] = azimuth
    if not fields["mppt_v_min_v"] < fields["mppt_v_max_v"]:
        raise nameplate.error(
            "dersim.MpptVMin", "must be below dersim.MpptVMax (allowed: min < max)"
        )
    if not fields["mppt_v_min_v"] <= fields["v_mp_stc_v"] <= fields["mppt_v_max_v"]:
        raise nameplate.error(
            "714.Prt[0].DCV",
            f"Vmp {fields['v_mp_stc_v']:g} V lies outside the MPPT window "
            f"(allowed: {fields['mppt_v_min_v']:g}..{fields['mppt_v_max_v']:g} V)",
        )
    try:
        return replace(base, **fields)
    except ValueError as exc:
        raise ConfigError(f"-f {nameplate.source}: {exc}") from None


def apply_battery_nameplate(nameplate: Nameplate, base: BatteryNameplate) -> BatteryNameplate:
    """``base`` with the file's battery keys applied (module docstring)."""
    from dersim_trio.physics.battery import check_soc_window

    w, va, inj, absorb = _ac_ratings(
        nameplate, base.w_max_kw, base.va_max_kva, base.var_max_inj_kvar, base.var_max_abs_kvar
    )
    discharge = nameplate.get("702.WDisChaRteMaxRtg")
    if discharge is not None and not math.isclose(discharge / 1000.0, w):
        raise nameplate.error(
            "702.WDisChaRteMaxRtg",
            f"must equal 702.WMaxRtg in this model (allowed: {w * 1000:g})",
        )
    charge_default = w if nameplate.get("702.WMaxRtg") is not None else base.w_charge_max_kw
    energy = _kilo(nameplate.get("713.WHRtg"), base.energy_kwh)
    v_nom = nameplate.get("702.VNom")

    def pct(key: str, default: float) -> float:
        value = nameplate.get(key)
        return default if value is None else value

    soc_min = pct("802.SoCMin", base.soc_min_pct)
    soc_rsv_min = pct("802.SoCRsvMin", base.soc_reserve_min_pct)
    soc_rsv_max = pct("802.SocRsvMax", base.soc_reserve_max_pct)
    soc_max = pct("802.SoCMax", base.soc_max_pct)
    try:
        check_soc_window(soc_min, soc_max, soc_rsv_min, soc_rsv_max)
    except ValueError:
        raise nameplate.error(
            "802.SoCMin/SoCRsvMin/SocRsvMax/SoCMax",
            "must satisfy 0 <= SoCMin <= SoCRsvMin < SocRsvMax <= SoCMax <= 100, got "
            f"{soc_min:g}, {soc_rsv_min:g}, {soc_rsv_max:g}, {soc_max:g}"
            " (allowed: percentages in that order)",
        ) from None
    chemistry = cast("Chemistry", nameplate.points.get("802.Typ", base.chemistry))
    soh = nameplate.get("713.SoH")
    try:
        return replace(
            base,
            w_max_kw=w,
            w_charge_max_kw=_kilo(nameplate.get("702.WChaRteMaxRtg"), charge_default),
            va_max_kva=va,
            var_max_inj_kvar=inj,
            var_max_abs_kvar=absorb,
            energy_kwh=energy,
            ac_voltage_v=base.ac_voltage_v if v_nom is None else v_nom,
            chemistry=chemistry,
            state_of_health_pct=base.state_of_health_pct if soh is None else soh,
            soc_min_pct=soc_min,
            soc_max_pct=soc_max,
            soc_reserve_min_pct=soc_rsv_min,
            soc_reserve_max_pct=soc_rsv_max,
        )
    except ValueError as exc:
        raise ConfigError(f"-f {nameplate.source}: {exc}") from None


def _symmetric_var_pu(nameplate: Nameplate, rated_kw: float) -> float | None:
    inj = nameplate.get("702.VarMaxInjRtg")
    absorb = nameplate.get("702.VarMaxAbsRtg")
    if inj is None and absorb is None:
        return None
    if inj is not None and absorb is not None and not math.isclose(inj, absorb):
        raise nameplate.error(
            "702.VarMaxAbsRtg", f"must equal 702.VarMaxInjRtg for this asset (allowed: {inj:g})"
        )
    q_var = inj if inj is not None else absorb
    assert q_var is not None
    pu = q_var / (rated_kw * 1000.0)
    if pu > 1.0:
        raise nameplate.error(
            "702.VarMaxInjRtg", f"must not exceed 702.WMaxRtg (allowed: 0..{rated_kw * 1000:g})"
        )
    return pu


def apply_wind_nameplate(nameplate: Nameplate, base: WindNameplate) -> WindNameplate:
    """``base`` with the file's wind keys applied (the controller's published constants are
    kept; its rated torque follows the new rating)."""
    rated = _kilo(nameplate.get("702.WMaxRtg"), base.rated_power_kw)
    q_pu = _symmetric_var_pu(nameplate, rated)
    return replace(
        base,
        rated_power_kw=rated,
        reactive_capability_pu=base.reactive_capability_pu if q_pu is None else q_pu,
    )


def apply_fuelcell_nameplate(nameplate: Nameplate, base: FuelCellNameplate) -> FuelCellNameplate:
    """``base`` with the file's fuel-cell keys applied; a bundled file must match the flags."""
    bundled = nameplate.bundled
    combo = (base.chemistry, base.mode, base.fuel)
    if bundled is not None and bundled.fuelcell is not None and bundled.fuelcell != combo:
        chem, mode, fuel = bundled.fuelcell
        raise ConfigError(
            f"-f {nameplate.source}: this bundled fuel cell needs --fuelcell_chemistry {chem} "
            f"--fuelcell_mode {mode} --fuelcell_fuel {fuel}"
        )
    rated = _kilo(nameplate.get("702.WMaxRtg"), base.rated_power_kw)
    q_pu = _symmetric_var_pu(nameplate, rated)
    return replace(
        base, rated_power_kw=rated, var_rating_pu=base.var_rating_pu if q_pu is None else q_pu
    )


def nominal_voltage_ln(nameplate: Nameplate | None, canonical_type: str, ac_type: AcType) -> float:
    """``DeviceSlot.voltage_ln_nominal_v``: from ``702.VNom``, else the per-type default."""
    v_nom = None if nameplate is None else nameplate.get("702.VNom")
    if v_nom is not None:
        return v_nom / ll_from_ln(ac_type, 1.0)
    if asset_of(canonical_type) == "wind":
        return WIND_NOMINAL_VOLTAGE_LL_V / ll_from_ln("three", 1.0)
    return nominal_voltage_ln_v(ac_type)


def seed_energy(nameplate: Nameplate | None) -> EnergyCounters:
    """Energy counters starting from the file's 701 per-phase seeds (Wh, varh → kWh, kvarh)."""
    if nameplate is None:
        return EnergyCounters()

    def total(name: str) -> float:
        return sum(nameplate.get(f"701.Tot{name}L{phase}") or 0.0 for phase in (1, 2, 3)) / 1e3

    return EnergyCounters(
        injected_kwh=total("WhInj"),
        absorbed_kwh=total("WhAbs"),
        reactive_injected_kvarh=total("VarhInj"),
        reactive_absorbed_kvarh=total("VarhAbs"),
    )
