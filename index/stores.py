"""Every index behind one object: the client, the index names and a store per index. Routes,
agents and commands call the stores; nothing outside `index/` builds a client or a query."""

from __future__ import annotations

from dataclasses import dataclass

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from index.audit import AuditStore
from index.backfill import BackfillStore
from index.catalog import CatalogStore
from index.client import connect
from index.compositions import CompositionStore
from index.generated import GeneratedStore
from index.history import DecisionStore
from index.jobs import BackfillJobs, JobStore
from index.keys import KeyStore
from index.names import Indices
from index.records import RecordStore
from index.registry import RegistryStore
from index.templates import ensure_indices
from model.settings import Settings


@dataclass(frozen=True)
class Stores:
    es: Elasticsearch
    indices: Indices
    records: RecordStore
    decisions: DecisionStore
    catalog: CatalogStore
    compositions: CompositionStore
    generated: GeneratedStore
    registry: RegistryStore
    keys: KeyStore
    audit: AuditStore
    jobs: JobStore
    backfills: BackfillStore
    backfill_jobs: BackfillJobs

    @classmethod
    def open(cls, settings: Settings) -> Stores:
        return cls.over(connect(settings), Indices(settings.index_prefix))

    @classmethod
    def over(cls, es: Elasticsearch, indices: Indices) -> Stores:
        catalog = CatalogStore(es, indices)
        return cls(
            es=es,
            indices=indices,
            records=RecordStore(es, indices),
            decisions=DecisionStore(es, indices),
            catalog=catalog,
            compositions=CompositionStore(es, indices),
            generated=GeneratedStore(es, indices),
            registry=RegistryStore(es, indices, catalog),
            keys=KeyStore(es, indices),
            audit=AuditStore(es, indices),
            jobs=JobStore(es, indices),
            backfills=BackfillStore(es, indices),
            backfill_jobs=BackfillJobs(es, indices),
        )

    def ensure_indices(self, replicas: int) -> None:
        """Install the templates and create or update the indices (safe to repeat)."""
        ensure_indices(self.es, self.indices, replicas)

    def delete_indices(self) -> None:
        """Delete every index and template of this prefix (benchmarks' and tests' own runs)."""
        for name in self.indices.all():
            self.es.options(ignore_status=404).indices.delete(index=name)
            self.es.options(ignore_status=404).indices.delete_index_template(name=name)

    def healthy(self) -> bool:
        """The cluster answers and is green or yellow."""
        try:
            return self.es.cluster.health(timeout="2s")["status"] in ("green", "yellow")
        except (TransportError, ApiError):
            return False

    def close(self) -> None:
        self.es.close()
