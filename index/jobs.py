"""Background jobs' state (registrations today): queued, running, done or failed with the reason,
kept in Elasticsearch so any API process can answer for them and they outlive a restart."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from elasticsearch import Elasticsearch, NotFoundError

from index.names import Indices
from model.events import utcnow

JobState = Literal["queued", "running", "done", "failed"]


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
