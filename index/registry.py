"""Rights-holder policies and the people registry in Elasticsearch, and the short-lived caches
workers read them through (a change reaches every worker within the cache's expiry, with no
redeploy).

Policies are versioned: setting a policy writes a new document `holder@version` and never
overwrites an old one, so the version a decision names can always be looked up.
People are keyed by their folded name; opting out, aliases and voiceprints are fields of the
person's document. A person registered by a rights holder belongs to that holder (first come,
enforced by the write itself); only they or an administrator change its opt-out and aliases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from model.names import alias_problem, common_words_only, fold

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


def check_aliases(aliases: list[str] | None) -> None:
    """Refuse (ValueError, saying which and why) aliases too short or too common to stand for
    a person: the name checks would flag every track that uses them."""
    problems = [problem for alias in aliases or [] if (problem := alias_problem(alias))]
    if problems:
        raise ValueError("; ".join(problems))


def alias_clashes(
    aliases: list[str], pid: str, people: list[dict[str, Any]], own_artists: set[str], artists: list[str]
) -> list[str]:
    """Aliases that, folded, are another registered person's name or alias, or an artist of
    another rights holder's catalog (`own_artists`: the holder's, folded): the name checks would
    enforce this person's opt-out on someone else's tracks."""
    taken: dict[str, str] = {}
    for person in people:
        if fold(str(person.get("name", ""))) == pid:
            continue
        for name in (person.get("name"), *(person.get("aliases") or [])):
            if name and fold(str(name)):
                taken.setdefault(fold(str(name)), f"registered person {person.get('name')}")
    for artist in artists:
        if fold(artist) and fold(artist) not in own_artists and fold(artist) != pid:
            taken.setdefault(fold(artist), f"{artist}, an artist of another rights holder")
    return [
        f"alias {alias!r} is already the name of {taken[fold(alias)]}"
        for alias in aliases
        if fold(alias) in taken
    ]


class PersonNotYours(Exception):
    """The person's registration belongs to another rights holder, or to the administrators."""


class RegistryBusy(Exception):
    """The person's document kept changing under concurrent writers."""


def ownership_problem(person: dict[str, Any], holder: str) -> str | None:
    """Why `holder` may not change this registered person's opt-out or aliases (None: it may).
    The registration belongs to `registered_by`; one without an owner may be claimed, unless an
    administrator opted the person out."""
    owner = person.get("registered_by")
    if owner == holder:
        return None
    if owner is None and not person.get("opted_out"):
        return None
    who = "an administrator" if owner is None else "another rights holder"
    return (
        f"{person.get('name')} was registered by {who}; only they or an administrator can change "
        "the opt-out or aliases"
    )


REGISTRATION_FIELDS = ("opted_out", "aliases", "registered_by")


def registration(person: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fields an opt-out change touches (what an audit entry shows before and after)."""
    return None if person is None else {f: person.get(f) for f in REGISTRATION_FIELDS}


@dataclass(frozen=True)
class PersonChange:
    person_id: str
    name: str
    before: dict[str, Any] | None  # registration() of the stored person, None if new
    after: dict[str, Any]
    person: dict[str, Any]  # the whole document after the change


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
        """Create or update a person (an administrator's change: ownership is not checked);
        fields left as None keep their stored value."""
        check_aliases(aliases)
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

    def change_opt_out(
        self, name: str, *, opted_out: bool, aliases: list[str] | None, holder: str | None
    ) -> PersonChange:
        """A rights holder's change to a person's opt-out and aliases (`holder` None: an
        administrator's, which keeps the owner). First come, first served, enforced by the write:
        a new person is a create that fails if someone else created it meanwhile, a known one an
        update conditional on the version read, so of two holders racing exactly one owns it."""
        pid = person_id(name)
        check_aliases(aliases)
        if aliases and holder is not None:
            own = {fold(a) for a in self._catalog.artists(holder)}
            if clashes := alias_clashes(aliases, pid, self._all_people(), own, self._catalog.artists()):
                raise ValueError("; ".join(clashes))
        if holder is not None and opted_out and common_words_only(name):
            raise ValueError(f"{name!r} is made of common words; ask an administrator to opt it out")
        for _ in range(5):
            found = self._versioned(pid)
            now = utcnow().isoformat()
            if found is None:
                doc: dict[str, Any] = {
                    "name": name,
                    "opted_out": opted_out,
                    "aliases": aliases or [],
                    "updated_at": now,
                }
                if holder is not None:
                    doc["registered_by"] = holder
                try:
                    self._es.create(index=self._indices.people, id=pid, document=doc, refresh="wait_for")
                except ConflictError:
                    continue
                return PersonChange(pid, name, None, registration(doc) or {}, doc)
            stored, seq_no, primary_term = found
            if holder is not None and (problem := ownership_problem(stored, holder)):
                raise PersonNotYours(problem)
            changes: dict[str, Any] = {"opted_out": opted_out, "updated_at": now}
            if aliases is not None:
                changes["aliases"] = aliases
            if holder is not None:
                changes["registered_by"] = holder  # claims a registration nobody owned
            try:
                self._es.update(
                    index=self._indices.people,
                    id=pid,
                    doc=changes,
                    if_seq_no=seq_no,
                    if_primary_term=primary_term,
                    refresh="wait_for",
                )
            except ConflictError:
                continue
            after = {**stored, **changes}
            return PersonChange(
                pid, str(stored.get("name", name)), registration(stored), registration(after) or {}, after
            )
        raise RegistryBusy(f"{name} is being changed by someone else at the same moment; retry")

    def _versioned(self, pid: str) -> tuple[dict[str, Any], int, int] | None:
        try:
            doc = self._es.get(index=self._indices.people, id=pid)
        except NotFoundError:
            return None
        return dict(doc["_source"]), int(doc["_seq_no"]), int(doc["_primary_term"])

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
            person_id(p["name"]): Person(p["name"], _usable_aliases(p), bool(p.get("opted_out")))
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


def _usable_aliases(person: dict[str, Any]) -> tuple[str, ...]:
    """Aliases the checks may use: one stored before aliases were checked, and too short or too
    common, would flag unrelated tracks."""
    return tuple(a for a in person.get("aliases") or () if alias_problem(a) is None)


def _people_with_indexes(people: list[Person]) -> tuple[list[Person], NameIndex, NameIndex]:
    """Name indexes are built once per reload, not once per track."""
    return people, NameIndex(people), NameIndex([p for p in people if p.opted_out], among=people)


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
