"""The speed stage's view: a tone moves in pitch with the speed, and the mask follows the audio."""

from __future__ import annotations

import numpy as np
import torch

from detectors.watermark.architecture import SAMPLE_RATE
from training.watermark.speed import sped, speed_view


def _peak_hz(x: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(x.numpy() * np.hanning(x.shape[-1])))
    return float(np.fft.rfftfreq(x.shape[-1], 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


def test_played_faster_a_tone_rises_and_the_audio_shortens_by_the_same_factor() -> None:
    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = torch.sin(2 * torch.pi * 1000.0 * t)
    for percent in (-10, -5, 5, 10):
        faster = sped(tone, percent)
        assert abs(faster.shape[-1] - SAMPLE_RATE * 100 / (100 + percent)) <= 1
        assert abs(_peak_hz(faster) - 1000.0 * (100 + percent) / 100) < 5.0


def test_the_mask_follows_the_audio_at_each_item_s_own_speed_and_start() -> None:
    audio = torch.zeros(2, 1, SAMPLE_RATE)
    mask = torch.zeros(2, 1, SAMPLE_RATE)
    audio[:, :, SAMPLE_RATE // 2 :] = 1.0  # the second half is "marked" and loud
    mask[:, :, SAMPLE_RATE // 2 :] = 1.0
    views, masks = speed_view(audio, mask, percents=[10, -10], starts=[0, 1000], length=14_080)
    assert views.shape == masks.shape == (2, 1, 14_080)
    for view, view_mask in zip(views, masks, strict=True):
        inside = view_mask[0] > 0.5
        assert 0 < int(inside.sum()) < 14_080
        assert view[0][inside].mean() > 0.9 and view[0][~inside].abs().mean() < 0.1
    # the marked half starts at sample 8,000: played 10 % faster it starts at 8,000 / 1.1 in the
    # view; 10 % slower, at 8,000 / 0.9 less the view's start
    first_marked = [int(torch.nonzero(m[0]).min()) for m in masks]
    assert abs(first_marked[0] - 8000 / 1.1) <= 3
    assert abs(first_marked[1] - (8000 / 0.9 - 1000)) <= 3
