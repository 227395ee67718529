"""At-least-once with idempotent effects, against the real Kafka: a worker killed with SIGKILL
in the middle of a stream loses nothing, and its replacement writes nothing twice."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from cli.demo import start_worker, stop_worker
from corpus import synth
from index.names import Indices
from index.templates import ensure_indices
from model.events import TrackMetadata, TrackSubmitted
from model.settings import Settings
from streams.admin import ensure_topics
from streams.ingest import submission_for
from tests.integration.conftest import drop_indices, isolated_env, settings_from
from tests.integration.test_pipeline import eventually, publish

pytestmark = pytest.mark.integration
TRACKS = 24


@pytest.fixture
def isolated(tmp_path: Path, es: Elasticsearch) -> Iterator[tuple[Settings, dict[str, str]]]:
    env = isolated_env(f"kill-{uuid.uuid4().hex[:8]}", tmp_path / "store")
    settings = settings_from(env)
    ensure_topics(settings)
    ensure_indices(es, Indices(settings.index_prefix))
    yield settings, env
    drop_indices(es, settings.index_prefix)


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
    first = start_worker(log, env)
    try:
        publish(settings, *((s.track_id, s.to_bytes()) for s in subs))
        eventually(lambda: decided(es, settings, subs) >= 1, timeout_s=120, what="the first decision")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert decided(es, settings, subs) < TRACKS, "the kill came too late to test anything"

    second = start_worker(log, env)
    try:
        eventually(lambda: decided(es, settings, subs) == TRACKS, timeout_s=180, what="every track decided")
    finally:
        stop_worker(second)

    indices = Indices(settings.index_prefix)
    es.indices.refresh(index=indices.all())
    for sub in subs:
        history = es.search(index=indices.decisions, query={"term": {"submission_event_id": sub.event_id}})
        actions = sorted(hit["_source"]["action"] for hit in history["hits"]["hits"])
        assert actions == ["label"], (sub.track_id, actions)
    assert es.count(index=indices.provenance)["count"] == TRACKS
