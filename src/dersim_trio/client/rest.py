"""``DersimClient``: the REST API as typed methods, telemetry streams and the burst helper.

HTTP goes through ``httpx.AsyncClient`` (it runs on trio through anyio). Every error status
raises ``ApiError`` carrying the server's ``{"error", "detail", "fields"}``; no answer at all
raises ``ServerUnreachable``; a body that does not fit its model raises ``PayloadError``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

import httpx
import trio
from pydantic import BaseModel, TypeAdapter, ValidationError

from dersim_trio.api.common import ErrorBody
from dersim_trio.api.grid_events import GridEventRequest, GridEventState
from dersim_trio.api.grid_support import GridSupportState, GridSupportUpdate
from dersim_trio.api.inputs import InputsState
from dersim_trio.api.schema import Snapshot
from dersim_trio.api.server import ServerInfo
from dersim_trio.client.backoff import Backoff
from dersim_trio.client.burst import Burst, Sample
from dersim_trio.client.errors import ApiError, PayloadError, ServerUnreachable
from dersim_trio.client.fields import field_value, resolve_field
from dersim_trio.client.models import (
    CommandName,
    CommandRecord,
    ControlsState,
    DcIvCurve,
    FaultsState,
    FaultType,
    History,
    LogLevel,
    LogModule,
    LogPage,
)
from dersim_trio.client.telemetry import Gap, TelemetryStream, open_telemetry
from dersim_trio.client.urls import ServerUrls, parse_server_url

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_NO_BODY: Any = object()


class DersimClient:
    """One simulator's API. Use as ``async with DersimClient("http://127.0.0.1:8111") as api``.

    ``token`` (default: the ``DERSIM_API_TOKEN`` environment variable) is sent as
    ``Authorization: Bearer`` for servers started with ``--api_token``. Pass your own
    ``httpx.AsyncClient`` as ``http`` to share a connection pool (the client then leaves it
    open). ``backoff`` and ``rng`` are the defaults for ``telemetry()`` streams.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        http: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.urls: ServerUrls = parse_server_url(url)
        token = token if token is not None else os.environ.get("DERSIM_API_TOKEN")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout_s = timeout_s
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._backoff = backoff
        self._rng = rng

    async def __aenter__(self) -> DersimClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    # --- plumbing -------------------------------------------------------------------------
    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = _NO_BODY
    ) -> Any:
        """Send one request to ``path``; return the decoded JSON (raises on error statuses).

        A mutating request always carries a JSON body (``{}`` when ``body`` is not given): the
        server refuses mutations without one (they could come from a web page).
        """
        url = self.urls.http_base + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if body is _NO_BODY and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            body = {}
        try:
            if body is _NO_BODY:
                response = await self._http.request(
                    method, url, params=query, headers=self._headers
                )
            else:
                response = await self._http.request(
                    method, url, params=query, headers=self._headers, json=body
                )
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"{method} {url}: no answer within {self._timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"{method} {url}: cannot reach the server: {exc or type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            raise _api_error(method, url, response)
        try:
            return response.json()
        except ValueError:
            raise PayloadError(
                f"{method} {url}: the answer is not JSON: {response.text[:200]!r}"
            ) from None

    @staticmethod
    def _model(model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise PayloadError(f"{what}: unexpected answer: {_first_error(exc)}") from None

    @staticmethod
    def _list(model: type[T], data: Any, what: str) -> list[T]:
        try:
            return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise PayloadError(f"{what}: unexpected answer: {_first_error(exc)}") from None

    # --- reads ----------------------------------------------------------------------------
    async def server_info(self) -> ServerInfo:
        """``GET /api/dersim/server-info``: version, device type and count, tick, counters."""
        data = await self.request("GET", "/api/dersim/server-info")
        return self._model(ServerInfo, data, "server-info")

    async def overview(self, device: int | None = None) -> Snapshot:
        """``GET /api/dersim/overview``: the latest snapshot of one device (None: the server's
        first device, ``server_info().first_device``: not 0 on a fleet shard)."""
        data = await self.request("GET", "/api/dersim/overview", params={"device": device})
        return self._model(Snapshot, data, "overview")

    async def devices(self) -> list[Snapshot]:
        """``GET /api/dersim/devices``: every device's latest snapshot, in index order."""
        return self._list(Snapshot, await self.request("GET", "/api/dersim/devices"), "devices")

    async def history(self, *, seconds: float | None = None, device: int | None = None) -> History:
        """``GET /api/dersim/history``: the last ``seconds`` of simulated time, columnar, of
        ``device`` (None: the server's first device)."""
        params = {"seconds": seconds, "device": device}
        data = await self.request("GET", "/api/dersim/history", params=params)
        return self._model(History, data, "history")

    async def logs(
        self,
        *,
        module: LogModule | None = None,
        level: LogLevel | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> LogPage:
        """``GET /api/dersim/logs``: entries at ``level`` or above, newer than id ``after``."""
        params = {"module": module, "level": level, "limit": limit, "after": after}
        data = await self.request("GET", "/api/dersim/logs", params=params)
        return self._model(LogPage, data, "logs")

    async def dc_iv(self, device: int | None = None) -> DcIvCurve:
        """``GET /api/dersim/dc-iv``: the DC I-V curve of a PV or hybrid device (None: the
        server's first device)."""
        data = await self.request("GET", "/api/dersim/dc-iv", params={"device": device})
        return self._model(DcIvCurve, data, "dc-iv")

    # --- inputs ---------------------------------------------------------------------------
    async def inputs(self, device: int) -> InputsState:
        """``GET .../devices/{device}/inputs``: the run-time input overrides."""
        data = await self.request("GET", f"/api/dersim/devices/{device}/inputs")
        return self._model(InputsState, data, "inputs")

    async def set_inputs(
        self, device: int, **changes: float | list[float] | str | None
    ) -> InputsState:
        """``PUT .../devices/{device}/inputs``: a number overrides, ``None`` returns to the
        profile, e.g. ``await api.set_inputs(0, wind_speed_m_s=12.0)``; ``grid_voltage_pu``
        may be three per-phase values (three-phase devices)."""
        data = await self.request("PUT", f"/api/dersim/devices/{device}/inputs", body=changes)
        return self._model(InputsState, data, "inputs")

    async def set_all_inputs(
        self, **changes: float | list[float] | str | None
    ) -> list[InputsState]:
        """``PUT /api/dersim/inputs``: the same overrides for every device."""
        data = await self.request("PUT", "/api/dersim/inputs", body=changes)
        return self._list(InputsState, data, "inputs")

    # --- controls, commands, faults -------------------------------------------------------
    async def controls(self, device: int) -> ControlsState:
        """``GET .../devices/{device}/controls``: setpoints, limits, clamps, capability."""
        data = await self.request("GET", f"/api/dersim/devices/{device}/controls")
        return self._model(ControlsState, data, "controls")

    async def set_controls(self, device: int, **changes: float | str | None) -> ControlsState:
        """``PUT .../devices/{device}/controls``, e.g.
        ``await api.set_controls(0, active_power_limit_pct=50, revert_after_s=60)``."""
        data = await self.request("PUT", f"/api/dersim/devices/{device}/controls", body=changes)
        return self._model(ControlsState, data, "controls")

    async def command(self, command: CommandName, device: int | None = None) -> list[CommandRecord]:
        """``POST /api/dersim/commands`` for one device (None: every device)."""
        body = {"command": command, "device": device}
        data = await self.request("POST", "/api/dersim/commands", body=body)
        return self._list(CommandRecord, data, "commands")

    async def commands(self, *, limit: int | None = None) -> list[CommandRecord]:
        """``GET /api/dersim/commands``: the last commands, newest last."""
        data = await self.request("GET", "/api/dersim/commands", params={"limit": limit})
        return self._list(CommandRecord, data, "commands")

    async def faults(self, device: int) -> FaultsState:
        """``GET .../devices/{device}/faults``."""
        data = await self.request("GET", f"/api/dersim/devices/{device}/faults")
        return self._model(FaultsState, data, "faults")

    async def inject_fault(self, device: int, fault: FaultType) -> FaultsState:
        """``POST .../devices/{device}/faults``: recovery needs ``command("reset")``."""
        path = f"/api/dersim/devices/{device}/faults"
        data = await self.request("POST", path, body={"type": fault})
        return self._model(FaultsState, data, "faults")

    async def clear_faults(self, device: int, fault: FaultType | None = None) -> FaultsState:
        """``DELETE .../devices/{device}/faults``: one type, or all (None)."""
        path = f"/api/dersim/devices/{device}/faults"
        body = {"type": fault} if fault is not None else {}
        data = await self.request("DELETE", path, body=body)
        return self._model(FaultsState, data, "faults")

    # --- IEEE 1547 grid support and grid events ------------------------------------------
    async def grid_support(self, device: int) -> GridSupportState:
        """``GET .../devices/{device}/grid-support``: every function's settings."""
        data = await self.request("GET", f"/api/dersim/devices/{device}/grid-support")
        return self._model(GridSupportState, data, "grid-support")

    async def set_grid_support(
        self, device: int, update: GridSupportUpdate | None = None, **functions: Any
    ) -> GridSupportState:
        """``PUT .../devices/{device}/grid-support``: only what is named changes, e.g.
        ``await api.set_grid_support(0, volt_var={"enabled": True, "rsp_tms_s": 10})`` or
        ``await api.set_grid_support(0, category={"normal": "A", "abnormal": "II"})``. A
        ``GridSupportUpdate`` may be passed instead; values may also be the update models."""
        path = f"/api/dersim/devices/{device}/grid-support"
        data = await self.request("PUT", path, body=_grid_body(update, functions))
        return self._model(GridSupportState, data, "grid-support")

    async def set_all_grid_support(
        self, update: GridSupportUpdate | None = None, **functions: Any
    ) -> list[GridSupportState]:
        """``PUT /api/dersim/grid-support``: the same change on every device (all or none)."""
        data = await self.request(
            "PUT", "/api/dersim/grid-support", body=_grid_body(update, functions)
        )
        return self._list(GridSupportState, data, "grid-support")

    async def grid_event(self) -> GridEventState:
        """``GET /api/dersim/grid-events``: the event in force (``active`` false: none)."""
        data = await self.request("GET", "/api/dersim/grid-events")
        return self._model(GridEventState, data, "grid-events")

    async def start_grid_event(
        self,
        event: GridEventRequest | None = None,
        *,
        voltage: Sequence[tuple[float, float | Sequence[float]]] | None = None,
        frequency: Sequence[tuple[float, float]] | None = None,
        device: int | None = None,
    ) -> GridEventState:
        """``POST /api/dersim/grid-events``, replacing any event in force. Points are
        ``(t_s, value)`` from ``t_s`` 0; equal times make a step, values ramp in between::

            # a 2 s sag to 0.6 pu one second from now, every device
            await api.start_grid_event(voltage=[(0, 1.0), (1, 1.0), (1, 0.6), (3, 0.6), (3, 1.0)])
        """
        if event is not None:
            body: dict[str, Any] = event.model_dump(exclude_unset=True)
        else:
            body = {"device": device}
            if voltage is not None:
                body["voltage"] = [
                    {"t_s": t, "v_pu": v if isinstance(v, int | float) else list(v)}
                    for t, v in voltage
                ]
            if frequency is not None:
                body["frequency"] = [{"t_s": t, "freq_hz": f} for t, f in frequency]
        data = await self.request("POST", "/api/dersim/grid-events", body=body)
        return self._model(GridEventState, data, "grid-events")

    async def end_grid_event(self) -> GridEventState:
        """``DELETE /api/dersim/grid-events``: the devices' inputs apply again."""
        data = await self.request("DELETE", "/api/dersim/grid-events")
        return self._model(GridEventState, data, "grid-events")

    async def stop_server(self) -> None:
        """``POST /api/dersim/stop``: the server closes every stream with 1001 and exits."""
        await self.request("POST", "/api/dersim/stop")

    # --- telemetry ------------------------------------------------------------------------
    def telemetry(
        self,
        device: int | None = None,
        *,
        on_gap: Callable[[Gap], None] | None = None,
        backoff: Backoff | None = None,
        idle_timeout_s: float | None = None,
    ) -> AbstractAsyncContextManager[TelemetryStream]:
        """``open_telemetry`` on this server (see there)."""
        return open_telemetry(
            self.urls.http_base,
            device=device,
            backoff=backoff or self._backoff,
            rng=self._rng,
            on_gap=on_gap,
            idle_timeout_s=idle_timeout_s,
        )

    async def burst(
        self,
        action: Callable[[], Awaitable[object]] | None,
        quantity: str,
        *,
        seconds: float,
        device: int | None = None,
    ) -> Burst:
        """Apply ``action``, then collect ``quantity`` of ``device`` for ``seconds`` (None: the
        server's first device, ``server_info().first_device``).

        The stream is subscribed before the action runs, and only ticks published after it
        returned are kept, so every sample reflects the action. ``quantity`` is a field name
        (``rotor_speed_rpm``, ``metrics.power_kw``; see ``dersim_trio.client.fields``);
        ``seconds`` is trio time (instant under ``MockClock``). Example::

            burst = await api.burst(
                lambda: api.set_inputs(0, wind_speed_m_s=12.0), "rotor_speed_rpm", seconds=30
            )
        """
        if device is None:
            device = (await self.server_info()).first_device
        async with self.telemetry(device) as stream:
            first = await stream.receive()
            path = resolve_field(first, quantity)
            if action is not None:
                await action()
            after_tick = (await self.overview(device)).tick
            samples: list[Sample] = []
            with trio.move_on_after(seconds):
                async for snapshot in stream:
                    if snapshot.tick > after_tick:
                        value = field_value(snapshot, path)
                        samples.append(
                            Sample(
                                snapshot.tick,
                                snapshot.metrics.timestamp,
                                None if value is None else float(value),
                            )
                        )
            gaps = tuple(g for g in stream.gaps if g.next_tick > after_tick)
        return Burst(path, device, after_tick, tuple(samples), gaps)


def _grid_body(update: GridSupportUpdate | None, functions: dict[str, Any]) -> dict[str, Any]:
    """A grid-support PUT body from an update model and/or keyword functions."""
    body: dict[str, Any] = update.model_dump(exclude_unset=True) if update is not None else {}
    for name, value in functions.items():
        body[name] = value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value
    return body


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    return f"{'.'.join(str(p) for p in first['loc']) or '(body)'}: {first['msg']}"


def _api_error(method: str, url: str, response: httpx.Response) -> ApiError:
    try:
        body = ErrorBody.model_validate(response.json())
    except (ValueError, ValidationError):
        text = response.text.strip().replace("\n", " ")[:200]
        detail = text or response.reason_phrase
        return ApiError(method, url, response.status_code, "http_error", detail)
    return ApiError(method, url, response.status_code, body.error, body.detail, body.fields)
