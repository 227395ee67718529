"""How the generation finder ties an upload to a generation record: a trusted manifest's id, else
the generated catalog's fingerprints; a watermark that agrees names the route."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from corpus import synth
from detectors.audio import decode
from detectors.catalog import Recording, decode_items, query_prints, reference_prints
from detectors.fingerprint import chromaprint_fingerprint
from detectors.provenance import GenerationFinder
from model.findings import ContentCredentials, WatermarkDetection
from model.generation import GenerationRecord
from tests.unit.test_catalog_matcher import InMemoryCatalog

RECORD = GenerationRecord(
    generation_id="gen-finder-1",
    generator="clearance-remix",
    model_version=1,
    created_at=datetime(2026, 12, 5, tzinfo=UTC),
    watermark_payload=17,
    digital_source_type="trainedAlgorithmicMedia",
)


class GeneratedCatalog(InMemoryCatalog):
    def __init__(self, recordings: list[Recording]) -> None:
        self.by_isrc = {r.key: r for r in recordings}

    def generation(self, generation_id: str) -> GenerationRecord | None:
        found = self.by_isrc.get(generation_id)
        return found.metadata if found and isinstance(found.metadata, GenerationRecord) else None

    def with_payload(self, payload: int) -> GeneratedCatalog:
        return GeneratedCatalog(
            [r for r in self.by_isrc.values() if getattr(r.metadata, "watermark_payload", None) == payload]
        )


def _decoded(path: Path, samples: np.ndarray) -> object:
    synth.write(path, samples.astype(np.float32))
    return decode(path, 22050, 600)


@pytest.fixture(scope="module")
def finder(tmp_path_factory: pytest.TempPathFactory) -> GenerationFinder:
    folder = tmp_path_factory.mktemp("generated")
    audio = _decoded(folder / "made.wav", synth.song(seed=611, seconds=40))
    prints = reference_prints(audio)  # type: ignore[arg-type]
    recording = Recording.with_peaks(
        RECORD, decode_items(prints.chromaprint.fingerprint), prints.landmarks, prints.peaks
    )
    return GenerationFinder(GeneratedCatalog([recording]))


def _prints(path: Path, samples: np.ndarray):  # type: ignore[no-untyped-def]
    audio = _decoded(path, samples)
    return query_prints(audio, {"chromaprint": chromaprint_fingerprint(audio)})  # type: ignore[arg-type]


def _watermark(payload: int) -> WatermarkDetection:
    return WatermarkDetection(
        model="test",
        detected=True,
        probability=0.99,
        threshold=0.5,
        spans=[],
        watermarked_seconds=30,
        per_second=[],
        payload=payload,
    )


def test_a_sped_up_copy_is_found_by_its_fingerprints(finder: GenerationFinder, tmp_path: Path) -> None:
    sped_up = resample_poly(synth.song(seed=611, seconds=40), 100, 112)
    found = finder(_prints(tmp_path / "up.wav", sped_up), None, None)
    assert found.record == RECORD
    assert found.recovered_by == "fingerprint"
    assert found.modification == "sped_up"
    assert found.tempo_factor == pytest.approx(1.12, rel=0.02)


def test_a_watermark_that_agrees_names_the_route_and_one_that_disagrees_does_not(
    finder: GenerationFinder, tmp_path: Path
) -> None:
    prints = _prints(tmp_path / "copy.wav", synth.song(seed=611, seconds=40))
    assert finder(prints, None, _watermark(17)).recovered_by == "watermark"
    assert finder(prints, None, _watermark(33)).recovered_by == "fingerprint"


def test_only_a_trusted_manifest_is_taken_at_its_word(finder: GenerationFinder, tmp_path: Path) -> None:
    other_song = _prints(tmp_path / "other.wav", synth.song(seed=612, seconds=40))
    trusted = ContentCredentials(state="trusted", generation_id="gen-finder-1")
    forged = ContentCredentials(state="untrusted", generation_id="gen-finder-1")
    assert finder(other_song, trusted, None).recovered_by == "manifest"
    assert finder(other_song, forged, None).record is None  # another song under a self-signed claim
    unknown = ContentCredentials(state="trusted", generation_id="gen-nobody")
    assert finder(other_song, unknown, None).record is None


class BuriedCatalog(GeneratedCatalog):
    """A large catalog where the generation ranks too low to be retrieved, until the search is
    narrowed to its watermark payload."""

    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        return []

    def landmark_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        return [[] for _ in window_terms]

    modified_candidates = landmark_candidates

    def with_payload(self, payload: int) -> GeneratedCatalog:
        return GeneratedCatalog(
            [r for r in self.by_isrc.values() if getattr(r.metadata, "watermark_payload", None) == payload]
        )


def test_a_registered_watermark_narrows_the_search_to_its_generations(
    finder: GenerationFinder, tmp_path: Path
) -> None:
    buried = GenerationFinder(BuriedCatalog(list(finder.lookup.by_isrc.values())))  # type: ignore[attr-defined]
    prints = _prints(tmp_path / "copy.wav", synth.song(seed=611, seconds=40))
    assert buried(prints, None, None).record is None
    found = buried(prints, None, _watermark(17))
    assert found.record == RECORD and found.recovered_by == "watermark"
    assert buried(prints, None, _watermark(33)).record is None  # another generator version's tracks
    unregistered = _watermark(17).model_copy(update={"generator_registered": False})
    assert buried(prints, None, unregistered).record is None
