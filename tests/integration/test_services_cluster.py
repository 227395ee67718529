"""`clearance services up --kafka-brokers 3 --es-nodes 3`: a real three-broker KRaft cluster and a
real three-node Elasticsearch cluster, on ports and in a folder of their own (the single-node
services the other tests use are left alone). Topics get three replicas with two in sync, indices
one replica, and each cluster keeps taking and serving data after `kill -9` of one node."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from cli import services
from index.client import connect
from index.stores import Stores
from model.settings import Settings
from streams.admin import ensure_topics
from streams.publisher import Publisher
from streams.topics import Topics
from tests.integration.cluster import NODES, clearance, eventually, kill_node, running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), "cluster") as running:
        yield running.settings


def test_every_node_reports_the_whole_cluster(cluster: Settings) -> None:
    statuses = services.status(cluster)
    assert [s.name for s in statuses] == [
        "kafka",
        "kafka-2",
        "kafka-3",
        "elasticsearch",
        "elasticsearch-2",
        "elasticsearch-3",
    ]
    assert all(s.running for s in statuses)
    admin = KafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap)
    try:
        assert sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"]) == [1, 2, 3]
    finally:
        admin.close()


def test_up_again_reports_the_running_nodes_and_a_single_node_request_is_refused(cluster: Settings) -> None:
    env = {
        **os.environ,
        "CLEARANCE_SERVICES_DIR": str(cluster.services_dir),
        "CLEARANCE_SERVICES_CACHE_DIR": str(cluster.services_cache_dir),
        "CLEARANCE_KAFKA_PORT": str(cluster.kafka_port),
        "CLEARANCE_KAFKA_CONTROLLER_PORT": str(cluster.kafka_controller_port),
        "CLEARANCE_ES_PORT": str(cluster.es_port),
        "CLEARANCE_ES_TRANSPORT_PORT": str(cluster.es_transport_port),
    }
    again = clearance({**env, "CLEARANCE_KAFKA_BROKERS": "3", "CLEARANCE_ES_NODES": "3"}, "services", "up")
    assert again.returncode == 0 and again.stdout.count("already running") == 2 * NODES, again.stdout
    single = clearance(env, "services", "up")
    assert single.returncode == 1
    assert "services down" in single.stdout and "kafka-2" in single.stdout, single.stdout


def test_topics_get_three_replicas_and_two_must_be_in_sync(cluster: Settings) -> None:
    assert (cluster.topic_replication_factor, cluster.min_insync_replicas) == (3, 2)
    ensure_topics(cluster)
    names = Topics(cluster.topic_prefix).all()
    admin = KafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap)
    try:
        # ensure_topics saw every leader from the broker it asked; another broker's metadata may
        # lag a moment behind (a topic with no partitions yet), so wait until the one asked agrees
        def described_in_full() -> list[dict[str, Any]] | None:
            topics: list[dict[str, Any]] = admin.describe_topics(names)
            complete = all(len(t["partitions"]) == cluster.topic_partitions for t in topics)
            return topics if complete else None

        for topic in eventually(described_in_full, timeout_s=30):
            assert all(len(p["replica_nodes"]) == 3 for p in topic["partitions"]), topic

        def min_insync(name: str) -> str | None:
            described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
            entry = described["topic"][name].get("min.insync.replicas")
            return None if entry is None else str(entry["value"])

        assert all(eventually(lambda name=name: min_insync(name), 20) == "2" for name in names)
    finally:
        admin.close()


def test_indices_turn_green_with_one_replica_on_three_nodes(cluster: Settings) -> None:
    assert cluster.es_replicas == 1
    stores = Stores.open(cluster)
    try:
        stores.ensure_indices(cluster.es_replicas)
        health = stores.es.cluster.health(wait_for_status="green", timeout="60s")
        assert health["status"] == "green" and health["number_of_nodes"] == 3
        settings = stores.es.indices.get_settings(index=stores.indices.decisions)
        assert settings[stores.indices.decisions]["settings"]["index"]["number_of_replicas"] == "1"
    finally:
        stores.close()


def test_kafka_takes_and_serves_events_with_the_leader_of_their_partition_killed(cluster: Settings) -> None:
    ensure_topics(cluster)
    topic = Topics(cluster.topic_prefix).submitted
    with Publisher(cluster) as publisher:
        publisher.publish_raw(topic, "one-track", b"written by three")
        publisher.flush()
    partition = partition_holding(cluster, topic, b"written by three")
    leader = leader_of(cluster, topic, partition)
    kill_node(cluster, services.node_service("kafka", leader - 1))

    # the same key, so the same partition: it must elect a new leader, and with acks=all the two
    # replicas left in sync are enough to take the event
    with Publisher(cluster) as publisher:
        publisher.publish_raw(topic, "one-track", b"written by two")
        publisher.flush()
    assert partition_holding(cluster, topic, b"written by two") == partition
    assert eventually(lambda: leader_of(cluster, topic, partition) != leader, 30)
    found = read_values(cluster, topic, {b"written by three", b"written by two"})
    assert found == {b"written by three", b"written by two"}


def test_elasticsearch_answers_searches_with_a_node_killed(cluster: Settings) -> None:
    stores = Stores.open(cluster)
    index = f"{cluster.index_prefix}probe"
    try:
        stores.es.indices.create(index=index, settings={"number_of_shards": 1, "number_of_replicas": 1})
        stores.es.index(index=index, id="1", document={"note": "kept twice"}, refresh="wait_for")
        stores.es.cluster.health(index=index, wait_for_status="green", timeout="60s")
        primary = next(
            s["node"] for s in stores.es.cat.shards(index=index, format="json") if s["prirep"] == "p"
        )
    finally:
        stores.close()
    kill_node(cluster, services.node_service("elasticsearch", int(str(primary).rsplit("-", 1)[1]) - 1))

    es = connect(cluster)  # every node's address, the dead one among them
    try:
        hits = es.search(index=index, query={"match": {"note": "kept"}})["hits"]
        assert hits["total"]["value"] == 1
    finally:
        es.close()


def partition_holding(settings: Settings, topic: str, value: bytes) -> int:
    consumer = assigned_consumer(settings, topic)
    try:
        return int(
            eventually(lambda: next((m.partition for m in polled(consumer) if m.value == value), None))
        )
    finally:
        consumer.close()


def read_values(settings: Settings, topic: str, wanted: set[bytes]) -> set[bytes]:
    consumer = assigned_consumer(settings, topic)
    seen: set[bytes] = set()
    try:

        def all_seen() -> bool:
            seen.update(m.value for m in polled(consumer) if m.value in wanted)
            return seen == wanted

        eventually(all_seen, 60)
        return seen
    finally:
        consumer.close()


def assigned_consumer(settings: Settings, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    consumer.assign([TopicPartition(topic, p) for p in range(settings.topic_partitions)])
    consumer.seek_to_beginning()
    return consumer


def polled(consumer: KafkaConsumer) -> list[Any]:
    return [m for batch in consumer.poll(timeout_ms=1000).values() for m in batch]


def leader_of(settings: Settings, topic: str, partition: int) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
        return int(next(p["leader_id"] for p in described["partitions"] if p["partition_index"] == partition))
    finally:
        admin.close()
