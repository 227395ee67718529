"""The covers benchmark's corpus, cached under bench/.cache/covers (resumable: rendered files are
kept, a half-written one never is).

- Registered songs: masters rendered as written with FluidR3 (the catalog's timbres).
- Covers of each: every change alone and all together (corpus/covers.py), rendered with a second
  soundfont. Development covers (the first songs) use TimGM6mb; test covers (the other songs)
  use MuseScore General: the parameters are chosen on covers made otherwise than those measured.
- Negatives: held-back songs of the same generator (sharing its progressions, grooves and
  scales), each performed with random cover changes in one of the three soundfonts, so a
  negative differs from the catalog as much as a cover does, only it is another song."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from rich.progress import Progress

from corpus.covers import CHANGES, Change, Cover, cover, render_cover
from corpus.songs import render

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "covers"
MASTER_SECONDS = 75.0  # covers of it run 62-94 s: every full cover is a minute or more
REGISTERED_START = 700_000
NEGATIVE_START = {"dev": 810_000, "test": 800_000}
COVER_SOUNDFONT = {"dev": "timgm6mb", "test": "musescore"}
Split = Literal["dev", "test"]


@dataclass(frozen=True)
class Item:
    """One query of the benchmark: a cover (of `cover.seed`) or a negative (`song` is None)."""

    split: Split
    cover: Cover
    path: Path
    song: int | None  # the registered song it covers, if any


def registered(dev_songs: int, test_songs: int) -> dict[Split, list[int]]:
    seeds = [REGISTERED_START + i for i in range(dev_songs + test_songs)]
    return {"dev": seeds[:dev_songs], "test": seeds[dev_songs:]}


def master_path(seed: int) -> Path:
    return CACHE / "masters" / f"{seed}.flac"


def change_sets() -> list[tuple[Change, ...]]:
    return [(change,) for change in CHANGES] + [CHANGES]


def plan(dev_songs: int, test_songs: int, negatives: dict[Split, int]) -> list[Item]:
    items = []
    for split, seeds in registered(dev_songs, test_songs).items():
        for seed in seeds:
            for n, changes in enumerate(change_sets()):
                made = cover(seed, changes, COVER_SOUNDFONT[split], n)
                items.append(Item(split, made, CACHE / split / "covers" / f"{seed}-{made.name}.flac", seed))
        for k in range(negatives[split]):
            seed = NEGATIVE_START[split] + k
            rng = np.random.default_rng(seed)
            changes = tuple(c for c in CHANGES if rng.random() < 0.5)
            soundfont = str(rng.choice(["fluidr3", "timgm6mb", "musescore"]))
            made = cover(seed, changes, soundfont, 0)
            items.append(Item(split, made, CACHE / split / "negatives" / f"{seed}.flac", None))
    return items


def _render_master(seed: int) -> Path:
    return render(seed, MASTER_SECONDS, master_path(seed))


def _render_item(item: Item) -> Path:
    return render_cover(item.cover, MASTER_SECONDS, item.path)


def build(seeds: list[int], items: list[Item], workers: int = 2) -> None:
    masters = [s for s in seeds if not master_path(s).exists()]
    queries = [i for i in items if not i.path.exists()]
    if not masters and not queries:
        return
    with Progress() as progress, ProcessPoolExecutor(max_workers=workers) as pool:
        task = progress.add_task(f"rendering {len(masters)} masters", total=len(masters))
        for _ in pool.map(_render_master, masters):
            progress.advance(task)
        task = progress.add_task(f"rendering {len(queries)} covers and negatives", total=len(queries))
        for _ in pool.map(_render_item, queries):
            progress.advance(task)
