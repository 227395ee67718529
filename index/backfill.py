"""Which provenance records a change affects (retroactive claims and replays), found in
Elasticsearch without decoding any audio, and what to send through the pipeline for each.

- A recording registered (or registered again): records sharing its Chromaprint retrieval terms
  (the uploads' terms are indexed in `fingerprint_terms`) over any 15 s window of the master,
  and records already matching its ISRC. They are analysed again: the match is the matcher's.
- A composition: records matching one of its recordings or already naming it; analysed again.
- A person's opt-out: records that name them (credits, title, description, prompt, lyrics),
  match their recordings or compositions, or whose name and voice checks found them; analysed
  again (the name and voice checks read the registry).
- A policy: records matching the holder's recordings or compositions (the default policy: any
  match); decided again from the stored analysis, which the policy does not change.
- A replay: records submitted or analysed since a date, optionally only those whose finding of a
  detector is of another version than the current one, or an error; analysed again.

The query builders and record conversions are pure; `BackfillStore` pages through the hits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from pydantic import ValidationError

from detectors.catalog import decode_items
from detectors.matcher import query_windows, terms
from index.names import Indices
from index.writer import fingerprint_terms
from model.events import (
    BackfillTrigger,
    Reprocess,
    TrackAnalyzed,
    TrackSubmitted,
    analysis_id,
    utcnow,
)
from model.findings import Finding

DEFAULT_POLICY_HOLDER = "_default"
_ANY_MATCH: dict[str, Any] = {
    "bool": {
        "should": [
            {"nested": {"path": path, "query": {"match_all": {}}}} for path in ("matches", "compositions")
        ],
        "minimum_should_match": 1,
    }
}
_TEXT_FIELDS = [
    "submission.title",
    "submission.artists",
    "submission.description",
    "submission.prompt",
    "submission.lyrics",
]


def _nested(path: str, query: dict[str, Any]) -> dict[str, Any]:
    return {"nested": {"path": path, "query": query}}


def _any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def shared_terms_query(window_terms: list[str], min_shared: int) -> dict[str, Any]:
    """Records whose upload shares at least `min_shared` retrieval terms with one window of a
    master (a clean excerpt of a few seconds shares most of a window's; unrelated audio shares
    a few by chance)."""
    return {
        "bool": {
            "should": [{"term": {"fingerprint_terms": t}} for t in window_terms],
            "minimum_should_match": min(min_shared, len(window_terms)),
        }
    }


def recording_queries(isrc: str, fingerprint: str | None, min_shared: int) -> list[dict[str, Any]]:
    """One query per window of the master, and one for the records already matching it."""
    queries = [_nested("matches", {"term": {"matches.isrc": isrc}})]
    if fingerprint:
        for window in query_windows(decode_items(fingerprint)):
            window_terms = terms(window)
            # a near-silent window has a few terms, which unrelated uploads share by chance
            if len(window_terms) >= min_shared:
                queries.append(shared_terms_query(window_terms, min_shared))
    return queries


def composition_query(work_id: str) -> dict[str, Any]:
    return _any_of(
        [
            _nested("matches", {"term": {"matches.work_id": work_id}}),
            _nested("compositions", {"term": {"compositions.work_id": work_id}}),
        ]
    )


def holder_query(rights_holder: str) -> dict[str, Any]:
    """Records a policy change of the holder may decide otherwise; of the default policy, every
    record with a match (holders without a policy of their own follow it)."""
    if rights_holder == DEFAULT_POLICY_HOLDER:
        return _ANY_MATCH
    return _any_of(
        [
            _nested(path, {"term": {f"{path}.rights_holder": rights_holder}})
            for path in ("matches", "compositions")
        ]
    )


def person_query(names: list[str]) -> dict[str, Any]:
    """Records naming a person (any of their names) anywhere an opt-out check looks."""
    clauses: list[dict[str, Any]] = []
    for name in names:
        clauses.append({"multi_match": {"query": name, "type": "phrase", "fields": _TEXT_FIELDS}})
        clauses.append(_nested("matches", {"match_phrase": {"matches.artists": name}}))
        for field in ("writers", "artists"):
            clauses.append(_nested("compositions", {"match_phrase": {f"compositions.{field}": name}}))
        clauses.append({"term": {"name_opt_out.requests.artist": name}})
        clauses.append({"term": {"voice_opt_out.matches.artist": name}})
    return _any_of(clauses)


def replay_query(since: datetime) -> dict[str, Any]:
    """Records submitted or analysed since the date (a detector's version is checked on each:
    `needs_replay`, as its entry is one of a list that a query cannot pair up)."""
    return _any_of(
        [
            {"range": {"submission.occurred_at": {"gte": since.isoformat()}}},
            {"range": {"analyzed_at": {"gte": since.isoformat()}}},
        ]
    )


def needs_replay(detectors: list[dict[str, Any]], name: str, current_version: str) -> bool:
    """A record's detector entries call for a replay of `name`: it did not run, ran in another
    version than the current one, or failed."""
    entry = next((d for d in detectors if d.get("detector") == name), None)
    return entry is None or entry.get("version") != current_version or entry.get("status") == "error"


def not_in_round(query: dict[str, Any], round_id: str) -> dict[str, Any]:
    """The query without the records this round already sent through (resuming a round)."""
    return {"bool": {"filter": [query], "must_not": [{"term": {"submission.reprocess.round_id": round_id}}]}}


def resubmission(record: dict[str, Any], reprocess: Reprocess) -> TrackSubmitted | None:
    """The record's submission marked as this round; None for a record holding no whole
    submission (decided before its analysis was indexed, or written by an older schema)."""
    stored = dict(record.get("submission") or {})
    stored.pop("reprocess", None)
    try:
        return TrackSubmitted.model_validate(stored).again(reprocess)
    except ValidationError:
        return None


def reanalysis(record: dict[str, Any], reprocess: Reprocess) -> TrackAnalyzed | None:
    """The record's stored analysis, as this round's analysis (decided again, not re-run)."""
    submission = resubmission(record, reprocess)
    if submission is None or not record.get("findings"):
        return None
    try:
        findings = [Finding.model_validate(f) for f in record["findings"]]
    except ValidationError:
        return None
    return TrackAnalyzed(
        event_id=analysis_id(submission),
        track_id=submission.track_id,
        occurred_at=utcnow(),
        submission=submission,
        findings=findings,
    )


@dataclass(frozen=True)
class Change:
    """What changed: the trigger, its subject, and an opt-out's names."""

    trigger: BackfillTrigger
    subject: str
    names: tuple[str, ...] = ()
    since: datetime | None = None  # replays
    detector: str | None = None  # replays

    @property
    def redecide_only(self) -> bool:
        """A policy changes no finding: the stored analysis is decided again."""
        return self.trigger == "policy"


_SUBMISSION_FIELDS = ["track_id", "submission", "detectors"]


class BackfillStore:
    """Pages through the provenance records a change affects."""

    def __init__(self, es: Elasticsearch, indices: Indices, page_size: int = 500) -> None:
        self._es, self._indices, self._page = es, indices, page_size

    def queries(self, change: Change, min_shared_terms: int) -> list[dict[str, Any]]:
        if change.trigger == "recording":
            return recording_queries(
                change.subject, self._master_fingerprint(change.subject), min_shared_terms
            )
        if change.trigger == "composition":
            return [composition_query(change.subject)]
        if change.trigger == "policy":
            return [holder_query(change.subject)]
        if change.trigger == "opt_out":
            return [person_query(list(change.names) or [change.subject])]
        return [replay_query(change.since or datetime.min)]

    def affected(
        self, change: Change, round_id: str, min_shared_terms: int, with_findings: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Each affected record once (track id, submission, detectors; and findings when asked),
        leaving out those this round already sent through."""
        fields = [*_SUBMISSION_FIELDS, "findings"] if with_findings else _SUBMISSION_FIELDS
        seen: set[str] = set()
        for query in self.queries(change, min_shared_terms):
            for record in self._pages(not_in_round(query, round_id), fields):
                if record["track_id"] not in seen:
                    seen.add(record["track_id"])
                    yield record

    def count(self, change: Change, round_id: str, min_shared_terms: int) -> int:
        """How many records the change's queries find (at most: a record may match several)."""
        return sum(
            int(self._es.count(index=self._indices.provenance, query=not_in_round(q, round_id))["count"])
            for q in self.queries(change, min_shared_terms)
        )

    def _pages(self, query: dict[str, Any], fields: list[str]) -> Iterator[dict[str, Any]]:
        after: list[Any] | None = None
        while True:
            response = self._es.search(
                index=self._indices.provenance,
                query=query,
                sort=[{"track_id": "asc"}],
                size=self._page,
                source_includes=fields,
                search_after=after,
            )
            hits = response["hits"]["hits"]
            for hit in hits:
                yield dict(hit["_source"])
            if len(hits) < self._page:
                return
            after = hits[-1]["sort"]

    def _master_fingerprint(self, isrc: str) -> str | None:
        try:
            doc = self._es.get(index=self._indices.catalog, id=isrc, source_includes=["fingerprint"])
        except NotFoundError:
            return None
        fingerprint = doc["_source"].get("fingerprint")
        return str(fingerprint) if fingerprint else None

    def index_missing_terms(self) -> int:
        """Give records indexed before `fingerprint_terms` existed their terms, from the stored
        fingerprint (no audio decoded); returns how many were updated. Safe to repeat."""
        query = {
            "bool": {
                "filter": [{"exists": {"field": "fingerprint.item_count"}}],
                "must_not": [{"exists": {"field": "fingerprint_terms"}}],
            }
        }
        updated = 0
        for record in self._pages(query, ["track_id", "fingerprint.fingerprint"]):
            found = fingerprint_terms(str((record.get("fingerprint") or {}).get("fingerprint") or ""))
            if found:
                self._es.update(
                    index=self._indices.provenance, id=record["track_id"], doc={"fingerprint_terms": found}
                )
                updated += 1
        self._es.indices.refresh(index=self._indices.provenance)
        return updated
