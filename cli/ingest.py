"""Ingestion: store audio by content and publish `TrackSubmitted`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from streams.config import Settings
from streams.events import TrackSubmitted
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
    return TrackSubmitted(
        track_id=meta.track_id or f"trk-{stored.sha256[:16]}",
        source=meta.source,
        audio_uri=stored.uri,
        audio_sha256=stored.sha256,
        uploader_id=meta.uploader_id,
        title=meta.title if meta.title is not None else path.stem,
        artists=meta.artists,
        description=meta.description,
        prompt=meta.prompt,
        lyrics=meta.lyrics,
        declared_ai_use="generated" if meta.source == "generated" else meta.declared_ai_use,
        parent_track_ids=meta.parent_track_ids,
    )


def submit(paths: list[Path], meta: TrackMetadata, settings: Settings) -> list[TrackSubmitted]:
    submissions = [submission_for(p, meta, settings) for p in paths]
    topic = Topics(settings.topic_prefix).submitted
    with Publisher(settings) as publisher:
        for submission in submissions:
            publisher.publish(topic, submission)
    return submissions
