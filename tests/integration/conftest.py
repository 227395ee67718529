"""Integration fixtures: the real Kafka and Elasticsearch (started by `clearance services up`),
with topics, indices and consumer group unique to this test session, and one real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from cli import services
from index.names import Indices
from index.templates import ensure_indices
from streams.config import PROJECT_ROOT, Settings

SESSION = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def live_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "CLEARANCE_TOPIC_PREFIX": f"test-{SESSION}.",
        "CLEARANCE_INDEX_PREFIX": f"test-{SESSION}-",
        "CLEARANCE_APP_ID": f"clearance-test-{SESSION}",
        "CLEARANCE_STORE_DIR": str(tmp_path_factory.mktemp("store")),
        "CLEARANCE_LOG_FORMAT": "json",
    }


@pytest.fixture(scope="session")
def live_settings(live_env: dict[str, str]) -> Settings:
    settings = Settings(**{k.removeprefix("CLEARANCE_").lower(): v for k, v in live_env.items()})  # type: ignore[arg-type]
    services.up(Settings(), lambda line: None)  # harmless when already running
    return settings


@pytest.fixture(scope="session")
def es(live_settings: Settings) -> Iterator[Elasticsearch]:
    client = Elasticsearch(live_settings.es_url, request_timeout=30)
    ensure_indices(client, Indices(live_settings.index_prefix))
    yield client
    for name in Indices(live_settings.index_prefix).all():
        client.options(ignore_status=404).indices.delete(index=name)
        client.options(ignore_status=404).indices.delete_index_template(name=name)
    client.close()


@pytest.fixture(scope="session")
def worker(
    live_settings: Settings,
    live_env: dict[str, str],
    es: Elasticsearch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **live_env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not es.indices.exists(index=Indices(live_settings.index_prefix).decisions):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    yield proc
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
    print(Path(log).read_text()[-3000:])
