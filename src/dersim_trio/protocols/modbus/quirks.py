"""Device quirks (``--modbus_quirks``): field behaviour of real SunSpec devices, on request.

Each imitates something that breaks SunSpec clients in the field; all are off by default:

* ``sf_change``: the 701 scale factors ``W_SF``, ``VA_SF``, ``Var_SF`` and ``A_SF`` follow the
  present magnitude every tick (the finest exponent that fits) instead of staying fixed, as
  inverters that auto-range their readings do when the output falls at dusk. A client that
  caches a scale factor, or reads 701 in two requests across a tick (the scale factors sit in
  the second), scales a value by the wrong power of ten.
* ``fc16_only``: single-register writes (function 6) are refused with exception 01; only
  function 16 writes, as on devices whose Modbus stack implements FC 16 alone. pysunspec2 writes
  a lone register with FC 6.
* ``slow``: every response is delayed by ``--modbus_slow_ms`` (default 500 ms), as a device
  behind a congested RS-485 gateway or a busy data logger answers; clients with short timeouts
  give up.
* ``single_connection``: one Modbus TCP connection per device; a second is accepted and closed at
  once, as on inverters whose stack serves one master (the second master sees the connection
  drop before its first answer).
* ``no_end_model``: the map ends after the last model, without the end model (0xFFFF, 0);
  reading past it gets exception 02, as on devices that predate the end-model rule. pysunspec2's
  scan raises on it after it has read every model.
* ``write_only_controls``: the writable points of the control models (703-712, 715) read as
  "not implemented" although writes work, as on devices whose set points cannot be read back.
* ``unit_id_strict``: only the device's own unit id is answered; every other (0 and 255 too)
  gets no answer at all, as on devices that ignore frames not addressed to them (the client
  times out). By default unit ids 0 and 255 are answered too, and any other id gets exception
  0x0B (gateway target failed to respond).
"""

from __future__ import annotations

from dataclasses import dataclass

QUIRKS: tuple[str, ...] = (
    "sf_change",
    "fc16_only",
    "slow",
    "single_connection",
    "no_end_model",
    "write_only_controls",
    "unit_id_strict",
)
DEFAULT_SLOW_MS = 500.0


@dataclass(frozen=True, slots=True)
class Quirks:
    """The quirks a run imitates (see the module docstring)."""

    sf_change: bool = False
    fc16_only: bool = False
    slow: bool = False
    single_connection: bool = False
    no_end_model: bool = False
    write_only_controls: bool = False
    unit_id_strict: bool = False
    slow_s: float = DEFAULT_SLOW_MS / 1000.0

    @classmethod
    def parse(cls, text: str, slow_ms: float = DEFAULT_SLOW_MS) -> Quirks:
        """Quirks from a comma list; raises ``ValueError`` naming an unknown one."""
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in QUIRKS]
        if unknown:
            raise ValueError(
                f"unknown quirk {unknown[0]!r} (allowed: {', '.join(QUIRKS)}, comma separated)"
            )
        return cls(**{n: True for n in names}, slow_s=slow_ms / 1000.0)

    @property
    def names(self) -> list[str]:
        """The quirks that are on."""
        return [n for n in QUIRKS if getattr(self, n)]
