"""Publishes events with kafka-python (used by ingestion: `clearance submit`, the API)."""

from __future__ import annotations

from types import TracebackType

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from model.events import Event
from model.settings import Settings


class PublishError(Exception):
    """Kafka did not take an event (unreachable, or it refused it); the text says why."""


# A leader election (a new topic, a broker restart) takes seconds; a send keeps retrying for
# this long before it fails, which is less than a flush waits so the failure is reported.
_DELIVERY_TIMEOUT_MS = 25_000
_FLUSH_TIMEOUT_S = 30.0


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="clearance-publisher",
            acks="all",
            # retries after a leader change cannot write an event twice
            enable_idempotence=True,
            linger_ms=5,
            retry_backoff_ms=200,
            request_timeout_ms=10_000,
            delivery_timeout_ms=_DELIVERY_TIMEOUT_MS,
        )
        self._unconfirmed: list[FutureRecordMetadata] = []

    def publish(self, topic: str, event: Event) -> None:
        self.publish_raw(topic, event.track_id, event.to_bytes())

    def publish_raw(self, topic: str, key: str, value: bytes) -> None:
        try:
            self._unconfirmed.append(self._producer.send(topic, key=key.encode(), value=value))
        except KafkaError as exc:
            raise PublishError(f"could not publish to {topic}: {exc}") from exc

    def flush(self, timeout_s: float = _FLUSH_TIMEOUT_S) -> None:
        """Wait until Kafka acknowledged everything published since the last flush; raises
        PublishError if it did not take all of it."""
        sent, self._unconfirmed = self._unconfirmed, []
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise PublishError(f"Kafka did not acknowledge the events in {timeout_s:.0f} s: {exc}") from exc
        failed = [f for f in sent if not f.is_done or f.failed()]
        if failed:
            raise PublishError(f"{len(failed)} of {len(sent)} event(s) not published: {failed[0].exception}")

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()
        self._unconfirmed = []

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
