"""Watermark threshold against unwatermarked music under the edits fans make:
`python -m bench.provenance.calibrate [--clips N]`. Development clips only
(corpus.splits.WATERMARK_DEV, both engines), each through every edit of
bench/provenance/edits.py; prints each edit's highest scores and, last, one JSON object with the
highest score of all, which the shipped threshold must exceed. Scores are cached
(bench/.cache/provenance/dev-scores.jsonl). The test figures come from `bench.provenance` (other
seeds) at the shipped setting."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from bench.provenance.corpus import CACHE, background, music_clip
from bench.provenance.edits import EDITS, mono, upload_for
from corpus import splits
from detectors.audio import decode
from detectors.watermark.detect import detect
from model.settings import get_settings

SCORES = CACHE / "dev-scores.jsonl"


def clip_scores(index: int) -> dict[str, object]:
    torch.set_num_threads(1)
    settings = get_settings()
    path = music_clip(splits.WATERMARK_DEV[index], "dev")
    x, other = mono(path), mono(background(index % 40))
    rng = np.random.default_rng(index)
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for edit, apply in EDITS.items():
            if apply is None:
                continue
            upload = upload_for(edit, path, x, rng, other, Path(tmp))
            audio = decode(upload, settings.analysis_sample_rate, settings.max_audio_seconds)
            scores[edit] = detect(
                audio.samples, audio.sample_rate, settings.watermark_detector, 1.0
            ).probability
    return {"index": index, "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    done = {}
    if SCORES.exists():
        for line in SCORES.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["index"]] = row["scores"]
    todo = [i for i in range(args.clips) if i not in done]
    with (
        Progress() as progress,
        multiprocessing.get_context("spawn").Pool(args.workers) as pool,
        SCORES.open("a") as out,
    ):
        task = progress.add_task("scoring development clips", total=len(todo))
        for row in pool.imap_unordered(clip_scores, todo):
            out.write(json.dumps(row) + "\n")
            out.flush()
            done[int(row["index"])] = row["scores"]  # type: ignore[call-overload]
            progress.advance(task)
    by_edit: dict[str, list[float]] = {}
    for index in range(args.clips):
        for edit, value in done[index].items():
            by_edit.setdefault(edit, []).append(value)
    for edit, values in by_edit.items():
        top = sorted(values, reverse=True)[:3]
        print(f"{edit:22s} highest {', '.join(f'{v:.3f}' for v in top)}")
    highest = max(max(v) for v in by_edit.values())
    report = {"clips": args.clips, "edits": len(by_edit), "highest_unwatermarked_score": round(highest, 4)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
