"""The review API against the real Elasticsearch and Kafka, with a real worker applying what it
publishes."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from httpx import Response
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from api.app import create_app
from cli.catalog import add_from_manifest
from corpus import synth
from index.names import Indices
from index.stores import Stores
from model.events import Action, Event
from model.settings import Settings
from streams.publisher import Publisher, PublishError
from streams.topics import Topics
from tests.integration.test_catalog import write_manifest
from tests.integration.test_pipeline import eventually

pytestmark = pytest.mark.integration
RATE = synth.SAMPLE_RATE

# Who may call what. A new route must be added here, or test_every_route_is_covered fails.
ROUTES: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/tracks"): {"ingest"},
    ("POST", "/v1/tracks/by-uri"): {"ingest"},
    ("GET", "/v1/tracks/{track_id}"): {"reviewer", "rights_holder"},
    ("GET", "/v1/tracks/{track_id}/audio"): {"reviewer"},
    ("GET", "/v1/review/cases"): {"reviewer"},
    ("GET", "/v1/review/cases/{track_id}"): {"reviewer"},
    ("POST", "/v1/review/cases/{track_id}/actions"): {"reviewer"},
    ("GET", "/v1/records"): {"reviewer", "rights_holder"},
    ("GET", "/v1/royalties"): {"rights_holder"},
    ("POST", "/v1/recordings"): {"rights_holder"},
    ("GET", "/v1/recordings/jobs/{job_id}"): {"rights_holder"},
    ("DELETE", "/v1/recordings/{isrc}"): {"rights_holder"},
    ("PUT", "/v1/artists/{name}/opt-out"): {"rights_holder"},
    ("PUT", "/v1/compositions/{work_id}"): {"rights_holder"},
    ("GET", "/v1/compositions/{work_id}"): {"rights_holder"},
    ("GET", "/metrics"): {"reviewer"},
    ("POST", "/v1/generations"): {"generator"},
    ("GET", "/v1/generations/{generation_id}"): {"generator", "reviewer"},
}


@pytest.fixture(scope="module")
def client(live_settings: Settings, es: Elasticsearch) -> Iterator[TestClient]:
    settings = live_settings.model_copy(update={"api_max_upload_mb": 4})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keys(live_settings: Settings, es: Elasticsearch, stores: Stores) -> dict[str, str]:
    made = {
        "reviewer": stores.keys.create("reviewer", "rev-ada")[0],
        "reviewer2": stores.keys.create("reviewer", "rev-bo")[0],
        "senior": stores.keys.create("senior_reviewer", "sen-cy")[0],
        "ingest": stores.keys.create("ingest", "uploader")[0],
        "admin": stores.keys.create("admin", "ops")[0],
        "holder_a": stores.keys.create("rights_holder", "label-a", "Alder Records")[0],
        "holder_b": stores.keys.create("rights_holder", "label-b", "Birch Music")[0],
    }
    return made


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _key_id(key: str) -> str:
    return key.split("_")[1]  # clr_<id>_<secret>


def _wav(seconds: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    import soundfile

    soundfile.write(buffer, synth.song(seed=seed, seconds=seconds), RATE, format="WAV")
    return buffer.getvalue()


def _upload(client: TestClient, key: str, audio: bytes, **metadata: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/tracks",
        headers=auth(key),
        files={"audio": ("track.wav", audio, "audio/wav")},
        data={"metadata": json.dumps(metadata)},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def _decided(client: TestClient, key: str, track_id: str, event_id: str | None = None) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = client.get(f"/v1/tracks/{track_id}", headers=auth(key))
        if response.status_code != 200:
            return None
        record = response.json()["record"]
        decision = record.get("decision") or {}
        if event_id is not None and decision.get("submission_event_id") != event_id:
            return None
        return dict(response.json()) if decision else None

    return eventually(probe, what=f"a decision for {track_id}")


def test_every_route_is_covered(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    found = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    found.discard(("GET", "/healthz"))
    assert found == set(ROUTES)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_missing_bad_and_wrong_role_keys(
    client: TestClient, keys: dict[str, str], method: str, path: str
) -> None:
    url = path.format(
        track_id="trk-nobody",
        isrc="QZAAA2600001",
        name="Nobody",
        job_id="no-job",
        generation_id="gen-none",
        work_id="W-NOBODY",
    )
    assert client.request(method, url).status_code == 401
    assert client.request(method, url, headers=auth("clr_nope_nope")).status_code == 401
    assert client.request(method, url, headers=auth(keys["reviewer"] + "x")).status_code == 401
    role_key = {"reviewer": "reviewer", "rights_holder": "holder_a", "ingest": "ingest"}
    for role, key_name in role_key.items():
        if role not in ROUTES[(method, path)]:
            response = client.request(method, url, headers=auth(keys[key_name]))
            assert response.status_code == 403, (role, response.status_code, response.text)
            assert "role" in response.json()["detail"]


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "elasticsearch": True}


def test_a_reviewer_overturns_a_takedown_and_the_record_history_and_audit_show_it(
    client: TestClient,
    keys: dict[str, str],
    worker: subprocess.Popen[bytes],
    es: Elasticsearch,
    stores: Stores,
    live_settings: Settings,
) -> None:
    stores.registry.register_person("Drake")  # a real person the checks know
    time.sleep(live_settings.registry_cache_seconds + 0.5)
    sent = _upload(
        client,
        keys["ingest"],
        _wav(8, seed=401),
        track_id="api-threat",
        title="Diss",
        lyrics="Drake, I'm gonna kill you when I find you",
        artists=["MC Test"],
    )
    case = _decided(client, keys["reviewer"], "api-threat", sent["event_id"])
    assert case["record"]["decision"]["action"] == "takedown", case["record"]["decision"]
    decision_id = case["record"]["decision"]["event_id"]

    response = client.post(
        "/v1/review/cases/api-threat/actions",
        headers=auth(keys["reviewer"]),
        json={
            "action": "overturn",
            "reason": "a battle-rap persona, not a real threat",
            "decision_event_id": decision_id,
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "allow"

    # A second reviewer acting on the same decision is refused, not silently applied.
    second = client.post(
        "/v1/review/cases/api-threat/actions",
        headers=auth(keys["reviewer2"]),
        json={"action": "uphold", "reason": "looks like a threat to me", "decision_event_id": decision_id},
    )
    assert second.status_code == 409 and "rev-ada" in second.json()["detail"]

    def overturned() -> dict[str, Any] | None:
        body = client.get("/v1/tracks/api-threat", headers=auth(keys["reviewer"])).json()
        verdicts = [d for d in body["decisions"] if d["verdict"]]
        applied = body["record"]["decision"]["action"] == "allow" and body["audit"] and len(verdicts) == 2
        return body if applied else None

    body = eventually(overturned, what="the overturn to be applied and audited")
    assert body["record"]["decision"]["reasons"][0]["code"] == "review_overturn"
    verdicts = [d["action"] for d in body["decisions"] if d["verdict"]]
    assert verdicts == ["takedown", "allow"]
    (entry,) = body["audit"]
    assert (entry["reviewer"], entry["action"], entry["reviewed_action"]) == (
        "rev-ada",
        "overturn",
        "takedown",
    )
    assert entry["reason"] == "a battle-rap persona, not a real threat" and entry["occurred_at"]
    assert entry["reviewer_key_id"] == _key_id(keys["reviewer"])  # names are not unique; ids are

    stale = client.post(
        "/v1/review/cases/api-threat/actions",
        headers=auth(keys["reviewer2"]),
        json={"action": "uphold", "reason": "acting on what I saw earlier", "decision_event_id": decision_id},
    )
    assert stale.status_code == 409 and "changed" in stale.json()["detail"]


OPTED_OUT_SINGER = "Wren Halloway"


@pytest.fixture(scope="module")
def review_cases(
    client: TestClient,
    keys: dict[str, str],
    stores: Stores,
    live_settings: Settings,
    worker: subprocess.Popen[bytes],
) -> dict[str, dict[str, Any]]:
    """Decided cases to review, uploaded together: uploads asking for a singer who opted out
    (needs_review, opt_out_name), and a generated track asking for her (takedown)."""
    stores.registry.register_person(OPTED_OUT_SINGER, opted_out=True)
    time.sleep(live_settings.registry_cache_seconds + 0.5)
    uploads = {
        "api-replay": ("upload", 451),
        "api-escalate": ("upload", 452),
        "api-publish-fails": ("upload", 453),
        "api-optout-takedown": ("generated", 454),
    }
    sent = {
        track: _upload(
            client,
            keys["ingest"],
            _wav(6, seed),
            track_id=track,
            source=source,
            title=f"{OPTED_OUT_SINGER} AI voice tribute",  # asks for her voice
        )
        for track, (source, seed) in uploads.items()
    }
    return {track: _decided(client, keys["reviewer"], track, s["event_id"]) for track, s in sent.items()}


def _decision_events(settings: Settings, track_id: str) -> list[tuple[str, bytes]]:
    """Every decision event of the track on the decisions topics, as (topic, bytes)."""
    topics = Topics(settings.topic_prefix)
    consumer = KafkaConsumer(
        *(topics.decisions(a) for a in Action),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=3000,
    )
    try:
        return [(m.topic, m.value) for m in consumer if m.key == track_id.encode()]
    finally:
        consumer.close()


def _worker_consumed(settings: Settings, topic: str) -> bool:
    """The worker's consumer group has committed every message on the topic."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        committed = admin.list_group_offsets({settings.app_id: partitions})[settings.app_id]
    finally:
        consumer.close()
        admin.close()
    return all(
        end == 0 or (tp in committed and (committed[tp].offset or 0) >= end) for tp, end in ends.items()
    )


def test_a_replayed_decisions_topic_leaves_the_review_verdict_and_the_case_closed(
    client: TestClient, keys: dict[str, str], live_settings: Settings, review_cases: dict[str, dict[str, Any]]
) -> None:
    track = "api-replay"
    decision = review_cases[track]["record"]["decision"]
    assert decision["action"] == "needs_review", decision
    response = client.post(
        f"/v1/review/cases/{track}/actions",
        headers=auth(keys["reviewer"]),
        json={
            "action": "uphold",
            "reason": "asks for her by name",
            "decision_event_id": decision["event_id"],
        },
    )
    assert response.status_code == 202, response.text

    def reviewed() -> dict[str, Any] | None:
        current = client.get(f"/v1/tracks/{track}", headers=auth(keys["reviewer"])).json()["record"][
            "decision"
        ]
        return current if current["policy_version"] == "review" else None

    verdict = eventually(reviewed, what="the review verdict")
    assert verdict["action"] == "takedown"

    # Kafka delivers at least once: every decision event of the track comes again, the newest
    # first, so the pipeline's needs_review verdict is the last the index sees.
    events = _decision_events(live_settings, track)
    assert {json.loads(v)["event_id"] for _, v in events} >= {decision["event_id"], verdict["event_id"]}
    for topic, value in sorted(events, key=lambda e: str(json.loads(e[1])["occurred_at"]), reverse=True):
        with Publisher(live_settings) as publisher:
            publisher.publish_raw(topic, track, value)
        eventually(lambda t=topic: _worker_consumed(live_settings, t), what=f"the worker to consume {topic}")

    record = client.get(f"/v1/tracks/{track}", headers=auth(keys["reviewer"])).json()["record"]
    assert (
        record["decision"]["event_id"] == verdict["event_id"] and record["decision"]["action"] == "takedown"
    )
    queue = client.get("/v1/review/cases", headers=auth(keys["reviewer"]), params={"limit": 100}).json()
    assert track not in {c["track_id"] for c in queue["items"]}


def _act(client: TestClient, key: str, track: str, action: str, decision_event_id: str) -> Response:
    return client.post(
        f"/v1/review/cases/{track}/actions",
        headers=auth(key),
        json={"action": action, "reason": f"{action}: looked at it", "decision_event_id": decision_event_id},
    )


def _current_decision(client: TestClient, key: str, track: str, policy: str) -> dict[str, Any]:
    """The track's current decision once it comes from `policy` (the review's verdict applied)."""

    def probe() -> dict[str, Any] | None:
        body = client.get(f"/v1/tracks/{track}", headers=auth(key)).json()
        decision = body["record"]["decision"]
        return dict(body) if decision["policy_version"] == policy else None

    return eventually(probe, what=f"a {policy} decision for {track}")


def test_an_escalated_case_keeps_its_reasons_comes_first_and_only_a_senior_reviewer_acts_on_it(
    client: TestClient, keys: dict[str, str], review_cases: dict[str, dict[str, Any]]
) -> None:
    track = "api-escalate"
    original = review_cases[track]["record"]["decision"]
    assert original["action"] == "needs_review" and original["severity"] >= 4, original
    escalate = _act(client, keys["reviewer"], track, "escalate", original["event_id"])
    assert escalate.status_code == 202, escalate.text

    escalated = _current_decision(client, keys["reviewer"], track, "review")["record"]["decision"]
    assert escalated["action"] == "needs_review" and escalated["escalated"] is True
    codes = [r["code"] for r in escalated["reasons"]]
    assert codes[0] == "review_escalate" and {r["code"] for r in original["reasons"]} <= set(codes)
    assert escalated["severity"] >= original["severity"]

    def first_in_queue() -> dict[str, Any] | None:  # a search sees the update once the index refreshed
        queue = client.get("/v1/review/cases", headers=auth(keys["reviewer"]), params={"limit": 100}).json()
        first = queue["items"][0] if queue["items"] else {}
        return first if first.get("track_id") == track else None

    assert eventually(first_in_queue, timeout_s=15, what="the escalated case first")["decision"]["escalated"]

    for plain in ("reviewer", "reviewer2"):
        refused = _act(client, keys[plain], track, "uphold", escalated["event_id"])
        assert refused.status_code == 403, refused.text
        assert "escalated" in refused.json()["detail"] and "senior_reviewer" in refused.json()["detail"]
    upheld = _act(client, keys["senior"], track, "uphold", escalated["event_id"])
    assert upheld.status_code == 202, upheld.text  # the refusals claimed nothing

    def audited() -> list[dict[str, Any]] | None:
        audit = client.get(f"/v1/tracks/{track}", headers=auth(keys["senior"])).json()["audit"]
        return audit if len(audit) == 2 else None

    trail = eventually(audited, what="both review actions in the audit trail")
    assert [(e["action"], e["reviewer"], e["reviewer_key_id"]) for e in trail] == [
        ("escalate", "rev-ada", _key_id(keys["reviewer"])),
        ("uphold", "sen-cy", _key_id(keys["senior"])),
    ]


def test_overturning_an_opt_out_takedown_needs_a_senior_reviewer(
    client: TestClient, keys: dict[str, str], review_cases: dict[str, dict[str, Any]]
) -> None:
    track = "api-optout-takedown"
    decision = review_cases[track]["record"]["decision"]
    assert decision["action"] == "takedown" and "opt_out_name" in {r["code"] for r in decision["reasons"]}
    refused = _act(client, keys["reviewer"], track, "overturn", decision["event_id"])
    assert refused.status_code == 403, refused.text
    assert "opt_out_name" in refused.json()["detail"] and "senior_reviewer" in refused.json()["detail"]
    overturned = _act(client, keys["senior"], track, "overturn", decision["event_id"])
    assert overturned.status_code == 202 and overturned.json()["outcome"] == "allow", overturned.text


class FailingPublisher(Publisher):
    """Kafka refusing every event: a test double at the edge of the API."""

    def __init__(self) -> None:  # no producer: nothing is ever sent
        pass

    def publish(self, topic: str, event: Event) -> None:
        raise PublishError("the broker is unreachable (test double)")

    def flush(self, timeout_s: float = 30.0) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_review_that_cannot_be_published_releases_its_claim(
    live_settings: Settings,
    client: TestClient,
    keys: dict[str, str],
    review_cases: dict[str, dict[str, Any]],
) -> None:
    track = "api-publish-fails"
    decision = review_cases[track]["record"]["decision"]
    with TestClient(create_app(live_settings, publisher=FailingPublisher())) as kafka_down:
        response = _act(kafka_down, keys["reviewer"], track, "uphold", decision["event_id"])
    assert response.status_code == 503, response.text
    assert "could not be published" in response.json()["detail"]
    assert "back in the queue" in response.json()["detail"]

    queue = client.get("/v1/review/cases", headers=auth(keys["reviewer"]), params={"limit": 100}).json()
    assert track in {c["track_id"] for c in queue["items"]}
    retried = _act(client, keys["reviewer"], track, "uphold", decision["event_id"])
    assert retried.status_code == 202, retried.text


@pytest.fixture(scope="module")
def holder_records(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    client: TestClient,
    keys: dict[str, str],
    worker: subprocess.Popen[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("holders")
    synth.write(folder / "a.flac", synth.song(seed=411, seconds=40))
    synth.write(folder / "b.flac", synth.song(seed=412, seconds=40))
    manifest = write_manifest(
        folder,
        [
            {
                "file": "a.flac",
                "isrc": "QZAPI2600001",
                "title": "Alder Song",
                "artists": ["Ash"],
                "rights_holder": "Alder Records",
                "policy": "monetize",
                "royalty_rate_bp": 5000,
            },
            {
                "file": "b.flac",
                "isrc": "QZAPI2600002",
                "title": "Birch Song",
                "artists": ["Bea"],
                "rights_holder": "Birch Music",
                "policy": "track",
            },
        ],
    )
    add_from_manifest(manifest, live_settings, stores.catalog)
    made = {}
    for name, seed in (("a", 411), ("b", 412)):
        remix = np.concatenate(
            [synth.song(seed=420, seconds=5), synth.song(seed=seed, seconds=40)[5 * RATE : 25 * RATE]]
        )
        buffer = io.BytesIO()
        import soundfile

        soundfile.write(buffer, remix, RATE, format="WAV")
        sent = _upload(
            client, keys["ingest"], buffer.getvalue(), track_id=f"api-remix-{name}", title=f"Remix {name}"
        )
        _decided(client, keys["reviewer"], f"api-remix-{name}", sent["event_id"])
        made[name] = f"api-remix-{name}"
    indices = Indices(live_settings.index_prefix)
    es.indices.refresh(index=[indices.provenance, indices.decisions])  # searches see what gets see
    return made


def test_a_rights_holder_sees_only_their_own_records(
    client: TestClient, keys: dict[str, str], holder_records: dict[str, str]
) -> None:
    a_key, b_key = auth(keys["holder_a"]), auth(keys["holder_b"])
    mine = client.get("/v1/records", headers=a_key).json()
    assert {r["track_id"] for r in mine["items"]} == {"api-remix-a"} and mine["total"] == 1
    assert client.get("/v1/records", headers=b_key).json()["total"] == 1
    # by id
    assert client.get("/v1/tracks/api-remix-a", headers=a_key).status_code == 200
    assert client.get("/v1/tracks/api-remix-b", headers=a_key).status_code == 404
    assert client.get("/v1/tracks/api-threat", headers=a_key).status_code == 404
    # by search on the other's catalog, and through counts
    for params in ({"isrc": "QZAPI2600002"}, {"title": "Birch"}, {"artist": "Bea"}):
        assert client.get("/v1/records", headers=a_key, params=params).json()["total"] == 0
    found = client.get("/v1/records", headers=a_key, params={"q": "Remix b"}).json()
    assert [r["track_id"] for r in found["items"]] == ["api-remix-a"] and found[
        "total"
    ] == 1  # "Remix" matches
    assert client.get("/v1/records", headers=a_key, params={"isrc": "QZAPI2600001"}).json()["total"] == 1
    # a reviewer sees both
    everyone = client.get("/v1/records", headers=auth(keys["reviewer"]), params={"q": "Remix"}).json()
    assert {"api-remix-a", "api-remix-b"} <= {r["track_id"] for r in everyone["items"]}
    # royalties summed by period: Alder is paid for its 20 s of a 25 s upload (5000 bp x 20/25).
    # The royalty event has its own topic, so it may be indexed just after the record.
    periods = eventually(
        lambda: client.get("/v1/royalties", headers=a_key, params={"period": "day"}).json(),
        what="Alder's royalty",
    )
    assert len(periods) == 1 and periods[0]["royalty_events"] == 1
    assert 3800 <= periods[0]["basis_points"] <= 4000
    assert client.get("/v1/royalties", headers=b_key).json() == []


def test_opt_out_only_for_the_holders_own_artists(
    client: TestClient, keys: dict[str, str], holder_records: dict[str, str]
) -> None:
    a_key = auth(keys["holder_a"])
    assert (
        client.put("/v1/artists/Ash/opt-out", headers=a_key, json={"opted_out": True}).json()["opted_out"]
        is True
    )
    assert client.put("/v1/artists/Bea/opt-out", headers=a_key, json={"opted_out": True}).status_code == 404


@pytest.fixture(scope="module")
def ash_in_both_catalogs(
    live_settings: Settings, stores: Stores, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Birch Music credits Ash too (catalog artists are whatever a holder registers)."""
    folder = tmp_path_factory.mktemp("birch-ash")
    synth.write(folder / "c.flac", synth.song(seed=431, seconds=20))
    recording = {
        "file": "c.flac",
        "isrc": "QZAPI2600003",
        "title": "Ash Live",
        "artists": ["Ash"],
        "rights_holder": "Birch Music",
        "policy": "track",
    }
    add_from_manifest(write_manifest(folder, [recording]), live_settings, stores.catalog)


def test_artist_names_compare_folded_as_the_registry_and_the_detectors_fold_them(
    client: TestClient, keys: dict[str, str], stores: Stores, holder_records: dict[str, str]
) -> None:
    # "ÁSH!" is the catalog's "Ash" once folded (casefold alone keeps the accent and the "!")
    response = client.put(
        "/v1/artists/ÁSH!/opt-out", headers=auth(keys["holder_a"]), json={"opted_out": True}
    )
    assert response.status_code == 200, response.text
    person = stores.registry.get_person("Ash")
    assert person is not None and person["opted_out"] is True
    assert person["registered_by"] == "Alder Records"


def test_aliases_too_common_or_too_short_are_refused(
    client: TestClient, keys: dict[str, str], stores: Stores, holder_records: dict[str, str]
) -> None:
    a_key = auth(keys["holder_a"])
    before = stores.registry.get_person("Ash")
    for alias, why in (("the", "common words"), ("Baby", "common words"), ("A.", "too short")):
        response = client.put(
            "/v1/artists/Ash/opt-out", headers=a_key, json={"opted_out": True, "aliases": ["Ash Tree", alias]}
        )
        assert response.status_code == 422, response.text
        assert why in response.json()["detail"] and repr(alias) in response.json()["detail"]
    assert stores.registry.get_person("Ash") == before  # nothing of a refused request is stored


def test_an_alias_or_a_name_too_long_is_refused_before_anything_is_stored(
    client: TestClient, keys: dict[str, str], stores: Stores, holder_records: dict[str, str]
) -> None:
    a_key = auth(keys["holder_a"])
    before = stores.registry.get_person("Ash")
    opted_out = not (before or {}).get("opted_out", False)  # a change, were it allowed
    response = client.put(
        "/v1/artists/Ash/opt-out", headers=a_key, json={"opted_out": opted_out, "aliases": ["A" * 201]}
    )
    assert response.status_code == 422, response.text
    response = client.put(f"/v1/artists/{'A' * 201}/opt-out", headers=a_key, json={"opted_out": opted_out})
    assert response.status_code == 422, response.text
    assert stores.registry.get_person("Ash") == before


def test_an_alias_that_is_another_holders_artist_is_refused(
    client: TestClient, keys: dict[str, str], stores: Stores, holder_records: dict[str, str]
) -> None:
    before = stores.registry.get_person("Ash")
    response = client.put(
        "/v1/artists/Ash/opt-out",
        headers=auth(keys["holder_a"]),
        json={"opted_out": True, "aliases": ["Ash Tree", "BEA!"]},  # Bea is Birch Music's
    )
    assert response.status_code == 422, response.text
    assert "'BEA!'" in response.json()["detail"] and "another rights holder" in response.json()["detail"]
    assert stores.registry.get_person("Ash") == before


def test_another_holder_can_neither_lift_nor_take_over_an_opt_out_and_the_owners_lift_is_audited(
    client: TestClient,
    keys: dict[str, str],
    es: Elasticsearch,
    stores: Stores,
    live_settings: Settings,
    holder_records: dict[str, str],
    ash_in_both_catalogs: None,
) -> None:
    a_key, b_key = auth(keys["holder_a"]), auth(keys["holder_b"])
    mine = client.put(
        "/v1/artists/Ash/opt-out", headers=a_key, json={"opted_out": True, "aliases": ["Ash Tree"]}
    )
    assert mine.status_code == 200, mine.text
    for body in ({"opted_out": False}, {"opted_out": True, "aliases": ["Ashes To Ashes"]}):
        refused = client.put("/v1/artists/ash/opt-out", headers=b_key, json=body)
        assert refused.status_code == 403, refused.text
        assert "another rights holder" in refused.json()["detail"]
    person = stores.registry.get_person("Ash")
    assert person is not None
    assert (person["opted_out"], person["aliases"], person["registered_by"]) == (
        True,
        ["Ash Tree"],
        "Alder Records",
    )

    lifted = client.put("/v1/artists/Ash/opt-out", headers=a_key, json={"opted_out": False})
    assert lifted.status_code == 200 and lifted.json()["opted_out"] is False
    hits = es.search(
        index=Indices(live_settings.index_prefix).audit,
        query={"bool": {"filter": [{"term": {"person": "ash"}}, {"term": {"action": "opt_out_lifted"}}]}},
    )["hits"]["hits"]
    (entry,) = [h["_source"] for h in hits]
    assert (entry["actor"], entry["actor_key_id"], entry["rights_holder"]) == (
        "label-a",
        _key_id(keys["holder_a"]),
        "Alder Records",
    )
    assert entry["before"]["opted_out"] is True and entry["after"]["opted_out"] is False
    assert entry["after"]["registered_by"] == "Alder Records" and entry["occurred_at"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        (
            "POST",
            "/v1/review/cases/api-threat/actions",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            422,
        ),
        (
            "POST",
            "/v1/review/cases/api-threat/actions",
            {"json": {"action": "delete-everything", "reason": "x", "decision_event_id": 3}},
            422,
        ),
        ("GET", "/v1/review/cases", {"params": {"limit": "many"}}, 422),
        ("GET", "/v1/records", {"params": {"date_from": "yesterday"}}, 422),
        (
            "GET",
            "/v1/records",
            {"params": {"date_from": "2026-02-01T00:00:00", "date_to": "2026-01-01T00:00:00"}},
            422,
        ),
        ("GET", "/v1/tracks/no-such-track", {}, 404),
        ("GET", "/v1/review/cases/no-such-track", {}, 404),
        (
            "POST",
            "/v1/review/cases/no-such-track/actions",
            {"json": {"action": "overturn", "reason": "why not", "decision_event_id": "x"}},
            404,
        ),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(
    client: TestClient, keys: dict[str, str], method: str, path: str, kwargs: dict[str, Any], expected: int
) -> None:
    headers = {**auth(keys["reviewer"]), **kwargs.pop("headers", {})}
    response = client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == expected, response.text
    assert response.json()["detail"]


def test_bad_uploads(client: TestClient, keys: dict[str, str], tmp_path: Path) -> None:
    ingest = auth(keys["ingest"])
    too_big = client.post(
        "/v1/tracks", headers=ingest, files={"audio": ("big.wav", b"\0" * (5 << 20), "audio/wav")}
    )
    assert too_big.status_code == 413 and "MB" in too_big.json()["detail"]
    not_audio = client.post(
        "/v1/tracks", headers=ingest, files={"audio": ("x.wav", b"hello, not audio", "audio/wav")}
    )
    assert not_audio.status_code == 415 and "unsupported audio" in not_audio.json()["detail"]
    bad_meta = client.post(
        "/v1/tracks",
        headers=ingest,
        files={"audio": ("x.wav", _wav(2, 7), "audio/wav")},
        data={"metadata": json.dumps({"source": "stolen"})},
    )
    assert bad_meta.status_code == 422 and "source" in bad_meta.json()["detail"]


def _flac(samples: np.ndarray[Any, Any]) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="FLAC")
    return buffer.getvalue()


def _register(client: TestClient, key: str, audio: bytes, **metadata: Any) -> Any:
    return client.post(
        "/v1/recordings",
        headers=auth(key),
        files={"audio": ("master.flac", audio, "audio/flac")},
        data={"metadata": json.dumps(metadata)},
    )


def _job(client: TestClient, key: str, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/recordings/jobs/{job_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _finished(client: TestClient, key: str, job_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        job = _job(client, key, job_id)
        return job if job["state"] in ("done", "failed") else None

    return eventually(probe, timeout_s=180, what=f"registration job {job_id} to finish")


def test_a_registration_runs_in_the_background_while_the_api_answers(
    client: TestClient, keys: dict[str, str], stores: Stores
) -> None:
    # 20 minutes of audio (a song, then silence: a small upload, a long decode and fingerprint)
    audio = _flac(np.concatenate([synth.song(seed=440, seconds=30), np.zeros(1170 * RATE, np.float32)]))
    sent = _register(client, keys["holder_a"], audio, isrc="QZJOB2600001", title="Long Take", artists=["Ash"])
    assert sent.status_code == 202, sent.text
    job = sent.json()
    assert job["state"] in ("queued", "running") and job["isrc"] == "QZJOB2600001"
    assert sent.headers["Location"] == f"/v1/recordings/jobs/{job['job_id']}"
    other = client.get(f"/v1/recordings/jobs/{job['job_id']}", headers=auth(keys["holder_b"]))
    assert other.status_code == 404  # only the holder who submitted it sees the job

    slowest, seen_running = 0.0, False
    while (state := _job(client, keys["holder_a"], job["job_id"])["state"]) in ("queued", "running"):
        seen_running |= state == "running"
        for path, headers in (("/healthz", {}), ("/v1/records?q=Remix", auth(keys["holder_a"]))):
            started = time.perf_counter()
            assert client.get(path, headers=headers).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.2)
    assert seen_running and slowest < 1.0, (seen_running, slowest)
    done = _job(client, keys["holder_a"], job["job_id"])
    assert done["state"] == "done", done
    assert done["result"]["duration_s"] == pytest.approx(1200, abs=1) and done["result"]["landmark_count"] > 0
    assert (stores.catalog.get("QZJOB2600001") or {}).get("rights_holder") == "Alder Records"


def test_a_failed_registration_says_why_and_of_two_holders_racing_for_an_isrc_one_wins(
    client: TestClient, keys: dict[str, str], stores: Stores
) -> None:
    short = _register(
        client,
        keys["holder_a"],
        _flac(synth.song(seed=441, seconds=0.5)),
        isrc="QZJOB2600002",
        title="Short",
        artists=["Ash"],
    )
    assert short.status_code == 202, short.text
    failed = _finished(client, keys["holder_a"], short.json()["job_id"])
    assert failed["state"] == "failed" and "unsupported audio" in failed["reason"], failed

    audio = _flac(synth.song(seed=442, seconds=15))
    holders = {"holder_a": "Alder Records", "holder_b": "Birch Music"}
    with ThreadPoolExecutor(2) as pool:
        answers = dict(
            zip(
                holders,
                pool.map(
                    lambda k: _register(client, keys[k], audio, isrc="QZJOB2600003", title=k, artists=["Z"]),
                    holders,
                ),
                strict=True,
            )
        )
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses in ([202, 202], [202, 409]), [a.text for a in answers.values()]
    finals = {
        k: _finished(client, keys[k], a.json()["job_id"]) for k, a in answers.items() if a.status_code == 202
    }
    winners = [k for k, job in finals.items() if job["state"] == "done"]
    assert len(winners) == 1, finals
    for k, job in finals.items():
        if k not in winners:
            assert job["state"] == "failed" and "another rights holder" in job["reason"], job
    assert (stores.catalog.get("QZJOB2600003") or {}).get("rights_holder") == holders[winners[0]]


def _as_json_number(value: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![\d.]){value}(?![\d.])")


def _walk_as_holder(
    client: TestClient, mine: dict[str, Any], theirs: dict[str, Any]
) -> dict[tuple[str, str], list[Any]]:
    """Every route a rights holder may call, as `mine`; the answers by route."""
    headers = auth(mine["key"])
    answers: dict[tuple[str, str], list[Any]] = {
        route: [] for route, roles in ROUTES.items() if "rights_holder" in roles
    }

    def call(method: str, route: str, url: str, **kwargs: Any) -> Any:
        response = client.request(method, url, headers=headers, **kwargs)
        answers[(method, route)].append(response)
        return response

    assert call("GET", "/v1/tracks/{track_id}", "/v1/tracks/api-medley").status_code == 200
    for params in (
        {},
        {"isrc": mine["isrc"]},
        {"isrc": theirs["isrc"]},
        {"q": "Medley"},
        {"artist": theirs["artist"]},
        {"decision": "royalty"},
    ):
        assert call("GET", "/v1/records", "/v1/records", params=params).status_code == 200
    assert call("GET", "/v1/royalties", "/v1/royalties", params={"period": "day"}).json()
    jobs = "/v1/recordings/jobs/{job_id}"
    assert call("GET", jobs, f"/v1/recordings/jobs/{mine['job']}").status_code == 200
    assert call("GET", jobs, f"/v1/recordings/jobs/{theirs['job']}").status_code == 404
    short = _flac(synth.song(seed=mine["seed"], seconds=3))
    registered = call(
        "POST",
        "/v1/recordings",
        "/v1/recordings",
        files={"audio": ("x.flac", short, "audio/flac")},
        data={"metadata": json.dumps({"isrc": mine["extra_isrc"], "title": "Short", "artists": ["Z"]})},
    )
    assert registered.status_code == 202, registered.text
    # the routes naming the other's catalog: 404 (their answers echo only what was asked)
    assert call("DELETE", "/v1/recordings/{isrc}", f"/v1/recordings/{theirs['isrc']}").status_code == 404
    opt_out = f"/v1/artists/{theirs['artist']}/opt-out"
    assert call("PUT", "/v1/artists/{name}/opt-out", opt_out, json={"opted_out": True}).status_code == 404
    song = {"title": "Own Song", "writers": [mine["artist"]], "policy": "monetize", "royalty_rate_bp": 100}
    composition = "/v1/compositions/{work_id}"
    put = call("PUT", composition, f"/v1/compositions/W-{mine['isrc']}", json=song)
    assert put.status_code == 200 and put.headers.get("X-Backfill-Job")
    again = call("PUT", composition, f"/v1/compositions/W-{mine['isrc']}", json=song)
    assert again.status_code == 200 and "X-Backfill-Job" not in again.headers  # nothing changed
    assert call("GET", composition, f"/v1/compositions/W-{mine['isrc']}").status_code == 200
    assert call("GET", composition, f"/v1/compositions/W-{theirs['isrc']}").status_code == 404
    assert all(answers.values()), [route for route, got in answers.items() if not got]
    return answers


def test_two_holders_of_one_medley_see_nothing_of_each_other_on_any_route(
    client: TestClient,
    keys: dict[str, str],
    stores: Stores,
    es: Elasticsearch,
    live_settings: Settings,
    worker: subprocess.Popen[bytes],
) -> None:
    """Tenant isolation through the real pipeline: two holders register masters (different
    rates), a medley of both is uploaded and decided, then each holder calls every route a holder
    may call and none of the answers holds the other's ISRC, rate, name, or any server path."""
    holders: dict[str, dict[str, Any]] = {
        "Cedar Tunes": {"isrc": "QZCDR2600001", "extra_isrc": "QZCDR2600002", "rate": 4321, "seed": 451},
        "Dogwood Sound": {"isrc": "QZDGW2600001", "extra_isrc": "QZDGW2600002", "rate": 2718, "seed": 452},
    }
    holders["Cedar Tunes"]["artist"], holders["Dogwood Sound"]["artist"] = "Cyra", "Dov"
    for name, h in holders.items():
        h["key"] = stores.keys.create("rights_holder", f"key of {name}", name)[0]
        sent = _register(
            client,
            h["key"],
            _flac(synth.song(seed=h["seed"], seconds=40)),
            isrc=h["isrc"],
            title=f"{name} Song",
            artists=[h["artist"]],
            policy="monetize",
            royalty_rate_bp=h["rate"],
        )
        assert sent.status_code == 202, sent.text
        h["job"] = sent.json()["job_id"]
        assert _finished(client, h["key"], h["job"])["state"] == "done"

    medley = np.concatenate(
        [synth.song(seed=h["seed"], seconds=40)[5 * RATE : 25 * RATE] for h in holders.values()]
    )
    buffer = io.BytesIO()
    import soundfile

    soundfile.write(buffer, medley, RATE, format="WAV")
    sent = _upload(client, keys["ingest"], buffer.getvalue(), track_id="api-medley", title="Medley of two")

    def both_paid() -> dict[str, Any] | None:
        body = _decided(client, keys["reviewer"], "api-medley", sent["event_id"])
        paid = {d["royalty"]["rights_holder"] for d in body["decisions"] if d.get("royalty")}
        return body if paid == set(holders) else None

    full = eventually(both_paid, what="the medley decided with both holders' royalties")
    assert {m["isrc"] for m in full["record"]["matches"]} == {h["isrc"] for h in holders.values()}
    indices = Indices(live_settings.index_prefix)
    es.indices.refresh(index=[indices.provenance, indices.decisions, indices.jobs])

    for me, mine in holders.items():
        (other,) = set(holders) - {me}
        theirs = holders[other]
        answers = _walk_as_holder(client, mine, theirs)
        read = json.dumps([r.json() for got in answers.values() for r in got if r.status_code != 404])
        assert mine["isrc"] in read and _as_json_number(mine["rate"]).search(read)  # the walk saw real data
        for leak in (theirs["isrc"], other, theirs["artist"], "file:", str(live_settings.store_dir)):
            assert leak not in read, (me, leak)
        assert not _as_json_number(theirs["rate"]).search(read), (me, theirs["rate"])
        assert not re.search(r'"/(tmp|work|srv|home|root|etc|proc|var)/', read), me
    assert (stores.catalog.get("QZDGW2600001") or {}).get("rights_holder") == "Dogwood Sound"


NO_AUDIO = (422, "no audio file at that URI inside the ingest folders")


def test_by_uri_submits_only_files_inside_the_ingest_roots(
    client: TestClient,
    live_settings: Settings,
    keys: dict[str, str],
    worker: subprocess.Popen[bytes],  # the topics exist
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ingest = auth(keys["ingest"])
    root = tmp_path_factory.mktemp("ingest")
    takes = [root / "a" / "take 1 (100%).wav", root / "b" / "take 1 (100%).wav"]
    for seed, take in enumerate(takes):
        take.parent.mkdir()
        take.write_bytes(_wav(2, seed=430 + seed))
    (root / "escape.wav").symlink_to("/etc/passwd")
    off = client.post("/v1/tracks/by-uri", headers=ingest, json={"audio_uri": takes[0].as_uri()})
    assert off.status_code == 403 and "not enabled" in off.json()["detail"]

    settings = live_settings.model_copy(update={"ingest_roots": (root,)})
    with TestClient(create_app(settings)) as on:
        refused = [
            on.post("/v1/tracks/by-uri", headers=ingest, json={"audio_uri": uri})
            for uri in (
                "file:///etc/shadow",
                "file:///etc/passwd",
                "file:///proc/self/environ",
                "file:///no/such/file.wav",
                (root / "absent.wav").as_uri(),
                (root / "escape.wav").as_uri(),
                takes[0].as_uri().replace("/a/", "/a/../../"),
            )
        ]
        assert {(r.status_code, r.json()["detail"]) for r in refused} == {NO_AUDIO}
        remote = on.post(
            "/v1/tracks/by-uri", headers=ingest, json={"audio_uri": "file://nas/" + str(takes[0])}
        )
        assert remote.status_code == 422 and "this machine" in remote.json()["detail"]
        web = on.post("/v1/tracks/by-uri", headers=ingest, json={"audio_uri": "https://example.com/a.mp3"})
        assert web.status_code == 422 and "file://" in web.json()["detail"]
        sent = [
            on.post("/v1/tracks/by-uri", headers=ingest, json={"audio_uri": take.as_uri()}) for take in takes
        ]
    assert [r.status_code for r in sent] == [202, 202], [r.text for r in sent]
    assert sent[0].json()["track_id"] != sent[1].json()["track_id"]  # same file name, other folder
    assert sent[0].json()["audio_uri"] == takes[0].resolve().as_uri()


def test_the_audio_route_serves_only_the_store_and_the_ingest_roots(
    client: TestClient, keys: dict[str, str], es: Elasticsearch, live_settings: Settings
) -> None:
    provenance = Indices(live_settings.index_prefix).provenance
    for track_id, uri in (
        ("forged-passwd", "file:///etc/passwd"),
        ("forged-remote", "file://nas/etc/passwd"),
    ):
        es.index(
            index=provenance,
            id=track_id,
            document={"track_id": track_id, "submission": {"audio_uri": uri}},
            refresh="wait_for",
        )
        answer = client.get(f"/v1/tracks/{track_id}/audio", headers=auth(keys["reviewer"]))
        assert answer.status_code == 404 and "root:" not in answer.text


def _status_of_head_only(base_url: str, head: str) -> str:
    """Send a request's head over a real socket and nothing of its body; the status code."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode())
        return sock.recv(4096).decode().split(" ", 2)[1]


@pytest.mark.parametrize("path", ["/v1/tracks", "/v1/recordings", "/v1/review/cases/x/actions"])
def test_a_keyless_terabyte_body_is_refused_before_a_byte_of_it_is_read(api_server: str, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: api\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {10**12}\r\n\r\n"
    )
    started = time.monotonic()
    assert _status_of_head_only(api_server, head) == "401"
    assert time.monotonic() - started < 5


def test_a_keyed_body_over_the_limit_is_413_before_it_is_read(api_server: str, keys: dict[str, str]) -> None:
    head = (
        "POST /v1/review/cases/x/actions HTTP/1.1\r\nHost: api\r\n"
        f"Authorization: Bearer {keys['reviewer']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n"
    )
    assert _status_of_head_only(api_server, head) == "413"


def test_metrics_in_prometheus_format(client: TestClient, keys: dict[str, str]) -> None:
    client.get("/v1/review/cases", headers=auth(keys["reviewer"]))
    text = client.get("/metrics", headers=auth(keys["admin"])).text
    assert 'clearance_api_requests_total{method="GET",route="/v1/review/cases",status="200"}' in text
    assert "clearance_api_request_seconds_bucket" in text and "clearance_review_queue_size" in text
