"""Creates the project's topics (kafka-python admin). Safe to run any number of times."""

from __future__ import annotations

import contextlib

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

from model.settings import Settings
from streams.topics import Topics

# Dead letters are kept long enough for someone to look at them.
_DEADLETTER_RETENTION_MS = str(30 * 24 * 3600 * 1000)


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics and grow any with fewer partitions than configured.
    Returns the names of the topics it created."""
    topics = Topics(settings.topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="clearance-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=1,
                topic_configs={"retention.ms": _DEADLETTER_RETENTION_MS} if name == topics.deadletter else {},
            )
            for name in topics.all()
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics(wanted)
        _grow_partitions(admin, [t for t in topics.all() if t in existing], settings.topic_partitions)
        return [t.name for t in wanted]
    finally:
        admin.close()


def _grow_partitions(admin: KafkaAdminClient, names: list[str], partitions: int) -> None:
    if not names:
        return
    described = admin.describe_topics(names)
    grow = {
        d["name"]: NewPartitions(total_count=partitions)
        for d in described
        if len(d.get("partitions", [])) < partitions
    }
    if grow:
        admin.create_partitions(grow)
