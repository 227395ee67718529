"""What this machine gives, measured beside the pipeline's figures: the speed of a fixed
workload, and how much two cores give over one.

`python -m bench.pipeline.machine INDEX_PREFIX FILE...` runs the detectors' own CPU work on the
files (every detector but those that search Elasticsearch, whose CPU-bound parts are run alone;
the registered voiceprints are read once, before the clock starts) and prints the seconds it
took; `two_cores_vs_one` runs it pinned to one core, then on both at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from decisions.policy import PlatformPolicy
from detectors import covers, landmarks, modified
from detectors.audio import DecodedAudio, decode
from detectors.run import Detector, Track, VoiceCheck, WatermarkModel, run_detectors, standard_detectors
from detectors.text import TrackText
from index.registry import EsPeopleLookup
from index.stores import Stores
from model.settings import Settings, get_settings

PASSES = 2  # timed, after one untimed pass (numba's first calls, the page cache)


def probe_ms() -> float:
    """A fixed single-threaded workload's best time of five: this machine's speed moves by a fifth
    between hours, so runs from different hours are compared through it."""
    from threadpoolctl import threadpool_limits

    matrix = np.random.default_rng(0).random((1500, 1500))
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(5):
            started = time.perf_counter()
            np.sort((matrix @ matrix).ravel())
            best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def two_cores_vs_one(index_prefix: str, files: Sequence[Path]) -> float | None:
    """The detectors' CPU work on `files` run on both cores at once, as a multiple of the same
    work on one core alone: the most two single-core workers can give over one on this machine
    (cores share caches, memory and, on a virtual machine, a host), before Elasticsearch and
    Kafka take their share of the same cores. None on a machine with fewer than two cores."""
    if len(os.sched_getaffinity(0)) < 2:
        return None
    alone = _seconds(index_prefix, files, ["0"])
    both = _seconds(index_prefix, files, ["0", "1"])
    return round(2 * alone[0] / max(both), 2)


def _seconds(index_prefix: str, files: Sequence[Path], cores: list[str]) -> list[float]:
    command = [sys.executable, "-m", "bench.pipeline.machine", index_prefix, *map(str, files)]
    runs = [
        subprocess.Popen(["taskset", "-c", core, *command], stdout=subprocess.PIPE, text=True)
        for core in cores
    ]
    outputs = [run.communicate()[0] for run in runs]
    if any(run.returncode != 0 for run in runs):
        raise RuntimeError(f"the scaling workload failed on cores {cores}")
    return [float(out.strip().splitlines()[-1]) for out in outputs]


def detector_work(audio: DecodedAudio, detectors: tuple[Detector, ...]) -> None:
    """Every detector that needs no search on one upload, and the CPU-bound part of catalog and
    cover matching: both peak prints and the cover print."""
    run_detectors(Track(audio, TrackText(source="upload")), detectors)
    at_8k = landmarks.resampled(audio.samples, audio.sample_rate)
    modified.upload_peaks(at_8k, landmarks.RATE)
    landmarks.landmarks(at_8k, landmarks.RATE)
    covers.cover_print(audio.samples, audio.sample_rate)


def searchless_detectors(settings: Settings) -> tuple[Detector, ...]:
    stores = Stores.open(settings)
    people = EsPeopleLookup(stores.registry, ttl_s=float("inf"))
    people.voiceprints()  # read now, not while timed
    platform = PlatformPolicy()
    check = VoiceCheck(
        platform.voice_takedown_similarity, platform.voice_review_similarity, settings.voice_bfloat16
    )
    watermark = WatermarkModel(settings.watermark_detector, settings.watermark_threshold)
    return standard_detectors(None, watermark, people, check)


def main() -> None:
    from threadpoolctl import threadpool_limits

    base = get_settings()
    settings = Settings(**{**base.model_dump(), "index_prefix": sys.argv[1]})
    detectors = searchless_detectors(settings)
    rate = settings.analysis_sample_rate
    audios = [decode(Path(f), sample_rate=rate, max_seconds=600, min_seconds=1) for f in sys.argv[2:]]
    with threadpool_limits(1):
        for audio in audios:
            detector_work(audio, detectors)
        started = time.perf_counter()
        for _ in range(PASSES):
            for audio in audios:
                detector_work(audio, detectors)
    print(round(time.perf_counter() - started, 3))


if __name__ == "__main__":
    main()
