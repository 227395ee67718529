"""The pipeline benchmark's material: real-length tracks (three minutes, stereo 44.1 kHz, MP3
as uploads mostly are), the masters and compositions they may use, and the voices they may
sing in. Rendered once into bench/.cache/pipeline; a rerun reuses what is there.

Uploads cycle through four kinds: a new song; a new song with 30 s of a registered master in
it; a new song with a registered voice over it; both. Every detector then has real work: the
catalog and cover lookups find candidates, the voice check compares against every voiceprint.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
from scipy.signal import resample_poly

from corpus.songs import render
from corpus.speech import Voice, say, sentence
from model.settings import PROJECT_ROOT

CACHE = PROJECT_ROOT / "bench" / ".cache" / "pipeline"
SECONDS = 180.0
RATE = 44100
MASTER_SEEDS = tuple(range(6100, 6120))
UPLOAD_SEED = 7000
EXCERPT_S = 30.0
VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "croak",
    "klatt",
    "klatt2",
    "klatt3",
    "whisper",
    "m6",
    "f1",
    "m1",
    "f2",
]
VOICES = tuple(Voice("en", v, speed=150 + 5 * (i % 5), pitch=30 + 3 * i) for i, v in enumerate(VARIANTS))
KINDS = ("new", "with_master", "with_voice", "with_both")


@dataclass(frozen=True)
class Upload:
    index: int
    kind: str
    path: Path
    master_seed: int | None
    voice: int | None


def voice_name(index: int) -> str:
    return f"Bench Singer {index + 1:02d}"


def master_isrc(seed: int) -> str:
    return f"QZBPL26{seed:05d}"


def master_path(seed: int) -> Path:
    return render(seed, SECONDS, CACHE / "masters" / f"master-{seed}.flac")


def manifests() -> tuple[Path, Path]:
    """(compositions, recordings) manifests of the masters: each performs its own composition."""
    compositions, recordings = CACHE / "compositions.jsonl", CACHE / "masters.jsonl"
    comp_rows, rec_rows = [], []
    for n, seed in enumerate(MASTER_SEEDS):
        work_id = f"BENCH-PIPE-W{seed}"
        holder = f"Bench Label {n % 4}"
        comp_rows.append(
            {
                "work_id": work_id,
                "title": f"Bench Song {seed}",
                "writers": [f"Bench Writer {n}"],
                "rights_holder": f"Bench Publisher {n % 3}",
                "policy": "monetize",
                "royalty_rate_bp": 500,
            }
        )
        rec_rows.append(
            {
                "file": str(master_path(seed)),
                "isrc": master_isrc(seed),
                "title": f"Bench Song {seed}",
                "artists": [f"Bench Artist {n}"],
                "rights_holder": holder,
                "policy": ["block", "monetize", "track"][n % 3],
                "royalty_rate_bp": 1000,
                "work_id": work_id,
            }
        )
    compositions.write_text("".join(json.dumps(r) + "\n" for r in comp_rows))
    recordings.write_text("".join(json.dumps(r) + "\n" for r in rec_rows))
    return compositions, recordings


def voice_clips(index: int) -> list[tuple[npt.NDArray[np.float32], int]]:
    rng = np.random.default_rng(900 + index)
    return [say(" ".join(sentence(rng) for _ in range(3)), VOICES[index]) for _ in range(3)]


def upload(index: int) -> Upload:
    kind = KINDS[index % len(KINDS)]
    master = MASTER_SEEDS[index % len(MASTER_SEEDS)] if kind in ("with_master", "with_both") else None
    voice = index % len(VOICES) if kind in ("with_voice", "with_both") else None
    path = CACHE / "uploads" / f"upload-{index:04d}-{kind}.mp3"
    if not path.exists():
        _make_upload(index, master, voice, path)
    return Upload(index, kind, path, master, voice)


def _make_upload(index: int, master: int | None, voice: int | None, out: Path) -> None:
    song_file = render(UPLOAD_SEED + index, SECONDS, CACHE / "songs" / f"song-{UPLOAD_SEED + index}.flac")
    mix = _stereo(song_file)
    rng = np.random.default_rng(index)
    if master is not None:
        used = _stereo(master_path(master))
        start = int(rng.uniform(20, SECONDS - EXCERPT_S - 20) * RATE)
        source = int(rng.uniform(0, SECONDS - EXCERPT_S) * RATE)
        length = int(EXCERPT_S * RATE)
        mix[start : start + length] = used[source : source + length]
    if voice is not None:
        _sing_over(mix, voice, rng)
    peak = float(np.max(np.abs(mix))) or 1.0
    out.parent.mkdir(parents=True, exist_ok=True)
    wav = out.with_suffix(".wav")
    soundfile.write(wav, mix / max(1.0, peak / 0.98), RATE)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-codec:a", "libmp3lame", "-b:a", "192k", str(out)],
        check=True,
    )
    wav.unlink()


def _stereo(path: Path) -> npt.NDArray[np.float32]:
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == RATE, f"{path}: {rate} Hz"
    audio = audio[: int(SECONDS * RATE)]
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    padded = np.zeros((int(SECONDS * RATE), 2), dtype=np.float32)
    padded[: len(audio)] = audio[:, :2]
    return padded


def _sing_over(mix: npt.NDArray[np.float32], voice: int, rng: np.random.Generator) -> None:
    """Lines of the voice over the song (a verse every 20 s), as loud as the music."""
    music_rms = float(np.sqrt(np.mean(mix**2))) or 1e-3
    at = int(rng.uniform(2, 8) * RATE)
    while at < len(mix) - 5 * RATE:
        speech, rate = say(" ".join(sentence(rng) for _ in range(2)), VOICES[voice])
        line = resample_poly(speech, RATE, rate).astype(np.float32)
        line *= music_rms / (float(np.sqrt(np.mean(line**2))) or 1e-3)
        end = min(len(mix), at + len(line))
        mix[at:end] += line[: end - at, None]
        at = end + int(rng.uniform(6, 12) * RATE)
