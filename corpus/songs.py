"""Songs for the benchmark: generated as General MIDI and rendered with fluidsynth and Debian's
FluidR3 soundfont. Each seed draws its own tempo, key, scale, chord progressions, instruments,
melody, bass and drum pattern, so songs differ the way a catalog's do (and share what real
music shares: common progressions, timbres and grooves)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
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
Accompaniment = Literal["as_written", "simplified", "reharmonised"]
Note = tuple[int, int, int, int]  # start tick, duration in ticks, MIDI pitch, velocity
CHORDS, LEAD, BASS, ARPEGGIO, NEW_VOCAL, DRUMS = 0, 1, 2, 3, 4, 9


@dataclass(frozen=True)
class Score:
    """One song as its seed wrote it: tempo, the chord degree of each bar, every part's notes
    and the instrument of each."""

    bpm: float
    root: int
    scale: list[int]
    degrees: list[int]  # the chord of each bar, as a scale degree
    parts: dict[int, list[Note]]
    programs: dict[int, int]
    drum_pattern: int

    def pitch(self, degree: int, octave: int = 0) -> int:
        return self.root + 12 * (octave + degree // 7) + self.scale[degree % 7]


@dataclass(frozen=True)
class Arrangement:
    """How a performance departs from the score: what a cover changes. The melody's notes are
    kept (transposed); everything else may be played otherwise."""

    tempo_factor: float = 1.0
    transpose: int = 0  # semitones
    programs: dict[int, int] = field(default_factory=dict)  # channel -> GM program, over the score's
    drum_pattern: int | None = None  # another groove (an index of DRUM_PATTERNS)
    accompaniment: Accompaniment = "as_written"
    melody_channel: int = LEAD  # NEW_VOCAL-less covers may give the melody to a voice patch


def score(seed: int, seconds: float) -> Score:
    """The song of `seed`: each seed draws its own tempo, key, scale, progressions, instruments,
    melody, bass and groove (and a second top line, the "new vocal" of an AI cover)."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(72, 160))
    root = 48 + int(rng.integers(0, 12))
    scale = SCALES[list(SCALES)[int(rng.integers(0, len(SCALES)))]]
    verse, chorus = (PROGRESSIONS[int(i)] for i in rng.choice(len(PROGRESSIONS), 2, replace=False))
    bar = 4 * TICKS
    bars = int(seconds / (4 * 60 / bpm)) + 1

    def pitch(degree: int, octave: int = 0) -> int:
        return root + 12 * (octave + degree // 7) + scale[degree % 7]

    parts: dict[int, list[Note]] = {CHORDS: [], LEAD: [], BASS: [], ARPEGGIO: [], DRUMS: []}
    programs = {
        CHORDS: int(rng.choice(HARMONY)),
        LEAD: int(rng.choice(LEADS)),
        BASS: int(rng.choice(BASSES)),
        ARPEGGIO: int(rng.choice(HARMONY)),
    }
    motif = [int(d) for d in rng.integers(0, 8, 8)]
    rhythm = rng.choice([1, 2, 2, 4], 8) * (TICKS // 2)
    singer = np.random.default_rng(seed + 1_000_003)  # the new vocal's own choices
    sung_motif = [int(d) for d in singer.integers(0, 8, 8)]
    sung_rhythm = singer.choice([2, 2, 4, 4], 8) * (TICKS // 2)
    programs[NEW_VOCAL] = int(singer.choice(VOICES))
    parts[NEW_VOCAL] = []
    drum_pattern = int(rng.integers(0, len(DRUM_PATTERNS)))
    arpeggio = bool(rng.random() < 0.6)
    degrees = []
    for b in range(bars):
        section = verse if (b // 8) % 2 == 0 else chorus
        degree = section[b % len(section)]
        degrees.append(degree)
        start = b * bar
        parts[CHORDS] += _chord(start, bar, [pitch(degree + i) for i in (0, 2, 4)])
        parts[BASS].append((start, bar // 2 - 10, pitch(degree, -1), 90))
        parts[BASS].append(
            (start + bar // 2, bar // 2 - 10, pitch(degree + (4 if rng.random() < 0.5 else 0), -1), 85)
        )
        top = [pitch(degree + step, 1) for step in range(8)]  # the motif's steps, in this bar's chord
        parts[LEAD] += _melody_bar(rng, motif, rhythm, start, bar, top)
        parts[NEW_VOCAL] += _melody_bar(singer, sung_motif, sung_rhythm, start, bar, top)
        if arpeggio:
            parts[ARPEGGIO] += _arpeggio(start, [pitch(degree + i, 1) for i in (0, 2, 4, 7)])
    parts[DRUMS] = _drums(bars, drum_pattern)
    return Score(bpm, root, scale, degrees, parts, programs, drum_pattern)


def _chord(start: int, bar: int, pitches: list[int]) -> list[Note]:
    return [(start, bar - 10, p, 70) for p in pitches]


def _arpeggio(start: int, pitches: list[int]) -> list[Note]:
    return [(start + i * TICKS // 2, TICKS // 2 - 10, pitches[i % len(pitches)], 55) for i in range(8)]


def _drums(bars: int, pattern: int) -> list[Note]:
    kick, snare, hats = DRUM_PATTERNS[pattern]
    notes = []
    for b in range(bars):
        for s in range(16):
            tick = b * 4 * TICKS + s * TICKS // 4
            if s in kick:
                notes.append((tick, 60, 36, 100))
            if s in snare:
                notes.append((tick, 60, 38, 95))
            if s in hats:
                notes.append((tick, 30, 42, 60))
    return notes


def _reharmonised(degree: int, bar: int) -> int:
    """Every other bar takes the chord a third below, which shares two of its notes (I -> vi,
    IV -> ii, V -> iii): what a reharmonising arranger does first."""
    return degree + 5 if bar % 2 == 1 else degree


def _accompaniment(song: Score, style: Accompaniment) -> dict[int, list[Note]]:
    """The chords, bass and arpeggio as `style` plays them (the score's own for "as_written")."""
    if style == "as_written":
        return {c: song.parts[c] for c in (CHORDS, BASS, ARPEGGIO)}
    bar = 4 * TICKS
    chords: list[Note] = []
    bass: list[Note] = []
    arpeggio: list[Note] = []
    for b, written in enumerate(song.degrees):
        start = b * bar
        if style == "simplified":  # root and fifth held, the bass on the root, no arpeggio
            chords += _chord(start, bar, [song.pitch(written), song.pitch(written + 4)])
            bass.append((start, bar - 10, song.pitch(written, -1), 90))
            continue
        degree = _reharmonised(written, b)
        chords += _chord(start, bar, [song.pitch(degree + i) for i in (0, 2, 4, 6)])  # sevenths
        bass += [(start + q * TICKS, TICKS - 10, song.pitch(degree, -1), 85) for q in range(4)]
        arpeggio += _arpeggio(start, [song.pitch(degree + i, 1) for i in (4, 2, 0, 2)])
    return {CHORDS: chords, BASS: bass, ARPEGGIO: arpeggio}


def perform(
    song: Score, variant: Variant = "full", arrangement: Arrangement = Arrangement()
) -> mido.MidiFile:
    """The score as MIDI, played as `arrangement` says. "instrumental": without its lead (the
    stem an AI cover keeps); "new_vocal": only the second top line, another melody over the same
    chords and tempo sung by a voice patch."""
    midi = mido.MidiFile(ticks_per_beat=TICKS)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.bpm * arrangement.tempo_factor)))
    midi.tracks.append(meta)
    parts = dict(song.parts) | _accompaniment(song, arrangement.accompaniment)
    if arrangement.drum_pattern is not None:
        parts[DRUMS] = _drums(len(song.degrees), arrangement.drum_pattern)
    if arrangement.melody_channel != LEAD:
        parts[arrangement.melody_channel] = parts.pop(LEAD)
    programs = song.programs | arrangement.programs
    keep = {"full": {CHORDS, LEAD, BASS, ARPEGGIO, DRUMS}, "instrumental": {CHORDS, BASS, ARPEGGIO, DRUMS}}
    wanted = keep.get(variant, {NEW_VOCAL})
    if arrangement.melody_channel != LEAD and LEAD in wanted:
        wanted = (wanted - {LEAD}) | {arrangement.melody_channel}
    for channel, notes in parts.items():
        if not notes or channel not in wanted:
            continue
        track = mido.MidiTrack()
        if channel != DRUMS:
            track.append(mido.Message("program_change", channel=channel, program=programs[channel], time=0))
            notes = [(s, d, p + arrangement.transpose, v) for s, d, p, v in notes]
        _note_events(track, channel, notes)
        midi.tracks.append(track)
    return midi


def make_song(seed: int, seconds: float, variant: Variant = "full") -> mido.MidiFile:
    """The song of `seed` as written (see `score` and `perform`)."""
    return perform(score(seed, seconds), variant)


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


SOUNDFONTS = {  # covers use the other two: no cover shares the masters' timbres
    "fluidr3": SOUNDFONT,
    "timgm6mb": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
}


def render(seed: int, seconds: float, out: Path, variant: Variant = "full") -> Path:
    """Render a song to FLAC (44.1 kHz stereo), trimmed to `seconds`. Skips existing files."""
    return render_midi(make_song(seed, seconds, variant), seconds, out)


def render_midi(midi: mido.MidiFile, seconds: float, out: Path, soundfont: Path = SOUNDFONT) -> Path:
    """Render MIDI with fluidsynth and `soundfont` to FLAC (44.1 kHz stereo), trimmed to
    `seconds` and brought to the target loudness. Skips existing files."""
    if out.exists():
        return out
    if shutil.which("fluidsynth") is None or not soundfont.exists():
        raise SystemExit(
            f"the benchmark needs fluidsynth and {soundfont.name} (Debian's fluid-soundfont-gm, "
            "timgm6mb-soundfont, musescore-general-soundfont): bash scripts/setup.sh --bench"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    midi_file = out.with_suffix(".mid")
    wav = out.with_suffix(".render.wav")
    midi.save(midi_file)
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.7",
            "-r",
            "44100",
            "-o",
            "synth.dynamic-sample-loading=1",  # only the instruments played: an sf3 loads fast
            "-F",
            str(wav),
            str(soundfont),
            str(midi_file),
        ],
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
    midi_file.unlink()
    return out
