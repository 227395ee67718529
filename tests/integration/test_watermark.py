"""A watermark embedded in project-made audio, trimmed off its grid as a user may, found by the
pipeline and recorded in Elasticsearch with its generator and seconds."""

from __future__ import annotations

import subprocess
from typing import Any

import numpy as np
import pytest
import soundfile
from elasticsearch import Elasticsearch

from corpus import synth
from detectors.watermark.embed import embed
from detectors.watermark.payload import Payload
from model.events import TrackMetadata
from model.settings import Settings
from streams.ingest import submission_for
from tests.integration.test_pipeline import decided_record, eventually, publish

pytestmark = pytest.mark.integration
RATE = 44_100
PAYLOAD = Payload(generator_id=1, model_version=2)


@pytest.fixture(scope="module")
def watermarked_record(
    live_settings: Settings,
    es: Elasticsearch,
    worker: subprocess.Popen[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    song = synth.song(seed=4343, seconds=20.0, rate=RATE)
    stereo = np.stack([song, 0.9 * song], axis=1)
    # The user trimmed 12.6 ms off the start before uploading: off the embedding grid.
    marked = embed(stereo, RATE, PAYLOAD, live_settings.watermark_generator)[555:]
    path = tmp_path_factory.mktemp("watermark") / "generated-trimmed-then-uploaded.flac"
    soundfile.write(path, marked, RATE)
    sub = submission_for(path, TrackMetadata(title="Totally Mine", track_id="it-watermarked"), live_settings)
    publish(live_settings, (sub.track_id, sub.to_bytes()))
    return eventually(decided_record(es, live_settings, sub), what="the watermarked upload's decision")


def test_an_undeclared_watermarked_upload_is_labelled_and_sent_to_review(
    watermarked_record: dict[str, Any],
) -> None:
    record = watermarked_record

    watermark = record["watermark"]
    assert watermark["detected"] is True
    assert watermark["watermarked_seconds"] >= 17.0
    assert watermark["spans"][0]["start_s"] <= 1.0 and watermark["spans"][-1]["end_s"] >= 19.0
    assert record["decision"]["action"] == "needs_review"
    assert {r["code"] for r in record["decision"]["reasons"]} == {"ai_label", "ai_undeclared"}
    assert record["label"]["digital_source_type"] == "trainedAlgorithmicMedia"


def test_the_record_names_the_generator(watermarked_record: dict[str, Any]) -> None:
    watermark = watermarked_record["watermark"]
    assert (watermark["generator_name"], watermark["generator_version"]) == ("clearance-remix", 2)
    assert watermark["generator_registered"] is True
    assert watermark["grid_offset_samples"] != 0.0  # read after finding the grid again


def _decided(
    live_settings: Settings, es: Elasticsearch, path: Any, track_id: str, what: str
) -> dict[str, Any]:
    sub = submission_for(path, TrackMetadata(title="Long Upload", track_id=track_id), live_settings)
    publish(live_settings, (sub.track_id, sub.to_bytes()))
    record: dict[str, Any] = eventually(decided_record(es, live_settings, sub), what=what)
    return record


def test_a_long_upload_is_screened_and_a_watermark_inside_it_still_found(
    live_settings: Settings,
    es: Elasticsearch,
    worker: subprocess.Popen[bytes],
    tmp_path: Any,
) -> None:
    """Uploads over 20 s are screened (one second in four) and indexed with the seconds not read
    as null; one with a generated clip pasted in is read whole and the clip found."""
    song = synth.song(seed=4344, seconds=32.0, rate=RATE)
    plain = tmp_path / "long-original.flac"
    soundfile.write(plain, song, RATE)
    screened = _decided(live_settings, es, plain, "it-long-original", "the long original's decision")[
        "watermark"
    ]
    assert screened["detected"] is False and screened["read_share"] < 0.4
    assert None in screened["per_second"] and any(p is not None for p in screened["per_second"])

    pasted = song.copy()
    clip = embed(
        synth.song(seed=4345, seconds=12.0, rate=RATE), RATE, PAYLOAD, live_settings.watermark_generator
    )
    pasted[9 * RATE + 321 : 9 * RATE + 321 + len(clip)] = clip
    mixed = tmp_path / "long-with-a-generated-clip.flac"
    soundfile.write(mixed, pasted, RATE)
    found = _decided(live_settings, es, mixed, "it-long-with-clip", "the pasted clip's decision")["watermark"]
    assert found["detected"] is True and found["read_share"] == 1.0
    assert found["generator_name"] == "clearance-remix"
    assert None not in found["per_second"]
