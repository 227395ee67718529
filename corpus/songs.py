"""Songs for the benchmark: generated as General MIDI and rendered with fluidsynth and Debian's
FluidR3 soundfont. Each seed draws its own tempo, key, scale, chord progressions, instruments,
melody, bass and drum pattern, so songs differ the way a catalog's do (and share what real
music shares: common progressions, timbres and grooves)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Literal

import mido
import numpy as np
import numpy.typing as npt
import pyloudnorm
import soundfile

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TARGET_LUFS = -16.0  # a static gain, as mastering would leave it; dynamics untouched
TICKS = 480
SCALES = {
    "major": [0, 2, 4, 5, 7, 9, 11],
    "minor": [0, 2, 3, 5, 7, 8, 10],
    "dorian": [0, 2, 3, 5, 7, 9, 10],
    "mixolydian": [0, 2, 4, 5, 7, 9, 10],
}
PROGRESSIONS = [
    [0, 4, 5, 3],
    [0, 5, 3, 4],
    [5, 3, 0, 4],
    [0, 3, 4, 4],
    [1, 4, 0, 0],
    [0, 6, 5, 4],
    [0, 2, 3, 4],
    [3, 4, 2, 5],
]
HARMONY = [0, 1, 2, 4, 5, 6, 7, 16, 19, 24, 25, 26, 27, 46, 48, 49, 50, 52, 88, 89, 90, 91]
LEADS = [0, 4, 11, 12, 13, 22, 24, 27, 40, 41, 56, 57, 60, 64, 65, 66, 68, 71, 73, 75, 80, 81, 82, 84]
BASSES = [32, 33, 34, 35, 36, 38, 39, 43]
DRUM_PATTERNS = [  # (kick steps, snare steps, hat steps) over 16 sixteenths
    ([0, 8], [4, 12], list(range(0, 16, 2))),
    ([0, 6, 8], [4, 12], list(range(16))),
    ([0, 10], [4, 12], list(range(0, 16, 2))),
    ([0, 3, 8, 11], [4, 12], list(range(0, 16, 4))),
    ([0], [8], list(range(0, 16, 2))),
]


def _note_events(track: mido.MidiTrack, channel: int, notes: list[tuple[int, int, int, int]]) -> None:
    """notes: (start_tick, duration_ticks, pitch, velocity) -> delta-timed note on/off messages."""
    events = []
    for start, duration, pitch, velocity in notes:
        events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append(
            (start + duration, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        )
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick


VOICES = [52, 53, 54, 85]  # choir aahs, voice oohs, synth voice, lead 6 (voice)
Variant = Literal["full", "instrumental", "new_vocal"]


def make_song(seed: int, seconds: float, variant: Variant = "full") -> mido.MidiFile:
    """The song of `seed`. "instrumental": without its lead (the stem an AI cover keeps);
    "new_vocal": only a new top line, another melody over the same chords and tempo sung by a
    voice patch (what a cover puts over the instrumental). The other parts are the same notes in
    every variant."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(72, 160))
    root = 48 + int(rng.integers(0, 12))
    scale = SCALES[list(SCALES)[int(rng.integers(0, len(SCALES)))]]
    verse, chorus = (PROGRESSIONS[int(i)] for i in rng.choice(len(PROGRESSIONS), 2, replace=False))
    bar = 4 * TICKS
    bars = int(seconds / (4 * 60 / bpm)) + 1
    song = mido.MidiFile(ticks_per_beat=TICKS)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    song.tracks.append(meta)

    def pitch(degree: int, octave: int = 0) -> int:
        return root + 12 * (octave + degree // 7) + scale[degree % 7]

    parts: dict[int, list[tuple[int, int, int, int]]] = {0: [], 1: [], 2: [], 3: [], 9: []}
    programs = {
        0: int(rng.choice(HARMONY)),
        1: int(rng.choice(LEADS)),
        2: int(rng.choice(BASSES)),
        3: int(rng.choice(HARMONY)),
    }
    motif = [int(d) for d in rng.integers(0, 8, 8)]
    rhythm = rng.choice([1, 2, 2, 4], 8) * (TICKS // 2)
    singer = np.random.default_rng(seed + 1_000_003)  # the new vocal's own choices
    sung_motif = [int(d) for d in singer.integers(0, 8, 8)]
    sung_rhythm = singer.choice([2, 2, 4, 4], 8) * (TICKS // 2)
    programs[4] = int(singer.choice(VOICES))
    parts[4] = []
    kick, snare, hats = DRUM_PATTERNS[int(rng.integers(0, len(DRUM_PATTERNS)))]
    arpeggio = bool(rng.random() < 0.6)
    for b in range(bars):
        section = verse if (b // 8) % 2 == 0 else chorus
        degree = section[b % len(section)]
        start = b * bar
        for interval in (0, 2, 4):
            parts[0].append((start, bar - 10, pitch(degree + interval), 70))
        parts[2].append((start, bar // 2 - 10, pitch(degree, -1), 90))
        parts[2].append(
            (start + bar // 2, bar // 2 - 10, pitch(degree + (4 if rng.random() < 0.5 else 0), -1), 85)
        )
        top = [pitch(degree + step, 1) for step in range(8)]  # the motif's steps, in this bar's chord
        parts[1] += _melody_bar(rng, motif, rhythm, start, bar, top)
        parts[4] += _melody_bar(singer, sung_motif, sung_rhythm, start, bar, top)
        if arpeggio:
            for i in range(8):
                parts[3].append(
                    (start + i * TICKS // 2, TICKS // 2 - 10, pitch(degree + (0, 2, 4, 7)[i % 4], 1), 55)
                )
        for s in range(16):
            tick = start + s * TICKS // 4
            if s in kick:
                parts[9].append((tick, 60, 36, 100))
            if s in snare:
                parts[9].append((tick, 60, 38, 95))
            if s in hats:
                parts[9].append((tick, 30, 42, 60))
    keep = {"full": {0, 1, 2, 3, 9}, "instrumental": {0, 2, 3, 9}, "new_vocal": {4}}[variant]
    for channel, notes in parts.items():
        if not notes or channel not in keep:
            continue
        track = mido.MidiTrack()
        if channel != 9:
            track.append(mido.Message("program_change", channel=channel, program=programs[channel], time=0))
        _note_events(track, channel, notes)
        song.tracks.append(track)
    return song


def _melody_bar(
    rng: np.random.Generator,
    motif: list[int],
    rhythm: npt.NDArray[np.int64],
    start: int,
    bar: int,
    top: list[int],
) -> list[tuple[int, int, int, int]]:
    """One bar of a top line: the motif's steps (now and then another) in the rhythm."""
    notes = []
    at = start
    for i, length in enumerate(rhythm):
        if at >= start + bar:
            break
        step = motif[(i + start // bar) % len(motif)] if rng.random() < 0.8 else int(rng.integers(0, 8))
        notes.append((int(at), int(length) - 10, top[step], int(rng.integers(80, 110))))
        at += int(length)
    return notes


def render(seed: int, seconds: float, out: Path, variant: Variant = "full") -> Path:
    """Render a song to FLAC (44.1 kHz stereo), trimmed to `seconds`. Skips existing files."""
    if out.exists():
        return out
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        raise SystemExit(
            "the benchmark needs fluidsynth and fluid-soundfont-gm: bash scripts/setup.sh --bench"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    midi = out.with_suffix(".mid")
    wav = out.with_suffix(".render.wav")
    make_song(seed, seconds, variant).save(midi)
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.7", "-r", "44100", "-F", str(wav), str(SOUNDFONT), str(midi)],
        check=True,
        capture_output=True,
    )
    audio, rate = soundfile.read(wav, dtype="float32")
    audio = audio[: int(seconds * rate)]
    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
    gain = 10 ** ((TARGET_LUFS - loudness) / 20) if np.isfinite(loudness) else 1.0
    audio = audio * gain
    audio /= max(1.0, float(np.max(np.abs(audio))) / 0.98)  # keep peaks under full scale
    tmp = out.with_suffix(".tmp.flac")
    soundfile.write(tmp, audio, rate)
    tmp.replace(out)
    wav.unlink()
    midi.unlink()
    return out
