"""IEEE 1547-2018 grid-support functions (sans-IO), one module per function.

* ``lag``: the open-loop response time as a first-order lag (90 % at the OLRT).
* ``curves``: piecewise-linear curves.
* ``capability``: reactive capability by P (reduced region), VA circle, current limit.
* ``constant_pf``, ``constant_q``, ``volt_var`` (with autonomous V_ref), ``watt_var``: the
  reactive power modes, one active at a time (precedence in ``settings.REACTIVE_MODES``).
* ``volt_watt``, ``freq_droop``, ``active_power_limit``: active power functions.
* ``enter_service``: the re-entry wait and ramp after a trip.
* ``trip``: must-trip curves and their timers, integrated at 10 ms sub-steps.
* ``ride_through``: continuous / mandatory / permissive / momentary-cessation regions.
* ``settings``: every function's settings for one device and the defaults per category.
* ``support``: one device's functions composed in the standard's order around a model step.

Nothing here imports trio or does I/O; the supervisor (``controls.supervisor``) drives it.
"""
