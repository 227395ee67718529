"""Creates the project's topics (kafka-python admin). Safe to run any number of times."""

from __future__ import annotations

import contextlib
import time

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaError,
    TopicAlreadyExistsError,
)

from model.settings import Settings
from streams.logs import get_logger
from streams.topics import Topics

log = get_logger("clearance.admin")

# Dead letters are kept long enough for someone to look at them.
_DEADLETTER_RETENTION_MS = str(30 * 24 * 3600 * 1000)
# How long a created topic may take to elect its partition leaders before we give up waiting.
_LEADER_WAIT_S = 30.0


class TopicsNotReady(RuntimeError):
    """Topics were created but some partition still has no leader; publishing would fail."""


class TooFewBrokers(RuntimeError):
    """The cluster has fewer brokers than the replication factor asks for."""


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics and grow any with fewer partitions than configured.
    Returns the names of the topics it created."""
    topics = Topics(settings.topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="clearance-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [_new_topic(name, settings, topics) for name in topics.all() if name not in existing]
        if wanted:
            _create(admin, wanted, settings)
        kept = [t for t in topics.all() if t in existing]
        _grow_partitions(admin, kept, settings.topic_partitions)
        _warn_about_replication(admin, kept, settings.topic_replication_factor)
        _wait_for_leaders(admin, topics.all(), settings.topic_partitions)
        return [t.name for t in wanted]
    finally:
        admin.close()


def _new_topic(name: str, settings: Settings, topics: Topics) -> NewTopic:
    configs = {"min.insync.replicas": str(settings.min_insync_replicas)}
    if name == topics.deadletter:
        configs["retention.ms"] = _DEADLETTER_RETENTION_MS
    return NewTopic(
        name,
        num_partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
        topic_configs=configs,
    )


def _create(admin: KafkaAdminClient, wanted: list[NewTopic], settings: Settings) -> None:
    try:
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
            admin.create_topics(wanted)
    except InvalidReplicationFactorError as exc:
        raise TooFewBrokers(
            f"Kafka at {settings.kafka_bootstrap} has fewer brokers than the replication factor "
            f"{settings.topic_replication_factor}: start more brokers or set "
            "CLEARANCE_TOPIC_REPLICATION_FACTOR"
        ) from exc


def _warn_about_replication(admin: KafkaAdminClient, names: list[str], factor: int) -> None:
    """Kafka cannot change a topic's replication factor in place (that is a partition
    reassignment), so an existing topic with another factor is reported, not altered."""
    if not names:
        return
    for described in admin.describe_topics(names):
        found = {len(p.get("replica_nodes", [])) for p in described.get("partitions", [])}
        if found and found != {factor}:
            log.warning(
                "topic replication differs from the setting",
                topic=described["name"],
                replicas=sorted(found),
                wanted=factor,
                fix="reassign its partitions (kafka-reassign-partitions) or delete and recreate it",
            )


def _grow_partitions(admin: KafkaAdminClient, names: list[str], partitions: int) -> None:
    """Grow topics with fewer partitions than configured. A topic described with none is one
    the broker asked does not know yet (its metadata lags the controller's), not one to grow;
    one grown meanwhile by another worker is left as it is."""
    if not names:
        return
    described = admin.describe_topics(names)
    grow = {
        d["name"]: NewPartitions(total_count=partitions)
        for d in described
        if 0 < len(d.get("partitions", [])) < partitions
    }
    if grow:
        try:
            admin.create_partitions(grow)
        except InvalidPartitionsError as exc:
            log.info("topic partitions already grown", topics=sorted(grow), detail=str(exc))


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
