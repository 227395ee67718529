"""A worker commits an offset only up to the first message that is not done, so a track still
being analysed is never committed past (and lost if the worker dies)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import faust
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from model.settings import Settings
from streams.app import create_app
from streams.commits import SafeCommitConsumer, committable_run


def test_a_slow_message_in_flight_holds_back_the_faster_ones_after_it() -> None:
    # committed 4 (the next to read), 4 still being analysed, 5 and 6 done: Faust 0.15.3 would
    # commit 7 here
    assert committable_run([5, 6], committed=4, in_flight=[4]) == 0


def test_messages_not_acked_since_the_last_commit_hold_back_the_rest() -> None:
    assert committable_run([6, 7], committed=4, in_flight=[]) == 0
    # one missing offset is let through, as Faust does: a rebalance leaves some delivered
    # messages unacked for good, and a stricter check would stop the partition's commits
    assert committable_run([5, 6], committed=4, in_flight=[]) == 2


def test_the_consecutive_run_from_the_committed_offset_is_committed() -> None:
    assert committable_run([4, 5, 6, 9], committed=4, in_flight=[7]) == 3
    assert committable_run([0, 1, 2], committed=None, in_flight=[5]) == 3


def test_a_partition_never_committed_still_waits_for_a_message_in_flight_before_the_run() -> None:
    assert committable_run([1, 2], committed=None, in_flight=[0]) == 0
    assert committable_run([], committed=None, in_flight=[]) == 0


def test_the_worker_app_uses_the_safe_consumer(tmp_path: Path) -> None:
    app = create_app(Settings(store_dir=tmp_path / "store"))
    assert app.transport.Consumer is SafeCommitConsumer


# ----------------------------------------------------------- across a rebalance (issue 19)

TP0 = TP("clearance.tracks.analyzed", 0)


def _message(offset: int, generation: int = 1) -> ConsumerMessage:
    return ConsumerMessage(
        TP0.topic, 0, offset, 0.0, 0, [], b"k", b"v", None, 1, 1, TP0, generation_id=generation
    )


def _consumer(tmp_path: Path) -> tuple[faust.App, SafeCommitConsumer]:
    app = create_app(Settings(store_dir=tmp_path / "store"))
    app.consumer_generation_id = 1
    app.topics.acking_topics.add(TP0.topic)
    consumer = app.consumer
    assert isinstance(consumer, SafeCommitConsumer)
    return app, consumer


def test_a_message_faust_acked_without_recording_it_does_not_hold_commits_back(tmp_path: Path) -> None:
    # Faust's ack marks a message acked but leaves it among the unacked messages when its offset
    # is already recorded (the same offset delivered twice in one generation) or below the
    # committed one. It is done, not in flight: it must not stop the later commits.
    _, consumer = _consumer(tmp_path)
    consumer._committed_offset[TP0] = 5
    first, again, after = _message(5), _message(5), _message(6)
    for message in (first, again, after):
        consumer._unacked_messages.add(message)
    assert consumer.ack(first) is True
    assert consumer.ack(again) is False  # already recorded: Faust keeps it in _unacked_messages
    assert again.acked and again in consumer._unacked_messages
    assert consumer._new_offset(TP0) == 6
    consumer._committed_offset[TP0] = 6
    assert consumer.ack(after) is True
    assert consumer._new_offset(TP0) == 7


async def test_a_revocation_does_not_wait_for_a_message_one_of_its_two_agents_will_never_get(
    tmp_path: Path,
) -> None:
    # tracks.analyzed is read by two agents (decide and index), each with its own queue. When a
    # rebalance revokes the partitions, Faust clears the queues: a message the decide agent has
    # handled but the index agent had not yet taken keeps one reference for good, and Faust's
    # revocation (wait_empty) waited for its ack while the decide agent still held the event,
    # that is until its next event, which never comes while the flow is stopped: the worker never
    # finished the rebalance and none of its offsets were committed again.
    app, consumer = _consumer(tmp_path)
    committed: list[dict[TP, int]] = []

    async def commit(offsets: Mapping[TP, int]) -> bool:
        committed.append(dict(offsets))
        return True

    async def flush() -> None:
        return None

    consumer._commit = commit  # type: ignore[method-assign]
    consumer.assignment = lambda: {TP0}  # type: ignore[method-assign]
    app.producer.flush = flush  # type: ignore[method-assign]
    decide_topic = app.topic(TP0.topic, value_type=bytes, key_type=bytes)
    index_topic = app.topic(TP0.topic, value_type=bytes, key_type=bytes)
    decided: list[int] = []
    indexed: list[int] = []
    index_busy = asyncio.Event()

    async def decide() -> None:
        async for event in app.stream(decide_topic).events():
            decided.append(event.message.offset)

    async def index() -> None:
        async for event in app.stream(index_topic).events():
            indexed.append(event.message.offset)
            await index_busy.wait()  # writing a batch to Elasticsearch

    agents = [asyncio.ensure_future(decide()), asyncio.ensure_future(index())]
    revoking: asyncio.Future[None] | None = None
    try:
        await asyncio.sleep(0.05)  # the streams subscribe their channels
        await app.topics._update_indices()
        await app.topics.on_partitions_assigned({TP0})
        app.flow_control.resume()
        consumer.resume_flow()
        for offset in range(5):
            await app.topics.on_message(_message(offset))
        await asyncio.sleep(0.1)
        assert (decided, indexed) == ([0, 1, 2, 3, 4], [0])

        revoking = asyncio.ensure_future(consumer.on_partitions_revoked({TP0}))
        await asyncio.sleep(0.1)
        index_busy.set()
        done, _ = await asyncio.wait([revoking], timeout=4.0)
        assert revoking in done, "the revocation still waits for a message no agent will ack"
        # nothing past the first message the index agent never got is committed: it is read again
        assert committed and max(c[TP0] for c in committed) == 1
    finally:
        consumer._stopped.set()  # ends Faust's wait_empty loop if it still runs
        for task in agents:
            task.cancel()
        if revoking is not None:
            await asyncio.wait([revoking], timeout=5.0)
