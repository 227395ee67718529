"""Request and response bodies of the review API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model.events import TrackMetadata
from model.findings import RecordingMetadata
from model.limits import LIST_ITEMS, Name, Title


class Error(BaseModel):
    detail: str = Field(description="what was wrong")


class TrackByUri(TrackMetadata):
    audio_uri: str = Field(
        min_length=8, max_length=2000, description="file:// URI of audio in an ingest folder"
    )


class Accepted(BaseModel):
    track_id: str
    event_id: str
    audio_uri: str


class Record(BaseModel):
    """A provenance record: metadata, findings, current decision, history and audit trail."""

    track_id: str
    record: dict[str, Any]
    decisions: list[dict[str, Any]]
    audit: list[dict[str, Any]] = Field(default_factory=list)


class PageOf(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]]


class ReviewActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["uphold", "overturn", "escalate"]
    reason: str = Field(min_length=3, max_length=2000)
    decision_event_id: str = Field(min_length=1, max_length=64, description="the decision the reviewer saw")


class ReviewAccepted(BaseModel):
    review_event_id: str
    track_id: str
    action: str
    outcome: str


class RecordingIn(RecordingMetadata):
    """Registration metadata; the rights holder is the caller's own."""

    model_config = ConfigDict(extra="forbid")
    rights_holder: str = Field("", description="ignored for rights-holder keys: always their own")


class CompositionIn(BaseModel):
    """A composition's metadata; its work id is the path's, its publisher the caller."""

    model_config = ConfigDict(extra="forbid")
    iswc: str | None = Field(None, pattern=r"^T-?\d{3}\.?\d{3}\.?\d{3}-?\d$")
    title: Title = Field(min_length=1)
    writers: list[Name] = Field(min_length=1, max_length=LIST_ITEMS)
    artists: list[Name] = Field(default_factory=list, max_length=LIST_ITEMS)
    policy: Literal["block", "monetize", "track"] = "track"
    opt_out: bool = False
    royalty_rate_bp: int = Field(0, ge=0, le=10_000)


class RegistrationResult(BaseModel):
    duration_s: float
    item_count: int = Field(description="Chromaprint items (about 8 per second)")
    landmark_count: int = Field(description="spectral-peak landmarks (the mix-robust fingerprint)")
    backfill_job: str | None = Field(
        None, description="the backfill finding the existing uploads that use the master (retroactive claims)"
    )


class RegistrationJob(BaseModel):
    """A registration in the background: fingerprinting a master takes up to minutes."""

    job_id: str
    isrc: str
    state: Literal["queued", "running", "done", "failed"]
    reason: str | None = Field(None, description="why it failed")
    result: RegistrationResult | None = Field(None, description="the prints taken, once done")
    created_at: str
    updated_at: str


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_out: bool
    aliases: list[Name] | None = Field(None, max_length=20)


class RoyaltyPeriod(BaseModel):
    period_start: str
    royalty_events: int
    tracks: int
    basis_points: int = Field(description="sum of the holder's shares in the period, in basis points")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    elasticsearch: bool
