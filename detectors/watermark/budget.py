"""The watermark's loudness budget: in every 16 ms frame the watermark stays at least a fixed
number of dB below the audio it rides on. Embedding and training apply the same function, so the
quality the model was trained for is the quality users get, and silence stays silent.

The generator's raw output can be any size; only its shape matters, the budget sets its level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FRAME = 256  # 16 ms at 16 kHz
DEFAULT_SNR_DB = 27.0


def _min_pool3(x: torch.Tensor) -> torch.Tensor:
    return -F.max_pool1d(-x, 3, stride=1, padding=1)


def fit_budget(audio: torch.Tensor, watermark: torch.Tensor, snr_db: float = DEFAULT_SNR_DB) -> torch.Tensor:
    """Scale `watermark` (batch x 1 x samples) so each frame sits `snr_db` or more below `audio`.

    The per-frame gain is min-pooled over neighbouring frames before it is interpolated across
    the frame, so the smooth gain curve never exceeds any frame's own limit: the guarantee holds
    sample by sample, and the gain still has no steps that would click.
    """
    samples = audio.shape[-1]
    pad = (-samples) % FRAME
    audio_power = F.avg_pool1d(F.pad(audio, (0, pad)).pow(2), FRAME)
    mark_power = F.avg_pool1d(F.pad(watermark, (0, pad)).pow(2), FRAME)
    allowed = audio_power * 10 ** (-snr_db / 10)
    # clamps, not added epsilons: against a raw output of 1e5 an epsilon would be the budget itself
    gain = (allowed.clamp(min=1e-30) / mark_power.clamp(min=1e-30)).sqrt().clamp(max=1.0)
    gain = F.interpolate(_min_pool3(gain), scale_factor=FRAME, mode="linear", align_corners=False)
    return watermark * gain[..., :samples]
