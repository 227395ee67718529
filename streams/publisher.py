"""Publishes events with kafka-python (used by ingestion: `clearance submit`, the API)."""

from __future__ import annotations

from types import TracebackType

from kafka import KafkaProducer

from model.events import Event
from model.settings import Settings


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="clearance-publisher",
            acks="all",
            linger_ms=5,
            retries=5,
        )

    def publish(self, topic: str, event: Event) -> None:
        self.publish_raw(topic, event.track_id, event.to_bytes())

    def publish_raw(self, topic: str, key: str, value: bytes) -> None:
        self._producer.send(topic, key=key.encode(), value=value)

    def flush(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
