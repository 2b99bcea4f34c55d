"""Operator controls around the device models (sans-IO): what an operator or a utility changes.

* ``setpoints``: active power setpoint and limit, power factor, var setpoint, priority, ramp,
  with defaults, clamps at the ratings and reversion timers (SunSpec 704).
* ``reactive``: fixed PF / fixed var and the P-Q capability with a priority (IEEE 1547 style).
* ``ramp``: the active power ramp rate.
* ``operating_state``: the inverter's start/stop/fault/reset transition table.
* ``enter_service``: the cease-to-energize / enter-service transition table.
* ``faults``: injected fault conditions and the latch.
* ``supervisor``: one device's controls and states applied around its model step.
* ``models``: the pydantic bodies of the controls, commands and faults API.
"""
