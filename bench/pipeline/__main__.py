"""End-to-end pipeline benchmark: `python -m bench.pipeline [--tracks N] [--soak 30m | --distractors
N]`. The last line printed is one JSON object.

Real services (`clearance services up`), real `clearance worker` processes, real three-minute
uploads (bench/pipeline/corpus.py) submitted through Kafka, and the clock stopped when each
decision is indexed in Elasticsearch. Registered first, in indices of its own (prefix
`bench-pipeline-`): 20 masters, their 20 compositions and 20 voiceprints, so every detector runs
against a catalog. Each phase has topics and a consumer group of its own:

- `pool`: one worker with an analysis process per core (the default), all tracks submitted at
  once: `tracks_per_min`, `x_realtime`, `cpu_utilisation`, `ms_per_track` per detector (from the
  workers' own Prometheus histograms);
- `services_warm_up` first: tracks through the services, measuring nothing (Elasticsearch's JIT);
- `one_worker` / `two_workers`: one worker with one analysis process pinned to one core, then
  two such workers on two cores (`taskset`), sharing the partitions: the scaling of workers, on the
  wall clock and while every worker had tracks (a burst leaves one a few more than the other);
- `latency`: tracks submitted one by one at half the `pool` rate: submit → decision indexed;
- before the phases, what the machine gives (`bench/pipeline/machine.py`): `machine_probe_ms`, a
  fixed workload's speed, and `machine_two_cores_vs_one`, the detectors' own CPU work on both
  cores at once as a multiple of one core alone (no services): what two single-core workers
  could reach at most;
- `--soak 30m` instead runs one worker for that long at half rate and reports its memory
  (worker and analysis processes) at the start and the end;
- `--distractors 10000` instead measures the `pool` phase against the masters and that many more
  recordings (in indices of their own, prefix `bench-pipeline-10000-`): what catalog matching
  costs when the catalog is not tiny.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch
from kafka.admin import KafkaAdminClient
from rich.console import Console
from rich.progress import Progress

from bench.matching.__main__ import Prints, add_distractors, settled_segments
from bench.pipeline import machine
from bench.pipeline.corpus import (
    CACHE,
    MASTER_SEEDS,
    SECONDS,
    VOICES,
    Upload,
    manifests,
    master_isrc,
    upload,
    voice_clips,
    voice_name,
)
from cli.catalog import add_compositions, add_from_manifest
from detectors import landmarks, modified
from detectors.catalog import decode_items
from detectors.voice import voiceprint
from index.compositions import with_older_section_vectors
from index.names import Indices
from index.stores import Stores
from model.events import TrackMetadata, TrackSubmitted
from model.settings import PROJECT_ROOT, Settings, get_settings
from streams.admin import ensure_topics
from streams.ingest import publish_submissions, submission_for
from streams.publisher import Publisher
from streams.topics import Topics

console = Console(stderr=True)
INDEX_PREFIX = "bench-pipeline-"
METRICS_PORT = 9480
DECIDE_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class WorkerSpec:
    processes: int
    cpus: str | None  # taskset list, or None for every core


@dataclass(frozen=True)
class Throughput:
    tracks: int
    seconds: float
    cpu_utilisation: float
    ms_per_track: dict[str, float]
    # until the first worker ran out of tracks: tracks are spread over partitions by a hash of
    # their ids, so a burst leaves one worker a few more than another, and its tail alone
    busy_tracks: int
    busy_seconds: float

    @property
    def tracks_per_min(self) -> float:
        return self.tracks / self.seconds * 60

    @property
    def busy_tracks_per_min(self) -> float:
        return self.busy_tracks / self.busy_seconds * 60

    @property
    def x_realtime(self) -> float:
        return self.tracks * SECONDS / self.seconds


def phase_settings(base: Settings, phase: str, prefix: str = INDEX_PREFIX) -> Settings:
    name = f"bench-pipe-{phase}-{int(time.time())}"
    return Settings(
        **{**base.model_dump(), "index_prefix": prefix, "topic_prefix": f"{name}.", "app_id": name}
    )


# ---------------------------------------------------------------- catalog


def register_catalog(settings: Settings) -> None:
    stores = Stores.open(settings)
    try:
        stores.ensure_indices(settings.es_replicas)
        last_voice = stores.registry.get_person(voice_name(len(VOICES) - 1)) or {}
        last_master = stores.catalog.get(master_isrc(MASTER_SEEDS[-1])) or {}
        current = last_master.get("peaks_version") == modified.VERSION and not any(
            with_older_section_vectors(stores.es, stores.indices)
        )
        if current and last_voice.get("opted_out"):
            console.print("catalog registered before: reusing it")
            return
        # not yet registered, or by an earlier version whose prints would be searched by older paths
        compositions, recordings = manifests()
        add_compositions(compositions, settings, stores.catalog, stores.compositions)
        with Progress(console=console) as progress:
            task = progress.add_task("registering masters", total=len(MASTER_SEEDS))
            add_from_manifest(
                recordings,
                settings,
                stores.catalog,
                lambda n: progress.advance(task, n),
                stores.compositions,
            )
            task = progress.add_task("registering voiceprints", total=len(VOICES))
            for index in range(len(VOICES)):
                name, clips = voice_name(index), voice_clips(index)
                stores.registry.set_voiceprint(name, voiceprint(name, clips), len(clips))
                # only opted-out voices are enforced, so only theirs are compared
                stores.registry.register_person(name, opted_out=True)
                progress.advance(task)
    finally:
        stores.close()


def add_catalog_distractors(settings: Settings, count: int) -> int:
    """`count` synthetic recordings beside the registered masters, made from the masters' own
    stored prints as `bench.matching` makes its distractors (real fingerprints' structure,
    matching nothing), so every lookup of the worker searches a catalog of that size; returns
    the catalog's segments once the merges the load started have finished."""
    es = Elasticsearch(settings.es_url, request_timeout=120)
    indices = Indices(settings.index_prefix)
    stored = es.mget(index=indices.catalog, ids=[master_isrc(seed) for seed in MASTER_SEEDS])["docs"]
    prints = [
        Prints(
            decode_items(doc["_source"]["fingerprint"]),
            landmarks.unpack(doc["_source"]["landmarks"]),
            modified.unpack(doc["_source"]["peaks"]),
        )
        for doc in stored
        if doc.get("found")
    ]
    add_distractors(es, indices, count, prints, seed=7)
    segments = settled_segments(es, indices.catalog)
    es.close()
    return segments


def at_scale(base: Settings, distractors: int, made: Sequence[Upload]) -> dict[str, Any]:
    """One worker (a process per core) against the masters and `distractors` more recordings."""
    prefix = f"{INDEX_PREFIX}{distractors}-"
    catalog = phase_settings(base, "catalog", prefix)
    register_catalog(catalog)
    segments = add_catalog_distractors(catalog, distractors)
    pool = throughput(base, "at_scale", [WorkerSpec(default_processes(), None)], made, prefix)
    return {
        "catalog_recordings": len(MASTER_SEEDS) + distractors,
        "catalog_segments": segments,
        "tracks_per_min": round(pool.tracks_per_min, 1),
        "x_realtime": round(pool.x_realtime, 1),
        "ms_per_track": pool.ms_per_track,
        "cpu_utilisation": pool.cpu_utilisation,
        "tracks": pool.tracks,
        "distractors": "synthetic recordings made from the masters' prints (bench.matching's)",
    }


def uploads(count: int) -> list[Upload]:
    with Progress(console=console) as progress:
        task = progress.add_task(f"making {count} three-minute uploads", total=count)
        made = []
        for index in range(count):
            made.append(upload(index))
            progress.advance(task)
    return made


# ---------------------------------------------------------------- workers


@contextmanager
def running_workers(settings: Settings, specs: Sequence[WorkerSpec], phase: str) -> Iterator[list[int]]:
    """Start `clearance worker` processes for the phase; yields their metrics ports."""
    ensure_topics(settings)
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs, ports = [], []
    for n, spec in enumerate(specs):
        port = METRICS_PORT + n
        env = {
            **os.environ,
            "CLEARANCE_LOG_FORMAT": "json",
            "CLEARANCE_INDEX_PREFIX": settings.index_prefix,
            "CLEARANCE_TOPIC_PREFIX": settings.topic_prefix,
            "CLEARANCE_APP_ID": settings.app_id,
            "CLEARANCE_ANALYSIS_PROCESSES": str(spec.processes),
            "CLEARANCE_METRICS_PORT": str(port),
        }
        pin = ["taskset", "-c", spec.cpus] if spec.cpus is not None else []
        procs.append(
            subprocess.Popen(
                [*pin, sys.executable, "-m", "cli.main", "worker"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=worker_log(phase, n).open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        ports.append(port)
    try:
        yield ports
    finally:
        for proc in procs:
            os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        _delete_topics(settings)


def worker_log(phase: str, n: int) -> Path:
    return CACHE / "logs" / f"{phase}-{n}.log"


def analysed_at(log: Path, tracks: set[str]) -> dict[str, float]:
    """When (epoch seconds) the worker that wrote `log` first finished analysing each of `tracks`
    it analysed, from its `analyzed` log events (info level)."""
    times: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"analyzed"' not in line or "{" not in line:
            continue
        try:
            event = json.loads(line[line.index("{") :])
        except json.JSONDecodeError:
            continue
        if event.get("event") == "analyzed" and event.get("track_id") in tracks:
            times.setdefault(event["track_id"], datetime.fromisoformat(event["timestamp"]).timestamp())
    return times


def _delete_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="bench-pipeline")
    try:
        admin.delete_topics(Topics(settings.topic_prefix).all())
    finally:
        admin.close()


def submissions(settings: Settings, made: Sequence[Upload], prefix: str) -> list[TrackSubmitted]:
    return [
        submission_for(
            u.path,
            TrackMetadata(track_id=f"{prefix}-{u.index:04d}", title=f"Upload {u.index}", uploader_id="bench"),
            settings,
        )
        for u in made
    ]


def publish(settings: Settings, subs: Sequence[TrackSubmitted]) -> None:
    with Publisher(settings) as publisher:
        publish_submissions(publisher, settings, list(subs))


def newly_decided(stores: Stores, wanted: dict[str, str], seen: dict[str, float]) -> None:
    """Note, in `seen`, when each track of `wanted` (track id: submission id) is first seen
    with its decision indexed."""
    waiting = [t for t in wanted if t not in seen]
    if not waiting:
        return
    now = time.monotonic()
    for tid in stores.records.decided({t: wanted[t] for t in waiting}):
        seen[tid] = now


def decided_at(
    stores: Stores,
    subs: Sequence[TrackSubmitted],
    timeout_s: float,
    what: str,
    seen: dict[str, float] | None = None,
) -> dict[str, float]:
    """Poll until every submission's decision is indexed; returns when each was first seen."""
    wanted = {s.track_id: s.event_id for s in subs}
    seen = {} if seen is None else seen
    deadline = time.monotonic() + timeout_s
    with Progress(console=console) as progress:
        task = progress.add_task(what, total=len(wanted))
        while len(seen) < len(wanted):
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: {len(wanted) - len(seen)} track(s) undecided after {timeout_s} s")
            newly_decided(stores, wanted, seen)
            progress.update(task, completed=len(seen))
            time.sleep(0.2)
    return seen


def detector_totals(ports: Sequence[int]) -> dict[str, tuple[float, float]]:
    """(seconds, tracks) per detector, summed over the workers' /metrics."""
    pattern = re.compile(r'clearance_detector_seconds_(sum|count)\{detector="([^"]+)",status="ok"\} (\S+)')
    totals: dict[str, list[float]] = {}
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        for kind, detector, value in pattern.findall(text):
            pair = totals.setdefault(detector, [0.0, 0.0])
            pair[0 if kind == "sum" else 1] += float(value)
    return {d: (s, c) for d, (s, c) in totals.items()}


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def warm_up(settings: Settings, stores: Stores, made: Sequence[Upload], count: int, phase: str) -> None:
    subs = submissions(settings, made[:count], f"{phase}-warm")
    publish(settings, subs)
    decided_at(stores, subs, DECIDE_TIMEOUT_S, f"{phase}: warming up ({count} tracks)")


def throughput(
    base: Settings,
    phase: str,
    specs: Sequence[WorkerSpec],
    made: Sequence[Upload],
    prefix: str = INDEX_PREFIX,
) -> Throughput:
    settings = phase_settings(base, phase, prefix)
    stores = Stores.open(settings)
    with running_workers(settings, specs, phase) as ports:
        warm_up(settings, stores, made, 2 * sum(s.processes for s in specs), phase)
        before, cpu_before = detector_totals(ports), cpu_busy()
        subs = submissions(settings, made, phase)
        started, started_wall = time.monotonic(), time.time()
        publish(settings, subs)
        seen = decided_at(stores, subs, DECIDE_TIMEOUT_S, f"{phase}: {len(subs)} tracks")
        seconds = max(seen.values()) - started
        after, cpu_after = detector_totals(ports), cpu_busy()
    stores.close()
    analysed = [analysed_at(worker_log(phase, n), {s.track_id for s in subs}) for n in range(len(specs))]
    if all(analysed):
        busy_until = min(max(times.values()) for times in analysed)
        first = {t: min(times[t] for times in analysed if t in times) for times in analysed for t in times}
        busy_tracks, busy_seconds = sum(at <= busy_until for at in first.values()), busy_until - started_wall
    else:  # a worker analysed nothing (or logged nothing): there was no time when both had tracks
        console.print(f"[yellow]{phase}: a worker logged no analysed track; wall-clock figures only")
        busy_tracks, busy_seconds = len(subs), seconds
    ms_per_track = {
        d: round(1000 * (s - before.get(d, (0.0, 0.0))[0]) / max(1.0, c - before.get(d, (0.0, 0.0))[1]), 1)
        for d, (s, c) in after.items()
    }
    busy = (cpu_after[0] - cpu_before[0]) / max(1.0, cpu_after[1] - cpu_before[1])
    result = Throughput(len(subs), seconds, round(busy, 3), ms_per_track, busy_tracks, busy_seconds)
    console.print(
        f"{phase}: {result.tracks} tracks in {seconds:.1f} s: {result.tracks_per_min:.1f} tracks/min, "
        f"{result.x_realtime:.0f}x realtime, CPU {busy:.0%}; while every worker had tracks: "
        f"{busy_tracks} in {result.busy_seconds:.1f} s, {result.busy_tracks_per_min:.1f} tracks/min; "
        f"ms per track {ms_per_track}"
    )
    return result


def latency(base: Settings, rate_per_min: float, made: Sequence[Upload]) -> list[float]:
    """Submit one track at a time at `rate_per_min`; seconds from each submit to its decision."""
    settings = phase_settings(base, "latency")
    stores = Stores.open(settings)
    with running_workers(settings, [WorkerSpec(default_processes(), None)], "latency"):
        warm_up(settings, stores, made, 2 * default_processes(), "latency")
        subs = submissions(settings, made, "latency")
        published: dict[str, float] = {}
        seen: dict[str, float] = {}
        gap = 60.0 / rate_per_min
        next_at = time.monotonic()
        with Publisher(settings) as publisher:
            for sub in subs:
                while time.monotonic() < next_at:  # watch earlier tracks while waiting
                    newly_decided(
                        stores, {s.track_id: s.event_id for s in subs if s.track_id in published}, seen
                    )
                    time.sleep(0.2)
                publish_submissions(publisher, settings, [sub])
                published[sub.track_id] = time.monotonic()
                next_at += gap
        decided_at(stores, subs, DECIDE_TIMEOUT_S, f"latency at {rate_per_min:.1f} tracks/min", seen)
    stores.close()
    return [seen[t] - published[t] for t in published]


def soak(base: Settings, duration_s: float, rate_per_min: float, made: Sequence[Upload]) -> dict[str, Any]:
    """One worker fed at `rate_per_min` for `duration_s`; its memory (with its analysis
    processes) once a minute. "Start" is after the first pass over the corpus, when every cache
    and pool has been filled once (after warm-up if the run is shorter)."""
    settings = phase_settings(base, "soak")
    stores = Stores.open(settings)
    minutes: list[float] = []
    first_pass: float | None = None
    with running_workers(settings, [WorkerSpec(default_processes(), None)], "soak") as ports:
        warm_up(settings, stores, made, 2 * default_processes(), "soak")
        pid = _worker_pid(ports[0])
        start = time.monotonic()
        gap, sent = 60.0 / rate_per_min, 0
        with Publisher(settings) as publisher:
            while time.monotonic() - start < duration_s:
                if len(minutes) <= (time.monotonic() - start) // 60:
                    minutes.append(round(tree_rss_mb(pid), 1))
                item = made[sent % len(made)]
                sub = submissions(settings, [item], f"soak-{sent // len(made)}")[0]
                publish_submissions(publisher, settings, [sub])
                sent += 1
                if sent == len(made):
                    first_pass = tree_rss_mb(pid)
                time.sleep(max(0.0, start + sent * gap - time.monotonic()))
        end_mb = tree_rss_mb(pid)
    stores.close()
    start_mb = first_pass if first_pass is not None else minutes[0]
    console.print(f"soak: {sent} tracks in {duration_s / 60:.0f} min; worker memory (MB) by minute {minutes}")
    return {
        "soak_minutes": round(duration_s / 60, 1),
        "soak_tracks": sent,
        "soak_rate_per_min": rate_per_min,
        "worker_rss_mb_after_warm_up": minutes[0],
        "worker_rss_mb_start": round(start_mb, 1),
        "worker_rss_mb_end": round(end_mb, 1),
        "worker_rss_growth": round(end_mb / start_mb - 1, 3),
        "worker_rss_mb_by_minute": minutes,
    }


def _worker_pid(metrics_port: int) -> int:
    """The worker process listening on `metrics_port` (its analysis processes are its children)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if b"cli.main\0worker" in cmd and f"CLEARANCE_METRICS_PORT={metrics_port}".encode() in environ:
                return int(entry.name)
    raise SystemExit(f"no worker process found with metrics port {metrics_port}")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        resident = re.search(r"VmRSS:\s+(\d+)", status)
        total += float(resident.group(1)) / 1024 if resident else 0.0
        todo.extend(int(c) for c in children)
    return total


def default_processes() -> int:
    return os.cpu_count() or 1


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration such as 30m, 90s or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=60, help="tracks per throughput phase")
    parser.add_argument("--latency-tracks", type=int, default=40)
    parser.add_argument(
        "--warm-up-tracks", type=int, default=40, help="tracks through the services before any measurement"
    )
    parser.add_argument("--soak", type=parse_duration, default=None, help="e.g. 30m: a soak run instead")
    parser.add_argument(
        "--distractors",
        type=int,
        default=None,
        help="e.g. 10000: instead, one worker's throughput with that many more recordings registered",
    )
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is missing (util-linux)")
    base = get_settings()
    made = uploads(args.tracks)
    if args.distractors is not None:
        print(json.dumps(at_scale(base, args.distractors, made)))
        return
    register_catalog(phase_settings(base, "catalog"))
    probe_ms = machine.probe_ms()
    if args.soak is not None:
        rate = float(os.environ.get("BENCH_SOAK_RATE_PER_MIN", "10"))  # about half the measured rate
        print(json.dumps(soak(base, args.soak, rate, made)))
        return
    two_cores = machine.two_cores_vs_one(INDEX_PREFIX, [u.path for u in made[:4]])
    # Elasticsearch's JIT compiles for many minutes after it starts: the first phase would
    # measure that, not the pipeline (32.8 tracks a minute on a fresh node, 37.8 right after)
    throughput(base, "services_warm_up", [WorkerSpec(default_processes(), None)], made[: args.warm_up_tracks])
    pool = throughput(base, "pool", [WorkerSpec(default_processes(), None)], made)
    first, second = machine.two_cpus() or ("0", "1")  # taskset says so if there are not two
    one = throughput(base, "one_worker", [WorkerSpec(1, first)], made[: max(8, args.tracks // 2)])
    two = throughput(base, "two_workers", [WorkerSpec(1, first), WorkerSpec(1, second)], made)
    waits = latency(base, pool.tracks_per_min / 2, made[: args.latency_tracks])
    dominant = max(pool.ms_per_track, key=lambda d: pool.ms_per_track[d])
    print(
        json.dumps(
            {
                "tracks_per_min": round(pool.tracks_per_min, 1),
                "x_realtime": round(pool.x_realtime, 1),
                "tracks_per_min_1_worker": round(one.tracks_per_min, 1),
                "tracks_per_min_2_workers": round(two.tracks_per_min, 1),
                "x_realtime_1_worker": round(one.x_realtime, 1),
                "x_realtime_2_workers": round(two.x_realtime, 1),
                "workers_2_vs_1": round(two.tracks_per_min / one.tracks_per_min, 2),
                "tracks_per_min_2_workers_while_both_busy": round(two.busy_tracks_per_min, 1),
                "workers_2_vs_1_while_busy": round(two.busy_tracks_per_min / one.busy_tracks_per_min, 2),
                "latency_s_p50": round(float(np.percentile(waits, 50)), 2),
                "latency_s_p95": round(float(np.percentile(waits, 95)), 2),
                "latency_rate_per_min": round(pool.tracks_per_min / 2, 1),
                "ms_per_track": pool.ms_per_track,
                "dominant_detector": dominant,
                "cpu_utilisation": pool.cpu_utilisation,
                "voiceprints": len(VOICES),
                "masters": len(MASTER_SEEDS),
                "track_seconds": SECONDS,
                "tracks": pool.tracks,
                "machine_probe_ms": probe_ms,
                "machine_two_cores_vs_one": two_cores,
            }
        )
    )


if __name__ == "__main__":
    main()
