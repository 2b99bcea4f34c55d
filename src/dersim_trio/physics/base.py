"""The sans-IO contract between the engine and every device model.

A device model is a plain object with one method, ``step(env, dispatch, dt_s)``, that advances
its internal state by ``dt_s`` simulated seconds and returns a ``DeviceOutput``: the AC-side
active and reactive power it delivers at the point of connection, its DC-side quantities, its
SunSpec 701 inverter state, and an asset-specific detail mapping. Models know nothing of trio,
sockets, wall clocks or JSON; the engine turns their output into snapshots.

Sign conventions (SunSpec 701, used everywhere in this package):

* ``ac_power_kw`` > 0 injects into the grid (generation, discharge); < 0 absorbs (charging).
* ``reactive_power_kvar`` > 0 injects vars (over-excited); < 0 absorbs (under-excited).
* ``dc_power_kw`` is the power on the DC side of the inverter, > 0 flowing from the DC source
  towards the AC side (PV generating, battery discharging), < 0 flowing into the DC side.

``Environment``, ``DeviceOutput`` and ``StorageReport`` (and the supervisor's ``Delivered``) are
built for every device every tick and are immutable by convention only: a frozen dataclass sets
each field through ``object.__setattr__``, which made construction three times slower (1.2
against 0.4 µs for nine fields), 2 to 3 µs per device-tick in all. The engine hands one
``Environment`` to every device of a tick that sees the same inputs, so a model must never
change the one it is given.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any, Generic, Literal, Protocol, Self, TypeVar, overload, runtime_checkable

import numpy as np
import numpy.typing as npt

InverterState = Literal[
    "off", "sleeping", "starting", "running", "throttled", "shutting_down", "fault", "standby"
]
"""SunSpec 701 ``InvSt``, lower case."""

AssetValue = float | int | str | bool | None | list[Mapping[str, float | int | str | None]]


@dataclass(slots=True)  # not frozen: module docstring
class Environment:
    """Everything outside the device that it responds to during one tick.

    ``None`` for an optional input means "no external value": the model uses its own source
    (for PV the clear-sky model with seeded clouds, for ambient temperature its diurnal model).
    """

    sim_time: datetime
    """Simulator time at the end of the step, timezone-aware."""
    grid_voltage_pu: float = 1.0
    """Grid voltage at the point of connection in per-unit of the nominal voltage."""
    grid_frequency_hz: float = 60.0
    irradiance_w_m2: float | None = None
    """Irradiance, W/m²: global horizontal, or plane-of-array when ``irradiance_is_poa``."""
    irradiance_is_poa: bool = False
    """Whether ``irradiance_w_m2`` is in the plane of the array (default: global horizontal)."""
    ambient_temperature_c: float | None = None
    wind_speed_m_s: float | None = None
    """Wind speed at the anemometer height, m/s."""
    site_load_kw: float | None = None
    """Consumption of the site behind the device's meter, kW ≥ 0 (hybrid systems)."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Operator requests for one device (the control surface fills these).

    ``active_power_setpoint_kw`` is the requested AC active power (+ inject, - absorb) for
    dispatchable assets (storage, fuel cell, EVSE V2G); ``None`` means no setpoint (idle for
    setpoint-driven assets). ``active_power_limit_pct`` caps output as a percentage of the
    active power rating (SunSpec 704 ``WMaxLimPct``).
    """

    active_power_setpoint_kw: float | None = None
    active_power_limit_pct: float = 100.0


@dataclass(slots=True)  # not frozen: module docstring
class StorageReport:
    """State of charge and its limits, all in percent of the rated energy (SunSpec 713/802)."""

    state_of_charge_pct: float
    soc_reserve_min_pct: float
    soc_reserve_max_pct: float
    soc_min_pct: float
    soc_max_pct: float


@dataclass(slots=True)  # not frozen: module docstring
class DeviceOutput:
    """What a device delivers at the end of one step (see the module docstring for signs)."""

    ac_power_kw: float
    reactive_power_kvar: float
    dc_power_kw: float
    dc_voltage_v: float
    dc_current_a: float
    inverter_state: InverterState
    asset: Mapping[str, AssetValue]
    """A new mapping every step, never changed once returned: a dict, or a row of a fleet's
    ``AssetTable`` (``AssetRow``), which the snapshot publishes as they are (the engine copies
    any other mapping into a dict)."""
    storage: StorageReport | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class AcRating:
    """The AC-side nameplate a device reports under (SunSpec 702)."""

    w_max_kw: float
    """``WMaxRtg``: continuous active power rating, kW."""
    va_max_kva: float
    """``VAMaxRtg``: apparent power rating, kVA."""
    var_max_inj_kvar: float
    """``VarMaxInjRtg``: reactive injection rating, kvar (> 0)."""
    var_max_abs_kvar: float
    """``VarMaxAbsRtg``: reactive absorption rating, kvar (> 0)."""
    w_charge_max_kw: float = 0.0
    """``WChaRteMaxRtg``: the most active power it absorbs, kW (0: it cannot absorb; storage,
    EVSE and a bidirectional fuel cell can)."""
    injects: bool = True
    """Whether it can deliver active power (False: an EVSE station without V2G)."""
    w_min_run_kw: float = 0.0
    """The least |P| it runs at, kW: a setpoint closer to 0 idles it (a fuel cell's minimum
    turndown); 0: any value."""


class DeviceModel(Protocol):
    """A sans-IO device model: state advanced only by ``step``."""

    asset_type: str
    dc_mode: str
    dc_port_count: int
    rating: AcRating

    def step(self, env: Environment, dispatch: Dispatch, dt_s: float) -> DeviceOutput:
        """Advance the model by ``dt_s`` simulated seconds and return its new output."""
        ...


# --- array fleets: the devices of one type stepped as arrays -------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class FleetStep:
    """The outputs of the rows one ``ArrayFleet.step_columns`` call stepped, as columns:
    position ``j`` of every array is the ``j``-th row asked for.

    A fleet's models deliver no reactive power of their own (the supervisor sets Q: the
    operator's power factor or var setpoint, or the grid's reactive mode), so there is no Q
    column; a ``DeviceOutput`` made from a step has ``reactive_power_kvar`` 0.0.
    """

    ac_power_kw: npt.NDArray[np.float64]
    dc_power_kw: npt.NDArray[np.float64]
    dc_voltage_v: npt.NDArray[np.float64]
    dc_current_a: npt.NDArray[np.float64]
    state_codes: npt.NDArray[np.intp]
    """Each row's inverter state, as its position in ``state_names``."""
    state_names: tuple[InverterState, ...]
    assets: AssetTable
    """Row ``j``'s asset is ``AssetRow(assets, j)``."""
    storage: tuple[npt.NDArray[np.float64], ...] | None = None
    """A storage fleet's ``StorageReport`` fields as five columns, in that class's order."""
    messages: Sequence[str | None] | None = None
    """Each row's status message (None: no row has one)."""

    def __len__(self) -> int:
        return len(self.ac_power_kw)

    def outputs(self) -> list[DeviceOutput]:
        """Every row's ``DeviceOutput``, in order."""
        names = self.state_names
        assets = self.assets
        columns = [
            c.tolist()
            for c in (self.ac_power_kw, self.dc_power_kw, self.dc_voltage_v, self.dc_current_a)
        ]
        codes = self.state_codes.tolist()
        storage = self.storage
        messages = self.messages
        if storage is None and messages is None:
            # positional (field order: ac, Q, dc, dc V, dc A, state, asset): a keyword call
            # costs more per device
            return [
                DeviceOutput(ac_kw, 0.0, dc_kw, dc_v, dc_a, names[code], AssetRow(assets, k))
                for k, ac_kw, dc_kw, dc_v, dc_a, code in zip(
                    range(len(codes)), *columns, codes, strict=True
                )
            ]
        reports: Iterable[StorageReport | None] = (
            repeat(None)
            if storage is None
            else [StorageReport(*v) for v in zip(*(c.tolist() for c in storage), strict=True)]
        )
        return [
            DeviceOutput(ac_kw, 0.0, dc_kw, dc_v, dc_a, names[code], AssetRow(assets, k), s, m)
            for k, ac_kw, dc_kw, dc_v, dc_a, code, s, m in zip(
                range(len(codes)),
                *columns,
                codes,
                reports,
                repeat(None) if messages is None else messages,
                strict=False,  # the repeats are endless; the columns have one value per row
            )
        ]

    def output(self, j: int) -> DeviceOutput:
        """Row ``j``'s ``DeviceOutput`` (the ``j``-th of ``outputs()``)."""
        storage = self.storage
        return DeviceOutput(
            float(self.ac_power_kw[j]),
            0.0,
            float(self.dc_power_kw[j]),
            float(self.dc_voltage_v[j]),
            float(self.dc_current_a[j]),
            self.state_names[int(self.state_codes[j])],
            AssetRow(self.assets, j),
            None if storage is None else StorageReport(*(float(c[j]) for c in storage)),
            None if self.messages is None else self.messages[j],
        )


class ArrayFleet(Protocol):
    """Every device of one model type built together, their state in numpy arrays.

    A vectorized model keeps the parameters and state of each of its devices in a row of its
    fleet's arrays and steps any set of rows in one call; a device built alone is a fleet of
    one. Its ``DeviceModel`` (``ArrayMember``) is a view of one row: its ``step`` steps that row
    alone, the engine steps every row of the fleet at once with ``step_columns``, and both run
    the same array code, so a device behaves the same whichever way it is stepped.
    """

    def step_columns(
        self,
        rows: Sequence[int],
        envs: Sequence[Environment],
        dispatches: Sequence[Dispatch],
        dt_s: float,
    ) -> FleetStep:
        """Advance ``rows`` (distinct, any order) by ``dt_s``: ``envs[k]`` and
        ``dispatches[k]`` are row ``rows[k]``'s, all at one ``sim_time``; returns the outputs
        as columns in the same order."""
        ...

    def step_rows(
        self,
        rows: Sequence[int],
        envs: Sequence[Environment],
        dispatches: Sequence[Dispatch],
        dt_s: float,
    ) -> list[DeviceOutput]:
        """``step_columns`` as one ``DeviceOutput`` per row, in order (a fleet class that
        derives from ``ArrayFleet`` has it as it is)."""
        return self.step_columns(rows, envs, dispatches, dt_s).outputs()


@runtime_checkable
class ArrayMember(Protocol):
    """A ``DeviceModel`` that is one row of an ``ArrayFleet`` (checked with ``isinstance``)."""

    @property
    def fleet(self) -> ArrayFleet:
        """The fleet whose arrays hold this device."""
        ...

    @property
    def row(self) -> int:
        """This device's row in ``fleet``."""
        ...


def row_index(rows: Sequence[int], every: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """``rows`` of a fleet as an index array, checked: ints within the fleet (a compiled loop
    does not check its indices). ``every`` is the fleet's ``arange`` of all rows, returned as is
    for ``range(len(every))`` and sliced for one row, so neither costs a conversion."""
    n = every.shape[0]
    if isinstance(rows, range) and rows.step == 1 and rows.start == 0 and rows.stop == n:
        return every
    if len(rows) == 1:  # a device stepped alone
        row = operator.index(rows[0])
        if not 0 <= row < n:
            raise IndexError(f"row {row} outside a fleet of {n}")
        return every[row : row + 1]
    index = np.asarray(rows)
    if index.size == 0:
        return every[:0]
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise TypeError("rows must be a sequence of ints")
    if int(index.min()) < 0 or int(index.max()) >= n:
        raise IndexError(f"rows outside a fleet of {n}")
    return index.astype(np.intp, copy=False)


FleetT = TypeVar("FleetT")


class FleetRow(Generic[FleetT]):
    """The device model of one row of a fleet (an ``ArrayMember``): a view, holding only its
    fleet and row; a subclass sets what it reads from the row's nameplate in ``_attached``."""

    __slots__ = ("_fleet", "_row")

    _fleet: FleetT
    _row: int

    @classmethod
    def view(cls, fleet: FleetT, row: int) -> Self:
        """The model of row ``row`` of ``fleet`` (a fleet's ``members()`` holds them all)."""
        model = cls.__new__(cls)
        model._attach(fleet, row)
        return model

    def _attach(self, fleet: FleetT, row: int) -> None:
        self._fleet = fleet
        self._row = row
        self._attached()

    def _attached(self) -> None:
        """Read what the view keeps from its row (nameplate, rating); nothing by default."""

    @property
    def fleet(self) -> FleetT:
        """The fleet whose arrays hold this device."""
        return self._fleet

    @property
    def row(self) -> int:
        """This device's row in ``fleet``."""
        return self._row


# --- capabilities: what some models offer beyond ``step`` (checked with ``isinstance``) -----------


@runtime_checkable
class IvCurveSource(Protocol):
    """A model with a PV string whose current-voltage curve can be traced (PV, hybrid DC)."""

    def iv_curve(
        self, g_w_m2: float, cell_temp_c: float, points: int = ...
    ) -> Sequence[tuple[float, float, float]]:
        """(V, A, W) samples of the string's I-V curve at an irradiance and cell temperature."""
        ...


@dataclass(frozen=True, slots=True)
class StorageRating:
    """The nameplate of a device's storage (SunSpec 713 ``WHRtg``/``SoH``, 802 ratings)."""

    energy_kwh: float
    """Rated energy ``WHRtg``, kWh (the usable capacity is this × state of health)."""
    w_charge_max_kw: float
    """Charge rating at the storage's own terminals, kW (802 ``WChaRteMax``)."""
    w_discharge_max_kw: float
    """Discharge rating, kW (802 ``WDisChaRteMax``)."""
    chemistry: str
    """Cell chemistry, e.g. ``NMC`` or ``LFP`` (802 ``Typ``: both are lithium-ion)."""
    state_of_health_pct: float
    soc_min_pct: float
    """Nameplate usable minimum (802 ``SoCMin``)."""
    soc_max_pct: float
    """Nameplate usable maximum (802 ``SoCMax``)."""


@runtime_checkable
class RatedStorage(Protocol):
    """A model with an energy store whose ratings a protocol reports (battery, hybrid DC)."""

    @property
    def storage_rating(self) -> StorageRating:
        """The storage's nameplate ratings."""
        ...


@runtime_checkable
class SelectableDispatch(Protocol):
    """A model whose coordinator policy the operator may change at run time (hybrid DC)."""

    dispatch_policy: str
    """The policy in force; assigning a name the model does not know raises ``ValueError``."""


AssetSource = Literal["float", "float_or_null", "flag", "const", "row"]
"""Where an asset key's value comes from (see ``AssetLayout``)."""

_T = TypeVar("_T")
_Getter = Callable[
    [list[float], Mapping[str, AssetValue], Mapping[str, Sequence[AssetValue]], int], _T
]
"""A generated reader of ``AssetLayout``: (the row's floats, constants, per-row values, the
fleet's row) → the value."""


class AssetLayout:
    """The keys of a fleet's asset mappings and where each value comes from, made once per
    fleet type. Row ``i`` of an ``AssetTable`` is ``{key: value}`` for every key of ``plan``,
    in its order, the value by its source:

    * ``"float"``: ``floats[i, column]`` as a Python float;
    * ``"float_or_null"``: the same, None where it is NaN (a quantity the fleet cannot give);
    * ``"flag"``: ``floats[i, column] == 1.0`` (a bool kept as 1.0 or 0.0);
    * ``"const"``: ``consts[key]``, the same for every row;
    * ``"row"``: ``per_row[key][r]``, ``r`` the fleet's row of table row ``i`` (a nameplate
      value: a string, a number).

    ``build`` makes a row's dict and ``getters[key]`` one value: functions generated from the
    plan once, from one expression per key (a dict display, as ``dataclasses`` generates
    ``__init__``), as fast as the dict literal the fleet wrote before, where a loop over the
    plan per row took three times as long.
    """

    __slots__ = ("build", "columns", "getters", "keys", "plan")

    def __init__(self, plan: Sequence[tuple[str, AssetSource, int]]) -> None:
        self.plan = tuple(plan)
        self.keys = tuple(key for key, _, _ in plan)
        self.columns = {key: column for key, source, column in plan if source == "float"}
        """The output column of each key whose value is that column's float as it is."""
        exprs = {
            key: {
                "float": f"v[{column}]",
                "float_or_null": f"(None if v[{column}] != v[{column}] else v[{column}])",
                "flag": f"v[{column}] == 1.0",
                "const": f"consts[{key!r}]",
                "row": f"per_row[{key!r}][r]",
            }[source]
            for key, source, column in plan
        }
        args = "v, consts, per_row, r"
        display = ", ".join(f"{key!r}: {expr}" for key, expr in exprs.items())
        code = f"def build({args}):\n    return {{{display}}}\n"
        code += "".join(
            f"def get_{n}({args}):\n    return {e}\n" for n, e in enumerate(exprs.values())
        )
        namespace: dict[str, Any] = {}
        exec(code, namespace)
        self.build: _Getter[dict[str, AssetValue]] = namespace["build"]
        self.getters: dict[str, _Getter[AssetValue]] = {
            key: namespace[f"get_{n}"] for n, key in enumerate(exprs)
        }


class AssetTable:
    """The asset mappings of a fleet's rows for one step, kept as the fleet's columns
    (``layout``: which key comes from where; ``floats``: the step's output columns, one row
    per stepped row).

    The snapshot check reads the columns, not a dict per device (``api.wire``: the float
    columns as one array against their bounds, the per-row values and the constants as
    columns), and a row's dict is made when someone reads it (``AssetRow``). A table is made
    new every step and never changed.
    """

    __slots__ = ("_lists", "consts", "floats", "layout", "per_row", "rows")

    def __init__(
        self,
        layout: AssetLayout,
        floats: npt.NDArray[np.float64],
        consts: Mapping[str, AssetValue] | None = None,
        per_row: Mapping[str, Sequence[AssetValue]] | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.layout = layout
        self.floats = floats
        self.consts: Mapping[str, AssetValue] = consts or {}
        self.per_row: Mapping[str, Sequence[AssetValue]] = per_row or {}
        """Per key of source ``"row"``: its value for every row of the fleet."""
        self.rows: Sequence[int] = range(len(floats)) if rows is None else rows
        """The fleet's row of each table row (default: the same)."""
        self._lists: list[list[float]] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return self.layout.keys

    def __len__(self) -> int:
        return len(self.floats)

    def _values(self, i: int) -> list[float]:
        lists = self._lists
        if lists is None:
            lists = self._lists = self.floats.tolist()
        return lists[i]

    def row(self, i: int) -> dict[str, AssetValue]:
        """Row ``i``'s asset as a new dict."""
        return self.layout.build(self._values(i), self.consts, self.per_row, self.rows[i])

    def value(self, i: int, key: str) -> AssetValue:
        """Row ``i``'s value of ``key`` (``KeyError``: no such key)."""
        get = self.layout.getters[key]
        return get(self._values(i), self.consts, self.per_row, self.rows[i])

    def column(self, key: str) -> list[AssetValue]:
        """Every row's value of ``key``, in row order (``value`` of each row; a ``"float"``
        column read as one array, not row by row). ``KeyError``: no such key."""
        get = self.layout.getters[key]
        column = self.layout.columns.get(key)
        if column is not None:
            values: list[AssetValue] = self.floats[:, column].tolist()
            return values
        rows = self.rows
        return [get(self._values(i), self.consts, self.per_row, rows[i]) for i in range(len(self))]


def whole_table(assets: Sequence[object]) -> AssetTable | None:
    """The ``AssetTable`` whose rows ``assets`` are, every one in order (a fleet's tick), else
    None."""
    if type(assets) is AssetRows:
        table = assets.table
        indices = assets.indices
        whole = indices == range(len(table))
        return table if whole else None
    first = assets[0] if assets else None
    if type(first) is not AssetRow:
        return None
    table = first.table
    if len(assets) == len(table) and all(
        type(a) is AssetRow and a.table is table and a.index == i for i, a in enumerate(assets)
    ):
        return table
    return None


def asset_column(assets: Sequence[Mapping[str, AssetValue]], key: str) -> list[AssetValue | None]:
    """``[asset.get(key) for asset in assets]``: an ``AssetTable``'s column at once where the
    assets are its rows in order (``whole_table``), else asset by asset."""
    table = whole_table(assets)
    if table is None:
        return [asset.get(key) for asset in assets]
    if key not in table.layout.getters:
        return [None] * len(assets)
    return table.column(key)


class AssetRow(Mapping[str, AssetValue]):
    """Row ``index`` of an ``AssetTable`` as a read-only mapping (``as_dict``: a plain dict)."""

    __slots__ = ("index", "table")

    def __init__(self, table: AssetTable, index: int) -> None:
        self.table = table
        self.index = index

    def as_dict(self) -> dict[str, AssetValue]:
        return self.table.row(self.index)

    def __getitem__(self, key: str) -> AssetValue:
        return self.table.value(self.index, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.table.keys)

    def __len__(self) -> int:
        return len(self.table.keys)


class AssetRows(Sequence[AssetRow]):
    """Rows ``indices`` of an ``AssetTable`` as a sequence of ``AssetRow``, each made when it
    is read: a fleet's asset column for a tick without an object per device until someone
    reads one (the snapshot check reads the table's columns, ``whole_table``). Each read makes
    a new ``AssetRow``: compare them by value, never by ``id``."""

    __slots__ = ("indices", "table")

    def __init__(self, table: AssetTable, indices: Sequence[int]) -> None:
        self.table = table
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, i: int) -> AssetRow: ...

    @overload
    def __getitem__(self, i: slice) -> list[AssetRow]: ...

    def __getitem__(self, i: int | slice) -> AssetRow | list[AssetRow]:
        if isinstance(i, slice):
            return [AssetRow(self.table, k) for k in self.indices[i]]
        return AssetRow(self.table, self.indices[i])

    def __iter__(self) -> Iterator[AssetRow]:
        return map(AssetRow, repeat(self.table), self.indices)
