"""Work the detectors do faster or only once per track gives what it gave before: the upload's
query terms shared by the catalog and the generated-track matchers, the cover print's spectrogram
taken in blocks, loudness gated without pyloudnorm's per-block Python."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest

from corpus import synth
from detectors import covers, modified
from detectors.audio import decode
from detectors.catalog import CatalogMatcher, Recording, query_prints
from detectors.facts import integrated_loudness
from detectors.fingerprint import chromaprint_fingerprint
from detectors.provenance import GenerationFinder
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
    monkeypatch.setattr(covers, "SPECTRUM_BLOCK", 1 << 30)
    at_once = covers._power_spectrogram(y, n_fft)
    assert in_blocks.shape == at_once.shape and np.array_equal(in_blocks, at_once)


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_loudness_is_pyloudnorms_to_the_last_bit(rate: int) -> None:
    rng = np.random.default_rng(rate)
    music = synth.song(seed=14, seconds=6)
    noise = (rng.standard_normal(rate * 5) * 0.1).astype(np.float32)
    half_silent = np.concatenate([np.zeros(rate * 3, np.float32), noise[: rate * 2]])
    for samples in (music, noise, half_silent, noise * 1e-4, np.zeros(rate, np.float32)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))
        assert integrated_loudness(samples, rate) == expected
