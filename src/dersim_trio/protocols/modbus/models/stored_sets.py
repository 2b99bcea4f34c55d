"""The stored curves (and control sets) of SunSpec models 705-712, and how a client adopts one.

SunSpec's DER models keep ``NCrv`` (``NCrvSet``, ``NCtl``) stored sets. The definitions say
(``comments`` of the ``Crv`` group in pysunspec2's JSON): "The first set is read-only and
indicates the current settings". So here:

* set 1 (``Crv[1]``, ``ReadOnly`` R) is the grid-support setting in force, read through the
  operator façade on every request (``GET .../grid-support``); a write to it gets exception 02;
* sets 2..``SETS`` (``ReadOnly`` RW) are registers a client fills; they start as a copy of the
  settings in force and are this section's only state. A point written there is checked at
  once against the range REST allows that field (the bounds of the REST body's pydantic
  field, read from the field itself): out of range, or an enumeration value the device does
  not support, gets exception 03 and nothing is stored. The curve as a whole is checked when
  it is adopted, as the points' ``detail`` asks ("conformance checks should be conducted when
  AdptCrvReq is set, not on point writes"), since a curve written in pieces is out of order
  in between;
* ``AdptCrvReq`` (``AdptCtlReq``) ``n`` adopts set ``n`` (1-based, "First curve index is 1"):
  its first ``ActPt`` points and its settings become one ``PUT .../grid-support`` body, through
  ``Controller.update_grid_support`` with the REST body's pydantic model, so the validation is
  REST's to the letter (point count, order, the category's ranges). Refused: exception 03,
  the settings unchanged, ``AdptCrvRslt`` FAILED. Accepted: the new settings are in force
  before the response (set 1 shows them, REST too) and ``AdptCrvRslt`` reads COMPLETED (the
  adoption is never IN_PROGRESS). ``n`` = 1 (the set in force) and 0 change nothing; ``n``
  beyond ``SETS`` gets 03. ``AdptCrvReq`` reads back the last index written;
* ``Ena`` is the function's ``enabled`` (written alone, or with ``AdptCrvReq`` in one request:
  then both apply together or neither).

pysunspec2's ``model.write()`` sends the top-level points before the groups' ones, so a client
writes a curve's points first and ``AdptCrvReq`` in a second write (the README shows it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from dersim_trio.api.grid_support import GridSupportState, GridSupportUpdate
from dersim_trio.errors import RequestRejected, validation_problems
from dersim_trio.protocols.modbus.codec import ExceptionCode
from dersim_trio.protocols.modbus.layout import layout_model
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values, WriteRefused

_SYMBOLS = {s.path: s.point.symbols for s in layout_model(705, {"NCrv": 1, "NPt": 1}).points}
DISABLED = _SYMBOLS["Ena"]["DISABLED"]
ENABLED = _SYMBOLS["Ena"]["ENABLED"]
COMPLETED = _SYMBOLS["AdptCrvRslt"]["COMPLETED"]
FAILED = _SYMBOLS["AdptCrvRslt"]["FAILED"]
READ_ONLY = _SYMBOLS["Crv[1].ReadOnly"]["R"]
READ_WRITE = _SYMBOLS["Crv[1].ReadOnly"]["RW"]
ON_OFF = {DISABLED: "DISABLED", ENABLED: "ENABLED"}

SETS = 3
"""Stored sets per model: the one in force and two a client fills."""


def refuse(reason: str) -> WriteRefused:
    """Exception 03 (an illegal value): nothing changes."""
    return WriteRefused(ExceptionCode.ILLEGAL_DATA_VALUE, reason)


@dataclass(frozen=True, slots=True)
class Span:
    """An allowed closed range."""

    lo: float
    hi: float

    def holds(self, value: float) -> bool:
        """True inside (with 1e-9 of slack for scaled decimal input, as REST's checks)."""
        return self.lo - 1e-9 <= value <= self.hi + 1e-9

    def text(self) -> str:
        """``82..118``."""
        return f"{self.lo:g}..{self.hi:g}"


def field_span(model: type[BaseModel], name: str) -> Span:
    """The bounds (``ge``/``le``) of a field of a REST body model: the range REST allows."""
    lo: float | None = None
    hi: float | None = None
    for bound in model.model_fields[name].metadata:
        # pydantic keeps ge=/le= as annotated-types' Ge/Le objects in the field's metadata
        ge, le = getattr(bound, "ge", None), getattr(bound, "le", None)
        if isinstance(ge, int | float):
            lo = float(ge)
        if isinstance(le, int | float):
            hi = float(le)
    if lo is None or hi is None:
        raise ValueError(f"{model.__name__}.{name} has no closed range")
    return Span(lo, hi)


@dataclass(frozen=True, slots=True)
class SetPoint:
    """A writable point of a stored set: its path inside the set and what it accepts (a
    number inside ``span``, or one of ``choices``)."""

    path: str
    span: Span | None = None
    choices: Mapping[int, str] | None = None

    def check(self, value: Any) -> None:
        """Raise ``WriteRefused`` (03) unless ``value`` is acceptable."""
        if self.choices is not None:
            if not isinstance(value, int) or value not in self.choices:
                allowed = ", ".join(f"{v} {n}" for v, n in self.choices.items())
                raise refuse(f"{self.path}: {value} is not supported here (only {allowed})")
            return
        assert self.span is not None
        if not isinstance(value, int | float) or not self.span.holds(value):
            raise refuse(f"{self.path}: {value} is outside {self.span.text()}")


def number(values: Values, path: str) -> float:
    """A stored number the adopted body needs (03 when it reads as not implemented)."""
    value = values.get(path)
    if not isinstance(value, int | float):
        raise refuse(f"{path}: no value")
    return float(value)


def count(values: Values, path: str, limit: int) -> int:
    """An ``ActPt`` (0..``limit``)."""
    value = values.get(path)
    if not isinstance(value, int) or not 0 <= value <= limit:
        raise refuse(f"{path}: {value} is outside 0..{limit}")
    return value


class StoredSetsSection(Section):
    """A model with stored sets (see the module docstring). Subclasses name the model's
    points and map one set to and from the REST settings."""

    live = True
    controls = True
    group: ClassVar[str] = "Crv"
    count_point: ClassVar[str] = "NCrv"
    request_point: ClassVar[str] = "AdptCrvReq"
    result_point: ClassVar[str] = "AdptCrvRslt"
    n_points: ClassVar[int] = 0
    """``NPt`` (0: the model has no points per set)."""
    function: ClassVar[tuple[str, ...]]
    """Where the settings sit in the REST body: ``("volt_var",)``, ``("trip", "lv")``."""
    scale_factors: ClassVar[Mapping[str, int]]
    set_points: ClassVar[tuple[SetPoint, ...]]

    def __init__(self, view: DeviceView) -> None:
        active = self.set_values(view.controller.grid_support(view.index))
        self.stored: dict[int, Values] = {n: dict(active) for n in range(2, SETS + 1)}
        self.request = 0
        self.result = COMPLETED
        self._cache: tuple[GridSupportState, Values] | None = None
        """The last ``values`` and the state they show (cleared by a write)."""
        self._checks = {p.path: p for p in self.set_points}
        self._path = re.compile(rf"{re.escape(self.group)}\[(\d+)\]\.(.+)")

    # --- what subclasses provide -----------------------------------------------------------

    def set_values(self, state: GridSupportState) -> Values:
        """The values of the set in force, by path inside the set (``Pt[2].V``)."""
        raise NotImplementedError

    def set_body(self, values: Values) -> dict[str, Any]:
        """The REST body of the function (``{"pt": [...], ...}``) from one set's values."""
        raise NotImplementedError

    def enabled(self, state: GridSupportState) -> bool:
        """The function's ``enabled``."""
        data: Any = state
        for key in self.function:
            data = getattr(data, key)
        return bool(data.enabled)

    def enable_body(self, on: bool) -> dict[str, Any]:
        """The REST body of an ``Ena`` write."""
        return {"enabled": on}

    # --- the section -----------------------------------------------------------------------

    def counts(self) -> Mapping[str, int]:
        """``NCrv`` (``NCrvSet``, ``NCtl``) and ``NPt``."""
        counts = {self.count_point: SETS}
        if self.n_points:
            counts["NPt"] = self.n_points
        return counts

    def writable(self) -> frozenset[str]:
        """``Ena``, the adopt request and the stored sets' points (set 1 is read-only)."""
        paths = {"Ena", self.request_point}
        for n in range(2, SETS + 1):
            paths.update(f"{self.group}[{n}].{p.path}" for p in self.set_points)
        return frozenset(paths)

    def values(self, view: DeviceView) -> Values:
        """The set in force from the façade, the stored sets, the adopt registers (the same
        object as last time while neither the settings nor the registers changed: the façade
        hands back one state object per settings)."""
        state = view.controller.grid_support(view.index)
        if self._cache is not None and self._cache[0] is state:
            return self._cache[1]
        values: Values = dict(self.scale_factors)
        values.update(
            {
                "Ena": ENABLED if self.enabled(state) else DISABLED,
                self.request_point: self.request,
                self.result_point: self.result,
                self.count_point: SETS,
            }
        )
        if self.n_points:
            values["NPt"] = self.n_points
        for n in range(1, SETS + 1):
            prefix = f"{self.group}[{n}]."
            stored = self.set_values(state) if n == 1 else self.stored[n]
            values.update({prefix + k: v for k, v in stored.items()})
            values[prefix + "ReadOnly"] = READ_ONLY if n == 1 else READ_WRITE
        self._cache = (state, values)
        return values

    def wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` nested where the function sits in a ``PUT .../grid-support`` body."""
        for key in reversed(self.function):
            body = {key: body}
        return body

    def write(self, view: DeviceView, changes: Values, current: Values) -> str:
        """Store set points, or enable / adopt through the façade (module docstring)."""
        self._cache = None
        staged = {n: dict(values) for n, values in self.stored.items()}
        stored_paths: list[str] = []
        for path, value in changes.items():
            match = self._path.fullmatch(path)
            if match is None:
                continue
            index, inner = int(match[1]), match[2]
            self._checks[inner].check(value)
            staged[index][inner] = value
            stored_paths.append(path)
        body: dict[str, Any] = {}
        if "Ena" in changes:
            ena = changes["Ena"]
            if ena not in ON_OFF:
                raise refuse(f"Ena: {ena} is neither DISABLED ({DISABLED}) nor ENABLED ({ENABLED})")
            body.update(self.enable_body(ena == ENABLED))
        adopt: int | None = None
        if self.request_point in changes:
            n = changes[self.request_point]
            if not isinstance(n, int) or not 0 <= n <= SETS:
                raise refuse(f"{self.request_point}: {n} is outside 0..{SETS}")
            if n >= 2:
                adopt = n
            try:
                if adopt is not None:
                    body.update(self.set_body(staged[adopt]))
                self._apply(view, body)
            except WriteRefused:
                self.request, self.result = n, FAILED
                raise
            self.request, self.result = n, COMPLETED
        elif body:
            self._apply(view, body)
        self.stored = staged
        done: list[str] = []
        if stored_paths:
            done.append(f"stored {len(stored_paths)} point(s)")
        if adopt is not None:
            done.append(f"{self.group}[{adopt}] adopted")
        if body:
            done.append("grid support " + str(self.wrap(body)))
        return "; ".join(done) or "no change"

    def _apply(self, view: DeviceView, body: dict[str, Any]) -> None:
        if not body:
            return
        try:
            update = GridSupportUpdate.model_validate(self.wrap(body))
        except ValidationError as exc:
            raise refuse("; ".join(p.text() for p in validation_problems(exc))) from None
        try:
            view.controller.update_grid_support(view.index, update)
        except RequestRejected as exc:
            raise refuse(str(exc)) from None
