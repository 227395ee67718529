"""The composition root of `clearance worker`: settings → clients, caches, detectors, the Faust
app and its agents. Nothing here runs at import."""

from __future__ import annotations

import faust

from index.client import connect_async
from index.registry import EsPeopleLookup, Expiring
from index.stores import Stores
from index.writer import EventWriter
from model.settings import Settings
from streams.admin import ensure_topics
from streams.agents import register_agents
from streams.app import AppTopics, create_app
from streams.detection import worker_detectors
from streams.metrics import WorkerMetrics
from streams.parts import WorkerParts
from streams.pool import analyzer_for
from streams.topics import Topics


def build_worker(settings: Settings) -> WorkerParts:
    """Assemble a worker's parts and register its agents (connects lazily, on first use)."""
    stores = Stores.open(settings)
    people = EsPeopleLookup(stores.registry, settings.registry_cache_seconds)
    # with analysis processes, each builds its own detectors: the models live there, not here
    in_threads = settings.analysis_processes == 0
    detectors = worker_detectors(settings, stores, people) if in_threads else None
    app = create_app(settings)
    parts = WorkerParts(
        settings=settings,
        app=app,
        topics=AppTopics.of(app, Topics(settings.topic_prefix)),
        stores=stores,
        policies=Expiring(stores.registry.current_policies, settings.registry_cache_seconds),
        people=people,
        analyzer=analyzer_for(settings, detectors),
        metrics=WorkerMetrics.create(),
        event_writer=lambda: EventWriter(connect_async(settings), stores.indices),
    )
    register_agents(parts)
    return parts


def prepare_services(settings: Settings) -> None:
    """Create the topics and indices the worker needs (safe to repeat); raises when Kafka or
    Elasticsearch cannot be reached."""
    ensure_topics(settings)
    stores = Stores.open(settings)
    try:
        stores.ensure_indices(settings.es_replicas)
    finally:
        stores.close()


def run_worker(settings: Settings) -> None:
    """Run the agents until interrupted (Faust's own worker: signals, rebalances, commits)."""
    parts = build_worker(settings)
    parts.metrics.serve(settings.metrics_host, settings.metrics_port)
    try:
        faust.Worker(parts.app, loglevel=settings.log_level.lower()).execute_from_commandline()
    finally:
        parts.analyzer.close()
