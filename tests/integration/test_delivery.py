"""At-least-once with idempotent effects, against the real Kafka: a worker killed with SIGKILL
in the middle of a stream loses nothing, and its replacement writes nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from cli import synth
from cli.ingest import TrackMetadata, submission_for
from index.names import Indices
from index.templates import ensure_indices
from streams.admin import ensure_topics
from streams.config import PROJECT_ROOT, Settings
from streams.events import TrackSubmitted
from tests.integration.test_pipeline import eventually, publish

pytestmark = pytest.mark.integration
TRACKS = 24


@pytest.fixture
def isolated(tmp_path: Path, es: Elasticsearch) -> Iterator[tuple[Settings, dict[str, str]]]:
    run = uuid.uuid4().hex[:8]
    env = {
        "CLEARANCE_TOPIC_PREFIX": f"kill-{run}.",
        "CLEARANCE_INDEX_PREFIX": f"kill-{run}-",
        "CLEARANCE_APP_ID": f"clearance-kill-{run}",
        "CLEARANCE_STORE_DIR": str(tmp_path / "store"),
        "CLEARANCE_LOG_FORMAT": "json",
    }
    settings = Settings(**{k.removeprefix("CLEARANCE_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    ensure_topics(settings)
    ensure_indices(es, Indices(settings.index_prefix))
    yield settings, env
    for name in Indices(settings.index_prefix).all():
        es.options(ignore_status=404).indices.delete(index=name)
        es.options(ignore_status=404).indices.delete_index_template(name=name)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def decided(es: Elasticsearch, settings: Settings, subs: list[TrackSubmitted]) -> int:
    indices = Indices(settings.index_prefix)
    es.indices.refresh(index=indices.provenance)
    query = {"bool": {"filter": [{"terms": {"decision.submission_event_id": [s.event_id for s in subs]}}]}}
    return int(es.count(index=indices.provenance, query=query)["count"])


def test_a_killed_worker_loses_nothing_and_its_replacement_duplicates_nothing(
    isolated: tuple[Settings, dict[str, str]], es: Elasticsearch, tmp_path: Path
) -> None:
    settings, env = isolated
    subs = []
    for n in range(TRACKS):
        audio = synth.write(tmp_path / f"t{n}.wav", synth.song(seed=300 + n, seconds=10))
        subs.append(submission_for(audio, TrackMetadata(source="generated", track_id=f"kill-{n}"), settings))
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    try:
        publish(settings, *((s.track_id, s.to_bytes()) for s in subs))
        eventually(lambda: decided(es, settings, subs) >= 1, timeout_s=120, what="the first decision")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert decided(es, settings, subs) < TRACKS, "the kill came too late to test anything"

    second = start_worker(env, log)
    try:
        eventually(lambda: decided(es, settings, subs) == TRACKS, timeout_s=180, what="every track decided")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)

    indices = Indices(settings.index_prefix)
    es.indices.refresh(index=indices.all())
    for sub in subs:
        history = es.search(index=indices.decisions, query={"term": {"submission_event_id": sub.event_id}})
        actions = sorted(hit["_source"]["action"] for hit in history["hits"]["hits"])
        assert actions == ["label"], (sub.track_id, actions)
    assert es.count(index=indices.provenance)["count"] == TRACKS
