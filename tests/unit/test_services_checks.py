from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cli import services
from streams.config import Settings


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
