"""SunSpec 703 (Enter Service): ``enter_service`` of ``GET/PUT .../grid-support`` and the
operator's permit service.

* ``ESVHi``/``ESVLo`` (% of V_nom, ``V_SF`` −2), ``ESHzHi``/``ESHzLo`` (Hz, ``Hz_SF`` −3),
  ``ESDlyTms``, ``ESRndTms``, ``ESRmpTms`` (whole seconds) → ``es_v_hi_pct``, ``es_v_lo_pct``,
  ``es_hz_hi``, ``es_hz_lo``, ``es_dly_tms_s``, ``es_rnd_tms_s``, ``es_rmp_tms_s``. A write is
  one ``PUT .../grid-support`` body through ``Controller.update_grid_support``, with the REST
  body's pydantic model: a value REST refuses gets exception 03 and changes nothing.
* ``ES`` (permit service) is the operator's ``enter_service`` / ``cease_to_energize`` command
  (``POST /api/dersim/commands``): it reads DISABLED while the operator holds the device out of
  service; writing the value it already has changes nothing. With settings in the same write,
  the settings apply first; a command the device then refuses (exception 04) restores them.
* ``ESDlyRemTms`` is not implemented.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dersim_trio.api.controls import CommandName
from dersim_trio.api.grid_support import GridSupportUpdate
from dersim_trio.errors import RequestRejected, validation_problems
from dersim_trio.protocols.modbus.models.commands import run_commands
from dersim_trio.protocols.modbus.models.stored_sets import DISABLED, ENABLED, ON_OFF, refuse
from dersim_trio.protocols.modbus.registers import DeviceView, Section, Values, WriteRefused

FIELDS = {
    "ESVHi": "es_v_hi_pct",
    "ESVLo": "es_v_lo_pct",
    "ESHzHi": "es_hz_hi",
    "ESHzLo": "es_hz_lo",
    "ESDlyTms": "es_dly_tms_s",
    "ESRndTms": "es_rnd_tms_s",
    "ESRmpTms": "es_rmp_tms_s",
}


class EnterServiceSection(Section):
    """703 (module docstring)."""

    model_id = 703
    live = True
    controls = True

    def writable(self) -> frozenset[str]:
        """``ES`` and the window, delays and ramp."""
        return frozenset({"ES", *FIELDS})

    def values(self, view: DeviceView) -> Values:
        """The enter-service settings in force and the permit."""
        es = view.controller.grid_support(view.index).enter_service
        values: Values = {point: getattr(es, name) for point, name in FIELDS.items()}
        values["ES"] = ENABLED if view.controller.service_permitted(view.index) else DISABLED
        values["V_SF"] = -2
        values["Hz_SF"] = -3
        return values

    def write(self, view: DeviceView, changes: Values, current: Values) -> str:
        """Settings through the grid-support update, ``ES`` as a command."""
        fields: dict[str, Any] = {}
        for point, name in FIELDS.items():
            if point in changes:
                value = changes[point]
                if value is None:  # null would mean "the default" to REST
                    raise refuse(f"{point}: no value")
                fields[name] = value
        command: CommandName | None = None
        if "ES" in changes:
            es = changes["ES"]
            if es not in ON_OFF:
                raise refuse(f"ES: {es} is neither DISABLED ({DISABLED}) nor ENABLED ({ENABLED})")
            if (es == ENABLED) != view.controller.service_permitted(view.index):
                command = "enter_service" if es == ENABLED else "cease_to_energize"
        done: list[str] = []
        previous = None
        if fields:
            try:
                update = GridSupportUpdate.model_validate({"enter_service": fields})
            except ValidationError as exc:
                raise refuse("; ".join(p.text() for p in validation_problems(exc))) from None
            previous = view.controller.grid_support(view.index).enter_service
            try:
                view.controller.update_grid_support(view.index, update)
            except RequestRejected as exc:
                raise refuse(str(exc)) from None
            done.append("enter service " + update.model_dump_json(exclude_unset=True))
        if command is not None:
            try:
                done.append(run_commands(view, [command]))
            except WriteRefused:
                if previous is not None:
                    restore = GridSupportUpdate.model_validate(
                        {"enter_service": previous.model_dump()}
                    )
                    view.controller.update_grid_support(view.index, restore)
                raise
        return "; ".join(done) or "no change"
