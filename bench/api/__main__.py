"""Review-API benchmark: `python -m bench.api`. The last line printed is one JSON object.

Indexes 100,000 synthetic provenance records (titles, artists and descriptions drawn from word
lists; 1-3 catalog matches each across 500 rights holders; decisions and dates spread over a
year) into indices of its own (prefix `bench-api-`, kept between runs), starts the real API over
HTTP (uvicorn) and times rights holders' searches end to end: a mix of no filter, ISRC, title,
artist, decision type, date range and free text, each as a random rights holder.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import uvicorn
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from rich.console import Console
from rich.progress import Progress

from api.app import create_app
from index.keys import KeyStore
from index.names import Indices
from index.templates import ensure_indices
from model.settings import Settings, get_settings

RECORDS = 100_000
HOLDERS = 500
SEARCHES = 400
WORDS = [
    "night",
    "river",
    "glass",
    "harbor",
    "paper",
    "kite",
    "northern",
    "wire",
    "silver",
    "morning",
    "summer",
    "rain",
    "golden",
    "city",
    "lights",
    "broken",
    "promise",
    "empty",
    "station",
    "velvet",
    "thunder",
    "ocean",
    "echo",
    "fire",
    "dance",
    "neon",
    "heart",
    "lonely",
    "road",
    "dream",
    "shadow",
    "electric",
    "midnight",
    "sugar",
    "honey",
    "storm",
    "wild",
    "blue",
]
ACTIONS = ["allow", "label", "royalty", "needs_review", "takedown"]
console = Console(stderr=True)


def _phrase(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(w) for w in rng.choice(WORDS, n)).title()


def _record(i: int, rng: np.random.Generator, start: datetime) -> dict[str, object]:
    submitted = start + timedelta(seconds=int(rng.integers(0, 365 * 86400)))
    matches = []
    for _ in range(int(rng.integers(1, 4))):
        holder = int(rng.integers(0, HOLDERS))
        number = int(rng.integers(0, 20_000))
        matches.append(
            {
                "isrc": f"QZB{holder:02d}{26:02d}{number:05d}"[:12].ljust(12, "0"),
                "title": _phrase(rng, 2),
                "artists": [_phrase(rng, 2)],
                "rights_holder": f"Holder {holder}",
                "catalog": "label-masters",
                "policy": str(rng.choice(["block", "monetize", "track"])),
                "artist_opt_out": False,
                "royalty_rate_bp": int(rng.integers(0, 5000)),
                "seconds_matched": float(rng.uniform(3, 60)),
                "share_of_upload": float(rng.uniform(0.05, 1.0)),
                "longest_segment_s": float(rng.uniform(3, 30)),
                "score": float(rng.uniform(0.5, 1.0)),
                "segments": [],
            }
        )
    return {
        "track_id": f"bench-{i:06d}",
        "status": "decided",
        "submission": {
            "event_id": f"sub-{i}",
            "event_type": "track_submitted",
            "schema_version": 1,
            "occurred_at": submitted.isoformat(),
            "track_id": f"bench-{i:06d}",
            "source": str(rng.choice(["upload", "generated"])),
            "audio_uri": f"file:///store/{i}",
            "uploader_id": f"user-{int(rng.integers(0, 10_000))}",
            "title": _phrase(rng, 3),
            "artists": [_phrase(rng, 2)],
            "description": _phrase(rng, 8),
            "declared_ai_use": "none",
            "parent_track_ids": [],
        },
        "matches": matches,
        "decision": {
            "event_id": f"dec-{i}",
            "submission_event_id": f"sub-{i}",
            "action": str(rng.choice(ACTIONS)),
            "policy_version": "platform@1 _default@1",
            "decided_at": (submitted + timedelta(seconds=5)).isoformat(),
            "reasons": [],
            "severity": int(rng.integers(0, 5)),
        },
        "updated_at": (submitted + timedelta(seconds=6)).isoformat(),
    }


def fill(es: Elasticsearch, indices: Indices) -> float:
    """Index the records unless they are there already; returns the seconds it took."""
    ensure_indices(es, indices)
    es.indices.refresh(index=indices.provenance)
    have = es.count(index=indices.provenance)["count"]
    if have >= RECORDS:
        return 0.0
    rng = np.random.default_rng(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    with Progress(console=console) as progress:
        task = progress.add_task("indexing records", total=RECORDS)

        def actions() -> Iterator[dict[str, object]]:
            for i in range(RECORDS):
                progress.advance(task)
                yield {
                    "_op_type": "index",
                    "_index": indices.provenance,
                    "_id": f"bench-{i:06d}",
                    "_source": _record(i, rng, start),
                }

        bulk(es, actions(), chunk_size=2000, request_timeout=120)
    es.indices.refresh(index=indices.provenance)
    return time.perf_counter() - started


def _queries(rng: np.random.Generator) -> list[dict[str, str]]:
    kinds: list[dict[str, str]] = []
    for _ in range(SEARCHES):
        kind = int(rng.integers(0, 7))
        if kind == 0:
            kinds.append({})
        elif kind == 1:
            kinds.append(
                {"isrc": "QZB" + str(int(rng.integers(10, 99))) + "26" + f"{int(rng.integers(0, 20000)):05d}"}
            )
        elif kind == 2:
            kinds.append({"title": str(rng.choice(WORDS))})
        elif kind == 3:
            kinds.append({"artist": str(rng.choice(WORDS))})
        elif kind == 4:
            kinds.append({"decision": str(rng.choice(ACTIONS))})
        elif kind == 5:
            kinds.append({"date_from": "2026-03-01T00:00:00+00:00", "date_to": "2026-06-30T00:00:00+00:00"})
        else:
            kinds.append({"q": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"})
    return kinds


def main() -> None:
    base = get_settings()
    settings = Settings(**{**base.model_dump(), "index_prefix": "bench-api-"})
    es = Elasticsearch(settings.es_url, request_timeout=120)
    indices = Indices(settings.index_prefix)
    index_seconds = fill(es, indices)
    keys = {
        h: KeyStore(es, indices).create("rights_holder", f"bench-{h}", f"Holder {h}")[0]
        for h in range(0, HOLDERS, 25)
    }
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=8765, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    rng = np.random.default_rng(11)
    latencies, totals = [], []
    with httpx.Client(base_url="http://127.0.0.1:8765", timeout=30) as client:
        holders = list(keys)
        for warm in range(20):
            client.get(
                "/v1/records",
                params={"q": WORDS[warm]},
                headers={"Authorization": f"Bearer {keys[holders[0]]}"},
            )
        for params in _queries(rng):
            key = keys[holders[int(rng.integers(0, len(holders)))]]
            started = time.perf_counter()
            response = client.get("/v1/records", params=params, headers={"Authorization": f"Bearer {key}"})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            totals.append(response.json()["total"])
    server.should_exit = True
    ms = np.asarray(latencies)
    report = {
        "records": es.count(index=indices.provenance)["count"],
        "rights_holders": HOLDERS,
        "searches": len(latencies),
        "search_ms_p50": round(float(np.percentile(ms, 50)), 1),
        "search_ms_p95": round(float(np.percentile(ms, 95)), 1),
        "search_ms_max": round(float(ms.max()), 1),
        "mean_hits_per_search": round(float(np.mean(totals)), 1),
        "index_seconds": round(index_seconds, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
