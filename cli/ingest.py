"""Ingestion: store audio by content and publish `TrackSubmitted`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from streams.config import Settings
from streams.events import TrackSubmitted, track_submitted
from streams.publisher import Publisher
from streams.store import put
from streams.topics import Topics


@dataclass(frozen=True)
class TrackMetadata:
    source: Literal["upload", "generated"] = "upload"
    title: str | None = None
    artists: list[str] = field(default_factory=list)
    uploader_id: str = "cli"
    description: str = ""
    prompt: str | None = None
    lyrics: str | None = None
    declared_ai_use: Literal["none", "assisted", "generated"] = "none"
    parent_track_ids: list[str] = field(default_factory=list)
    track_id: str | None = None


def submission_for(path: Path, meta: TrackMetadata, settings: Settings) -> TrackSubmitted:
    stored = put(path, settings.store_dir)
    described = {**asdict(meta), "title": meta.title if meta.title is not None else path.stem}
    return track_submitted(described, stored.uri, stored.sha256)


def submit(paths: list[Path], meta: TrackMetadata, settings: Settings) -> list[TrackSubmitted]:
    submissions = [submission_for(p, meta, settings) for p in paths]
    topic = Topics(settings.topic_prefix).submitted
    with Publisher(settings) as publisher:
        for submission in submissions:
            publisher.publish(topic, submission)
    return submissions
