"""Ingestion, for every client (the API, the CLI, the demo): store the audio by content, build
`TrackSubmitted`, publish it."""

from __future__ import annotations

from pathlib import Path

from model.events import TrackMetadata, TrackSubmitted, track_submitted
from model.settings import Settings
from streams.publisher import Publisher
from streams.store import put
from streams.topics import Topics


def submission_for(
    path: Path,
    meta: TrackMetadata,
    settings: Settings,
    *,
    client: str = "cli",
    default_title: str | None = None,
) -> TrackSubmitted:
    """Store the audio and describe it; the title defaults to the file's name."""
    stored = put(path, settings.store_dir)
    title = path.stem if default_title is None else default_title
    return track_submitted(meta, stored.uri, stored.sha256, client=client, default_title=title)


def publish_submissions(publisher: Publisher, settings: Settings, submissions: list[TrackSubmitted]) -> None:
    topic = Topics(settings.topic_prefix).submitted
    for submission in submissions:
        publisher.publish(topic, submission)
    publisher.flush()


def submit(paths: list[Path], meta: TrackMetadata, settings: Settings) -> list[TrackSubmitted]:
    submissions = [submission_for(p, meta, settings) for p in paths]
    with Publisher(settings) as publisher:
        publish_submissions(publisher, settings, submissions)
    return submissions
