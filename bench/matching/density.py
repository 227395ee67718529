"""Peak-density study for modified matches: `python -m bench.matching.density --peaks-per-second 30`.

On a development corpus the benchmark does not use (fluidsynth songs, seeds 300001+, rendered
and cached under bench/.cache/density), 10 s (or `--seconds`) queries of every other master (60
of them) under twelve edits are aligned with their own master, and held-back songs under the same
edits with *every* master (no retrieval: the worst case for false matches). Segments are kept
under a loose rule (and in bench/.cache/density/segments-*.json); the study then reports, for a
grid of rules (minimum peak hit rate, triplets a second), recall per edit and the held-back
queries matched. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.progress import Progress

from bench.matching.corpus import Song, build, load, load_variant, song_seconds
from bench.matching.transforms import EDITS, RATE, STEM_EDITS, instrumental_under_new_vocal
from corpus.songs import Arrangement, Score, perform, render_midi, score
from detectors import modified

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "density"
SEEDS_START = 300_001
CELLS = ["clean", "pitch_+3st", "pitch_-4st", "pitch_+6st", "tempo_0.85", "tempo_1.15"]
CELLS += ["speed_0.8", "speed_0.9", "speed_1.25", "speed_1.35", "slowed_0.85_reverb", "sped_up_1.2_mp3_128k"]
Segment = tuple[float, float, float, float, float]
# duration (s), aligned triplets a second, peak hit rate, tempo factor, pitch shift (semitones)


def _loose() -> modified.ModifiedParams:
    return replace(
        modified.ModifiedParams(),
        levels=(modified.Evidence(aligned_per_s=2.0, peak_hit_rate=0.0),),
        short_stretch_hit_rate_s=0.0,
        min_segment_s=5.0,
    )


def _stats(segments: list[modified.ModifiedSegment]) -> list[Segment]:
    return [
        (s.duration_s, s.aligned / s.duration_s, s.peak_hit_rate, s.tempo_factor, s.pitch_shift_semitones)
        for s in segments
    ]


def _rule(per_s: float, hit_rate: float) -> modified.ModifiedParams:
    """The shipped rule with its first level moved (11 a second and hit rate 0.30: shipped)."""
    shipped = modified.ModifiedParams()
    first = modified.Evidence(aligned_per_s=per_s, peak_hit_rate=hit_rate)
    return replace(shipped, levels=(first, *shipped.levels[1:]))


def _passes(segment: Segment, rule: modified.ModifiedParams) -> bool:
    duration, aligned_per_s, hit, tempo, shift = segment
    return rule.accepts(duration, aligned_per_s * duration, hit, tempo, shift)


def _stem_queries(song: Song, seconds: int, seed: int) -> list[tuple[str, npt.NDArray[np.float32]]]:
    """The instrumental-under-a-new-vocal cells, drawn from their own generator (so that the
    other cells' excerpts are the same with and without them)."""
    rng = np.random.default_rng([seed, song.seed])
    instrumental, vocal = load_variant(song, "instrumental"), load_variant(song, "new_vocal")
    out = []
    for cell, semitones in STEM_EDITS.items():
        start = int(rng.uniform(0, len(instrumental) / RATE - seconds - 1) * RATE)
        part = slice(start, start + seconds * RATE)
        out.append((cell, instrumental_under_new_vocal(instrumental[part], vocal[part], rng, semitones)))
    return out


def tempo_coupled(start: int, count: int, masters: list[Song]) -> list[Song]:
    """Held-back songs (seeds from `start`) each played at a tempo that relates it to a
    development master as one plain edit would: even ones at the master's own tempo (a key change
    apart), odd ones at the tempo resampling by their key difference would give. What another
    song's tempo and key relate it by is what it lines up with a master at, so these are the
    worst case for the plain-edit level. Rendered with their stems under CACHE / "coupled"."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_coupled, [start] * count, range(count), [masters] * count))


def _coupled(start: int, i: int, masters: list[Song]) -> Song:
    seed, seconds = start + i, song_seconds(start + i)
    own = score(seed, seconds)
    master, theirs, semitones = _in_another_key(own, masters, i)
    target_bpm = theirs.bpm if i % 2 == 0 else theirs.bpm * 2 ** (semitones / 12)
    tempo = target_bpm / own.bpm
    arrangement = Arrangement(tempo_factor=tempo)
    # as many bars as last `seconds` at the new tempo; a folder per pairing, as the pairing
    # depends on the masters the study was given
    written = score(seed, seconds * tempo)
    path = CACHE / "coupled" / f"to-{master.seed}" / f"{seed:06d}.flac"
    for variant in ("full", "instrumental", "new_vocal"):
        out = path if variant == "full" else path.with_name(f"{seed:06d}-{variant}.flac")
        render_midi(perform(written, variant, arrangement), seconds, out)
    return Song(seed, seconds, path)


def _in_another_key(own: Score, masters: list[Song], i: int) -> tuple[Song, Score, int]:
    """A master whose key differs from `own`'s (the first from a place `i` picks), its score,
    and by how many semitones (-6..5) the keys differ."""
    for j in range(len(masters)):
        candidate = masters[(i * 7 + j) % len(masters)]
        theirs = score(candidate.seed, candidate.seconds)
        semitones = (own.root - theirs.root) % 12
        semitones = semitones - 12 if semitones > 5 else semitones
        if semitones != 0:
            return candidate, theirs, semitones
    raise ValueError("every master is in the song's key")


def segments(
    masters: list[Song],
    held: list[Song],
    queried_masters: int,
    seed: int,
    seconds: int = 10,
    stems: bool = False,
) -> list[dict[str, Any]]:
    def aligned(song: Song, peaks: modified.Peaks) -> list[Segment]:
        query = modified.query_triplets(peaks)
        order = modified.hash_order(query)
        against = [song.seed] if song.seed in reference else list(reference)
        found: list[Segment] = []
        for key in against:
            found += _stats(modified.align(peaks, query, reference[key], triplets[key], params, order))
        return found

    params, rng = _loose(), np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    reference = {s.seed: modified.reference_peaks(load(s), RATE) for s in masters}
    triplets = {k: modified.by_hash(modified.triplets(p)) for k, p in reference.items()}
    queried = masters[1::2][:queried_masters] + held
    with Progress() as progress:
        task = progress.add_task("aligning", total=len(queried))
        for song in queried:
            audio, positive = load(song), song.seed in reference
            for cell in CELLS:
                # a slowed query needs more of the song than its own length (0.75x: a third more)
                start = int(rng.uniform(0, len(audio) / RATE - 1.5 * seconds - 1) * RATE)
                part = audio[start : start + int(1.5 * seconds) * RATE]
                if cell != "clean":
                    part = EDITS[cell].apply(part, np.random.default_rng(int(rng.integers(1 << 30))))
                peaks = modified.upload_peaks(part[: seconds * RATE], RATE)
                rows.append({"positive": positive, "cell": cell, "segments": aligned(song, peaks)})
            for cell, mix in _stem_queries(song, seconds, seed) if stems else []:
                peaks = modified.upload_peaks(mix, RATE)
                rows.append({"positive": positive, "cell": cell, "segments": aligned(song, peaks)})
            progress.advance(task)
    return rows


def report(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for hit_rate in (0.25, 0.30, 0.35, 0.40, 0.45):
        for per_s in (7, 8, 9, 10, 11, 12, 14):
            rule = _rule(per_s, hit_rate)
            matched = sum(any(_passes(s, rule) for s in r["segments"]) for r in rows if not r["positive"])
            recall: dict[str, list[bool]] = {}
            for r in rows:
                if r["positive"]:
                    recall.setdefault(r["cell"], []).append(any(_passes(s, rule) for s in r["segments"]))
            out.append(
                {
                    "min_peak_hit_rate": hit_rate,
                    "min_aligned_per_s": per_s,
                    "shipped": rule == modified.ModifiedParams(),
                    "held_back_matched": matched,
                    "recall": {c: round(float(np.mean(v)), 3) for c, v in recall.items()},
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peaks-per-second", type=int, default=modified.PEAKS_PER_SECOND)
    parser.add_argument("--masters", type=int, default=160)
    parser.add_argument("--held-back", type=int, default=40)
    parser.add_argument("--queried-masters", type=int, default=60, help="masters queried (every other one)")
    parser.add_argument(
        "--held-back-from",
        type=int,
        default=None,
        help="first seed of the held-back songs (default: right after the masters); fresh seeds check a rule "
        "chosen on the default ones",
    )
    parser.add_argument("--seconds", type=int, default=10, help="query length")
    parser.add_argument(
        "--stems",
        action="store_true",
        help="also the instrumental-under-a-new-vocal cells (renders the stems)",
    )
    parser.add_argument(
        "--tempo-coupled",
        action="store_true",
        help="held-back songs played at a tempo an edit of a master would give (see tempo_coupled)",
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    modified.PEAKS_PER_SECOND = args.peaks_per_second  # this process only: both sides' peaks

    def song(seed: int) -> Song:
        return Song(seed, song_seconds(seed), CACHE / "corpus" / f"{seed:06d}.flac")

    masters = [song(SEEDS_START + i) for i in range(args.masters)]
    held_from = SEEDS_START + args.masters if args.held_back_from is None else args.held_back_from
    if args.tempo_coupled:
        build(masters)
        held = tempo_coupled(held_from, args.held_back, masters)
    else:
        held = [song(held_from + i) for i in range(args.held_back)]
        build(masters + held)
    rows = segments(masters, held, args.queried_masters, args.seed, args.seconds, args.stems)
    stems = "-stems" if args.stems else ""
    coupled = "-coupled" if args.tempo_coupled else ""
    kept = CACHE / f"segments-p{args.peaks_per_second}{stems}-{args.seconds}s-held{held_from}{coupled}.json"
    kept.write_text(json.dumps(rows))  # every segment under the loose rule: other rules judged later
    grid = report(rows)
    for entry in grid:
        if entry["held_back_matched"] == 0 or entry["shipped"]:
            print(json.dumps(entry))
    clean = [e for e in grid if e["held_back_matched"] == 0]
    best = max(clean, key=lambda e: float(np.mean(list(e["recall"].values()) or [0.0])), default=None)
    held_queries = sum(not r["positive"] for r in rows)
    print(
        json.dumps(
            {
                "peaks_per_second": args.peaks_per_second,
                "held_back_queries": held_queries,
                "best_rule_without_false_matches": best,
            }
        )
    )


if __name__ == "__main__":
    main()
