"""``GET /fleet`` of the ``dersim-trio fleet`` supervisor: its shards."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ShardStatus(BaseModel):
    """One shard process."""

    index: int = Field(ge=0)
    first_device: int = Field(ge=0, description="Fleet index of the shard's first device.")
    device_count: int = Field(ge=1)
    port: int = Field(description="The shard's HTTP/WebSocket port (-wp + index).")
    url: str = Field(description="The shard's base URL.")
    state: Literal["starting", "running", "restarting", "stopping", "stopped"]
    pid: int | None = Field(description="Process id of the shard's current (or last) process.")
    restarts: int = Field(ge=0, description="Times the shard was started again after exiting.")
    last_exit_code: int | None = Field(
        description="Exit code of its last process (negative: killed by that signal); null: "
        "none exited yet."
    )


class FleetSummary(BaseModel):
    """The fleet supervisor's view of its shards."""

    device_type: str
    device_count: int = Field(description="Devices of the whole fleet (-N).")
    shard_count: int
    seed: int = Field(description="Device i of the fleet uses seed + i.")
    shards: list[ShardStatus]
