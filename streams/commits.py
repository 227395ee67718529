"""The offsets a worker commits, made safe for concurrent actors.

faust-streaming 0.15.3 can commit past a message still being processed (its issue #606): its
gap check lets one missing offset through (`min(acked) - committed > 1`, where the committed
offset is already the next one to read), and it checks nothing while a partition's committed
offset is 0 or none. With several tracks analysed at once, a slow track followed by a fast one
had its offset committed while still in flight, and was lost if the worker died then. Here no
offset is committed past a message of the current generation still being processed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from faust.transport.drivers.aiokafka import Consumer as AiokafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AiokafkaTransport
from faust.types import TP


def committable_run(acked: list[int], committed: int | None, in_flight: Iterable[int]) -> int:
    """How many offsets at the head of `acked` (sorted) may be committed: the consecutive run
    that starts there, or none when a message before it is not done (not acked since the last
    commit, or still being processed)."""
    if not acked:
        return 0
    first = acked[0]
    # Faust's own tolerance of one missing offset after the committed one is kept: after a
    # rebalance it leaves some delivered messages unacked for good, and a stricter check stops
    # every later commit of that partition (the fault test's killed worker showed it)
    if committed is not None and first > committed + 1:
        return 0
    if any(offset < first for offset in in_flight):
        return 0
    run = 1
    while run < len(acked) and acked[run] == first + run:
        run += 1
    return run


class SafeCommitConsumer(AiokafkaConsumer):
    def _new_offset(self, tp: TP) -> int | None:
        if self._gap[tp]:  # offsets missing from the log itself (compaction): Faust's bookkeeping
            return super()._new_offset(tp)
        acked: list[int] = self._acked[tp]
        acked.sort()
        # messages tracked before the last rebalance linger unacked (their actors were
        # restarted and the events delivered again): only this generation's are in flight
        generation = self.app.consumer_generation_id
        in_flight = [
            m.offset for m in list(self._unacked_messages) if m.tp == tp and m.generation_id == generation
        ]
        run = committable_run(acked, self._committed_offset[tp], in_flight)
        if run == 0:
            return None
        first = acked[0]
        acked[:run] = []
        self._acked_index[tp].difference_update(range(first, first + run))
        return first + run


class SafeCommitTransport(AiokafkaTransport):
    Consumer: ClassVar[Any] = SafeCommitConsumer
