"""Synthesized music for the demo and the tests: no downloads, deterministic per seed.

Each song is a chord progression (additive-synthesis pads), a bass line, a melody and a drum
pattern, with key, tempo and timbre drawn from the seed, so different seeds give audibly and
spectrally different songs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

SAMPLE_RATE = 44100
_PROGRESSIONS = ([0, 5, 7, 5], [0, 9, 5, 7], [0, 7, 9, 5], [0, 3, 8, 10], [0, 4, 9, 5])
_MAJOR = [0, 2, 4, 5, 7, 9, 11]


def _tone(
    freq: float, duration: float, harmonics: npt.NDArray[np.float64], rate: int
) -> npt.NDArray[np.float64]:
    t = np.arange(int(duration * rate)) / rate
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    attack = np.minimum(1.0, t / 0.02)
    release = np.exp(-3.0 * t / max(duration, 1e-3))
    return np.asarray(wave * attack * release)


def song(
    seed: int,
    seconds: float,
    rate: int = SAMPLE_RATE,
    transpose: int = 0,
    tempo_factor: float = 1.0,
    timbre_seed: int | None = None,
) -> npt.NDArray[np.float32]:
    """The song of `seed`; with `transpose`, `tempo_factor` or `timbre_seed`, a cover of it:
    the same chords and melody in another key, at another tempo; with `timbre_seed` also on
    other instruments and arranged otherwise (broken chords, a walking bass, the melody an octave
    up, half the drums), so no recording fingerprint of the original finds it."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(80, 150)) * tempo_factor
    beat = 60.0 / bpm
    root = 48 + int(rng.integers(0, 12)) + transpose
    progression = _PROGRESSIONS[int(rng.integers(0, len(_PROGRESSIONS)))]
    pad_timbre = rng.uniform(0.1, 1.0, 6) / np.arange(1, 7)
    lead_timbre = rng.uniform(0.1, 1.0, 4) / np.arange(1, 5) ** 1.5
    if timbre_seed is not None:
        other = np.random.default_rng([seed, timbre_seed])
        pad_timbre = other.uniform(0.1, 1.0, 6) / np.arange(1, 7) ** other.uniform(0.5, 2.0)
        lead_timbre = other.uniform(0.1, 1.0, 4) / np.arange(1, 5) ** other.uniform(0.5, 2.5)
    n = int(seconds * rate)
    out = np.zeros(n + rate * 4)

    def midi(note: float) -> float:
        return float(440.0 * 2 ** ((note - 69) / 12))

    bar = 4 * beat
    rearranged = timbre_seed is not None  # a cover plays the same notes another way
    for bar_index in range(int(seconds / bar) + 1):
        start = int(bar_index * bar * rate)
        degree = progression[bar_index % len(progression)]
        chord_notes = [root + degree + i for i in (0, 4 if degree in (0, 5, 7) else 3, 7)]
        if rearranged:  # the chord broken into one note a beat, the bass on every beat
            for step in range(4):
                broken = _tone(midi(chord_notes[step % 3] + (12 if step == 3 else 0)), beat, pad_timbre, rate)
                out[start + int(step * beat * rate) :][: len(broken)] += broken * 0.2
                bass = _tone(midi(root - 12 + degree), beat, np.array([1.0, 0.5]), rate) * 0.25
                out[start + int(step * beat * rate) :][: len(bass)] += bass
        else:
            for pitch in chord_notes:
                chord = _tone(midi(pitch), bar, pad_timbre, rate) * 0.12
                out[start : start + len(chord)] += chord
            bass = _tone(midi(root - 12 + degree), bar / 2, np.array([1.0, 0.5]), rate) * 0.25
            out[start : start + len(bass)] += bass
            out[start + len(bass) : start + 2 * len(bass)] += bass
        for step in range(8):
            note = root + 12 + _MAJOR[int(rng.integers(0, 7))] + (12 if rng.random() < 0.2 else 0)
            note += 12 if rearranged else 0  # the melody sung an octave up
            lead = _tone(midi(note), beat / 2, lead_timbre, rate) * 0.35  # audible enough to tell bars apart
            at = start + int(step * beat / 2 * rate)
            out[at : at + len(lead)] += lead
        for step in range(4):
            at = start + int(step * beat * rate)
            kick_t = np.arange(int(0.15 * rate)) / rate
            kick = np.sin(2 * np.pi * (60 + 80 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * 20) * 0.5
            if not rearranged or step % 2 == 0:
                out[at : at + len(kick)] += kick
            hat = rng.normal(0, 1, int(0.05 * rate)) * np.exp(-np.arange(int(0.05 * rate)) / rate * 80) * 0.05
            hat_at = at + int(beat / 2 * rate)
            if not rearranged:
                out[hat_at : hat_at + len(hat)] += hat
    out = out[:n]
    return (out / max(1e-9, float(np.max(np.abs(out)))) * 0.8).astype(np.float32)


def write(path: Path, samples: npt.NDArray[np.float32], rate: int = SAMPLE_RATE) -> Path:
    """Write audio; the format follows the suffix (.wav, .flac through soundfile; .mp3 through ffmpeg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp3":
        wav = path.with_suffix(".tmp.wav")
        soundfile.write(wav, samples, rate)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k", str(path)], check=True
        )
        wav.unlink()
    else:
        soundfile.write(path, samples, rate)
    return path
