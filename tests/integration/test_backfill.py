"""Retroactive claims and replays on the live services with a real worker: uploads analysed before
their master was registered are claimed once it is, each once; replays add no royalty."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from elasticsearch import Elasticsearch

from cli.backfill import start_backfills
from cli.catalog import add_from_manifest
from corpus import synth
from index.stores import Stores
from model.events import TrackMetadata, TrackSubmitted, backfill_requested, utcnow
from model.settings import Settings
from streams.backfill import replay
from streams.ingest import submission_for
from streams.publisher import Publisher
from streams.topics import Topics
from tests.integration.conftest import SESSION
from tests.integration.test_pipeline import decided_record, eventually, publish

pytestmark = pytest.mark.integration
RATE = synth.SAMPLE_RATE
UPLOADS = 20
HOLDER = f"Label Retro {SESSION}"
ISRC = "QZRET2600001"
BACKFILL_TIMEOUT_S = 420.0


def _upload(index: int, master: np.ndarray) -> np.ndarray:
    """Some music of the uploader's own, then 10 s of the master (each from its own place)."""
    own = synth.song(seed=7100 + index, seconds=8)
    start = (index * 2) * RATE
    return np.concatenate([own, master[start : start + 10 * RATE]]).astype(np.float32)


@pytest.fixture(scope="module")
def uploads(
    live_settings: Settings,
    es: Elasticsearch,
    worker: subprocess.Popen[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Twenty uploads using the master, decided while it was not registered (no match)."""
    folder = tmp_path_factory.mktemp("retro")
    started = utcnow()
    master = synth.song(seed=7001, seconds=60)
    synth.write(folder / "master.flac", master)
    submissions: list[TrackSubmitted] = []
    for i in range(UPLOADS):
        audio = synth.write(folder / f"up{i}.mp3", _upload(i, master))
        meta = TrackMetadata(title=f"Remix {i}", track_id=f"retro-{SESSION}-{i:02d}")
        submissions.append(submission_for(audio, meta, live_settings))
    publish(live_settings, *((s.track_id, s.to_bytes()) for s in submissions))
    for sub in submissions:
        record = eventually(
            decided_record(es, live_settings, sub), 300, f"the first decision on {sub.track_id}"
        )
        assert record["matches"] == [] and record["fingerprint_terms"]
    return {"folder": folder, "submissions": submissions, "started": started}


def _history(stores: Stores, track_id: str) -> list[dict[str, Any]]:
    stores.es.indices.refresh(index=stores.indices.decisions)
    return stores.decisions.history(track_id)


def _royalties(stores: Stores, track_id: str) -> list[dict[str, Any]]:
    return [d for d in _history(stores, track_id) if d["action"] == "royalty" and not d["verdict"]]


def _claimed(stores: Stores, track_id: str) -> dict[str, Any] | None:
    record = stores.records.get(track_id)
    return (
        record if record is not None and (record.get("decision") or {}).get("action") == "royalty" else None
    )


def _done(stores: Stores, job_id: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        job = stores.backfill_jobs.get(job_id)
        assert job is None or job["state"] != "failed", job
        return job if job is not None and job["state"] == "done" else None

    return probe


def _register_master(folder: Path, settings: Settings, stores: Stores) -> None:
    row = {
        "file": "master.flac",
        "isrc": ISRC,
        "title": "Late Claim",
        "artists": ["Vera Retro"],
        "rights_holder": HOLDER,
        "policy": "monetize",
        "royalty_rate": "0.2",
    }
    (folder / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    assert add_from_manifest(folder / "manifest.jsonl", settings, stores.catalog) == 1


def test_registering_a_master_claims_the_uploads_already_analysed(
    live_settings: Settings, stores: Stores, uploads: dict[str, Any], api_server: str
) -> None:
    submissions: list[TrackSubmitted] = uploads["submissions"]
    _register_master(uploads["folder"], live_settings, stores)
    [job_id] = start_backfills(stores, live_settings, "recording", [ISRC], HOLDER)

    job = eventually(_done(stores, job_id), BACKFILL_TIMEOUT_S, "the backfill to be done")
    assert job["trigger"] == "recording" and job["subject"] == ISRC
    assert job["found"] >= UPLOADS and job["republished"] >= UPLOADS and job["decided"] >= UPLOADS
    assert job["changed"] >= UPLOADS

    for sub in submissions:
        # the job counts a track once it is decided; its decisions are indexed a moment later
        record = eventually(partial(_claimed, stores, sub.track_id), 60, f"the claim on {sub.track_id}")
        assert [m["isrc"] for m in record["matches"]] == [ISRC], sub.track_id
        assert record["decision"]["action"] == "royalty"
        assert record["submission"]["reprocess"]["round_id"] == job_id
        eventually(partial(_royalties, stores, sub.track_id), 60, "the royalty")
        history = _history(stores, sub.track_id)
        verdicts = [d for d in history if d["verdict"]]
        assert len(verdicts) == 2, history  # the first (no match) and the claim, once
        assert (
            verdicts[-1]["action"] == "royalty" and verdicts[-1]["event_id"] == record["decision"]["event_id"]
        )
        royalties = _royalties(stores, sub.track_id)
        assert len(royalties) == 1 and royalties[0]["royalty"]["rights_holder"] == HOLDER

    secret, _ = stores.keys.create("rights_holder", f"retro-{SESSION}", HOLDER)
    wanted = {s.track_id for s in submissions}
    deadline = time.monotonic() + 30  # a claim indexed is searchable after the next refresh
    while True:
        response = httpx.get(
            f"{api_server}/v1/records",
            params={"isrc": ISRC, "size": 50},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        found = {item["track_id"] for item in response.json()["items"]}
        if found == wanted or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found == wanted

    # crafted requests (no such job; a replay on the topic) are dead-lettered, and the agent goes on
    with Publisher(live_settings) as publisher:
        topic = Topics(live_settings.topic_prefix).backfills
        publisher.publish(topic, backfill_requested(f"nosuchjob{SESSION}", "recording", ISRC, []))
        publisher.publish(topic, backfill_requested(f"nosuchjob{SESSION}x", "replay", "since 2020", []))
        publisher.flush()

    # the same change again: the tracks are decided again, and nothing is published twice
    [again] = start_backfills(stores, live_settings, "recording", [ISRC], HOLDER)
    job = eventually(_done(stores, again), BACKFILL_TIMEOUT_S, "the second backfill to be done")
    assert job["decided"] >= UPLOADS and job["changed"] == 0
    for sub in submissions:
        history = _history(stores, sub.track_id)
        assert len([d for d in history if d["verdict"]]) == 2 and len(_royalties(stores, sub.track_id)) == 1


def test_reprocessing_twice_adds_no_royalty(
    live_settings: Settings, stores: Stores, uploads: dict[str, Any]
) -> None:
    submissions: list[TrackSubmitted] = uploads["submissions"]
    if stores.catalog.get(ISRC) is None:  # run alone: the claim first
        _register_master(uploads["folder"], live_settings, stores)
    since: datetime = uploads["started"]
    for detector in (None, "catalog_match"):
        with Publisher(live_settings) as publisher:
            count = replay(
                stores.backfills,
                stores.backfill_jobs,
                publisher,
                live_settings,
                since,
                detector,
                {"catalog_match": "0"},
            )
        assert count.republished >= UPLOADS
        job = stores.backfill_jobs.listing(1)[0]
        eventually(_done(stores, job["job_id"]), BACKFILL_TIMEOUT_S, "the replay to be done")
    for sub in submissions:
        assert len(_royalties(stores, sub.track_id)) == 1, sub.track_id
        assert _claimed(stores, sub.track_id) is not None
