"""The catalog of generated tracks: one document per platform generation (id = generation id)
with its record and its fingerprints, searched like the catalog of masters."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from detectors.catalog import ReferencePrints
from index.catalog import EsCatalogLookup, reference_document
from index.names import Indices
from model.generation import GenerationRecord

_BULKY = ["terms", "landmark_terms", "triplet_terms", "landmarks", "peaks", "fingerprint"]


class GeneratedStore:
    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._indices, self._index = es, indices, indices.generated

    def register(self, record: GenerationRecord, prints: ReferencePrints, refresh: bool = True) -> None:
        """Add a generation, or replace one of the same id (a generator re-registering its own)."""
        self._es.index(
            index=self._index,
            id=record.generation_id,
            document=reference_document(record, prints),
            refresh="wait_for" if refresh else False,
        )

    def get(self, generation_id: str) -> GenerationRecord | None:
        try:
            doc = self._es.get(index=self._index, id=generation_id, source_excludes=_BULKY)
        except NotFoundError:
            return None
        return _record(doc["_source"])

    def count(self) -> int:
        return int(self._es.count(index=self._index)["count"])

    def lookup(self, **options: Any) -> EsGeneratedLookup:
        return EsGeneratedLookup(self, self._es, self._indices, **options)


class EsGeneratedLookup(EsCatalogLookup):
    """The generation finder's view: the catalog lookup over generated tracks, and records by id."""

    def __init__(self, store: GeneratedStore, es: Elasticsearch, indices: Indices, **options: Any) -> None:
        super().__init__(es, indices, home=indices.generated, reference=GenerationRecord, **options)
        self._store, self._indices = store, indices
        self._options = {k: v for k, v in options.items() if k != "only"}

    def generation(self, generation_id: str) -> GenerationRecord | None:
        return self._store.get(generation_id)

    def with_payload(self, payload: int) -> EsGeneratedLookup:
        """The same lookup, searching only the generations marked with `payload`."""
        return EsGeneratedLookup(
            self._store,
            self.es,
            self._indices,
            only={"term": {"watermark_payload": payload}},
            **self._options,
        )


def _record(source: dict[str, Any]) -> GenerationRecord:
    return GenerationRecord.model_validate(
        {k: source[k] for k in GenerationRecord.model_fields if k in source}
    )
