"""Integration fixtures: the real Kafka and Elasticsearch (started by `clearance services up`),
with topics, indices and consumer group unique to this test session, and one real worker."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from cli import services
from cli.credentials import write_dev_chain
from cli.demo import start_worker, stop_worker
from index.names import Indices
from index.stores import Stores
from index.templates import ensure_indices
from model.settings import Settings
from streams.admin import ensure_topics

SESSION = uuid.uuid4().hex[:8]


def isolated_env(name: str, store: Path) -> dict[str, str]:
    """Topics, indices and consumer group of their own, so runs never see each other's events."""
    return {
        "CLEARANCE_TOPIC_PREFIX": f"{name}.",
        "CLEARANCE_INDEX_PREFIX": f"{name}-",
        "CLEARANCE_APP_ID": f"clearance-{name}",
        "CLEARANCE_STORE_DIR": str(store),
        "CLEARANCE_LOG_FORMAT": "json",
        "CLEARANCE_REGISTRY_CACHE_SECONDS": "1",
    }


def settings_from(env: dict[str, str]) -> Settings:
    return Settings(**{k.removeprefix("CLEARANCE_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]


def drop_indices(es: Elasticsearch, prefix: str) -> None:
    Stores.over(es, Indices(prefix)).delete_indices()


@pytest.fixture(scope="session")
def live_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = isolated_env(f"test-{SESSION}", tmp_path_factory.mktemp("store"))
    c2pa = tmp_path_factory.mktemp("c2pa")  # a signing chain and trust anchor of this session's own
    write_dev_chain(c2pa / "signer-chain.pem", c2pa / "signer.key", c2pa / "trust-anchors.pem")
    return {**env, "CLEARANCE_C2PA_DIR": str(c2pa)}


@pytest.fixture(scope="session")
def live_settings(live_env: dict[str, str]) -> Settings:
    services.up(Settings(), lambda line: None)  # harmless when already running
    settings = settings_from(live_env)
    ensure_topics(settings)  # before any test publishes, not whenever the worker gets to it
    return settings


@pytest.fixture(scope="session")
def es(live_settings: Settings) -> Iterator[Elasticsearch]:
    client = Elasticsearch(live_settings.es_urls, request_timeout=30)
    ensure_indices(client, Indices(live_settings.index_prefix))
    yield client
    drop_indices(client, live_settings.index_prefix)
    client.close()


@pytest.fixture(scope="session")
def stores(live_settings: Settings, es: Elasticsearch) -> Stores:
    """The index stores over this session's indices."""
    return Stores.over(es, Indices(live_settings.index_prefix))


@pytest.fixture(scope="session")
def worker(
    live_settings: Settings,
    live_env: dict[str, str],
    es: Elasticsearch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = start_worker(log, live_env)
    deadline = time.monotonic() + 60
    while not es.indices.exists(index=Indices(live_settings.index_prefix).decisions):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    yield proc
    stop_worker(proc)
    print(log.read_text()[-3000:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def api_server(live_settings: Settings, es: Elasticsearch) -> Iterator[str]:
    """The review API served over real HTTP by uvicorn, in this process."""
    import threading

    import uvicorn

    from api.app import create_app

    config = uvicorn.Config(
        create_app(live_settings), host="127.0.0.1", port=_free_port(), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.1)
    yield f"http://127.0.0.1:{config.port}"
    server.should_exit = True
    thread.join(timeout=10)
