"""Topics the admin has just created take events at once: `ensure_topics` returns only when every
partition has a leader, and the publisher rides out a leader election instead of failing in half
a second (CI once saw an upload refused with NotLeaderForPartition on a fresh topic)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kafka.admin import KafkaAdminClient

from model.settings import Settings
from streams.admin import ensure_topics
from streams.publisher import Publisher
from streams.topics import Topics

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_prefixes() -> Iterator[list[Settings]]:
    made = [Settings(topic_prefix=f"fresh-{uuid.uuid4().hex[:8]}.") for _ in range(5)]
    yield made
    admin = KafkaAdminClient(bootstrap_servers=made[0].kafka_bootstrap, client_id="clearance-test")
    try:
        existing = set(admin.list_topics())
        ours = [name for s in made for name in Topics(s.topic_prefix).all() if name in existing]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def test_every_partition_of_a_just_created_topic_has_a_leader(fresh_prefixes: list[Settings]) -> None:
    settings = fresh_prefixes[0]
    created = ensure_topics(settings)
    assert sorted(created) == sorted(Topics(settings.topic_prefix).all())
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="clearance-test")
    try:
        described = admin.describe_topics(created)
    finally:
        admin.close()
    for topic in described:
        assert len(topic["partitions"]) == settings.topic_partitions
        assert all(p["leader_id"] >= 0 for p in topic["partitions"]), topic


def test_the_first_event_on_a_just_created_topic_is_taken(fresh_prefixes: list[Settings]) -> None:
    for settings in fresh_prefixes:
        ensure_topics(settings)
        with Publisher(settings) as publisher:
            for n in range(settings.topic_partitions * 2):  # keys spread over the partitions
                publisher.publish_raw(Topics(settings.topic_prefix).submitted, f"trk-{n}", b"{}")
            publisher.flush()


def test_an_event_sent_while_its_topic_is_being_created_is_taken(fresh_prefixes: list[Settings]) -> None:
    """The API may take an upload while the worker is still creating the topics: the send waits
    for the topic and then for its leader, and the event is published, not refused."""
    settings = fresh_prefixes[1]
    topic = Topics(settings.topic_prefix).submitted
    creator = threading.Timer(1.0, ensure_topics, args=(settings,))
    creator.start()
    try:
        with Publisher(settings) as publisher:
            for n in range(settings.topic_partitions * 2):
                publisher.publish_raw(topic, f"trk-{n}", b"{}")
            publisher.flush()
    finally:
        creator.join()
