"""One tick's snapshots as the engine publishes them: checked in bulk, encoded fast, read lazily.

The guarantee of the telemetry (``api.schema``): no NaN, no infinity, no number outside its
field's range, no state outside its field's choices, no missing or unknown key ever reaches a
client. Validating every device's ``Snapshot`` one by one with pydantic gave that guarantee but
cost more than the physics of most device types (``BENCHMARKS.md``). Here the same rules are
checked per field over every device of a tick at once (one numpy array per numeric field):

* the rules are read from the pydantic models themselves (``Snapshot`` and its nested models:
  each field's type, ``ge``/``le`` bounds, ``Literal`` choices, nullability, ``extra`` policy),
  so the check cannot drift from the schema ``/openapi.json`` documents;
* a violation raises ``SnapshotError`` (a ``ValueError``, as pydantic's ``ValidationError`` is)
  naming the device, the field and the value: the tick fails loudly, as before;
* an ``int`` (or a numpy float) in a ``float`` field becomes a Python ``float``, as pydantic's
  validation would make it, so the bytes are those of the validated model;
* the assets' extra keys (``extra="allow"``, documented per model) are checked to be finite too,
  which the per-device validation never did.

Records. The engine hands a tick over as one flat tuple per device (``RECORD_FIELDS``: every
field that differs between devices, in a fixed order) and the tick's shared values once
(``TickCommon``: tick, timestamp, clock, device type and profile). ``TickSnapshots.of_records``
checks them column by column (``zip(*records)``): every number of the tick in one float64 array
against its field's bounds, each state or text column as a set of its distinct values, the
nested blocks (asset, grid support, last trip) with the rows' own checks. The layout is checked
against the schema at import, and rows are built from it by a function generated from the
schema's field order, so a record cannot publish a key the schema lacks or miss one. A row is
built only when someone needs one (encoding, reading); the history and the metrics read columns.
Where a number fails the fast test, the tick's rows are built and checked as rows, so the error
(or the ``int`` made a ``float``) is exactly the rows' check's. The engine passes its columns
(``TickSnapshots.of_columns``), the AC quantities it derives for every device at once as float64
arrays, checked as they are. A fleet's assets are rows of one ``AssetTable`` per step
(``physics.base``): checked on the table's columns against the asset model's bounds
(``_table_pass``), made dicts only when a row is built.

Encoding. The checked row (a plain dict shaped like the schema) is encoded with
``pydantic_core.to_json``: on this workload it is as fast as msgspec's encoder on dicts and
faster than orjson's, msgspec is a third faster but a new dependency (``scripts/bench_wire.py``,
``BENCHMARKS.md`` §3); it is already a dependency, and it is the serializer the ``Snapshot``
model itself uses, so the published JSON is the model's: the same keys, values and number
formatting (an asset's extra keys keep the order the model gave them, where the model would put
its declared keys first). ``tests/test_wire.py`` checks it for every device type, and that every
published key and type is the one ``/openapi.json`` declares. A whole tick whose rows were never
built (``payloads``: a broadcast, an MQTT batch) is encoded from its columns without a row: the
numbers rounded a column at a time as float64 arrays (the same IEEE operations as the rows'
rounder), the nested blocks rounded as the rounder rounds them (``api.resolution.record_rounding``
reads its plan), then each column written as JSON at once by ``to_json`` (a column of numbers as
one list, split at its commas; a value every device shares once) and each device's bytes made by
one ``%`` of the tick's template, the shared values already in it. The text of every value is
``to_json``'s own, so the bytes are the rows' (tested for every type, at rounding boundaries, ±0,
beyond the range rounding applies to, and NaN where null is allowed); a 10,000-device PV tick
costs 5 µs per device this way, 23 µs building, rounding and encoding each row
(``scripts/bench_wire.py``).

Reading. ``TickSnapshots`` is a ``Sequence[Snapshot]``: an item is validated into a ``Snapshot``
only when someone reads it (a Modbus request, a test), so a tick nobody reads in detail costs no
model objects; ``column`` gives the history and the metrics the values without rows. Its JSON is
encoded the same way, when first asked for (``payloads``, ``payload``): the service publishes a
tick without encoding it (``service.hub``), so with nobody connected the check runs every tick
and the encoding never.
"""

from __future__ import annotations

import math
import operator
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, Final, Literal, overload

import annotated_types
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from pydantic_core import to_json

from dersim_trio.api.resolution import (
    quantize,
    quantize_array,
    record_rounding,
    resolution_of,
    round_copy,
)
from dersim_trio.api.schema import ASSET_MODELS, Snapshot, round_snapshot_payload
from dersim_trio.physics.base import AssetRow, AssetRows, AssetTable, whole_table

Row = dict[str, Any]
"""One device's snapshot as a plain dict shaped like ``Snapshot``."""


class SnapshotError(ValueError):
    """A snapshot breaks the schema: the tick is not published."""


@dataclass(frozen=True, slots=True)
class _Rule:
    """What one field of a model allows."""

    name: str
    kind: Literal["float", "int", "str", "model", "list_str", "list_float", "list_model", "asset"]
    nullable: bool
    ge: float | None = None
    le: float | None = None
    choices: frozenset[str] | None = None
    model: _ModelRules | None = None


@dataclass(frozen=True, slots=True)
class _ModelRules:
    """The rules of one pydantic model: its fields and whether extra keys are allowed."""

    name: str
    fields: tuple[_Rule, ...]
    keys: frozenset[str]
    keys_in_order: tuple[str, ...]
    extra_allowed: bool
    floats: _FloatPlan
    """Every ``float`` field at once (the fast path of the check)."""
    by_name: dict[str, _Rule]
    """The fields by name."""


@dataclass(frozen=True, slots=True)
class _FloatPlan:
    """Float fields checked together: names, lower and upper bounds, which may be null."""

    names: tuple[str, ...]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]
    nullable: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, rules: Sequence[_Rule]) -> _FloatPlan:
        floats = [r for r in rules if r.kind == "float"]
        return cls(
            tuple(r.name for r in floats),
            np.array([-np.inf if r.ge is None else r.ge for r in floats], dtype=np.float64),
            np.array([np.inf if r.le is None else r.le for r in floats], dtype=np.float64),
            np.array([r.nullable for r in floats], dtype=np.bool_),
        )

    def passes(self, dicts: Sequence[Row]) -> bool:
        """Whether every value is a finite ``float`` within its bounds (or null where allowed);
        False sends the caller to the field-by-field check, which coerces or names the culprit.
        """
        names = self.names
        if not names or not dicts:
            return True
        get = itemgetter(*names)
        rows = list(map(get, dicts)) if len(names) > 1 else [(v,) for v in map(get, dicts)]
        flat = list(chain.from_iterable(rows))
        kinds = set(map(type, flat))
        if not kinds <= _FLOAT_OR_NONE:
            return False
        values = np.array(flat, dtype=np.float64).reshape(len(rows), len(names))  # null → NaN
        nan = np.isnan(values)
        if type(None) in kinds:  # null only where allowed, and no NaN beside the nulls
            if nan[:, ~self.nullable].any() or int(nan.sum()) != flat.count(None):
                return False
        elif nan.any():
            return False
        with np.errstate(invalid="ignore"):
            return not (
                np.isinf(values).any() or (values < self.lo).any() or (values > self.hi).any()
            )


_FLOAT_OR_NONE = frozenset({float, type(None)})
_PLAIN = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})


def _rules_of(model: type[BaseModel]) -> _ModelRules:
    fields = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nullable = False
        args = typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            members = [a for a in args if a is not type(None)]
            nullable = len(members) < len(args)
            if len(members) == 1:
                annotation = members[0]
        ge = le = None
        for meta in info.metadata:
            if isinstance(meta, annotated_types.Ge):
                ge = float(typing.cast(float, meta.ge))
            elif isinstance(meta, annotated_types.Le):
                le = float(typing.cast(float, meta.le))
        origin = typing.get_origin(annotation)
        rule: _Rule
        if annotation is float:
            rule = _Rule(name, "float", nullable, ge, le)
        elif annotation is int:
            rule = _Rule(name, "int", nullable, ge, le)
        elif annotation is str:
            rule = _Rule(name, "str", nullable)
        elif origin is Literal:
            rule = _Rule(name, "str", nullable, choices=frozenset(typing.get_args(annotation)))
        elif origin is list and typing.get_args(annotation)[0] is str:
            rule = _Rule(name, "list_str", nullable)
        elif origin is list and typing.get_args(annotation)[0] is float:
            rule = _Rule(name, "list_float", nullable)
        elif origin is list:
            item = typing.get_args(annotation)[0]
            rule = _Rule(name, "list_model", nullable, model=_rules_of(item))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rule = _Rule(name, "model", nullable, model=_rules_of(annotation))
        elif name == "asset":
            rule = _Rule(name, "asset", nullable)
        else:  # a new kind of field: extend the check before publishing it
            raise TypeError(f"{model.__name__}.{name}: no bulk check for {annotation!r}")
        fields.append(rule)
    return _ModelRules(
        model.__name__,
        tuple(fields),
        frozenset(model.model_fields),
        tuple(model.model_fields),
        model.model_config.get("extra") == "allow",
        _FloatPlan.of(fields),
        {rule.name: rule for rule in fields},
    )


SNAPSHOT_RULES = _rules_of(Snapshot)
ASSET_RULES = {asset_type: _rules_of(model) for asset_type, model in ASSET_MODELS.items()}


def _fail(owner: int, path: str, value: object, why: str) -> SnapshotError:
    return SnapshotError(f"device {owner}: snapshot field {path} = {value!r}: {why}")


def _check_floats(rule: _Rule, dicts: Sequence[Row], owners: Sequence[int], path: str) -> None:
    name = rule.name
    column = [d[name] for d in dicts]
    kinds = set(map(type, column))
    if kinds - {float, type(None)}:  # ints, numpy floats: to float as validation would
        for d, owner, value in zip(dicts, owners, column, strict=True):
            if type(value) is float or (value is None and rule.nullable):
                continue
            if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(
                value, bool
            ):
                d[name] = float(value)
            else:
                raise _fail(owner, path, value, "not a number")
        column = [d[name] for d in dicts]
    if type(None) in kinds:
        if not rule.nullable:
            owner = owners[column.index(None)]
            raise _fail(owner, path, None, "must not be null")
        pairs = [(v, o) for v, o in zip(column, owners, strict=True) if v is not None]
        column = [v for v, _ in pairs]
        owners = [o for _, o in pairs]
        if not column:
            return
    values = np.array(column, dtype=np.float64)
    bad = ~np.isfinite(values)
    if rule.ge is not None:
        bad |= values < rule.ge
    if rule.le is not None:
        bad |= values > rule.le
    if bad.any():
        i = int(np.argmax(bad))
        value = column[i]
        lo = "-inf" if rule.ge is None else f"{rule.ge:g}"
        hi = "inf" if rule.le is None else f"{rule.le:g}"
        why = "not finite" if not math.isfinite(value) else f"outside [{lo}, {hi}]"
        raise _fail(owners[i], path, value, why)


def _check_extras(value: object, owner: int, path: str) -> None:
    """An undeclared value: finite numbers, strings, bools, null, lists and dicts of them."""
    if type(value) is float:
        if not math.isfinite(value):
            raise _fail(owner, path, value, "not finite")
    elif isinstance(value, (str, int)) or value is None:
        return
    elif isinstance(value, list | tuple):
        for item in value:
            _check_extras(item, owner, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_extras(item, owner, f"{path}.{key}")
    else:
        raise _fail(owner, path, value, "not a JSON value")


def _check_model(
    rules: _ModelRules, dicts: Sequence[Row], owners: Sequence[int], path: str
) -> None:
    keys = rules.keys
    if set(map(type, dicts)) != {dict}:
        for d, owner in zip(dicts, owners, strict=True):
            if not isinstance(d, dict):
                raise _fail(owner, path, d, f"not a {rules.name} object")
    # every declared key (and, extra="forbid", no other): one C-level pass
    same = operator.le if rules.extra_allowed else operator.eq
    if not all(map(same, repeat(keys), map(dict.keys, dicts))):
        for d, owner in zip(dicts, owners, strict=True):
            if not same(keys, d.keys()):
                missing = sorted(keys - d.keys())
                extra = [] if rules.extra_allowed else sorted(d.keys() - keys)
                raise _fail(owner, path, sorted(d), f"missing {missing}, unknown {extra}")
    if rules.extra_allowed and _alike_pass(rules, dicts, owners, path):
        return
    _check_fields(rules, dicts, owners, path)
    if rules.extra_allowed:
        _check_extra_values(rules, dicts, owners, path)


def _alike_pass(rules: _ModelRules, dicts: Sequence[Row], owners: Sequence[int], path: str) -> bool:
    """The fast path for dicts with the same keys in the same order (a fleet's assets): every
    value read in one pass, the numbers (declared and extra) checked as one float64 array,
    the declared fields of other kinds column by column. False (nothing raised): the dicts
    differ, or a value needs the field-by-field check to be coerced or named."""
    first = tuple(dicts[0])
    if len(first) < 2 or not all(map(operator.eq, repeat(first), map(tuple, dicts))):
        return False
    columns = list(zip(*map(itemgetter(*first), dicts), strict=True))
    declared = rules.by_name
    numbers: list[tuple[Any, ...]] = []
    lo: list[float] = []
    hi: list[float] = []
    later: list[tuple[_Rule, tuple[Any, ...]]] = []
    for name, column in zip(first, columns, strict=True):
        rule = declared.get(name)
        kinds = set(map(type, column))
        if kinds == _FLOAT and (rule is None or rule.kind == "float"):
            numbers.append(column)
            lo.append(-math.inf if rule is None or rule.ge is None else rule.ge)
            hi.append(math.inf if rule is None or rule.le is None else rule.le)
        elif rule is None:
            if not kinds <= _PLAIN:
                return False  # an extra list, dict or number beside nulls: one by one
        elif rule.kind == "float":
            return False
        else:
            later.append((rule, column))
    if numbers:
        size = len(numbers) * len(dicts)
        values = np.fromiter(chain.from_iterable(numbers), np.float64, size)
        bounds = (np.array(lo)[:, None], np.array(hi)[:, None])
        if not _finite_within(values.reshape(len(numbers), -1), *bounds):
            return False
    for rule, column in later:
        _check_column(rule, list(column), owners, f"{path}.{rule.name}", lambda: [])
    return True


def _check_extra_values(
    rules: _ModelRules, dicts: Sequence[Row], owners: Sequence[int], path: str
) -> None:
    """The extra keys of ``extra="allow"`` dicts: finite floats, strings, ints, bools, null,
    lists and dicts of them; column by column where every dict has the key, else one by one."""
    extra = sorted(set().union(*map(dict.keys, dicts)) - rules.keys)
    if not extra:
        return
    try:  # every dict has every extra key (a fleet's assets): one pass for all columns
        get = itemgetter(*extra)
        columns = (
            list(zip(*map(get, dicts), strict=True)) if len(extra) > 1 else [tuple(map(get, dicts))]
        )
    except KeyError:
        columns = [tuple(d.get(key) for d in dicts) for key in extra]
    numeric: list[tuple[Any, ...]] = []
    for key, column in zip(extra, columns, strict=True):
        kinds = set(map(type, column))
        if kinds <= _PLAIN:
            continue
        if kinds == _FLOAT:
            numeric.append(column)
            continue
        for d, owner in zip(dicts, owners, strict=True):
            if key in d:
                _check_extras(d[key], owner, f"{path}.{key}")
    if numeric:
        size = len(numeric) * len(dicts)
        if not np.isfinite(np.fromiter(chain.from_iterable(numeric), np.float64, size)).all():
            for key, column in zip(extra, columns, strict=True):
                for value, owner in zip(column, owners, strict=True):
                    _check_extras(value, owner, f"{path}.{key}")


def _check_fields(
    rules: _ModelRules, dicts: Sequence[Row], owners: Sequence[int], path: str
) -> None:
    floats_pass = rules.floats.passes(dicts)
    for rule in rules.fields:
        name = rule.name
        where = f"{path}.{name}" if path else name
        if rule.kind == "float":
            if not floats_pass:
                _check_floats(rule, dicts, owners, where)
            continue
        _check_column(
            rule,
            list(map(itemgetter(name), dicts)),
            owners,
            where,
            lambda: list(map(itemgetter("asset_type"), dicts)),
        )


def _check_column(
    rule: _Rule,
    column: Sequence[Any],
    owners: Sequence[int],
    where: str,
    asset_types: Callable[[], list[Any]],
) -> None:
    """One field that is not a ``float`` (those are checked together, ``_FloatPlan`` and
    ``_columns_pass``) over every device (``asset_types``: the rows' asset types, read only for
    the asset block)."""
    name = rule.name
    kind = rule.kind
    if kind == "str":
        allowed = rule.choices
        seen = set(column)
        if allowed is not None:
            wrong = seen - allowed - ({None} if rule.nullable else set())
        else:
            wrong = {v for v in seen if not isinstance(v, str)}
            if rule.nullable:
                wrong.discard(None)
        if wrong:
            value = next(v for v in column if v in wrong)
            owner = owners[column.index(value)]
            raise _fail(owner, where, value, "not allowed" if allowed else "not a string")
    elif kind == "int":
        if rule.nullable:
            owners_of = [o for v, o in zip(column, owners, strict=True) if v is not None]
            column = [v for v in column if v is not None]
        else:
            owners_of = list(owners)
        if column and (
            set(map(type, column)) != {int} or (rule.ge is not None and min(column) < rule.ge)
        ):
            for value, owner in zip(column, owners_of, strict=True):
                if type(value) is not int or (rule.ge is not None and value < rule.ge):
                    raise _fail(owner, where, value, f"not an integer >= {rule.ge:g}")
    elif kind == "list_str":
        # Rows share their lists (the grid block's ``functions`` is one list per settings
        # object), so each distinct list is checked once.
        distinct = {id(value): value for value in column}
        if not all(
            isinstance(value, list) and set(map(type, value)) <= _STR for value in distinct.values()
        ):
            for value, owner in zip(column, owners, strict=True):
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise _fail(owner, where, value, "not a list of strings")
    elif kind == "list_float":
        if set(map(type, column)) != {list}:
            for value, owner in zip(column, owners, strict=True):
                if not isinstance(value, list):
                    raise _fail(owner, where, value, "not a list of numbers")
        flat = list(chain.from_iterable(column))
        if flat and (
            set(map(type, flat)) != {float}
            or not np.isfinite(np.array(flat, dtype=np.float64)).all()
        ):
            for value, owner in zip(column, owners, strict=True):
                for item in value:
                    if type(item) is not float or not math.isfinite(item):
                        raise _fail(owner, where, item, "not a finite number")
    elif kind == "model":
        assert rule.model is not None
        if name in _REUSED_BLOCKS:
            _check_reused(rule, column, owners, where)
            return
        if None not in column:
            _check_model(rule.model, column, owners, where)
            return
        if not rule.nullable:
            owner = owners[column.index(None)]
            raise _fail(owner, where, None, "must not be null")
        if column.count(None) == len(column):  # null for every device (no trip yet)
            return
        present = [(v, o) for v, o in zip(column, owners, strict=True) if v is not None]
        if present:
            _check_model(rule.model, [v for v, _ in present], [o for _, o in present], where)
    elif kind == "list_model":
        assert rule.model is not None
        items: list[tuple[Row, int]] = []
        for value, owner in zip(column, owners, strict=True):
            if not isinstance(value, list):
                raise _fail(owner, where, value, "not a list")
            items.extend((item, owner) for item in value)
        if items:
            _check_model(rule.model, [v for v, _ in items], [o for _, o in items], where)
    else:  # the asset block: the model named by each row's asset_type
        assert kind == "asset", f"{where}: a {kind} field is checked with its row's numbers"
        groups: dict[str, tuple[list[Row], list[int]]] = {}
        tables: dict[tuple[int, str], tuple[AssetTable, list[int], list[int]]] = {}
        types = asset_types()
        whole = whole_table(column)
        if whole is not None and len(set(types)) == 1 and types[0] in ASSET_RULES:
            # one fleet's table, every row in order (a fleet's tick): no per-device grouping
            tables[(id(whole), types[0])] = (whole, list(range(len(column))), list(owners))
        else:
            for asset_type, value, owner in zip(types, column, owners, strict=True):
                if type(value) is AssetRow and asset_type in ASSET_RULES:  # a fleet's columns
                    key = (id(value.table), asset_type)
                    entry = tables.setdefault(key, (value.table, [], []))
                    entry[1].append(value.index)
                    entry[2].append(owner)
                    continue
                asset_rules = ASSET_RULES.get(asset_type)
                if asset_rules is None or not isinstance(value, dict):
                    raise _fail(owner, where, value, f"no asset of type {asset_type!r}")
                group = groups.setdefault(asset_type, ([], []))
                group[0].append(value)
                group[1].append(owner)
        for asset_type, (assets, asset_owners) in groups.items():
            _check_model(ASSET_RULES[asset_type], assets, asset_owners, where)
        for (_, asset_type), (table, indices, table_owners) in tables.items():
            rules = ASSET_RULES[asset_type]
            if not _table_pass(rules, table, indices, table_owners, where):
                rows = [table.row(i) for i in indices]  # one by one: names the culprit
                _check_model(rules, rows, table_owners, where)


def _plain_asset(asset: Any) -> Any:
    """A record's asset as the row's dict (a fleet's ``AssetRow`` made a dict)."""
    return asset.as_dict() if type(asset) is AssetRow else asset


def _table_pass(
    rules: _ModelRules,
    table: AssetTable,
    indices: Sequence[int],
    owners: Sequence[int],
    where: str,
) -> bool:
    """An ``AssetTable``'s rows against an asset model, on its columns: each float column
    against its bounds (NaN allowed where the source gives null), the per-row values and the
    constants with the rows' own checks. False: the rows' dicts are to be checked one field at
    a time (which names the culprit)."""
    declared = rules.by_name
    if not rules.keys <= set(table.keys):
        return False
    floats = table.floats
    if floats.dtype != np.float64 or floats.ndim != 2:
        return False
    values = floats if len(indices) == len(floats) else floats[list(indices)]
    for key, source, j in table.layout.plan:
        rule = declared.get(key)
        if source in ("float", "float_or_null"):
            if rule is not None and (
                rule.kind != "float" or (source == "float_or_null" and not rule.nullable)
            ):
                return False
            column = values[:, j]
            if source == "float_or_null":
                column = column[~np.isnan(column)]
            if not _finite_within(
                column, None if rule is None else rule.ge, None if rule is None else rule.le
            ):
                return False
        elif source == "flag":
            if rule is not None:
                return False  # no declared field is a bool
        else:  # the same value for every row (checked once), or a nameplate value per row
            item_owners = owners
            if source == "const":
                items = [table.consts[key]]
                item_owners = owners[:1]
            else:
                per_row, fleet_rows = table.per_row[key], table.rows
                items = [per_row[fleet_rows[i]] for i in indices]
            if rule is None:
                kinds = set(map(type, items))
                if not kinds <= _PLAIN | _FLOAT:
                    return False
                numbers = [v for v in items if type(v) is float]
                if numbers and not np.isfinite(np.array(numbers, dtype=np.float64)).all():
                    return False
            elif rule.kind == "float":
                if set(map(type, items)) != _FLOAT or not _finite_within(
                    np.array(items, dtype=np.float64), rule.ge, rule.le
                ):
                    return False
            else:
                _check_column(rule, items, item_owners, f"{where}.{key}", lambda: [])
    return True


_REUSED_BLOCKS = frozenset({"grid_support"})
"""Nested blocks the engine hands out again, the same object tick after tick, while their values
stay (``engine.core._grid_support`` keeps a device's block until one of its values changes, and
a published block is never changed in place): a block checked before is not checked again."""
_checked_blocks: dict[str, dict[int, Row]] = {}
"""Per field path, the blocks of the last check that passed, by ``id`` (held, so no other object
can take the same ``id`` while it is remembered)."""


def _check_reused(rule: _Rule, column: Sequence[Any], owners: Sequence[int], where: str) -> None:
    """A ``_REUSED_BLOCKS`` field: only the blocks not seen in the last check are checked."""
    assert rule.model is not None
    if not rule.nullable and None in column:
        owner = owners[column.index(None)]
        raise _fail(owner, where, None, "must not be null")
    seen = _checked_blocks.get(where, {})
    first = column[0] if column else None
    if first is not None and all(map(operator.is_, column, repeat(first))):
        # one block for every device (a quiet fleet's): checked once, if new
        if seen.get(id(first)) is not first:
            _check_model(rule.model, [first], owners[:1], where)
        _checked_blocks[where] = {id(first): first}
        return
    fresh = [
        (v, o)
        for v, o in zip(column, owners, strict=True)
        if v is not None and seen.get(id(v)) is not v
    ]
    if fresh:
        _check_model(rule.model, [v for v, _ in fresh], [o for _, o in fresh], where)
    _checked_blocks[where] = {id(v): v for v in column if v is not None}


# ---------------------------------------------------------------------------------------------
# Records: a tick's snapshots as flat tuples, checked column by column, rows built on demand

RECORD_FIELDS: Final = (
    # numbers, never null
    "metrics.power_kw",
    "metrics.reactive_power_kvar",
    "metrics.frequency_hz",
    "metrics.dc_power_kw",
    "metrics.dc_voltage_v",
    "metrics.dc_current_a",
    "energy.injected_kwh",
    "energy.absorbed_kwh",
    "energy.reactive_injected_kvarh",
    "energy.reactive_absorbed_kvarh",
    # numbers or null (storage only)
    "metrics.state_of_charge_pct",
    "metrics.soc_reserve_min_pct",
    "metrics.soc_reserve_max_pct",
    "metrics.soc_min_pct",
    "metrics.soc_max_pct",
    # states and text
    "status.service_state",
    "status.inverter_state",
    "status.connection_state",
    "status.message",
    "status.grid_state",
    "dc_mode",
    "asset_type",
    # integers
    "dc_port_count",
    "device_index",
    # nested blocks
    "status.last_trip",
    "asset",
    "grid_support",
    # numbers the engine derives for the whole tick at once (``physics.ac.measure_columns``)
    "metrics.apparent_power_kva",
    "metrics.voltage_ll_v",
    "metrics.voltage_ln_v",
    "metrics.current_a",
    "metrics.power_factor",
    "pq.active_kw",
    "pq.reactive_kvar",
    "pq.apparent_kva",
    "pq.angle_deg",
)
"""The fields of one device's record (``Record``), in its order: every field of ``Snapshot``
and of its ``metrics``, ``pq``, ``status`` and ``energy`` blocks that differs between devices
(the rest are the tick's, ``TickCommon``). Checked against the schema at import: together with
``TICK_FIELDS`` they are exactly the schema's fields."""

TICK_FIELDS: Final = (
    "tick",
    "metrics.timestamp",
    "clock_time",
    "device_type",
    "device_profile_name",
)
"""The fields every device of a tick shares (``TickCommon``, in this order)."""

Record = tuple[Any, ...]
"""One device's snapshot values in ``RECORD_FIELDS`` order."""

Column = Sequence[Any] | npt.NDArray[np.float64]
"""One field of every device of a tick (a number field may be a float64 array)."""

_FLAT_BLOCKS = frozenset({"metrics", "pq", "status", "energy"})


@dataclass(frozen=True, slots=True)
class TickCommon:
    """The values every snapshot of one tick shares (``TICK_FIELDS``)."""

    tick: int
    timestamp: str
    clock_time: str
    device_type: str
    device_profile_name: str | None

    def values(self) -> tuple[Any, ...]:
        return (
            self.tick,
            self.timestamp,
            self.clock_time,
            self.device_type,
            self.device_profile_name,
        )


def _leaf_rules(rules: _ModelRules, prefix: str = "") -> dict[str, _Rule]:
    leaves: dict[str, _Rule] = {}
    for rule in rules.fields:
        path = prefix + rule.name
        if not prefix and rule.name in _FLAT_BLOCKS:
            assert rule.model is not None
            leaves.update(_leaf_rules(rule.model, path + "."))
        else:
            leaves[path] = rule
    return leaves


def _record_layout() -> tuple[tuple[_Rule, ...], tuple[_Rule, ...]]:
    """The rules of ``RECORD_FIELDS`` and of ``TICK_FIELDS``; a field of the schema that is in
    neither (or a list, which a record cannot hold as a column) stops the import."""
    leaves = _leaf_rules(SNAPSHOT_RULES)
    both = RECORD_FIELDS + TICK_FIELDS
    if sorted(both) != sorted(leaves):
        raise TypeError(
            "api.wire.RECORD_FIELDS and TICK_FIELDS must name every Snapshot field once: "
            f"missing {sorted(set(leaves) - set(both))}, unknown {sorted(set(both) - set(leaves))}"
        )
    lists = [p for p in RECORD_FIELDS if leaves[p].kind.startswith("list")]
    if lists:
        raise TypeError(f"api.wire.RECORD_FIELDS: list fields {lists} cannot be record columns")
    return tuple(leaves[p] for p in RECORD_FIELDS), tuple(leaves[p] for p in TICK_FIELDS)


_RECORD_RULES, _TICK_RULES = _record_layout()
_FLOAT_RULES = [(i, rule) for i, rule in enumerate(_RECORD_RULES) if rule.kind == "float"]
_OTHER_POS = [i for i, rule in enumerate(_RECORD_RULES) if rule.kind != "float"]
_ASSET_TYPE_POS = RECORD_FIELDS.index("asset_type")


def _row_builder() -> Callable[[tuple[Any, ...], Record], Row]:
    """The function that turns a tick's common values and a record into a row: a dict shaped
    like ``Snapshot``, its keys in the schema's order (so its JSON is the model's), generated
    from the layout once (a dict display per block, as ``dataclasses`` generates ``__init__``:
    a loop over the layout per row costs four times as much)."""
    record_at = {path: f"r[{i}]" for i, path in enumerate(RECORD_FIELDS)}
    record_at["asset"] = f"plain_asset(r[{RECORD_FIELDS.index('asset')}])"
    record_at.update({path: f"c[{i}]" for i, path in enumerate(TICK_FIELDS)})

    def display(rules: _ModelRules, prefix: str) -> str:
        items = []
        for rule in rules.fields:
            path = prefix + rule.name
            if not prefix and rule.name in _FLAT_BLOCKS:
                assert rule.model is not None
                items.append(f"{rule.name!r}: {display(rule.model, path + '.')}")
            else:
                items.append(f"{rule.name!r}: {record_at[path]}")
        return "{" + ", ".join(items) + "}"

    namespace: dict[str, Any] = {"plain_asset": _plain_asset}
    exec(f"def build(c, r):\n    return {display(SNAPSHOT_RULES, '')}\n", namespace)
    return typing.cast(Callable[[tuple[Any, ...], Record], Row], namespace["build"])


row_of_record = _row_builder()


def _columns_pass(columns: Sequence[Column]) -> dict[int, npt.NDArray[np.float64]] | None:
    """Whether every number field of every record is a finite ``float`` within its bounds (or
    null where allowed): one float64 array for the tick's numbers, a numpy test per bound.
    None sends the caller to the rows' check, which coerces or names the culprit. Passed, the
    float64 row of that array for each column of Python floats, by position: the same values
    (a ``float`` is a float64), 8 bytes each instead of an object and a pointer."""
    numbers: list[Sequence[Any]] = []  # Python floats, type-checked here
    positions: list[int] = []
    arrays: list[npt.NDArray[np.float64]] = []  # float64 arrays
    bounds: tuple[list[float], list[float]] = ([], [])
    array_bounds: tuple[list[float], list[float]] = ([], [])
    for k, rule in _FLOAT_RULES:
        column = columns[k]
        if isinstance(column, np.ndarray):
            if column.dtype != np.float64 or column.ndim != 1:
                return None
            arrays.append(column)
            array_bounds[0].append(-math.inf if rule.ge is None else rule.ge)
            array_bounds[1].append(math.inf if rule.le is None else rule.le)
            continue
        kinds = set(map(type, column))
        if kinds != _FLOAT:
            if not (rule.nullable and kinds <= _FLOAT_OR_NONE):
                return None
            if kinds == _NULL:
                continue
            present = np.array([v for v in column if v is not None], dtype=np.float64)
            if not _finite_within(present, rule.ge, rule.le):
                return None
            continue
        numbers.append(column)
        positions.append(k)
        bounds[0].append(-math.inf if rule.ge is None else rule.ge)
        bounds[1].append(math.inf if rule.le is None else rule.le)
    as_arrays: dict[int, npt.NDArray[np.float64]] = {}
    if numbers:
        size = len(numbers) * len(numbers[0])
        flat = np.fromiter(chain.from_iterable(numbers), np.float64, size)
        as_arrays = dict(zip(positions, flat.reshape(len(numbers), -1), strict=True))
        arrays[:0] = as_arrays.values()
    if not arrays:
        return as_arrays
    lo = np.array(bounds[0] + array_bounds[0])[:, None]
    hi = np.array(bounds[1] + array_bounds[1])[:, None]
    return as_arrays if _finite_within(np.vstack(arrays), lo, hi) else None


def _finite_within(values: npt.NDArray[np.float64], lo: Any, hi: Any) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(
            np.isfinite(values).all()
            and (lo is None or (values >= lo).all())
            and (hi is None or (values <= hi).all())
        )


_FLOAT = frozenset({float})
_NULL = frozenset({type(None)})


def check_rows(rows: Sequence[Row], owners: Sequence[int] | None = None) -> None:
    """Check every row against the ``Snapshot`` schema at once (raise ``SnapshotError``).

    ``owners``: the device index of each row for the error message (default: the position).
    """
    if rows:
        _check_model(SNAPSHOT_RULES, rows, range(len(rows)) if owners is None else owners, "")


def encode_row(row: Row) -> bytes:
    """A checked row's JSON as published: a copy rounded to every field's resolution
    (``api.resolution``; the row itself, which ``snapshot_of`` and the history read, keeps full
    precision)."""
    return to_json(round_snapshot_payload(row))


_ROUNDING = record_rounding(Snapshot, RECORD_FIELDS)
"""How ``round_snapshot_payload`` rounds each record value (``api.resolution``): the numbers by
column, the nested blocks one by one."""


def _rounded_column(column: Column, scale: float) -> Column:
    """``quantize`` of every number of a column (None stays None), on a float64 array at once
    where the column is one."""
    if type(column) is np.ndarray:
        return quantize_array(column, scale)
    if all(map(operator.is_, column, repeat(None))):
        return column
    return [None if v is None else quantize(v, scale) for v in column]


def _rounded_blocks(column: Column, rounder: Callable[[Any], Any]) -> list[Any]:
    """A column of nested blocks as their rounded copies (None stays None), one copy per
    distinct block (the blocks outlive this: their ids stay theirs)."""
    if type(column) is AssetRows:  # rows made as they are read: one table row each
        table = column.table
        rounded = _rounded_table(table) if rounder is round_copy else None
        if rounded is not None:  # rounded as columns: each row's dict is already its copy
            return [rounded.row(i) for i in column.indices]
        return [rounder(table.row(i)) for i in column.indices]
    first = column[0] if len(column) else None
    if all(map(operator.is_, column, repeat(first))):  # one block (or None) for every device
        return [None if first is None else rounder(_plain_asset(first))] * len(column)
    done: dict[int, Any] = {}
    out: list[Any] = []
    for block in column:
        if block is None:
            out.append(None)
            continue
        copy = done.get(id(block))
        if copy is None:
            copy = done[id(block)] = rounder(_plain_asset(block))
        out.append(copy)
    return out


_ROUNDED_PER_ROW: dict[tuple[int, float], tuple[Sequence[Any], list[Any]]] = {}
"""A fleet's per-row asset values rounded (by the list's ``id`` and the scale; the list is held
so its ``id`` stays its own): they are the nameplates', the same every tick."""


def _rounded_table(table: AssetTable) -> AssetTable | None:
    """``table`` with its numbers rounded as ``round_copy`` rounds each row's dict: row ``i`` of
    the result is ``round_copy(table.row(i))``, made a column at a time (``quantize_array`` on
    each float column whose key has a resolution, ``quantize`` on the constants and on the
    per-row nameplate values). None where a row's dict would hold what ``round_payload`` walks
    into (a list or a dict), or where one output column is read under two keys that round it
    differently: the caller then rounds row by row."""
    scales: dict[int, float | None] = {}  # output column → its 10ⁿ (None: left as it is)
    consts = dict(table.consts)
    per_row = dict(table.per_row)
    for key, source, column in table.layout.plan:
        found = resolution_of(key)
        scale = None if found is None else found.scale
        if source in ("float", "float_or_null", "flag"):
            if source == "flag":
                scale = None  # a bool: not rounded
            if scales.setdefault(column, scale) != scale:
                return None
        elif source == "const":
            value = consts[key]
            if type(value) is float and scale is not None:
                consts[key] = quantize(value, scale)
            elif isinstance(value, (list, dict)):
                return None
        else:  # "row": the nameplate's value per fleet row
            values = table.per_row[key]
            kinds = set(map(type, values))
            if kinds & {list, dict}:
                return None
            if scale is None or float not in kinds:
                continue
            cached = _ROUNDED_PER_ROW.get((id(values), scale))
            if cached is None or cached[0] is not values:
                if len(_ROUNDED_PER_ROW) >= 64:
                    _ROUNDED_PER_ROW.clear()
                rounded_values = [quantize(v, scale) if type(v) is float else v for v in values]
                cached = _ROUNDED_PER_ROW[(id(values), scale)] = (values, rounded_values)
            per_row[key] = cached[1]
    floats = table.floats.copy()
    for column, scale in scales.items():
        if scale is not None:
            floats[:, column] = quantize_array(table.floats[:, column], scale)
    return AssetTable(table.layout, floats, consts, per_row, table.rows)


_SCALARS: Final = frozenset({float, int, bool, type(None)})
_TEXTS: Final = frozenset({str, type(None)})


def _number_texts(values: list[Any]) -> list[bytes]:
    """Each number's JSON as ``to_json`` writes it inside a row (also of ``True``, ``False``
    and ``None``): ``to_json`` of the whole list, split at its commas (their JSON holds none).
    About 80 ns a value on the project machine where ``repr`` of a float takes 300, and the
    text is ``to_json``'s own (it writes ``0.00001`` where ``repr`` writes ``1e-05``); the
    whole encoding is measured by ``scripts/bench_wire.py``."""
    if not values:
        return []
    return to_json(values)[1:-1].split(b",")


Texts = bytes | list[bytes]
"""A column's JSON texts: one per device, or one ``bytes`` that every device shares."""


def _column_texts(column: Column) -> Texts:
    """The JSON of every value of a (rounded) record column: a float64 array as numbers, a
    list by value (a value every device holds, such as a shared block, encoded once)."""
    if type(column) is np.ndarray:
        bits = column.view(np.uint64)
        if len(bits) and (bits == bits[0]).all():  # one value: the same bits, the same text
            return to_json(float(column[0]))
        return _number_texts(column.tolist())
    first = column[0] if len(column) else None
    if all(map(operator.is_, column, repeat(first))):
        return to_json(first)
    kinds = set(map(type, column))
    if kinds <= _SCALARS:  # numbers, true/false and null: JSON without a comma
        return _number_texts(list(column))
    if kinds <= _TEXTS:  # a few states: each distinct one once (a str equals a str only)
        distinct = {value: to_json(value) for value in set(column)}
        return list(map(distinct.__getitem__, column))
    known: dict[int, bytes] = {}  # by id: the column holds its values, so ids stay theirs
    texts = []
    for value in column:
        text = known.get(id(value))
        if text is None:
            text = known[id(value)] = to_json(value)
        texts.append(text)
    return texts


_ROW_TEXTS: dict[int, tuple[Sequence[Any], list[bytes]]] = {}
"""A fleet's per-row asset values as JSON (by the list's ``id``; the list is held so its ``id``
stays its own): the nameplates', the same every tick."""


def _table_texts(table: AssetTable, indices: Sequence[int]) -> list[tuple[bytes, Texts]]:
    """Rows ``indices`` of a rounded ``AssetTable`` as the JSON of each key (``'"key":'``) and
    of its values, a column at a time: what ``to_json`` of each row's dict writes."""
    whole = indices == range(len(table))
    floats = table.floats if whole else table.floats[list(indices)]
    fleet_rows = [table.rows[i] for i in indices]
    out: list[tuple[bytes, Texts]] = []
    for key, source, column in table.layout.plan:
        texts: Texts
        if source == "const":
            texts = to_json(table.consts[key])
        elif source == "row":
            values = table.per_row[key]
            cached = _ROW_TEXTS.get(id(values))
            if cached is None or cached[0] is not values:
                if len(_ROW_TEXTS) >= 64:
                    _ROW_TEXTS.clear()
                cached = _ROW_TEXTS[id(values)] = (values, [to_json(v) for v in values])
            every = cached[1]
            texts = [every[r] for r in fleet_rows]
        elif source == "flag":
            texts = [b"true" if v == 1.0 else b"false" for v in floats[:, column].tolist()]
        else:
            numbers = floats[:, column]
            if source == "float_or_null" and np.isnan(numbers).any():  # NaN: None, null
                texts = _column_texts([None if v != v else v for v in numbers.tolist()])
            else:
                texts = _column_texts(numbers)
        out.append((to_json(key) + b":", texts))
    return out


def _template_plan() -> tuple[tuple[str, bytes | int], ...]:
    """The snapshot's JSON as pieces, in the schema's order (``_row_builder``'s): ``("text",
    literal)``, ``("record", position)`` or ``("tick", position)``."""
    record_at = {path: i for i, path in enumerate(RECORD_FIELDS)}
    tick_at = {path: i for i, path in enumerate(TICK_FIELDS)}
    pieces: list[tuple[str, bytes | int]] = []

    def walk(rules: _ModelRules, prefix: str) -> None:
        pieces.append(("text", b"{"))
        for n, rule in enumerate(rules.fields):
            path = prefix + rule.name
            pieces.append(("text", (b"," if n else b"") + to_json(rule.name) + b":"))
            if not prefix and rule.name in _FLAT_BLOCKS:
                assert rule.model is not None
                walk(rule.model, path + ".")
            elif path in record_at:
                pieces.append(("record", record_at[path]))
            else:
                pieces.append(("tick", tick_at[path]))
        pieces.append(("text", b"}"))

    walk(SNAPSHOT_RULES, "")
    return tuple(pieces)


_TEMPLATE_PLAN = _template_plan()
_ASSET_POS = RECORD_FIELDS.index("asset")


def _encoded_from_columns(common: TickCommon, columns: Sequence[Column]) -> list[bytes]:
    """Each device's JSON, the bytes ``encode_row`` makes from its row, made from the columns
    without a row: the numbers rounded a column at a time, each nested block rounded as the
    rows' rounder rounds it, then every column's values written as JSON text a column at a
    time (``_column_texts``; a fleet's asset table column by column, ``_table_texts``), and
    each device's JSON one ``%`` of a template of the tick, in which every value the devices
    share is already written. For a quiet PV fleet about a fifth of the cost of building,
    rounding and encoding each row (``scripts/bench_wire.py``); ``tests/test_wire.py`` holds
    the bytes to ``encode_row``'s."""
    count = len(columns[0])
    rounded = list(columns)
    for position, scale in _ROUNDING[0]:
        rounded[position] = _rounded_column(rounded[position], scale)
    asset_texts: list[tuple[bytes, Texts]] | None = None
    for position, rounder in _ROUNDING[1]:
        column = rounded[position]
        if position == _ASSET_POS and type(column) is AssetRows and rounder is round_copy:
            table = _rounded_table(column.table)
            if table is not None:
                asset_texts = _table_texts(table, column.indices)
                continue
        rounded[position] = _rounded_blocks(column, rounder)
    tick_values = common.values()
    template: list[bytes] = []
    varying: list[list[bytes]] = []

    def put(texts: Texts) -> None:
        if type(texts) is bytes:
            template.append(texts.replace(b"%", b"%%"))
        else:
            template.append(b"%s")
            varying.append(texts)  # type: ignore[arg-type]

    for kind, where in _TEMPLATE_PLAN:
        if kind == "text":
            put(typing.cast(bytes, where))
        elif kind == "tick":
            put(to_json(tick_values[typing.cast(int, where)]))
        elif where == _ASSET_POS and asset_texts is not None:
            for n, (key, texts) in enumerate(asset_texts):
                put((b"{" if n == 0 else b",") + key)
                put(texts)
            put(b"}" if asset_texts else b"{}")
        else:
            put(_column_texts(rounded[typing.cast(int, where)]))
    form = b"".join(template)
    if not varying:
        return [form % ()] * count
    return [form % args for args in zip(*varying, strict=True)]


def snapshot_of(row: Row) -> Snapshot:
    """The ``Snapshot`` model of a row, its asset validated as its own type's model (the union
    alone would take a hybrid's asset, which has a PV array's keys, for a PV asset)."""
    asset = ASSET_MODELS[row["asset_type"]].model_validate(row["asset"])
    return Snapshot.model_validate({**row, "asset": asset})


def _plain(columns: Sequence[Column]) -> list[Column]:
    """The columns with every float64 array made a list of ``float`` (what a row holds)."""
    return [c.tolist() if type(c) is np.ndarray else c for c in columns]


class TickSnapshots(Sequence[Snapshot]):
    """One tick's checked snapshots, in device order, readable as ``Snapshot`` models.

    The engine hands its tick over as columns (``of_columns``, or ``of_records``: the tick's
    common values and one flat tuple per device, checked column by column); the rows (plain
    dicts shaped like ``Snapshot``) are built from them when first asked for (``rows``:
    encoding, reading), and ``column`` reads one field of every device without them, as the
    history and the metrics do, so a tick nobody reads costs no dict per device. Built from rows
    (``TickSnapshots(rows)``), the rows are the data.

    An item becomes a ``Snapshot`` (validated by pydantic, so exactly the model a client decodes)
    the first time it is read; a device's JSON is encoded the first time it is asked for
    (``payload``, or ``payloads`` for every device), so a tick nobody reads costs neither.

    Nothing is changed once checked: the engine builds new records for every tick and shares a
    grid-support block between ticks only while its values are unchanged (it builds a new one
    when they change), so a row built and encoded after later ticks, or after an operator
    write, gives the bytes it gave at its own tick.
    """

    __slots__ = (
        "_columns",
        "_models",
        "_one",
        "_payloads",
        "_rows",
        "common",
    )

    def __init__(self, rows: list[Row]) -> None:
        self._rows: list[Row] | None = rows
        self.common: TickCommon | None = None
        """The tick's shared values (built from records; None: built from rows)."""
        self._columns: list[Column] | None = None
        self._models: list[Snapshot | None] = [None] * len(rows)
        self._payloads: tuple[bytes, ...] | None = None
        self._one: dict[int, bytes] = {}

    @classmethod
    def of(cls, snapshots: Sequence[Snapshot]) -> TickSnapshots:
        """``snapshots`` as a ``TickSnapshots``: the engine's as they are, any other sequence of
        ``Snapshot`` models by their plain form (``model_dump``)."""
        if isinstance(snapshots, TickSnapshots):
            return snapshots
        return cls([s.model_dump() for s in snapshots])

    @classmethod
    def of_records(
        cls, common: TickCommon, records: list[Record], owners: Sequence[int]
    ) -> TickSnapshots:
        """A tick from one record per device (``RECORD_FIELDS`` order): ``of_columns`` of
        their columns."""
        if not records:
            return cls([])
        width = len(RECORD_FIELDS)
        for record, owner in zip(records, owners, strict=True):
            if len(record) != width:
                raise _fail(owner, "", record, f"a record of {len(record)} fields, not {width}")
        return cls.of_columns(common, list(zip(*records, strict=True)), owners)

    @classmethod
    def of_columns(
        cls, common: TickCommon, columns: Sequence[Column], owners: Sequence[int]
    ) -> TickSnapshots:
        """A tick from its columns (one per ``RECORD_FIELDS`` field, in that order, one value
        per device; a number field may be a float64 array), checked against the ``Snapshot``
        schema (raise ``SnapshotError`` naming the device, the field and the value).

        The numbers are checked together as one float64 array; the states, integers and nested
        blocks column by column with the rows' own checks. Where a number is not a finite
        ``float`` within bounds, the rows are built and checked as rows, which names the
        culprit, or makes a ``float`` of an ``int`` as pydantic's validation would."""
        values = common.values()
        n = len(owners)
        if len(columns) != len(RECORD_FIELDS) or {len(c) for c in columns} != {n}:
            raise SnapshotError(
                f"a tick needs {len(RECORD_FIELDS)} columns of {n} values, got "
                f"{len(columns)} of {sorted({len(c) for c in columns})}"
            )
        as_arrays = _columns_pass(columns)
        if as_arrays is None:
            rows = [row_of_record(values, r) for r in zip(*_plain(columns), strict=True)]
            check_rows(rows, owners)
            return cls(rows)
        for rule, path, value in zip(_TICK_RULES, TICK_FIELDS, values, strict=True):
            _check_column(rule, [value], owners[:1], path, lambda: [])
        asset_types = list(columns[_ASSET_TYPE_POS])
        for k in _OTHER_POS:
            column = columns[k]
            _check_column(
                _RECORD_RULES[k],
                column if type(column) is AssetRows else list(column),  # AssetRows: kept lazy
                owners,
                RECORD_FIELDS[k],
                lambda: asset_types,
            )
        tick = cls.__new__(cls)
        tick._rows = None
        tick.common = common
        kept = tick._columns = list(columns)  # float64 arrays until a row is built
        for k, array in as_arrays.items():  # the checked floats as the array they made
            kept[k] = array
        tick._models = [None] * n
        tick._payloads = None
        tick._one = {}
        return tick

    @property
    def rows(self) -> list[Row]:
        """Every device's row (built from the records on first use, then kept)."""
        rows = self._rows
        if rows is None:
            rows = self._rows = list(self._built_rows())
        return rows

    def _built_rows(self) -> Iterator[Row]:
        """Each device's row, built from the columns (not kept)."""
        assert self.common is not None
        common = self.common.values()
        return (row_of_record(common, record) for record in self.records)

    @property
    def records(self) -> list[Record]:
        """The devices' records (built from records; empty: built from rows). The tick keeps
        its columns, not the records: the records are made again from them (the float64
        columns made lists of ``float`` once, at the first use)."""
        columns = self._columns
        if columns is None:
            return []
        if any(type(c) is np.ndarray for c in columns):
            columns = self._columns = _plain(columns)
        return list(zip(*columns, strict=True))

    def row(self, index: int) -> Row:
        """Device ``index``'s row (built alone from its record while the rows are not built)."""
        rows = self._rows
        if rows is not None:
            return rows[index]
        assert self._columns is not None
        assert self.common is not None
        record = tuple(
            column[index].item() if type(column) is np.ndarray else column[index]
            for column in self._columns
        )
        return row_of_record(self.common.values(), record)

    def column(self, path: str) -> Sequence[Any]:
        """One field of every device, in device order (``path``: ``"metrics.power_kw"``,
        ``"asset"``, ``"device_type"``, a field of ``RECORD_FIELDS`` or ``TICK_FIELDS``); a
        fleet's assets as its ``AssetRows`` (each ``AssetRow`` made when read)."""
        n = len(self._models)
        columns = self._columns
        if columns is not None and self.common is not None:
            if path in TICK_FIELDS:
                return [self.common.values()[TICK_FIELDS.index(path)]] * n
            column = columns[RECORD_FIELDS.index(path)]
            if type(column) is AssetRows:
                return column
            return column.tolist() if type(column) is np.ndarray else list(column)
        keys = path.split(".")
        if len(keys) == 1:
            return list(map(itemgetter(keys[0]), self.rows))
        return [row[keys[0]][keys[1]] for row in self.rows]

    def numbers(self, path: str) -> npt.NDArray[np.float64]:
        """A number field of every device as float64, NaN where it is null (``column``'s
        values; the engine's float columns as they are, without a ``float`` per device)."""
        columns = self._columns
        if columns is not None and path in RECORD_FIELDS:
            column = columns[RECORD_FIELDS.index(path)]
            if type(column) is np.ndarray:
                return column
        values = self.column(path)
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

    def __len__(self) -> int:
        return len(self._models)

    @overload
    def __getitem__(self, index: int) -> Snapshot: ...

    @overload
    def __getitem__(self, index: slice) -> list[Snapshot]: ...

    def __getitem__(self, index: int | slice) -> Snapshot | list[Snapshot]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._models)))]
        model = self._models[index]
        if model is None:
            model = self._models[index] = snapshot_of(self.row(index))
        return model

    def __iter__(self) -> Iterator[Snapshot]:
        for i in range(len(self._models)):
            yield self[i]

    def payload(self, index: int) -> bytes:
        """The JSON of the device at ``index`` (the bytes ``payloads`` holds), encoded on first
        use; only this device's row is encoded."""
        if self._payloads is not None:
            return self._payloads[index]
        index = range(len(self._models))[index]  # a negative index, or IndexError
        encoded = self._one.get(index)
        if encoded is None:
            encoded = self._one[index] = encode_row(self.row(index))
        return encoded

    @property
    def payloads(self) -> tuple[bytes, ...]:
        """Every device's JSON, encoded on first use (a device already encoded alone is reused)."""
        if self._payloads is None:
            one = self._one
            encoded: Iterable[bytes]
            if self._rows is None and self._columns is not None and self.common is not None:
                # no row built yet: encoded from the columns, nothing kept but the bytes
                encoded = _encoded_from_columns(self.common, self._columns)
            else:
                encoded = map(encode_row, self.rows)
            if one:
                encoded = (one.get(i, payload) for i, payload in enumerate(encoded))
            self._payloads = tuple(encoded)
            self._one = {}
        return self._payloads
