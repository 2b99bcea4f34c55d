"""Fixtures of the grid-support tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import opender
import pytest
from opender_pair import DT


@pytest.fixture
def oracle() -> Iterator[None]:
    """OpenDER at a 1.5 s step, its root-logger chatter silenced; both restored afterwards."""
    old_ts = opender.DER.t_s
    root = logging.getLogger()
    old_level = root.level
    opender.DER.t_s = DT
    root.setLevel(logging.ERROR)
    yield
    opender.DER.t_s = old_ts
    root.setLevel(old_level)
