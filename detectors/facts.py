"""Basic facts about a track: duration, source format, loudness and peak."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm

from detectors.audio import DecodedAudio
from model.findings import AudioFacts

NAME = "audio_facts"
VERSION = "1.0.0"

# BS.1770 gating needs at least one 400 ms block.
_MIN_LOUDNESS_SECONDS = 0.4


def audio_facts(audio: DecodedAudio) -> AudioFacts:
    peak = float(np.max(np.abs(audio.samples))) if audio.samples.size else 0.0
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else None
    loudness: float | None = None
    if audio.duration_s >= _MIN_LOUDNESS_SECONDS and peak > 0:
        value = float(
            pyloudnorm.Meter(audio.sample_rate).integrated_loudness(audio.samples.astype(np.float64))
        )
        loudness = value if math.isfinite(value) else None
    return AudioFacts(
        duration_s=round(audio.duration_s, 3),
        source_sample_rate=audio.source.sample_rate,
        source_channels=audio.source.channels,
        codec=audio.source.codec,
        container=audio.source.container,
        loudness_lufs=None if loudness is None else round(loudness, 2),
        peak_dbfs=None if peak_dbfs is None else round(peak_dbfs, 2),
        silent=loudness is None,
    )
