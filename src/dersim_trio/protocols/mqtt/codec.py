"""MQTT topics and payloads, sans-IO: what goes where, and what a request on a topic does.

Topic layout (``{fleet}`` is ``--fleet``, ``{device}`` the device index of the REST API, in
decimal without leading zeros; ``{first}`` the first device index this process owns, 0 for a
single process):

=========================================== ===== ====== ===========================================
topic                                       QoS   retain payload
=========================================== ===== ====== ===========================================
``dersim/{fleet}/{device}/telemetry``       0     no     the snapshot, the WebSocket message's bytes
``dersim/{fleet}/{device}/status``          1     yes    ``online`` / ``offline``
``dersim/{fleet}/process/{first}/status``   1     yes    ``online`` / ``offline`` (the last will)
``dersim/{fleet}/process/{first}/telemetry`` 0    no     ``--mqtt_batch``: every snapshot of a tick
``dersim/{fleet}/{device}/set/controls``    in           ``PUT .../devices/{device}/controls`` body
``dersim/{fleet}/{device}/set/inputs``      in           ``PUT .../devices/{device}/inputs`` body
``dersim/{fleet}/{device}/set/grid-support`` in          ``PUT .../devices/{device}/grid-support``
``dersim/{fleet}/{device}/commands``        in           ``POST /api/dersim/commands`` body
``dersim/{fleet}/{device}/reply``           1     no     ``{"status": 200, "body": ...}``
=========================================== ===== ====== ===========================================

A request is answered on its MQTT 5 response topic when it has one (with its correlation data
echoed), else on the device's ``reply`` topic (``dersim/{fleet}/{level}/reply`` for the device
level the request named). The reply is the REST response: the HTTP status and the JSON body the
same request gets over HTTP (``api/bodies.py`` decodes both, and the operator façade answers
both), including every error (400 bad JSON, 404 unknown device or action, 413 too large, 422
with the refused fields, 503 not ready). A ``commands`` body may leave ``device`` out (the topic
names it); a ``device`` different from the topic's is refused (422). A response topic that is no
topic name (a wildcard in it) is refused: 400 ``invalid_response_topic`` on the device's
``reply`` topic. A refused request changes nothing.

Every process of a fleet subscribes to the whole fleet's request topics and answers its own
devices only, so each request is answered exactly once: a device of another shard by that shard,
and a device level naming no device of the fleet (an index past the fleet, or not an index in
decimal without leading zeros: ``01``, ``-1``, ``x``) with 404 ``device_not_found`` by the
process owning the fleet's last devices (the only process of an unsharded simulator).

Batch message (``--mqtt_batch``): ``{"tick": T, "first_device": F, "snapshots": [S_F, S_F+1,
...]}`` where each ``S_i`` is device *i*'s snapshot, byte for byte the WebSocket message.

Availability: a consumer treats device *i* as live when both its own ``status`` and its
process's ``status`` read ``online`` (Home Assistant's ``availability_mode: all``). The process
topic carries the last will, so a killed process reads ``offline`` there at once; the device
topics are written ``online`` at every connection and ``offline`` on a clean stop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from dersim_trio.api.bodies import MAX_BODY_BYTES, BodyError, body_too_large, decode_body
from dersim_trio.api.common import ErrorBody, FieldError
from dersim_trio.api.controls import CommandRequest, ControlsUpdate
from dersim_trio.api.grid_support import GridSupportUpdate
from dersim_trio.api.inputs import InputsUpdate
from dersim_trio.errors import (
    DeviceIndexError,
    FieldProblem,
    NotApplicableError,
    NotReadyError,
    RequestRejected,
    problems_text,
)
from dersim_trio.service.operator import Controller

log = logging.getLogger("dersim_trio.MQTT")

ROOT: Final = "dersim"
ACTIONS: Final = ("set/controls", "set/inputs", "set/grid-support", "commands")
"""The request topics under a device, in the order the README lists them."""
ONLINE: Final = b"online"
OFFLINE: Final = b"offline"


@dataclass(frozen=True, slots=True)
class Request:
    """A message on a request topic that this process answers."""

    device: int
    """The device index in the topic (the REST API's index)."""
    action: str
    """One of ``ACTIONS``, or what the topic said when it names no action (answered 404)."""


@dataclass(frozen=True, slots=True)
class UnknownDevice:
    """A message on a request topic whose device level names no device of the fleet."""

    level: str
    """The topic's device level as it was written."""
    action: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The REST response to one request: status and JSON body."""

    status: int
    body: bytes

    def payload(self) -> bytes:
        """``{"status": S, "body": B}`` with the body spliced in as it is (already JSON)."""
        return b'{"status":%d,"body":%s}' % (self.status, self.body)


class FleetTopics:
    """The topic names of one process's devices ``first .. first + count - 1`` in ``fleet``
    of ``fleet_device_count`` devices (default: the process's last device is the fleet's)."""

    def __init__(
        self,
        fleet: str,
        device_count: int,
        first_device: int = 0,
        fleet_device_count: int | None = None,
    ) -> None:
        if fleet_device_count is None:
            fleet_device_count = first_device + device_count
        if device_count < 1 or first_device < 0 or fleet_device_count < first_device + device_count:
            raise ValueError(
                "device_count must be >= 1, first_device >= 0, and the process's devices "
                "within the fleet's"
            )
        self.fleet = fleet
        self.device_count = device_count
        self.first_device = first_device
        self.fleet_device_count = fleet_device_count
        self.answers_unknown = first_device + device_count == fleet_device_count
        """True for the process that answers the device levels naming no device of the fleet
        (the one owning the fleet's last devices)."""
        self.prefix = f"{ROOT}/{fleet}/"
        self.telemetry = tuple(
            f"{self.prefix}{first_device + i}/telemetry" for i in range(device_count)
        )
        """Device-order telemetry topics, built once (one string per device per tick saved)."""
        self.status = tuple(f"{self.prefix}{first_device + i}/status" for i in range(device_count))
        self.process_status = f"{self.prefix}process/{first_device}/status"
        self.batch = f"{self.prefix}process/{first_device}/telemetry"

    def reply(self, device: int | str) -> str:
        """The default reply topic of device ``device`` (the REST API's index), or of the
        device level a request topic named."""
        return f"{self.prefix}{device}/reply"

    def subscriptions(self) -> list[str]:
        """The topic filters to subscribe to (every device of the fleet: a process ignores the
        devices it does not own)."""
        return [f"{self.prefix}+/set/+", f"{self.prefix}+/commands"]

    def parse(self, topic: str) -> Request | UnknownDevice | None:
        """What ``topic`` asks of this process: a request for one of its devices, a device
        level naming no device of the fleet (when this process answers those), or None (not
        for this process: another process's device, or another fleet)."""
        if not topic.startswith(self.prefix):
            return None
        level, _, action = topic[len(self.prefix) :].partition("/")
        canonical = (
            level.isascii()
            and level.isdigit()
            and (level == "0" or not level.startswith("0"))
            # no longer than the fleet's largest index: int() of thousands of digits raises
            and len(level) <= len(str(self.fleet_device_count))
        )
        device = int(level) if canonical else -1
        if self.first_device <= device < self.first_device + self.device_count:
            return Request(device, action)
        if 0 <= device < self.fleet_device_count or not self.answers_unknown:
            return None
        return UnknownDevice(level, action)

    def unknown_device(self, request: UnknownDevice) -> Reply:
        """The 404 answer to a device level that names no device of the fleet."""
        level = request.level
        shown = repr(level) if len(level) <= 32 else f"{level[:32]!r}... ({len(level)} characters)"
        return _error(
            404,
            "device_not_found",
            f"no device {shown} in fleet {self.fleet!r}: the device level of a "
            f"request topic must be a device index in [0, {self.fleet_device_count - 1}], "
            "in decimal without leading zeros",
        )


MAX_TOPIC_BYTES: Final = 65535
"""The longest topic name MQTT allows (UTF-8 bytes)."""


def response_topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be a request's response topic (MQTT 5, 3.3.2.3.5: a topic name, so no
    wildcard), or None. A broker may pass such a topic on; publishing to it would fail."""
    if "+" in topic or "#" in topic:
        return f"the response topic {topic[:64]!r} has a wildcard (+ or #); a topic name has none"
    if "\x00" in topic:
        return "the response topic has a NUL character"
    if len(topic.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        return f"the response topic is longer than {MAX_TOPIC_BYTES} bytes"
    return None


def too_large(size: int) -> Reply | None:
    """The 413 answer to a payload of ``size`` bytes, or None when the size is allowed."""
    if size <= MAX_BODY_BYTES:
        return None
    exc = body_too_large(size)
    return _error(exc.status, exc.error, exc.detail)


def invalid_response_topic(problem: str) -> Reply:
    """The 400 answer to a request whose response topic is no topic name (not applied)."""
    return _error(
        400,
        "invalid_response_topic",
        f"{problem}: the request was not applied; this answer goes to the device's reply topic",
    )


def _error(status: int, error: str, detail: str, fields: list[FieldError] | None = None) -> Reply:
    body = ErrorBody(error=error, detail=detail, fields=fields)
    return Reply(status, body.model_dump_json(exclude_none=True).encode())


def _fields(problems: Sequence[FieldProblem]) -> list[FieldError]:
    return [FieldError(field=p.field, message=p.message, allowed=p.allowed) for p in problems]


def _one(model: BaseModel) -> Reply:
    return Reply(200, model.model_dump_json().encode())


def _many(models: Sequence[BaseModel]) -> Reply:
    return Reply(200, b"[" + b",".join(m.model_dump_json().encode() for m in models) + b"]")


class RequestHandler:
    """Answers requests through the operator façade, exactly as the REST routes do."""

    def __init__(self, controller: Controller, topics: FleetTopics) -> None:
        self.controller = controller
        self.topics = topics
        self._actions: dict[str, Callable[[int, bytes], Reply]] = {
            "set/controls": self._controls,
            "set/inputs": self._inputs,
            "set/grid-support": self._grid_support,
            "commands": self._command,
        }

    def handle(self, request: Request, payload: bytes) -> Reply:
        """The reply to ``payload`` on ``request``'s topic; never raises, and a refused request
        changes nothing (the façade validates everything before it applies anything)."""
        act = self._actions.get(request.action)
        if act is None:
            return _error(
                404,
                "not_found",
                f"no MQTT request topic {request.action!r} under a device; allowed: "
                + ", ".join(ACTIONS),
            )
        try:
            # the façade takes fleet indices, as the topics do (a shard's devices keep theirs)
            return act(request.device, payload)
        except BodyError as exc:
            return _error(exc.status, exc.error, exc.detail)
        except RequestRejected as exc:
            return _error(
                422, "validation_error", problems_text(exc.problems), _fields(exc.problems)
            )
        except DeviceIndexError as exc:
            return _error(404, "device_not_found", str(exc))
        except NotApplicableError as exc:
            return _error(404, "not_applicable", str(exc))
        except NotReadyError as exc:
            return _error(503, "not_ready", str(exc))
        except Exception:
            log.exception("MQTT request %s on device %d failed", request.action, request.device)
            return _error(500, "internal_error", "the request failed; see the simulator's log")

    def _controls(self, device: int, payload: bytes) -> Reply:
        body = decode_body(ControlsUpdate, payload)
        return _one(self.controller.update_controls(device, body))

    def _inputs(self, device: int, payload: bytes) -> Reply:
        body = decode_body(InputsUpdate, payload)
        return _one(self.controller.update_inputs(device, body)[0])

    def _grid_support(self, device: int, payload: bytes) -> Reply:
        body = decode_body(GridSupportUpdate, payload)
        return _one(self.controller.update_grid_support(device, body)[0])

    def _command(self, device: int, payload: bytes) -> Reply:
        body = decode_body(CommandRequest, payload)
        if "device" in body.model_fields_set and body.device != device:
            raise RequestRejected(
                [
                    FieldProblem(
                        "device",
                        f"must be this topic's device {device} or absent, got {body.device}",
                        None,
                    )
                ]
            )
        return _many(self.controller.command(body.model_copy(update={"device": device})))


def batch_payload(tick: int, first_device: int, snapshots: Sequence[bytes]) -> bytes:
    """The ``--mqtt_batch`` message of one tick: the snapshots' bytes spliced in unchanged."""
    head = b'{"tick":%d,"first_device":%d,"snapshots":[' % (tick, first_device)
    return head + b",".join(snapshots) + b"]}"
