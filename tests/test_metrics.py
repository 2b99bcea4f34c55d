"""``GET /metrics``: the Prometheus scrape, parsed with prometheus-client's own parser and
checked against the service's own records (hub statistics, the last tick's snapshots).

In-process tests run the real ``ServiceParts`` (the wiring ``dersim-trio`` uses) with the tick
loop on virtual time (``autojump_clock``) and the quart test client, so tick counts are exact;
one end-to-end test scrapes a served process over a real socket.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio
import trio.testing
import trio_websocket
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from dersim_trio.api.resolution import KW
from dersim_trio.service import metrics as service_metrics
from dersim_trio.service.metrics import MQTT_METRICS, StatisticsMetric
from dersim_trio.service.run import ServiceParts
from helpers import FIXED_WALL, make_config, ws_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

GUARD_S = 60.0
"""Virtual seconds for the in-process tests (ticks of 1.5 s)."""
REAL_GUARD_S = 20.0
TICKS = 10


def families(text: str) -> dict[str, Metric]:
    """The scrape's metric families by name (counters without their ``_total``)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(found: dict[str, Metric], sample: str, **labels: str) -> float:
    """The value of the one sample named ``sample`` with exactly ``labels``."""
    hits = [
        s.value
        for f in found.values()
        for s in f.samples
        if s.name == sample and s.labels == labels
    ]
    assert len(hits) == 1, (sample, labels, hits)
    return hits[0]


def samples(found: dict[str, Metric], sample: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for f in found.values() for s in f.samples if s.name == sample]


async def assembled(nursery: trio.Nursery, *flags: str) -> ServiceParts:
    """The service's parts for ``flags`` with the tick loop running (tick 0 published)."""
    parts = ServiceParts.assemble(make_config(*flags), FIXED_WALL, trio.current_time())
    await nursery.start(partial(parts.run_ticks, lambda: FIXED_WALL))
    return parts


async def scrape(parts: ServiceParts, accept: str | None = None) -> tuple[str, str]:
    client = parts.app.test_client()
    headers = {"Accept": accept} if accept is not None else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200
    return (await response.get_data(as_text=True)), response.headers["Content-Type"]


async def test_the_scrape_reports_the_services_own_numbers(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        parts = await assembled(nursery, "-d", "Batt", "-N", "3", "--periodic_time", "1.5")
        for _ in range(TICKS):
            await parts.hub.wait_published()
        client = parts.app.test_client()
        assert (await client.get("/api/dersim/server-info")).status_code == 200
        assert (
            await client.get("/api/dersim/overview", query_string={"device": "7"})
        ).status_code == 404
        assert (await client.get("/api/dersim/devices/2/controls")).status_code == 200
        assert (await client.get("/no/such/path")).status_code == 404
        text, content_type = await scrape(parts)

    assert content_type.startswith("text/plain; version=0.0.4")
    found = families(text)
    stats = parts.hub.statistics()
    assert value(found, "dersim_ticks_total") == stats.ticks_published == TICKS + 1
    assert value(found, "dersim_websocket_subscribers") == stats.subscribers == 0
    assert value(found, "dersim_messages_sent_total") == stats.messages_sent
    assert value(found, "dersim_messages_dropped_total") == stats.messages_dropped
    # every tick after tick 0 is observed once; virtual time stands still inside a tick and the
    # deadlines are met exactly, so every observation is 0 s (the lowest bucket)
    for name in ("dersim_tick_duration_seconds", "dersim_tick_lateness_seconds"):
        assert value(found, f"{name}_count") == parts.engine.tick == TICKS
        assert value(found, f"{name}_sum") == 0.0
        assert found[name].type == "histogram"
        buckets = samples(found, f"{name}_bucket")
        assert all(v == TICKS for _, v in buckets)
        assert {"le": "+Inf"} in [labels for labels, _ in buckets]

    snapshots = parts.latest.snapshots
    assert [s.tick for s in snapshots] == [TICKS] * 3
    by_state: dict[tuple[str, str], int] = {}
    for s in snapshots:
        key = (s.device_type, s.status.inverter_state)
        by_state[key] = by_state.get(key, 0) + 1
    assert {
        (labels["device_type"], labels["state"]): v
        for labels, v in samples(found, "dersim_devices")
    } == by_state
    assert math.isclose(
        value(found, "dersim_fleet_active_power_watts"),
        sum(s.metrics.power_kw for s in snapshots) * 1000,
        abs_tol=1e-9,
    )
    assert math.isclose(
        value(found, "dersim_fleet_reactive_power_vars"),
        sum(s.metrics.reactive_power_kvar for s in snapshots) * 1000,
        abs_tol=1e-9,
    )
    for direction, field in (("injected", "injected_kwh"), ("absorbed", "absorbed_kwh")):
        expected = sum(getattr(s.energy, field) for s in snapshots) * 3.6e6
        got = value(found, "dersim_fleet_energy_joules_total", direction=direction)
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-9)

    requests = {
        (labels["route"], labels["method"], labels["status"]): v
        for labels, v in samples(found, "dersim_http_requests_total")
    }
    assert requests == {
        ("/api/dersim/server-info", "GET", "200"): 1,
        ("/api/dersim/overview", "GET", "404"): 1,
        ("/api/dersim/devices/<device_index:index>/controls", "GET", "200"): 1,
        ("(unmatched)", "GET", "404"): 1,
    }
    assert value(found, "process_cpu_seconds_total") > 0  # the standard process metrics


async def test_openmetrics_is_served_when_asked_for(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        parts = await assembled(nursery, "-d", "PV", "-N", "2")
        text, content_type = await scrape(parts, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    found = {f.name: f for f in openmetrics_families(text)}
    assert found["dersim_ticks"].samples[0].value == parts.hub.statistics().ticks_published


async def test_two_services_in_one_process_keep_their_own_numbers(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(GUARD_S):
        a = await assembled(nursery, "-d", "Batt", "-N", "2", "--periodic_time", "1.5")
        await a.hub.wait_published()
        b = await assembled(nursery, "-d", "PV", "-N", "5", "--periodic_time", "1.5")
        await b.hub.wait_published()
        found_a = families((await scrape(a))[0])
        found_b = families((await scrape(b))[0])
    assert value(found_a, "dersim_ticks_total") == a.hub.statistics().ticks_published
    assert value(found_b, "dersim_ticks_total") == b.hub.statistics().ticks_published
    assert sum(v for _, v in samples(found_a, "dersim_devices")) == 2
    assert sum(v for _, v in samples(found_b, "dersim_devices")) == 5
    assert {labels["device_type"] for labels, _ in samples(found_b, "dersim_devices")} == {"PV"}


@dataclass(frozen=True)
class PublisherStatistics:
    """A record of the shape ``MQTT_METRICS`` reads (the MQTT publisher's ``statistics()``)."""

    published: int
    dropped: int
    reconnects: int
    commands: int
    connected: bool
    queued: int


class Publisher:
    def __init__(self) -> None:
        self.record = PublisherStatistics(0, 0, 0, 0, False, 0)

    def statistics(self) -> PublisherStatistics:
        return self.record


async def test_a_statistics_source_is_read_at_every_scrape(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    publisher = Publisher()
    with trio.fail_after(GUARD_S):
        parts = await assembled(nursery, "-d", "Batt")
        parts.metrics.add_statistics(publisher, MQTT_METRICS)
        before = families((await scrape(parts))[0])
        publisher.record = PublisherStatistics(1200, 7, 2, 5, True, 3)
        after = families((await scrape(parts))[0])
    assert value(before, "dersim_mqtt_messages_published_total") == 0
    assert value(before, "dersim_mqtt_connected") == 0
    assert value(after, "dersim_mqtt_messages_published_total") == 1200
    assert value(after, "dersim_mqtt_messages_dropped_total") == 7
    assert value(after, "dersim_mqtt_reconnects_total") == 2
    assert value(after, "dersim_mqtt_commands_total") == 5
    assert value(after, "dersim_mqtt_connected") == 1
    assert value(after, "dersim_mqtt_queue_messages") == 3
    assert after["dersim_mqtt_messages_published"].type == "counter"
    assert after["dersim_mqtt_queue_messages"].type == "gauge"


def test_the_readme_documents_every_mqtt_metric() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for metric in MQTT_METRICS:
        suffix = "_total" if metric.kind == "counter" else ""
        assert f"`dersim_{metric.name}{suffix}`" in readme, metric.name


@dataclass(frozen=True)
class Partial:
    sent: int
    label: str


class PartialSource:
    def statistics(self) -> Partial:
        return Partial(sent=4, label="not a number")


async def test_a_record_with_only_some_attributes_shows_only_those(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    table: Iterable[StatisticsMetric] = (
        StatisticsMetric("sent", "things_sent", "Things sent."),
        StatisticsMetric("label", "things_label", "Not a number: left out."),
        StatisticsMetric("missing", "things_missing", "Absent: left out."),
    )
    with trio.fail_after(GUARD_S):
        parts = await assembled(nursery, "-d", "Batt")
        parts.metrics.add_statistics(PartialSource(), table)
        found = families((await scrape(parts))[0])
    assert value(found, "dersim_things_sent_total") == 4
    assert "dersim_things_label" not in found
    assert "dersim_things_missing" not in found


async def test_a_served_process_is_scraped_over_http_with_a_client_connected(
    start_service: StartService,
) -> None:
    svc = await start_service("-d", "Batt", "-N", "2", "--periodic_time", "0.05")
    with trio.fail_after(REAL_GUARD_S):
        async with trio_websocket.open_websocket_url(ws_url(svc.port)) as ws:
            for _ in range(4):  # two ticks of two devices
                await ws.get_message()
            async with httpx.AsyncClient(base_url=svc.http_url) as client:
                response = await client.get("/metrics")
                info = (await client.get("/api/dersim/server-info")).json()
    assert response.status_code == 200
    found = families(response.text)
    assert value(found, "dersim_websocket_subscribers") == 1
    assert value(found, "dersim_messages_sent_total") >= 4
    assert info["statistics"]["ticks_published"] >= value(found, "dersim_ticks_total") >= 2
    assert sum(v for _, v in samples(found, "dersim_devices")) == 2


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_metrics_is_read_only(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, method: str
) -> None:
    with trio.fail_after(GUARD_S):
        parts = await assembled(nursery, "-d", "Batt")
        response = await parts.app.test_client().open("/metrics", method=method)
    assert response.status_code == 405


async def test_a_large_fleet_is_summed_in_a_worker_thread_with_the_same_numbers(
    start_service: StartService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_metrics, "THREAD_SUM_MIN_DEVICES", 2)  # 4 devices count as large
    summed_in: list[threading.Thread] = []
    of = service_metrics.FleetTotals.of

    def recording(snapshots: Any) -> service_metrics.FleetTotals:
        summed_in.append(threading.current_thread())
        return of(snapshots)

    monkeypatch.setattr(service_metrics.FleetTotals, "of", staticmethod(recording))
    svc = await start_service("-d", "PV", "-N", "4", "--periodic_time", "3600")  # tick 0 stays
    with trio.fail_after(REAL_GUARD_S):
        async with httpx.AsyncClient(base_url=svc.http_url) as client:
            found = families((await client.get("/metrics")).text)
            devices = (await client.get("/api/dersim/devices")).json()
    assert len(summed_in) == 1
    assert summed_in[0] is not threading.main_thread()
    assert len(devices) == 4
    assert math.isclose(  # the metrics sum full precision, the JSON is rounded to 1 W
        value(found, "dersim_fleet_active_power_watts"),
        sum(d["metrics"]["power_kw"] for d in devices) * 1000,
        rel_tol=1e-12,
        abs_tol=len(devices) * KW.step / 2 * 1000 * (1 + 1e-9),
    )
    assert value(found, "dersim_fleet_active_power_watts") > 0  # noon in June
    assert sum(v for _, v in samples(found, "dersim_devices")) == 4
