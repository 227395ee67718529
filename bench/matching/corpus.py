"""The benchmark corpus: rendered songs, cached under bench/.cache (resumable: existing files
are kept). Masters get registered; held-back songs never are."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from bench.matching.transforms import RATE, Audio
from corpus.songs import Variant, render
from detectors.audio import decode

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "matching"
MASTER_SEEDS_START = 1
HELD_BACK_SEEDS_START = 100_001


@dataclass(frozen=True)
class Song:
    seed: int
    seconds: float
    path: Path


def song_seconds(seed: int) -> float:
    return float(60 + (seed * 37) % 61)  # 60-120 s


def plan(masters: int, held_back: int) -> tuple[list[Song], list[Song]]:
    def song(seed: int) -> Song:
        return Song(seed, song_seconds(seed), CACHE / "corpus" / f"{seed:06d}.flac")

    return (
        [song(MASTER_SEEDS_START + i) for i in range(masters)],
        [song(HELD_BACK_SEEDS_START + i) for i in range(held_back)],
    )


def load(song: Song) -> Audio:
    return decode(song.path, sample_rate=RATE, max_seconds=600).samples


def load_variant(song: Song, variant: Variant) -> Audio:
    """The song's instrumental or new vocal line, rendered on first use (cached beside it)."""
    path = song.path.with_name(f"{song.seed:06d}-{variant}.flac")
    render(song.seed, song.seconds, path, variant)
    return decode(path, sample_rate=RATE, max_seconds=600).samples


def _render(song: Song) -> Path:
    return render(song.seed, song.seconds, song.path)


def build(songs: list[Song], workers: int = 2) -> None:
    missing = [s for s in songs if not s.path.exists()]
    if not missing:
        return
    with Progress() as progress, ProcessPoolExecutor(max_workers=workers) as pool:
        task = progress.add_task(f"rendering {len(missing)} songs", total=len(missing))
        for _ in pool.map(_render, missing):
            progress.advance(task)
