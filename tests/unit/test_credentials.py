"""Reading and writing Content Credentials (C2PA) with a development chain made for the test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cli.credentials import write_dev_chain
from corpus import synth
from detectors.credentials import (
    SigningMaterial,
    credentials_from_store,
    manifest_definition,
    read_credentials,
    sign_file,
    sniff_mime,
)
from model.generation import GenerationRecord, ParentWork

RECORD = GenerationRecord(
    generation_id="gen-unit-1",
    generator="clearance-remix",
    model_version=1,
    created_at=datetime(2026, 12, 5, tzinfo=UTC),
    parents=[ParentWork(id="USRC17607839", title="Glass Harbor")],
    watermark_payload=17,
    digital_source_type="compositeWithTrainedAlgorithmicMedia",
)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningMaterial, str]:
    folder = tmp_path_factory.mktemp("chain")
    write_dev_chain(folder / "chain.pem", folder / "key.pem", folder / "root.pem")
    return SigningMaterial.from_files(folder / "chain.pem", folder / "key.pem"), (
        folder / "root.pem"
    ).read_text()


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.write(tmp_path_factory.mktemp("audio") / "plain.wav", synth.song(seed=88, seconds=4))


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
def test_a_signed_file_reads_back_trusted_with_its_claims(
    chain: tuple[SigningMaterial, str], audio: Path, tmp_path: Path, suffix: str
) -> None:
    material, anchors = chain
    source = synth.write(tmp_path / f"plain{suffix}", synth.song(seed=88, seconds=4))
    signed = tmp_path / f"signed{suffix}"
    sign_file(source, signed, manifest_definition(RECORD, "AQAAfingerprint"), material)

    read = read_credentials(signed, anchors)
    assert read.state == "trusted"
    assert read.generation_id == "gen-unit-1"
    assert read.claim_generator == "clearance-remix 1"
    assert read.digital_source_type == "compositeWithTrainedAlgorithmicMedia"
    assert read.declares_ai
    assert [(i.title, i.identifier) for i in read.ingredients] == [("Glass Harbor", "isrc:USRC17607839")]
    assert read_credentials(signed, None).state == "untrusted"  # no anchor: valid, signer unknown


def test_audio_changed_after_signing_is_tampered(
    chain: tuple[SigningMaterial, str], audio: Path, tmp_path: Path
) -> None:
    material, anchors = chain
    signed = tmp_path / "signed.wav"
    sign_file(audio, signed, manifest_definition(RECORD, "AQAAfingerprint"), material)
    data = bytearray(signed.read_bytes())
    start = len(data) // 3  # in the audio samples (the manifest is a chunk of its own)
    data[start : start + 1000] = bytes(1000)
    signed.write_bytes(bytes(data))
    read = read_credentials(signed, anchors)
    assert read.state == "tampered"
    assert "assertion.dataHash.mismatch" in read.failures


def test_files_without_a_manifest_and_hostile_files_read_as_absent(audio: Path, tmp_path: Path) -> None:
    assert read_credentials(audio, None).state == "absent"
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + np.random.default_rng(1).bytes(5000))
    assert read_credentials(garbage, None).state in ("absent", "unreadable")
    ogg = tmp_path / "x.ogg"
    ogg.write_bytes(b"OggS" + bytes(100))
    assert read_credentials(ogg, None).state == "absent"


def test_formats_are_told_by_their_first_bytes_not_their_names() -> None:
    assert sniff_mime(b"RIFF\x10\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff_mime(b"fLaC\x00\x00\x00\x22") == "audio/flac"
    assert sniff_mime(b"ID3\x04\x00\x00\x00\x00") == "audio/mpeg"
    assert sniff_mime(b"\x00\x00\x00\x20ftypM4A ") == "audio/mp4"
    assert sniff_mime(b"OggS\x00\x02") is None
    assert sniff_mime(b"") is None


def test_the_manifest_names_the_record_its_parents_and_both_soft_bindings() -> None:
    manifest = manifest_definition(RECORD, "AQAAfingerprint")
    labels = [a["label"] for a in manifest["assertions"]]
    assert labels.count("c2pa.soft-binding") == 2
    bindings = {
        a["data"]["alg"]: a["data"]["blocks"][0]["value"]
        for a in manifest["assertions"]
        if a["label"] == "c2pa.soft-binding"
    }
    assert bindings["org.clearance.chromaprint"] == "AQAAfingerprint"
    assert bindings["org.clearance.audioseal.16bit"] == "ABE="  # 17 as two bytes
    (action,) = manifest["assertions"][0]["data"]["actions"]
    assert action["digitalSourceType"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert manifest["ingredients"][0]["instance_id"] == "isrc:USRC17607839"


def test_a_manifest_store_of_any_shape_gives_a_finding_not_an_exception() -> None:
    hostile = {
        "active_manifest": "urn:1",
        "manifests": {
            "urn:1": {
                "claim_generator_info": "not a list",
                "assertions": [
                    {"label": "org.clearance.generation", "data": "a string, not an object"},
                    {"label": "c2pa.actions.v2", "data": {"actions": "none"}},
                    "not an assertion",
                ],
                "ingredients": [{"title": 5}, "x"],
                "signature_info": ["not", "a", "dict"],
            }
        },
        "validation_status": [{"code": 7}, "text", {"code": "assertion.dataHash.mismatch"}],
        "validation_state": "Invalid",
    }
    read = credentials_from_store(hostile)
    assert read.state == "tampered"
    assert read.generation_id is None and read.digital_source_type is None
    assert credentials_from_store({"manifests": [], "active_manifest": 3}).state == "untrusted"


def test_corrupted_signed_files_read_as_tampered_unreadable_or_absent(
    chain: tuple[SigningMaterial, str], audio: Path, tmp_path: Path
) -> None:
    material, anchors = chain
    signed = tmp_path / "signed.wav"
    sign_file(audio, signed, manifest_definition(RECORD, "AQAAfingerprint"), material)
    original = signed.read_bytes()
    rng = np.random.default_rng(5)
    mutated = tmp_path / "mutated.wav"
    for _ in range(40):
        data = bytearray(original)
        for position in rng.integers(len(data) - 8192, len(data), size=int(rng.integers(1, 8))):
            data[int(position)] ^= int(rng.integers(1, 256))  # in the manifest chunk at the end
        mutated.write_bytes(bytes(data))
        assert read_credentials(mutated, anchors).state in ("tampered", "unreadable", "absent")
