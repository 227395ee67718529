"""The demo: start the services, submit synthesized tracks, run the workers until every
decision is indexed, and print what was decided."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from rich.console import Console
from rich.table import Table

from cli import services, synth
from cli.deadletters import read_dead_letters
from cli.ingest import TrackMetadata, submission_for
from index.names import Indices
from index.reader import provenance_many
from index.templates import ensure_indices
from streams.admin import ensure_topics
from streams.config import Settings
from streams.events import TrackSubmitted
from streams.publisher import Publisher
from streams.topics import Topics


def demo_tracks(workdir: Path) -> list[tuple[Path, TrackMetadata]]:
    original = synth.write(workdir / "sunrise-drive.flac", synth.song(seed=1, seconds=40))
    generated = synth.write(workdir / "neon-skies.wav", synth.song(seed=2, seconds=30))
    remix = synth.write(workdir / "sunrise-drive-remix.mp3", synth.song(seed=3, seconds=35))
    loop = synth.write(workdir / "late-night-loop.mp3", synth.song(seed=4, seconds=25))
    broken = workdir / "broken-upload.mp3"
    broken.write_bytes(b"ID3" + os.urandom(4096))  # claims to be MP3, is not
    return [
        (
            original,
            TrackMetadata(
                title="Sunrise Drive",
                artists=["The Demo Band"],
                uploader_id="fan-1",
                track_id="demo-sunrise-drive",
            ),
        ),
        (
            generated,
            TrackMetadata(
                source="generated",
                title="Neon Skies",
                uploader_id="platform-generator",
                prompt="dreamy synthwave with a slow build",
                track_id="demo-neon-skies",
            ),
        ),
        (
            remix,
            TrackMetadata(
                title="Sunrise Drive (AI remix)",
                artists=["fan-2"],
                uploader_id="fan-2",
                declared_ai_use="assisted",
                parent_track_ids=["demo-sunrise-drive"],
                track_id="demo-sunrise-remix",
            ),
        ),
        (
            loop,
            TrackMetadata(
                title="Late Night Loop",
                artists=["fan-3"],
                uploader_id="fan-3",
                track_id="demo-late-night-loop",
            ),
        ),
        (broken, TrackMetadata(title="Broken upload", uploader_id="fan-4", track_id="demo-broken-upload")),
    ]


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "CLEARANCE_LOG_FORMAT": "json"},
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_until_decided(
    es: Elasticsearch,
    indices: Indices,
    submissions: list[TrackSubmitted],
    settings: Settings,
    timeout_s: float,
    worker: subprocess.Popen[bytes] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Poll until every submission is decided (in Elasticsearch) or dead-lettered (in Kafka).
    Returns the records and the dead-letter reasons, by track id."""
    wanted = {s.track_id: s.event_id for s in submissions}
    deadline = time.monotonic() + timeout_s
    records: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    while time.monotonic() < deadline:
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}")
        docs = provenance_many(es, indices, list(wanted))
        records = {
            tid: doc
            for tid, doc in docs.items()
            if (doc.get("decision") or {}).get("submission_event_id") == wanted[tid] and "facts" in doc
        }
        letters = read_dead_letters(settings, timeout_s=1.0)
        submitted_ids = set(wanted.values())
        rejected = {
            dl.track_id: dl.reason
            for dl in letters
            if dl.track_id in wanted and _event_id_of(dl.payload) in submitted_ids
        }
        if set(records) | set(rejected) >= set(wanted):
            break
        time.sleep(1.0)
    return records, rejected


def _event_id_of(payload: bytes) -> str | None:
    try:
        return TrackSubmitted.model_validate_json(payload).event_id
    except ValueError:
        return None


def decisions_table(
    submissions: list[TrackSubmitted], records: dict[str, dict[str, Any]], rejected: dict[str, str]
) -> Table:
    table = Table(title="Clearance decisions", show_lines=True)
    for column in ("track", "source", "findings", "decision", "why"):
        table.add_column(column, overflow="fold")
    for sub in submissions:
        record = records.get(sub.track_id)
        if record is None:
            reason = rejected.get(sub.track_id, "not decided in time")
            table.add_row(f"{sub.title}\n{sub.track_id}", sub.source, "-", "dead-lettered", reason)
            continue
        facts = record.get("facts") or {}
        fingerprint = record.get("fingerprint") or {}
        findings = (
            f"{facts.get('duration_s', 0):.1f} s, {facts.get('source_sample_rate')} Hz "
            f"{facts.get('codec')}, {facts.get('loudness_lufs')} LUFS\n"
            f"chromaprint: {fingerprint.get('item_count')} items"
        )
        decision = record["decision"]
        why = "\n".join(r["message"] for r in decision.get("reasons") or []) or "no rule applies"
        table.add_row(f"{sub.title}\n{sub.track_id}", sub.source, findings, decision["action"], why)
    return table


def run_demo(settings: Settings, console: Console, timeout_s: float = 300.0) -> bool:
    started = time.monotonic()
    services.up(settings, console.print)
    ensure_topics(settings)
    indices = Indices(settings.index_prefix)
    es = Elasticsearch(settings.es_url, request_timeout=30)
    ensure_indices(es, indices, settings.es_replicas)
    workdir = settings.store_dir.parent / "demo"
    with console.status("synthesizing demo tracks"):
        tracks = demo_tracks(workdir)
        submissions = [submission_for(path, meta, settings) for path, meta in tracks]
    worker = start_worker(settings, settings.services_dir / "worker" / "demo-worker.log")
    try:
        with Publisher(settings) as publisher:
            for submission in submissions:
                publisher.publish(Topics(settings.topic_prefix).submitted, submission)
        console.print(f"submitted {len(submissions)} tracks; the worker is analysing them")
        with console.status("waiting for every decision to be indexed"):
            records, rejected = wait_until_decided(es, indices, submissions, settings, timeout_s, worker)
    finally:
        stop_worker(worker)
    console.print(decisions_table(submissions, records, rejected))
    console.print(
        f"demo took {time.monotonic() - started:.0f} s. "
        "Stop the services with: [bold].venv/bin/clearance services down[/bold]"
    )
    return len(records) + len(rejected) == len(submissions)
