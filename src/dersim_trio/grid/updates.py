"""A device's grid-support settings as plain data, and a partial update merged into them.

The REST body of ``PUT .../grid-support`` (``api.grid_support``) arrives here as plain nested
data (``model_dump(exclude_unset=True)``), so this module stays free of pydantic and I/O. The
shape, one object per function, with the SunSpec DER point names in snake case::

    {"category": {"normal": "B", "abnormal": "III"},
     "enter_service": {...703...}, "constant_pf": {...704...}, "constant_q": {...704...},
     "volt_var": {..., "pt": [{"v_pct": 92, "var_pct": 100}, ...]},            # 705
     "volt_watt": {..., "pt": [{"v_pct": 106, "w_pct": 100}, ...]},            # 706
     "trip": {"lv": {"must_trip": [{"v_pct": 88, "tms_s": 21}, ...],
                     "mom_cess_v_pct": 50},                                    # 707
              "hv": {...708...}, "lf": {"must_trip": [{"freq_hz": 58.5, "tms_s": 300}, ...]},
              "hf": {...710...}},
     "freq_droop": {...711...}, "watt_var": {..., "pt": [{"w_pct": 20, "var_pct": 0}, ...]},
     "active_power_limit": {...704...}}

Merge rules (``merge``): a ``category`` object first loads the standard's defaults for the new
categories (every function; ``"category": null`` reloads those of the present ones); then every
field present replaces its value, and ``null`` returns a field (or a whole function object) to
the default of the device's categories. One exception, so that a GET body sent back changes
nothing: ``mom_cess_v_pct: null`` means no momentary-cessation threshold, as GET shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from dersim_trio.grid.capability import GridRating
from dersim_trio.grid.enter_service import EnterServiceSettings
from dersim_trio.grid.settings import GridSettings, category_defaults
from dersim_trio.grid.trip import FrequencyTripCurve, TripPoint, TripSettings, VoltageTripCurve

FUNCTIONS: tuple[str, ...] = (
    "enter_service",
    "constant_pf",
    "constant_q",
    "volt_var",
    "watt_var",
    "volt_watt",
    "freq_droop",
    "active_power_limit",
    "trip",
)
"""The body's function keys, in the order GET lists them."""

_PT_KEYS: dict[str, tuple[str, str]] = {
    "volt_var": ("v_pct", "var_pct"),
    "watt_var": ("w_pct", "var_pct"),
    "volt_watt": ("v_pct", "w_pct"),
}
_TRIP_VALUE_KEY = {"lv": "v_pct", "hv": "v_pct", "lf": "freq_hz", "hf": "freq_hz"}


def as_data(s: GridSettings) -> dict[str, Any]:
    """The settings as the REST body shows them (see the module docstring)."""
    data: dict[str, Any] = {
        "category": {"normal": s.normal_category, "abnormal": s.abnormal_category}
    }
    for name in FUNCTIONS:
        if name == "trip":
            data["trip"] = _trip_data(s.trip)
            continue
        fields = dataclasses.asdict(getattr(s, name))
        if name in _PT_KEYS:
            x, y = _PT_KEYS[name]
            fields["pt"] = [{x: a, y: b} for a, b in fields["pt"]]
        data[name] = fields
    return data


def _trip_data(trip: TripSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value_key in _TRIP_VALUE_KEY.items():
        curve: VoltageTripCurve | FrequencyTripCurve = getattr(trip, key)
        entry: dict[str, Any] = {
            "must_trip": [{value_key: p.threshold, "tms_s": p.tms_s} for p in curve.must_trip]
        }
        if isinstance(curve, VoltageTripCurve):
            entry["mom_cess_v_pct"] = curve.mom_cess_v_pct
        out[key] = entry
    return out


def merge(
    current: GridSettings,
    changes: Mapping[str, Any],
    rating: GridRating,
    enter_service: EnterServiceSettings | None = None,
) -> GridSettings:
    """``current`` with ``changes`` applied (see the module docstring); not yet checked.

    ``enter_service``: the device's default enter-service settings (``--enter_service_delay_s``
    sets their delay), restored by a reset or a category load; None: the standard's."""
    settings = current
    category = changes.get("category")
    if "category" in changes:
        normal = settings.normal_category
        abnormal = settings.abnormal_category
        if category is not None:
            normal = category.get("normal") or normal
            abnormal = category.get("abnormal") or abnormal
        settings = category_defaults(normal, abnormal, rating, enter_service)
    defaults = category_defaults(
        settings.normal_category, settings.abnormal_category, rating, enter_service
    )
    replaced: dict[str, Any] = {}
    for name in FUNCTIONS:
        if name not in changes:
            continue
        fields = changes[name]
        default = getattr(defaults, name)
        if fields is None:
            replaced[name] = default
        elif name == "trip":
            replaced[name] = _merge_trip(settings.trip, fields, default)
        else:
            replaced[name] = _merge_function(name, getattr(settings, name), fields, default)
    return dataclasses.replace(settings, **replaced) if replaced else settings


def _merge_function(name: str, current: Any, fields: Mapping[str, Any], default: Any) -> Any:
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            values[key] = getattr(default, key)
        elif key == "pt":
            x, y = _PT_KEYS[name]
            values[key] = tuple((float(p[x]), float(p[y])) for p in value)
        else:
            values[key] = value
    return dataclasses.replace(current, **values)


def _merge_trip(current: TripSettings, fields: Mapping[str, Any], default: TripSettings) -> Any:
    curves: dict[str, Any] = {}
    for key, value_key in _TRIP_VALUE_KEY.items():
        if key not in fields:
            continue
        curve_fields = fields[key]
        base: VoltageTripCurve | FrequencyTripCurve = getattr(default, key)
        if curve_fields is None:
            curves[key] = base
            continue
        curve: VoltageTripCurve | FrequencyTripCurve = getattr(current, key)
        if "must_trip" in curve_fields:
            points = curve_fields["must_trip"]
            must = (
                base.must_trip
                if points is None
                else tuple(TripPoint(float(p[value_key]), float(p["tms_s"])) for p in points)
            )
            curve = dataclasses.replace(curve, must_trip=must)
        if isinstance(curve, VoltageTripCurve) and "mom_cess_v_pct" in curve_fields:
            curve = dataclasses.replace(curve, mom_cess_v_pct=curve_fields["mom_cess_v_pct"])
        curves[key] = curve
    return dataclasses.replace(current, **curves)
