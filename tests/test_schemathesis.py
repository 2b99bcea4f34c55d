"""Property-based API tests: schemathesis generates requests from the served ``/openapi.json``.

Every documented operation (whatever routes exist when the test runs) gets up to
``MAX_EXAMPLES`` generated requests; each response must not be a 5xx and must match the
response schema documented for its status code. Excluded: ``POST /api/dersim/stop`` (it ends the
server) and the WebSocket routes (documented as ``GET`` + 101; schemathesis speaks HTTP only).

Why a real server: schemathesis' in-process ASGI transport runs the app on an asyncio event
loop (anyio's default portal), and quart-trio needs trio. So ``run_service`` runs in a
background thread with its own ``trio.run`` on 127.0.0.1 port 0, with an API token so the
bearer scheme in the document is exercised too (schemathesis sends the token through its
``auth.openapi`` config; ``test_auth.py`` covers the 401s).

Why a server also runs briefly when this module is imported: the operations to test come from
the served document, and ``schemathesis.pytest.from_fixture`` (lazy loading, 4.32.5) sets
``request.node._nodeid``, which pytest 9 no longer has. So import starts a server with
``FLAGS``, reads its document and stops it (a running service changes process-wide state, e.g.
the ``dersim_trio`` logger level, which other test modules check); the module fixture then runs
an identical server for the tests.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import schemathesis
import trio
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from dersim_trio.service.run import RunningService, run_service
from dersim_trio.setup.config import parse_args
from dersim_trio.web.fastpath.door import open_listener

MAX_EXAMPLES = 20
TOKEN = "schemathesis-token"
FLAGS = [
    *("-d", "HybridDC-3Phase", "-N", "2", "--periodic_time", "0.05"),
    *("--start_date", "2026-06-21", "--start_clock_time", "12:00:00"),
    *("--api_token", TOKEN),
]


class ServerThread:
    """``run_service`` in a thread of its own (its own ``trio.run``) on 127.0.0.1 port 0."""

    def __init__(self, flags: list[str]) -> None:
        config = parse_args(flags, environ={})
        sock = open_listener("127.0.0.1", 0)
        handoff: queue.Queue[tuple[RunningService, trio.lowlevel.TrioToken] | BaseException]
        handoff = queue.Queue()

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                service: RunningService = await nursery.start(
                    partial(run_service, config, listen_socket=sock, freeze_gc=False)
                )
                handoff.put((service, trio.lowlevel.current_trio_token()))

        def thread_main() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # handed to the importing thread
                handoff.put(exc)

        self._thread = threading.Thread(target=thread_main, name="dersim-schemathesis", daemon=True)
        self._thread.start()
        started = handoff.get(timeout=20)
        if isinstance(started, BaseException):
            raise started
        self._service, self._trio_token = started
        self.url = self._service.http_url

    def stop(self) -> None:
        """Graceful shutdown; returns when ``run_service`` has (idempotent)."""
        if self._thread.is_alive():
            trio.from_thread.run_sync(self._service.request_shutdown, trio_token=self._trio_token)
            self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "run_service did not return after request_shutdown"


def _served_document(flags: list[str]) -> dict[str, Any]:
    server = ServerThread(flags)
    try:
        with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=10) as response:
            document: dict[str, Any] = json.loads(response.read())
    finally:
        server.stop()
    return document


DOCUMENT = _served_document(FLAGS)

schema = (
    schemathesis.openapi.from_dict(
        DOCUMENT,
        config=schemathesis.Config.from_dict(
            {"auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}}}
        ),
    )
    .exclude(path="/api/dersim/stop")
    .exclude(path_regex=r"/ws(/|$)")
)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """A server started with ``FLAGS``; its base URL. Stopped after the module's last test."""
    server = ServerThread(FLAGS)
    try:
        yield server.url
    finally:
        server.stop()


def test_the_tested_document_is_the_served_one(server_url: str) -> None:
    with urllib.request.urlopen(f"{server_url}/openapi.json", timeout=10) as response:
        assert json.loads(response.read()) == DOCUMENT


def test_the_document_declares_the_routes_this_module_must_cover() -> None:
    paths = DOCUMENT["paths"]
    assert "/api/dersim/dc-iv" in paths
    assert "/api/dersim/devices/{index}/inputs" in paths
    assert "/api/dersim/devices/{index}/grid-support" in paths
    assert "/api/dersim/grid-support" in paths
    assert set(paths["/api/dersim/grid-events"]) == {"get", "post", "delete"}
    assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert TOKEN not in json.dumps(DOCUMENT)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_error_and_responses_match_the_schema(
    case: schemathesis.Case[Any], server_url: str
) -> None:
    case.call_and_validate(
        base_url=server_url, checks=[not_a_server_error, response_schema_conformance]
    )
