"""Edits between a watermarked track and the detector, on 16 kHz mono audio. MP3 is encoded at
44.1 kHz, as a real upload would be; filters are sharp windowed-sinc FIRs, not gentle biquads."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
import torchaudio.functional as AF
from scipy import signal

from corpus import codecs

RATE = 16_000
Audio = npt.NDArray[np.float32]
Transform = Callable[[Audio, np.random.Generator, Audio], Audio]


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1e-9


def _resample(x: Audio, source: int, target: int) -> Audio:
    return np.asarray(AF.resample(torch.from_numpy(np.ascontiguousarray(x)), source, target).numpy())


def _mp3(x: Audio, bitrate: str) -> Audio:
    at_44k = _resample(x, RATE, 44_100)
    return _resample(codecs.mp3_roundtrip(at_44k, 44_100, bitrate), 44_100, RATE)[: x.shape[0]]


def _fir(x: Audio, cutoff: float, pass_zero: bool) -> Audio:
    taps = signal.firwin(511, cutoff, fs=RATE, pass_zero=pass_zero)
    return np.asarray(signal.fftconvolve(x, taps, mode="same"), dtype=np.float32)


def clean(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return x


def mp3_128k(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _mp3(x, "128k")


def mp3_64k(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _mp3(x, "64k")


def resample_44k(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _resample(_resample(x, RATE, 44_100), 44_100, RATE)[: x.shape[0]]


def gain_minus_10db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return np.asarray(x * 10 ** (-10 / 20), dtype=np.float32)


def _noise(x: Audio, rng: np.random.Generator, snr_db: float) -> Audio:
    noise = rng.standard_normal(x.shape[0]) * _rms(x) * 10 ** (-snr_db / 20)
    return np.asarray(x + noise, dtype=np.float32)


def noise_30db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _noise(x, rng, 30.0)


def noise_20db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _noise(x, rng, 20.0)


def lowpass_5k(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _fir(x, 5000.0, pass_zero=True)


def highpass_500(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _fir(x, 500.0, pass_zero=False)


def crop_50pct(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    quarter = x.shape[0] // 4
    return x[quarter : x.shape[0] - quarter]


def trim_start(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    """Up to 45 ms cut from the start at 44.1 kHz, as an editor or a re-encode with other
    priming may: the watermark no longer starts on the detector's frame grid."""
    at_44k = _resample(x, RATE, 44_100)
    cut = int(rng.integers(1, 2_000))
    return _resample(at_44k[cut:], 44_100, RATE)


def speed_up_5pct(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    """Played 5 % faster, pitch and tempo together (a "sped up" re-upload)."""
    return _resample(x, RATE * 105 // 100, RATE)


def tempo_5pct(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    """5 % faster at the same pitch (ffmpeg's time stretch)."""
    return codecs.ffmpeg_filtered(x, RATE, "atempo=1.05")


def mixed_0db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    """Under another (unwatermarked) piece of music at the same loudness."""
    bed = np.resize(other, x.shape[0])
    return np.asarray(x + bed / _rms(bed) * _rms(x), dtype=np.float32)


TRANSFORMS: dict[str, Transform] = {
    "clean": clean,
    "mp3_128k": mp3_128k,
    "mp3_64k": mp3_64k,
    "resample_44k": resample_44k,
    "gain_-10db": gain_minus_10db,
    "noise_30db": noise_30db,
    "noise_20db": noise_20db,
    "lowpass_5k": lowpass_5k,
    "highpass_500": highpass_500,
    "crop_50pct": crop_50pct,
    "trim_start": trim_start,
    "mixed_0db": mixed_0db,
    "speed_up_5pct": speed_up_5pct,
    "tempo_5pct": tempo_5pct,
}
