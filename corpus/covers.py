"""Covers of the benchmark's songs: the same melody over the same song, performed otherwise.

A cover changes some of: the instruments, the tempo (±5-20 %), the key (-5..+6 semitones), the
drum groove, the accompaniment (simplified or reharmonised), who carries the melody (a voice
patch, as a synthesized singer); and it is always rendered with another soundfont than the
master, so no cover shares the master's timbres."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from corpus.songs import (
    ARPEGGIO,
    BASS,
    BASSES,
    CHORDS,
    DRUM_PATTERNS,
    HARMONY,
    NEW_VOCAL,
    SOUNDFONTS,
    VOICES,
    Accompaniment,
    Arrangement,
    perform,
    render_midi,
    score,
)

Change = Literal["instruments", "tempo", "key", "groove", "accompaniment", "voice"]
CHANGES: tuple[Change, ...] = ("instruments", "tempo", "key", "groove", "accompaniment", "voice")


@dataclass(frozen=True)
class Cover:
    seed: int  # the song's
    changes: tuple[Change, ...]
    arrangement: Arrangement
    soundfont: str  # a key of SOUNDFONTS (not the masters' for a cover)

    @property
    def name(self) -> str:
        return "+".join(self.changes) or "soundfont"


def cover(seed: int, changes: tuple[Change, ...], soundfont: str, variant_seed: int) -> Cover:
    """A cover of song `seed` making `changes`, its figures drawn from `variant_seed`."""
    rng = np.random.default_rng([seed, variant_seed])
    written = score(seed, 1.0)
    tempo = 1.0
    if "tempo" in changes:
        tempo = float(rng.uniform(1.05, 1.2) if rng.random() < 0.5 else rng.uniform(0.8, 0.95))
    transpose = int(rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6])) if "key" in changes else 0
    programs: dict[int, int] = {}
    if "instruments" in changes:
        for channel, pool in ((CHORDS, HARMONY), (ARPEGGIO, HARMONY), (BASS, BASSES)):
            programs[channel] = int(rng.choice([p for p in pool if p != written.programs[channel]]))
    groove = None
    if "groove" in changes:
        groove = int(rng.choice([i for i in range(len(DRUM_PATTERNS)) if i != written.drum_pattern]))
    accompaniment: Accompaniment = "as_written"
    if "accompaniment" in changes:
        accompaniment = "simplified" if rng.random() < 0.5 else "reharmonised"
    melody_channel = 1
    if "voice" in changes:
        melody_channel = NEW_VOCAL
        programs[NEW_VOCAL] = int(rng.choice(VOICES))
    arrangement = Arrangement(tempo, transpose, programs, groove, accompaniment, melody_channel)
    return Cover(seed, changes, arrangement, soundfont)


def render_cover(item: Cover, master_seconds: float, out: Path) -> Path:
    """The cover of the first `master_seconds` of the song (as long as the tempo makes them)."""
    midi = perform(score(item.seed, master_seconds), "full", item.arrangement)
    seconds = master_seconds / item.arrangement.tempo_factor
    return render_midi(midi, seconds, out, SOUNDFONTS[item.soundfont])
