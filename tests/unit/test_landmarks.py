"""Spectral-peak landmarks: what survives when a master is mixed under another song."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import resample_poly

from corpus import synth
from detectors import landmarks
from detectors.landmarks import Landmarks, align

RATE = synth.SAMPLE_RATE


@cache
def song(seed: int) -> npt.NDArray[np.float32]:
    return synth.song(seed=seed, seconds=90)


@cache
def master(seed: int) -> Landmarks:
    return landmarks.landmarks(song(seed), RATE)


def clip(seed: int, start_s: float, end_s: float) -> npt.NDArray[np.float32]:
    return song(seed)[int(start_s * RATE) : int(end_s * RATE)]


def rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def mixed_at_equal_loudness(
    a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    mix = a + b[: len(a)] * (rms(a) / rms(b[: len(a)]))
    return (mix / np.max(np.abs(mix)) * 0.9).astype(np.float32)


@pytest.mark.parametrize(("start", "length"), [(30.0, 5.0), (12.0, 10.0), (47.5, 20.0)])
def test_an_excerpt_mixed_under_another_song_is_found_where_it_comes_from(
    start: float, length: float
) -> None:
    upload = mixed_at_equal_loudness(clip(1, start, start + length), song(3))
    segments = align(landmarks.landmarks(upload, RATE), master(1))
    assert segments, "the mixed-in master was not found"
    best = max(segments, key=lambda s: s.aligned)
    assert best.reference_start_s - best.upload_start_s == pytest.approx(start, abs=0.1)
    assert best.duration_s >= 0.6 * length


def test_a_stretch_shorter_than_the_minimum_is_not_claimed() -> None:
    upload = mixed_at_equal_loudness(clip(1, 30, 33), song(3))
    assert align(landmarks.landmarks(upload, RATE), master(1)) == []


def test_the_evidence_says_how_much_of_the_masters_peak_pattern_is_there() -> None:
    clean = align(landmarks.landmarks(clip(1, 12, 22), RATE), master(1))
    mixed = align(landmarks.landmarks(mixed_at_equal_loudness(clip(1, 12, 22), song(3)), RATE), master(1))
    assert clean[0].peak_hit_rate > 0.9
    assert 0.3 < mixed[0].peak_hit_rate < clean[0].peak_hit_rate


def test_unrelated_songs_share_no_segment() -> None:
    upload = mixed_at_equal_loudness(clip(2, 10, 40), song(3))
    assert align(landmarks.landmarks(upload, RATE), master(1)) == []


def test_a_medley_finds_each_part_at_its_place() -> None:
    upload = np.concatenate([clip(1, 30, 45), clip(2, 60, 75)])
    marks = landmarks.landmarks(upload, RATE)
    (first,) = align(marks, master(1))
    (second,) = align(marks, master(2))
    assert first.upload_start_s == pytest.approx(0, abs=1.0) and first.upload_end_s == pytest.approx(
        15, abs=1.0
    )
    assert second.upload_start_s == pytest.approx(15, abs=1.0)
    assert second.reference_start_s == pytest.approx(60, abs=1.0)


def test_silence_and_steady_noise_give_no_landmarks_to_match() -> None:
    assert len(landmarks.landmarks(np.zeros(10 * RATE, np.float32), RATE)) == 0
    noise = np.random.default_rng(0).normal(0, 0.1, 10 * RATE).astype(np.float32)
    assert align(landmarks.landmarks(noise, RATE), master(1)) == []


def test_a_loop_of_one_bar_does_not_match_a_song_it_is_not_from() -> None:
    bar = clip(2, 20, 22)
    loop = np.tile(bar, 15)
    assert align(landmarks.landmarks(loop, RATE), master(1)) == []


def test_a_different_sample_rate_finds_the_same_place() -> None:
    excerpt = resample_poly(clip(1, 5, 25), 48_000, RATE).astype(np.float32)
    (segment,) = align(landmarks.landmarks(excerpt, 48_000), master(1))
    assert segment.reference_start_s - segment.upload_start_s == pytest.approx(5, abs=0.1)


def test_packed_landmarks_round_trip() -> None:
    marks = master(1)
    assert len(marks) > 1000
    assert np.array_equal(landmarks.unpack(landmarks.pack(marks)), marks)


def test_retrieval_terms_are_the_same_half_for_upload_and_master() -> None:
    excerpt_terms = set(landmarks.retrieval_terms(landmarks.landmarks(clip(1, 30, 40), RATE)))
    master_terms = set(landmarks.retrieval_terms(master(1)))
    assert len(excerpt_terms & master_terms) >= 0.5 * len(excerpt_terms)
    all_hashes = np.unique(master(1)[:, 0])
    assert 0.35 < len(master_terms) / len(all_hashes) < 0.65


@pytest.mark.parametrize("high", [1 << 21, 1 << 40])
def test_hash_order_is_a_stable_sort_for_narrow_and_wide_keys(high: int) -> None:
    keys = np.random.default_rng(1).integers(0, high, 5000, dtype=np.int64)
    keys[::7] = keys[0]  # many rows of one key
    assert np.array_equal(landmarks.stable_order(keys), np.argsort(keys, kind="stable"))
