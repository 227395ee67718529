"""The provenance benchmark's analysis of one item, in a worker process: every edit of it made,
uploaded as a file and run through the worker's detectors and the decision rules."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.provenance import corpus
from bench.provenance.edits import mono, upload_for
from decisions.decide import decide
from decisions.policy import Policies
from detectors.audio import decode
from detectors.run import ProvenanceSources, Track, WatermarkModel, run_detectors, standard_detectors
from detectors.text import TrackText
from index.stores import Stores
from model.events import Action, TrackAnalyzed, TrackSubmitted
from model.findings import ContentCredentials, GenerationMatch, WatermarkDetection
from model.settings import Settings, get_settings
from streams.detection import trust_anchors


def bench_settings(prefix: str) -> Settings:
    return Settings(**{**get_settings().model_dump(), "index_prefix": prefix})


_worker: dict[str, Any] = {}


def _settings(prefix: str) -> Settings:
    return Settings(**{**get_settings().model_dump(), "index_prefix": prefix})


def start_worker(prefix: str) -> None:
    torch.set_num_threads(1)  # one core per worker process: they run side by side
    settings = bench_settings(prefix)
    stores = Stores.open(settings)
    _worker["settings"] = settings
    _worker["detectors"] = standard_detectors(
        None,
        WatermarkModel(settings.watermark_detector, settings.watermark_threshold),
        provenance_sources=ProvenanceSources(trust_anchors(settings), stores.generated.lookup()),
    )


def upload_rows(task: tuple[corpus.Item, int, list[str]]) -> list[dict[str, Any]]:
    item, index, edits = task
    settings: Settings = _worker["settings"]
    rng = np.random.default_rng(abs(hash(item.name)) % 2**32)
    x = mono(item.path)
    other = mono(corpus.background(index % 40))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for edit in edits:
            upload = upload_for(edit, item.path, x, rng, other, Path(tmp))
            started = time.perf_counter()
            audio = decode(upload, settings.analysis_sample_rate, settings.max_audio_seconds)
            track = Track(audio, TrackText(source="upload"), upload)
            findings = run_detectors(track, _worker["detectors"])
            submission = TrackSubmitted(
                track_id=item.name, source="upload", audio_uri=upload.as_uri(), uploader_id="bench"
            )
            analysis = TrackAnalyzed(track_id=item.name, submission=submission, findings=findings)
            verdict = next(d for d in decide(analysis, Policies()) if d.verdict)
            row = _row(item, edit, analysis, verdict.action, verdict.label is not None, audio.duration_s)
            rows.append({**row, "took_s": time.perf_counter() - started})
    return rows


def _row(
    item: corpus.Item, edit: str, analysis: TrackAnalyzed, action: Action, labelled: bool, seconds: float
) -> dict[str, Any]:
    results = {f.detector: f.result for f in analysis.findings}
    errors = [f.detector for f in analysis.findings if f.status == "error"]
    generation = results.get("generation")
    mark = results.get("watermark")
    credentials = results.get("content_credentials")
    found = generation.record if isinstance(generation, GenerationMatch) else None
    return {
        "item": item.name,
        "edit": edit,
        "generated": item.record is not None,
        "truth": item.record.generation_id if item.record else None,
        "found": found.generation_id if found else None,
        "recovered_by": generation.recovered_by if isinstance(generation, GenerationMatch) else None,
        "tempo_factor": generation.tempo_factor if isinstance(generation, GenerationMatch) else None,
        "watermark": bool(isinstance(mark, WatermarkDetection) and mark.detected),
        "watermark_score": mark.probability if isinstance(mark, WatermarkDetection) else None,
        "manifest": credentials.state if isinstance(credentials, ContentCredentials) else None,
        "action": action.value,
        "labelled": labelled,
        "seconds": seconds,
        "errors": errors,
    }
