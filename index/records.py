"""Provenance records (one per track): the one reader of a record, the review queue and its
claims, and rights holders' searches. Every rights-holder read goes through `holder_filter`, so
one holder never sees another's records: not by search, not by id, not through counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from index.names import Indices
from model.events import utcnow

MAX_WINDOW = 10_000  # from + size stays within Elasticsearch's result window


class CaseConflict(Exception):
    """Another reviewer acted first, or the case changed since it was read."""


class CaseNotFound(Exception):
    pass


@dataclass(frozen=True)
class Claim:
    """A reviewer's claim on a case: the record as it was before, and the version the claim
    wrote (what releasing it is conditional on)."""

    record: dict[str, Any]
    seq_no: int
    primary_term: int


@dataclass(frozen=True)
class Page:
    total: int
    items: list[dict[str, Any]]


def holder_filter(rights_holder: str) -> dict[str, Any]:
    """Records that involve the holder's catalog: a match on one of its recordings, or a
    performance of one of its compositions."""
    return {
        "bool": {
            "should": [
                {"nested": {"path": path, "query": {"term": {f"{path}.rights_holder": rights_holder}}}}
                for path in ("matches", "compositions")
            ],
            "minimum_should_match": 1,
        }
    }


QUEUE_FIELDS = ["track_id", "submission", "decision", "review", "label", "facts.duration_s", "updated_at"]
_OPEN_CASE: dict[str, Any] = {
    "bool": {
        "filter": [{"term": {"decision.action": "needs_review"}}],
        "must_not": [{"term": {"review.status": "claimed"}}],
    }
}


@dataclass(frozen=True)
class RecordQuery:
    isrc: str | None = None
    title: str | None = None
    artist: str | None = None
    action: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    text: str | None = None
    modification: str | None = None  # a Modification, or "modified" for any but "none"


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
    if q.modification == "modified":
        nested.append({"bool": {"must_not": [{"term": {"matches.modification": "none"}}]}})
        nested.append({"exists": {"field": "matches.modification"}})
    elif q.modification == "none":  # matches indexed before modifications were told have no field
        unmodified = [
            {"term": {"matches.modification": "none"}},
            {"bool": {"must_not": [{"exists": {"field": "matches.modification"}}]}},
        ]
        nested.append({"bool": {"should": unmodified, "minimum_should_match": 1}})
    elif q.modification:
        nested.append({"term": {"matches.modification": q.modification}})
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
    "compositions",
    "watermark",
    "decision",
    "label",
    "updated_at",
]


_DECIDED_CHUNK = 1000  # tracks asked per search


class RecordStore:
    """The provenance index: one document per track (written by `index.writer`)."""

    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._index = es, indices.provenance

    def get(self, track_id: str, rights_holder: str | None = None) -> dict[str, Any] | None:
        """The record by id, or None, also when it exists but is not the holder's."""
        if rights_holder is None:
            try:
                return dict(self._es.get(index=self._index, id=track_id)["_source"])
            except NotFoundError:
                return None
        response = self._es.search(
            index=self._index,
            query={"bool": {"filter": [{"ids": {"values": [track_id]}}, holder_filter(rights_holder)]}},
            size=1,
        )
        hits = response["hits"]["hits"]
        return dict(hits[0]["_source"]) if hits else None

    def many(self, track_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not track_ids:
            return {}
        docs = self._es.mget(index=self._index, ids=track_ids)["docs"]
        return {d["_id"]: d["_source"] for d in docs if d.get("found")}

    def decided(self, submissions: Mapping[str, str]) -> set[str]:
        """The tracks of `submissions` (track id: submission event id) whose searchable record
        holds the decision on that submission. One search that reads doc values only: a poller
        reading whole records would cost Elasticsearch more than the writes it waits for. Not
        scoped to a rights holder: for the platform's own tools, never a holder's route."""
        found: set[str] = set()
        ids = list(submissions)
        for start in range(0, len(ids), _DECIDED_CHUNK):
            chunk = ids[start : start + _DECIDED_CHUNK]
            events = sorted({submissions[t] for t in chunk})
            hits = self._es.search(
                index=self._index,
                size=len(chunk),
                source=False,
                docvalue_fields=[{"field": "decision.submission_event_id"}],
                track_total_hits=False,
                query={
                    "bool": {
                        "filter": [
                            {"ids": {"values": chunk}},
                            {"terms": {"decision.submission_event_id": events}},
                        ]
                    }
                },
            )["hits"]["hits"]
            found.update(
                hit["_id"]
                for hit in hits
                if hit.get("fields", {}).get("decision.submission_event_id") == [submissions[hit["_id"]]]
            )
        return found

    def search(self, rights_holder: str | None, q: RecordQuery, offset: int, size: int) -> Page:
        response = self._es.search(
            index=self._index,
            query=_record_query(rights_holder, q),
            sort=[{"_score": "desc"}, {"updated_at": "desc"}, {"track_id": "asc"}],
            from_=offset,
            size=size,
            source_includes=RECORD_FIELDS,
            track_total_hits=True,
        )
        return Page(response["hits"]["total"]["value"], [h["_source"] for h in response["hits"]["hits"]])

    def review_queue(self, reason: str | None, offset: int, size: int) -> Page:
        """Open needs_review cases: escalated ones first, then most severe, then oldest."""
        query: dict[str, Any] = {"bool": {**_OPEN_CASE["bool"]}}
        if reason:
            query["bool"]["filter"] = [*query["bool"]["filter"], {"term": {"decision.reasons.code": reason}}]
        response = self._es.search(
            index=self._index,
            query=query,
            sort=[
                {"decision.escalated": {"order": "desc", "missing": "_last", "unmapped_type": "boolean"}},
                {"decision.severity": {"order": "desc"}},
                {"decision.decided_at": {"order": "asc"}},
            ],
            from_=offset,
            size=size,
            source_includes=QUEUE_FIELDS,
            track_total_hits=True,
        )
        return Page(response["hits"]["total"]["value"], [h["_source"] for h in response["hits"]["hits"]])

    def open_case_count(self) -> int:
        return int(self._es.count(index=self._index, query=_OPEN_CASE)["count"])

    def claim(
        self, track_id: str, decision_event_id: str, reviewer: str, reviewer_key_id: str, action: str
    ) -> Claim:
        """Mark the case as acted on, if it is still the decision the reviewer saw and nobody
        acted on it yet; the write is conditional on the document's version, so of two reviewers
        acting at once exactly one succeeds. Returns the record as it was before the claim, and
        the version the claim wrote."""
        try:
            doc = self._es.get(index=self._index, id=track_id)
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
            written = self._es.update(
                index=self._index,
                id=track_id,
                doc={
                    "review": {
                        "decision_event_id": decision_event_id,
                        "status": "claimed",
                        "action": action,
                        "reviewer": reviewer,
                        "reviewer_key_id": reviewer_key_id,
                        "at": utcnow().isoformat(),
                    }
                },
                if_seq_no=doc["_seq_no"],
                if_primary_term=doc["_primary_term"],
                refresh="wait_for",
            )
        except ConflictError as exc:
            raise CaseConflict("another reviewer acted on this case at the same moment") from exc
        return Claim(dict(record), int(written["_seq_no"]), int(written["_primary_term"]))

    def release(self, track_id: str, claim: Claim) -> bool:
        """Undo a claim whose review was never published, so the case is back in the queue. The
        write is conditional on the version the claim wrote: if anything changed the record
        since, that change stands and nothing is released (False)."""
        try:
            self._es.update(
                index=self._index,
                id=track_id,
                doc={"review": claim.record.get("review")},
                if_seq_no=claim.seq_no,
                if_primary_term=claim.primary_term,
                refresh="wait_for",
            )
        except (ConflictError, NotFoundError):
            return False
        return True
