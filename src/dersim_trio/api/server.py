"""``GET /api/dersim/server-info`` and ``POST /api/dersim/stop``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HubStatisticsModel(BaseModel):
    """Broadcaster counters (``Hub.statistics()``)."""

    subscribers: int
    ticks_published: int
    messages_sent: int
    messages_dropped: int
    last_tick_duration_ms: float
    max_tick_lateness_ms: float
    tick_lateness_p50_ms: float
    tick_lateness_p99_ms: float
    tick_duration_p50_ms: float
    tick_duration_p99_ms: float


class ShardInfo(BaseModel):
    """The fleet slice a shard simulates (``--shard_index``/``--shard_count``)."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    first_device: int = Field(ge=0, description="Fleet index of the shard's first device.")
    fleet_device_count: int = Field(ge=1, description="Devices of the whole fleet (-N).")


class ServerInfo(BaseModel):
    """What this simulator process is and how it runs."""

    name: str
    version: str
    python_version: str
    trio_version: str
    hypercorn_version: str
    device_type: str
    device_count: int = Field(description="Devices this process simulates.")
    first_device: int = Field(
        0,
        description="Index of the first of them: 0, or a fleet shard's first fleet index; "
        "every `device` parameter and `device_index` uses fleet indices.",
    )
    shard: ShardInfo | None = Field(None, description="null unless a fleet shard.")
    device_profile_name: str | None
    periodic_time_s: float
    time_scale: float
    wall_clock: bool
    timezone: str
    seed: int
    started_at: str = Field(description="Wall-clock start time, ISO 8601 UTC.")
    uptime_s: float
    tick: int
    clock_time: str
    fast_path: bool = Field(
        description="True when the telemetry stream is served by the front door."
    )
    statistics: HubStatisticsModel


class StopAccepted(BaseModel):
    """``POST /api/dersim/stop`` answer."""

    status: str = Field(description='"shutting down"')
