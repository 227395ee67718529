"""Hostile-input suite: `python -m bench.hostile [--events N] [--files N] [--good N]`.

Sends malformed and hostile events straight onto the topics, hostile files through the API and
straight into the pipeline, and hostile HTTP requests, with good tracks in between, all
through the real Kafka, Elasticsearch, worker and API (topics, indices and consumer group of
its own). Every hostile event and file must end as a dead letter or a 4xx with a reason, no
request may get a 5xx, the worker must stay up and every good track must be decided.
The last line printed is one JSON object; the exit code is 1 when any of that fails.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from rich.console import Console

from api.app import create_app
from bench.hostile.events import make_events, topics_of
from bench.hostile.files import make_files
from cli.demo import start_worker, stop_worker
from corpus import synth
from index.stores import Stores
from model.events import DeadLetter, TrackMetadata
from model.settings import Settings, get_settings
from streams.ingest import publish_submissions, submission_for
from streams.publisher import Publisher
from streams.topics import Topics
from streams.worker import prepare_services

console = Console(stderr=True)


@dataclass
class Tally:
    http_4xx: int = 0
    http_5xx: int = 0
    accepted_files: dict[str, str] = field(default_factory=dict)  # track id -> kind (202 from the API)
    piped_files: dict[str, str] = field(default_factory=dict)  # track id -> kind (straight to Kafka)
    five_hundreds: list[str] = field(default_factory=list)

    def answer(self, what: str, response: httpx.Response) -> None:
        if 400 <= response.status_code < 500:
            self.http_4xx += 1
        elif response.status_code >= 500:
            self.http_5xx += 1
            self.five_hundreds.append(f"{what}: {response.status_code} {response.text[:200]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=_free_port(), log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def isolated_settings(run: str, store: Path) -> tuple[Settings, dict[str, str]]:
    env = {
        "CLEARANCE_TOPIC_PREFIX": f"{run}.",
        "CLEARANCE_INDEX_PREFIX": f"{run}-",
        "CLEARANCE_APP_ID": f"clearance-{run}",
        "CLEARANCE_STORE_DIR": str(store),
        "CLEARANCE_LOG_FORMAT": "json",
    }
    base = get_settings().model_dump()
    settings = Settings(**{**base, **{k.removeprefix("CLEARANCE_").lower(): v for k, v in env.items()}})
    return settings, env


def hostile_requests(client: httpx.Client, keys: dict[str, str], tally: Tally) -> int:
    """Malformed bodies, parameters and paths on every kind of route."""
    ingest = {"Authorization": f"Bearer {keys['ingest']}"}
    reviewer = {"Authorization": f"Bearer {keys['reviewer']}"}
    holder = {"Authorization": f"Bearer {keys['holder']}"}
    deep = "[" * 50_000 + "]" * 50_000
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/tracks/by-uri", {"headers": ingest, "content": deep}),
        ("POST", "/v1/tracks/by-uri", {"headers": ingest, "content": '{"audio_uri": ' + deep + "}"}),
        ("POST", "/v1/tracks/by-uri", {"headers": ingest, "json": {"audio_uri": "file:///etc/shadow"}}),
        (
            "POST",
            "/v1/tracks/by-uri",
            {"headers": ingest, "json": {"audio_uri": "file:///proc/self/environ"}},
        ),
        ("POST", "/v1/tracks/by-uri", {"headers": ingest, "json": {"audio_uri": "file://evil.host/x.wav"}}),
        (
            "POST",
            "/v1/tracks/by-uri",
            {"headers": ingest, "json": {"audio_uri": "file:///a/%2e%2e/etc/passwd"}},
        ),
        ("POST", "/v1/tracks/by-uri", {"headers": ingest, "content": "x" * 3_000_000}),
        (
            "POST",
            "/v1/tracks",
            {"headers": ingest, "files": {"audio": ("a.wav", b"RIFF")}, "data": {"metadata": deep}},
        ),
        (
            "POST",
            "/v1/tracks",
            {
                "headers": ingest,
                "files": {"audio": ("a.wav", b"RIFF")},
                "data": {"metadata": '{"title": "' + "t" * 100_000 + '"}'},
            },
        ),
        (
            "POST",
            "/v1/tracks",
            {
                "headers": ingest,
                "content": b"--x\r\n" * 1000,
                "extra": {"content-type": "multipart/form-data; boundary=x"},
            },
        ),
        ("POST", "/v1/tracks", {"headers": ingest, "content": b"not multipart"}),
        ("POST", "/v1/tracks", {"content": b"x" * 1_000_000}),
        ("GET", "/v1/records", {"headers": holder, "params": {"q": "x" * 10_000}}),
        ("GET", "/v1/records", {"headers": holder, "params": {"date_from": "yesterday"}}),
        ("GET", "/v1/records", {"headers": holder, "params": {"offset": "-1"}}),
        ("GET", "/v1/records", {"headers": holder, "params": {"offset": "99999999"}}),
        ("GET", "/v1/records", {"headers": holder, "params": {"limit": "100000"}}),
        ("GET", "/v1/records", {"headers": holder, "params": {"q": '"/*[(\\'}}),
        ("GET", "/v1/records", {"headers": holder, "params": {"decision": "everything"}}),
        ("GET", "/v1/review/cases", {"headers": reviewer, "params": {"reason": "r" * 1000}}),
        ("GET", "/v1/tracks/..%2F..%2Fetc%2Fpasswd", {"headers": reviewer}),
        ("GET", "/v1/tracks/" + "t" * 5000, {"headers": reviewer}),
        ("GET", "/v1/tracks/x/audio", {"headers": reviewer}),
        ("POST", "/v1/review/cases/x/actions", {"headers": reviewer, "content": deep}),
        (
            "POST",
            "/v1/review/cases/x/actions",
            {"headers": reviewer, "json": {"action": "delete", "reason": "x", "decision_event_id": "d"}},
        ),
        (
            "POST",
            "/v1/review/cases/x/actions",
            {
                "headers": reviewer,
                "json": {"action": "overturn", "reason": "r" * 100_000, "decision_event_id": "d"},
            },
        ),
        ("PUT", "/v1/artists/" + "n" * 3000 + "/opt-out", {"headers": holder, "json": {"opted_out": True}}),
        ("PUT", "/v1/artists/x/opt-out", {"headers": holder, "content": deep}),
        (
            "POST",
            "/v1/recordings",
            {"headers": holder, "files": {"audio": ("a.wav", b"")}, "data": {"metadata": deep}},
        ),
        ("DELETE", "/v1/recordings/" + "I" * 500, {"headers": holder}),
        ("GET", "/v1/royalties", {"headers": holder, "params": {"period": "century"}}),
        ("GET", "/v1/records", {"headers": {"Authorization": "Bearer " + "k" * 100_000}}),
        ("GET", "/v1/records", {"headers": {"X-API-Key": "clr_" + "a" * 5000 + "_b"}}),
    ]
    sent = 0
    for method, path, options in calls:
        headers = {**options.pop("headers", {}), **options.pop("extra", {})}
        try:
            response = client.request(method, path, headers=headers, **options)
        except httpx.HTTPError as exc:  # the server closed the connection: not an answer
            tally.http_5xx += 1
            tally.five_hundreds.append(f"{method} {path[:60]}: {type(exc).__name__}")
            continue
        tally.answer(f"{method} {path[:60]}", response)
        sent += 1
    return sent


class DeadLetterWatch:
    """Follows the dead-letter topic from its start."""

    def __init__(self, settings: Settings) -> None:
        topic = Topics(settings.topic_prefix).deadletter
        self._consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
        )
        partitions = self._consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in partitions]
        self._consumer.assign(assigned)
        self._consumer.seek_to_beginning(*assigned)
        self.sources: set[tuple[str, int, int]] = set()
        self.track_ids: set[str] = set()
        self.letters = 0
        self.without_reason = 0

    def poll(self) -> None:
        for records in self._consumer.poll(timeout_ms=1000, max_records=5000).values():
            for record in records:
                letter = DeadLetter.model_validate_json(record.value)
                self.letters += 1
                self.without_reason += not letter.reason.strip()
                if letter.partition is not None and letter.offset is not None:
                    self.sources.add((letter.source_topic, letter.partition, letter.offset))
                if letter.track_id:
                    self.track_ids.add(letter.track_id)

    def close(self) -> None:
        self._consumer.close()


def run(events: int, files: int, good: int, timeout_s: float) -> dict[str, Any]:
    run_id = f"hostile-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    settings, env = isolated_settings(run_id, workdir / "store")
    prepare_services(settings)
    stores = Stores.open(settings)
    keys = {
        "ingest": stores.keys.create("ingest", "hostile-ingest")[0],
        "reviewer": stores.keys.create("reviewer", "hostile-reviewer")[0],
        "holder": stores.keys.create("rights_holder", "hostile-holder", "Hostile Records")[0],
    }
    with console.status("making hostile files"):
        hostile_files = make_files(workdir / "files", files)
    hostile_events = make_events(events)
    goods = [synth.write(workdir / f"good-{n}.wav", synth.song(seed=500 + n, seconds=6)) for n in range(good)]
    worker = start_worker(workdir / "worker.log", env)
    tally = Tally()
    good_submissions: list[tuple[str, str]] = []  # track id, submission event id
    topic_names = topics_of(settings.topic_prefix)
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=2_000_000
    )
    watch = DeadLetterWatch(settings)
    sent_events: dict[tuple[str, int, int], str] = {}  # where each landed -> its kind
    try:
        with (
            serving(settings) as base,
            httpx.Client(base_url=base, timeout=120) as client,
            Publisher(settings) as publisher,
        ):
            ingest = {"Authorization": f"Bearer {keys['ingest']}"}

            def submit_good(n: int) -> None:
                path = goods[n % len(goods)]
                if n % 2 == 0:
                    response = client.post(
                        "/v1/tracks",
                        headers=ingest,
                        files={"audio": (path.name, path.read_bytes())},
                        data={
                            "metadata": json.dumps({"track_id": f"{run_id}-good-{n}", "title": f"good {n}"})
                        },
                    )
                    tally.answer("good upload", response)
                    response.raise_for_status()
                    body = response.json()
                    good_submissions.append((body["track_id"], body["event_id"]))
                else:
                    sub = submission_for(path, TrackMetadata(track_id=f"{run_id}-good-{n}"), settings)
                    publish_submissions(publisher, settings, [sub])
                    good_submissions.append((sub.track_id, sub.event_id))

            good_every = max(1, (events + files) // max(1, good - 1))
            done = 0
            with console.status("sending hostile files") as status:
                for n, hostile in enumerate(hostile_files):
                    status.update(f"hostile file {n + 1}/{len(hostile_files)}: {hostile.kind}")
                    response = client.post(
                        "/v1/tracks",
                        headers=ingest,
                        files={"audio": (hostile.path.name, hostile.path.read_bytes())},
                        data={"metadata": json.dumps({"track_id": f"{run_id}-api-{n}"})},
                    )
                    tally.answer(f"file {hostile.kind}", response)
                    if response.status_code == 202:
                        tally.accepted_files[response.json()["track_id"]] = hostile.kind
                    piped = submission_for(
                        hostile.path, TrackMetadata(track_id=f"{run_id}-pipe-{n}"), settings
                    )
                    publish_submissions(publisher, settings, [piped])
                    tally.piped_files[piped.track_id] = hostile.kind
                    done += 1
                    if done % good_every == 0:
                        submit_good(len(good_submissions))
            requests_sent = hostile_requests(client, keys, tally)
            with console.status("sending hostile events") as status:
                futures = []
                for n, event in enumerate(hostile_events):
                    futures.append(
                        producer.send(topic_names[event.topic], key=event.key or None, value=event.value)
                    )
                    done += 1
                    if done % good_every == 0:
                        submit_good(len(good_submissions))
                    if n % 500 == 0:
                        status.update(f"hostile event {n + 1}/{len(hostile_events)}")
                producer.flush()
                for future, event in zip(futures, hostile_events, strict=True):
                    meta = future.get(timeout=60)
                    sent_events[(meta.topic, meta.partition, meta.offset)] = event.kind
            while len(good_submissions) < good:
                submit_good(len(good_submissions))

            wanted_tracks = set(tally.accepted_files) | set(tally.piped_files)
            deadline = time.monotonic() + timeout_s
            decided: set[str] = set()
            with console.status("waiting for dead letters and decisions") as status:
                while time.monotonic() < deadline and worker.poll() is None:
                    watch.poll()
                    decided = decided_tracks(stores, good_submissions)
                    missing_events = len(sent_events.keys() - watch.sources)
                    missing_files = len(wanted_tracks - watch.track_ids)
                    status.update(
                        f"events without a dead letter: {missing_events}, files: {missing_files}, "
                        f"good tracks decided: {len(decided)}/{len(good_submissions)}"
                    )
                    if not missing_events and not missing_files and len(decided) == len(good_submissions):
                        break
            # One more good track after everything: the agents still work.
            last = submission_for(goods[0], TrackMetadata(track_id=f"{run_id}-last-good"), settings)
            publish_submissions(publisher, settings, [last])
            good_submissions.append((last.track_id, last.event_id))
            last_deadline = time.monotonic() + 180
            while time.monotonic() < last_deadline and worker.poll() is None:
                if decided_tracks(stores, [(last.track_id, last.event_id)]):
                    decided.add(last.track_id)
                    break
                time.sleep(1)
            watch.poll()
    finally:
        agents_alive = worker.poll() is None
        stop_worker(worker)
        producer.close()
        watch.close()
    undelivered_events = Counter(sent_events[e] for e in sent_events.keys() - watch.sources)
    files_not_dead_lettered = {
        t: k for t, k in {**tally.accepted_files, **tally.piped_files}.items() if t not in watch.track_ids
    }
    report = {
        "events": len(sent_events),
        "files": len(hostile_files),
        "hostile_requests": requests_sent,
        "dead_lettered": len(watch.sources & sent_events.keys())
        + len(watch.track_ids & (set(tally.accepted_files) | set(tally.piped_files))),
        "dead_letters_without_reason": watch.without_reason,
        "events_not_dead_lettered": sum(undelivered_events.values()),
        "files_not_dead_lettered": len(files_not_dead_lettered),
        "files_accepted_by_api": len(tally.accepted_files),
        "http_4xx": tally.http_4xx,
        "http_5xx": tally.http_5xx,
        "agents_alive": agents_alive,
        "good_tracks_decided": len(decided),
        "good_tracks_submitted": len(good_submissions),
    }
    console.print(
        {
            "5xx": tally.five_hundreds[:20],
            "files_not_dead_lettered": Counter(files_not_dead_lettered.values()),
            "files_accepted_by_api": Counter(tally.accepted_files.values()),
            "events_not_dead_lettered": undelivered_events,
        }
    )
    stores.delete_indices()
    stores.close()
    return report


def decided_tracks(stores: Stores, submissions: list[tuple[str, str]]) -> set[str]:
    """The tracks whose provenance record carries a verdict on that very submission."""
    docs = stores.records.many([track_id for track_id, _ in submissions])
    return {
        track_id
        for track_id, event_id in submissions
        if ((docs.get(track_id) or {}).get("decision") or {}).get("submission_event_id") == event_id
    }


def passed(report: dict[str, Any]) -> bool:
    return bool(
        report["http_5xx"] == 0
        and report["agents_alive"]
        and report["events_not_dead_lettered"] == 0
        and report["files_not_dead_lettered"] == 0
        and report["dead_letters_without_reason"] == 0
        and report["good_tracks_decided"] == report["good_tracks_submitted"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--good", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the outcomes")
    args = parser.parse_args()
    report = run(args.events, args.files, args.good, args.timeout)
    print(json.dumps(report))
    raise SystemExit(0 if passed(report) else 1)


if __name__ == "__main__":
    main()
