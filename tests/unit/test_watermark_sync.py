"""The grid search's signal handling: a band-limited delay by a fraction of a sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors.watermark.sync import GridOffset, delayed, realigned


@pytest.mark.parametrize("hz", [440.0, 3_000.0, 6_500.0])
@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_a_fractional_delay_moves_a_tone_by_that_fraction(hz: float, fraction: float) -> None:
    t = np.arange(16_000, dtype=np.float64)
    tone = torch.from_numpy(np.sin(2 * np.pi * hz * t / 16_000).astype(np.float32))
    expected = np.sin(2 * np.pi * hz * (t - fraction) / 16_000)
    moved = delayed(tone, fraction).numpy()
    assert moved.shape == tone.shape
    assert np.max(np.abs(moved[200:-200] - expected[200:-200])) < 2e-3


def test_no_delay_is_the_audio_itself() -> None:
    audio = torch.randn(1000)
    assert delayed(audio, 0.0) is audio


def test_realigning_drops_the_whole_samples_after_the_delay() -> None:
    audio = torch.arange(1000, dtype=torch.float32)
    grid = GridOffset(whole=37, fraction=0.0, confidence=1.0)
    assert torch.equal(realigned(audio, grid), audio[37:])
    assert grid.samples == 37 and GridOffset(5, 0.5, 1.0).samples == 4.5
