"""The offsets a worker commits, made safe for concurrent actors.

faust-streaming 0.15.3 can commit past a message still being processed (its issue #606): its
gap check lets one missing offset through (`min(acked) - committed > 1`, where the committed
offset is already the next one to read), and it checks nothing while a partition's committed
offset is 0 or none. With several tracks analysed at once, a slow track followed by a fast one
had its offset committed while still in flight, and was lost if the worker died then. Here an
offset is committed only up to the first message that is not done, and a partition without a
committed offset starts at its log's first offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from faust.transport.drivers.aiokafka import Consumer as AiokafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AiokafkaTransport
from faust.types import TP

from streams.logs import get_logger

log = get_logger("clearance.commits")


def committable_run(acked: list[int], committed: int | None, in_flight: Iterable[int]) -> int:
    """How many offsets at the head of `acked` (sorted) may be committed: the consecutive run
    that starts there, or none when a message before it is not done (not acked since the last
    commit, or still being processed)."""
    if not acked:
        return 0
    first = acked[0]
    if committed is not None and first > committed:
        return 0
    if any(offset < first for offset in in_flight):
        return 0
    run = 1
    while run < len(acked) and acked[run] == first + run:
        run += 1
    return run


class SafeCommitConsumer(AiokafkaConsumer):
    async def perform_seek(self) -> None:
        """After Faust seeks to the committed offsets: a partition never committed (or
        committed at 0, which Faust also keeps as none) starts at the log's first offset, so
        nothing before the first message acked there can be committed past (messages fetched
        before a rebalance and dropped after it had been)."""
        await super().perform_seek()
        unset = [tp for tp in self.assignment() if self._committed_offset[tp] is None]
        if not unset:
            return
        try:
            earliest = await self.earliest_offsets(*unset)
        except Exception as exc:  # a broker away mid-rebalance: keep Faust's own behaviour
            log.warning("log_start_unknown", partitions=len(unset), error=f"{type(exc).__name__}: {exc}")
            return
        for tp, offset in earliest.items():
            if self._committed_offset[tp] is None and offset is not None and offset >= 0:
                self._committed_offset[tp] = offset

    def _new_offset(self, tp: TP) -> int | None:
        if self._gap[tp]:  # offsets missing from the log itself (compaction): Faust's bookkeeping
            return super()._new_offset(tp)
        acked: list[int] = self._acked[tp]
        acked.sort()
        in_flight = [m.offset for m in list(self._unacked_messages) if m.tp == tp]
        run = committable_run(acked, self._committed_offset[tp], in_flight)
        if run == 0:
            return None
        first = acked[0]
        acked[:run] = []
        self._acked_index[tp].difference_update(range(first, first + run))
        return first + run


class SafeCommitTransport(AiokafkaTransport):
    Consumer: ClassVar[Any] = SafeCommitConsumer
