"""The MQTT front end against a real Mosquitto: telemetry, statuses, requests and replies,
validation, a broker restart, the last will of a killed process, batch mode.

Every test runs the simulator in process (``start_service``) or as a process, with a Mosquitto
of its own (``broker``), and waits on messages, never on a sleep; each is bounded by
``trio.fail_after``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_websocket
from mqtt_support import Broker, TestClient, make_password_file, make_tls_files
from prometheus_client.parser import text_string_to_metric_families

from dersim_trio.api.bodies import MAX_BODY_BYTES
from dersim_trio.protocols.mqtt.link import ZERO_COPY_BYTES
from helpers import ServerProcess, free_port, wait_until

LIMIT_S = 40.0
FLEET = "t"
FAST = ("--periodic_time", "0.2")


def mqtt_flags(broker: Broker, *extra: str) -> tuple[str, ...]:
    return ("--mqtt", broker.url, "--fleet", FLEET, *FAST, *extra)


async def service_subscribed(client: TestClient) -> None:
    """Until the simulator's requests subscription is in place: it subscribes first and then
    writes its process status on the same connection, which the broker handles in order, so a
    process status seen means the subscription is active."""
    topic = f"dersim/{FLEET}/process/0/status"
    await client.subscribe(topic)
    assert (await client.receive(topic)).payload == b"online"


def tick_and_device(payload: bytes) -> tuple[int, int]:
    data = json.loads(payload)
    return int(data["tick"]), int(data["device_index"])


async def test_telemetry_is_the_websocket_message_of_the_same_tick(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        async with TestClient(broker.port) as sub:
            await sub.subscribe(f"dersim/{FLEET}/+/telemetry")
            svc = await start_service("-N", "3", *mqtt_flags(broker))
            over_mqtt: dict[int, dict[int, bytes]] = defaultdict(dict)
            over_ws: dict[int, dict[int, bytes]] = defaultdict(dict)
            async with trio_websocket.open_websocket_url(svc.ws_url) as ws:
                while True:
                    text = await ws.get_message()
                    raw = text.encode() if isinstance(text, str) else text
                    tick, device = tick_and_device(raw)
                    over_ws[tick][device] = raw
                    if len(over_ws[tick]) == 3 and len(over_ws) >= 2:
                        break
            common = None
            while common is None:
                message = await sub.receive()
                tick, device = tick_and_device(message.payload)
                assert message.topic == f"dersim/{FLEET}/{device}/telemetry"
                assert message.qos == 0  # published at QoS 0 (the subscription asked for 1)
                over_mqtt[tick][device] = message.payload
                if len(over_mqtt[tick]) == 3 and tick in over_ws:
                    common = tick
            assert over_mqtt[common] == over_ws[common]
            await wait_until(lambda: svc.mqtt.statistics().published >= 6, within=LIMIT_S)
            assert svc.mqtt.statistics().connected


async def test_statuses_online_while_serving_offline_after_a_clean_stop(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "2", *mqtt_flags(broker))
        statuses = (f"dersim/{FLEET}/+/status", f"dersim/{FLEET}/process/+/status")
        async with TestClient(broker.port) as sub:
            await sub.subscribe(*statuses)
            seen = {}
            while len(seen) < 3:  # live or retained, depending on who came first
                message = await sub.receive()
                seen[message.topic] = message.payload
            online = {
                f"dersim/{FLEET}/0/status": b"online",
                f"dersim/{FLEET}/1/status": b"online",
                f"dersim/{FLEET}/process/0/status": b"online",
            }
            assert seen == online
        async with TestClient(broker.port) as late:  # a later subscriber gets them retained
            await late.subscribe(*statuses)
            retained = [await late.receive() for _ in range(3)]
            assert all(m.retain and m.qos == 1 for m in retained)
            assert {m.topic: m.payload for m in retained} == online
        svc.request_shutdown()
        await svc.done.wait()
        async with TestClient(broker.port) as sub:
            await sub.subscribe(*statuses)
            retained = [await sub.receive() for _ in range(3)]
            assert all(m.retain for m in retained)
            assert {m.topic for m in retained} == set(online)
            assert {m.payload for m in retained} == {b"offline"}


async def test_a_v5_request_is_answered_on_its_response_topic_with_its_correlation_data(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "2", *mqtt_flags(broker))
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await service_subscribed(client)
            await client.subscribe("harness/replies/#")
            client.publish(
                f"dersim/{FLEET}/1/set/controls",
                b'{"active_power_limit_pct": 40}',
                response_topic="harness/replies/a",
                correlation_data=b"\x00req-1",
            )
            reply = await client.receive("harness/replies/a")
            assert reply.qos == 1
            assert reply.correlation_data == b"\x00req-1"
            assert ("status", "200") in reply.user_properties
            answer = json.loads(reply.payload)
            assert answer["status"] == 200
            assert answer["body"]["active_power_limit_pct"] == 40
            rest = await http.get(f"{svc.http_url}/api/dersim/devices/1/controls")
            assert rest.json()["active_power_limit_pct"] == 40
            untouched = await http.get(f"{svc.http_url}/api/dersim/devices/0/controls")
            assert untouched.json()["active_power_limit_pct"] != 40
            assert svc.mqtt.statistics().commands == 1


async def test_a_v311_command_is_answered_on_the_device_reply_topic(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "2", *mqtt_flags(broker))
        async with TestClient(broker.port, v311=True) as client, httpx.AsyncClient() as http:
            await service_subscribed(client)
            await client.subscribe(f"dersim/{FLEET}/+/reply")
            client.publish(f"dersim/{FLEET}/1/commands", b'{"command": "stop"}')
            reply = await client.receive()
            assert reply.topic == f"dersim/{FLEET}/1/reply"
            answer = json.loads(reply.payload)
            assert answer["status"] == 200
            [record] = answer["body"]
            assert (record["command"], record["device"], record["outcome"]) == (
                "stop",
                1,
                "accepted",
            )
            log = (await http.get(f"{svc.http_url}/api/dersim/commands")).json()
            assert [r["id"] for r in log] == [record["id"]]


async def test_inputs_and_grid_support_requests_apply_through_the_facade(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "1", *mqtt_flags(broker))
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await service_subscribed(client)
            await client.subscribe(f"dersim/{FLEET}/0/reply")
            client.publish(f"dersim/{FLEET}/0/set/inputs", b'{"irradiance_w_m2": 321}')
            answer = json.loads((await client.receive()).payload)
            assert answer["status"] == 200
            assert answer["body"]["irradiance_w_m2"] == 321
            client.publish(
                f"dersim/{FLEET}/0/set/grid-support", b'{"constant_pf": {"enabled": true}}'
            )
            answer = json.loads((await client.receive()).payload)
            rest = await http.get(f"{svc.http_url}/api/dersim/devices/0/grid-support")
            assert answer == {"status": 200, "body": rest.json()}


BAD_BODIES = [
    pytest.param(b"{", id="not-json"),
    pytest.param(b"[1, 2]", id="not-an-object"),
    pytest.param(b"", id="empty"),
    pytest.param(b'{"active_power_limit_pct": 250}', id="out-of-range"),
    pytest.param(b'{"power_factor": 0.9, "reactive_power_setpoint_kvar": 1}', id="exclusive"),
    pytest.param(b'{"no_such_field": 1}', id="unknown-field"),
    pytest.param(b"[" * 40 + b"]" * 40, id="too-deep"),
    pytest.param(b'{"x": "' + b"a" * MAX_BODY_BYTES + b'"}', id="too-large"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_a_bad_body_gets_the_rest_error_and_changes_nothing(
    broker: Broker, start_service: Callable[..., Any], body: bytes
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "1", *mqtt_flags(broker))
        url = f"{svc.http_url}/api/dersim/devices/0/controls"
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            before = (await http.get(url)).json()
            await service_subscribed(client)
            await client.subscribe(f"dersim/{FLEET}/0/reply")
            client.publish(f"dersim/{FLEET}/0/set/controls", body)
            answer = json.loads((await client.receive()).payload)
            rest = await http.put(url, content=body, headers={"Content-Type": "application/json"})
            assert 400 <= rest.status_code < 500
            if rest.status_code == 413:  # over HTTP the framing refuses it, with its own words
                assert answer["status"] == 413
                assert answer["body"]["error"] == "body_too_large"
            else:
                assert answer == {"status": rest.status_code, "body": rest.json()}
            assert (await http.get(url)).json() == before


async def test_refusals_of_the_mqtt_layout(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "2", *mqtt_flags(broker))
        async with TestClient(broker.port) as client:
            await service_subscribed(client)
            await client.subscribe(f"dersim/{FLEET}/+/reply")
            client.publish(f"dersim/{FLEET}/1/set/everything", b"{}")
            answer = json.loads((await client.receive()).payload)
            assert answer["status"] == 404
            assert "set/controls" in answer["body"]["detail"]
            client.publish(f"dersim/{FLEET}/1/commands", b'{"command": "stop", "device": 0}')
            answer = json.loads((await client.receive()).payload)
            assert answer["status"] == 422
            assert answer["body"]["fields"][0]["field"] == "device"
            client.publish(f"dersim/{FLEET}/0/commands", b'{"command": "dance"}')
            answer = json.loads((await client.receive()).payload)
            assert answer["status"] == 422
            # no device of the fleet: 404 on the level's reply topic; the next one is answered
            client.publish(f"dersim/{FLEET}/7/commands", b'{"command": "stop"}')
            client.publish(f"dersim/{FLEET}/01/commands", b'{"command": "stop"}')
            client.publish(f"dersim/{FLEET}/0/set/inputs", b'{"load_kw": null}')
            for level in ("7", "01"):
                reply = await client.receive()
                assert reply.topic == f"dersim/{FLEET}/{level}/reply"
                assert json.loads(reply.payload)["status"] == 404
            reply = await client.receive()
            assert reply.topic == f"dersim/{FLEET}/0/reply"
            assert json.loads(reply.payload)["status"] == 200
        assert svc.mqtt.statistics().commands == 6


async def test_telemetry_resumes_after_a_broker_restart_and_the_outage_is_counted(
    broker: Broker, start_service: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "2", *mqtt_flags(broker))
        async with TestClient(broker.port) as sub:
            await sub.subscribe(f"dersim/{FLEET}/+/telemetry")
            await sub.receive()
        await wait_until(lambda: svc.mqtt.statistics().connected, within=LIMIT_S)
        await broker.stop()
        await wait_until(lambda: not svc.mqtt.statistics().connected, within=LIMIT_S)
        tick_in_outage = (await svc.hub.wait_published()).tick
        await broker.start()
        async with TestClient(broker.port) as sub:
            await sub.subscribe(f"dersim/{FLEET}/+/telemetry")
            message = await sub.receive()
            assert tick_and_device(message.payload)[0] > tick_in_outage
            # the statuses come back too (the broker kept nothing: no persistence)
            await sub.subscribe(f"dersim/{FLEET}/process/0/status")
            status = await sub.receive(f"dersim/{FLEET}/process/0/status")
            assert status.payload == b"online"
        stats = svc.mqtt.statistics()
        assert stats.outages == 1
        assert stats.reconnects == 1
        assert stats.connected
        assert stats.dropped > 0  # ticks published while the broker was away
        async with httpx.AsyncClient() as http:
            scrape = (await http.get(f"{svc.http_url}/metrics")).text
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(scrape)
            for sample in family.samples
        }
        assert samples["dersim_mqtt_outages_total"] == 1
        assert samples["dersim_mqtt_reconnects_total"] == 1
        assert samples["dersim_mqtt_connected"] == 1
        assert samples["dersim_mqtt_messages_published_total"] > 0
    # the outage is logged once when it begins and once when it ends
    mqtt_log = [r for r in caplog.records if r.name == "dersim_trio.MQTT"]
    lost = [r for r in mqtt_log if r.getMessage().startswith("lost the MQTT broker")]
    back = [r for r in mqtt_log if "reachable again after" in r.getMessage()]
    assert len(lost) == 1
    assert lost[0].levelname == "WARNING"
    assert len(back) == 1


async def test_a_killed_process_shows_offline_through_its_last_will(
    broker: Broker, tmp_path: Path
) -> None:
    process = ServerProcess.dersim(
        (
            "-wp",
            str(free_port()),
            "-N",
            "2",
            "--mqtt",
            broker.url,
            "--fleet",
            FLEET,
        ),
        tmp_path / "dersim.log",
    )
    try:
        with trio.fail_after(LIMIT_S * 2):
            async with TestClient(broker.port) as sub:
                topic = f"dersim/{FLEET}/process/0/status"
                await sub.subscribe(topic)
                process.start(bind_port=process.port)
                assert (await sub.receive(topic)).payload == b"online"
                process.stop()  # SIGKILL: no clean stop
                assert (await sub.receive(topic)).payload == b"offline"
    finally:
        process.stop()


PIECE = 16 * 1024
"""What the socket takes per ``send`` in the batch test (a congested connection)."""


@pytest.mark.parametrize("devices", [3, 80])
async def test_batch_mode_sends_one_message_per_tick_with_every_snapshot(
    broker: Broker, start_service: Callable[..., Any], devices: int
) -> None:
    """3 devices make a batch of a few kB, written whole; 80 make one of over 100 kB, beyond
    ``ZERO_COPY_BYTES``, queued as a view and written in pieces of ``PIECE`` bytes (the socket
    is made to take no more per ``send``), each piece from where the last one ended."""
    with trio.fail_after(LIMIT_S):
        async with TestClient(broker.port) as sub:
            await sub.subscribe(f"dersim/{FLEET}/#")
            svc = await start_service("-N", str(devices), *mqtt_flags(broker, "--mqtt_batch"))
            client = svc.mqtt.link._client
            write = client._sock_send
            written: list[tuple[type, int]] = []

            def congested(buf: bytes | bytearray | memoryview) -> int:
                written.append((type(buf), len(buf)))
                return int(write(buf[:PIECE]))

            client._sock_send = congested
            batch = None
            while batch is None:
                message = await sub.receive()
                device_level = message.topic.split("/")[2]
                assert device_level == "process", message.topic  # no per-device message
                if message.topic == f"dersim/{FLEET}/process/0/telemetry":
                    batch = message.payload
            data = json.loads(batch)
            assert data["first_device"] == 0
            assert [s["device_index"] for s in data["snapshots"]] == list(range(devices))
            assert {s["tick"] for s in data["snapshots"]} == {data["tick"]}
            async with trio_websocket.open_websocket_url(svc.ws_url) as ws:
                snapshots: dict[int, dict[int, bytes]] = defaultdict(dict)
                complete = None
                while complete is None:
                    raw = (await ws.get_message()).encode()
                    tick, device = tick_and_device(raw)
                    snapshots[tick][device] = raw
                    if len(snapshots[tick]) == devices:
                        complete = tick
            batches = {data["tick"]: batch}
            while max(batches) < complete:  # every batch since the start waits in the channel
                message = await sub.receive(f"dersim/{FLEET}/process/0/telemetry")
                batches[json.loads(message.payload)["tick"]] = message.payload
            parts = b",".join(snapshots[complete][d] for d in range(devices))
            head = b'{"tick":%d,"first_device":0,"snapshots":[' % complete
            assert batches[complete] == head + parts + b"]}"
            size = len(batches[complete])
            views = [n for kind, n in written if kind is memoryview]
            if size < ZERO_COPY_BYTES:
                assert not views
            else:  # a batch's remainders, one per piece: 100 kB, 100 kB - PIECE, ...
                assert len(views) > size // PIECE
                assert all(n >= PIECE for n in views[:-1])


async def test_under_hypercorn_the_lifespan_runs_the_mqtt_front_end_and_stops_it_cleanly(
    broker: Broker, tmp_path: Path
) -> None:
    flags = ("-N", "1", "--mqtt", broker.url, "--fleet", FLEET, *FAST)
    process = ServerProcess.hypercorn(flags, tmp_path / "hypercorn.log")
    topic = f"dersim/{FLEET}/process/0/status"
    try:
        with trio.fail_after(LIMIT_S * 2):
            async with TestClient(broker.port) as sub:
                device_status = f"dersim/{FLEET}/0/status"
                await sub.subscribe(topic, device_status, f"dersim/{FLEET}/0/telemetry")
                process.start()
                assert (await sub.receive(topic)).payload == b"online"
                assert (await sub.receive(device_status)).payload == b"online"
                assert tick_and_device((await sub.receive(f"dersim/{FLEET}/0/telemetry")).payload)
                # the lifespan (and so MQTT) starts before hypercorn serves and installs its
                # signal handlers: a SIGTERM in between would end the process with -15
                await process.wait_serving()
                process.request_shutdown()
                assert await process.wait_stopped(LIMIT_S) == 0
                # a clean stop: the device's own status too (a last will covers only the process)
                assert (await sub.receive(device_status)).payload == b"offline"
        assert "Traceback" not in process.log()
    finally:
        process.stop()


async def test_mqtts_with_a_ca_file_and_credentials_from_the_environment(
    tmp_path: Path,
    nursery: trio.Nursery,
    start_service: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(LIMIT_S):
        tls = await make_tls_files(tmp_path)
        passwords = await make_password_file(tmp_path, "sim", "pa ss")
        secure = Broker(tmp_path, nursery, tls=tls, password_file=passwords)
        await secure.start()
        try:
            monkeypatch.setenv("DERSIM_MQTT_USERNAME", "sim")
            monkeypatch.setenv("DERSIM_MQTT_PASSWORD", "pa ss")
            async with TestClient(secure.port, tls=tls, credentials=("sim", "pa ss")) as sub:
                await sub.subscribe(f"dersim/{FLEET}/0/telemetry")
                svc = await start_service("--mqtt_ca", str(tls.ca), *mqtt_flags(secure))
                message = await sub.receive()
                assert json.loads(message.payload)["device_index"] == 0
                assert svc.mqtt.statistics().connected
            svc.request_shutdown()
            await svc.done.wait()
        finally:
            await secure.stop()


async def test_a_refused_login_is_an_outage_and_never_stops_the_ticks(
    tmp_path: Path, nursery: trio.Nursery, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        passwords = await make_password_file(tmp_path, "sim", "right")
        strict = Broker(tmp_path, nursery, password_file=passwords)
        await strict.start()
        try:
            svc = await start_service(*mqtt_flags(strict))  # no credentials
            await wait_until(lambda: svc.mqtt.statistics().outages == 1, within=LIMIT_S)
            first = svc.hub.last.tick
            while svc.hub.last.tick < first + 3:
                await svc.hub.wait_published()
            stats = svc.mqtt.statistics()
            assert not stats.connected
            assert stats.outages == 1  # one outage, however many attempts
            svc.request_shutdown()
            await svc.done.wait()
        finally:
            await strict.stop()
