"""The Faust application and its topic handles, built on demand by the worker's composition
root. Values travel as raw bytes and are parsed by the agents themselves, so a message that
does not parse can be dead-lettered whole."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from model.events import Action
from model.settings import Settings
from streams.commits import ClearanceApp, SafeCommitTransport
from streams.topics import Topics


def create_app(settings: Settings) -> faust.App:
    # Faust keeps a data folder per app id (empty here: tables live in memory); under the
    # git-ignored state folder rather than in whatever directory the worker started from
    datadir = settings.store_dir.parent / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = ClearanceApp(
        settings.app_id,
        broker=faust_broker_url(settings.kafka_bootstrap),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # every in-sync replica has the event before it counts as sent. Faust 0.15.3 has no
        # setting for an idempotent producer outside exactly_once transactions; duplicates from
        # retries are absorbed by the deterministic ids downstream.
        producer_acks=-1,
        processing_guarantee="at_least_once",
        # backpressure: past this many unhandled events a stream stops fetching until it drains
        stream_buffer_maxsize=settings.stream_buffer_size,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        datadir=str(datadir),
    )
    app.transport = SafeCommitTransport(app.conf.broker_consumer, app)
    return app


def faust_broker_url(bootstrap: str) -> str:
    """Faust's form of a broker list: 'kafka://h1:p1;h2:p2' (kafka-python takes 'h1:p1,h2:p2')."""
    return "kafka://" + ";".join(address.strip() for address in bootstrap.split(",") if address.strip())


@dataclass(frozen=True)
class AppTopics:
    """The app's handles on every topic it reads or writes."""

    submitted: TopicT
    analyzed: TopicT
    decisions: dict[Action, TopicT]
    deadletter: TopicT
    reviews: TopicT
    backfills: TopicT
    # The index agent reads analyses and decisions together; Faust assigns the same partition
    # of each to one worker, so one writer sees all of a track's events.
    indexable: TopicT

    @classmethod
    def of(cls, app: faust.App, topics: Topics) -> AppTopics:
        def raw(*names: str) -> TopicT:
            return app.topic(*names, value_type=bytes, key_type=bytes)

        return cls(
            submitted=raw(topics.submitted),
            analyzed=raw(topics.analyzed),
            decisions={action: raw(topics.decisions(action)) for action in Action},
            deadletter=raw(topics.deadletter),
            reviews=raw(topics.reviews),
            backfills=raw(topics.backfills),
            indexable=raw(topics.analyzed, *(topics.decisions(a) for a in Action), topics.reviews),
        )
