from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from decisions.decide import decide
from decisions.policy import DEFAULT_POLICIES
from index.names import Indices
from index.writer import TrackState, plan_actions, state_from_document
from model.events import TrackAnalyzed, TrackSubmitted
from model.findings import AudioFacts, ChromaprintFingerprint, Finding

INDICES = Indices("t-")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def analysis(submitted_at: datetime = T0, **fields: Any) -> TrackAnalyzed:
    sub = TrackSubmitted(
        track_id="trk-1",
        source="upload",
        audio_uri="file:///a",
        uploader_id="u",
        occurred_at=submitted_at,
        **fields,
    )
    findings = [
        Finding(
            detector="audio_facts",
            version="1",
            took_ms=2,
            status="ok",
            result=AudioFacts(
                duration_s=12.5,
                source_sample_rate=48000,
                source_channels=2,
                codec="flac",
                container="flac",
                loudness_lufs=-16.2,
                peak_dbfs=-0.5,
                silent=False,
            ),
        ),
        Finding(
            detector="chromaprint",
            version="1",
            took_ms=3,
            status="ok",
            result=ChromaprintFingerprint(
                algorithm=1, item_count=80, items_per_second=8.0769, duration_s=12.5, fingerprint="AQAA"
            ),
        ),
    ]
    return TrackAnalyzed(track_id="trk-1", submission=sub, findings=findings)


def by_index(actions: list[dict[str, Any]], index: str) -> list[dict[str, Any]]:
    return [a for a in actions if a["_index"] == index]


def test_analysis_updates_the_track_record_with_its_facts() -> None:
    (action,) = plan_actions([analysis()], {}, INDICES)
    assert action["_op_type"] == "update" and action["_id"] == "trk-1" and action["doc_as_upsert"]
    doc = action["doc"]
    assert doc["facts"]["duration_s"] == 12.5 and doc["fingerprint"]["item_count"] == 80
    assert doc["status"] == "analyzed"
    assert [d["detector"] for d in doc["detectors"]] == ["audio_facts", "chromaprint"]


def test_decisions_are_created_under_their_event_id_and_mark_the_record_decided() -> None:
    a = analysis(declared_ai_use="generated")
    decisions = decide(a, DEFAULT_POLICIES)
    actions = plan_actions([a, *decisions], {}, INDICES)
    creates = by_index(actions, INDICES.decisions)
    assert [(c["_op_type"], c["_id"]) for c in creates] == [("create", d.event_id) for d in decisions]
    last_record_update = by_index(actions, INDICES.provenance)[-1]["doc"]
    assert last_record_update["status"] == "decided"
    assert last_record_update["decision"]["action"] == "label"
    assert last_record_update["label"]["digital_source_type"] == "trainedAlgorithmicMedia"


def test_replayed_events_plan_the_same_ids() -> None:
    a = analysis()
    first = plan_actions([a, *decide(a, DEFAULT_POLICIES)], {}, INDICES)
    second = plan_actions([a, *decide(a, DEFAULT_POLICIES)], {}, INDICES)
    assert [(x["_index"], x["_id"]) for x in first] == [(x["_index"], x["_id"]) for x in second]


def test_an_older_submission_never_overwrites_a_newer_record() -> None:
    newer, older = analysis(T0 + timedelta(hours=1)), analysis(T0)
    current = {"trk-1": TrackState(newer.submission.event_id, newer.submission.occurred_at, decided=True)}
    actions = plan_actions([older, *decide(older, DEFAULT_POLICIES)], current, INDICES)
    assert by_index(actions, INDICES.provenance) == []
    assert len(by_index(actions, INDICES.decisions)) == 1  # history keeps it all the same


def test_a_decision_indexed_before_its_analysis_keeps_the_record_decided() -> None:
    a = analysis()
    (verdict,) = decide(a, DEFAULT_POLICIES)
    actions = plan_actions([verdict], {}, INDICES)
    record = by_index(actions, INDICES.provenance)[0]["doc"]
    state = state_from_document({"submission": record["submission"], "decision": record["decision"]})
    later = plan_actions([a], {"trk-1": state}, INDICES)
    assert later[0]["doc"]["status"] == "decided"


def test_a_new_submission_clears_the_previous_decision() -> None:
    old = analysis(T0)
    current = {"trk-1": TrackState(old.submission.event_id, T0, decided=True)}
    (action,) = plan_actions([analysis(T0 + timedelta(days=1))], current, INDICES)
    assert action["doc"]["decision"] is None and action["doc"]["status"] == "analyzed"
