"""MQTT requests against a real Mosquitto: every request topic refuses bad bodies with the REST
error and changes nothing, a topic naming no device of the fleet is answered 404 by exactly one
process, and the shards of a fleet each answer their own devices only.

Requests carry an MQTT 5 response topic and correlation data, so each reply is matched to its
request by the correlation data (also on errors); every test is bounded by ``trio.fail_after``
and waits on messages, never on a sleep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio
from mqtt_support import Broker, Message, TestClient

from dersim_trio.api.bodies import MAX_BODY_BYTES
from dersim_trio.protocols.mqtt import bridge

LIMIT_S = 40.0
FLEET = "t"
FAST = ("--periodic_time", "0.2")
REPLIES = "harness/replies"


def mqtt_flags(broker: Broker, *extra: str) -> tuple[str, ...]:
    return ("--mqtt", broker.url, "--fleet", FLEET, *FAST, *extra)


async def subscribed(client: TestClient, *firsts: int) -> None:
    """Until the simulators owning the devices ``firsts`` (their first devices) have their
    request subscriptions in place: each subscribes before it writes its process status on
    the same connection, which the broker handles in order."""
    topics = [f"dersim/{FLEET}/process/{first}/status" for first in firsts]
    await client.subscribe(*topics)
    seen = set()
    while len(seen) < len(topics):
        message = await client.receive(f"dersim/{FLEET}/process/+/status")
        if message.payload == b"online":
            seen.add(message.topic)


class Requester:
    """Publishes requests with a response topic and correlation data, and collects replies."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.replies: dict[bytes, Message] = {}
        self._next = 0

    async def start(self) -> Requester:
        await self.client.subscribe(f"{REPLIES}/#")
        return self

    def send(self, topic: str, payload: bytes) -> bytes:
        self._next += 1
        correlation = b"req-%d" % self._next
        self.client.publish(
            topic, payload, response_topic=f"{REPLIES}/x", correlation_data=correlation
        )
        return correlation

    async def reply(self, correlation: bytes) -> dict[str, Any]:
        """The reply to the request ``correlation`` (status and body)."""
        while correlation not in self.replies:
            message = await self.client.receive(f"{REPLIES}/#")
            assert message.correlation_data is not None
            assert message.correlation_data not in self.replies, "two replies to one request"
            self.replies[message.correlation_data] = message
        message = self.replies[correlation]
        answer: dict[str, Any] = json.loads(message.payload)
        assert ("status", str(answer["status"])) in message.user_properties
        return answer

    async def ask(self, topic: str, payload: bytes) -> dict[str, Any]:
        return await self.reply(self.send(topic, payload))


# The MQTT topic, the REST request that takes the same body for device 0, and where its state
# reads back. ``commands`` bodies that leave ``device`` out mean the topic's device over MQTT
# and every device over REST: the same refusal either way for a bad body.
TOPICS = {
    "set/controls": ("PUT", "/api/dersim/devices/0/controls", "/api/dersim/devices/0/controls"),
    "set/inputs": ("PUT", "/api/dersim/devices/0/inputs", "/api/dersim/devices/0/inputs"),
    "set/grid-support": (
        "PUT",
        "/api/dersim/devices/0/grid-support",
        "/api/dersim/devices/0/grid-support",
    ),
    "commands": ("POST", "/api/dersim/commands", "/api/dersim/commands"),
}

BAD_BODIES: dict[str, list[bytes]] = {
    "any": [
        b"{",  # not JSON
        b"[1, 2]",  # not an object
        b"",  # empty
        b"null",
        b"\xff\xfe",  # not UTF-8
        b'{"no_such_field": 1}',  # unknown field
        b"[" * 40 + b"]" * 40,  # too deep
        b'{"x": "' + b"a" * MAX_BODY_BYTES + b'"}',  # too large
    ],
    "set/controls": [
        b'{"active_power_limit_pct": "forty"}',  # wrong type
        b'{"active_power_limit_pct": 250}',  # out of range
        b'{"active_power_limit_pct": NaN}',
        b'{"power_factor": 0.9, "reactive_power_setpoint_kvar": 1}',  # mutually exclusive
    ],
    "set/inputs": [
        b'{"irradiance_w_m2": "bright"}',
        b'{"irradiance_w_m2": -5}',
        b'{"irradiance_w_m2": 1e400}',
        b'{"grid_voltage_pu": [1.0, 1.0]}',
    ],
    "set/grid-support": [
        b'{"constant_pf": {"enabled": "yes please"}}',
        b'{"constant_pf": 3}',
        b'{"category": {"normal": "Z"}}',
        b'{"constant_pf": {"enabled": true, "unknown": 1}}',
    ],
    "commands": [
        b'{"command": "dance"}',
        b'{"command": 7}',
        b'{"device": 0}',  # no command
        b'{"command": "stop", "device": "zero"}',
        b'{"command": "stop", "device": 1}',  # not the topic's device (MQTT only)
    ],
}


@pytest.mark.parametrize("action", list(TOPICS))
async def test_every_bad_body_on_every_request_topic_gets_the_rest_error_and_changes_nothing(
    broker: Broker, start_service: Callable[..., Any], action: str
) -> None:
    method, rest_path, state_path = TOPICS[action]
    with trio.fail_after(LIMIT_S * 2):
        svc = await start_service("-d", "Batt", "-N", "2", *mqtt_flags(broker))
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await subscribed(client, 0)
            ask = (await Requester(client).start()).ask
            before = (await http.get(f"{svc.http_url}{state_path}")).json()
            for body in BAD_BODIES["any"] + BAD_BODIES[action]:
                answer = await ask(f"dersim/{FLEET}/0/{action}", body)
                assert answer["status"] in (400, 404, 413, 422), (body[:60], answer)
                assert answer["body"]["detail"], (body[:60], answer)
                if b'"device": 1' in body:  # the one refusal of the MQTT layout alone
                    assert answer["status"] == 422
                    assert answer["body"]["fields"][0]["field"] == "device"
                    assert (await http.get(f"{svc.http_url}{state_path}")).json() == before
                    continue
                rest = await http.request(
                    method,
                    f"{svc.http_url}{rest_path}",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                if answer["status"] == 413:  # over HTTP the framing refuses it, in its words
                    assert rest.status_code == 413
                    assert answer["body"]["error"] == "body_too_large"
                else:
                    assert answer == {"status": rest.status_code, "body": rest.json()}, body
                assert (await http.get(f"{svc.http_url}{state_path}")).json() == before, body
            # far over the limit: refused by its size alone, naming it
            answer = await ask(f"dersim/{FLEET}/0/{action}", b"[" * 3_000_000)
            assert answer["status"] == 413
            assert "got 3000000 bytes" in answer["body"]["detail"]
            # still serving: a good request on the same topic is answered and applied
            good = {
                "set/controls": b'{"active_power_limit_pct": 40}',
                "set/inputs": b'{"ambient_temperature_c": 31}',
                "set/grid-support": b'{"constant_pf": {"enabled": true}}',
                "commands": b'{"command": "stop"}',
            }[action]
            answer = await ask(f"dersim/{FLEET}/0/{action}", good)
            assert answer["status"] == 200, answer
            assert (await http.get(f"{svc.http_url}{state_path}")).json() != before
        commands = svc.mqtt.statistics().commands
        assert commands == len(BAD_BODIES["any"]) + len(BAD_BODIES[action]) + 2


async def test_a_topic_naming_no_device_of_the_fleet_is_answered_404(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "2", *mqtt_flags(broker))
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await subscribed(client, 0)
            requester = await Requester(client).start()
            controls = f"{svc.http_url}/api/dersim/devices/1/controls"
            before = (await http.get(controls)).json()
            # (5,000 digits: more than Python's int() takes from a string)
            for level in ("2", "99999", "100000", "01", "1.0", "x", "process", "-1", "9" * 5000):
                for action in ("set/controls", "commands"):
                    body = b'{"command": "stop"}' if action == "commands" else b"{}"
                    answer = await requester.ask(f"dersim/{FLEET}/{level}/{action}", body)
                    assert answer["status"] == 404, (level[:40], action, answer)
                    assert answer["body"]["error"] == "device_not_found"
                    detail = answer["body"]["detail"]
                    assert repr(level[:32])[:-1] in detail
                    assert len(detail) < 300
                    assert "[0, 1]" in detail, detail
            # a v3.1.1 client has no response topic: the reply goes to the topic's reply level
            async with TestClient(broker.port, v311=True) as old:
                await old.subscribe(f"dersim/{FLEET}/+/reply")
                old.publish(f"dersim/{FLEET}/7/commands", b'{"command": "stop"}')
                reply = await old.receive()
                assert reply.topic == f"dersim/{FLEET}/7/reply"
                assert json.loads(reply.payload)["status"] == 404
            assert (await http.get(controls)).json() == before
            log = (await http.get(f"{svc.http_url}/api/dersim/commands")).json()
            assert log == []
            answer = await requester.ask(f"dersim/{FLEET}/1/commands", b'{"command": "stop"}')
            assert answer["status"] == 200


async def test_each_shard_answers_its_own_devices_and_the_last_one_the_unknown_ones(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    """Shards 0 and 1 of a fleet of 4 on one broker: devices 0..1 and 2..3. Every request is
    answered exactly once: by the device's shard, or (no device of the fleet) by the shard
    owning the fleet's last devices. The closing requests to devices 0 and 2 are answered after
    everything before them (each shard answers in arrival order), so the counts are final."""
    fleet = ("-d", "Batt", "-N", "4")
    with trio.fail_after(LIMIT_S * 2):
        shard0 = await start_service(
            *fleet, "--shard_index", "0", "--shard_count", "2", *mqtt_flags(broker)
        )
        shard1 = await start_service(
            *fleet, "--shard_index", "1", "--shard_count", "2", *mqtt_flags(broker)
        )
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await subscribed(client, 0, 2)
            await client.subscribe(f"dersim/{FLEET}/+/telemetry")
            seen: set[int] = set()
            while len(seen) < 4:  # each shard publishes its devices under their fleet indices
                message = await client.receive(f"dersim/{FLEET}/+/telemetry")
                device = json.loads(message.payload)["device_index"]
                assert message.topic == f"dersim/{FLEET}/{device}/telemetry"
                seen.add(device)
            assert seen == {0, 1, 2, 3}
            requester = await Requester(client).start()
            sent = {
                device: requester.send(
                    f"dersim/{FLEET}/{device}/set/controls", b'{"active_power_limit_pct": 30}'
                )
                for device in ("1", "3", "4", "007")
            }
            last = [
                requester.send(f"dersim/{FLEET}/{d}/commands", b'{"command": "stop"}')
                for d in (0, 2)
            ]
            for correlation in last:
                assert (await requester.reply(correlation))["status"] == 200
            answers = {device: await requester.reply(c) for device, c in sent.items()}
            assert answers["1"]["status"] == answers["3"]["status"] == 200
            assert answers["1"]["body"]["device_index"] == 1
            assert answers["3"]["body"]["device_index"] == 3
            for unknown in ("4", "007"):
                assert answers[unknown]["status"] == 404
                assert "[0, 3]" in answers[unknown]["body"]["detail"]  # the fleet's devices
            assert shard0.mqtt.statistics().commands == 2  # devices 1 and 0
            assert shard1.mqtt.statistics().commands == 4  # devices 3, 4, 007 and 2
            for svc, mine in ((shard0, 1), (shard1, 3)):
                controls = f"{svc.http_url}/api/dersim/devices/{mine}/controls"
                assert (await http.get(controls)).json()["active_power_limit_pct"] == 30
            neighbour = f"{shard0.http_url}/api/dersim/devices/0/controls"
            assert (await http.get(neighbour)).json()["active_power_limit_pct"] != 30
        assert len(requester.replies) == 6


async def test_requests_beyond_the_inbox_are_answered_503_busy_and_change_nothing(
    broker: Broker, start_service: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator's thread is held (as a long tick holds it) while twelve requests arrive
    through paho; when it runs again the inbox takes what fits (``INBOX_SIZE``, plus the one
    handed straight to the waiting handler) and every request beyond is answered 503 ``busy``
    at once, in arrival order, without being applied."""
    monkeypatch.setattr(bridge, "INBOX_SIZE", 4)
    count = 12
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-d", "Batt", "-N", "1", *mqtt_flags(broker))
        link = svc.mqtt.link
        arrived = threading.Semaphore(0)
        passed_on = link._on_request

        def counting(*args: Any) -> None:
            passed_on(*args)
            arrived.release()

        link._on_request = counting
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await subscribed(client, 0)
            requester = await Requester(client).start()
            sent = [
                requester.send(
                    f"dersim/{FLEET}/0/set/controls", b'{"active_power_limit_pct": %d}' % (10 + i)
                )
                for i in range(count)
            ]
            for _ in range(count):  # holding the trio thread: nothing is taken from the inbox
                assert arrived.acquire(timeout=LIMIT_S)
            answers = [await requester.reply(c) for c in sent]
            accepted = bridge.INBOX_SIZE + 1
            assert [a["status"] for a in answers] == [200] * accepted + [503] * (count - accepted)
            for answer in answers[accepted:]:
                assert answer["body"]["error"] == "busy"
                assert "try again" in answer["body"]["detail"]
            controls = await http.get(f"{svc.http_url}/api/dersim/devices/0/controls")
            assert controls.json()["active_power_limit_pct"] == 10 + accepted - 1
            assert svc.mqtt.statistics().commands == count
            # the inbox drained: the next request is applied
            answer = await requester.ask(
                f"dersim/{FLEET}/0/set/controls", b'{"active_power_limit_pct": 77}'
            )
            assert answer["status"] == 200
            assert answer["body"]["active_power_limit_pct"] == 77


async def test_a_response_topic_that_is_no_topic_name_is_refused_400_and_publishing_goes_on(
    broker: Broker, start_service: Callable[..., Any]
) -> None:
    """MQTT 5 forbids wildcards in a response topic, but a broker may pass one on (Mosquitto
    2.0 does): the request is not applied, its 400 goes to the device's reply topic with the
    correlation data, and the telemetry keeps flowing."""
    with trio.fail_after(LIMIT_S):
        svc = await start_service("-N", "1", *mqtt_flags(broker))
        async with TestClient(broker.port) as client, httpx.AsyncClient() as http:
            await subscribed(client, 0)
            await client.subscribe(f"dersim/{FLEET}/0/reply", f"dersim/{FLEET}/0/telemetry")
            url = f"{svc.http_url}/api/dersim/devices/0/controls"
            before = (await http.get(url)).json()
            for response_topic in ("replies/#", "replies/+/x", "+"):
                client.publish(
                    f"dersim/{FLEET}/0/set/controls",
                    b'{"active_power_limit_pct": 20}',
                    response_topic=response_topic,
                    correlation_data=response_topic.encode(),
                )
                reply = await client.receive(f"dersim/{FLEET}/0/reply")
                assert reply.correlation_data == response_topic.encode()
                answer = json.loads(reply.payload)
                assert answer["status"] == 400
                assert answer["body"]["error"] == "invalid_response_topic"
                assert repr(response_topic) in answer["body"]["detail"]
            assert (await http.get(url)).json() == before
            published = svc.mqtt.statistics().published
            tick = svc.hub.last.tick
            while True:  # telemetry of later ticks still arrives
                message = await client.receive(f"dersim/{FLEET}/0/telemetry")
                if json.loads(message.payload)["tick"] > tick + 2:
                    break
            assert svc.mqtt.statistics().published > published
