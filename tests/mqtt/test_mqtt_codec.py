"""The sans-IO half of the MQTT front end: topic names, which topics a process answers, the
batch message, and replies through the operator façade (no broker, no trio)."""

from __future__ import annotations

import json

import pytest

from dersim_trio.api.bodies import MAX_BODY_BYTES, BodyError, decode_body
from dersim_trio.api.controls import ControlsUpdate
from dersim_trio.engine.core import encode
from dersim_trio.protocols.mqtt.codec import (
    FleetTopics,
    Reply,
    Request,
    RequestHandler,
    UnknownDevice,
    batch_payload,
    response_topic_problem,
    too_large,
)
from dersim_trio.service.build import device_identity
from dersim_trio.service.operator import Controller
from helpers import make_config, make_engine


def test_topic_names_of_a_process_owning_devices_10_to_12() -> None:
    topics = FleetTopics("feeder", device_count=3, first_device=10)
    assert topics.telemetry == (
        "dersim/feeder/10/telemetry",
        "dersim/feeder/11/telemetry",
        "dersim/feeder/12/telemetry",
    )
    assert topics.status[2] == "dersim/feeder/12/status"
    assert topics.process_status == "dersim/feeder/process/10/status"
    assert topics.batch == "dersim/feeder/process/10/telemetry"
    assert topics.reply(11) == "dersim/feeder/11/reply"
    assert topics.subscriptions() == ["dersim/feeder/+/set/+", "dersim/feeder/+/commands"]


@pytest.mark.parametrize(
    ("topic", "request_"),
    [
        ("dersim/feeder/10/set/controls", Request(10, "set/controls")),
        ("dersim/feeder/12/commands", Request(12, "commands")),
        ("dersim/feeder/11/set/nothing", Request(11, "set/nothing")),
        ("dersim/feeder/9/commands", None),  # another shard's device
        ("dersim/feeder/13/commands", None),
        ("dersim/feeder/19/commands", None),
        ("dersim/other/10/commands", None),
        # no device of the fleet: the last shard answers them, this middle one does not
        ("dersim/feeder/20/commands", None),
        ("dersim/feeder/010/commands", None),
        ("dersim/feeder/" + "1" * 5000 + "/commands", None),
    ],
)
def test_which_topics_a_middle_shard_answers(topic: str, request_: Request | None) -> None:
    """Devices 10..12 of a fleet of 20."""
    assert FleetTopics("feeder", 3, 10, fleet_device_count=20).parse(topic) == request_


@pytest.mark.parametrize(
    ("topic", "request_"),
    [
        ("dersim/feeder/19/commands", Request(19, "commands")),
        ("dersim/feeder/16/commands", None),  # another shard's device
        ("dersim/feeder/20/commands", UnknownDevice("20", "commands")),
        ("dersim/feeder/100000/set/controls", UnknownDevice("100000", "set/controls")),
        ("dersim/feeder/010/commands", UnknownDevice("010", "commands")),  # not canonical
        ("dersim/feeder/+1/commands", UnknownDevice("+1", "commands")),
        ("dersim/feeder/-1/commands", UnknownDevice("-1", "commands")),
        ("dersim/feeder/١١/commands", UnknownDevice("١١", "commands")),  # Arabic-Indic digits
        ("dersim/feeder/process/commands", UnknownDevice("process", "commands")),
        # more digits than Python's int() takes from a string (4,300)
        ("dersim/feeder/" + "1" * 5000 + "/commands", UnknownDevice("1" * 5000, "commands")),
        ("dersim/feeder/" + "0" * 5000 + "/commands", UnknownDevice("0" * 5000, "commands")),
        ("dersim/other/25/commands", None),
    ],
)
def test_which_topics_the_last_shard_answers(
    topic: str, request_: Request | UnknownDevice | None
) -> None:
    """Devices 17..19 of a fleet of 20: they and every level naming no device of the fleet."""
    assert FleetTopics("feeder", 3, 17, fleet_device_count=20).parse(topic) == request_


def test_an_unknown_device_is_answered_404_naming_the_fleets_devices() -> None:
    topics = FleetTopics("feeder", 3, 17, fleet_device_count=20)
    reply = topics.unknown_device(UnknownDevice("010", "commands"))
    assert reply.status == 404
    body = json.loads(reply.body)
    assert body["error"] == "device_not_found"
    assert "'010'" in body["detail"]
    assert "[0, 19]" in body["detail"]
    assert topics.reply("010") == "dersim/feeder/010/reply"


def test_a_process_outside_its_fleet_is_refused() -> None:
    with pytest.raises(ValueError, match="within the fleet"):
        FleetTopics("feeder", 3, 18, fleet_device_count=20)


def test_the_batch_message_splices_the_snapshots_unchanged() -> None:
    payload = batch_payload(7, 20, [b'{"a":1}', b'{"b":[2]}'])
    assert payload == b'{"tick":7,"first_device":20,"snapshots":[{"a":1},{"b":[2]}]}'
    assert json.loads(payload)["snapshots"] == [{"a": 1}, {"b": [2]}]


def test_a_reply_carries_the_rest_status_and_body() -> None:
    assert Reply(422, b'{"error":"x"}').payload() == b'{"status":422,"body":{"error":"x"}}'


def handler_for(*flags: str) -> tuple[Controller, RequestHandler]:
    engine = make_engine(*flags)
    controller = Controller(engine, device_identity(make_config(*flags)))
    engine.initial()
    first = engine.devices[0].index
    return controller, RequestHandler(controller, FleetTopics("f", len(engine.devices), first))


def test_requests_reach_the_fleet_device_of_a_shard_that_starts_at_device_100() -> None:
    """A shard keeps its devices' fleet indices: topic, façade and reply all say 101."""
    controller, handler = handler_for("-N", "200", "--shard_index", "1", "--shard_count", "2")
    reply = handler.handle(Request(101, "set/controls"), b'{"active_power_limit_pct": 30}')
    assert reply.status == 200
    assert json.loads(reply.body)["device_index"] == 101
    assert controller.controls(101).active_power_limit_pct == 30
    assert controller.controls(100).active_power_limit_pct != 30
    reply = handler.handle(Request(101, "commands"), b'{"command": "stop", "device": 101}')
    assert reply.status == 200
    [record] = json.loads(reply.body)
    assert record["outcome"] == "accepted"
    assert record["device"] == 101


def test_a_refused_request_changes_nothing() -> None:
    controller, handler = handler_for("-d", "Batt")
    before = controller.controls(0)
    reply = handler.handle(
        Request(0, "set/controls"),
        b'{"active_power_setpoint_kw": 1, "active_power_limit_pct": 500}',
    )
    assert reply.status == 422
    assert controller.controls(0) == before
    body = json.loads(reply.body)
    assert body["error"] == "validation_error"
    assert [f["field"] for f in body["fields"]] == ["active_power_limit_pct"]


def test_a_control_the_device_type_lacks_is_refused_with_its_reason() -> None:
    _, handler = handler_for("-d", "PV")
    reply = handler.handle(Request(0, "set/controls"), b'{"active_power_setpoint_kw": 1}')
    assert reply.status == 422
    [field] = json.loads(reply.body)["fields"]
    assert field["field"] == "active_power_setpoint_kw"
    assert "active_power_limit_pct" in field["message"]


def test_a_failure_inside_the_facade_is_a_500_reply_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, handler = handler_for()

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(controller, "update_inputs", broken)
    reply = handler.handle(Request(0, "set/inputs"), b'{"load_kw": 1}')
    assert reply.status == 500
    assert json.loads(reply.body)["error"] == "internal_error"


def test_the_snapshot_bytes_are_the_engines_encoding() -> None:
    engine = make_engine("-N", "2")
    snapshots = engine.initial()
    payload = batch_payload(0, 0, [encode(s) for s in snapshots])
    assert [s["device_index"] for s in json.loads(payload)["snapshots"]] == [0, 1]


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("replies/a", None),
        ("dersim/f/0/reply", None),
        ("é/ü", None),
        ("replies/#", "wildcard"),
        ("+/x", "wildcard"),
        ("a\x00b", "NUL"),
        ("a" * 65536, "longer than 65535 bytes"),
        ("é" * 32768, "longer than 65535 bytes"),  # 65,536 bytes in UTF-8
    ],
)
def test_which_response_topics_are_refused(topic: str, problem: str | None) -> None:
    found = response_topic_problem(topic)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert len(found) < 200


def test_a_payload_over_the_body_limit_is_refused_by_its_size_as_over_rest() -> None:
    assert too_large(MAX_BODY_BYTES) is None
    reply = too_large(3_000_000)
    assert reply is not None
    assert reply.status == 413
    with pytest.raises(BodyError) as caught:
        decode_body(ControlsUpdate, b" " * 3_000_000)
    assert json.loads(reply.body) == {"error": "body_too_large", "detail": caught.value.detail}
    assert "got 3000000 bytes" in caught.value.detail
