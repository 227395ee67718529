"""Creates the project's topics (kafka-python admin). Safe to run any number of times."""

from __future__ import annotations

import contextlib
import time

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from model.settings import Settings
from streams.topics import Topics

# Dead letters are kept long enough for someone to look at them.
_DEADLETTER_RETENTION_MS = str(30 * 24 * 3600 * 1000)
# How long a created topic may take to elect its partition leaders before we give up waiting.
_LEADER_WAIT_S = 30.0


class TopicsNotReady(RuntimeError):
    """Topics were created but some partition still has no leader; publishing would fail."""


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
        _wait_for_leaders(admin, topics.all(), settings.topic_partitions)
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


def _wait_for_leaders(admin: KafkaAdminClient, names: list[str], partitions: int) -> None:
    """Return once every partition of every topic has a leader: a topic that was just created
    refuses writes (NotLeaderForPartition) until then."""
    deadline = time.monotonic() + _LEADER_WAIT_S
    waiting = names
    while True:
        try:
            waiting = [d["name"] for d in admin.describe_topics(names) if not _all_led(d, partitions)]
        except KafkaError:
            waiting = names
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TopicsNotReady(f"no leader after {_LEADER_WAIT_S:.0f} s for: {', '.join(sorted(waiting))}")
        time.sleep(0.2)


def _all_led(described: dict[str, object], partitions: int) -> bool:
    found = described.get("partitions")
    if described.get("error_code", 0) != 0 or not isinstance(found, list) or len(found) < partitions:
        return False
    return all(_led(p) for p in found)


def _led(partition: object) -> bool:
    if not isinstance(partition, dict):
        return False
    return partition.get("error_code", 0) == 0 and int(partition.get("leader_id", -1)) >= 0
