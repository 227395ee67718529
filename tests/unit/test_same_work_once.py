"""Work the detectors do faster or only once per track gives what it gave before: the upload's
query terms shared by the catalog and the generated-track matchers, the cover print's spectrogram
taken in blocks, loudness gated without pyloudnorm's per-block Python."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest

from corpus import synth
from detectors import covers, landmarks, modified, spectrum
from detectors.audio import decode
from detectors.catalog import CatalogMatcher, Recording, query_prints
from detectors.facts import integrated_loudness
from detectors.fingerprint import chromaprint_fingerprint
from detectors.provenance import GenerationFinder
from detectors.voice import mel_spectrogram
from tests.unit.test_catalog_matcher import InMemoryCatalog, recording
from tests.unit.test_generation_finder import RECORD, GeneratedCatalog


def test_the_catalog_and_generation_matchers_make_the_uploads_query_terms_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = decode(synth.write(tmp_path / "upload.wav", synth.song(seed=12, seconds=30)), 22050, 600)
    prints = query_prints(audio, {"chromaprint": chromaprint_fingerprint(audio)})
    made: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        original = getattr(modified, name)

        def made_once_more(*args: Any) -> Any:
            made.append(name)
            return original(*args)

        return made_once_more

    for name in ("query_terms", "query_triplets"):
        monkeypatch.setattr(modified, name, counted(name))
    # another song in each catalog: both matchers align the upload's triplets with it
    master = recording("QZTST0000031", synth.song(seed=15, seconds=30), tmp_path)
    generated = Recording.with_peaks(RECORD, master.items, master.landmarks, master.peaks)
    CatalogMatcher(InMemoryCatalog([master]))(prints)
    assert sorted(made) == ["query_terms", "query_triplets"]
    GenerationFinder(GeneratedCatalog([generated]))(prints, None, None)
    assert sorted(made) == ["query_terms", "query_triplets"]  # nothing made again


@pytest.mark.parametrize("n_fft", [covers.ONSET_N_FFT, covers.N_FFT])
@pytest.mark.parametrize("seconds", [0.05, 1.0, 7.3])
def test_the_cover_spectrogram_in_blocks_is_the_one_taken_at_once(
    n_fft: int, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    y = synth.song(seed=13, seconds=8)[: int(seconds * covers.RATE)]
    in_blocks = covers._power_spectrogram(y, n_fft)
    monkeypatch.setattr(spectrum, "SPECTRUM_BLOCK", 1 << 30)
    at_once = covers._power_spectrogram(y, n_fft)
    assert in_blocks.shape == at_once.shape and np.array_equal(in_blocks, at_once)


@pytest.mark.parametrize(("n_fft", "hop"), [(landmarks.N_FFT, landmarks.HOP), (modified.N_FFT, modified.HOP)])
@pytest.mark.parametrize("seconds", [0.05, 1.0, 7.3])
def test_the_peak_spectrograms_in_blocks_are_the_ones_taken_at_once(
    n_fft: int, hop: int, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = landmarks.resampled(synth.song(seed=13, seconds=8)[: int(seconds * covers.RATE)], covers.RATE)
    in_blocks = landmarks.magnitude_spectrogram(x, n_fft, hop)
    if len(x) < n_fft:
        assert in_blocks.shape == (0, n_fft // 2 + 1)
        return
    window = np.hanning(n_fft).astype(np.float32)
    at_once = np.abs(spectrum.frame_spectra(x, n_fft, hop, window)).astype(np.float32)
    assert in_blocks.shape == at_once.shape and np.array_equal(in_blocks, at_once)


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_loudness_is_pyloudnorms(rate: int) -> None:
    rng = np.random.default_rng(rate)
    music = synth.song(seed=14, seconds=6)
    noise = (rng.standard_normal(rate * 5) * 0.1).astype(np.float32)
    half_silent = np.concatenate([np.zeros(rate * 3, np.float32), noise[: rate * 2]])
    for samples in (music, noise, half_silent, noise * 1e-4, np.zeros(rate, np.float32)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))
        measured = integrated_loudness(samples, rate)
        assert measured == expected or abs(measured - expected) < 1e-9  # -inf for silence


@pytest.mark.parametrize("seconds", [0.02, 0.0251, 3.0, 10.0])
def test_the_voice_checks_mel_spectrogram_is_resemblyzers(seconds: float) -> None:
    from resemblyzer.audio import wav_to_mel_spectrogram

    wav = synth.song(seed=15, seconds=10, rate=16000)[: int(seconds * 16000)]
    expected = wav_to_mel_spectrogram(wav)
    made = mel_spectrogram(wav)
    assert made.shape == expected.shape and made.dtype == np.float32
    assert np.max(np.abs(made - expected)) <= 1e-5 * np.max(expected)


def test_the_recurrence_floors_are_numpys_kth_largest_values() -> None:
    select = covers._kth_largest_compiled()
    rng = np.random.default_rng(16)
    for trial in range(200):
        rows, columns = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        x = rng.standard_normal((rows, columns)).astype(np.float32)
        if trial % 3 == 0:
            x = np.round(x, 1)  # ties
        if trial % 7 == 0:
            x[: rows // 2] = 0.25  # rows of one value
        k = int(rng.integers(1, columns + 1))
        assert np.array_equal(select(x, k), np.partition(x, -k, axis=1)[:, -k])


@pytest.mark.parametrize("seed", [17, 18, 19])
def test_the_cover_prints_tempo_is_librosas(seed: int) -> None:
    import librosa

    y = synth.song(seed=seed, seconds=40, rate=covers.RATE)
    mel = librosa.feature.melspectrogram(S=covers._power_spectrogram(y, covers.ONSET_N_FFT), sr=covers.RATE)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=covers.RATE, hop_length=covers.HOP)
    expected = librosa.feature.tempo(onset_envelope=onset, sr=covers.RATE, hop_length=covers.HOP)
    assert np.array_equal(covers._tempo(onset), expected)
    window = int(librosa.time_to_frames(8.0, sr=covers.RATE, hop_length=covers.HOP))  # tempo's ac_size
    expected_tempogram = librosa.feature.tempogram(
        onset_envelope=onset, sr=covers.RATE, hop_length=covers.HOP, win_length=window
    ).mean(axis=1)
    made = covers._mean_tempogram(onset)
    assert made.shape == expected_tempogram.shape and np.allclose(made, expected_tempogram, atol=1e-6)


def _qmax_by_the_book(
    plot: npt.NDArray[np.bool_], gap_open: float, gap_extend: float
) -> tuple[float, tuple[int, ...]]:
    """Qmax (Serra et al. 2009) over whole score matrices, each cell's path start carried along."""
    n, m = plot.shape
    q = np.zeros((n, m), np.float32)
    start = np.zeros((n, m, 2), np.int64)
    best, where = 0.0, (0, 0, 0, 0)
    for i in range(n):
        for j in range(m):
            value, origin = (1.0 if plot[i, j] else 0.0), (i, j)
            for a, b in ((i - 1, j - 1), (i - 2, j - 1), (i - 1, j - 2)):
                if min(a, b) < 0 or min(i, j) < 1:
                    continue
                if plot[i, j]:
                    step = float(q[a, b]) + 1.0
                else:
                    step = float(q[a, b]) - (gap_open if plot[a, b] else gap_extend)
                if step > value:
                    value, origin = step, (int(start[a, b, 0]), int(start[a, b, 1]))
            q[i, j], start[i, j] = value, origin
            if value > best:
                best, where = value, (*origin, i, j)
    return best, where


def test_the_cover_alignment_is_qmax_by_the_book() -> None:
    rng = np.random.default_rng(20)
    for trial in range(120):
        rows, columns = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        plot = rng.random((rows, columns)) < (0.05, 0.2, 0.5)[trial % 3]
        expected = _qmax_by_the_book(plot, covers.GAP_OPEN, covers.GAP_EXTEND)
        assert covers._qmax(plot, covers.GAP_OPEN, covers.GAP_EXTEND) == expected


def test_a_recurrence_plot_with_nan_similarities_is_numpys() -> None:
    similarity = np.random.default_rng(21).standard_normal((40, 30)).astype(np.float32)
    similarity[3, 4] = np.nan
    ka, kb = int(covers.NEIGHBOURS * 30), int(covers.NEIGHBOURS * 40)
    rows = np.partition(similarity, -ka, axis=1)[:, -ka]
    columns = np.partition(similarity.T, -kb, axis=1)[:, -kb]
    expected = (similarity >= rows[:, None]) & (similarity >= columns[None, :])
    assert np.array_equal(covers._recurrence(similarity), expected)
