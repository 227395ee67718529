"""The audit index, append-only: every review action (written by `index.writer`) and every
change to a person's opt-out made through the API (written here)."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from index.names import Indices
from index.registry import PersonChange
from model.events import new_event_id, utcnow


def opt_out_action(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    was, now = bool((before or {}).get("opted_out")), bool(after.get("opted_out"))
    if was and not now:
        return "opt_out_lifted"
    if now and not was:
        return "opt_out_set"
    return "opt_out_updated"


def opt_out_entry(
    change: PersonChange, actor: str, actor_key_id: str, rights_holder: str | None
) -> dict[str, Any]:
    """Who (the key's name and id, and for whom), when, which person, before and after."""
    return {
        "event_id": new_event_id(),
        "event_type": "opt_out_change",
        "occurred_at": utcnow().isoformat(),
        "action": opt_out_action(change.before, change.after),
        "person": change.person_id,
        "person_name": change.name,
        "actor": actor,
        "actor_key_id": actor_key_id,
        "rights_holder": rights_holder,
        "before": change.before,
        "after": change.after,
    }


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

    def record_opt_out_change(
        self, change: PersonChange, actor: str, actor_key_id: str, rights_holder: str | None
    ) -> dict[str, Any]:
        entry = opt_out_entry(change, actor, actor_key_id, rights_holder)
        self._es.create(index=self._index, id=entry["event_id"], document=entry, refresh="wait_for")
        return entry
