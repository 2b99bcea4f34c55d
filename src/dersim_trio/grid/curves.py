"""Piecewise-linear curves of the IEEE 1547-2018 functions (volt-var, watt-var, volt-watt).

A curve is a sequence of (x, y) points with non-decreasing x. Between points y is interpolated
linearly; outside the first and last points y holds the end value (IEEE 1547-2018 Figures H.4,
H.7, H.9 draw the curves flat beyond their end points). Two points may share an x (a vertical
segment, used by the category A volt-var curve whose V2 = V3 = V_ref): the lower point applies
below it, the higher one at and above it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """y of the curve at ``x`` (held flat beyond the end points)."""
    first_x, first_y = points[0]
    if x <= first_x:
        return first_y
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x < x1:
            if x1 <= x0:
                return y1
            return y0 + (x - x0) * (y1 - y0) / (x1 - x0)
    return points[-1][1]
