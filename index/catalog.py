"""The catalog in Elasticsearch: registered recordings (id = ISRC) with their full fingerprints
(Chromaprint, landmarks and the peaks that triplets are made of) and the retrieval terms of each,
inverted indices that scale past one machine's memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from elasticsearch.helpers import bulk, scan

from detectors import landmarks, modified
from detectors.catalog import Recording, ReferencePrints, decode_items
from detectors.matcher import Items, terms
from index.names import Indices
from model.events import utcnow
from model.findings import RecordingMetadata
from model.generation import GenerationRecord


def catalog_document(
    meta: RecordingMetadata | GenerationRecord,
    fingerprint: str,
    duration_s: float,
    items: Items,
    marks: landmarks.Landmarks,
    peaks: modified.Peaks,
) -> dict[str, Any]:
    """A reference's document: its metadata beside its fingerprints and their retrieval terms."""
    return {
        **meta.model_dump(mode="json"),
        "duration_s": duration_s,
        "item_count": len(items),
        "fingerprint": fingerprint,
        "terms": terms(items),
        "landmark_count": len(marks),
        "landmarks": landmarks.pack(marks),
        "landmark_terms": landmarks.retrieval_terms(marks),
        **peak_fields(peaks),
        "registered_at": utcnow().isoformat(),
    }


def peak_fields(peaks: modified.Peaks) -> dict[str, Any]:
    """The third fingerprint's part of a catalog document (also what re-registration adds)."""
    return {
        "peaks_version": modified.VERSION,
        "peak_count": len(peaks),
        "peaks": modified.pack(peaks),
        "triplet_terms": modified.retrieval_terms(peaks),
    }


def reference_document(meta: RecordingMetadata | GenerationRecord, prints: ReferencePrints) -> dict[str, Any]:
    fingerprint = prints.chromaprint.fingerprint
    items = decode_items(fingerprint)
    return catalog_document(
        meta, fingerprint, prints.chromaprint.duration_s, items, prints.landmarks, prints.peaks
    )


def _with_older_terms() -> dict[str, Any]:
    """Documents whose peaks align as they are but whose retrieval terms are of an older version."""
    return {"terms": {"peaks_version": sorted(modified.PEAK_FORMATS - {modified.VERSION})}}


def renew_modified_terms(
    es: Elasticsearch, index: str, advance: Callable[[int], None] = lambda n: None
) -> int:
    """Give documents whose peaks are of an older format the current retrieval terms, made from
    their stored peaks (no audio needed); returns how many were renewed. Each document is written
    on its own, conditionally on the revision read, so an interrupted run loses nothing and the
    next goes on where it stopped; one re-registered meanwhile is left as it was written."""
    renewed = 0
    hits = scan(
        es,
        index=index,
        query={"query": _with_older_terms()},
        _source=["peaks"],
        seq_no_primary_term=True,
    )
    for hit in hits:
        peaks = modified.unpack(hit["_source"].get("peaks", ""))
        try:
            es.update(
                index=index,
                id=hit["_id"],
                doc={"peaks_version": modified.VERSION, "triplet_terms": modified.retrieval_terms(peaks)},
                if_seq_no=hit["_seq_no"],
                if_primary_term=hit["_primary_term"],
            )
            renewed += 1
        except (ConflictError, NotFoundError):
            pass  # written or removed meanwhile
        advance(1)
    es.indices.refresh(index=index)
    return renewed


def with_older_modified_terms(es: Elasticsearch, index: str) -> int:
    """How many documents `renew_modified_terms` would renew."""
    return int(es.count(index=index, query=_with_older_terms())["count"])


class OwnershipConflict(Exception):
    """The ISRC belongs to another rights holder (or kept changing while it was written)."""


_ATTEMPTS = 3
_RETRIEVAL_TERMS = ["terms", "landmark_terms", "triplet_terms"]  # only the inverted indices need them
_BULKY = [*_RETRIEVAL_TERMS, "landmarks", "peaks"]


class CatalogStore:
    """Registered recordings: written by registration, read by the matcher and rights holders."""

    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._indices, self._index = es, indices, indices.catalog

    def register_documents(self, documents: Iterable[dict[str, Any]], refresh: bool = True) -> int:
        actions = (
            {"_op_type": "index", "_index": self._index, "_id": doc["isrc"], "_source": doc}
            for doc in documents
        )
        written, _ = bulk(
            self._es,
            actions,
            refresh="wait_for" if refresh else False,
            chunk_size=200,
            max_chunk_bytes=20 * 1024 * 1024,
        )
        return written

    def register(self, entries: Iterable[tuple[RecordingMetadata, ReferencePrints]]) -> int:
        """Add or replace recordings (re-adding an ISRC updates it); returns how many were written."""
        return self.register_documents(reference_document(meta, prints) for meta, prints in entries)

    def register_owned(self, meta: RecordingMetadata, prints: ReferencePrints) -> None:
        """Add a recording for its rights holder, or replace one of theirs. Ownership is enforced
        by the write itself: a create that fails if the ISRC exists, else a replace conditional on
        the revision that was read and found to be the same holder's. Of two holders racing for
        one ISRC exactly one wins; the other gets OwnershipConflict."""
        document = reference_document(meta, prints)
        for _ in range(_ATTEMPTS):
            try:
                self._es.create(index=self._index, id=meta.isrc, document=document, refresh="wait_for")
                return
            except ConflictError:
                pass
            revision = self._owned_revision(meta.isrc, meta.rights_holder)
            if revision is None:
                continue  # removed meanwhile: create again
            try:
                self._es.index(
                    index=self._index,
                    id=meta.isrc,
                    document=document,
                    if_seq_no=revision[0],
                    if_primary_term=revision[1],
                    refresh="wait_for",
                )
                return
            except ConflictError:
                continue  # written meanwhile: look at it again
        raise OwnershipConflict(f"{meta.isrc} changed while it was being registered; retry")

    def remove_owned(self, isrc: str, rights_holder: str) -> bool:
        """Remove the holder's recording (conditional on the revision read); False if there is
        no such recording of theirs."""
        try:
            revision = self._owned_revision(isrc, rights_holder)
        except OwnershipConflict:
            return False
        if revision is None:
            return False
        try:
            self._es.delete(
                index=self._index,
                id=isrc,
                if_seq_no=revision[0],
                if_primary_term=revision[1],
                refresh="wait_for",
            )
        except (ConflictError, NotFoundError):
            return False
        return True

    def _owned_revision(self, isrc: str, rights_holder: str) -> tuple[int, int] | None:
        """(seq_no, primary_term) of the holder's document; None if absent; OwnershipConflict if
        another holder's."""
        try:
            doc = self._es.get(index=self._index, id=isrc, source_includes=["rights_holder"])
        except NotFoundError:
            return None
        if doc["_source"].get("rights_holder") != rights_holder:
            raise OwnershipConflict(f"{isrc} is registered by another rights holder")
        return int(doc["_seq_no"]), int(doc["_primary_term"])

    def remove(self, isrc: str) -> bool:
        try:
            self._es.delete(index=self._index, id=isrc, refresh="wait_for")
        except NotFoundError:
            return False
        return True

    def get(self, isrc: str) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = self._es.get(index=self._index, id=isrc, source_excludes=_BULKY)["_source"]
        except NotFoundError:
            return None
        return doc

    def stored_fingerprint(self, isrc: str) -> tuple[str, str | None] | None:
        """(Chromaprint fingerprint, peaks version) of a recording; None if it is not registered."""
        try:
            doc = self._es.get(index=self._index, id=isrc, source_includes=["fingerprint", "peaks_version"])
        except NotFoundError:
            return None
        return str(doc["_source"]["fingerprint"]), doc["_source"].get("peaks_version")

    def add_peaks(self, isrc: str, peaks: modified.Peaks) -> bool:
        """Give a registered recording the current third fingerprint, leaving the rest of the
        document (rights metadata, owner, other prints) as it is; False if it is gone."""
        try:
            self._es.update(index=self._index, id=isrc, doc=peak_fields(peaks), refresh=False)
        except NotFoundError:
            return False
        return True

    def without_current_peaks(self) -> int:
        """How many recordings lack the current version of the third fingerprint."""
        query = {"bool": {"must_not": [{"term": {"peaks_version": modified.VERSION}}]}}
        return int(self._es.count(index=self._index, query=query)["count"])

    def artists(self, rights_holder: str | None = None, limit: int = 10_000) -> list[str]:
        """Every artist credited on a registered recording (of one rights holder, if given)."""
        response = self._es.search(
            index=self._index,
            size=0,
            query={"term": {"rights_holder": rights_holder}} if rights_holder else {"match_all": {}},
            aggs={"artists": {"terms": {"field": "artists.raw", "size": limit}}},
        )
        return [b["key"] for b in response["aggregations"]["artists"]["buckets"]]

    def lookup(self, **options: Any) -> EsCatalogLookup:
        """The matcher's view of the catalog (see `EsCatalogLookup` for the options)."""
        return EsCatalogLookup(self._es, self._indices, **options)


class EsCatalogLookup:
    """`CatalogLookup` backed by the catalog index, with an in-worker cache of decoded
    recordings keyed by their document revision (a re-registered recording is never served
    stale, and a cached one is not transferred again)."""

    def __init__(
        self,
        es: Elasticsearch,
        indices: Indices,
        per_window: int = 8,
        landmark_per_window: int = 32,
        triplet_per_window: int = 16,
        cache_size: int = 2048,
        extra_catalogs: tuple[str, ...] = (),
        home: str | None = None,
        reference: type[RecordingMetadata] | type[GenerationRecord] = RecordingMetadata,
        only: dict[str, Any] | None = None,
    ) -> None:
        self.es = es
        self.catalogs = ",".join((home or indices.catalog, *extra_catalogs))
        self._reference = reference
        self._only = only  # a filter every candidate search applies
        # each document's id is also one of its keyword fields, read from doc values
        self._id_field = "generation_id" if issubclass(reference, GenerationRecord) else "isrc"
        self.per_window = {
            "terms": per_window,
            "landmark_terms": landmark_per_window,
            "triplet_terms": triplet_per_window,
        }
        self._revision_of: dict[str, _Revision] = {}
        self._recordings: OrderedDict[_Revision, Recording] = OrderedDict()
        self._cache_size = cache_size

    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        """Chromaprint half-items count 1 each: the score is the number of shared terms."""
        return self._search("terms", window_terms)

    def landmark_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        """Landmark hashes are weighted by rarity (BM25's idf): a mix holds two songs' landmarks
        and their cross pairs, and common pitch intervals would otherwise crowd the true master
        out. More candidates per window than Chromaprint's: under a mix the true master often
        ranks below the first few. Per window, as the matcher first checks a candidate where it
        was ranked."""
        return self._search_by_window("landmark_terms", window_terms)

    def modified_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        """Triplet hashes weighted by rarity, like landmarks; per window, as the matcher first
        aligns a candidate only where it was ranked."""
        return self._search_by_window("triplet_terms", window_terms)

    def _search(self, field: str, window_terms: list[list[str]]) -> list[str]:
        """One msearch, one search per window; the hits of all windows, best per window first."""
        chosen: dict[str, None] = {}
        for hits in self._search_by_window(field, window_terms):
            chosen.update(dict.fromkeys(hits))
        return list(chosen)

    def _search_by_window(self, field: str, window_terms: list[list[str]]) -> list[list[str]]:
        """One msearch, one search per window; each window's hits, best first."""
        searches: list[dict[str, Any]] = []
        for window in window_terms:
            if _searchable(window):
                searches.append({"index": self.catalogs})
                searches.append(self._search_body(field, window))
        responses = self.es.msearch(searches=searches)["responses"] if searches else []
        if len(responses) != len(searches) // 2:
            raise RuntimeError(f"Elasticsearch answered {len(responses)} of {len(searches) // 2} searches")
        answers = iter(responses)
        per_window: list[list[str]] = []
        for window in window_terms:
            response = next(answers) if _searchable(window) else {}
            if "error" in response:
                raise RuntimeError(f"a catalog search failed: {response['error']}")
            ranked = []
            for hit in response.get("hits", {}).get("hits", []):
                revision = _revision_of_hit(hit, self._id_field)
                self._revision_of[revision.doc_id] = revision
                ranked.append(revision.doc_id)
            per_window.append(ranked)
        return per_window

    def _search_body(self, field: str, window: list[str]) -> dict[str, Any]:
        query: dict[str, Any] = {"must": [_shared_terms(field, window)]}
        if self._only is not None:
            query["filter"] = [self._only]
        return {
            "size": self.per_window[field],
            "track_total_hits": False,  # lets Lucene skip documents that cannot make the top hits
            # no stored field is read, not even _id: a hit's stored fields are compressed in one
            # block with its _source (every print of the recording, hundreds of kB), which the
            # fetch would otherwise decompress for every hit of every window
            "stored_fields": "_none_",
            "docvalue_fields": [self._id_field],
            "seq_no_primary_term": True,
            "query": {"bool": query},
        }

    def recordings(self, isrcs: list[str]) -> list[Recording]:
        found: dict[str, Recording] = {}
        missing = []
        for isrc in isrcs:
            revision = self._revision_of.get(isrc)
            if revision is None or revision not in self._recordings:
                missing.append(isrc)
                continue
            self._recordings.move_to_end(revision)
            found[isrc] = self._recordings[revision]
        if missing:
            home = self.catalogs.split(",")[0]
            wanted = [
                {"_index": self._revision_of[i].index_name if i in self._revision_of else home, "_id": i}
                for i in missing
            ]
            for doc in self.es.mget(docs=wanted, source_excludes=_RETRIEVAL_TERMS)["docs"]:
                if doc.get("found"):
                    found[doc["_id"]] = self._remember(_revision(doc), doc["_source"])
        return [found[i] for i in isrcs if i in found]

    def _remember(self, revision: _Revision, source: dict[str, Any]) -> Recording:
        fields = self._reference.model_fields
        metadata = self._reference.model_validate({k: source[k] for k in fields if k in source})
        readable_peaks = source.get("peaks_version") in modified.PEAK_FORMATS
        recording = Recording.with_peaks(
            metadata,
            decode_items(source["fingerprint"]),
            landmarks.unpack(source.get("landmarks", "")),
            modified.unpack(source["peaks"]) if readable_peaks else None,
        )
        self._revision_of[revision.doc_id] = revision
        self._recordings[revision] = recording
        if len(self._recordings) > self._cache_size:
            self._recordings.popitem(last=False)
        return recording


class _Revision(NamedTuple):
    """One version of one catalog document: changes whenever the document is written."""

    index_name: str
    doc_id: str
    seq_no: int
    primary_term: int


def _searchable(window: list[str]) -> bool:
    """A window with fewer terms than a candidate must share is not searched (a one-term
    `match` query would be a plain term query, which ignores `minimum_should_match`)."""
    return len(window) >= 2


def _shared_terms(field: str, window: list[str]) -> dict[str, Any]:
    """A query for documents holding at least two of `window`'s terms. Chromaprint terms count
    one each; landmark and triplet terms are weighted by rarity (BM25): sent as one
    whitespace-separated text, which Elasticsearch splits into the same term clauses and scores
    alike, instead of a thousand clause objects to build, encode and parse per window."""
    if field == "terms":
        return {
            "bool": {
                "should": [{"constant_score": {"filter": {"term": {field: t}}}} for t in window],
                "minimum_should_match": 2,
            }
        }
    text = " ".join(window)
    return {"match": {field: {"query": text, "analyzer": "whitespace", "minimum_should_match": 2}}}


def _revision_of_hit(hit: dict[str, Any], id_field: str) -> _Revision:
    """A search hit's revision, its id read from the `id_field` doc values; a hit without
    exactly one is an error (a mapping or an index the lookup does not fit), not a quiet miss."""
    ids = hit.get("fields", {}).get(id_field) or []
    if len(ids) != 1 or not isinstance(ids[0], str):
        raise RuntimeError(f"a catalog search hit in {hit.get('_index')} has no single {id_field}")
    return _Revision(hit["_index"], ids[0], int(hit["_seq_no"]), int(hit["_primary_term"]))


def _revision(hit: dict[str, Any]) -> _Revision:
    return _Revision(hit["_index"], hit["_id"], int(hit["_seq_no"]), int(hit["_primary_term"]))
