"""What the agents work with, in one object built by the composition root (`streams.worker`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faust

from decisions.policy import Policies
from index.registry import EsPeopleLookup, Expiring
from index.stores import Stores
from index.writer import EventWriter
from model.settings import Settings
from streams.app import AppTopics
from streams.metrics import WorkerMetrics
from streams.pool import Analyzer


@dataclass(frozen=True)
class WorkerParts:
    settings: Settings
    app: faust.App
    topics: AppTopics
    stores: Stores  # synchronous: detectors and registry lookups run in worker threads
    policies: Expiring[Policies]
    people: EsPeopleLookup
    analyzer: Analyzer  # runs the detectors: in processes of its own, or in threads
    metrics: WorkerMetrics
    event_writer: Callable[[], EventWriter]  # asynchronous, opened by the index agent on its loop
