"""What happens to a generated track before it comes back: the edits `bench.provenance` applies
to every generated track and every unrelated clip alike. Each returns the path of the file that
is uploaded (only `unchanged` keeps the file, and so its Content Credential)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import signal

from bench.matching.transforms import RATE, pitch_shift, reverb, speed
from corpus import codecs, synth
from detectors.audio import decode

Audio = npt.NDArray[np.float32]
EXCERPT_S = 20.0
MIX_BELOW_DB = 3.0  # the excerpt sits this far under the other music (RMS)
_LOWPASS = signal.butter(8, 5000, "low", fs=RATE, output="sos")


def mono(path: Path) -> Audio:
    return decode(path, sample_rate=RATE, max_seconds=3600).samples


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1e-9


def _normalised(x: Audio) -> Audio:
    return np.asarray(x / max(1.0, float(np.max(np.abs(x)))), dtype=np.float32)


def mixed_excerpt(x: Audio, rng: np.random.Generator, other: Audio) -> Audio:
    """20 s from the middle of `x`, mixed 3 dB under 30 s of other music, 5 s into it."""
    start = max(0, (len(x) - int(EXCERPT_S * RATE)) // 2)
    part = x[start : start + int(EXCERPT_S * RATE)]
    bed = other[: int(30 * RATE)].copy()
    offset = int(5 * RATE)
    gain = _rms(bed) / _rms(part) * 10 ** (-MIX_BELOW_DB / 20)
    bed[offset : offset + len(part)] += part * gain
    return _normalised(bed)


AudioEdit = Callable[[Audio, np.random.Generator, Audio], Audio]
EDITS: dict[str, AudioEdit | None] = {
    "unchanged": None,  # the file itself, Content Credential and all
    "manifest_stripped": lambda x, rng, other: x,
    "mp3_128k": lambda x, rng, other: codecs.mp3_roundtrip(x, RATE, "128k"),
    "sped_up_1.1": lambda x, rng, other: speed(x, 1.1),
    "sped_up_1.25": lambda x, rng, other: speed(x, 1.25),
    "slowed_0.85_reverb": lambda x, rng, other: reverb(speed(x, 0.85)),
    "pitch_+2st": lambda x, rng, other: pitch_shift(x, rng, 2),
    "pitch_-2st": lambda x, rng, other: pitch_shift(x, rng, -2),
    "lowpass_5k": lambda x, rng, other: np.asarray(signal.sosfilt(_LOWPASS, x), dtype=np.float32),
    "excerpt_20s_mixed": mixed_excerpt,
}


def upload_for(
    name: str, source: Path, x: Audio, rng: np.random.Generator, other: Audio, folder: Path
) -> Path:
    """The file uploaded for edit `name` of `source` (decoded as `x`)."""
    edit = EDITS[name]
    if edit is None:
        return source
    return synth.write(folder / f"{name}.flac", _normalised(edit(x, rng, other)), RATE)
