"""The decisions index: every decision ever published, append-only (written by `index.writer`).
The one reader of a track's decision history, royalty totals and the royalties already paid."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from elasticsearch import Elasticsearch

from index.names import Indices

Interval = Literal["day", "week", "month", "year"]
HISTORY_SIZE = 1000  # decisions per track returned; a track has a handful per submission


class DecisionStore:
    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._index = es, indices.decisions

    def history(self, track_id: str) -> list[dict[str, Any]]:
        """A track's decisions, oldest first (what a rights holder may see of them: api/visibility)."""
        response = self._es.search(
            index=self._index,
            query={"term": {"track_id": track_id}},
            sort=[{"occurred_at": "asc"}, {"event_id": "asc"}],
            size=HISTORY_SIZE,
        )
        return [h["_source"] for h in response["hits"]["hits"]]

    def paid_royalty_ids(self, ids: list[str]) -> frozenset[str]:
        """Royalty decision ids already recorded (decisions are created under their ids)."""
        if not ids:
            return frozenset()
        response = self._es.mget(index=self._index, ids=ids, source=False)
        return frozenset(d["_id"] for d in response["docs"] if d.get("found"))

    def royalty_totals(
        self, rights_holder: str, interval: Interval, date_from: datetime | None, date_to: datetime | None
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
        response = self._es.search(
            index=self._index,
            query={"bool": {"filter": filters}},
            size=0,
            aggs={
                "periods": {
                    "date_histogram": {
                        "field": "occurred_at",
                        "calendar_interval": interval,
                        "min_doc_count": 1,
                    },
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
