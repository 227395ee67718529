"""A worker commits an offset only up to the first message that is not done, so a track still
being analysed is never committed past (and lost if the worker dies)."""

from __future__ import annotations

from pathlib import Path

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
