"""Cover benchmark: `python -m bench.covers [--dev] [--scale N]`.

Renders its own corpus (bench/covers/corpus.py: registered songs, covers of them with every
change a cover brings, held-back songs of the same generator as negatives), registers the
masters' prints, and queries full covers and 30 s excerpts of them. Reported on the test split
(covers rendered with a soundfont the parameters never saw, of songs they never saw) unless
`--dev`: recall@1 at the shipped acceptance line, false matches, mean average precision over
the whole ranking, transposition and tempo estimates, recall per change. `--scale N` registers
N compositions in the real Elasticsearch and times retrieval. Prints are cached (resumable);
the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from rich.console import Console
from rich.progress import Progress

from bench.covers.corpus import CACHE, MASTER_SECONDS, Item, Split, build, master_path, plan, registered
from detectors import covers
from detectors.covers import (
    CoverMatcher,
    CoverParams,
    CoverPrint,
    Floats,
    Performance,
    SectionQuery,
    cover_print,
    interleaved,
    judged,
    lead_line,
    pack,
    ranked_candidates,
    section_query,
    section_vectors,
    tempo_variants,
    tune_vectors,
    unpack,
)
from model.findings import CompositionMetadata

EXCERPT_S = 30.0
console = Console(stderr=True)


def work_id_of(seed: int) -> str:
    return f"W-BENCH-{seed}"


def composition_of(seed: int) -> CompositionMetadata:
    return CompositionMetadata(
        work_id=work_id_of(seed),
        title=f"Song {seed}",
        writers=[f"Writer {seed}"],
        rights_holder="Bench Songs",
    )


class MemoryLookup:
    """Exact nearest neighbours over every registered section, for measuring the matcher apart
    from the index. Like Elasticsearch's kNN over the nested section vectors, a search returns
    the `per_vector` nearest performances, each scored by its nearest section: by tune vectors
    among the performances that have them, by chroma vectors among the others."""

    def __init__(self, performances: list[Performance], per_vector: int = 10) -> None:
        self._by_key = {p.key: p for p in performances}
        tuned = {p.key for p in performances if tune_vectors(p.print)}
        self._tuned = _Sections([p for p in performances if p.key in tuned], tune_vectors, per_vector)
        self._legacy = _Sections([p for p in performances if p.key not in tuned], section_vectors, per_vector)

    def candidates(self, query: SectionQuery) -> list[str]:
        return interleaved(self._tuned.nearest(query.tunes), self._legacy.nearest(query.chroma))

    def performances(self, keys: list[str]) -> list[Performance]:
        return [self._by_key[k] for k in keys if k in self._by_key]


class _Sections:
    def __init__(
        self,
        performances: list[Performance],
        vectors_of: Callable[[CoverPrint], list[tuple[float, Floats]]],
        per_vector: int,
    ) -> None:
        sectioned = [(p.key, [v for _, v in vectors_of(p.print)]) for p in performances]
        sectioned = [(key, vectors) for key, vectors in sectioned if vectors]
        self._keys = [key for key, _ in sectioned]
        self._firsts = np.cumsum([0] + [len(vectors) for _, vectors in sectioned[:-1]])
        self._matrix = np.stack([v for _, vectors in sectioned for v in vectors]) if sectioned else None
        self._per_vector = per_vector

    def nearest(self, vectors: list[Floats]) -> list[str]:
        if self._matrix is None:
            return []
        hits = []
        for vector in vectors:
            nearest_section = np.maximum.reduceat(self._matrix @ vector, self._firsts)
            top = np.argsort(nearest_section)[::-1][: self._per_vector]
            hits.append([(self._keys[i], float(nearest_section[i])) for i in top])
        return ranked_candidates(hits)


@dataclass(frozen=True)
class Query:
    item: Item
    length: str  # "full" | "excerpt"
    print: CoverPrint
    seconds: float


def _cached_print(key: str, make: Callable[[], CoverPrint]) -> CoverPrint:
    cache = CACHE / "prints" / f"{covers.PRINT_VERSION}-{covers.SUBDIVISIONS}" / f"{key}.txt"
    if cache.exists():
        return unpack(cache.read_text())
    made = make()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(pack(made))
    return made


def _with_lead(
    key: str, made: CoverPrint, path: Path, start_s: float = 0.0, seconds: float | None = None
) -> CoverPrint:
    """The print with its lead line (cached apart: the chroma's cache outlives a new lead line)."""
    cache = CACHE / "leads" / f"{covers.LEAD_VERSION}-{covers.PRINT_VERSION}" / f"{key}.txt"
    if not cache.exists():
        audio, rate = _mono(path)
        end = None if seconds is None else int((start_s + seconds) * rate)
        lead = lead_line(audio[int(start_s * rate) : end], rate, made.beats)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(covers.pack_lead(CoverPrint(made.beats, made.chroma, lead)))
    stored = unpack(pack(made), cache.read_text())
    if len(stored.lead) != len(stored.chroma):
        raise SystemExit(f"{cache} is not the lead line of its print: delete it and run again")
    return stored


def _mono(path: Path) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    audio, rate = soundfile.read(path, dtype="float32")
    return (audio.mean(axis=1) if audio.ndim > 1 else audio).astype(np.float32), int(rate)


def _print_of(path: Path, start_s: float = 0.0, seconds: float | None = None) -> CoverPrint:
    audio, rate = _mono(path)
    end = None if seconds is None else int((start_s + seconds) * rate)
    return cover_print(audio[int(start_s * rate) : end], rate)


def _excerpt_start(item: Item, seconds: float) -> float:
    rng = np.random.default_rng([item.cover.seed, len(item.cover.changes), 30])
    return float(rng.uniform(0, max(0.0, seconds - EXCERPT_S)))


def queries_of(item: Item) -> list[Query]:
    """The item's full and excerpt queries; the audio is decoded only for prints not cached."""
    info = soundfile.info(item.path)
    seconds = info.frames / info.samplerate
    stem = f"{item.split}-{item.path.stem}"
    full = _with_lead(stem, _cached_print(stem, lambda: _print_of(item.path)), item.path)
    start = _excerpt_start(item, seconds)
    excerpt = _with_lead(
        f"{stem}-x30",
        _cached_print(f"{stem}-x30", lambda: _print_of(item.path, start, EXCERPT_S)),
        item.path,
        start,
        EXCERPT_S,
    )
    return [
        Query(item, "full", full, seconds),
        Query(item, "excerpt", excerpt, min(EXCERPT_S, seconds - start)),
    ]


def master_performance(seed: int) -> Performance:
    return Performance(
        composition_of(seed),
        f"master-{seed}",
        _with_lead(
            f"m{seed}", _cached_print(f"m{seed}", lambda: _print_of(master_path(seed))), master_path(seed)
        ),
    )


def evaluate(queries: list[Query], catalog: list[Performance], params: CoverParams) -> dict[str, Any]:
    matcher = CoverMatcher(MemoryLookup(catalog), params)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with Progress(console=console) as progress:
        task = progress.add_task("matching", total=len(queries))
        for q in queries:
            truth = work_id_of(q.item.song) if q.item.song is not None else None
            started = time.perf_counter()
            found = matcher(q.print, q.seconds)
            took = time.perf_counter() - started
            variants = tempo_variants(q.print)
            scores = sorted(
                (
                    (j.score if (j := judged(variants, p, params)) else 0.0, p.metadata.work_id)
                    for p in catalog
                ),
                reverse=True,
            )
            top = found.matches[0] if found.matches else None
            arrangement = q.item.cover.arrangement
            rows[q.length].append(
                {
                    "truth": truth,
                    "changes": q.item.cover.name,
                    "found": top.work_id if top else None,
                    "score": top.score if top else 0.0,
                    "lead_agreement": top.segments[0].lead_agreement if top else None,
                    "rank": next((r for r, (_, w) in enumerate(scores, 1) if w == truth), None),
                    "best_other": max((s for s, w in scores if w != truth), default=0.0),
                    "truth_score": next((s for s, w in scores if w == truth), 0.0),
                    "top_two": [s for s, _ in scores[:2]],
                    "transposition_ok": top is not None
                    and top.transposition_semitones == arrangement.transpose,
                    "tempo_error": abs(top.tempo_factor / arrangement.tempo_factor - 1) if top else None,
                    "ms": took * 1000,
                    "steps": len(q.print.chroma),
                }
            )
            progress.advance(task)
    (CACHE / "rows.json").write_text(json.dumps(rows))
    return {length: _figures(found_rows) for length, found_rows in rows.items()}


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    covers = [r for r in rows if r["truth"] is not None]
    negatives = [r for r in rows if r["truth"] is None]
    hits = [r for r in covers if r["found"] == r["truth"]]
    wrong = [r for r in covers if r["found"] is not None and r["found"] != r["truth"]]
    per_change: dict[str, list[bool]] = defaultdict(list)
    for r in covers:
        per_change[r["changes"]].append(r["found"] == r["truth"])
    ms = sorted(r["ms"] for r in rows)
    # the acceptance line that would have made no false match here, and the recall it leaves
    line = max([r["score"] for r in negatives] + [r["best_other"] for r in covers], default=0.0)
    return {
        "zero_false_match_line": line,
        "recall_at_that_line": round(
            sum(r["found"] == r["truth"] and r["score"] > line for r in covers) / max(1, len(covers)), 3
        ),
        "covers": len(covers),
        "negatives": len(negatives),
        "recall_at_1": round(len(hits) / max(1, len(covers)), 3),
        "false_matches": len(wrong) + sum(r["found"] is not None for r in negatives),
        "negatives_matched": sum(r["found"] is not None for r in negatives),
        "covers_matched_to_another_song": len(wrong),
        "map": round(float(np.mean([1 / r["rank"] for r in covers if r["rank"]])) if covers else 0.0, 3),
        "transposition_right": round(sum(r["transposition_ok"] for r in hits) / max(1, len(hits)), 3),
        "tempo_within_3pct": round(sum(r["tempo_error"] <= 0.03 for r in hits) / max(1, len(hits)), 3),
        "max_negative_score": round(max((r["score"] for r in negatives), default=0.0), 2),
        "max_other_song_score": round(max((r["best_other"] for r in covers), default=0.0), 2),
        "recall_by_change": {k: round(sum(v) / len(v), 3) for k, v in sorted(per_change.items())},
        "match_ms_p95": round(ms[int(0.95 * (len(ms) - 1))], 1) if ms else 0.0,
    }


def _filler(source: Performance, k: int) -> Performance:
    """A catalog document made from a real print: rotated to another key and started elsewhere,
    so ten thousand compositions cost a few hundred renders (their sections are real music's)."""
    rng = np.random.default_rng(k)
    start = int(rng.integers(0, max(1, len(source.print.chroma) // 3)))
    shift = int(rng.integers(1, 12))
    chroma = np.roll(source.print.chroma[start:], shift, axis=1)
    lead = source.print.lead[start:]
    lead = np.where(lead == covers.NO_PITCH, lead, (lead.astype(np.int64) + shift) % 12).astype(np.uint8)
    made = CoverPrint(source.print.beats[start:] - source.print.beats[start], chroma, lead)
    work = f"W-FILL-{k}"
    return Performance(composition_of(0).model_copy(update={"work_id": work}), "reference", made)


def scale(
    count: int, queries: list[Query], catalog: list[Performance], sources: list[Performance]
) -> dict[str, Any]:
    """Register `count` compositions in the real Elasticsearch (index prefix `bench-covers-`) and
    time the matcher on the queries: kNN retrieval, reading the shortlist, alignment."""
    from elasticsearch.helpers import bulk

    from index.client import connect
    from index.compositions import CompositionStore, current_tunes, print_document
    from index.names import Indices
    from index.stores import Stores
    from model.settings import Settings

    settings = Settings(index_prefix="bench-covers-")
    es = connect(settings)
    stores = Stores.over(es, Indices(settings.index_prefix))
    indices = stores.indices
    fillers = [_filler(sources[k % len(sources)], k) for k in range(max(0, count - len(catalog)))]
    registered_docs = (  # documents of this code's prints: another version's are registered again
        int(es.count(index=indices.composition_prints, query=current_tunes())["count"])
        if es.indices.exists(index=indices.composition_prints)
        else 0
    )
    if registered_docs != len(catalog) + len(fillers):
        stores.delete_indices()
        stores.ensure_indices(replicas=0)
        everything = catalog + fillers
        bulk(
            es,
            (
                {
                    "_index": indices.compositions,
                    "_id": p.metadata.work_id,
                    "_source": p.metadata.model_dump(mode="json"),
                }
                for p in everything
            ),
            chunk_size=1000,
        )
        with Progress(console=console) as progress:
            task = progress.add_task(f"registering {len(everything)} compositions", total=len(everything))
            for chunk in range(0, len(everything), 200):
                part = everything[chunk : chunk + 200]
                bulk(
                    es,
                    (
                        {
                            "_index": indices.composition_prints,
                            "_id": p.key,
                            "_source": print_document(p.metadata.work_id, p.performance, p.print),
                        }
                        for p in part
                    ),
                    chunk_size=200,
                    request_timeout=300,
                )
                progress.advance(task, len(part))
        es.indices.refresh(index=indices.composition_prints)
        es.options(request_timeout=1800).indices.forcemerge(
            index=indices.composition_prints, max_num_segments=1
        )
    lookup = CompositionStore(es, indices).lookup()
    matcher = CoverMatcher(lookup)
    timings, retrieved = [], []
    for q in queries:
        started = time.perf_counter()
        matcher(q.print, q.seconds)
        timings.append((time.perf_counter() - started) * 1000)
        if q.item.song is not None:
            shortlist = lookup.candidates(section_query(tempo_variants(q.print)))[: CoverParams().shortlist]
            retrieved.append(any(k.startswith(work_id_of(q.item.song) + "|") for k in shortlist))
    timings.sort()
    return {
        "compositions": len(catalog) + len(fillers),
        "queries": len(queries),
        "p50_ms": round(timings[len(timings) // 2], 1),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 1),
        "true_song_in_shortlist": round(sum(retrieved) / max(1, len(retrieved)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", action="store_true", help="report the development split")
    parser.add_argument("--dev-songs", type=int, default=30)
    parser.add_argument("--test-songs", type=int, default=60)
    parser.add_argument("--dev-negatives", type=int, default=320)
    parser.add_argument("--test-negatives", type=int, default=320)
    parser.add_argument(
        "--scale", type=int, default=0, help="also time retrieval among this many compositions"
    )
    args = parser.parse_args()
    split: Split = "dev" if args.dev else "test"
    items = plan(args.dev_songs, args.test_songs, {"dev": args.dev_negatives, "test": args.test_negatives})
    seeds = registered(args.dev_songs, args.test_songs)
    every_seed = seeds["dev"] + seeds["test"]
    measured = [i for i in items if i.split == split]
    build(every_seed, measured)
    catalog = [master_performance(seed) for seed in every_seed]
    queries = [q for item in measured for q in queries_of(item)]
    figures = evaluate(queries, catalog, CoverParams())
    report = {
        "split": split,
        "registered": len(catalog),
        "master_seconds": MASTER_SECONDS,
        "full": figures["full"],
        "excerpt_30s": figures["excerpt"],
    }
    summary: dict[str, Any] = {
        "split": split,
        "full_recall_at_1": figures["full"]["recall_at_1"],
        "full_false_matches": figures["full"]["false_matches"],
        "full_map": figures["full"]["map"],
        "excerpt_recall_at_1": figures["excerpt"]["recall_at_1"],
        "excerpt_false_matches": figures["excerpt"]["false_matches"],
        "excerpt_map": figures["excerpt"]["map"],
        "negatives": figures["full"]["negatives"],
        "transposition_right": figures["full"]["transposition_right"],
        "tempo_within_3pct": figures["full"]["tempo_within_3pct"],
    }
    if args.scale:
        excerpts = [q for q in queries if q.length == "excerpt"][:200]
        # fillers are made of the development negatives: real songs, never queried in the test
        held_back = [i for i in items if i.split == "dev" and i.song is None]
        sources = [Performance(composition_of(0), "reference", queries_of(i)[0].print) for i in held_back]
        report["scale"] = scale(args.scale, excerpts, catalog, sources)
        summary["retrieval_compositions"] = report["scale"]["compositions"]
        summary["retrieval_p95_ms_per_30s"] = report["scale"]["p95_ms"]
        summary["true_song_in_shortlist"] = report["scale"]["true_song_in_shortlist"]
    (CACHE / f"results-{split}.json").write_text(json.dumps(report, indent=2))
    console.print_json(json.dumps(report))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
