"""The hub: one-slot drop-oldest buffers, priming, counters and clean-up (no sockets, no app)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from dersim_trio.service.hub import Hub, LatestSlot, TickPayload


def payload(tick: int, devices: int = 1) -> TickPayload:
    data = tuple(f'{{"tick":{tick},"device_index":{i}}}'.encode() for i in range(devices))
    return TickPayload(tick, data)


def publish(hub: Hub, tick: int) -> None:
    hub.publish(
        tick, [f'{{"tick":{tick},"device_index":{i}}}'.encode() for i in range(hub.device_count)]
    )


# --- LatestSlot ---------------------------------------------------------------------------


async def test_slot_keeps_only_the_newest_item_and_counts_the_replaced_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    slot = LatestSlot()
    assert slot.put_nowait(payload(1)) is False
    assert slot.put_nowait(payload(2)) is True
    assert slot.put_nowait(payload(3)) is True
    assert slot.dropped == 2
    with trio.fail_after(1):
        assert (await slot.receive()).tick == 3
    # empty now: a receive waits until the next put
    with trio.move_on_after(1) as scope:
        await slot.receive()
    assert scope.cancelled_caught
    assert slot.dropped == 2


async def test_slot_receive_wakes_on_put(nursery: trio.Nursery) -> None:
    slot = LatestSlot()
    got: list[int] = []

    async def reader() -> None:
        got.append((await slot.receive()).tick)

    nursery.start_soon(reader)
    await trio.testing.wait_all_tasks_blocked()
    assert got == []
    slot.put_nowait(payload(7))
    await trio.testing.wait_all_tasks_blocked()
    assert got == [7]
    assert slot.dropped == 0


async def test_closed_slot_delivers_the_remaining_item_then_end_of_channel() -> None:
    slot = LatestSlot()
    slot.put_nowait(payload(5))
    slot.close()
    with trio.fail_after(1):
        assert (await slot.receive()).tick == 5
        with pytest.raises(trio.EndOfChannel):
            await slot.receive()
        with pytest.raises(trio.EndOfChannel):
            await slot.receive()


async def test_close_wakes_a_blocked_receiver_with_end_of_channel(nursery: trio.Nursery) -> None:
    slot = LatestSlot()
    outcome: list[str] = []

    async def reader() -> None:
        try:
            await slot.receive()
        except trio.EndOfChannel:
            outcome.append("eof")

    nursery.start_soon(reader)
    await trio.testing.wait_all_tasks_blocked()
    slot.close()
    await trio.testing.wait_all_tasks_blocked()
    assert outcome == ["eof"]


async def test_payload_for_position_selects_one_message_or_all() -> None:
    item = payload(4, devices=3)
    assert item.for_position(None) == item.text
    assert item.for_position(2) == (item.text[2],)


async def test_a_shards_subscriber_to_one_device_gets_that_devices_position() -> None:
    """A shard's devices 3..5: device 5 is the third payload of a tick."""
    hub = Hub(3, first_device=3)
    with hub.subscribe(5) as sub:
        assert sub.position == 2
    with hub.subscribe() as sub:
        assert sub.position is None


class CountingTick:
    """A tick's snapshots that encode on demand (as ``api.wire.TickSnapshots``), counting what
    was encoded."""

    def __init__(self, tick: int, devices: int) -> None:
        self.tick = tick
        self.devices = devices
        self.encoded_one: list[int] = []
        self.encoded_all = 0

    def json_of(self, i: int) -> bytes:
        return f'{{"tick":{self.tick},"device_index":{i}}}'.encode()

    def __len__(self) -> int:
        return self.devices

    def payload(self, position: int) -> bytes:
        self.encoded_one.append(position)
        return self.json_of(position)

    @property
    def payloads(self) -> tuple[bytes, ...]:
        self.encoded_all += 1
        return tuple(self.json_of(i) for i in range(self.devices))


async def test_a_tick_published_on_demand_is_encoded_only_when_read_and_then_once() -> None:
    hub = Hub(3)
    source = CountingTick(7, 3)
    item = hub.publish_on_demand(7, source)
    assert hub.last is item
    assert (item.encoded, source.encoded_all, source.encoded_one) == (False, 0, [])
    # one device asked for: that device alone is encoded
    assert item.payload(2) == b'{"tick":7,"device_index":2}'
    assert item.for_position(1) == ('{"tick":7,"device_index":1}',)
    assert (item.encoded, source.encoded_all, source.encoded_one) == (False, 0, [2, 1])
    # a subscriber reading every device: the whole tick, once for every later reader
    with hub.subscribe() as sub:
        with trio.fail_after(1):
            got = await sub.slot.receive()
        assert got.for_position(None) == tuple(source.json_of(i).decode() for i in range(3))
    assert item.data == tuple(source.json_of(i) for i in range(3))
    assert item.payload(0) == source.json_of(0)
    assert (item.encoded, source.encoded_all, source.encoded_one) == (True, 1, [2, 1])


def test_publish_on_demand_refuses_a_wrong_device_count() -> None:
    hub = Hub(2)
    with pytest.raises(ValueError, match="expected 2 payloads, got 3"):
        hub.publish_on_demand(0, CountingTick(0, 3))
    with pytest.raises(LookupError):
        _ = hub.last


# --- Hub ----------------------------------------------------------------------------------


def test_hub_refuses_zero_devices_and_wrong_payload_count() -> None:
    with pytest.raises(ValueError, match="device_count"):
        Hub(0)
    hub = Hub(2)
    with pytest.raises(ValueError, match="expected 2 payloads, got 1"):
        hub.publish(0, [b"{}"])


def test_last_raises_before_the_first_publish_and_then_caches_it() -> None:
    hub = Hub(2)
    with pytest.raises(LookupError):
        _ = hub.last
    publish(hub, 0)
    publish(hub, 1)
    assert hub.last.tick == 1
    assert hub.last.data == (b'{"tick":1,"device_index":0}', b'{"tick":1,"device_index":1}')
    assert hub.last.text == tuple(d.decode() for d in hub.last.data)


async def test_subscribe_primes_with_the_cached_tick() -> None:
    hub = Hub(2)
    publish(hub, 41)
    with hub.subscribe() as sub:
        with trio.fail_after(1):
            assert (await sub.slot.receive()).tick == 41


async def test_subscribe_before_any_tick_waits_for_the_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub(1)
    with hub.subscribe() as sub:
        with trio.move_on_after(1) as scope:
            await sub.slot.receive()
        assert scope.cancelled_caught
        publish(hub, 0)
        with trio.fail_after(1):
            assert (await sub.slot.receive()).tick == 0


def test_subscribe_refuses_a_device_out_of_range() -> None:
    hub = Hub(3)
    for bad in (-1, 3):
        with pytest.raises(ValueError, match=r"\[0, 3\)"), hub.subscribe(bad):
            pass
    assert hub.statistics().subscribers == 0


async def test_statistics_count_subscribers_and_dropped_messages_per_device() -> None:
    """An unfiltered subscriber of N devices drops N messages per unread tick; a filtered one 1."""
    hub = Hub(3)
    publish(hub, 0)
    with hub.subscribe() as everything, hub.subscribe(1) as one:
        assert hub.statistics().subscribers == 2
        publish(hub, 1)  # replaces the primed tick 0 in both slots
        publish(hub, 2)  # replaces tick 1
        stats = hub.statistics()
        assert everything.slot.dropped == 2
        assert one.slot.dropped == 2
        assert stats.messages_dropped == 2 * 3 + 2 * 1
        assert stats.ticks_published == 3
        with trio.fail_after(1):
            assert (await everything.slot.receive()).tick == 2
    # retired subscribers' drops stay counted
    stats = hub.statistics()
    assert stats.subscribers == 0
    assert stats.messages_dropped == 8


def test_count_sent_accumulates_in_statistics() -> None:
    hub = Hub(2)
    hub.count_sent(2)
    hub.count_sent(1)
    assert hub.statistics().messages_sent == 3


def test_record_tick_timing_keeps_last_duration_and_worst_lateness() -> None:
    hub = Hub(1)
    hub.record_tick_timing(0.002, 0.010)
    hub.record_tick_timing(0.001, 0.003)
    stats = hub.statistics()
    assert stats.last_tick_duration_ms == pytest.approx(1.0)
    assert stats.max_tick_lateness_ms == pytest.approx(10.0)


def test_tick_duration_percentiles_are_nearest_rank_over_the_window() -> None:
    hub = Hub(1)
    for ms in (5, 1, 4, 2, 3):
        hub.record_tick_timing(ms / 1000.0, 0.0)
    stats = hub.statistics()
    assert stats.tick_duration_p50_ms == pytest.approx(3.0)
    assert stats.tick_duration_p99_ms == pytest.approx(5.0)


def test_statistics_is_an_immutable_record() -> None:
    stats = Hub(1).statistics()
    with pytest.raises(AttributeError):
        stats.subscribers = 5  # type: ignore[misc]


def test_subscriber_is_removed_on_exit_even_when_the_body_raises() -> None:
    hub = Hub(2)
    publish(hub, 0)
    seen_inside: list[int] = []

    def body() -> None:
        with hub.subscribe():
            seen_inside.append(hub.statistics().subscribers)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        body()
    assert seen_inside == [1]
    assert hub.statistics().subscribers == 0
    # a later publish does not reach the retired slot (no error, nothing counted)
    publish(hub, 1)
    assert hub.statistics().messages_dropped == 0


async def test_subscriber_is_removed_when_its_task_is_cancelled(nursery: trio.Nursery) -> None:
    hub = Hub(1)
    publish(hub, 0)
    cancel = trio.CancelScope()

    async def subscriber() -> None:
        with cancel, hub.subscribe() as sub:
            while True:
                await sub.slot.receive()

    nursery.start_soon(subscriber)
    await trio.testing.wait_all_tasks_blocked()
    assert hub.statistics().subscribers == 1
    cancel.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert hub.statistics().subscribers == 0


async def test_close_all_ends_every_subscription_after_its_pending_tick(
    nursery: trio.Nursery,
) -> None:
    hub = Hub(2)
    publish(hub, 0)
    seen: dict[str, list[int | str]] = {"idle": [], "pending": []}

    async def reader(name: str, device: int | None, read_first: bool) -> None:
        with hub.subscribe(device) as sub:
            if read_first:
                await sub.slot.receive()  # take the primed tick, then block
                seen[name].append("drained")
            try:
                while True:
                    seen[name].append((await sub.slot.receive()).tick)
            except trio.EndOfChannel:
                seen[name].append("eof")

    nursery.start_soon(reader, "idle", None, True)
    await trio.testing.wait_all_tasks_blocked()
    with hub.subscribe(1) as pending:  # never read: holds tick 0 when closed
        hub.close_all()
        assert hub.closed
        with trio.fail_after(1):
            assert (await pending.slot.receive()).tick == 0
            with pytest.raises(trio.EndOfChannel):
                await pending.slot.receive()
    await trio.testing.wait_all_tasks_blocked()
    assert seen["idle"] == ["drained", "eof"]
    assert hub.statistics().subscribers == 0


async def test_subscribing_after_close_all_ends_at_once() -> None:
    hub = Hub(1)
    publish(hub, 0)
    hub.close_all()
    with hub.subscribe() as sub, trio.fail_after(1), pytest.raises(trio.EndOfChannel):
        await sub.slot.receive()


async def test_wait_published_returns_the_next_tick(nursery: trio.Nursery) -> None:
    hub = Hub(1)
    publish(hub, 0)
    got: list[int] = []

    async def waiter() -> None:
        got.append((await hub.wait_published()).tick)
        got.append((await hub.wait_published()).tick)

    nursery.start_soon(waiter)
    await trio.testing.wait_all_tasks_blocked()
    assert got == []
    publish(hub, 1)
    await trio.testing.wait_all_tasks_blocked()
    assert got == [1]
    publish(hub, 2)
    await trio.testing.wait_all_tasks_blocked()
    assert got == [1, 2]


def test_listeners_are_called_synchronously_with_every_tick() -> None:
    hub = Hub(2)
    calls: list[int] = []
    hub.add_listener(lambda item: calls.append(item.tick))
    publish(hub, 0)
    publish(hub, 1)
    assert calls == [0, 1]
