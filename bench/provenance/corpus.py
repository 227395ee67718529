"""The provenance benchmark's material, cached under bench/.cache/provenance (resumable):

- generated tracks, 30-180 s, made through the platform's generator path (`Generations.make`:
  watermark, generation record with fingerprints, signed Content Credential), in WAV, FLAC, MP3
  and M4A in turn, from rendered songs of their own seed range;
- unrelated music clips, 30 s, never generated nor registered: two thirds rendered by fluidsynth
  (corpus.songs: the same generator as the generated tracks' sources, so they share progressions
  and instruments, the hardest negatives) and one third by the numpy synthesizer (corpus.synth,
  another engine);
- backgrounds (corpus.synth) that excerpts are mixed under."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from corpus import songs, splits, synth
from index.stores import Stores
from model.generation import GenerationIn, GenerationRecord, ParentWork
from model.settings import PROJECT_ROOT, Settings
from streams.generation import Generations

CACHE = PROJECT_ROOT / "bench" / ".cache" / "provenance"
DURATIONS = (30, 40, 50, 60, 90, 120, 180, 30, 45, 35)
FORMATS = ("wav", "flac", "mp3", "m4a")
GENERATORS = ("clearance-remix", "clearance-cover", "clearance-stems")
CLIP_SECONDS = 30.0


@dataclass(frozen=True)
class Item:
    """A generated track (with its record) or an unrelated clip."""

    name: str
    path: Path
    record: GenerationRecord | None = None


def _raw(seed: int, seconds: float) -> Path:
    return songs.render(seed, seconds, CACHE / "raw" / f"{seed}.flac")


def music_clip(seed: int, folder: str = "unrelated") -> Path:
    """A CLIP_SECONDS clip of music with nothing to do with any generation: a synthetic song for
    every third seed, a rendered one otherwise (cached under `folder`)."""
    out = CACHE / folder / f"{seed}.flac"
    if out.exists():
        return out
    if seed % 3 == 0:
        return synth.write(out, synth.song(seed=seed, seconds=CLIP_SECONDS))
    return songs.render(seed, CLIP_SECONDS, out)


def _background_path(index: int) -> Path:
    return CACHE / "backgrounds" / f"{splits.PROVENANCE_BACKGROUNDS[index]}.flac"


def background(index: int) -> Path:
    out = _background_path(index)
    seed = splits.PROVENANCE_BACKGROUNDS[index]
    return out if out.exists() else synth.write(out, synth.song(seed=seed, seconds=CLIP_SECONDS))


def _request(index: int) -> GenerationIn:
    parents = [ParentWork(id=f"QZBEN26{index:05d}", title=f"Source song {index}")] if index % 2 == 0 else []
    return GenerationIn(
        generation_id=f"gen-bench-{index:04d}",
        generator=GENERATORS[index % len(GENERATORS)],
        model_version=index % 16,
        prompt=f"benchmark generation {index}",
        parents=parents,
    )


def _render_all(seeds: list[tuple[int, float]], unrelated: list[int], backgrounds: int) -> None:
    jobs: list[tuple[Callable[..., Path], tuple[Any, ...]]] = [
        (_raw, (seed, seconds)) for seed, seconds in seeds if not (CACHE / "raw" / f"{seed}.flac").exists()
    ]
    jobs += [
        (music_clip, (seed,)) for seed in unrelated if not (CACHE / "unrelated" / f"{seed}.flac").exists()
    ]
    jobs += [(background, (i,)) for i in range(backgrounds) if not _background_path(i).exists()]
    if not jobs:
        return
    with Progress() as progress, ProcessPoolExecutor(max_workers=2) as pool:
        task = progress.add_task(f"rendering {len(jobs)} songs", total=len(jobs))
        for _ in pool.map(_call, jobs):
            progress.advance(task)


def _call(job: tuple[Callable[..., Path], tuple[Any, ...]]) -> None:
    function, args = job
    function(*args)


def generated(count: int, settings: Settings, stores: Stores) -> list[Item]:
    """The generated tracks, made once (records kept beside the files); a generation whose
    record is missing from this run's index is registered again from its file."""
    seeds = [(splits.PROVENANCE_GENERATED[i], float(DURATIONS[i % len(DURATIONS)])) for i in range(count)]
    _render_all(seeds, [], 0)
    maker = Generations(settings, stores.generated)
    items = []
    with Progress() as progress:
        task = progress.add_task(f"generating {count} tracks", total=count)
        for index, (seed, seconds) in enumerate(seeds):
            target = CACHE / "generated" / f"{index:04d}.{FORMATS[index % len(FORMATS)]}"
            saved = target.with_suffix(".record.json")
            if saved.exists() and target.exists():
                record = GenerationRecord.model_validate_json(saved.read_text())
                if stores.generated.get(record.generation_id) is None:
                    stores.generated.register(record, maker.prints(target), refresh=False)
            else:
                record = maker.make(_raw(seed, seconds), target, _request(index))
                saved.write_text(record.model_dump_json())
            items.append(Item(f"gen-{index:04d}", target, record))
            progress.advance(task)
    stores.es.indices.refresh(index=stores.indices.generated)
    return items


def unrelated(count: int, backgrounds: int) -> list[Item]:
    seeds = [splits.PROVENANCE_UNRELATED[i] for i in range(count)]
    _render_all([], seeds, backgrounds)
    return [Item(f"unrelated-{seed}", music_clip(seed)) for seed in seeds]
