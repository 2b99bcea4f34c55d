"""The in-process log buffer (``dersim_trio.service.logbuffer``) and ``GET /api/dersim/logs``.

Most tests log through a private ``logging.Logger`` (not registered in the logging hierarchy),
so no other handler (pytest's capture, a console) sees or slows their records.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from dersim_trio.service.history import History
from dersim_trio.service.hub import Hub
from dersim_trio.service.logbuffer import (
    LogBuffer,
    LogBufferHandler,
    install_log_buffer,
    module_of,
)
from dersim_trio.service.operator import Controller
from dersim_trio.service.run import tick_loop
from dersim_trio.web.app import create_app

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from conftest import Kit


def private_logger(name: str, buffer: LogBuffer) -> logging.Logger:
    """A logger outside the hierarchy feeding only ``buffer``."""
    logger = logging.Logger(name, logging.DEBUG)
    logger.addHandler(LogBufferHandler(buffer))
    return logger


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("dersim_trio.Lab", "Lab"),
        ("dersim_trio.AC", "AC"),
        ("dersim_trio.DC.battery", "DC"),
        ("dersim_trio.WS", "WS"),
        ("dersim_trio.API", "API"),
        ("dersim_trio.hypercorn", "WS"),
        ("dersim_trio", "API"),
        ("dersim_trio.physics", "Lab"),
        ("somewhere.else", "Lab"),
    ],
)
def test_the_module_comes_from_the_logger_name(name: str, module: str) -> None:
    assert module_of(name) == module


def test_entries_carry_id_time_level_module_device_and_message() -> None:
    buffer = LogBuffer()
    ac = private_logger("dersim_trio.AC", buffer)
    before = time.time()
    ac.info("grid support on", extra={"device": 3})
    ac.warning("device 7 over temperature")
    ac.debug("devices 0..3 ready")  # "devices" is no single device
    ac.critical("boom", extra={"device": True})  # a bool is no device number
    entries = buffer.query().entries
    assert [e.id for e in entries] == [1, 2, 3, 4]
    assert [e.level for e in entries] == ["info", "warning", "debug", "error"]
    assert {e.module for e in entries} == {"AC"}
    assert [e.device for e in entries] == [3, 7, None, None]
    assert entries[1].message == "device 7 over temperature"
    assert entries[0].time.endswith("+00:00")
    assert before - 1 <= entries[0].created <= time.time()


def test_an_exception_is_summarised_in_the_message() -> None:
    buffer = LogBuffer()
    lab = private_logger("dersim_trio.Lab", buffer)
    try:
        raise ValueError("bad model")
    except ValueError:
        lab.exception("tick failed")
    assert buffer.query().entries[0].message == "tick failed (ValueError: bad model)"


def test_queries_filter_by_module_and_minimum_level() -> None:
    buffer = LogBuffer()
    for name in ("dersim_trio.Lab", "dersim_trio.DC", "dersim_trio.WS"):
        logger = private_logger(name, buffer)
        logger.debug("d")
        logger.info("i")
        logger.warning("w")
        logger.error("e")
    dc = buffer.query(module="DC").entries
    assert [(e.module, e.message) for e in dc] == [
        ("DC", "d"),
        ("DC", "i"),
        ("DC", "w"),
        ("DC", "e"),
    ]
    warnings_up = buffer.query(min_level="warning").entries
    assert [(e.module, e.level) for e in warnings_up] == [
        ("Lab", "warning"),
        ("Lab", "error"),
        ("DC", "warning"),
        ("DC", "error"),
        ("WS", "warning"),
        ("WS", "error"),
    ]
    assert [e.message for e in buffer.query(module="WS", min_level="info").entries] == [
        "i",
        "w",
        "e",
    ]
    assert buffer.query(module="API").entries == []


def test_polling_with_after_returns_only_new_entries() -> None:
    buffer = LogBuffer()
    lab = private_logger("dersim_trio.Lab", buffer)
    assert buffer.query().next_after == 0
    for k in range(5):
        lab.info("first %d", k)
    page = buffer.query()
    assert [e.message for e in page.entries][-1] == "first 4"
    assert page.next_after == 5
    assert buffer.query(after=page.next_after).entries == []
    lab.info("second")
    lab.debug("filtered out")
    page2 = buffer.query(after=page.next_after, min_level="info")
    assert [e.message for e in page2.entries] == ["second"]
    assert page2.next_after == 7  # past the filtered entry too: it is never scanned again
    # an id from before a restart (larger than any here) resynchronises to the newest id
    assert buffer.query(after=10_000).next_after == 7


def test_limit_keeps_the_newest_entries_oldest_first() -> None:
    buffer = LogBuffer()
    lab = private_logger("dersim_trio.Lab", buffer)
    for k in range(10):
        lab.info("m%d", k)
    assert [e.message for e in buffer.query(limit=3).entries] == ["m7", "m8", "m9"]
    assert [e.message for e in buffer.query(limit=3, after=2).entries] == ["m7", "m8", "m9"]
    assert [e.message for e in buffer.query(limit=30, after=8).entries] == ["m8", "m9"]


def test_a_flood_of_100k_records_keeps_5000_counts_the_dropped_and_costs_little() -> None:
    buffer = LogBuffer()
    dc = private_logger("dersim_trio.DC", buffer)
    for k in range(100_000):
        dc.debug("sample %d", k)
    stats = buffer.statistics()
    assert (stats.size, stats.dropped, stats.last_id) == (5000, 95_000, 100_000)
    entries = buffer.query(limit=1000).entries
    assert entries[-1].message == "sample 99999"
    assert entries[0].id == 99_001
    # (its cost per record is measured by scripts/bench_toolkit.py, not asserted here)


def test_concurrent_threads_get_unique_consecutive_ids() -> None:
    buffer = LogBuffer(capacity=50_000)
    ws = private_logger("dersim_trio.WS", buffer)

    def flood() -> None:
        for k in range(5000):
            ws.info("x %d", k)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = buffer.query(limit=1000, after=19_000).entries
    assert [e.id for e in entries] == list(range(19_001, 20_001))
    assert buffer.statistics().size == 20_000


def test_installing_lowers_the_logger_level_and_removing_restores_it() -> None:
    # a logger of its own: a service started by another test module may hold "dersim_trio"
    logger = logging.getLogger("observe_probe")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    buffer = LogBuffer()
    first = install_log_buffer(buffer, logger_name="observe_probe")
    second = install_log_buffer(LogBuffer(), logger_name="observe_probe")
    assert logger.level == logging.DEBUG
    logging.getLogger("observe_probe.child").info("heartbeat")
    assert [e.message for e in buffer.query().entries] == ["heartbeat"]
    first.remove()
    assert logger.level == logging.DEBUG  # the second buffer still listens
    second.remove()
    assert logger.level == logging.WARNING
    assert not [h for h in logger.handlers if isinstance(h, LogBufferHandler)]


def test_the_installed_buffer_receives_every_dersim_trio_module(buffer: LogBuffer) -> None:
    logging.getLogger("dersim_trio.Lab").info("probe heartbeat")
    logging.getLogger("dersim_trio.hypercorn").error("probe worker trouble")
    mine = [(e.module, e.message) for e in buffer.query().entries if "probe" in e.message]
    assert mine == [("Lab", "probe heartbeat"), ("WS", "probe worker trouble")]


# --- the route -------------------------------------------------------------------------------


@pytest.fixture
def buffer() -> Iterator[LogBuffer]:
    """A buffer installed on the ``dersim_trio`` logger for the test's duration."""
    logs = LogBuffer()
    installed = install_log_buffer(logs)
    yield logs
    installed.remove()


async def start_app(nursery: trio.Nursery, kit: type[Kit], logs: LogBuffer) -> QuartTrio:
    config = kit.make_config("-d", "Batt", "-N", "2")
    engine = kit.make_engine("-d", "Batt", "-N", "2")
    hub = Hub(2)
    app = create_app(
        hub,
        kit.make_context(config),
        Controller(engine),
        history=History(2, config.periodic_time_s),
        logs=logs,
    )
    await nursery.start(partial(tick_loop, engine, hub, config.periodic_time_s))
    return app


async def test_logs_route_filters_and_polls(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    kit: type[Kit],
    buffer: LogBuffer,
) -> None:
    # another test module's service may log into the same process: look at our entries only
    app = await start_app(nursery, kit, buffer)
    logging.getLogger("dersim_trio.Lab").info("probe startup banner")
    logging.getLogger("dersim_trio.Lab").debug("probe lab detail")
    logging.getLogger("dersim_trio.DC").debug("probe dc sample", extra={"device": 1})
    client = app.test_client()

    async def probe_entries(query: str) -> tuple[list[dict[str, Any]], int]:
        body = await (await client.get(f"/api/dersim/logs?{query}")).get_json()
        return [e for e in body["entries"] if "probe" in e["message"]], body["next_after"]

    lab, _ = await probe_entries("module=lab&level=INFO")
    assert [(e["module"], e["level"], e["message"]) for e in lab] == [
        ("Lab", "info", "probe startup banner")
    ]
    everything, after = await probe_entries("limit=1000")
    assert [e["message"] for e in everything] == [
        "probe startup banner",
        "probe lab detail",
        "probe dc sample",
    ]
    assert everything[-1]["device"] == 1
    assert set(everything[-1]) == {"id", "time", "level", "module", "device", "message", "audit"}
    logging.getLogger("dersim_trio.AC").warning("probe var limit reached")
    polled, next_after = await probe_entries(f"after={after}")
    assert [e["message"] for e in polled] == ["probe var limit reached"]
    assert polled[0]["id"] > after
    assert next_after >= polled[0]["id"]


async def test_a_mutating_request_is_logged_on_the_api_module_with_its_device(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    kit: type[Kit],
    buffer: LogBuffer,
) -> None:
    app = await start_app(nursery, kit, buffer)
    client = app.test_client()
    response = await client.put("/api/dersim/devices/1/inputs", json={"grid_voltage_pu": 1.02})
    assert response.status_code == 200
    bad = await client.put("/api/dersim/devices/0/inputs", json={"grid_voltage_pu": 9})
    assert bad.status_code == 422
    await client.get("/api/dersim/overview")  # reads are not logged
    body = await (await client.get("/api/dersim/logs?module=API&limit=1000")).get_json()
    mine = [e for e in body["entries"] if "inputs -> " in e["message"]]
    assert [(e["level"], e["device"]) for e in mine[-2:]] == [("info", 1), ("warning", 0)]
    assert mine[-2]["message"].startswith("PUT /api/dersim/devices/1/inputs -> 200")
    assert mine[-1]["message"].startswith("PUT /api/dersim/devices/0/inputs -> 422")


@pytest.mark.parametrize(
    ("query", "allowed"),
    [
        ("level=verbose", "debug, info, warning, error"),
        ("module=CSIP", "Lab, AC, DC, Grid, WS, API"),
        ("limit=0", "1..1000"),
        ("limit=1001", "1..1000"),
        ("limit=ten", "1..1000"),
        ("after=-1", ">= 0"),
        ("after=x", ">= 0"),
    ],
)
async def test_logs_route_rejects_a_bad_query_with_400_and_the_allowed_values(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    kit: type[Kit],
    buffer: LogBuffer,
    query: str,
    allowed: str,
) -> None:
    app = await start_app(nursery, kit, buffer)
    response = await app.test_client().get(f"/api/dersim/logs?{query}")
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "invalid_query"
    assert body["fields"][0]["field"] == query.split("=")[0]
    assert allowed in body["fields"][0]["allowed"]


async def test_the_running_service_serves_its_startup_line_and_history(
    start_service: object, kit: type[Kit]
) -> None:
    svc = await start_service("-d", "PV", "-N", "2")  # type: ignore[operator]
    status, raw = await trio.to_thread.run_sync(
        kit.http_get_raw, svc.port, "/api/dersim/logs?module=Lab&level=info"
    )
    assert status == 200
    assert b"dersim-trio serving 2 x PV" in raw
    status, raw = await trio.to_thread.run_sync(
        kit.http_get_raw, svc.port, "/api/dersim/history?seconds=60&device=1"
    )
    assert status == 200
    assert b'"device_index":1' in raw
    assert b'"key_quantity_name":"irradiance_w_m2"' in raw


# --- audit records --------------------------------------------------------------------------


def test_audit_records_survive_any_amount_of_chatter() -> None:
    buffer = LogBuffer(capacity=10, audit_capacity=3)
    logger = private_logger("audit_probe", buffer)
    logger.info("PUT /api/dersim/inputs -> 200 (from 127.0.0.1)", extra={"audit": True})
    for i in range(1000):
        logger.info("WebSocket connect from 127.0.0.1:%d", i)
    page = buffer.query(limit=1000)
    assert [e.message for e in page.entries if e.audit] == [
        "PUT /api/dersim/inputs -> 200 (from 127.0.0.1)"
    ]
    assert page.entries[0].audit  # the oldest entry returned: ids merge across both buffers
    assert [e.id for e in page.entries] == sorted(e.id for e in page.entries)
    stats = buffer.statistics()
    assert (stats.size, stats.dropped, stats.audit_size, stats.audit_dropped) == (10, 990, 1, 0)


def test_the_audit_buffer_is_bounded_and_can_be_read_alone() -> None:
    buffer = LogBuffer(capacity=10, audit_capacity=3)
    for i in range(5):
        buffer.append(0.0, logging.INFO, "API", None, f"change {i}", audit=True)
        buffer.append(0.0, logging.INFO, "WS", None, f"chatter {i}")
    audit = buffer.query(audit_only=True)
    assert [e.message for e in audit.entries] == ["change 2", "change 3", "change 4"]
    assert buffer.statistics().audit_dropped == 2
    newer = buffer.query(after=audit.entries[1].id)
    assert [e.message for e in newer.entries] == ["chatter 3", "change 4", "chatter 4"]
    assert [e.message for e in buffer.query(limit=2).entries] == ["change 4", "chatter 4"]
