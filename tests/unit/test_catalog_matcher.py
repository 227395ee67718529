"""The catalog matcher's combination of the three fingerprints, over a small in-memory catalog
(the Elasticsearch-backed lookup has its own integration tests)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import resample_poly

from corpus import synth
from detectors import catalog as catalog_module
from detectors import landmarks, modified
from detectors.audio import decode
from detectors.catalog import CatalogMatcher, Recording, decode_items, longest_segment
from detectors.fingerprint import chromaprint_fingerprint
from model.findings import CatalogMatch, RecordingMetadata

RATE = synth.SAMPLE_RATE


class InMemoryCatalog:
    """Every recording is a candidate: the matcher's own rules decide."""

    def __init__(self, recordings: list[Recording]) -> None:
        self.by_isrc = {r.metadata.isrc: r for r in recordings}

    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        return list(self.by_isrc)

    def landmark_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        return [list(self.by_isrc) for _ in window_terms]

    def modified_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        return [list(self.by_isrc) for _ in window_terms]

    def recordings(self, isrcs: list[str]) -> list[Recording]:
        return [self.by_isrc[i] for i in isrcs]


@cache
def song(seed: int) -> npt.NDArray[np.float32]:
    return synth.song(seed=seed, seconds=90)


def mixed(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    b = b[: len(a)] * np.sqrt(np.mean(a**2) / np.mean(b[: len(a)] ** 2))
    out = a + b
    scaled: npt.NDArray[np.float32] = (out / np.max(np.abs(out)) * 0.9).astype(np.float32)
    return scaled


def match(catalog: InMemoryCatalog, samples: npt.NDArray[np.float32], folder: Path) -> CatalogMatch:
    path = folder / "upload.wav"
    synth.write(path, samples)
    audio = decode(path, 22050, 600)
    items = decode_items(chromaprint_fingerprint(audio).fingerprint)
    return CatalogMatcher(catalog).match(
        items,
        landmarks.landmarks(audio.samples, audio.sample_rate),
        modified.upload_peaks(audio.samples, audio.sample_rate),
    )


def recording(isrc: str, samples: npt.NDArray[np.float32], folder: Path) -> Recording:
    path = folder / f"{isrc}.wav"
    synth.write(path, samples)
    audio = decode(path, 22050, 600)
    meta = RecordingMetadata(isrc=isrc, title=isrc, artists=["A"], rights_holder="Label")
    return Recording.with_peaks(
        meta,
        decode_items(chromaprint_fingerprint(audio).fingerprint),
        landmarks.landmarks(audio.samples, audio.sample_rate),
        modified.reference_peaks(audio.samples, audio.sample_rate),
    )


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> InMemoryCatalog:
    folder = tmp_path_factory.mktemp("catalog")
    # the second master is a remix that contains 30 s of the first under another song
    remix = mixed(song(1)[20 * RATE : 50 * RATE], song(3))
    return InMemoryCatalog(
        [recording("QZTST0000001", song(1), folder), recording("QZTST0000002", remix, folder)]
    )


def test_a_master_mixed_under_another_song_is_found_by_its_landmarks(
    catalog: InMemoryCatalog, tmp_path: Path
) -> None:
    result = match(catalog, mixed(song(1)[60 * RATE : 72 * RATE], song(4)), tmp_path)
    (found,) = result.matches
    assert found.isrc == "QZTST0000001"
    assert {s.method for s in found.segments} == {"landmarks"}
    assert found.segments[0].reference_start_s - found.segments[0].upload_start_s == pytest.approx(
        60, abs=0.1
    )
    assert found.segments[0].peak_hit_rate is not None and found.segments[0].peak_hit_rate > 0.3


def test_a_clean_copy_is_not_also_credited_to_a_recording_that_contains_it(
    catalog: InMemoryCatalog, tmp_path: Path
) -> None:
    result = match(catalog, song(1)[25 * RATE : 40 * RATE], tmp_path)
    assert [m.isrc for m in result.matches] == ["QZTST0000001"]
    assert {s.method for s in result.matches[0].segments} == {"chromaprint"}


def test_a_sped_up_copy_is_found_as_modified_with_its_factors(
    catalog: InMemoryCatalog, tmp_path: Path
) -> None:
    # from outside the stretch the remix holds; 25 s of the master played 1.25x as fast: 20 s
    upload = resample_poly(song(1)[55 * RATE : 80 * RATE], 1000, 1250).astype(np.float32)
    result = match(catalog, upload, tmp_path)
    assert [m.isrc for m in result.matches] == ["QZTST0000001"]
    found = result.matches[0]
    assert {s.method for s in found.segments} == {"modified"}
    assert found.modification == "sped_up"
    assert found.tempo_factor == pytest.approx(1.25, rel=0.015)
    assert found.pitch_shift_semitones == pytest.approx(3.86, abs=0.3)
    assert found.seconds_matched >= 16
    assert found.segments[0].reference_start_s == pytest.approx(
        55 + 1.25 * found.segments[0].upload_start_s, abs=0.5
    )


def test_a_copy_as_registered_is_never_called_modified(catalog: InMemoryCatalog, tmp_path: Path) -> None:
    result = match(catalog, song(1)[25 * RATE : 40 * RATE], tmp_path)
    assert all(s.method != "modified" for m in result.matches for s in m.segments)
    assert result.matches[0].modification == "none" and result.matches[0].tempo_factor is None


class RankedPerWindow(InMemoryCatalog):
    """Landmark and triplet indices that rank each recording for the query windows given (window
    i covers 7.5 i to 7.5 i + 15 s of the upload); Chromaprint's ranks none."""

    def __init__(self, recordings: list[Recording], ranked_for: dict[str, set[int]]) -> None:
        super().__init__(recordings)
        self.ranked_for = ranked_for

    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        return []

    def landmark_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        return [
            [isrc for isrc, windows in self.ranked_for.items() if i in windows]
            for i in range(len(window_terms))
        ]

    modified_candidates = landmark_candidates


def test_a_candidate_ranked_by_chance_in_a_long_upload_is_screened_before_alignment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = resample_poly(song(1)[55 * RATE : 80 * RATE], 1000, 1250).astype(np.float32)  # 20 s at 1.25x
    upload = np.concatenate([song(7)[: 50 * RATE], hook, song(7)[50 * RATE : 70 * RATE]])
    master = recording("QZTST0000011", song(1), tmp_path)
    other = recording("QZTST0000012", np.ascontiguousarray(song(6)[::-1]), tmp_path)
    catalog = RankedPerWindow(
        [master, other],
        # the master only for the window in the middle of its hook, the other recording (a song
        # played backwards: no tempo maps it onto music) for the opening windows, where nothing
        # of it plays
        ranked_for={"QZTST0000011": {7}, "QZTST0000012": {0, 1, 2}},
    )
    aligned_with: list[Any] = []  # every reference print aligned with

    def counted(module: Any, name: str, reference_at: int) -> None:
        original = getattr(module, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            aligned_with.append(args[reference_at])
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    counted(catalog_module, "align", 1)  # Chromaprint
    counted(landmarks, "align", 1)
    counted(modified, "align", 3)
    result = match(catalog, upload, tmp_path)
    (found,) = result.matches
    assert found.isrc == "QZTST0000011" and found.modification == "sped_up"
    assert result.candidates_considered == 2
    segment = longest_segment(found.segments)
    assert segment.upload_start_s == pytest.approx(50, abs=1.5)
    assert segment.upload_end_s == pytest.approx(70, abs=1.5)
    assert any(reference is master.triplets for reference in aligned_with)
    for print_of_the_other in (other.items, other.landmarks, other.triplets):
        assert all(reference is not print_of_the_other for reference in aligned_with)  # none aligned it


class AlsoRankedByChromaprint(RankedPerWindow):
    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        return list(self.by_isrc)


def test_a_recording_matched_elsewhere_is_searched_for_modified_stretches_over_the_whole_upload(
    tmp_path: Path,
) -> None:
    hook = resample_poly(song(1)[55 * RATE : 80 * RATE], 1000, 1250).astype(np.float32)  # 20 s at 1.25x
    upload = np.concatenate([song(1)[: 40 * RATE], np.zeros(40 * RATE, np.float32), hook])
    # the quad index searches the windows Chromaprint left unexplained (30-45 s, 37.5-52.5 s, ...)
    # and ranks the master only for the fourth, 52.5-67.5 s: silence, far from the hook
    catalog = AlsoRankedByChromaprint([recording("QZTST0000011", song(1), tmp_path)], {"QZTST0000011": {3}})
    result = match(catalog, upload, tmp_path)
    (found,) = result.matches
    assert result.candidates_considered == 1
    by_method = {s.method: s for s in found.segments}
    assert by_method["chromaprint"].upload_end_s == pytest.approx(40, abs=1.5)
    hook_found = by_method["modified"]
    assert hook_found.upload_start_s == pytest.approx(80, abs=1.5)
    assert hook_found.upload_end_s == pytest.approx(100, abs=1.5)
    assert hook_found.tempo_factor == pytest.approx(1.25, rel=0.015)
