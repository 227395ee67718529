"""Generation provenance through the real Kafka, Elasticsearch and worker: a track the platform
generated carries a trusted Content Credential naming its generation record; a sped-up copy with
the credential stripped, uploaded as an "original", is tied back to that record by its
fingerprint and sent to review as undeclared AI; a file changed after signing is reported
tampered. The generator service's route returns the marked and signed file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from scipy.signal import resample_poly

from api.app import create_app
from corpus import synth
from detectors.credentials import read_credentials
from index.stores import Stores
from model.generation import GenerationIn, GenerationRecord, ParentWork
from model.settings import Settings
from streams.detection import trust_anchors
from streams.generation import Generations
from tests.integration.test_modified_matches import _submit_and_wait

pytestmark = pytest.mark.integration
RATE = synth.SAMPLE_RATE
REQUEST = GenerationIn(
    generator="clearance-remix",
    model_version=1,
    prompt="a lofi remix of Glass Harbor",
    parents=[ParentWork(id="QZPRV2600001", title="Glass Harbor")],
)


@pytest.fixture(scope="module")
def generated(
    live_settings: Settings, stores: Stores, tmp_path_factory: pytest.TempPathFactory
) -> tuple[GenerationRecord, Path]:
    folder = tmp_path_factory.mktemp("generator")
    raw = synth.write(folder / "raw.flac", synth.song(seed=4517, seconds=45))
    target = folder / "remix.wav"
    return Generations(live_settings, stores.generated).make(raw, target, REQUEST), target


def test_a_generated_file_carries_a_trusted_credential_naming_its_record(
    live_settings: Settings, stores: Stores, generated: tuple[GenerationRecord, Path], tmp_path: Path
) -> None:
    record, path = generated
    read = read_credentials(path, trust_anchors(live_settings))
    assert read.state == "trusted"
    assert read.generation_id == record.generation_id
    assert read.digital_source_type == "compositeWithTrainedAlgorithmicMedia"
    assert [i.identifier for i in read.ingredients] == ["isrc:QZPRV2600001"]
    assert stores.generated.get(record.generation_id) == record
    assert record.prompt is None and record.prompt_sha256 is not None  # prompts are hashed by default

    tampered = tmp_path / "tampered.wav"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0x55 for b in data[middle : middle + 64])
    tampered.write_bytes(bytes(data))
    assert read_credentials(tampered, trust_anchors(live_settings)).state == "tampered"


def test_a_sped_up_copy_without_its_credential_is_tied_to_its_generation_and_reviewed(
    live_settings: Settings,
    es: Elasticsearch,
    generated: tuple[GenerationRecord, Path],
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    record, path = generated
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    sped_up = resample_poly(samples.mean(axis=1), 100, 115).astype(np.float32)  # 1.15x, pitch up
    upload = synth.write(tmp_path / "my-original.mp3", sped_up, rate)  # re-encoded: no manifest
    assert read_credentials(upload, trust_anchors(live_settings)).state == "absent"

    decided = _submit_and_wait(live_settings, es, upload, "it-stripped-sped-up")

    assert decided["generation"]["record"]["generation_id"] == record.generation_id
    assert decided["generation"]["recovered_by"] in ("watermark", "fingerprint")
    assert decided["generation"]["tempo_factor"] == pytest.approx(1.15, rel=0.02)
    decision = decided["decision"]
    assert decision["action"] == "needs_review"
    codes = {r["code"] for r in decision["reasons"]}
    assert {"ai_label", "ai_undeclared"} <= codes
    label = decided["label"]["summary"]
    assert label.startswith("AI remix of 'Glass Harbor' made by clearance-remix v1 on ")
    assert "sped up 1.1" in label


def test_the_signed_file_itself_is_labelled_from_its_credential_without_review(
    live_settings: Settings,
    es: Elasticsearch,
    generated: tuple[GenerationRecord, Path],
    worker: subprocess.Popen[bytes],
) -> None:
    record, path = generated
    decided = _submit_and_wait(live_settings, es, path, "it-signed-remix")
    assert decided["content_credentials"]["state"] == "trusted"
    assert decided["generation"]["recovered_by"] == "manifest"
    assert decided["decision"]["action"] == "label"
    assert decided["label"]["summary"].endswith("found by its Content Credential")
    assert record.generation_id in json.dumps(decided["generation"])


def test_a_file_changed_after_signing_goes_to_review_as_tampered(
    live_settings: Settings,
    es: Elasticsearch,
    generated: tuple[GenerationRecord, Path],
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    _, path = generated
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(4096)  # a stretch of silence spliced in
    tampered = tmp_path / "tampered.wav"
    tampered.write_bytes(bytes(data))
    decided = _submit_and_wait(live_settings, es, tampered, "it-tampered")
    assert decided["content_credentials"]["state"] == "tampered"
    reasons = decided["decision"]["reasons"]
    assert decided["decision"]["action"] == "needs_review"
    assert any(r["code"] == "credentials_tampered" for r in reasons)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_generator_service_gets_its_track_back_marked_and_signed(
    live_settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    generator_key = stores.keys.create("generator", "remix-service")[0]
    ingest_key = stores.keys.create("ingest", "uploads")[0]
    raw = synth.write(tmp_path / "raw.wav", synth.song(seed=4518, seconds=20)).read_bytes()
    meta = {"generator": "clearance-cover", "model_version": 3, "prompt": "a cover"}

    def post(key: str, metadata: dict[str, Any], output_format: str = "mp3") -> Any:
        return client.post(
            "/v1/generations",
            headers=_bearer(key),
            files={"audio": ("raw.wav", raw, "audio/wav")},
            data={"metadata": json.dumps(metadata), "output_format": output_format},
        )

    with TestClient(create_app(live_settings)) as client:
        made = post(generator_key, meta)
        assert made.status_code == 200, made.text
        assert made.headers["content-type"] == "audio/mpeg"
        returned = tmp_path / "returned.mp3"
        returned.write_bytes(made.content)
        read = read_credentials(returned, trust_anchors(live_settings))
        assert read.state == "trusted"
        assert read.generation_id == made.headers["x-generation-id"]
        assert read.digital_source_type == "trainedAlgorithmicMedia"

        shown = client.get(f"/v1/generations/{read.generation_id}", headers=_bearer(generator_key))
        assert shown.status_code == 200
        assert shown.json()["generator"] == "clearance-cover"
        assert shown.json()["watermark_payload"] == (2 << 4) | 3

        assert post(ingest_key, meta).status_code == 403
        unknown = post(generator_key, {**meta, "generator": "someone-elses"})
        assert unknown.status_code == 422 and "someone-elses" in unknown.json()["detail"]
        assert post(generator_key, {**meta, "model_version": 99}).status_code == 422
        assert post(generator_key, meta, output_format="ogg").status_code == 422
        missing = client.get("/v1/generations/gen-nope", headers=_bearer(generator_key))
        assert missing.status_code == 404
        assert client.get("/v1/generations/" + "x" * 300, headers=_bearer(generator_key)).status_code == 404
        assert client.get("/v1/generations/.x", headers=_bearer(generator_key)).status_code == 404
        holder_key = stores.keys.create("rights_holder", "a label", "Some Label")[0]
        assert (
            client.get(f"/v1/generations/{read.generation_id}", headers=_bearer(holder_key)).status_code
            == 403
        )
