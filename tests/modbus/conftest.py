"""Fixtures of the SunSpec Modbus tests: pysunspec2 loads its model definitions from its own
package only (its loader would search the working directory first)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers import sunspec_models_pinned


@pytest.fixture(autouse=True)
def _pysunspec2_models_from_the_package() -> Iterator[None]:
    with sunspec_models_pinned():
        yield
