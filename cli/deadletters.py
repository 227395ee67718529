"""Reads the dead-letter topic (kafka-python)."""

from __future__ import annotations

from kafka import KafkaConsumer

from model.events import DeadLetter
from model.settings import Settings
from streams.topics import Topics


def read_dead_letters(settings: Settings, timeout_s: float = 3.0) -> list[DeadLetter]:
    """Every dead letter currently on the topic, oldest first per partition."""
    consumer = KafkaConsumer(
        Topics(settings.topic_prefix).deadletter,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        return [DeadLetter.model_validate_json(message.value) for message in consumer]
    finally:
        consumer.close()
