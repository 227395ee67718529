from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from decisions.decide import decide
from decisions.policy import DEFAULT_POLICIES
from decisions.review import review_decision
from index.names import Indices
from index.writer import TrackState, plan_actions, state_from_document
from model.events import Action, Decision, Reason, ReviewAction, TrackAnalyzed, TrackSubmitted
from model.findings import AudioFacts, ChromaprintFingerprint, Finding
from model.reasons import SEVERITY, ReasonCode

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


def review_of(verdict: Decision, action: str, at: datetime) -> Decision:
    review = ReviewAction(
        track_id=verdict.track_id,
        occurred_at=at,
        action=action,  # type: ignore[arg-type]
        reason="looked at it",
        reviewer="rev-ada",
        reviewed_decision_event_id=verdict.event_id,
        reviewed_action=verdict.action,
        reviewed_reasons=list(verdict.reasons),
        submission_event_id=verdict.submission_event_id,
        submitted_at=verdict.submitted_at,
    )
    return review_decision(review)


def record_after(actions: list[dict[str, Any]], record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance document once the planned partial updates are applied, in order."""
    merged = dict(record or {})
    for action in by_index(actions, INDICES.provenance):
        merged.update(action["doc"])
    return merged


def test_a_redelivered_pipeline_verdict_never_undoes_the_review_verdict() -> None:
    a = analysis()
    (verdict,) = decide(a, DEFAULT_POLICIES)
    escalated = review_of(verdict, "escalate", verdict.occurred_at + timedelta(minutes=5))
    record = record_after(plan_actions([a, verdict, escalated], {}, INDICES))
    assert record["decision"]["event_id"] == escalated.event_id

    replay = plan_actions([a, verdict], {"trk-1": state_from_document(record)}, INDICES)
    assert record_after(replay, record)["decision"]["event_id"] == escalated.event_id
    assert [x["_id"] for x in by_index(replay, INDICES.decisions)] == [verdict.event_id]  # history: a 409


def test_a_later_review_outranks_an_earlier_one_whatever_order_they_arrive_in() -> None:
    a = analysis()
    (verdict,) = decide(a, DEFAULT_POLICIES)
    first = review_of(verdict, "escalate", verdict.occurred_at + timedelta(minutes=5))
    second = review_of(first, "overturn", verdict.occurred_at + timedelta(minutes=9))
    in_order = record_after(plan_actions([a, verdict, first, second], {}, INDICES))
    assert in_order["decision"]["event_id"] == second.event_id
    redelivered = plan_actions([first, verdict], {"trk-1": state_from_document(in_order)}, INDICES)
    assert by_index(redelivered, INDICES.provenance) == []
    # within one batch too: the state carried from event to event keeps the rank
    shuffled = record_after(plan_actions([a, verdict, second, first, verdict], {}, INDICES))
    assert shuffled["decision"]["event_id"] == second.event_id


def test_an_escalated_case_is_marked_and_keeps_at_least_its_severity() -> None:
    a = analysis()
    threat = Reason(code=ReasonCode.HARASSMENT_THREAT, message="a threat")
    (verdict,) = decide(a, DEFAULT_POLICIES)
    flagged = verdict.model_copy(update={"action": Action.NEEDS_REVIEW, "reasons": [threat]})
    escalated = review_of(flagged, "escalate", flagged.occurred_at + timedelta(minutes=5))
    record = record_after(plan_actions([a, flagged, escalated], {}, INDICES))
    assert record["decision"]["escalated"] is True and record["decision"]["action"] == "needs_review"
    assert record["decision"]["severity"] == SEVERITY[ReasonCode.HARASSMENT_THREAT]
    assert [r["code"] for r in record["decision"]["reasons"]] == ["review_escalate", "harassment_threat"]
    assert record_after(plan_actions([a, flagged], {}, INDICES))["decision"]["escalated"] is False
