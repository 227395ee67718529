"""Catalog-matching benchmark: `python -m bench.matching [--quick]`.

Builds its own corpus (MIDI rendered with fluidsynth; no downloads), registers the masters in
the real Elasticsearch (index prefix `bench-`), queries excerpts under transforms, and reports
recall, false matches, medley boundary error, lookup latency (also at 10,000 and 100,000
registered recordings) and fingerprinting speed. Every stage is cached under bench/.cache, so
an interrupted run resumes. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import chromaprint
import numpy as np
from elasticsearch import Elasticsearch
from rich.console import Console
from rich.progress import Progress

from bench.matching.corpus import CACHE, Song, build, load, load_variant, plan
from bench.matching.transforms import (
    EDITS,
    RATE,
    STEM_EDITS,
    TRANSFORMS,
    Audio,
    instrumental_under_new_vocal,
)
from corpus import synth
from detectors import landmarks, modified
from detectors.audio import decode
from detectors.catalog import CatalogMatcher, decode_items
from detectors.fingerprint import chromaprint_fingerprint
from detectors.matcher import Items, MatchParams, align, query_windows, terms
from index.catalog import CatalogStore, EsCatalogLookup, catalog_document
from index.names import Indices
from index.templates import ensure_indices
from model.findings import RecordingMetadata
from model.settings import Settings
from streams.registration import Registration

LENGTHS = (5, 10, 30)
EDIT_LENGTHS = (10, 30)  # the speed, tempo and key edits are queried at these lengths
console = Console(stderr=True)


def isrc_of(seed: int) -> str:
    return f"QZBEN{seed:07d}"


@dataclass(frozen=True)
class Prints:
    """An upload's fingerprints, as the matcher takes them."""

    items: Items
    marks: landmarks.Landmarks
    peaks: modified.Peaks


def fingerprint_audio(x: Audio) -> tuple[Prints, dict[str, Any]]:
    """A query's fingerprints, decoded the way the pipeline decodes uploads, and their cache row."""
    with tempfile.TemporaryDirectory() as tmp:
        path = synth.write(Path(tmp) / "q.wav", x, RATE)
        decoded = decode(path, 22050, 600)
    compressed = chromaprint_fingerprint(decoded).fingerprint
    marks = landmarks.landmarks(decoded.samples, decoded.sample_rate)
    peaks = modified.upload_peaks(decoded.samples, decoded.sample_rate)
    row = {
        "fingerprint": compressed,
        "landmarks": landmarks.pack(marks),
        "peaks": _pack_exact(peaks),
        **_VERSIONS,
    }
    return Prints(decode_items(compressed), marks, peaks), row


_VERSIONS = {"landmarks_version": landmarks.VERSION, "peaks_version": modified.VERSION}


def _pack_exact(peaks: modified.Peaks) -> list[list[float]]:
    """An upload's peaks are not rounded the way stored ones are: cache them as they are."""
    return [peaks.frames.tolist(), peaks.bins.tolist(), peaks.levels.tolist()]


def _unpack_exact(rows: list[list[float]]) -> modified.Peaks:
    return modified.Peaks(*(np.asarray(r, dtype=np.float64) for r in rows))


def _rows_of_this_version(cache: Path) -> list[dict[str, Any]]:
    """Cached rows whose prints the current algorithms made (older ones are made again)."""
    if not cache.exists():
        return []
    rows = []
    for line in cache.open():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the last line of a run that was stopped while writing it
    return [
        row
        for row in rows
        if row.get("landmarks_version") == landmarks.VERSION
        and row.get("peaks_version") in modified.PEAK_FORMATS
    ]


# ------------------------------------------------------------------ catalog


def register_masters(es: Elasticsearch, indices: Indices, masters: list[Song], settings: Settings) -> None:
    """Fingerprint every master (whole song; cached) and register it."""
    cache = CACHE / "master-prints.jsonl"
    catalog = CatalogStore(es, indices)
    registration = Registration(settings, catalog)
    known = {row["seed"]: row for row in _rows_of_this_version(cache)}
    with Progress(console=console) as progress, cache.open("a") as out:
        task = progress.add_task("fingerprinting masters", total=len(masters))
        for song in masters:
            if song.seed not in known:
                prints = registration.fingerprint(song.path)
                known[song.seed] = {
                    "seed": song.seed,
                    "fingerprint": prints.chromaprint.fingerprint,
                    "duration_s": prints.chromaprint.duration_s,
                    "landmarks": landmarks.pack(prints.landmarks),
                    "peaks": modified.pack(prints.peaks),
                    **_VERSIONS,
                }
                out.write(json.dumps(known[song.seed]) + "\n")
            progress.advance(task)
    documents = (
        catalog_document(
            RecordingMetadata(
                isrc=isrc_of(s.seed),
                title=f"Bench song {s.seed}",
                artists=[f"Artist {s.seed % 97}"],
                rights_holder=f"Label {s.seed % 7}",
                policy="monetize",
            ),
            known[s.seed]["fingerprint"],
            known[s.seed]["duration_s"],
            decode_items(known[s.seed]["fingerprint"]),
            landmarks.unpack(known[s.seed]["landmarks"]),
            modified.unpack(known[s.seed]["peaks"]),
        )
        for s in masters
    )
    catalog.register_documents(documents)


def ingest_speed(masters: list[Song], count: int = 20) -> dict[str, float]:
    """Wall-clock speed of decode + every fingerprint, one track at a time (one core)."""
    audio_s = wall = fp_wall = lm_wall = peaks_wall = 0.0
    for song in masters[:count]:
        started = time.perf_counter()
        decoded = decode(song.path, 22050, 600)
        decoded_at = time.perf_counter()
        chromaprint_fingerprint(decoded)
        chromaprinted_at = time.perf_counter()
        landmarks.landmarks(decoded.samples, decoded.sample_rate)
        landmarked_at = time.perf_counter()
        # what registration makes of the third fingerprint: its peaks and their quad terms
        modified.retrieval_terms(modified.reference_peaks(decoded.samples, decoded.sample_rate))
        done = time.perf_counter()
        audio_s += decoded.duration_s
        wall += done - started
        fp_wall += chromaprinted_at - decoded_at
        lm_wall += landmarked_at - chromaprinted_at
        peaks_wall += done - landmarked_at
    return {
        "ingest_x_realtime": audio_s / wall,
        "fingerprint_x_realtime": audio_s / fp_wall,
        "landmarks_x_realtime": audio_s / lm_wall,
        "triplets_x_realtime": audio_s / peaks_wall,
    }


# ------------------------------------------------------------------ queries


@dataclass(frozen=True)
class Query:
    qid: str
    seed: int  # the song the excerpt comes from
    master: bool  # registered or held back
    length: int
    transform: str
    start_s: float
    other_seed: int  # the non-catalog song used by mixed_0db


def cells() -> list[tuple[int, str]]:
    """(length, transform) of every cell: each transform at every length, each edit at EDIT_LENGTHS."""
    edits = [*EDITS, *STEM_EDITS]
    return [(n, t) for n in LENGTHS for t in TRANSFORMS] + [(n, e) for n in EDIT_LENGTHS for e in edits]


def master_seconds(q: Query) -> float:
    """How much of the song a query of its length is made from (a sped-up excerpt takes more)."""
    return q.length * EDITS[q.transform].tempo if q.transform in EDITS else float(q.length)


def plan_queries(masters: list[Song], held: list[Song], per_cell: int, rng: random.Random) -> list[Query]:
    queries = []
    for length, transform in cells():
        for i in range(per_cell):
            song = rng.choice(masters)
            start = round(rng.uniform(0, song.seconds - 1.4 * length - 1), 2)
            queries.append(
                Query(
                    f"p-{length}-{transform}-{i}",
                    song.seed,
                    True,
                    length,
                    transform,
                    start,
                    rng.choice(held).seed,
                )
            )
    # held-back songs get every transform and edit, in turn
    names = [*TRANSFORMS, *EDITS, *STEM_EDITS]
    for j, song in enumerate(held):
        for length in LENGTHS:
            for k in range(5):
                transform = names[(j * 5 + k + length) % len(names)]
                if transform not in TRANSFORMS and length not in EDIT_LENGTHS:
                    transform = names[(j + k) % len(TRANSFORMS)]
                start = round(rng.uniform(0, song.seconds - 1.4 * length - 1), 2)
                other = rng.choice([h for h in held if h.seed != song.seed]).seed
                queries.append(
                    Query(f"n-{song.seed}-{length}-{k}", song.seed, False, length, transform, start, other)
                )
    return queries


def query_fingerprints(queries: list[Query], songs: dict[int, Song], workers: int = 2) -> dict[str, Prints]:
    """Make every query excerpt and fingerprint it, song by song on `workers` processes; rows
    are cached as they come, so an interrupted run goes on where it stopped."""
    cache = CACHE / "query-prints.jsonl"
    known = {row["qid"]: row for row in _rows_of_this_version(cache)}
    missing = [q for q in queries if q.qid not in known]
    by_song: dict[int, list[Query]] = {}
    for q in missing:
        by_song.setdefault(q.seed, []).append(q)
    with (
        Progress(console=console) as progress,
        cache.open("a") as out,
        ProcessPoolExecutor(max_workers=workers) as pool,
    ):
        task = progress.add_task("making query excerpts", total=len(missing))
        jobs = [pool.submit(_fingerprint_group, group, songs) for group in by_song.values()]
        for job in as_completed(jobs):
            for row in job.result():
                known[row["qid"]] = row
                out.write(json.dumps(row) + "\n")
                progress.advance(task)
            out.flush()
    return {q.qid: _prints_of(known[q.qid]) for q in queries}


def _fingerprint_group(group: list[Query], songs: dict[int, Song]) -> list[dict[str, Any]]:
    """The cache rows of one song's queries."""
    seed = group[0].seed
    audio = load(songs[seed])
    rows = []
    for q in group:
        excerpt = audio[int(q.start_s * RATE) : int((q.start_s + master_seconds(q)) * RATE)]
        rng = np.random.default_rng(zlib.crc32(q.qid.encode()))
        if q.transform in EDITS:
            transformed = EDITS[q.transform].apply(excerpt, rng)[: q.length * RATE]
        elif q.transform in STEM_EDITS:
            stems = [load_variant(songs[seed], v) for v in ("instrumental", "new_vocal")]
            part = slice(int(q.start_s * RATE), int((q.start_s + q.length) * RATE))
            transformed = instrumental_under_new_vocal(
                stems[0][part], stems[1][part], rng, STEM_EDITS[q.transform]
            )
        else:
            other = load(songs[q.other_seed]) if q.transform == "mixed_0db" else excerpt
            offset = random.Random(q.qid).randint(0, max(0, len(other) - len(excerpt)))
            transformed = TRANSFORMS[q.transform](excerpt, rng, other[offset:])
        _, row = fingerprint_audio(transformed)
        rows.append({"qid": q.qid, **row})
    return rows


def _prints_of(row: dict[str, Any]) -> Prints:
    return Prints(
        decode_items(row["fingerprint"]), landmarks.unpack(row["landmarks"]), _unpack_exact(row["peaks"])
    )


def found_true_master(result: Any, q: Query) -> bool:
    return any(match.isrc == isrc_of(q.seed) for match in result.matches)


def points_at_excerpt(result: Any, q: Query) -> bool:
    """The true master's segments include the place the excerpt was taken from (±1 s); repeated
    sections of a song can make another place match as well or better."""
    for match in result.matches:
        if match.isrc == isrc_of(q.seed):
            for s in match.segments:
                if (
                    s.reference_start_s < q.start_s + master_seconds(q) + 1.0
                    and s.reference_end_s > q.start_s - 1.0
                ):
                    return True
    return False


def every_candidate(per_window: list[list[str]]) -> list[str]:
    """The candidates of all windows, each once, in the order first ranked."""
    return list(dict.fromkeys(isrc for ranked in per_window for isrc in ranked))


def run_lookups(
    matcher: CatalogMatcher, queries: list[Query], prints: dict[str, Prints], label: str
) -> tuple[dict[str, Any], list[float]]:
    outcome: dict[str, Any] = {}
    latencies: list[float] = []
    with Progress(console=console) as progress:
        task = progress.add_task(label, total=len(queries))
        for q in queries:
            started = time.perf_counter()
            result = matcher.match(prints[q.qid].items, prints[q.qid].marks, prints[q.qid].peaks)
            latencies.append((time.perf_counter() - started) * 1000)
            outcome[q.qid] = result
            progress.advance(task)
    return outcome, latencies


# ------------------------------------------------------------------ medleys


def medleys(
    count: int,
    masters: list[Song],
    held: list[Song],
    songs: dict[int, Song],
    rng: random.Random,
    matcher: CatalogMatcher,
) -> dict[str, Any]:
    errors: list[float] = []
    found = total = 0
    for _ in range(count):
        parts: list[Audio] = []
        truth: list[tuple[int, float, float]] = []
        now = 0.0
        filler = load(rng.choice(held))
        for seed in [s.seed for s in rng.sample(masters, 3)]:
            gap = rng.uniform(4, 8)
            start = rng.uniform(0, 30)
            parts.append(filler[int(start * RATE) : int((start + gap) * RATE)])
            now += gap
            length = rng.uniform(10, 20)
            m_start = rng.uniform(0, songs[seed].seconds - length - 1)
            parts.append(load(songs[seed])[int(m_start * RATE) : int((m_start + length) * RATE)])
            truth.append((seed, now, now + length))
            now += length
        parts.append(filler[int(40 * RATE) : int(46 * RATE)])
        prints, _ = fingerprint_audio(np.concatenate(parts).astype(np.float32))
        result = matcher.match(prints.items, prints.marks, prints.peaks)
        by_isrc = {m.isrc: m for m in result.matches}
        for seed, start, end in truth:
            total += 1
            match = by_isrc.get(isrc_of(seed))
            if match is None:
                continue
            found += 1
            est_start = min(s.upload_start_s for s in match.segments)
            est_end = max(s.upload_end_s for s in match.segments)
            errors.extend([abs(est_start - start), abs(est_end - end)])
    return {
        "medley_parts": total,
        "medley_recall": found / max(1, total),
        "boundary_error_s_p50": float(np.percentile(errors, 50)) if errors else None,
        "boundary_error_s_p95": float(np.percentile(errors, 95)) if errors else None,
    }


# ------------------------------------------------------------------ calibration


def calibration_curve(
    queries: list[Query], prints: dict[str, Prints], lookup: EsCatalogLookup
) -> list[dict[str, Any]]:
    """Best segment BER per query under permissive thresholds: the true master's for positives,
    any recording's for held-back queries; then recall and false matches per threshold."""
    permissive = MatchParams(max_segment_ber=0.45, short_segment_ber=0.45)
    positives: list[float] = []
    negatives: list[float] = []
    for q in queries:
        if q.length != 10 and q.master:
            continue
        q_items = prints[q.qid].items
        best_true, best_false = 1.0, 1.0
        for recording in lookup.recordings(lookup.candidates([terms(w) for w in query_windows(q_items)])):
            for s in align(q_items, recording.items, permissive):
                if q.master and recording.key == isrc_of(q.seed):
                    best_true = min(best_true, s.bit_error_rate)
                else:
                    best_false = min(best_false, s.bit_error_rate)
        (positives if q.master else negatives).append(best_true if q.master else best_false)
    curve = []
    for t in np.arange(0.04, 0.31, 0.02):
        curve.append(
            {
                "max_ber": round(float(t), 2),
                "recall_10s_all_transforms": round(float(np.mean(np.array(positives) <= t)), 4),
                "held_back_queries_matched": int(np.sum(np.array(negatives) <= t)),
            }
        )
    return curve


def queries_matched(
    found: list[dict[str, Any]], threshold: float, short_stretch_s: float, truth: bool
) -> set[str]:
    """The queries with a segment (of the true master, or of another recording) whose peak hit
    rate reaches `threshold` + `short_stretch_s` / its duration."""
    return {
        s["qid"]
        for s in found
        if s["true"] == truth
        and s["peak_hit_rate"] >= threshold + short_stretch_s / (s["upload_end_s"] - s["upload_start_s"])
    }


HIT_RATE_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4)


def landmark_calibration_curve(
    queries: list[Query], prints: dict[str, Prints], lookup: EsCatalogLookup
) -> list[dict[str, Any]]:
    """Every landmark segment each query's candidates give with the peak-hit-rate rule off; then
    recall under a mix and false matches per `min_peak_hit_rate` (the allowance for short
    stretches, `short_stretch_hit_rate_s`, and every other rule in force). The segments are kept
    for analysis in bench/.cache/matching/landmark-segments.json."""
    params = landmarks.LandmarkParams()
    loose = replace(params, min_peak_hit_rate=0.0, short_stretch_hit_rate_s=0.0)
    found: list[dict[str, Any]] = []
    with Progress(console=console) as progress:
        task = progress.add_task("landmark calibration", total=len(queries))
        for q in queries:
            marks = prints[q.qid].marks
            for recording in lookup.recordings(
                every_candidate(lookup.landmark_candidates([w.terms for w in landmarks.query_terms(marks)]))
            ):
                truth = q.master and recording.key == isrc_of(q.seed)
                found.extend(
                    {"qid": q.qid, "isrc": recording.key, "true": truth, **asdict(s)}
                    for s in landmarks.align(marks, recording.landmarks, loose)
                )
            progress.advance(task)
    (CACHE / "landmark-segments.json").write_text(json.dumps(found))

    def matched(threshold: float, truth: bool) -> set[str]:
        return queries_matched(found, threshold, params.short_stretch_hit_rate_s, truth)

    def recall(threshold: float, length: int) -> float:
        cell = [q for q in queries if q.master and q.length == length and q.transform == "mixed_0db"]
        hits = matched(threshold, True)
        return round(float(np.mean([q.qid in hits for q in cell])), 4)

    by_id = {q.qid: q for q in queries}
    return [
        {
            "min_peak_hit_rate": t,
            "recall_5s_mixed": recall(t, 5),
            "recall_10s_mixed": recall(t, 10),
            "recall_30s_mixed": recall(t, 30),
            "held_back_queries_matched": sum(1 for i in matched(t, False) if not by_id[i].master),
            "positive_queries_with_a_wrong_master": sum(1 for i in matched(t, False) if by_id[i].master),
        }
        for t in HIT_RATE_THRESHOLDS
    ]


# ------------------------------------------------------------------ distractors


def add_distractors(
    es: Elasticsearch, indices: Indices, target: int, master_prints: list[Prints], seed: int
) -> None:
    """Synthetic recordings built from real fingerprints: a master's item sequence, rotated,
    with its 32 bit positions permuted and XOR-ed with a random constant; its landmarks rotated
    in time the same way, their 21-bit hashes XOR-ed with a random constant; its spectral peaks
    played backwards and rotated (time reversed, a song's peaks still make triplets of real
    intervals, but no tempo factor maps them onto the song). They keep real fingerprints'
    temporal structure and per-item statistics, and match no query."""
    existing = es.count(index=indices.catalog, query={"prefix": {"isrc": "ZZSYN"}})["count"]
    if existing >= target:
        return
    rng = np.random.default_rng(seed + existing)

    def documents() -> Any:
        for n in range(existing, target):
            base_prints = master_prints[int(rng.integers(0, len(master_prints)))]
            base = base_prints.items
            shift = int(rng.integers(0, len(base)))
            rolled = np.roll(base, shift)
            bits = np.unpackbits(rolled.astype(">u4").view(np.uint8)).reshape(-1, 32)[:, rng.permutation(32)]
            items = np.ascontiguousarray(np.packbits(bits, axis=1)).view(">u4").reshape(-1).astype(np.uint32)
            items ^= np.uint32(rng.integers(0, 2**32, dtype=np.uint64))
            compressed = chromaprint.encode_fingerprint([int(i) for i in items.astype(np.int32)], 1).decode()
            meta = RecordingMetadata(
                isrc=f"ZZSYN{n:07d}",
                title=f"Distractor {n}",
                artists=["Synthetic"],
                rights_holder="Distractors",
                catalog="synthetic",
                policy="track",
            )
            marks = base_prints.marks.copy()
            frames = int(len(items) * landmarks.FRAMES_PER_SECOND / 8.0769) + 1
            marks[:, 1] = (marks[:, 1] + int(shift * landmarks.FRAMES_PER_SECOND / 8.0769)) % frames
            marks[:, 0] ^= np.uint32(rng.integers(0, 2**21))
            marks = marks[np.argsort(marks[:, 1], kind="stable")]
            yield catalog_document(
                meta, compressed, len(items) / 8.0769, items, marks, _reversed(base_prints.peaks, rng)
            )
            progress.advance(task)

    with Progress(console=console) as progress:
        task = progress.add_task(f"indexing distractors up to {target}", total=target - existing)
        CatalogStore(es, indices).register_documents(documents(), refresh=False)
    es.indices.refresh(index=indices.catalog)


def settled_segments(es: Elasticsearch, index: str, quiet_checks: int = 3) -> int:
    """The index's searchable segments (of its primary) once the merges a bulk load started
    have finished: what a catalog is searched with in its steady state, not in the minutes after
    an import. Settled: no merge running and the same segments at `quiet_checks` checks in a
    row, two seconds apart (a refresh can start the next merge just after one ends)."""

    def state() -> tuple[int, int]:
        es.indices.refresh(index=index)
        merges = es.indices.stats(index=index, metric="merge")["indices"][index]["primaries"]["merges"]
        rows = es.cat.segments(index=index, format="json").body
        searchable = [
            row
            for row in rows
            if isinstance(row, dict) and row.get("prirep") == "p" and row.get("searchable") == "true"
        ]
        return int(merges["current"]), len(searchable)

    with console.status(f"waiting for {index}'s merges"):
        seen: list[tuple[int, int]] = []
        while len(seen) < quiet_checks or len(set(seen[-quiet_checks:])) > 1 or seen[-1][0]:
            seen.append(state())
            time.sleep(2)
    return seen[-1][1]


def _reversed(peaks: modified.Peaks, rng: np.random.Generator) -> modified.Peaks:
    if len(peaks) == 0:
        return peaks
    end = float(peaks.frames.max())
    frames = (end - peaks.frames + float(rng.integers(0, int(end) + 1))) % (end + 1)
    order = np.lexsort((peaks.bins, frames))
    return modified.Peaks(frames[order], peaks.bins[order], peaks.levels[order])


# ------------------------------------------------------------------ modified matches


def edit_truth(transform: str) -> tuple[float, float]:
    """(tempo factor, pitch shift) an edit made."""
    if transform in EDITS:
        return EDITS[transform].tempo, EDITS[transform].semitones
    return 1.0, STEM_EDITS[transform]


def modified_estimates(queries: list[Query], results: dict[str, Any]) -> dict[str, Any]:
    """Of the edit queries whose true master was found by a modified segment, the share whose
    estimated pitch shift is within 0.3 semitones and tempo factor within 1.5 % of the edit's."""
    checked = good = 0
    for q in queries:
        if not q.master or (q.transform not in EDITS and q.transform not in STEM_EDITS):
            continue
        tempo, semitones = edit_truth(q.transform)
        for match in results[q.qid].matches:
            if match.isrc != isrc_of(q.seed) or match.tempo_factor is None:
                continue
            checked += 1
            pitch = match.pitch_shift_semitones or 0.0
            good += abs(pitch - semitones) <= 0.3 and abs(match.tempo_factor / tempo - 1) <= 0.015
    return {
        "modified_estimate_accuracy": round(good / checked, 4) if checked else None,
        "modified_estimates_checked": checked,
    }


MODIFIED_HIT_RATES = (0.2, 0.25, 0.3, 0.35, 0.4)  # the first level's; the others move with it


def modified_calibration_curve(
    queries: list[Query], prints: dict[str, Prints], lookup: EsCatalogLookup
) -> list[dict[str, Any]]:
    """Every triplet segment each query's candidates give with the peak-hit-rate rule off; then
    recall over the edit cells at 10 s and false matches (held-back queries, and wrong masters in
    positive ones) per the first level's `peak_hit_rate` (every level's moves with it). Segments
    kept in bench/.cache/matching/modified-segments.json."""
    params = modified.ModifiedParams()
    loose = replace(params.with_hit_rates_moved(-1.0), short_stretch_hit_rate_s=0.0)
    found: list[dict[str, Any]] = []
    with Progress(console=console) as progress:
        task = progress.add_task("triplet calibration", total=len(queries))
        for q in queries:
            peaks = prints[q.qid].peaks
            query = modified.query_triplets(peaks)
            isrcs = every_candidate(
                lookup.modified_candidates([w.terms for w in modified.query_terms(peaks)])
            )
            for recording in lookup.recordings(isrcs):
                if recording.peaks is None or recording.triplets is None:
                    continue
                truth = q.master and recording.key == isrc_of(q.seed)
                found.extend(
                    {"qid": q.qid, "isrc": recording.key, "true": truth, **asdict(s)}
                    for s in modified.align(peaks, query, recording.peaks, recording.triplets, loose)
                )
            progress.advance(task)
    (CACHE / "modified-segments.json").write_text(json.dumps(found))

    def matched(threshold: float, truth: bool) -> set[str]:
        rule = params.with_hit_rates_moved(threshold - params.levels[0].peak_hit_rate)
        return {
            s["qid"]
            for s in found
            if s["true"] == truth
            and rule.accepts(
                s["upload_end_s"] - s["upload_start_s"],
                s["aligned"],
                s["peak_hit_rate"],
                s["tempo_factor"],
                s["pitch_shift_semitones"],
            )
        }

    edit_cells = [q for q in queries if q.master and q.length == 10 and q.transform not in TRANSFORMS]
    by_id = {q.qid: q for q in queries}
    curve = []
    for t in MODIFIED_HIT_RATES:
        hits = matched(t, True)
        curve.append(
            {
                "min_peak_hit_rate": t,
                "recall_10s_edits": round(float(np.mean([q.qid in hits for q in edit_cells])), 4),
                "held_back_queries_matched": sum(1 for i in matched(t, False) if not by_id[i].master),
                "positive_queries_with_a_wrong_master": sum(1 for i in matched(t, False) if by_id[i].master),
            }
        )
    return curve


def index_bytes_per_hour(es: Elasticsearch, indices: Indices) -> dict[str, Any]:
    """What an hour of registered audio costs in the catalog index, in all and per fingerprint
    (Elasticsearch's disk-usage analysis of the stored fields and inverted indices)."""
    es.indices.forcemerge(index=indices.catalog, max_num_segments=1)
    hours = (
        float(
            es.search(index=indices.catalog, size=0, aggs={"s": {"sum": {"field": "duration_s"}}})[
                "aggregations"
            ]["s"]["value"]
        )
        / 3600
    )
    usage = es.perform_request(
        "POST", f"/{indices.catalog}/_disk_usage", params={"run_expensive_tasks": "true"}
    ).body[indices.catalog]
    fields = usage.get("fields", {})
    groups = {
        "chromaprint": ("fingerprint", "terms"),
        "landmarks": ("landmarks", "landmark_terms"),
        "triplets": ("peaks", "triplet_terms"),
    }
    per_print = {
        name: round(sum(fields.get(f, {}).get("total_in_bytes", 0) for f in names) / hours)
        for name, names in groups.items()
    }
    return {
        "catalog_hours": round(hours, 2),
        "index_bytes_per_hour": round(usage["store_size_in_bytes"] / hours),
        "index_bytes_per_hour_by_fingerprint": per_print,
    }


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--masters", type=int, default=320)
    parser.add_argument("--held-back", type=int, default=80)
    parser.add_argument("--per-cell", type=int, default=50, help="positive queries per length x transform")
    parser.add_argument("--medleys", type=int, default=40)
    parser.add_argument("--distractors", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-curves", action="store_true", help="skip the calibration curves (a quicker check of recall)"
    )
    args = parser.parse_args()

    rng = random.Random(args.seed)
    masters, held = plan(args.masters, args.held_back)
    build(masters + held)
    songs = {s.seed: s for s in masters + held}
    settings = Settings(index_prefix="bench-")
    indices = Indices(settings.index_prefix)
    es = Elasticsearch(settings.es_url, request_timeout=120)
    ensure_indices(es, indices)
    register_masters(es, indices, masters, settings)
    speed = ingest_speed(masters)
    sizes = index_bytes_per_hour(es, indices)
    catalog_size = es.count(index=indices.catalog, query={"prefix": {"isrc": "QZBEN"}})["count"]

    queries = plan_queries(masters, held, args.per_cell, rng)
    prints = query_fingerprints(queries, songs)
    lookup = EsCatalogLookup(es, indices)
    matcher = CatalogMatcher(lookup)
    results, latencies = run_lookups(matcher, queries, prints, f"lookups at {catalog_size} recordings")

    recall: dict[str, dict[str, float]] = {}
    for length, t in cells():
        cell = [
            found_true_master(results[q.qid], q)
            for q in queries
            if q.master and (q.length, q.transform) == (length, t)
        ]
        recall.setdefault(f"{length}s", {})[t] = round(float(np.mean(cell)), 4)
    found = [q for q in queries if q.master and found_true_master(results[q.qid], q)]
    reference_position_accuracy = round(
        float(np.mean([points_at_excerpt(results[q.qid], q) for q in found])) if found else 0.0, 4
    )
    negatives = [q for q in queries if not q.master]
    false_matches = sum(1 for q in negatives if results[q.qid].matches)
    wrong_master = sum(
        1 for q in queries if q.master for m in results[q.qid].matches if m.isrc != isrc_of(q.seed)
    )
    lat10 = [lat for q, lat in zip(queries, latencies, strict=True) if q.length == 10]
    estimates = modified_estimates(queries, results)
    medley = medleys(args.medleys, masters, held, songs, rng, matcher)
    curves = not args.no_curves
    modified_curve = modified_calibration_curve(queries, prints, lookup) if curves else []
    curve = calibration_curve(queries, prints, lookup) if curves else []
    landmark_curve = landmark_calibration_curve(queries, prints, lookup) if curves else []

    partial = {
        "recall": recall,
        "false_matches": false_matches,
        "held_back_queries": len(negatives),
        "wrong_master": wrong_master,
        **medley,
        "calibration_curve": curve,
        "landmark_calibration_curve": landmark_curve,
        "modified_calibration_curve": modified_curve,
        **estimates,
        "lookup_ms_p50": float(np.percentile(lat10, 50)),
        "lookup_ms_p95": float(np.percentile(lat10, 95)),
    }
    (CACHE / "results-before-distractors.json").write_text(json.dumps(partial, indent=2))
    console.print_json(json.dumps({k: v for k, v in partial.items() if "curve" not in k}))
    at_scale: dict[str, Any] = {}
    master_prints = [
        Prints(
            decode_items(row["fingerprint"]),
            landmarks.unpack(row["landmarks"]),
            modified.unpack(row["peaks"]),
        )
        for row in _rows_of_this_version(CACHE / "master-prints.jsonl")
    ]
    sample = rng.sample([q for q in queries if q.length == 10], args.latency_queries)
    for target in sorted(args.distractors):
        # one index per size, kept between runs, so each figure searches exactly that many
        # named for the fingerprint versions too: documents of older ones would never be found
        distractors = Indices(f"bench-distractors-v2-l{landmarks.VERSION}-p{modified.VERSION}-{target}-")
        ensure_indices(es, distractors)
        add_distractors(es, distractors, target, master_prints, args.seed)
        segments = settled_segments(es, distractors.catalog)
        scaled_matcher = CatalogMatcher(EsCatalogLookup(es, indices, extra_catalogs=(distractors.catalog,)))
        scaled, lat = run_lookups(
            scaled_matcher, sample, prints, f"lookups at {target} + {catalog_size} recordings"
        )
        at_scale[str(target)] = {
            "lookup_ms_p50": round(float(np.percentile(lat, 50)), 2),
            "lookup_ms_p95": round(float(np.percentile(lat, 95)), 2),
            "recall_10s": round(
                float(np.mean([found_true_master(scaled[q.qid], q) for q in sample if q.master])), 4
            ),
            "held_back_matched": sum(1 for q in sample if not q.master and scaled[q.qid].matches),
            "segments": segments,
        }

    report = {
        "catalog_size": catalog_size,
        "held_back_songs": len(held),
        "queries": len(queries),
        "held_back_queries": len(negatives),
        "recall": recall,
        "false_positive_rate": round(false_matches / max(1, len(negatives)), 5),
        "false_matches": false_matches,
        "wrong_master_matches_in_positive_queries": wrong_master,
        "reference_position_accuracy": reference_position_accuracy,
        **medley,
        "lookup_ms_p50": round(float(np.percentile(lat10, 50)), 2),
        "lookup_ms_p95": round(float(np.percentile(lat10, 95)), 2),
        "lookup_at_distractors": at_scale,
        "distractors": "real master fingerprints rotated, bit-permuted and XOR-ed with a random constant",
        **{k: round(v, 1) for k, v in speed.items()},
        **sizes,
        "calibration_curve": curve,
        "landmark_calibration_curve": landmark_curve,
        "modified_calibration_curve": modified_curve,
        **estimates,
    }
    (CACHE / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
