"""Rights-holder policies and the people registry in Elasticsearch, and the short-lived caches
workers read them through (a change reaches every worker within the cache's expiry, with no
redeploy).

Policies are versioned: setting a policy writes a new document `holder@version` and never
overwrites an old one, so the version a decision names can always be looked up.
People are keyed by their folded name; opting out, aliases and voiceprints are fields of the
person's document.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np
from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from decisions.policy import (
    DEFAULT_HOLDER,
    DEFAULT_RIGHTS_HOLDER_POLICY,
    MatchRule,
    Policies,
    RightsHolderPolicy,
)
from detectors.names import NameIndex, Person
from detectors.voice import Voiceprint
from index.catalog import CatalogStore
from index.names import Indices
from model.events import utcnow
from model.names import fold

T = TypeVar("T")


class Expiring(Generic[T]):
    """A value loaded on first use and again once it is older than `ttl_s` (thread-safe)."""

    def __init__(self, load: Callable[[], T], ttl_s: float) -> None:
        self._load, self._ttl_s = load, ttl_s
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() - self._loaded_at > self._ttl_s:
                self._value = self._load()
                self._loaded_at = time.monotonic()
            return self._value


def _policy(source: dict[str, Any]) -> RightsHolderPolicy:
    return RightsHolderPolicy(
        rights_holder=source["rights_holder"],
        version=int(source["version"]),
        rules=[MatchRule.model_validate(r) for r in source["rules"]],
    )


def person_id(name: str) -> str:
    folded = fold(name)
    if not folded:
        raise ValueError(f"{name!r} is not a usable name")
    return folded


class RegistryStore:
    """Rights holders' policies (versioned) and the people registry (opt-outs, aliases,
    voiceprints); catalog artists count as people too."""

    def __init__(self, es: Elasticsearch, indices: Indices, catalog: CatalogStore) -> None:
        self._es, self._indices, self._catalog = es, indices, catalog

    # Policies

    def latest_policy(self, rights_holder: str) -> RightsHolderPolicy | None:
        response = self._es.search(
            index=self._indices.policies,
            query={"term": {"rights_holder": rights_holder}},
            sort=[{"version": "desc"}],
            size=1,
        )
        hits = response["hits"]["hits"]
        return _policy(hits[0]["_source"]) if hits else None

    def set_policy(self, rights_holder: str, rules: list[MatchRule]) -> RightsHolderPolicy:
        """Store `rules` as the holder's next policy version (concurrent writers: one wins, the
        other retries with the next number)."""
        for _ in range(5):
            current = self.latest_policy(rights_holder)
            policy = RightsHolderPolicy(
                rights_holder=rights_holder, version=(current.version + 1) if current else 1, rules=rules
            )
            try:
                self._es.create(
                    index=self._indices.policies,
                    id=policy.label,
                    document={
                        "rights_holder": rights_holder,
                        "version": policy.version,
                        "rules": [r.model_dump(mode="json") for r in rules],
                        "created_at": utcnow().isoformat(),
                    },
                    refresh="wait_for",
                )
                return policy
            except ConflictError:
                continue
        raise RuntimeError(
            f"could not store a new policy version for {rights_holder}: too many concurrent writers"
        )

    def current_policies(self) -> Policies:
        """Every holder's newest policy version (one search, collapsed by holder)."""
        response = self._es.search(
            index=self._indices.policies,
            query={"match_all": {}},
            collapse={"field": "rights_holder"},
            sort=[{"version": "desc"}],
            size=10_000,
        )
        latest = {p.rights_holder: p for p in (_policy(h["_source"]) for h in response["hits"]["hits"])}
        default = latest.pop(DEFAULT_HOLDER, DEFAULT_RIGHTS_HOLDER_POLICY)
        return Policies(default=default, rights_holders=latest)

    # People

    def register_person(
        self,
        name: str,
        *,
        aliases: list[str] | None = None,
        opted_out: bool | None = None,
        registered_by: str | None = None,
    ) -> dict[str, Any]:
        """Create or update a person; fields left as None keep their stored value."""
        doc: dict[str, Any] = {"name": name, "updated_at": utcnow().isoformat()}
        if aliases is not None:
            doc["aliases"] = aliases
        if opted_out is not None:
            doc["opted_out"] = opted_out
        if registered_by is not None:
            doc["registered_by"] = registered_by
        self._es.update(
            index=self._indices.people,
            id=person_id(name),
            doc=doc,
            upsert={"opted_out": False, "aliases": [], **doc},
            refresh="wait_for",
        )
        return self.get_person(name) or doc

    def set_voiceprint(self, name: str, voiceprint: Voiceprint, clips: int) -> None:
        doc = {
            "name": name,
            "voiceprint": [float(v) for v in voiceprint.embedding],
            "voiceprint_clips": clips,
            "updated_at": utcnow().isoformat(),
        }
        self._es.update(
            index=self._indices.people,
            id=person_id(name),
            doc=doc,
            upsert={"opted_out": False, "aliases": [], **doc},
            refresh="wait_for",
        )

    def get_person(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._es.get(index=self._indices.people, id=person_id(name))["_source"])
        except NotFoundError:
            return None

    def _all_people(self) -> list[dict[str, Any]]:
        response = self._es.search(index=self._indices.people, query={"match_all": {}}, size=10_000)
        return [h["_source"] for h in response["hits"]["hits"]]

    def load_people(self) -> list[Person]:
        """Registered people plus every catalog artist (opted out when a registration says so)."""
        registered = {
            person_id(p["name"]): Person(p["name"], tuple(p.get("aliases") or ()), bool(p.get("opted_out")))
            for p in self._all_people()
        }
        for artist in self._catalog.artists():
            registered.setdefault(person_id(artist), Person(artist))
        return list(registered.values())

    def load_voiceprints(self) -> list[Voiceprint]:
        """Voiceprints of people who opted out (only theirs are enforced)."""
        return [
            Voiceprint(p["name"], np.asarray(p["voiceprint"], dtype=np.float32))
            for p in self._all_people()
            if p.get("opted_out") and p.get("voiceprint")
        ]


def _people_with_indexes(people: list[Person]) -> tuple[list[Person], NameIndex, NameIndex]:
    """Name indexes are built once per reload, not once per track."""
    return people, NameIndex(people), NameIndex([p for p in people if p.opted_out])


class EsPeopleLookup:
    """The detectors' view of the registry, cached for `ttl_s` seconds."""

    def __init__(self, registry: RegistryStore, ttl_s: float) -> None:
        self._people = Expiring(lambda: _people_with_indexes(registry.load_people()), ttl_s)
        self._voiceprints = Expiring(registry.load_voiceprints, ttl_s)

    def people(self) -> list[Person]:
        return self._people.get()[0]

    def names(self) -> NameIndex:
        return self._people.get()[1]

    def opted_out_names(self) -> NameIndex:
        return self._people.get()[2]

    def voiceprints(self) -> list[Voiceprint]:
        return self._voiceprints.get()


def opted_out_artists(people: list[Person]) -> frozenset[str]:
    return frozenset(fold(name) for p in people if p.opted_out for name in (p.name, *p.aliases))
