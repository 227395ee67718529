"""Basic facts about a track: duration, source format, loudness and peak."""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
import pyloudnorm
import scipy.signal

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
    filters and arithmetic, without its per-block work in Python (each block's samples squared
    anew and summed: here running sums), and its two K-weighting stages run as one cascade of
    second-order sections (one pass over the samples instead of two `lfilter` calls): the same
    value to 1e-9 LU (checked against pyloudnorm)."""
    meter = pyloudnorm.Meter(sample_rate)
    audio = samples.astype(np.float64)
    pyloudnorm.util.valid_audio(audio, sample_rate, meter.block_size)
    stages = list(meter._filters.values())
    sections = np.array([np.concatenate([stage.b, stage.a]) for stage in stages])
    gain = float(np.prod([stage.passband_gain for stage in stages]))
    filtered = gain * scipy.signal.sosfilt(sections, audio)
    block_s, step = meter.block_size, 1.0 - meter.overlap
    blocks = int(np.round((len(filtered) / sample_rate - block_s) / (block_s * step))) + 1
    starts = [int(block_s * (j * step) * sample_rate) for j in range(blocks)]
    ends = [int(block_s * (j * step + 1) * sample_rate) for j in range(blocks)]
    # each block's sum of squares from running sums (in float64 the sums of a three-minute track
    # lose nothing a block's level shows)
    running = np.concatenate([[0.0], np.cumsum(np.square(filtered))])
    power = (running[np.minimum(ends, len(filtered))] - running[starts]) / (block_s * sample_rate)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no block above a gate: -inf, as pyloudnorm
        levels = [-0.691 + 10.0 * np.log10(p) for p in power]
        gated = [j for j, level in enumerate(levels) if level >= ABSOLUTE_GATE_LUFS]
        relative_gate = -0.691 + 10.0 * np.log10(np.mean(power[gated])) - 10.0
        kept = [j for j, level in enumerate(levels) if level > relative_gate and level > ABSOLUTE_GATE_LUFS]
        return float(-0.691 + 10.0 * np.log10(np.nan_to_num(np.mean(power[kept]))))
