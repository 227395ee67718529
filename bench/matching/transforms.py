"""What happens to audio between a master and an upload: re-encoding, gain, noise, filtering,
mixing under another song, tempo change. Input and output: mono float32 at 44.1 kHz."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
from scipy import signal

from corpus import codecs

RATE = 44100
Audio = npt.NDArray[np.float32]


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1e-9


def _tempo(x: Audio, factor: float) -> Audio:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        soundfile.write(src, x, RATE)
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-i",
                str(src),
                "-filter:a",
                f"atempo={factor}",
                str(dst),
            ],
            check=True,
        )
        out, _ = soundfile.read(dst, dtype="float32")
    return np.asarray(out, dtype=np.float32)


def clean(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return x


def mp3_128k(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return codecs.mp3_roundtrip(x, RATE, "128k")


def gain_minus_10db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return (x * 10 ** (-10 / 20)).astype(np.float32)


def noise_20db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    noise = rng.normal(0.0, _rms(x) / 10 ** (20 / 20), len(x))
    return (x + noise).astype(np.float32)


_LOWPASS = signal.butter(8, 4000, "low", fs=RATE, output="sos")


def lowpass_4k(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    filtered: Audio = np.asarray(signal.sosfilt(_LOWPASS, x), dtype=np.float32)
    return filtered


def mixed_0db(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    """Mixed under another (never registered) song at equal loudness (RMS)."""
    other = other[: len(x)]
    if len(other) < len(x):
        other = np.pad(other, (0, len(x) - len(other)))
    mix = x + other * (_rms(x) / _rms(other))
    return (mix / max(1.0, float(np.max(np.abs(mix))))).astype(np.float32)


def tempo_plus_2pct(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    return _tempo(x, 1.02)


TRANSFORMS: dict[str, Callable[[Audio, np.random.Generator, Audio], Audio]] = {
    "clean": clean,
    "mp3_128k": mp3_128k,
    "gain_-10db": gain_minus_10db,
    "noise_20db": noise_20db,
    "lowpass_4k": lowpass_4k,
    "mixed_0db": mixed_0db,
    "tempo_+2pct": tempo_plus_2pct,
}
