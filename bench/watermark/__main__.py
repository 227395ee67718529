"""Watermark benchmark: `python -m bench.watermark`. The last line printed is one JSON object.

Clips the training never saw (corpus.splits.WATERMARK_TEST): rendered MIDI music and espeak-ng
speech, 5 s clips and full 3-minute tracks, each watermarked with a random 16-bit payload by the
committed generator, and as many unwatermarked clips of the same kinds. Every transform is
applied to both. The detection thresholds are fixed once, before any test clip is scored, from
unwatermarked clips of the dev split (all transforms pooled): the score exceeded by 1 % and by
0.1 % of them. TPR per transform is then read at those two thresholds, and the test FPR at the
same thresholds is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from audioseal.models import AudioSealDetector
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.watermark.transforms import TRANSFORMS, Audio
from corpus import songs, speech, splits
from detectors.watermark.architecture import SAMPLE_RATE
from detectors.watermark.detect import (
    decode_bits,
    frame_scores,
    load_detector,
    read_payload,
    to_mono_16k,
    track_score,
)
from detectors.watermark.embed import embed
from detectors.watermark.payload import Payload
from detectors.watermark.sync import find_grid
from model.settings import PROJECT_ROOT, get_settings
from training.watermark.pool import to_16k

CACHE = PROJECT_ROOT / "bench" / ".cache" / "watermark"
console = Console(stderr=True)


@dataclass
class Clip:
    name: str
    kind: str  # music | speech
    length: str  # 5s | 3min
    audio: Audio


def _music(seed: int, seconds: float) -> Audio:
    import soundfile

    flac = songs.render(seed, seconds, CACHE / "audio" / f"song-{seed}-{int(seconds)}.flac")
    audio, rate = soundfile.read(flac, dtype="float32", always_2d=True)
    return to_16k(audio.mean(axis=1), rate)


def _speech(seed: int, seconds: float) -> Audio:
    pieces: list[Audio] = []
    total, part = 0, 0
    while total < seconds * SAMPLE_RATE:
        audio, rate = speech.utterance(seed * 100 + part, sentences=3)
        piece = np.concatenate([to_16k(audio, rate), np.zeros(SAMPLE_RATE // 3, dtype=np.float32)])
        pieces.append(piece)
        total += piece.shape[0]
        part += 1
    return np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)]


def _excerpt(audio: Audio, seconds: float, rng: np.random.Generator) -> Audio:
    length = int(seconds * SAMPLE_RATE)
    start = int(rng.integers(0, max(1, audio.shape[0] - length)))
    return audio[start : start + length]


def make_clips(
    seeds: range, short_music: int, short_speech: int, long_music: int, long_speech: int
) -> list[Clip]:
    """Clips cached as .npy; each seed is used once, so no two clips share source audio."""
    cache = CACHE / "clips"
    cache.mkdir(parents=True, exist_ok=True)
    plan = (
        [("music", "5s")] * short_music
        + [("speech", "5s")] * short_speech
        + [("music", "3min")] * long_music
        + [("speech", "3min")] * long_speech
    )
    clips = []
    with Progress(console=console) as progress:
        task = progress.add_task(f"clips {seeds.start}..", total=len(plan))
        for seed, (kind, length) in zip(seeds, plan, strict=False):
            path = cache / f"{kind}-{length}-{seed}.npy"
            if path.exists():
                audio = np.load(path)
            else:
                rng = np.random.default_rng(seed)
                seconds = 5.0 if length == "5s" else 180.0
                source = (
                    _music(seed, 40.0 if length == "5s" else 180.0)
                    if kind == "music"
                    else _speech(seed, 12.0 if length == "5s" else 180.0)
                )
                audio = _excerpt(source, seconds, rng)
                np.save(path, audio)
            clips.append(Clip(f"{kind}-{length}-{seed}", kind, length, np.asarray(audio, dtype=np.float32)))
            progress.advance(task)
    return clips


def si_snr_db(reference: Audio, estimate: Audio) -> float:
    ref = reference.astype(np.float64)
    est = estimate.astype(np.float64)
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((est - target) ** 2), 1e-20)))


@dataclass
class Scored:
    score: float
    bits: list[int]


def score(model: AudioSealDetector, audio: Audio, read_above: float | None = None) -> Scored:
    """The track score and the payload: read as the pipeline reads it (searching for the grid
    when needed) once the score reaches `read_above`, else straight from the frames."""
    tensor = to_mono_16k(audio, SAMPLE_RATE)
    scores = frame_scores(model, tensor)
    track = track_score(scores)
    if read_above is not None and track >= read_above:
        return Scored(track, read_payload(model, tensor, scores).bits)
    bits, _ = decode_bits(scores)
    return Scored(track, bits)


def _other(clips: list[Clip], index: int) -> Audio:
    """An unwatermarked music bed for mixing: a different clip of the same set."""
    music = [c for c in clips if c.kind == "music" and c.length == "5s"]
    return music[(index + 1) % len(music)].audio


def score_all(
    model: AudioSealDetector,
    clips: list[Clip],
    label: str,
    payloads: list[Payload] | None,
    generator: str,
    read_above: float | None = None,
) -> dict[str, list[tuple[Clip, Scored, Payload | None]]]:
    """Scores per transform; clips are watermarked first when payloads are given."""
    prepared = []
    wanted: list[Payload | None] = list(payloads) if payloads is not None else [None] * len(clips)
    for clip, payload in zip(clips, wanted, strict=True):
        audio = clip.audio if payload is None else embed(clip.audio, SAMPLE_RATE, payload, generator)
        prepared.append((clip, audio, payload))
    results: dict[str, list[tuple[Clip, Scored, Payload | None]]] = {name: [] for name in TRANSFORMS}
    with Progress(console=console) as progress:
        task = progress.add_task(label, total=len(prepared) * len(TRANSFORMS))
        for i, (clip, audio, payload) in enumerate(prepared):
            rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
            for name, transform in TRANSFORMS.items():
                edited = transform(audio, rng, _other(clips, i))
                results[name].append((clip, score(model, edited, read_above), payload))
                progress.advance(task)
    return results


def threshold_at(negatives: list[float], fpr: float) -> float:
    """The smallest threshold whose false-positive rate on `negatives` is at most `fpr`."""
    ordered = np.sort(np.asarray(negatives))[::-1]
    allowed = int(np.floor(fpr * len(ordered)))
    return float(np.nextafter(ordered[allowed], 1.0)) if allowed < len(ordered) else 0.0


def detection_speed(model: AudioSealDetector, audio: Audio, repeats: int = 3) -> float:
    """Seconds of audio judged per second on one core: the best of `repeats` passes, so that
    another process waking up does not decide the figure."""
    torch.set_num_threads(1)
    try:
        score(model, audio[: SAMPLE_RATE * 10])  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            score(model, audio)
            best = min(best, time.perf_counter() - started)
        return float(audio.shape[0] / SAMPLE_RATE / best)
    finally:
        torch.set_num_threads(2)


def grid_search_seconds(model: AudioSealDetector, audio: Audio) -> float:
    """What finding the grid again costs on one core, on a track trimmed off it (paid only when
    a detected watermark's first read names no registered generator)."""
    torch.set_num_threads(1)
    try:
        trimmed = to_mono_16k(audio[123:], SAMPLE_RATE)
        scores = frame_scores(model, trimmed)
        started = time.perf_counter()
        find_grid(model, trimmed, scores.probability)
        return time.perf_counter() - started
    finally:
        torch.set_num_threads(2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the clip counts (smoke runs)")
    scale = float(parser.parse_args().scale)

    def n(count: int) -> int:
        return max(1, round(count * scale))

    settings = get_settings()
    torch.set_num_threads(2)
    model, version = load_detector(settings.watermark_detector)
    generator = settings.watermark_generator
    dev = make_clips(splits.WATERMARK_DEV, n(60), n(40), n(3), n(2))
    test_seeds = splits.WATERMARK_TEST
    positives = make_clips(test_seeds, n(80), n(40), n(4), n(2))
    negatives = make_clips(range(test_seeds.start + 1000, test_seeds.stop), n(80), n(40), n(4), n(2))

    dev_scores = score_all(model, dev, "dev negatives", None, generator)
    pooled = [s.score for rows in dev_scores.values() for _, s, _ in rows]
    thresholds = {"1pct": threshold_at(pooled, 0.01), "0.1pct": threshold_at(pooled, 0.001)}

    rng = np.random.default_rng(7)
    payloads = [Payload(int(rng.integers(0, 4096)), int(rng.integers(0, 16))) for _ in positives]
    positive_scores = score_all(
        model, positives, "test positives", payloads, generator, read_above=thresholds["1pct"]
    )
    negative_scores = score_all(model, negatives, "test negatives", None, generator)

    report: dict[str, object] = {
        "detector": version,
        "clips": {
            "positives": len(positives),
            "negatives": len(negatives),
            "dev_negatives": len(dev),
            "by_kind": dict(Counter(f"{c.kind}_{c.length}" for c in positives)),
            "transforms": len(TRANSFORMS),
        },
        "thresholds": thresholds,
        "dev_negative_scores": len(pooled),
    }
    for key, threshold in (("1pct", thresholds["1pct"]), ("0.1pct", thresholds["0.1pct"])):
        report[f"tpr_at_fpr_{key}"] = {
            name: round(float(np.mean([s.score >= threshold for _, s, _ in rows])), 4)
            for name, rows in positive_scores.items()
        }
        report[f"test_fpr_at_{key}_threshold"] = {
            name: round(float(np.mean([s.score >= threshold for _, s, _ in rows])), 4)
            for name, rows in negative_scores.items()
        }
    report["payload_exact"] = {
        name: round(float(np.mean([s.bits == p.bits for _, s, p in rows if p is not None])), 4)
        for name, rows in positive_scores.items()
    }
    report["bit_accuracy"] = {
        name: round(
            float(np.mean([np.mean(np.equal(s.bits, p.bits)) for _, s, p in rows if p is not None])), 4
        )
        for name, rows in positive_scores.items()
    }
    marked = {
        c.name: embed(c.audio, SAMPLE_RATE, p, generator) for c, p in zip(positives, payloads, strict=True)
    }
    snr = {
        kind: round(
            float(np.mean([si_snr_db(c.audio, marked[c.name]) for c in positives if c.kind == kind])), 2
        )
        for kind in ("music", "speech")
    }
    report["si_snr_db"] = snr["music"]
    report["si_snr_db_speech"] = snr["speech"]
    long_music = next(c for c in positives if c.length == "3min")
    report["detect_x_realtime"] = round(detection_speed(model, marked[long_music.name]), 1)
    report["grid_search_s"] = round(grid_search_seconds(model, marked[long_music.name]), 2)
    embed_started = time.perf_counter()
    embed(long_music.audio, SAMPLE_RATE, payloads[0], generator)
    report["embed_x_realtime"] = round(180.0 / (time.perf_counter() - embed_started), 1)

    table = Table("transform", "TPR@1%", "TPR@0.1%", "FPR@1% thr", "payload exact", "bit acc", title=version)
    for name in TRANSFORMS:
        table.add_row(
            name,
            str(report["tpr_at_fpr_1pct"][name]),  # type: ignore[index]
            str(report["tpr_at_fpr_0.1pct"][name]),  # type: ignore[index]
            str(report["test_fpr_at_1pct_threshold"][name]),  # type: ignore[index]
            str(report["payload_exact"][name]),  # type: ignore[index]
            str(report["bit_accuracy"][name]),  # type: ignore[index]
        )
    console.print(table)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
