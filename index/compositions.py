"""Compositions in Elasticsearch: each composition's rights metadata (id = work id), and its
registered performances' cover prints (id = work id|performance) with one dense vector per
section, searched by nearest neighbours (HNSW kNN on a nested `dense_vector`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from elasticsearch.helpers import scan

from detectors import covers
from detectors.covers import CoverPrint, Floats, Performance, performance_key
from index.names import Indices
from model.events import utcnow
from model.findings import CompositionMetadata


class CompositionConflict(Exception):
    """The work id belongs to another publisher."""


class UnknownComposition(Exception):
    """A performance names a composition that is not registered."""


def print_document(work_id: str, performance: str, cover_print: CoverPrint) -> dict[str, Any]:
    tunes = covers.tune_vectors(cover_print)
    # with a lead line every section has its tune vector, so the print is current even with no
    # section at all (too short, or silent); without one it is searched by chroma alone
    tuned = len(cover_print.chroma) > 0 and len(cover_print.lead) == len(cover_print.chroma)
    return {
        "work_id": work_id,
        "performance": performance,
        "prints_version": covers.PRINT_VERSION,
        "beat_count": len(cover_print.chroma),
        "print": covers.pack(cover_print),
        "lead": covers.pack_lead(cover_print),
        "lead_version": covers.LEAD_VERSION,
        **({"tune_version": covers.TUNE_VERSION} if tuned else {}),
        "sections": [
            {
                "start_s": round(start, 2),
                "vector": _rounded(vector),
                **({"tune": _rounded(tunes[i][1])} if tuned else {}),
            }
            for i, (start, vector) in enumerate(covers.section_vectors(cover_print))
        ],
        "registered_at": utcnow().isoformat(),
    }


def _rounded(vector: Floats) -> list[float]:
    return [round(float(x), 5) for x in vector]


def current_tunes() -> dict[str, Any]:
    """Documents whose tune vectors are of this version, made from a lead line of this version."""
    return {
        "bool": {
            "filter": [
                {"term": {"tune_version": covers.TUNE_VERSION}},
                {"term": {"lead_version": covers.LEAD_VERSION}},
            ]
        }
    }


def older_tunes() -> dict[str, Any]:
    """Documents without tune vectors of this version (registered before them, or with a lead
    line of another version): searched by their chroma vectors alone."""
    return {"bool": {"must_not": [current_tunes()]}}


def _renewable_sections() -> dict[str, Any]:
    """Documents with a lead line of this version but no tune vectors of this version: their
    sections can be made again from the stored print and lead line."""
    return {
        "bool": {
            "filter": [{"term": {"lead_version": covers.LEAD_VERSION}}],
            "must_not": [{"term": {"tune_version": covers.TUNE_VERSION}}],
        }
    }


def renew_section_vectors(
    es: Elasticsearch, indices: Indices, advance: Callable[[int], None] = lambda n: None
) -> int:
    """Give performances registered before tune vectors (or with tune vectors of an older
    version) the current section and tune vectors, made from their stored print and lead line
    (no audio needed); returns how many were renewed. Each document is written on its own,
    conditionally on the revision read, so an interrupted run loses nothing and the next goes on
    where it stopped; one registered again meanwhile is left as it was written."""
    renewed = 0
    index = indices.composition_prints
    hits = scan(
        es,
        index=index,
        query={"query": _renewable_sections()},
        _source=["work_id", "performance", "print", "lead"],
        seq_no_primary_term=True,
    )
    for hit in hits:
        source = hit["_source"]
        made = covers.unpack(source.get("print"), source.get("lead"))
        renewed_document = print_document(str(source.get("work_id")), str(source.get("performance")), made)
        if "tune_version" not in renewed_document:  # a print or lead line that does not unpack
            advance(1)
            continue
        try:
            es.update(
                index=index,
                id=hit["_id"],
                doc={k: renewed_document[k] for k in ("sections", "tune_version")},
                if_seq_no=hit["_seq_no"],
                if_primary_term=hit["_primary_term"],
            )
            renewed += 1
        except (ConflictError, NotFoundError):
            pass  # registered again or removed meanwhile
        advance(1)
    es.indices.refresh(index=index)
    return renewed


def with_older_section_vectors(es: Elasticsearch, indices: Indices) -> tuple[int, int]:
    """How many performances `renew_section_vectors` would renew, and how many more lack tune
    vectors but cannot be renewed without their audio (a lead line of an older version, or none)."""
    index = indices.composition_prints
    renewable = int(es.count(index=index, query=_renewable_sections())["count"])
    return renewable, int(es.count(index=index, query=older_tunes())["count"]) - renewable


class CompositionStore:
    """Registered compositions: written by registration, read by the cover matcher."""

    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._indices = es, indices

    def register(self, meta: CompositionMetadata) -> None:
        """Add a composition for its publisher, or update one of theirs; CompositionConflict if
        the work id is another publisher's."""
        document = {**meta.model_dump(mode="json"), "registered_at": utcnow().isoformat()}
        try:
            self._es.create(
                index=self._indices.compositions, id=meta.work_id, document=document, refresh="wait_for"
            )
            return
        except ConflictError:
            pass
        current = self._es.get(index=self._indices.compositions, id=meta.work_id)
        if current["_source"].get("rights_holder") != meta.rights_holder:
            raise CompositionConflict(f"{meta.work_id} is registered by another publisher")
        self._es.index(
            index=self._indices.compositions,
            id=meta.work_id,
            document=document,
            if_seq_no=current["_seq_no"],
            if_primary_term=current["_primary_term"],
            refresh="wait_for",
        )

    def get(self, work_id: str) -> CompositionMetadata | None:
        try:
            source = self._es.get(index=self._indices.compositions, id=work_id)["_source"]
        except NotFoundError:
            return None
        return _metadata(source)

    def add_performance(
        self, work_id: str, performance: str, cover_print: CoverPrint, refresh: bool = True
    ) -> None:
        """Register (or replace) one performance's print; UnknownComposition if the composition
        is not registered (a print without rights metadata would match and name nobody)."""
        if self.get(work_id) is None:
            raise UnknownComposition(f"composition {work_id} is not registered")
        self._es.index(
            index=self._indices.composition_prints,
            id=performance_key(work_id, performance),
            document=print_document(work_id, performance, cover_print),
            refresh="wait_for" if refresh else False,
        )

    def lookup(self, **options: Any) -> EsCompositionLookup:
        return EsCompositionLookup(self._es, self._indices, **options)


def _metadata(source: dict[str, Any]) -> CompositionMetadata:
    fields = CompositionMetadata.model_fields
    return CompositionMetadata.model_validate({k: source[k] for k in fields if k in source})


HIT_REVISIONS_PER_CACHED_PRINT = 8


class EsCompositionLookup:
    """`CompositionLookup` backed by the two indices: one kNN search per query section in one
    msearch; the shortlisted performances' prints and their compositions' metadata read by
    id and kept in a small cache keyed by document revision."""

    def __init__(
        self,
        es: Elasticsearch,
        indices: Indices,
        per_section: int = 10,
        num_candidates: int = 100,
        cache_size: int = 1024,
    ) -> None:
        self._es, self._indices = es, indices
        self._per_section, self._num_candidates = per_section, num_candidates
        self._cache: OrderedDict[tuple[str, int, int], CoverPrint] = OrderedDict()
        self._cache_size = cache_size
        # each print as the latest search saw it; bounded like the cache (a catalog of millions)
        self._hit_revision: OrderedDict[str, _PrintRevision] = OrderedDict()

    def candidates(self, query: covers.SectionQuery) -> list[str]:
        """Performances with tune vectors of this version found by the query's tune vectors,
        the others (registered before them) by its chroma vectors. The chroma searches are sent
        only when such older performances exist (a probe beside the tune searches, in the same
        msearch): once every print is renewed they would search an empty filter, at more cost to
        Elasticsearch than the tune searches themselves."""
        current, older = (
            current_tunes(),
            older_tunes(),
        )  # tune vectors of another lead line are not comparable
        tuned = [self._knn_search("sections.tune", vector, current) for vector in query.tunes]
        probe = [{"size": 0, "terminate_after": 1, "track_total_hits": True, "query": older}]
        answers = self._msearch(tuned + (probe if query.chroma else []))
        tune_hits = [self._ranked_hits(response) for response in answers[: len(tuned)]]
        chroma_hits: list[list[tuple[str, float]]] = []
        if query.chroma and answers[-1]["hits"]["total"]["value"] > 0:
            chroma_searches = [self._knn_search("sections.vector", vector, older) for vector in query.chroma]
            chroma_hits = [self._ranked_hits(response) for response in self._msearch(chroma_searches)]
        return covers.interleaved(covers.ranked_candidates(tune_hits), covers.ranked_candidates(chroma_hits))

    def _knn_search(self, field: str, vector: covers.Floats, only: dict[str, Any]) -> dict[str, Any]:
        return {
            "size": self._per_section,
            # ids from doc values: no hit's stored block (its prints) is decompressed
            "stored_fields": "_none_",
            "docvalue_fields": ["work_id", "performance"],
            "seq_no_primary_term": True,  # a print cached at this revision is not read again
            "knn": {
                "field": field,
                "query_vector": [float(x) for x in vector],
                "k": self._per_section,
                "num_candidates": self._num_candidates,
                "filter": only,
            },
        }

    def _msearch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not bodies:
            return []
        searches: list[dict[str, Any]] = []
        for body in bodies:
            searches += [{"index": self._indices.composition_prints}, body]
        return _answered(self._es.msearch(searches=searches)["responses"], len(bodies))

    def _ranked_hits(self, response: dict[str, Any]) -> list[tuple[str, float]]:
        ranked = []
        for hit in response.get("hits", {}).get("hits", []):
            revision = _print_revision_of_hit(hit)
            self._hit_revision[revision.key] = revision
            self._hit_revision.move_to_end(revision.key)
            if len(self._hit_revision) > HIT_REVISIONS_PER_CACHED_PRINT * self._cache_size:
                self._hit_revision.popitem(last=False)
            ranked.append((revision.key, float(hit["_score"])))
        return ranked

    def performances(self, keys: list[str]) -> list[Performance]:
        """The performances of `keys`, in that order. A print already decoded at the revision
        the latest search hit on it had is taken from the cache; only the others are read (a
        print is tens of kilobytes that Elasticsearch would parse and send for every upload that
        finds it). Ask for keys that `candidates` has just found: a print re-registered since
        the latest search that hit it is served as that search saw it."""
        prints: dict[str, tuple[str, str, CoverPrint]] = {}
        missing = []
        for key in keys:
            seen = self._hit_revision.get(key)
            cached = self._from_cache(seen.cache_key) if seen is not None else None
            if seen is not None and cached is not None:
                prints[key] = (seen.work_id, seen.performance, cached)
            else:
                missing.append(key)
        if missing:
            docs = self._es.mget(
                index=self._indices.composition_prints, ids=missing, source_excludes=["sections"]
            )["docs"]
            for doc in docs:
                if doc.get("found"):
                    source = doc["_source"]
                    prints[doc["_id"]] = (source["work_id"], source["performance"], self._print(doc))
        work_ids = sorted({work_id for work_id, _, _ in prints.values()})
        metadata = (
            {
                d["_id"]: _metadata(d["_source"])
                for d in self._es.mget(index=self._indices.compositions, ids=work_ids)["docs"]
                if d.get("found")
            }
            if work_ids
            else {}
        )
        performances = []
        for key in keys:
            if key not in prints:
                continue
            work_id, performance, cover_print = prints[key]
            meta = metadata.get(work_id)
            if meta is None:  # the composition was removed: its prints name nobody
                continue
            performances.append(Performance(meta, performance, cover_print))
        return performances

    def _from_cache(self, revision: tuple[str, int, int]) -> CoverPrint | None:
        cached = self._cache.get(revision)
        if cached is not None:
            self._cache.move_to_end(revision)
        return cached

    def _print(self, doc: dict[str, Any]) -> CoverPrint:
        revision = (doc["_id"], int(doc["_seq_no"]), int(doc["_primary_term"]))
        if (cached := self._from_cache(revision)) is not None:
            return cached
        source = doc["_source"]
        # a lead line of another version is not comparable with the upload's: chroma alone then
        lead = source.get("lead") if source.get("lead_version") == covers.LEAD_VERSION else None
        made = covers.unpack(source.get("print"), lead)
        self._cache[revision] = made
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return made


def _answered(responses: list[dict[str, Any]], asked: int) -> list[dict[str, Any]]:
    """The msearch responses, each a search that ran: a failed one (a missing index, a broken
    mapping) is an error, not an upload that resembles no composition."""
    if len(responses) != asked:
        raise RuntimeError(f"Elasticsearch answered {len(responses)} of {asked} composition searches")
    for response in responses:
        if "error" in response:
            raise RuntimeError(f"a composition search failed: {response['error']}")
    return responses


class _PrintRevision(NamedTuple):
    """One version of one performance's print, as a search hit names it."""

    key: str
    work_id: str
    performance: str
    seq_no: int
    primary_term: int

    @property
    def cache_key(self) -> tuple[str, int, int]:
        return (self.key, self.seq_no, self.primary_term)


def _print_revision_of_hit(hit: dict[str, Any]) -> _PrintRevision:
    """A search hit's print: its id made from its work id and performance doc values."""
    fields = hit.get("fields", {})
    work_ids, performances = fields.get("work_id") or [], fields.get("performance") or []
    if len(work_ids) != 1 or len(performances) != 1:
        where = hit.get("_index")
        raise RuntimeError(f"a composition print hit in {where} has no single work id and performance")
    work_id, performance = str(work_ids[0]), str(performances[0])
    key = performance_key(work_id, performance)
    return _PrintRevision(key, work_id, performance, int(hit["_seq_no"]), int(hit["_primary_term"]))
