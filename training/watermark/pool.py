"""The audio the watermark is trained and measured on, made by the project and cached as 16 kHz
mono: rendered MIDI songs (fluidsynth), additive-synthesis songs and espeak-ng speech. Splits come
from corpus.splits, so training never sees a benchmark clip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
import torch
import torchaudio.functional as AF
from rich.progress import Progress

from corpus import songs, speech, synth
from detectors.watermark.architecture import SAMPLE_RATE

Clip = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PoolSpec:
    seeds: range
    rendered_songs: int
    synth_songs: int
    utterances: int
    song_seconds: float = 20.0


def to_16k(audio: npt.NDArray[np.float32], rate: int) -> Clip:
    if rate == SAMPLE_RATE:
        return audio.astype(np.float32)
    resampled = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, SAMPLE_RATE)
    return np.asarray(resampled.numpy(), dtype=np.float32)


def _rendered_song(seed: int, seconds: float, cache: Path) -> Clip:
    flac = songs.render(seed, seconds, cache / f"song-{seed}.flac")
    audio, rate = soundfile.read(flac, dtype="float32", always_2d=True)
    return to_16k(audio.mean(axis=1), rate)


def _synth_song(seed: int, seconds: float) -> Clip:
    return synth.song(seed, seconds, rate=SAMPLE_RATE).astype(np.float32)


def _utterance(seed: int) -> Clip:
    audio, rate = speech.utterance(seed)
    return to_16k(audio, rate)


class _Maker:
    def __init__(self, kind: str, seed: int, seconds: float, cache: Path) -> None:
        self.kind, self.seed, self.seconds, self.cache = kind, seed, seconds, cache

    def __call__(self) -> Clip:
        if self.kind == "song":
            return _rendered_song(self.seed, self.seconds, self.cache)
        if self.kind == "synth":
            return _synth_song(self.seed, self.seconds)
        return _utterance(self.seed)


def _load_or_make(path: Path, make: _Maker) -> Clip:
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    clip = make()
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, clip)
    tmp.replace(path)
    return clip


def build_pool(spec: PoolSpec, cache: Path, label: str) -> dict[str, list[Clip]]:
    """Clips by kind ("music", "speech"); made once, then read from `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    seeds = iter(spec.seeds)
    jobs: list[tuple[str, _Maker]] = []
    for _ in range(spec.rendered_songs):
        seed = next(seeds)
        jobs.append(("music", _Maker("song", seed, spec.song_seconds, cache)))
    for _ in range(spec.synth_songs):
        seed = next(seeds)
        jobs.append(("music", _Maker("synth", seed, spec.song_seconds, cache)))
    for _ in range(spec.utterances):
        seed = next(seeds)
        jobs.append(("speech", _Maker("speech", seed, 0.0, cache)))
    pool: dict[str, list[Clip]] = {"music": [], "speech": []}
    with Progress() as progress, ThreadPoolExecutor(max_workers=2) as workers:
        task = progress.add_task(f"{label} audio", total=len(jobs))
        paths = [cache / f"{maker.kind}-{maker.seed}.npy" for _, maker in jobs]
        for (kind, _), clip in zip(
            jobs, workers.map(_load_or_make, paths, [maker for _, maker in jobs]), strict=True
        ):
            pool[kind].append(clip)
            progress.advance(task)
    return pool
