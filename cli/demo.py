"""The demo: start the services, submit synthesized tracks, run the workers until every
decision is indexed, and print what was decided."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli import services
from cli.catalog import add_from_manifest
from cli.deadletters import read_dead_letters
from corpus import synth
from detectors.watermark.embed import embed
from detectors.watermark.payload import Payload, generator_id
from index.records import RecordStore
from index.stores import Stores
from model.events import TrackMetadata, TrackSubmitted
from model.settings import PROJECT_ROOT, Settings
from streams.admin import ensure_topics
from streams.ingest import publish_submissions, submission_for
from streams.publisher import Publisher


def demo_catalog(workdir: Path) -> Path:
    """Three masters from two rights holders, with different policies; returns the manifest."""
    rows = [
        (
            "sunrise-drive-master.flac",
            1,
            {
                "isrc": "QZDMO2600001",
                "title": "Sunrise Drive",
                "artists": ["The Demo Band"],
                "rights_holder": "Demo Records",
                "catalog": "label-masters",
                "policy": "block",
                "royalty_rate_bp": 0,
            },
        ),
        (
            "harbor-lights-master.flac",
            5,
            {
                "isrc": "QZDMO2600002",
                "title": "Harbor Lights",
                "artists": ["Mara Vale"],
                "rights_holder": "Demo Records",
                "catalog": "label-masters",
                "policy": "monetize",
                "royalty_rate_bp": 1500,
            },
        ),
        (
            "paper-kites-master.flac",
            6,
            {
                "isrc": "QZIND2600003",
                "title": "Paper Kites",
                "artists": ["Juno Park"],
                "rights_holder": "Indie Co",
                "catalog": "indie",
                "policy": "track",
                "royalty_rate_bp": 1000,
            },
        ),
    ]
    lines = []
    for name, seed, meta in rows:
        synth.write(workdir / "catalog" / name, synth.song(seed=seed, seconds=60))
        lines.append(json.dumps({"file": name, **meta}))
    manifest = workdir / "catalog" / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def demo_tracks(workdir: Path, settings: Settings) -> list[tuple[Path, TrackMetadata]]:
    rate = synth.SAMPLE_RATE
    rip = synth.write(workdir / "sunrise-drive-rip.mp3", synth.song(seed=1, seconds=60)[5 * rate : 50 * rate])
    # the platform's generator watermarks what it makes
    generated = synth.write(
        workdir / "neon-skies.wav",
        embed(
            synth.song(seed=2, seconds=30),
            rate,
            Payload(generator_id("clearance-remix"), 1),
            settings.watermark_generator,
        ),
    )
    own, harbor = synth.song(seed=3, seconds=30), synth.song(seed=5, seconds=60)
    remix = synth.write(
        workdir / "harbor-lights-remix.mp3",
        np.concatenate([own[: 10 * rate], harbor[20 * rate : 40 * rate], own[10 * rate : 20 * rate]]),
    )
    loop = synth.write(workdir / "late-night-loop.mp3", synth.song(seed=4, seconds=25))
    styled = synth.write(workdir / "kite-dreams.wav", synth.song(seed=7, seconds=20))
    diss = synth.write(workdir / "diss-track.mp3", synth.song(seed=8, seconds=15))
    broken = workdir / "broken-upload.mp3"
    broken.write_bytes(b"ID3" + os.urandom(4096))  # claims to be MP3, is not
    return [
        (
            rip,
            TrackMetadata(
                title="sunrise drive (full rip)",
                artists=["fan-1"],
                uploader_id="fan-1",
                track_id="demo-sunrise-rip",
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
                title="Harbor Lights (AI remix)",
                artists=["fan-2"],
                uploader_id="fan-2",
                declared_ai_use="assisted",
                track_id="demo-harbor-remix",
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
        (
            styled,
            TrackMetadata(
                source="generated",
                title="Kite Dreams",
                uploader_id="platform-generator",
                prompt="a folk song in the style of JUNO PARKK",  # opted out; odd casing and a typo
                track_id="demo-kite-dreams",
            ),
        ),
        (
            diss,
            TrackMetadata(
                title="Diss Track",
                artists=["fan-5"],
                uploader_id="fan-5",
                lyrics="Yeah, this beat goes hard\nThe Demo Band is a talentless fucking fraud",
                track_id="demo-diss-track",
            ),
        ),
        (broken, TrackMetadata(title="Broken upload", uploader_id="fan-4", track_id="demo-broken-upload")),
    ]


def start_worker(log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`clearance worker` in a process group of its own; `env` overrides CLEARANCE_* settings."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=PROJECT_ROOT,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "CLEARANCE_LOG_FORMAT": "json", **(env or {})},
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
    records_store: RecordStore,
    submissions: list[TrackSubmitted],
    settings: Settings,
    timeout_s: float,
    worker: subprocess.Popen[bytes] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Poll until every submission is decided (in Elasticsearch) or dead-lettered (in Kafka).
    Returns the records and the dead-letter reasons, by track id."""
    wanted = {s.track_id: s.event_id for s in submissions}
    since = min(s.occurred_at for s in submissions)
    deadline = time.monotonic() + timeout_s
    records: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    while time.monotonic() < deadline:
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}")
        docs = records_store.many(list(wanted))
        records = {
            tid: doc
            for tid, doc in docs.items()
            if (doc.get("decision") or {}).get("submission_event_id") == wanted[tid] and "facts" in doc
        }
        rejected = {
            dl.track_id: f"{dl.stage}: {dl.reason}"
            for dl in read_dead_letters(settings, timeout_s=1.0)
            if dl.track_id in wanted and dl.occurred_at >= since and dl.track_id not in records
        }
        if set(records) | set(rejected) >= set(wanted):
            break
        time.sleep(1.0)
    return records, rejected


def decisions_table(
    submissions: list[TrackSubmitted], records: dict[str, dict[str, Any]], rejected: dict[str, str]
) -> Table:
    table = Table(title="Clearance decisions", show_lines=True)
    for column in ("track", "source", "findings", "decision", "why"):
        table.add_column(column, overflow="fold")
    for sub in submissions:
        record = records.get(sub.track_id)
        name = escape(f"{sub.title}\n{sub.track_id}")
        if record is None:
            if sub.track_id in rejected:
                table.add_row(name, sub.source, "-", "dead-lettered", escape(rejected[sub.track_id]))
            else:
                table.add_row(name, sub.source, "-", "pending", "not decided within the demo's time limit")
            continue
        facts = record.get("facts") or {}
        fingerprint = record.get("fingerprint") or {}
        findings = (
            f"{facts.get('duration_s', 0):.1f} s, {facts.get('source_sample_rate')} Hz "
            f"{facts.get('codec')}, {facts.get('loudness_lufs')} LUFS\n"
            f"chromaprint: {fingerprint.get('item_count')} items"
        )
        for match in record.get("matches") or []:
            spans = ", ".join(
                f"{s['upload_start_s']:.1f}-{s['upload_end_s']:.1f} s <- {s['reference_start_s']:.1f}-"
                f"{s['reference_end_s']:.1f} s"
                for s in match["segments"]
            )
            findings += f"\nmatch: '{match['title']}' {match['isrc']}: {spans}"
        watermark = record.get("watermark") or {}
        if watermark.get("detected"):
            findings += (
                f"\nwatermark: {watermark['generator_name']} v{watermark['generator_version']} on "
                f"{watermark['watermarked_seconds']:.0f} s (score {watermark['probability']:.2f})"
            )
        for request in (record.get("name_opt_out") or {}).get("requests") or []:
            findings += (
                f"\nopted-out name in {request['field']}: '{request['written']}' -> {request['artist']}"
            )
        for hit in (record.get("harassment") or {}).get("hits") or []:
            findings += f"\n{hit['kind']} at {', '.join(hit['targets'])}: {', '.join(hit['words'])}"
        decision = record["decision"]
        why = "\n".join(r["message"] for r in decision.get("reasons") or []) or "no rule applies"
        table.add_row(name, sub.source, escape(findings), decision["action"], escape(why))
    return table


def run_demo(settings: Settings, console: Console, timeout_s: float = 300.0) -> bool:
    started = time.monotonic()
    services.up(settings, console.print)
    ensure_topics(settings)
    stores = Stores.open(settings)
    stores.ensure_indices(settings.es_replicas)
    workdir = settings.store_dir.parent / "demo"
    with console.status("registering the demo catalog (3 masters)"):
        registered = add_from_manifest(demo_catalog(workdir), settings, stores.catalog)
    console.print(f"registered {registered} catalog recordings")
    with console.status("synthesizing demo tracks"):
        stores.registry.register_person("Juno Park", opted_out=True, registered_by="Indie Co")
        tracks = demo_tracks(workdir, settings)
        submissions = [submission_for(path, meta, settings) for path, meta in tracks]
    worker = start_worker(settings.services_dir / "worker" / "demo-worker.log")
    try:
        with Publisher(settings) as publisher:
            publish_submissions(publisher, settings, submissions)
        console.print(f"submitted {len(submissions)} tracks; the worker is analysing them")
        with console.status("waiting for every decision to be indexed"):
            records, rejected = wait_until_decided(stores.records, submissions, settings, timeout_s, worker)
    finally:
        stop_worker(worker)
    # Piped or logged, a console is 80 columns wide and every cell would wrap into many lines.
    table_console = console if console.is_terminal else Console(file=console.file, width=200)
    table_console.print(decisions_table(submissions, records, rejected))
    console.print(
        f"demo took {time.monotonic() - started:.0f} s. "
        "Stop the services with: [bold].venv/bin/clearance services down[/bold]"
    )
    return len(records) + len(rejected) == len(submissions)
