"""The pure parts of a local cluster: node names, the port scheme, each node's configuration,
the refusal to mix clusters of different sizes, and the settings that follow the node counts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from cli import services
from model.settings import Settings
from streams.app import faust_broker_url


def three_by_three(**overrides: object) -> Settings:
    return Settings(kafka_brokers=3, es_nodes=3, **overrides)  # type: ignore[arg-type]


def test_broker_i_takes_every_second_port_so_its_controller_port_sits_beside_it() -> None:
    nodes = services.kafka_nodes(three_by_three())
    assert [(n.service, n.node_id, n.port, n.controller_port) for n in nodes] == [
        ("kafka", 1, 9092, 9093),
        ("kafka-2", 2, 9094, 9095),
        ("kafka-3", 3, 9096, 9097),
    ]


def test_elasticsearch_node_i_takes_the_next_http_and_transport_ports() -> None:
    nodes = services.es_nodes(three_by_three())
    assert [(n.service, n.name, n.http_port, n.transport_port) for n in nodes] == [
        ("elasticsearch", "clearance-es-1", 9200, 9300),
        ("elasticsearch-2", "clearance-es-2", 9201, 9301),
        ("elasticsearch-3", "clearance-es-3", 9202, 9302),
    ]


def test_one_node_keeps_the_single_node_names_and_ports() -> None:
    settings = Settings()
    assert [(n.service, n.port, n.controller_port) for n in services.kafka_nodes(settings)] == [
        ("kafka", 9092, 9093)
    ]
    assert [(n.service, n.http_port, n.transport_port) for n in services.es_nodes(settings)] == [
        ("elasticsearch", 9200, 9300)
    ]


def test_a_single_broker_is_configured_as_before() -> None:
    props = services._kafka_properties(Settings(), Path("/d")).splitlines()
    assert "node.id=1" in props
    assert "controller.quorum.voters=1@127.0.0.1:9093" in props
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in props
    assert "offsets.topic.replication.factor=1" in props
    assert "transaction.state.log.min.isr=1" in props


def test_each_broker_of_three_votes_with_all_and_listens_on_its_own_ports() -> None:
    props = services._kafka_properties(three_by_three(), Path("/d2"), 1).splitlines()
    assert "process.roles=broker,controller" in props
    assert "node.id=2" in props
    assert "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097" in props
    assert "listeners=PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095" in props
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:9094" in props
    assert "log.dirs=/d2" in props
    assert "offsets.topic.replication.factor=3" in props
    assert "transaction.state.log.replication.factor=3" in props
    assert "transaction.state.log.min.isr=2" in props


def test_internal_topics_get_at_most_three_copies() -> None:
    props = services._kafka_properties(Settings(kafka_brokers=5), Path("/d"), 4).splitlines()
    assert "node.id=5" in props and "offsets.topic.replication.factor=3" in props
    assert "listeners=PLAINTEXT://127.0.0.1:9100,CONTROLLER://127.0.0.1:9101" in props


def test_ports_that_would_collide_are_refused_before_anything_starts() -> None:
    # broker 2 would listen on 9094, which is also broker 1's controller port
    with pytest.raises(services.ServiceError, match="port 9094") as err:
        services.port_plan(Settings(kafka_brokers=2, kafka_controller_port=9094))
    assert "CLEARANCE_KAFKA_CONTROLLER_PORT" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(services.ServiceError, match=r"port 9300 .*CLEARANCE_ES_PORT \+ 2"):
        services.port_plan(Settings(es_nodes=3, es_port=9298))


def test_the_default_plan_of_three_and_three_uses_twelve_distinct_ports() -> None:
    assert len(services.port_plan(three_by_three())) == 12


def test_a_lone_elasticsearch_node_stays_a_single_node_cluster() -> None:
    nodes = services.es_nodes(Settings())
    assert services.es_node_arguments(nodes, 0, Path("/h"), new_cluster=True) == ["/h", "9200", "9300"]


def test_elasticsearch_nodes_find_each_other_and_name_the_first_masters_only_when_new() -> None:
    nodes = services.es_nodes(three_by_three())
    seeds = "127.0.0.1:9300,127.0.0.1:9301,127.0.0.1:9302"
    assert services.es_node_arguments(nodes, 2, Path("/h"), new_cluster=True) == [
        "/h",
        "9202",
        "9302",
        "clearance-es-3",
        seeds,
        "clearance-es-1,clearance-es-2,clearance-es-3",
    ]
    assert services.es_node_arguments(nodes, 1, Path("/h"), new_cluster=False) == [
        "/h",
        "9201",
        "9301",
        "clearance-es-2",
        seeds,
    ]


def test_nodes_on_disk_are_listed_in_node_order(tmp_path: Path) -> None:
    for name in ("kafka", "kafka-10", "kafka-2", "kafka-x", "cache", "elasticsearch"):
        (tmp_path / name).mkdir()
    layout = services.Layout(tmp_path, tmp_path / "cache")
    assert services.node_services(layout, "kafka") == ["kafka", "kafka-2", "kafka-10"]
    assert services.node_services(services.Layout(tmp_path / "absent", tmp_path), "kafka") == []


def _pretend_running(layout: services.Layout, service: str) -> None:
    layout.home(service).mkdir(parents=True, exist_ok=True)
    layout.pidfile(service).write_text(str(os.getpid()))  # a live pid


def test_a_running_single_node_is_not_joined_to_a_three_node_request(tmp_path: Path) -> None:
    settings = three_by_three(services_dir=tmp_path)
    layout = services.Layout.of(settings)
    _pretend_running(layout, "kafka")  # started before shapes were recorded: one node
    with pytest.raises(services.ServiceError, match="1-node cluster") as err:
        services.start_kafka(settings, layout)
    assert "clearance services down" in str(err.value) and "\n" not in str(err.value)


def test_running_extra_nodes_are_named_when_fewer_are_asked_for(tmp_path: Path) -> None:
    settings = Settings(services_dir=tmp_path)
    layout = services.Layout.of(settings)
    _pretend_running(layout, "elasticsearch-2")
    with pytest.raises(services.ServiceError, match=r"elasticsearch-2"):
        services.start_elasticsearch(settings, layout)


def test_data_formed_by_three_brokers_is_not_started_as_one(tmp_path: Path) -> None:
    big = three_by_three(services_dir=tmp_path)
    layout = services.Layout.of(big)
    (layout.home("kafka") / "data").mkdir(parents=True)
    (layout.home("kafka") / "data" / "meta.properties").write_text("cluster.id=abc\nnode.id=1\n")
    services._record_shape(layout, "kafka", services._kafka_shape(services.kafka_nodes(big)))
    with pytest.raises(services.ServiceError, match="belongs to a 3-node Kafka cluster"):
        services.start_kafka(Settings(services_dir=tmp_path), layout)


def test_brokers_share_the_cluster_id_already_on_disk(tmp_path: Path) -> None:
    settings = three_by_three(services_dir=tmp_path)
    layout = services.Layout.of(settings)
    nodes = services.kafka_nodes(settings)
    (layout.home("kafka-2") / "data").mkdir(parents=True)
    (layout.home("kafka-2") / "data" / "meta.properties").write_text("node.id=2\ncluster.id=Abc-123\n")
    assert services._shared_cluster_id(layout, nodes) == "Abc-123"
    (layout.home("kafka-3") / "data").mkdir(parents=True)
    (layout.home("kafka-3") / "data" / "meta.properties").write_text("cluster.id=Other\n")
    with pytest.raises(services.ServiceError, match="different clusters"):
        services._shared_cluster_id(layout, nodes)


# ---------------------------------------------------------------- settings


def replication(settings: Settings) -> tuple[int, int, int]:
    return settings.topic_replication_factor, settings.min_insync_replicas, settings.es_replicas


def test_one_node_each_keeps_replication_off() -> None:
    settings = Settings()
    assert replication(settings) == (1, 1, 0)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.es_urls == ["http://127.0.0.1:9200"] and settings.es_url == "http://127.0.0.1:9200"


def test_three_and_three_replicate_three_times_with_two_in_sync_and_one_es_replica() -> None:
    settings = three_by_three()
    assert replication(settings) == (3, 2, 1)
    assert settings.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert settings.es_urls == ["http://127.0.0.1:9200", "http://127.0.0.1:9201", "http://127.0.0.1:9202"]


@pytest.mark.parametrize(("brokers", "factor", "in_sync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (7, 3, 2)])
def test_replication_follows_the_broker_count(brokers: int, factor: int, in_sync: int) -> None:
    settings = Settings(kafka_brokers=brokers)
    assert (settings.topic_replication_factor, settings.min_insync_replicas) == (factor, in_sync)


def test_explicit_replication_settings_win() -> None:
    settings = three_by_three(topic_replication_factor=2, es_replicas=2)
    assert replication(settings) == (2, 1, 2)


def test_more_in_sync_replicas_than_copies_is_refused() -> None:
    with pytest.raises(ValidationError, match="min_insync_replicas"):
        Settings(topic_replication_factor=2, min_insync_replicas=3)


def test_counts_and_addresses_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARANCE_KAFKA_BROKERS", "3")
    monkeypatch.setenv("CLEARANCE_ES_NODES", "2")
    assert (Settings().topic_replication_factor, Settings().es_replicas) == (3, 1)
    monkeypatch.setenv("CLEARANCE_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092,")
    monkeypatch.setenv("CLEARANCE_ES_HOSTS", "https://e1:9200,https://e2:9200")
    settings = Settings()
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.es_urls == ["https://e1:9200", "https://e2:9200"] and settings.es_url == "https://e1:9200"


def test_faust_gets_every_broker_in_its_own_list_form() -> None:
    assert faust_broker_url("h1:1,h2:2") == "kafka://h1:1;h2:2"
    assert faust_broker_url("127.0.0.1:9092") == "kafka://127.0.0.1:9092"
