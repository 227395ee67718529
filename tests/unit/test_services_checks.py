from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest

from cli import services
from model.settings import Settings


def test_a_taken_port_gives_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        settings = Settings(kafka_port=port, services_dir=tmp_path)
        with pytest.raises(services.ServiceError) as err:
            services.start_kafka(settings, services.Layout.of(settings))
    message = str(err.value)
    assert f"port {port}" in message and "CLEARANCE_KAFKA_PORT" in message and "\n" not in message


def test_missing_maven_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = services.shutil.which
    monkeypatch.setattr(services.shutil, "which", lambda tool: None if tool == "mvn" else real_which(tool))
    with pytest.raises(services.ServiceError, match="mvn is not installed"):
        services.require_tools()


def test_kafka_is_configured_for_one_kraft_node_on_loopback() -> None:
    props = services._kafka_properties(Settings(kafka_port=19092, kafka_controller_port=19093), Path("/d"))
    assert "process.roles=broker,controller" in props
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in props
    assert "auto.create.topics.enable=false" in props


def test_kafka_cluster_ids_are_16_bytes_and_never_read_as_an_option() -> None:
    # 1 random URL-safe id in 64 starts with "-", which Kafka's storage tool takes for a flag.
    ids = [services.new_kafka_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)
