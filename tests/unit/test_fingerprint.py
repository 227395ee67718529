from __future__ import annotations

from pathlib import Path

import chromaprint
import numpy as np
import pytest

from corpus import synth
from detectors.audio import decode
from detectors.fingerprint import ITEMS_PER_SECOND, chromaprint_fingerprint


def items(fp: str) -> np.ndarray:
    raw, _ = chromaprint.decode_fingerprint(fp.encode())
    return np.array(raw, dtype=np.int64) & 0xFFFFFFFF


def bit_error_rate(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    xor = (a[:n] ^ b[:n]).astype(np.uint32)
    return float(np.unpackbits(xor.view(np.uint8)).sum()) / (32 * n)


def test_fingerprint_is_deterministic_and_counts_items(song_file: Path) -> None:
    audio = decode(song_file, sample_rate=22050, max_seconds=60)
    first, second = chromaprint_fingerprint(audio), chromaprint_fingerprint(audio)
    assert first == second
    assert first.item_count == len(items(first.fingerprint))
    assert first.item_count == pytest.approx(ITEMS_PER_SECOND * (audio.duration_s - 2.6), rel=0.05)


def test_whole_track_is_fingerprinted_past_120_seconds(tmp_path: Path) -> None:
    path = synth.write(tmp_path / "long.flac", synth.song(seed=3, seconds=150))
    fp = chromaprint_fingerprint(decode(path, sample_rate=22050, max_seconds=600))
    assert fp.duration_s == pytest.approx(150, abs=0.1)
    assert fp.item_count > ITEMS_PER_SECOND * 140


def test_same_song_through_mp3_stays_close_and_different_songs_do_not(tmp_path: Path) -> None:
    samples = synth.song(seed=21, seconds=20)
    clean = chromaprint_fingerprint(decode(synth.write(tmp_path / "a.wav", samples), 22050, 60))
    mp3 = chromaprint_fingerprint(decode(synth.write(tmp_path / "a.mp3", samples), 22050, 60))
    other = chromaprint_fingerprint(
        decode(synth.write(tmp_path / "b.wav", synth.song(seed=22, seconds=20)), 22050, 60)
    )
    assert bit_error_rate(items(clean.fingerprint), items(mp3.fingerprint)) < 0.15
    assert bit_error_rate(items(clean.fingerprint), items(other.fingerprint)) > 0.3
