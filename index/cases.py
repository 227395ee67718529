"""Reads and claims for the review API: the review queue, cases, the audit trail, rights
holders' searches and royalty totals. Every rights-holder read goes through `holder_filter`, so
one holder never sees another's records: not by search, not by id, not through counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from index.names import Indices
from streams.events import utcnow

MAX_WINDOW = 10_000  # from + size stays within Elasticsearch's result window


class CaseConflict(Exception):
    """Another reviewer acted first, or the case changed since it was read."""


class CaseNotFound(Exception):
    pass


@dataclass(frozen=True)
class Page:
    total: int
    items: list[dict[str, Any]]


def holder_filter(rights_holder: str) -> dict[str, Any]:
    """Records that involve the holder's catalog: a match on one of its recordings."""
    return {"nested": {"path": "matches", "query": {"term": {"matches.rights_holder": rights_holder}}}}


# Review -------------------------------------------------------------------------------------

QUEUE_FIELDS = ["track_id", "submission", "decision", "review", "label", "facts.duration_s", "updated_at"]


def review_queue(es: Elasticsearch, indices: Indices, reason: str | None, offset: int, size: int) -> Page:
    """Open needs_review cases, most severe first, then oldest first."""
    filters: list[dict[str, Any]] = [{"term": {"decision.action": "needs_review"}}]
    if reason:
        filters.append({"term": {"decision.reasons.code": reason}})
    response = es.search(
        index=indices.provenance,
        query={"bool": {"filter": filters, "must_not": [{"term": {"review.status": "claimed"}}]}},
        sort=[{"decision.severity": {"order": "desc"}}, {"decision.decided_at": {"order": "asc"}}],
        from_=offset,
        size=size,
        source_includes=QUEUE_FIELDS,
        track_total_hits=True,
    )
    return Page(response["hits"]["total"]["value"], [h["_source"] for h in response["hits"]["hits"]])


def audit_for(es: Elasticsearch, indices: Indices, track_id: str) -> list[dict[str, Any]]:
    response = es.search(
        index=indices.audit,
        query={"term": {"track_id": track_id}},
        sort=[{"occurred_at": "asc"}],
        size=1000,
    )
    return [h["_source"] for h in response["hits"]["hits"]]


def claim_case(
    es: Elasticsearch, indices: Indices, track_id: str, decision_event_id: str, reviewer: str, action: str
) -> dict[str, Any]:
    """Mark the case as acted on, if it is still the decision the reviewer saw and nobody acted
    on it yet; the write is conditional on the document's version, so of two reviewers acting
    at once exactly one succeeds. Returns the record as it was before the claim."""
    try:
        doc = es.get(index=indices.provenance, id=track_id)
    except NotFoundError as exc:
        raise CaseNotFound(track_id) from exc
    record = doc["_source"]
    decision = record.get("decision") or {}
    if not decision:
        raise CaseConflict("the track has no decision yet")
    if decision.get("event_id") != decision_event_id:
        raise CaseConflict(f"the case changed: its current decision is {decision.get('event_id')}")
    review = record.get("review") or {}
    if review.get("status") == "claimed" and review.get("decision_event_id") == decision_event_id:
        raise CaseConflict(
            f"{review.get('reviewer')} already chose {review.get('action')} at {review.get('at')}"
        )
    try:
        es.update(
            index=indices.provenance,
            id=track_id,
            doc={
                "review": {
                    "decision_event_id": decision_event_id,
                    "status": "claimed",
                    "action": action,
                    "reviewer": reviewer,
                    "at": utcnow().isoformat(),
                }
            },
            if_seq_no=doc["_seq_no"],
            if_primary_term=doc["_primary_term"],
            refresh="wait_for",
        )
    except ConflictError as exc:
        raise CaseConflict("another reviewer acted on this case at the same moment") from exc
    return dict(record)


# Rights holders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordQuery:
    isrc: str | None = None
    title: str | None = None
    artist: str | None = None
    action: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    text: str | None = None


def _record_query(rights_holder: str | None, q: RecordQuery) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    must: list[dict[str, Any]] = []
    if rights_holder is not None:
        filters.append(holder_filter(rights_holder))
    nested: list[dict[str, Any]] = []
    if q.isrc:
        nested.append({"term": {"matches.isrc": q.isrc}})
    if q.title:
        nested.append({"match": {"matches.title": q.title}})
    if q.artist:
        nested.append({"match": {"matches.artists": q.artist}})
    if rights_holder is not None and nested:
        nested.append({"term": {"matches.rights_holder": rights_holder}})  # the holder's own recording
    if nested:
        filters.append({"nested": {"path": "matches", "query": {"bool": {"filter": nested}}}})
    if q.action:
        filters.append({"term": {"decision.action": q.action}})
    if q.date_from or q.date_to:
        span: dict[str, str] = {}
        if q.date_from:
            span["gte"] = q.date_from.isoformat()
        if q.date_to:
            span["lte"] = q.date_to.isoformat()
        filters.append({"range": {"submission.occurred_at": span}})
    if q.text:
        must.append(
            {
                "multi_match": {
                    "query": q.text,
                    "fields": [
                        "submission.title^3",
                        "submission.artists^2",
                        "submission.description",
                        "submission.prompt",
                    ],
                }
            }
        )
    return {"bool": {"filter": filters, "must": must or [{"match_all": {}}]}}


RECORD_FIELDS = [
    "track_id",
    "status",
    "submission",
    "facts",
    "matches",
    "watermark",
    "decision",
    "label",
    "updated_at",
]


def search_records(
    es: Elasticsearch, indices: Indices, rights_holder: str | None, q: RecordQuery, offset: int, size: int
) -> Page:
    response = es.search(
        index=indices.provenance,
        query=_record_query(rights_holder, q),
        sort=[{"_score": "desc"}, {"updated_at": "desc"}, {"track_id": "asc"}],
        from_=offset,
        size=size,
        source_includes=RECORD_FIELDS,
        track_total_hits=True,
    )
    return Page(response["hits"]["total"]["value"], [h["_source"] for h in response["hits"]["hits"]])


def record_for(
    es: Elasticsearch, indices: Indices, track_id: str, rights_holder: str | None
) -> dict[str, Any] | None:
    """The record by id, or None, also when it exists but is not the holder's."""
    if rights_holder is None:
        try:
            return dict(es.get(index=indices.provenance, id=track_id)["_source"])
        except NotFoundError:
            return None
    response = es.search(
        index=indices.provenance,
        query={"bool": {"filter": [{"ids": {"values": [track_id]}}, holder_filter(rights_holder)]}},
        size=1,
    )
    hits = response["hits"]["hits"]
    return dict(hits[0]["_source"]) if hits else None


def decisions_visible_to(
    es: Elasticsearch, indices: Indices, track_id: str, rights_holder: str | None
) -> list[dict[str, Any]]:
    """A track's decision history; for a rights holder, royalties paid to others are left out."""
    response = es.search(
        index=indices.decisions,
        query={"term": {"track_id": track_id}},
        sort=[{"occurred_at": "asc"}, {"event_id": "asc"}],
        size=1000,
    )
    decisions = [h["_source"] for h in response["hits"]["hits"]]
    if rights_holder is None:
        return decisions
    return [d for d in decisions if not d.get("royalty") or d["royalty"]["rights_holder"] == rights_holder]


Interval = Literal["day", "week", "month", "year"]


def royalty_totals(
    es: Elasticsearch,
    indices: Indices,
    rights_holder: str,
    interval: Interval,
    date_from: datetime | None,
    date_to: datetime | None,
) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [
        {"term": {"action": "royalty"}},
        {"term": {"verdict": False}},
        {"term": {"royalty.rights_holder": rights_holder}},
    ]
    if date_from or date_to:
        span: dict[str, str] = {}
        if date_from:
            span["gte"] = date_from.isoformat()
        if date_to:
            span["lte"] = date_to.isoformat()
        filters.append({"range": {"occurred_at": span}})
    response = es.search(
        index=indices.decisions,
        query={"bool": {"filter": filters}},
        size=0,
        aggs={
            "periods": {
                "date_histogram": {"field": "occurred_at", "calendar_interval": interval, "min_doc_count": 1},
                "aggs": {
                    "basis_points": {"sum": {"field": "royalty.basis_points"}},
                    "tracks": {"cardinality": {"field": "track_id"}},
                },
            }
        },
    )
    return [
        {
            "period_start": b["key_as_string"],
            "royalty_events": b["doc_count"],
            "tracks": int(b["tracks"]["value"]),
            "basis_points": int(b["basis_points"]["value"]),
        }
        for b in response["aggregations"]["periods"]["buckets"]
    ]
