"""Watermark threshold against unwatermarked music under the edits fans make:
`python -m bench.provenance.calibrate`. Development clips only (corpus.splits.WATERMARK_DEV, of
both engines), each through every edit of bench/provenance/edits.py; prints each edit's highest
scores and, last, one JSON object with the score a threshold must exceed for no false detection
on any edit. The test figures come from `bench.provenance` (other seeds) at the shipped setting."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from rich.progress import Progress

from bench.provenance.corpus import CACHE, CLIP_SECONDS, background
from bench.provenance.edits import EDITS, mono, upload_for
from corpus import songs, splits, synth
from detectors.audio import decode
from detectors.watermark.detect import detect
from model.settings import get_settings

CLIPS = 120


def _clip(seed: int) -> Path:
    out = CACHE / "dev" / f"{seed}.flac"
    if out.exists():
        return out
    if seed % 3 == 0:
        return synth.write(out, synth.song(seed=seed, seconds=CLIP_SECONDS))
    return songs.render(seed, CLIP_SECONDS, out)


def main() -> None:
    settings = get_settings()
    scores: dict[str, list[float]] = {edit: [] for edit in EDITS if EDITS[edit] is not None}
    with Progress() as progress, tempfile.TemporaryDirectory() as tmp:
        task = progress.add_task("scoring development clips", total=CLIPS)
        for index in range(CLIPS):
            path = _clip(splits.WATERMARK_DEV[index])
            x, other = mono(path), mono(background(index % 40))
            rng = np.random.default_rng(index)
            for edit in scores:
                upload = upload_for(edit, path, x, rng, other, Path(tmp))
                audio = decode(upload, settings.analysis_sample_rate, settings.max_audio_seconds)
                found = detect(audio.samples, audio.sample_rate, settings.watermark_detector, 1.0)
                scores[edit].append(found.probability)
            progress.advance(task)
    for edit, values in scores.items():
        top = sorted(values, reverse=True)[:3]
        print(f"{edit:22s} highest {', '.join(f'{v:.3f}' for v in top)}")
    highest = max(max(v) for v in scores.values())
    report = {"clips": CLIPS, "edits": len(scores), "highest_unwatermarked_score": round(highest, 4)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
