"""The cover print and its alignment: a new performance of a song (other timbres, another key,
another tempo) is found with its transposition and tempo ratio; prints survive their storage."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import synth
from detectors import covers
from detectors.covers import (
    CoverAlignment,
    CoverMatcher,
    CoverParams,
    CoverPrint,
    Floats,
    Judgement,
    Performance,
)
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

    def candidates(self, query: covers.SectionQuery) -> list[str]:
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


def test_a_cover_that_two_songs_explain_alike_on_chroma_is_claimed_by_its_tune() -> None:
    """Two registered songs on one progression: a cover of one (rearranged, its melody an octave
    up, 3 semitones higher) aligns with both over its whole length. On chroma alone neither
    stands out and neither is named (no claim on the wrong song); the lead line names its own."""
    twins = {seed: _print(seed, 60) for seed in (4101, 4102)}
    cover = _print(4102, 45, transpose=3, timbre_seed=9)
    scores = [covers.best_alignment(covers.tempo_variants(cover), p) for p in twins.values()]
    assert all(
        a is not None and a.score > CoverParams().line(len(cover.chroma), with_lead=False) for a in scores
    )
    chroma_only = [
        Performance(_work(s), f"master-{s}", CoverPrint(p.beats, p.chroma)) for s, p in twins.items()
    ]
    assert CoverMatcher(_Everything(chroma_only))(cover, 45.0).matches == []
    with_leads = [Performance(_work(s), f"master-{s}", p) for s, p in twins.items()]
    assert [m.work_id for m in CoverMatcher(_Everything(with_leads))(cover, 45.0).matches] == ["W-4102"]


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


def _tone(pitch: int, seconds: float, loudness: float) -> Floats:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * k * t) / k for k in range(1, 6))
    return (wave * np.minimum(1, t / 0.01) * np.minimum(1, (seconds - t) / 0.02) * loudness).astype(
        np.float32
    )


def _tune_over_held_chords(
    tune: list[int], bars: int, bpm: float = 100.0, transpose: int = 0
) -> tuple[Floats, Floats]:
    """A triad held through each bar (C, G, A minor, F; each chord note as loud as the tune) under
    the tune, one note a half beat, all `transpose` semitones up; and the half beats' boundaries
    (seconds)."""
    step = 60 / bpm / 2
    chords = [[48, 52, 55], [43, 47, 50], [45, 48, 52], [41, 45, 48]]
    audio = np.zeros(int((bars * 8 + 1) * step * RATE), np.float32)
    for bar in range(bars):
        at = int(bar * 8 * step * RATE)
        for pitch in chords[bar % 4]:
            held = _tone(pitch + 12 + transpose, 8 * step, 0.3)
            audio[at : at + len(held)] += held
        for n in range(8):
            note = _tone(tune[(bar * 8 + n) % len(tune)] + transpose, step, 0.3)
            start = at + int(n * step * RATE)
            audio[start : start + len(note)] += note
    return audio, (np.arange(bars * 8 + 1) * step).astype(np.float32)


def test_the_lead_line_is_the_tune_not_the_held_chords() -> None:
    tune = [72, 74, 76, 79, 77, 76, 74, 71, 69, 71, 72, 74, 76, 74, 72, 67]
    audio, steps = _tune_over_held_chords(tune, bars=8)
    lead = covers.lead_line(audio, RATE, steps)
    heard = np.array([tune[i % len(tune)] % 12 for i in range(len(lead))])
    assert len(lead) == len(steps) - 1
    assert np.mean(lead == heard) >= 0.8


TUNE = [72, 74, 76, 79, 77, 76, 74, 71, 69, 71, 72, 74, 76, 74, 72, 67]
OTHER_TUNE = [67, 69, 72, 72, 74, 79, 77, 74, 72, 76, 79, 81, 79, 76, 74, 72]
THIRD_TUNE = [76, 72, 71, 67, 69, 72, 76, 77, 79, 77, 74, 71, 72, 76, 79, 84]


def test_a_cover_is_told_from_a_song_on_the_same_chords_by_its_tune() -> None:
    """Two registered songs on the same chords with other tunes: a cover of one (3 semitones up,
    12 % faster) aligns with both over its whole length. On chroma alone (prints registered
    before the lead line) neither stands out and neither is claimed; the lead line names its song."""
    songs = {1: TUNE, 2: OTHER_TUNE}
    prints = {k: covers.cover_print(_tune_over_held_chords(tune, 24)[0], RATE) for k, tune in songs.items()}
    cover = covers.cover_print(_tune_over_held_chords(TUNE, 20, bpm=112, transpose=3)[0], RATE)
    registered = _Everything([Performance(_work(k), "master", p) for k, p in prints.items()])
    (found,) = CoverMatcher(registered)(cover, 43.0).matches
    assert found.work_id == "W-1" and found.transposition_semitones == 3
    assert found.segments[0].lead_agreement is not None and found.segments[0].lead_agreement > 0.8
    before_leads = [Performance(_work(k), "master", CoverPrint(p.beats, p.chroma)) for k, p in prints.items()]
    assert CoverMatcher(_Everything(before_leads))(cover, 43.0).matches == []


def test_a_stored_lead_line_is_the_lead_line(masters: dict[int, CoverPrint]) -> None:
    original = masters[SONG]
    assert len(original.lead) == len(original.chroma)
    stored = covers.unpack(covers.pack(original), covers.pack_lead(original))
    assert np.array_equal(stored.lead, original.lead)
    assert len(covers.unpack(covers.pack(original)).lead) == 0  # registered before the lead line
    not_pitch_classes = CoverPrint(
        original.beats, original.chroma, np.full(len(original.chroma), 13, np.uint8)
    )
    one_short = CoverPrint(original.beats, original.chroma, original.lead[:-1])
    for broken in (not_pitch_classes, one_short):
        assert len(covers.unpack(covers.pack(original), covers.pack_lead(broken)).lead) == 0
    assert len(covers.unpack(covers.pack(original), "not base64!").lead) == 0


def test_a_song_registered_before_lead_lines_is_not_let_through_by_a_rival_that_has_one() -> None:
    """A third tune on the same chords matches neither registered song. One of them was registered
    before prints had a lead line: its chroma score must not be set against the other's score
    weighed down by their tunes' disagreement (which would let it pass the ratio test)."""
    old, new = (covers.cover_print(_tune_over_held_chords(t, 24)[0], RATE) for t in (TUNE, OTHER_TUNE))
    registered = [
        Performance(_work(1), "master", CoverPrint(old.beats, old.chroma)),
        Performance(_work(2), "master", new),
    ]
    upload = covers.cover_print(_tune_over_held_chords(THIRD_TUNE, 20, bpm=112, transpose=3)[0], RATE)
    old_alone = covers.judged(covers.tempo_variants(upload), registered[0], CoverParams())
    assert old_alone is not None and CoverParams().margin(old_alone, len(upload.chroma)) > 1  # above its line
    assert CoverMatcher(_Everything(registered))(upload, 43.0).matches == []


def test_a_print_without_a_lead_line_is_held_to_the_chroma_only_line() -> None:
    params, steps = CoverParams(), 300
    between = (params.line(steps) + params.line(steps, with_lead=False)) / 2
    empty = CoverPrint(np.zeros(0, np.float32), np.zeros((0, 12), np.float32))
    alignment = CoverAlignment(between, 0, 1.0, 0.0, 60.0, 0.0, 60.0)
    performance = Performance(_work(1), "master", empty)
    assert params.margin(Judgement(performance, alignment, None, between), steps) < 1
    assert params.margin(Judgement(performance, alignment, params.lead_norm, between), steps) > 1


def test_a_stored_lead_line_that_is_no_text_is_left_out(masters: dict[int, CoverPrint]) -> None:
    original = masters[SONG]
    for stored in (None, 12, ["AAAA"], "A" * 10_000_000):
        assert len(covers.unpack(covers.pack(original), stored).lead) == 0
    assert len(covers.unpack(None).chroma) == 0


def test_tune_vectors_do_not_depend_on_the_key(masters: dict[int, CoverPrint]) -> None:
    original = masters[SONG]
    sounding = original.lead != covers.NO_PITCH
    lead = np.where(sounding, (original.lead.astype(np.int64) + 5) % 12, covers.NO_PITCH).astype(np.uint8)
    shifted = CoverPrint(original.beats, np.roll(original.chroma, 5, axis=1), lead)
    tunes, shifted_tunes = covers.tune_vectors(original), covers.tune_vectors(shifted)
    assert len(tunes) == len(covers.section_vectors(original)) > 0
    for (_, a), (_, b) in zip(tunes, shifted_tunes, strict=True):
        assert np.allclose(a, b, atol=1e-5)
        assert len(a) == covers.TUNE_DIMS and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert covers.tune_vectors(CoverPrint(original.beats, original.chroma)) == []


def _nearest(query: list[tuple[float, Floats]], sections: list[tuple[float, Floats]]) -> float:
    return max(float(q @ s) for _, q in query for _, s in sections)


def test_tune_vectors_bring_a_cover_nearer_its_song_than_a_song_on_the_same_chords() -> None:
    """Retrieval, before any alignment, ranks performances by their nearest section: by chroma a
    cover's sections are nearer a song on the same progression than its own; by tune vectors
    its own song comes first."""
    twins = {seed: _print(seed, 60) for seed in (4101, 4102)}
    cover = _print(4102, 45, transpose=3, timbre_seed=9)
    chroma = {s: _nearest(covers.section_vectors(cover), covers.section_vectors(p)) for s, p in twins.items()}
    tunes = {s: _nearest(covers.tune_vectors(cover), covers.tune_vectors(p)) for s, p in twins.items()}
    assert chroma[4101] > chroma[4102]
    assert tunes[4102] > tunes[4101]


def test_every_tempo_reading_keeps_the_lead_line(masters: dict[int, CoverPrint]) -> None:
    original = masters[SONG]
    _, merged, split = covers.tempo_variants(original)
    assert len(merged.lead) == len(merged.chroma) and len(split.lead) == len(split.chroma)
    assert np.array_equal(split.lead[0::2], original.lead)
    pairs = original.lead[: 2 * len(merged.lead)].reshape(-1, 2)
    assert all(pc in pair for pc, pair in zip(merged.lead, pairs, strict=True))
    assert np.mean(merged.lead != covers.NO_PITCH) >= np.mean(original.lead != covers.NO_PITCH)
    tune_less = covers.tempo_variants(CoverPrint(original.beats, original.chroma))
    assert all(len(v.lead) == 0 for v in tune_less)


def test_performances_found_by_tunes_and_by_chroma_alone_take_turns_in_the_shortlist() -> None:
    assert covers.interleaved(["a", "b", "c"], ["x", "a"]) == ["a", "x", "b", "c"]
    assert covers.interleaved([], ["x"]) == ["x"]


def test_a_silent_stretch_has_no_section_and_every_vector_has_a_direction(
    masters: dict[int, CoverPrint],
) -> None:
    """Digital silence inside an upload (a hidden track) gives zero chroma: its sections are
    left out rather than sent to Elasticsearch as vectors it refuses."""
    song = masters[SONG]
    steps = len(song.chroma)
    chroma = song.chroma.copy()
    chroma[steps // 4 : steps // 4 + 2 * covers.PATCH_BEATS * covers.SUBDIVISIONS] = 0.0
    lead = song.lead.copy()
    lead[steps // 4 : steps // 4 + 2 * covers.PATCH_BEATS * covers.SUBDIVISIONS] = covers.NO_PITCH
    hushed = CoverPrint(song.beats, chroma, lead)
    for vectors in (covers.section_vectors(hushed), covers.tune_vectors(hushed)):
        assert 0 < len(vectors) < len(covers.section_vectors(song))
        assert all(np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5) for _, v in vectors)
    assert [s for s, _ in covers.tune_vectors(hushed)] == [s for s, _ in covers.section_vectors(hushed)]
