"""EV charging station (``-d EVSE``), one module per part, in the order data flows through them.

* ``spec.py``: the station spec (connectors, limits, grid connection, backing battery), data only.
* ``sessions.py``: EV sessions and the seeded arrival model that generates them.
* ``pilot.py``: the J1772 / IEC 61851 control-pilot state machine and duty-cycle relations.
* ``powerflow.py``: the EV charge curve and the phases of a station step as pure functions.
* ``station.py``: ``EvseModel``, the device model that composes them.

Reading station specs and session CSVs (files) is set-up work: ``setup/evse_stations.py`` and
``setup/ev_sessions_csv.py``.
"""
