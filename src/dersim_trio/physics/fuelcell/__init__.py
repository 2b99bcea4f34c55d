"""Fuel cell (``-d Fuelcell-3Phase``), one module per part.

* ``cells.py``: the Larminie–Dicks and electrolysis cell curves, the stack-current solver.
* ``stacks.py``: the nameplate type and the four reference machines, as data.
* ``model.py``: ``FuelCellModel``: dispatch, ramp and dwell, operating point, hydrogen tank.
"""
