"""The spine against the real Kafka and Elasticsearch: submit → analyze → decide → index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient

from cli.deadletters import read_dead_letters
from corpus import synth
from index.history import DecisionStore
from index.names import Indices
from index.records import RecordStore
from index.stores import Stores
from model.events import DeadLetter, TrackMetadata, TrackSubmitted
from model.settings import PROJECT_ROOT, Settings
from streams.ingest import submission_for
from streams.publisher import Publisher
from streams.topics import Topics

pytestmark = pytest.mark.integration
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout_s: float = 90.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def decided_record(
    es: Elasticsearch, settings: Settings, sub: TrackSubmitted
) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        record = RecordStore(es, Indices(settings.index_prefix)).get(sub.track_id)
        if (
            record
            and (record.get("decision") or {}).get("submission_event_id") == sub.event_id
            and record.get("facts")
        ):
            return record
        return None

    return probe


def indexed_decisions(
    es: Elasticsearch, settings: Settings, track_id: str, complete: Callable[[list[dict[str, Any]]], bool]
) -> Callable[[], list[dict[str, Any]] | None]:
    """A probe for a track's indexed decisions once `complete` holds. Each action has its own
    topic, so a label may be indexed after the verdict that updated the provenance record."""
    indices = Indices(settings.index_prefix)

    def probe() -> list[dict[str, Any]] | None:
        es.indices.refresh(index=indices.decisions)
        decisions = DecisionStore(es, indices).history(track_id)
        return decisions if complete(decisions) else None

    return probe


def publish(settings: Settings, *payloads: tuple[str, bytes]) -> None:
    with Publisher(settings) as publisher:
        for key, value in payloads:
            publisher.publish_raw(Topics(settings.topic_prefix).submitted, key, value)


def dead_letter_for(
    settings: Settings, match: Callable[[DeadLetter], bool]
) -> Callable[[], DeadLetter | None]:
    return lambda: next((d for d in read_dead_letters(settings, timeout_s=1.0) if match(d)), None)


def test_topics_have_at_least_four_partitions(
    live_settings: Settings, worker: subprocess.Popen[bytes]
) -> None:
    names = Topics(live_settings.topic_prefix).all()
    admin = KafkaAdminClient(bootstrap_servers=live_settings.kafka_bootstrap)

    def all_created() -> list[dict[str, Any]] | None:
        # the worker creates its topics while it starts; on a busy machine that can still be going
        described: list[dict[str, Any]] = admin.describe_topics(names)
        return described if all(d["error_code"] == 0 for d in described) else None

    try:
        described = eventually(all_created, what="the worker's topics")
    finally:
        admin.close()
    assert {d["name"] for d in described} == set(names)
    assert all(len(d["partitions"]) >= 4 for d in described)


def test_submitted_track_gets_a_provenance_record_with_fingerprint_facts(
    live_settings: Settings, es: Elasticsearch, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    audio = synth.write(tmp_path / "upload.mp3", synth.song(seed=101, seconds=12))
    sub = submission_for(
        audio, TrackMetadata(title="First Light", artists=["Ana"], track_id="it-first-light"), live_settings
    )
    publish(live_settings, (sub.track_id, sub.to_bytes()))

    record = eventually(decided_record(es, live_settings, sub), what="the provenance record")
    assert record["submission"]["title"] == "First Light" and record["submission"]["artists"] == ["Ana"]
    assert record["facts"]["codec"] == "mp3"
    assert record["facts"]["duration_s"] == pytest.approx(12.0, abs=0.2)
    assert -30 < record["facts"]["loudness_lufs"] < -5
    assert record["fingerprint"]["item_count"] > 60 and record["fingerprint"]["fingerprint"]
    assert {d["detector"]: d["status"] for d in record["detectors"]} == {
        "audio_facts": "ok",
        "chromaprint": "ok",
        "watermark": "ok",
        "catalog_match": "ok",
        "composition_match": "ok",
        "content_credentials": "ok",
        "generation": "ok",
        "name_opt_out": "ok",
        "harassment": "ok",
        "voice_opt_out": "ok",
    }
    assert record["watermark"]["detected"] is False  # nobody watermarked it
    assert record["content_credentials"]["state"] == "absent"
    assert record["generation"]["record"] is None
    assert record["matches"] == []  # an original: nothing in the catalog
    assert record["decision"]["action"] == "allow" and record["status"] == "decided"


def test_the_same_event_twice_leaves_one_record_and_one_decision(
    live_settings: Settings, es: Elasticsearch, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    audio = synth.write(tmp_path / "gen.wav", synth.song(seed=102, seconds=10))
    sub = submission_for(
        audio,
        TrackMetadata(source="generated", title="Twice", prompt="lofi beat", track_id="it-twice"),
        live_settings,
    )
    # A later submission of the same track shares the key, hence the partition, so once it is
    # decided both copies before it have been through every agent.
    later_audio = synth.write(tmp_path / "later.wav", synth.song(seed=103, seconds=6))
    later = submission_for(later_audio, TrackMetadata(title="Twice v2", track_id="it-twice"), live_settings)
    publish(
        live_settings,
        (sub.track_id, sub.to_bytes()),
        (sub.track_id, sub.to_bytes()),
        (later.track_id, later.to_bytes()),
    )
    record = eventually(decided_record(es, live_settings, later), what="the later submission's decision")
    assert record["submission"]["title"] == "Twice v2"
    records = RecordStore(es, Indices(live_settings.index_prefix))
    asked = {"it-twice": later.event_id, "it-never-sent": later.event_id}
    assert eventually(lambda: records.decided(asked), what="the decision searchable") == {"it-twice"}
    assert records.decided({"it-twice": sub.event_id}) == set()  # decided again since

    def both_submissions_decided(history: list[dict[str, Any]]) -> bool:
        return {sub.event_id, later.event_id} <= {d["submission_event_id"] for d in history}

    history = eventually(
        indexed_decisions(es, live_settings, sub.track_id, both_submissions_decided),
        what="both submissions' decisions",
    )
    indices = Indices(live_settings.index_prefix)
    es.indices.refresh(index=indices.all())
    first = [d for d in history if d["submission_event_id"] == sub.event_id]
    assert [d["action"] for d in first] == ["label"]
    assert first[0]["label"]["digital_source_type"] == "trainedAlgorithmicMedia"
    assert [d["action"] for d in history if d["submission_event_id"] == later.event_id] == ["allow"]
    assert es.count(index=indices.provenance, query={"term": {"track_id": sub.track_id}})["count"] == 1


def test_bad_input_is_dead_lettered_and_the_next_track_still_flows(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + os.urandom(3000))
    undecodable = submission_for(broken, TrackMetadata(track_id="it-broken"), live_settings)
    good_audio = synth.write(tmp_path / "good.flac", synth.song(seed=104, seconds=8))
    good = submission_for(good_audio, TrackMetadata(track_id="it-after-bad-input"), live_settings)
    malformed = b'{"event_type": "track_submitted", "track_id": "it-malformed", "source": "radio"'
    publish(
        live_settings,
        ("it-malformed", malformed),
        (undecodable.track_id, undecodable.to_bytes()),
        (good.track_id, good.to_bytes()),
    )

    parse_letter = eventually(
        dead_letter_for(live_settings, lambda d: d.payload == malformed),
        what="the malformed event's dead letter",
    )
    assert parse_letter.stage == "parse" and "not JSON" in parse_letter.reason
    assert parse_letter.source_topic == Topics(live_settings.topic_prefix).submitted
    assert parse_letter.key == "it-malformed" and parse_letter.offset is not None

    decode_letter = eventually(
        dead_letter_for(live_settings, lambda d: d.track_id == "it-broken"),
        what="the undecodable file's dead letter",
    )
    assert decode_letter.stage == "decode" and "could not" in decode_letter.reason
    assert json.loads(decode_letter.payload)["event_id"] == undecodable.event_id  # the event, kept whole

    record = eventually(decided_record(es, live_settings, good), what="the good track after bad input")
    assert record["facts"]["codec"] == "flac"
    assert stores.records.get("it-broken") is None


def test_cli_submit_reaches_the_index(
    live_settings: Settings,
    live_env: dict[str, str],
    es: Elasticsearch,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    audio = synth.write(tmp_path / "cli.mp3", synth.song(seed=105, seconds=9))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "submit",
            str(audio),
            "--generated",
            "--title",
            "Made Here",
            "--prompt",
            "a calm piano piece",
            "--artist",
            "Bot",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **live_env},
        capture_output=True,
        text=True,
        check=True,
    )
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    sub = TrackSubmitted(
        track_id=printed["track_id"],
        event_id=printed["event_id"],
        source="generated",
        audio_uri=printed["audio_uri"],
        uploader_id="cli",
    )
    record = eventually(decided_record(es, live_settings, sub), what="the CLI-submitted track")
    assert record["submission"]["prompt"] == "a calm piano piece"
    assert record["decision"]["action"] == "label" and record["label"]["summary"].startswith("AI-generated")
    assert Path(printed["audio_uri"].removeprefix("file://")).name == record["submission"]["audio_sha256"]
