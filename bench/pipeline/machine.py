"""What this machine gives, measured beside the pipeline's figures: the speed of a fixed
workload, and how much two cores give over one.

`python -m bench.pipeline.machine READY_DIR COPIES INDEX_PREFIX FILE...` runs the detectors' own
CPU work on the files (every detector but those that search Elasticsearch, whose CPU-bound parts
are run alone; the registered voiceprints are read once, before the clock starts) and prints the
seconds it took, its clock started once COPIES copies are ready; `two_cores_vs_one` runs it
pinned to one core, then on two at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors import covers, landmarks, modified
from detectors.audio import DecodedAudio, decode
from detectors.run import Detector, Track, run_detectors, standard_detectors
from detectors.text import TrackText
from index.registry import EsPeopleLookup
from index.stores import Stores
from model.settings import Settings, get_settings
from streams.detection import voice_check, watermark_model

PASSES = 2  # timed, after one untimed pass (numba's first calls, the page cache)
ROUNDS = 2  # of each measurement, the best kept
WORK_TIMEOUT_S = 600


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


def two_cpus() -> tuple[str, str] | None:
    """The first two CPUs this process may run on (for `taskset -c`), or None with fewer."""
    allowed = sorted(os.sched_getaffinity(0))
    return (str(allowed[0]), str(allowed[1])) if len(allowed) >= 2 else None


def two_cores_vs_one(index_prefix: str, files: Sequence[Path]) -> float | None:
    """The detectors' CPU work on `files` run on two cores at once, as a multiple of the same
    work on one core alone (the best of ROUNDS each): what two single-core workers could give
    over one on this machine (cores share caches, memory and, on a virtual machine, a host),
    before Elasticsearch and Kafka take their share of the same cores. None on a machine with
    fewer than two cores."""
    cpus = two_cpus()
    if cpus is None:
        return None
    alone = min(_seconds(index_prefix, files, [cpus[0]])[0] for _ in range(ROUNDS))
    both = min(max(_seconds(index_prefix, files, list(cpus))) for _ in range(ROUNDS))
    return round(2 * alone / both, 2)


def _seconds(index_prefix: str, files: Sequence[Path], cpus: list[str]) -> list[float]:
    """Each copy's timed seconds; the copies start their clocks together, once all are ready."""
    with tempfile.TemporaryDirectory() as ready:
        command = [sys.executable, "-m", "bench.pipeline.machine", ready, str(len(cpus)), index_prefix]
        runs: list[subprocess.Popen[str]] = []
        try:
            for cpu in cpus:
                runs.append(
                    subprocess.Popen(
                        ["taskset", "-c", cpu, *command, *map(str, files)], stdout=subprocess.PIPE, text=True
                    )
                )
            outputs = [run.communicate(timeout=WORK_TIMEOUT_S)[0] for run in runs]
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()
                    run.wait()
    failed = [(cpu, run.returncode) for cpu, run in zip(cpus, runs, strict=True) if run.returncode != 0]
    if failed:
        raise RuntimeError(f"the scaling workload failed (cpu, exit code): {failed}")
    return [float(out.strip().splitlines()[-1]) for out in outputs]


def _wait_for_the_others(ready: Path, copies: int) -> None:
    (ready / str(os.getpid())).touch()
    deadline = time.monotonic() + WORK_TIMEOUT_S
    while sum(1 for _ in ready.iterdir()) < copies:
        if time.monotonic() > deadline:
            raise SystemExit("the other copies of the workload never got ready")
        time.sleep(0.01)


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
    return standard_detectors(None, watermark_model(settings), people, voice_check(settings))


def main() -> None:
    from threadpoolctl import threadpool_limits

    ready, copies, index_prefix, *files = sys.argv[1:]
    base = get_settings()
    settings = Settings(**{**base.model_dump(), "index_prefix": index_prefix})
    detectors = searchless_detectors(settings)
    rate = settings.analysis_sample_rate
    audios = [decode(Path(f), sample_rate=rate, max_seconds=600, min_seconds=1) for f in files]
    with threadpool_limits(1):
        for audio in audios:
            detector_work(audio, detectors)
        _wait_for_the_others(Path(ready), int(copies))
        started = time.perf_counter()
        for _ in range(PASSES):
            for audio in audios:
                detector_work(audio, detectors)
    print(round(time.perf_counter() - started, 3))


if __name__ == "__main__":
    main()
