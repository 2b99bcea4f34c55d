"""``POST /api/dersim/stop``: 202, then the service's graceful shutdown (WebSocket clients get
1001, ``run_service`` returns, the process exits 0).

End to end on 127.0.0.1 port 0 with real clients, every wait bounded by ``trio.fail_after``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
import trio
import trio_websocket

from helpers import drain, read_until_serving, release, simulator_process, ws_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

FAST = ("-d", "PV", "--periodic_time", "0.05")
TOKEN = "stop-token-81c2"


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast_path", "quart_route"])
async def test_stop_answers_202_then_clients_get_1001_and_run_service_returns(
    start_service: StartService, fast_path: bool
) -> None:
    service = await start_service(*FAST, fast_path=fast_path)
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(ws_url(service.port)) as ws:
            await ws.get_message()
            async with httpx.AsyncClient(base_url=service.http_url) as http:
                response = await http.post("/api/dersim/stop", json={})
            assert response.status_code == 202
            assert response.json() == {"status": "shutting down"}
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await drain(ws)
        await release(ws)
    assert info.value.reason is not None
    assert info.value.reason.code == 1001
    with trio.fail_after(10):
        await service.done.wait()


async def test_stop_needs_the_token_when_one_is_set(start_service: StartService) -> None:
    service = await start_service(*FAST, "--api_token", TOKEN)
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=service.http_url) as http:
            refused = await http.post("/api/dersim/stop", json={})
            form = await http.post(
                "/api/dersim/stop",
                data={"x": "1"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            still_up = await http.get("/api/dersim/server-info")
            accepted = await http.post(
                "/api/dersim/stop", json={}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
        await service.done.wait()
    assert refused.status_code == 401
    assert form.status_code == 415
    assert still_up.status_code == 200
    assert accepted.status_code == 202


async def test_the_process_exits_0_after_stop_and_never_logs_the_token() -> None:
    flags = (*FAST, "-wp", "0", "--log_level", "DEBUG")
    with simulator_process(*flags, env={"DERSIM_API_TOKEN": TOKEN}) as proc, trio.fail_after(20):
        log_head, port = await trio.to_thread.run_sync(read_until_serving, proc)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post(
                "/api/dersim/stop", json={}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
        assert response.status_code == 202
        out, err = await trio.to_thread.run_sync(proc.communicate)
    assert proc.returncode == 0
    everything = log_head + err.decode() + out.decode()
    assert "/api/dersim/stop" in everything  # the request was logged...
    assert TOKEN not in everything  # ...but not the token
