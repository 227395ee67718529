"""Reads provenance records and decisions back."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from index.names import Indices


def provenance(es: Elasticsearch, indices: Indices, track_id: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = es.get(index=indices.provenance, id=track_id)["_source"]
    except NotFoundError:
        return None
    return doc


def provenance_many(es: Elasticsearch, indices: Indices, track_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not track_ids:
        return {}
    docs = es.mget(index=indices.provenance, ids=track_ids)["docs"]
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


def decisions_for(
    es: Elasticsearch, indices: Indices, track_id: str, size: int = 100
) -> list[dict[str, Any]]:
    response = es.search(
        index=indices.decisions,
        query={"term": {"track_id": track_id}},
        sort=[{"occurred_at": "asc"}, {"event_id": "asc"}],
        size=size,
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]
