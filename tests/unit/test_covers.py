"""The cover print and its alignment: a new performance of a song (other timbres, another key,
another tempo) is found with its transposition and tempo ratio; prints survive their storage."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import synth
from detectors import covers
from detectors.covers import CoverMatcher, CoverParams, CoverPrint, Floats, Performance
from model.findings import CompositionMetadata

RATE = 22050
SONG, OTHERS = 4104, (4101, 4103, 4106, 4118)  # five progressions


def _print(seed: int, seconds: float, **cover: float) -> CoverPrint:
    return covers.cover_print(synth.song(seed, seconds, RATE, **cover), RATE)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def masters() -> dict[int, CoverPrint]:
    return {seed: _print(seed, 60) for seed in (SONG, *OTHERS)}


def _work(seed: int) -> CompositionMetadata:
    return CompositionMetadata(work_id=f"W-{seed}", title=f"Song {seed}", writers=["W"], rights_holder="P")


class _Everything:
    """A lookup that shortlists every registered performance (retrieval is not under test)."""

    def __init__(self, performances: list[Performance]) -> None:
        self._performances = performances

    def candidates(self, vectors: list[Floats]) -> list[str]:
        return [p.key for p in self._performances]

    def performances(self, keys: list[str]) -> list[Performance]:
        return [p for p in self._performances if p.key in keys]


def test_a_cover_in_another_key_tempo_and_timbre_is_aligned_with_its_song(
    masters: dict[int, CoverPrint],
) -> None:
    cover = _print(SONG, 45, transpose=-2, tempo_factor=1.1, timbre_seed=5)
    found = {seed: covers.best_alignment(covers.tempo_variants(cover), p) for seed, p in masters.items()}
    best = max(found, key=lambda s: found[s].score if found[s] else 0.0)  # type: ignore[union-attr]
    assert best == SONG
    alignment = found[SONG]
    assert alignment is not None
    assert alignment.transposition == -2
    assert alignment.tempo_factor == pytest.approx(1.1, rel=0.03)
    assert alignment.upload_end_s - alignment.upload_start_s > 30


def test_the_matcher_reports_the_song_its_stretch_and_figures(masters: dict[int, CoverPrint]) -> None:
    lookup = _Everything([Performance(_work(s), f"master-{s}", p) for s, p in masters.items()])
    matcher = CoverMatcher(lookup, CoverParams(line_base=0.0, line_per_step=0.0))
    result = matcher(_print(SONG, 45, transpose=3, timbre_seed=9), 45.0)
    assert not result.too_short
    top = result.matches[0]
    assert top.work_id == f"W-{SONG}"
    assert top.transposition_semitones == 3
    (segment,) = top.segments
    assert segment.method == "composition" and segment.performance == f"master-{SONG}"
    assert 0 < top.share_of_upload <= 1


def test_a_cover_that_two_songs_explain_alike_is_claimed_for_neither() -> None:
    """Two registered songs on one progression: a cover of one aligns with both over its whole
    length; unless its song stands out, neither is named (no claim on the wrong song)."""
    twins = {seed: _print(seed, 60) for seed in (4101, 4102)}
    lookup = _Everything([Performance(_work(s), f"master-{s}", p) for s, p in twins.items()])
    cover = _print(4102, 45, transpose=3, timbre_seed=9)
    scores = [covers.best_alignment(covers.tempo_variants(cover), p) for p in twins.values()]
    assert all(a is not None and a.score > CoverParams().line(len(cover.chroma)) for a in scores)
    assert CoverMatcher(lookup)(cover, 45.0).matches == []


def test_too_short_an_upload_is_not_compared() -> None:
    matcher = CoverMatcher(_Everything([]))
    result = matcher(_print(SONG, 5), 5.0)
    assert result.too_short and result.matches == []


def test_a_stored_print_is_the_print(masters: dict[int, CoverPrint]) -> None:
    original = masters[SONG]
    stored = covers.unpack(covers.pack(original))
    assert np.allclose(stored.beats, original.beats, atol=0.001)
    assert np.allclose(stored.chroma, original.chroma, atol=0.02)
    assert covers.unpack("not base64 of a print!").chroma.shape == (0, 12)


def test_section_vectors_do_not_depend_on_the_key(masters: dict[int, CoverPrint]) -> None:
    original = masters[SONG]
    shifted = CoverPrint(original.beats, np.roll(original.chroma, 5, axis=1))
    for (_, a), (_, b) in zip(covers.section_vectors(original), covers.section_vectors(shifted), strict=True):
        assert np.allclose(a, b, atol=1e-5)
        assert len(a) == covers.VECTOR_DIMS


def _steady(step_s: float, steps: int) -> CoverPrint:
    rng = np.random.default_rng(7)
    chroma = rng.random((steps, 12)).astype(np.float32)
    beats = (np.arange(steps + 1) * step_s).astype(np.float32)
    return CoverPrint(beats, chroma)


@pytest.mark.parametrize("upload_step_s", [0.25, 0.3, 0.21])
def test_only_the_tempo_reading_at_the_references_pace_is_aligned(upload_step_s: float) -> None:
    reference = _steady(0.25, 200)
    variants = covers.tempo_variants(_steady(upload_step_s, 400))
    kept = covers.paced_like(variants, reference)
    assert [id(v) for v in kept] == [id(variants[0])]  # the readings at half and twice the pace are left out


def test_a_reading_between_two_paces_is_aligned_beside_the_nearest() -> None:
    reference = _steady(0.25, 200)
    variants = covers.tempo_variants(_steady(0.36, 400))  # 1.44x slower: its doubled reading is 1.39x faster
    kept = covers.paced_like(variants, reference)
    assert [id(v) for v in kept] == [id(variants[0]), id(variants[2])]
