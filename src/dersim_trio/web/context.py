"""``ServerContext``: the run facts the front end reports (filled by the service)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dersim_trio.setup.config import ShardOptions, SimConfig


@dataclass(slots=True)
class ServerContext:
    """Run facts the front end reports (filled by the service)."""

    device_type: str
    device_count: int
    device_profile_name: str | None
    periodic_time_s: float
    time_scale: float
    wall_clock: bool
    timezone: str
    seed: int
    started_at: str
    started_trio_time: float
    fast_path: bool = False
    shard: ShardOptions | None = None
    """The fleet slice of a shard (None: the whole ``-N``)."""
    request_shutdown: Callable[[], None] | None = None
    """Begins the service's graceful shutdown (``POST /api/dersim/stop``); None under plain
    hypercorn, which owns the process."""

    @classmethod
    def for_run(
        cls,
        config: SimConfig,
        started_wall: datetime,
        started_trio_time: float,
        *,
        fast_path: bool = False,
        request_shutdown: Callable[[], None] | None = None,
    ) -> ServerContext:
        """The run facts of a configuration started at ``started_wall`` (timezone-aware)."""
        return cls(
            device_type=config.device_type,
            device_count=config.device_count,
            device_profile_name=config.device_profile_name,
            periodic_time_s=config.periodic_time_s,
            time_scale=config.time_scale,
            wall_clock=config.wall_clock,
            timezone=config.timezone,
            seed=config.seed,
            started_at=started_wall.astimezone(UTC).isoformat(timespec="seconds"),
            started_trio_time=started_trio_time,
            fast_path=fast_path,
            shard=config.shard,
            request_shutdown=request_shutdown,
        )
