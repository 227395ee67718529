"""Turns analysis and decision events into Elasticsearch bulk actions, and applies them.

- `decisions` is append-only: each decision is created under its (deterministic) event id;
  a replay is a harmless 409.
- `provenance` holds one document per track (id = track id), updated in place. A track's
  events come from one partition of each topic and reach one writer, so a read of the
  current documents before each batch is enough to refuse stale replays: an event for an
  older submission than the one on record never overwrites it, and the record's verdict only
  moves forward (Kafka delivers at least once: a redelivered pipeline verdict never undoes the
  review that overruled it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from decisions.review import REVIEW_POLICY, is_escalated
from detectors.catalog import decode_items
from detectors.matcher import terms
from index.names import Indices
from model.events import Action, Decision, ReviewAction, TrackAnalyzed, utcnow
from model.reasons import severity

IndexableEvent = TrackAnalyzed | Decision | ReviewAction


class IndexWriteError(Exception):
    """Elasticsearch refused some documents for a reason other than a duplicate."""

    def __init__(self, failures: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(failures)} document(s) refused: {failures[:3]}")
        self.failures = failures


@dataclass(frozen=True)
class VerdictRank:
    """Where a verdict stands: a review outranks the pipeline verdict it reviewed, and a later
    review an earlier one."""

    reviewed: bool
    decided_at: datetime
    event_id: str

    def key(self) -> tuple[bool, datetime]:
        return self.reviewed, self.decided_at

    def outranked_by(self, other: VerdictRank) -> bool:
        return other.event_id != self.event_id and other.key() >= self.key()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def verdict_rank(decision: Decision) -> VerdictRank:
    return VerdictRank(
        decision.policy_version == REVIEW_POLICY, _aware(decision.occurred_at), decision.event_id
    )


@dataclass
class TrackState:
    """What the provenance record currently describes: which submission, is it decided, and
    (when known) the rank of its current verdict."""

    submission_event_id: str
    submitted_at: datetime
    decided: bool
    verdict: VerdictRank | None = None


def _submission_of(event: IndexableEvent) -> tuple[str, datetime]:
    if isinstance(event, TrackAnalyzed):
        return event.submission.event_id, event.submission.occurred_at
    return event.submission_event_id, event.submitted_at


def state_from_document(source: dict[str, Any] | None) -> TrackState | None:
    submission = (source or {}).get("submission")
    if not submission:
        return None
    decision = (source or {}).get("decision") or {}
    decided = decision.get("submission_event_id") == submission["event_id"]
    rank = None
    if decided and decision.get("event_id") and decision.get("decided_at"):
        rank = VerdictRank(
            decision.get("policy_version") == REVIEW_POLICY,
            _aware(datetime.fromisoformat(decision["decided_at"])),
            decision["event_id"],
        )
    return TrackState(
        submission_event_id=submission["event_id"],
        submitted_at=datetime.fromisoformat(submission["occurred_at"]),
        decided=decided,
        verdict=rank,
    )


def _stale_verdict(event: IndexableEvent, known: TrackState | None) -> bool:
    """A verdict about the record's submission that does not outrank the one on record (e.g.
    the pipeline's verdict redelivered after a review, or an earlier review after a later one)."""
    if not isinstance(event, Decision) or not event.verdict or known is None or known.verdict is None:
        return False
    if known.submission_event_id != event.submission_event_id:
        return False
    return not known.verdict.outranked_by(verdict_rank(event))


def plan_actions(
    events: list[IndexableEvent], current: dict[str, TrackState | None], indices: Indices
) -> list[dict[str, Any]]:
    """Bulk actions for a batch of events, given what the provenance records hold now."""
    now = utcnow().isoformat()
    state = dict(current)
    actions: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, ReviewAction):
            actions.append(_audit_create(event, indices, now))
            continue
        if isinstance(event, Decision):
            actions.append(_decision_create(event, indices, now))
        submission_id, submitted_at = _submission_of(event)
        known = state.get(event.track_id)
        if (
            known is not None
            and known.submission_event_id != submission_id
            and known.submitted_at > submitted_at
        ):
            continue  # an older submission's event: the record already describes a newer one
        if _stale_verdict(event, known):
            continue  # the record's verdict only moves forward
        same_submission = known is not None and known.submission_event_id == submission_id
        decided = same_submission and known is not None and known.decided
        doc = _provenance_doc(event, now, decided, reset=not same_submission)
        if doc is None:
            continue
        rank = known.verdict if same_submission and known is not None else None
        if isinstance(event, Decision) and event.verdict:
            rank = verdict_rank(event)
        state[event.track_id] = TrackState(
            submission_id, submitted_at, decided or (isinstance(event, Decision) and event.verdict), rank
        )
        actions.append(
            {
                "_op_type": "update",
                "_index": indices.provenance,
                "_id": event.track_id,
                "doc": doc,
                "doc_as_upsert": True,
            }
        )
    return actions


def _audit_create(review: ReviewAction, indices: Indices, now: str) -> dict[str, Any]:
    source = review.model_dump(mode="json")
    source["indexed_at"] = now
    return {"_op_type": "create", "_index": indices.audit, "_id": review.event_id, "_source": source}


def _decision_create(decision: Decision, indices: Indices, now: str) -> dict[str, Any]:
    source = decision.model_dump(mode="json")
    source["indexed_at"] = now
    return {"_op_type": "create", "_index": indices.decisions, "_id": decision.event_id, "_source": source}


def _provenance_doc(
    event: TrackAnalyzed | Decision, now: str, decided: bool, reset: bool
) -> dict[str, Any] | None:
    doc: dict[str, Any] = {"track_id": event.track_id, "updated_at": now}
    if reset:  # a new submission: what was decided about the previous one no longer applies
        doc.update(decision=None, label=None)
    if isinstance(event, TrackAnalyzed):
        doc.update(_analysis_fields(event))
        doc["status"] = "decided" if decided else "analyzed"
        return doc
    # A decision may be indexed before its analysis; it names its submission either way.
    doc["submission"] = {"event_id": event.submission_event_id, "occurred_at": event.submitted_at.isoformat()}
    if event.action is Action.LABEL and event.label is not None:
        doc["label"] = event.label.model_dump(mode="json")
    if event.verdict:
        doc["status"] = "decided"
        doc["review"] = None  # a new verdict is a new case (or none): earlier claims are done
        doc["decision"] = {
            "event_id": event.event_id,
            "submission_event_id": event.submission_event_id,
            "action": event.action.value,
            "policy_version": event.policy_version,
            "decided_at": event.occurred_at.isoformat(),
            "reasons": [r.model_dump(mode="json") for r in event.reasons],
            "label": event.label.model_dump(mode="json") if event.label else None,
            "severity": severity(r.code for r in event.reasons),
            "escalated": is_escalated(r.code for r in event.reasons),
        }
    elif "label" not in doc:
        return None  # royalties and other side decisions live in the decisions index only
    return doc


# finding kind -> provenance record field, for findings stored whole
_RECORD_FIELDS = {
    "watermark": "watermark",
    "harassment": "harassment",
    "name_opt_out": "name_opt_out",
    "voice_opt_out": "voice_opt_out",
    "content_credentials": "content_credentials",
    "generation": "generation",
}


def _analysis_fields(analysis: TrackAnalyzed) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "submission": analysis.submission.model_dump(mode="json"),
        "analysis_event_id": analysis.event_id,
        "analyzed_at": analysis.occurred_at.isoformat(),
        "findings": [f.model_dump(mode="json") for f in analysis.findings],
        "detectors": [
            {
                "detector": f.detector,
                "version": f.version,
                "took_ms": f.took_ms,
                "status": f.status,
                "error": f.error,
            }
            for f in analysis.findings
        ],
        "facts": None,
        "fingerprint": None,
        "fingerprint_terms": [],
        "matches": [],
        "compositions": [],
        **dict.fromkeys(_RECORD_FIELDS.values()),
    }
    for finding in analysis.findings:
        if finding.result is not None and finding.result.kind == "audio_facts":
            fields["facts"] = finding.result.model_dump(mode="json")
        elif finding.result is not None and finding.result.kind == "chromaprint":
            fields["fingerprint"] = finding.result.model_dump(mode="json")
            fields["fingerprint_terms"] = fingerprint_terms(finding.result.fingerprint)
        elif finding.result is not None and finding.result.kind == "catalog_match":
            fields["matches"] = [m.model_dump(mode="json") for m in finding.result.matches]
        elif finding.result is not None and finding.result.kind == "composition_match":
            fields["compositions"] = [m.model_dump(mode="json") for m in finding.result.matches]
        elif finding.result is not None and finding.result.kind in _RECORD_FIELDS:
            fields[_RECORD_FIELDS[finding.result.kind]] = finding.result.model_dump(mode="json")
    return fields


def fingerprint_terms(fingerprint: str) -> list[str]:
    """A stored Chromaprint's retrieval terms (the catalog's kind); none for one that does not
    decode (a record is never refused for it)."""
    if not fingerprint:
        return []
    try:
        return terms(decode_items(fingerprint))
    except Exception:  # chromaprint's decoder raises bare errors on malformed input
        return []


class EventWriter:
    """Applies batches of events to the provenance, decisions and audit indices."""

    def __init__(self, es: AsyncElasticsearch, indices: Indices) -> None:
        self._es, self._indices = es, indices

    async def write(self, events: list[IndexableEvent]) -> int:
        """Index a batch; returns how many actions Elasticsearch applied (duplicates excluded)."""
        states = await self._current_states({e.track_id for e in events})
        actions = plan_actions(events, states, self._indices)
        applied, errors = await async_bulk(
            self._es,
            actions,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=3,
            refresh="wait_for",
        )
        failures = [e for e in errors if _status_of(e) != 409]  # type: ignore[union-attr]
        if failures:
            raise IndexWriteError(failures)
        return applied

    async def _current_states(self, track_ids: set[str]) -> dict[str, TrackState | None]:
        if not track_ids:
            return {}
        response = await self._es.mget(
            index=self._indices.provenance,
            ids=sorted(track_ids),
            source_includes=[
                "submission.event_id",
                "submission.occurred_at",
                "decision.submission_event_id",
                "decision.event_id",
                "decision.policy_version",
                "decision.decided_at",
            ],
        )
        return {
            doc["_id"]: state_from_document(doc.get("_source") if doc.get("found") else None)
            for doc in response["docs"]
        }

    async def close(self) -> None:
        await self._es.close()


def _status_of(error: dict[str, Any]) -> int:
    return int(next(iter(error.values())).get("status", 0))
