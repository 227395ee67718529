"""Hostile files and crafted events through the real pipeline and API: each ends as a dead letter
or a 4xx with its reason, no agent stops, and a good track sent after them is still decided."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from corpus import synth
from index.names import Indices
from index.stores import Stores
from model.events import DeadLetter, TrackMetadata
from model.settings import Settings
from streams.ingest import submission_for
from streams.publisher import Publisher
from streams.topics import Topics
from tests.conftest import sine
from tests.integration.test_pipeline import dead_letter_for, decided_record, eventually

pytestmark = pytest.mark.integration
KEY = "it-hostile"  # one key, one partition: the good track is processed after every bad message


def _playlist(tmp_path: Path, *, live: bool) -> Path:
    """An HLS playlist listing a private file of the server's (a segment of audio)."""
    private = tmp_path / "private"
    private.mkdir(exist_ok=True)
    wav = synth.write(private / "inner.wav", sine(440, 3.0, 0.5))
    segment = private / "segment.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), str(segment)], check=True)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0", "#EXTINF:3,", str(segment)]
    playlist = tmp_path / ("live.mp3" if live else "vod.wav")
    playlist.write_text("\n".join([*lines, *([] if live else ["#EXT-X-ENDLIST"]), ""]))
    return playlist


def _submission_bytes(**fields: Any) -> bytes:
    body = {
        "event_type": "track_submitted",
        "track_id": KEY,
        "source": "upload",
        "audio_uri": "file:///nowhere",
        "uploader_id": "mallory",
    }
    return json.dumps(body | fields).encode()


def test_hostile_files_and_events_are_dead_lettered_and_the_pipeline_keeps_going(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    vod = submission_for(_playlist(tmp_path, live=False), TrackMetadata(track_id=KEY), live_settings)
    live = submission_for(_playlist(tmp_path, live=True), TrackMetadata(track_id=KEY), live_settings)
    deep = _submission_bytes()[:-1] + b', "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    too_big = _submission_bytes(description="x" * 1_020_000)
    long_lyrics = _submission_bytes(lyrics="la " * 20_000)
    long_name = _submission_bytes(audio_uri="file:///" + "a" * 300)  # ENAMETOOLONG when looked up
    bad_uri = _submission_bytes(audio_uri="file://[/x")  # not even a URL
    good = submission_for(
        synth.write(tmp_path / "good.flac", synth.song(seed=151, seconds=8)),
        TrackMetadata(track_id=KEY),
        live_settings,
    )
    topics = Topics(live_settings.topic_prefix)
    deep_review = deep.replace(b"track_submitted", b"review_action")
    with Publisher(live_settings) as publisher:
        for value in (vod.to_bytes(), live.to_bytes(), deep, too_big, long_lyrics, long_name, bad_uri):
            publisher.publish_raw(topics.submitted, KEY, value)
        publisher.publish_raw(topics.reviews, KEY, deep_review)
        publisher.publish_raw(topics.submitted, KEY, good.to_bytes())

    # the good track, last on its partition, is decided: no agent stopped on the way
    record = eventually(decided_record(es, live_settings, good), timeout_s=180, what="the good track")
    assert record["facts"]["codec"] == "flac"

    def letter(payload: bytes, stage: str | set[str]) -> DeadLetter:
        stages = {stage} if isinstance(stage, str) else stage
        found = eventually(
            dead_letter_for(
                live_settings,
                lambda d: (
                    d.stage in stages and payload.startswith(d.payload) and d.payload_size == len(payload)
                ),
            ),
            what=f"the dead letter of {payload[:60]!r}",
        )
        assert found.reason and found.source_topic.startswith(live_settings.topic_prefix)
        return found

    for playlist in (vod, live):
        reason = letter(playlist.to_bytes(), "decode").reason
        assert "hls is not an accepted audio container" in reason
    assert "nested deeper than 32 levels" in letter(deep, "parse").reason
    assert "nested deeper than 32 levels" in letter(deep_review, "review").reason
    assert "nested deeper than 32 levels" in letter(deep_review, "parse").reason  # the index agent's
    oversized = letter(too_big, "parse")
    assert "the limit is 1000000" in oversized.reason and len(oversized.payload) < len(too_big)
    assert "lyrics" in letter(long_lyrics, "parse").reason
    assert "no such audio file" in letter(long_name, "decode").reason
    letter(bad_uri, {"decode", "analyze"})


def test_an_uploaded_playlist_is_refused_with_415(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path: Path
) -> None:
    key = stores.keys.create("ingest", "hostile-uploader")[0]
    with TestClient(create_app(live_settings)) as client:
        for playlist in (_playlist(tmp_path, live=False), _playlist(tmp_path, live=True)):
            response = client.post(
                "/v1/tracks",
                headers={"Authorization": f"Bearer {key}"},
                files={"audio": ("song.mp3", playlist.read_bytes(), "audio/mpeg")},
                data={"metadata": "{}"},
            )
            assert response.status_code == 415, response.text
            assert "hls is not an accepted audio container" in response.json()["detail"]


def test_a_keyword_too_long_for_the_index_no_longer_refuses_the_record(
    live_settings: Settings, es: Elasticsearch
) -> None:
    # One flagged "word" past Lucene's 32,766-byte term limit used to refuse the whole record.
    word = "threat " * 6000
    hit = {
        "kind": "threat",
        "field": "lyrics",
        "sentence": "s",
        "words": [word],
        "targets": ["A"],
        "score": 1,
    }
    provenance = Indices(live_settings.index_prefix).provenance
    es.index(
        index=provenance,
        id="it-long-keyword",
        document={"track_id": "it-long-keyword", "harassment": {"severity": "threat", "hits": [hit]}},
        refresh=True,
    )
    stored = es.get(index=provenance, id="it-long-keyword")["_source"]
    assert stored["harassment"]["hits"][0]["words"] == [word]  # kept in the record, just not indexed
