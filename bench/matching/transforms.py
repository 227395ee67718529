"""What happens to audio between a master and an upload: re-encoding, gain, noise, filtering,
mixing under another song, tempo change; and the speed, tempo and key edits fans make (`EDITS`).
Input and output: mono float32 at 44.1 kHz."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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


# ------------------------------------------------------------------ speed, tempo and key edits
#
# Two engines, so that nothing is tuned to one engine's artefacts: Rubber Band (through
# pedalboard, what most editors and generators use) and librosa's phase vocoder. Which one edits
# a query is drawn from the query's own random generator. Resampling ("sped up", "slowed") needs
# no engine: it is exact.


def _engine_is_rubberband(rng: np.random.Generator) -> bool:
    return bool(rng.integers(0, 2) == 0)


def pitch_shift(x: Audio, rng: np.random.Generator, semitones: float) -> Audio:
    if _engine_is_rubberband(rng):
        import pedalboard

        out = pedalboard.PitchShift(semitones=semitones)(x[None, :], RATE)[0]
    else:
        import librosa

        out = librosa.effects.pitch_shift(x, sr=RATE, n_steps=semitones)
    return np.asarray(out, dtype=np.float32)


def time_stretch(x: Audio, rng: np.random.Generator, factor: float) -> Audio:
    """Played `factor` times as fast, pitch kept."""
    if _engine_is_rubberband(rng):
        import pedalboard

        out = pedalboard.time_stretch(x[None, :], RATE, stretch_factor=factor)[0]
    else:
        import librosa

        out = librosa.effects.time_stretch(x, rate=factor)
    return np.asarray(out, dtype=np.float32)


def speed(x: Audio, factor: float) -> Audio:
    """Played `factor` times as fast by resampling: pitch and tempo together."""
    steps = 1000
    out: Audio = signal.resample_poly(x, steps, round(steps * factor)).astype(np.float32)
    return out


def reverb(x: Audio) -> Audio:
    """A long hall reverb, as "slowed + reverb" edits add."""
    import pedalboard

    hall = pedalboard.Reverb(room_size=0.85, damping=0.4, wet_level=0.35, dry_level=0.8)
    out = np.asarray(hall(x[None, :], RATE)[0], dtype=np.float32)
    peak = max(1.0, float(np.max(np.abs(out))))
    return np.asarray(out / peak, dtype=np.float32)


@dataclass(frozen=True)
class Edit:
    """A speed, tempo or key edit: the tempo factor and pitch shift it makes (the truth the
    estimates are checked against) and how to make it."""

    tempo: float
    semitones: float
    apply: Callable[[Audio, np.random.Generator], Audio]


def _pitch(semitones: float) -> Edit:
    return Edit(1.0, semitones, lambda x, rng: pitch_shift(x, rng, semitones))


def _stretch(factor: float) -> Edit:
    return Edit(factor, 0.0, lambda x, rng: time_stretch(x, rng, factor))


def _speed(factor: float) -> Edit:
    return Edit(factor, 12 * float(np.log2(factor)), lambda x, rng: speed(x, factor))


EDITS: dict[str, Edit] = {
    "pitch_+1st": _pitch(1),
    "pitch_-2st": _pitch(-2),
    "pitch_+3st": _pitch(3),
    "pitch_-4st": _pitch(-4),
    "pitch_+6st": _pitch(6),
    "tempo_0.85": _stretch(0.85),
    "tempo_1.15": _stretch(1.15),
    "speed_0.8": _speed(0.8),
    "speed_0.9": _speed(0.9),
    "speed_1.1": _speed(1.1),
    "speed_1.25": _speed(1.25),
    "speed_1.35": _speed(1.35),
    "slowed_0.85_reverb": Edit(0.85, 12 * float(np.log2(0.85)), lambda x, rng: reverb(speed(x, 0.85))),
    "sped_up_1.2_mp3_128k": Edit(
        1.2, 12 * float(np.log2(1.2)), lambda x, rng: codecs.mp3_roundtrip(speed(x, 1.2), RATE, "128k")
    ),
}


def instrumental_under_new_vocal(
    instrumental: Audio, vocal: Audio, rng: np.random.Generator, semitones: float
) -> Audio:
    """The commonest AI cover: the master's instrumental (its lead left out) under a new vocal
    line at equal loudness, the whole shifted by `semitones` to suit the new voice."""
    n = min(len(instrumental), len(vocal))
    mix = instrumental[:n] + vocal[:n] * (_rms(instrumental[:n]) / _rms(vocal[:n]))
    mix = (mix / max(1.0, float(np.max(np.abs(mix))))).astype(np.float32)
    return pitch_shift(mix, rng, semitones) if semitones else mix


# cell -> the shift applied to instrumental and vocal together
STEM_EDITS: dict[str, float] = {"instrumental_new_vocal": 0.0, "instrumental_new_vocal_+2st": 2.0}
