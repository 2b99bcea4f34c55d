"""Fixtures of the MQTT tests: a real Mosquitto per test, and MQTT clients on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from mqtt_support import Broker

BROKER_START_S = 10.0


@pytest.fixture
async def broker(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Broker]:
    """Mosquitto on 127.0.0.1 and a free port (its own configuration in ``tmp_path``), stopped
    after the test."""
    server = Broker(tmp_path, nursery)
    with trio.fail_after(BROKER_START_S):
        await server.start()
    try:
        yield server
    finally:
        with trio.move_on_after(BROKER_START_S) as scope:
            await server.stop()
        if scope.cancelled_caught:
            server.kill_now()
