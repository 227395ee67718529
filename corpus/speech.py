"""Speech made with espeak-ng (Debian's package): many voices, languages, speeds and pitches
saying sentences drawn from a seed, so every utterance is reproducible."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

LANGUAGES = ("en", "en-us", "en-gb-scotland", "de", "fr", "es", "it", "pt", "nl", "sv", "pl")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "croak", "klatt")
_SUBJECTS = (
    "the singer",
    "my neighbour",
    "a quiet river",
    "the old band",
    "our drummer",
    "the crowd",
    "a stranger",
    "the radio",
    "her sister",
    "the city",
    "this record",
    "the night train",
)
_VERBS = (
    "remembers",
    "carries",
    "follows",
    "paints",
    "answers",
    "forgets",
    "waits for",
    "sings about",
    "dances with",
    "walks past",
    "keeps",
    "finds",
)
_OBJECTS = (
    "the morning light",
    "a broken promise",
    "seven yellow lanterns",
    "the last chorus",
    "an empty station",
    "the summer rain",
    "a paper boat",
    "the northern wind",
    "every open door",
    "a silver guitar",
    "the long way home",
    "two cups of coffee",
)
_TAILS = (
    "before the sun comes up",
    "and nobody notices",
    "in the middle of the song",
    "while the city sleeps",
    "one more time",
    "without a single word",
    "on a Tuesday",
    "",
)


@dataclass(frozen=True)
class Voice:
    language: str
    variant: str
    speed: int  # words per minute
    pitch: int  # 0-99

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}"


def sentence(rng: np.random.Generator) -> str:
    parts = [str(rng.choice(p)) for p in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS)]
    return " ".join(p for p in parts if p).capitalize() + "."


def random_voice(rng: np.random.Generator) -> Voice:
    return Voice(
        language=str(rng.choice(LANGUAGES)),
        variant=str(rng.choice(VARIANTS)),
        speed=int(rng.integers(120, 200)),
        pitch=int(rng.integers(25, 75)),
    )


def say(text: str, voice: Voice) -> tuple[npt.NDArray[np.float32], int]:
    """Mono float32 samples and their rate."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is missing: bash scripts/setup.sh installs it")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                voice.name,
                "-s",
                str(voice.speed),
                "-p",
                str(voice.pitch),
                "-w",
                str(wav),
                text,
            ],
            check=True,
            capture_output=True,
        )
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(rate)


def utterance(seed: int, sentences: int = 2) -> tuple[npt.NDArray[np.float32], int]:
    """A reproducible utterance: one random voice saying `sentences` random sentences."""
    rng = np.random.default_rng(seed)
    voice = random_voice(rng)
    return say(" ".join(sentence(rng) for _ in range(sentences)), voice)
