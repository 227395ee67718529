"""The Faust application and its topic handles. Values travel as raw bytes and are parsed
by the agents themselves, so a message that does not parse can be dead-lettered whole."""

from __future__ import annotations

import faust

from streams.config import Settings, get_settings
from streams.events import Action
from streams.topics import Topics


def create_app(settings: Settings) -> faust.App:
    # Faust keeps a data folder per app id (empty here: tables live in memory); under the
    # git-ignored state folder rather than in whatever directory the worker started from
    datadir = settings.store_dir.parent / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        datadir=str(datadir),
    )


settings = get_settings()
topics = Topics(settings.topic_prefix)
app = create_app(settings)

submitted_topic = app.topic(topics.submitted, value_type=bytes, key_type=bytes)
analyzed_topic = app.topic(topics.analyzed, value_type=bytes, key_type=bytes)
decision_topics = {
    action: app.topic(topics.decisions(action), value_type=bytes, key_type=bytes) for action in Action
}
deadletter_topic = app.topic(topics.deadletter, value_type=bytes, key_type=bytes)
reviews_topic = app.topic(topics.reviews, value_type=bytes, key_type=bytes)
# The index agent reads analyses and decisions together; Faust assigns the same partition
# of each to one worker, so one writer sees all of a track's events.
indexable_topic = app.topic(
    topics.analyzed, *(topics.decisions(a) for a in Action), topics.reviews, value_type=bytes, key_type=bytes
)
