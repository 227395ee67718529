"""Background jobs' state (registrations and backfills): queued, running, done or failed with the
reason, kept in Elasticsearch so any process can answer for them and they outlive a restart."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from index.names import Indices
from model.events import utcnow

JobState = Literal["queued", "running", "published", "done", "failed"]


class JobStore:
    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._index = es, indices.jobs

    def create(self, kind: str, rights_holder: str, subject: str) -> dict[str, Any]:
        """A queued job of `kind` about `subject` (e.g. an ISRC), owned by the rights holder."""
        now, job_id = utcnow().isoformat(), uuid.uuid4().hex
        job: dict[str, Any] = {
            "job_id": job_id,
            "kind": kind,
            "rights_holder": rights_holder,
            "subject": subject,
            "state": "queued",
            "reason": None,
            "result": None,
            "created_at": now,
            "updated_at": now,
        }
        self._es.create(index=self._index, id=job_id, document=job, refresh="wait_for")
        return job

    def update(
        self, job_id: str, state: JobState, reason: str | None = None, result: dict[str, Any] | None = None
    ) -> None:
        doc = {"state": state, "reason": reason, "result": result, "updated_at": utcnow().isoformat()}
        self._es.update(index=self._index, id=job_id, doc=doc, refresh="wait_for")

    def get(self, job_id: str, rights_holder: str | None = None) -> dict[str, Any] | None:
        """The job, or None, also when it belongs to another rights holder."""
        try:
            job: dict[str, Any] = self._es.get(index=self._index, id=job_id)["_source"]
        except NotFoundError:
            return None
        if rights_holder is not None and job.get("rights_holder") != rights_holder:
            return None
        return job


BACKFILL = "backfill"
BACKFILL_ITEM = "backfill_item"
LIST_SIZE = 100


def backfill_state(job_state: str, republished: int, decided: int) -> str:
    """A backfill is done once every track it sent through again has been decided; until then it
    is queued, running (finding and sending tracks) or published (waiting for their decisions)."""
    if job_state == "published" and decided >= republished:
        return "done"
    return job_state


class BackfillJobs:
    """Backfill jobs in the jobs index: the job (what triggered it, how many tracks were found and
    sent through again) and one entry per decided track (id = job|track, so a redelivery counts once)."""

    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._index = es, indices.jobs

    def ensure(
        self, job_id: str, trigger: str, subject: str, rights_holder: str
    ) -> tuple[dict[str, Any], bool]:
        """The job, created queued unless it exists (a replay resumes its own); and whether it was new."""
        now = utcnow().isoformat()
        job: dict[str, Any] = {
            "job_id": job_id,
            "kind": BACKFILL,
            "trigger": trigger,
            "rights_holder": rights_holder,
            "subject": subject,
            "state": "queued",
            "reason": None,
            "result": {"found": 0, "republished": 0},
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._es.create(index=self._index, id=job_id, document=job, refresh="wait_for")
        except ConflictError:
            return dict(self._es.get(index=self._index, id=job_id)["_source"]), False
        return job, True

    def queued(self, trigger: str, subject: str) -> str | None:
        """A backfill job for this trigger and subject not started yet, if any (a new change
        joins it rather than starting another: the agent reads the change as it is then)."""
        response = self._es.search(
            index=self._index,
            query={
                "bool": {
                    "filter": [
                        {"term": {"kind": BACKFILL}},
                        {"term": {"trigger": trigger}},
                        {"term": {"subject": subject}},
                        {"term": {"state": "queued"}},
                    ]
                }
            },
            size=1,
        )
        hits = response["hits"]["hits"]
        return str(hits[0]["_source"]["job_id"]) if hits else None

    def progress(self, job_id: str, state: JobState, found: int, republished: int) -> None:
        doc = {
            "state": state,
            "result": {"found": found, "republished": republished},
            "updated_at": utcnow().isoformat(),
        }
        self._es.update(index=self._index, id=job_id, doc=doc, refresh="wait_for", retry_on_conflict=5)

    def fail(self, job_id: str, reason: str) -> None:
        doc = {"state": "failed", "reason": reason, "updated_at": utcnow().isoformat()}
        self._es.update(index=self._index, id=job_id, doc=doc, refresh="wait_for", retry_on_conflict=5)

    def mark_decided(self, job_id: str, track_id: str, changed: bool) -> None:
        """A track of the job was decided again; `changed`: its verdict changed. Written once: a
        redelivery (deciding it again finds its verdict already changed) only upgrades to changed."""
        item_id = f"{job_id}|{track_id}"
        document = {
            "kind": BACKFILL_ITEM,
            "parent_job": job_id,
            "subject": track_id,
            "state": "changed" if changed else "unchanged",
            "updated_at": utcnow().isoformat(),
        }
        try:
            self._es.create(index=self._index, id=item_id, document=document)
        except ConflictError:
            if changed:
                self._es.update(index=self._index, id=item_id, doc=document, retry_on_conflict=5)

    def listing(self, size: int = LIST_SIZE) -> list[dict[str, Any]]:
        """The latest backfill jobs, newest first, each with its decided and changed counts and
        its state (`backfill_state`)."""
        self._es.indices.refresh(index=self._index)
        response = self._es.search(
            index=self._index,
            query={"term": {"kind": BACKFILL}},
            sort=[{"created_at": "desc"}],
            size=size,
        )
        jobs = [dict(h["_source"]) for h in response["hits"]["hits"]]
        counts = self._decided_counts([j["job_id"] for j in jobs])
        return [_with_counts(job, *counts.get(job["job_id"], (0, 0))) for job in jobs]

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            job = dict(self._es.get(index=self._index, id=job_id)["_source"])
        except NotFoundError:
            return None
        if job.get("kind") != BACKFILL:
            return None
        self._es.indices.refresh(index=self._index)
        return _with_counts(job, *self._decided_counts([job_id]).get(job_id, (0, 0)))

    def _decided_counts(self, job_ids: list[str]) -> dict[str, tuple[int, int]]:
        if not job_ids:
            return {}
        response = self._es.search(
            index=self._index,
            query={
                "bool": {"filter": [{"term": {"kind": BACKFILL_ITEM}}, {"terms": {"parent_job": job_ids}}]}
            },
            size=0,
            aggs={
                "jobs": {
                    "terms": {"field": "parent_job", "size": len(job_ids)},
                    "aggs": {"changed": {"filter": {"term": {"state": "changed"}}}},
                }
            },
        )
        return {
            b["key"]: (int(b["doc_count"]), int(b["changed"]["doc_count"]))
            for b in response["aggregations"]["jobs"]["buckets"]
        }


def _with_counts(job: dict[str, Any], decided: int, changed: int) -> dict[str, Any]:
    result = job.get("result") or {}
    republished = int(result.get("republished", 0))
    return {
        **job,
        "found": int(result.get("found", 0)),
        "republished": republished,
        "decided": decided,
        "changed": changed,
        "state": backfill_state(str(job.get("state")), republished, decided),
    }
