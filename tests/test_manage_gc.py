"""The collector rule of ``service.run.manage_gc``: a fleet's tick runs no collection.

A tick allocates its snapshot rows, which live until the next tick replaces them and are then
freed by reference counting; a collection during the tick would only scan rows still in use.
``manage_gc`` sets the gen-0 threshold to at least ``GC_GEN0_PER_DEVICE`` per device, which must
hold a tick's worth of every device type's allocations. Counted with ``gc.callbacks`` (no
timing); the process's collector settings are restored after each test.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from dersim_trio.service.run import (
    DEFAULT_GC_GEN0_THRESHOLD,
    GC_GEN0_PER_DEVICE,
    QUART_ROUTE_GC_GEN0_THRESHOLD,
    manage_gc,
)

if TYPE_CHECKING:
    from conftest import Kit

DEVICES = 200
DEVICE_TYPES = [
    "PV",
    "Batt",
    "Wind-T3-3Phase",
    "Wind-T4-3Phase",
    "Fuelcell-3Phase",
    "HybridDC-3Phase",
    "EVSE",
]


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """Put the process's collector back as it was (thresholds, nothing frozen)."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_the_gen0_threshold_holds_a_tick_of_the_fleet_and_never_drops_below_the_default() -> None:
    manage_gc(fast_path=True, device_count=10_000)
    assert gc.get_threshold()[0] == GC_GEN0_PER_DEVICE * 10_000
    manage_gc(fast_path=True)
    assert gc.get_threshold()[0] == DEFAULT_GC_GEN0_THRESHOLD
    manage_gc(fast_path=False, device_count=10)
    assert gc.get_threshold()[0] == QUART_ROUTE_GC_GEN0_THRESHOLD


@pytest.mark.usefixtures("restored_gc")
@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_a_fleet_tick_runs_no_collection(kit: type[Kit], device_type: str) -> None:
    engine = kit.make_engine("-d", device_type, "-N", str(DEVICES))
    last = engine.initial()
    for _ in range(3):  # past the first ticks' one-time caches
        last = engine.step()
    manage_gc(fast_path=True, device_count=DEVICES)
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        for _ in range(5):
            tick = engine.step()
            last = tick  # the service keeps the last tick until the next one replaces it
    finally:
        gc.callbacks.remove(count)
    assert len(last) == DEVICES
    assert collections == []
