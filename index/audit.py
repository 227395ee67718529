"""The audit index: every review action, append-only (written by `index.writer`)."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from index.names import Indices


class AuditStore:
    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._index = es, indices.audit

    def for_track(self, track_id: str) -> list[dict[str, Any]]:
        response = self._es.search(
            index=self._index,
            query={"term": {"track_id": track_id}},
            sort=[{"occurred_at": "asc"}],
            size=1000,
        )
        return [h["_source"] for h in response["hits"]["hits"]]
