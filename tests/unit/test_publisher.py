"""The publisher says when Kafka did not take an event, instead of losing it silently."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.future import Future

from streams.publisher import Publisher, PublishError


class Producer:
    """kafka-python's producer, reduced to what the publisher uses: each send's future fails or not."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        future = Future()
        if self.fail:
            future.failure(KafkaError("NotLeaderForPartitionError"))
        else:
            future.success(None)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


def publisher_over(producer: object) -> Publisher:
    publisher = Publisher.__new__(Publisher)  # no connection: the producer is the stand-in
    publisher._producer = producer  # type: ignore[assignment]
    publisher._unconfirmed = []
    return publisher


def test_an_event_kafka_refused_is_an_error_at_flush() -> None:
    publisher = publisher_over(Producer(fail=True))
    publisher.publish_raw("t", "trk-1", b"{}")
    with pytest.raises(PublishError, match="1 of 1 event"):
        publisher.flush()


def test_acknowledged_events_flush_quietly() -> None:
    publisher = publisher_over(Producer(fail=False))
    publisher.publish_raw("t", "trk-1", b"{}")
    publisher.flush()


def test_a_send_that_cannot_reach_kafka_is_an_error() -> None:
    class Unreachable(Producer):
        def send(self, topic: str, key: bytes, value: bytes) -> Future:
            raise KafkaTimeoutError("Failed to update metadata after 60.0 secs.")

    with pytest.raises(PublishError, match="could not publish to t"):
        publisher_over(Unreachable(fail=False)).publish_raw("t", "trk-1", b"{}")
