"""The offsets a worker commits, made safe for concurrent actors.

faust-streaming 0.15.3 can commit past a message still being processed (its issue #606): its
gap check lets one missing offset through (`min(acked) - committed > 1`, where the committed
offset is already the next one to read), and it checks nothing while a partition's committed
offset is 0 or none. With several tracks analysed at once, a slow track followed by a fast one
had its offset committed while still in flight, and was lost if the worker died then. Here no
offset is committed past a message of the current generation still being processed.

Across a rebalance (issue 19): Faust clears every stream's queue when partitions are revoked and
then waits (`Consumer.wait_empty`) until every message a stream took is acked. A message of a topic
two agents read (tracks.analyzed: decide and index; reviews: apply_review and index) is acked only
once both have handled it; when one had handled it and the other's copy was cleared, it kept a
reference for good, and the agent that handled it held its event until its next one, which never
comes while the flow is stopped: the revocation never ended (Faust's wait has no time limit), the
worker consumed and committed nothing more and was dropped from the group once the rebalance
timed out. `ReleasingFlowControl` settles such a message when its copy is cleared: done without
being acked, so Faust stops waiting for it and its offset is not committed (the partition's next
owner reads it again).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import faust
from faust.transport.drivers.aiokafka import Consumer as AiokafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AiokafkaTransport
from faust.types import TP
from faust.types.tuples import ConsumerMessage, ack_lock
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent


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
        # restarted and the events delivered again): only this generation's are in flight. A
        # message Faust marked acked without recording its offset (a second delivery of an offset,
        # or one below the committed offset) stays in _unacked_messages too, but is done.
        generation = self.app.consumer_generation_id
        in_flight = [
            m.offset
            for m in list(self._unacked_messages)
            if m.tp == tp and m.generation_id == generation and not m.acked
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


class ReleasingFlowControl(FlowControlEvent):
    """Faust's flow control, which also settles the messages whose queued events it clears.

    An event cleared from a stream's queue (on revocation, on resume, on shutdown) will never be
    handled by that stream, so its message will never be acked: it is marked done without being
    acked (`acked` is what Faust's ack paths, `Message.ack` and the Cython stream iterator's
    inlined one, test first, so neither records its offset later), and Faust's wait for unacked
    messages no longer waits for it. Its offset and every later one of its partition (cleared
    from the same queue) stay uncommitted. Should the other agent still be handling it, the
    revocation no longer waits for that: what it writes then, the next owner writes again under
    the same ids."""

    def clear(self) -> None:
        with ack_lock:
            for queue in list(self._queues):
                for item in list(getattr(queue, "_queue", ())):
                    message = getattr(item, "message", None)
                    if isinstance(message, ConsumerMessage):
                        message.acked = True
        super().clear()


class ClearanceApp(faust.App):
    """The Faust app with the flow control above (every stream queue is managed by it)."""

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return ReleasingFlowControl(loop=self.loop)
