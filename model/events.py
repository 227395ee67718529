"""Versioned JSON events. Every event has `event_type`, `event_id`, `schema_version`,
`occurred_at` and `track_id`; consumers ignore fields they do not know (tolerant reader)
and reject a `schema_version` newer than the one they understand.

Events derived from another event (analysis, decisions) get deterministic ids, so a replay
of the same submission produces the same ids and every write keyed by them is idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.findings import Finding
from model.reasons import ReasonCode
from model.sources import DeclaredAiUse, Source

SCHEMA_VERSION = 1
_DERIVED_NAMESPACE = uuid.UUID("6f1d3c8e-5a0b-4c52-9c1e-2b7d6a4e9f10")

TrackId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return str(uuid.uuid4())


def derived_id(parent_event_id: str, *parts: str) -> str:
    """A deterministic id for an event derived from `parent_event_id`."""
    return str(uuid.uuid5(_DERIVED_NAMESPACE, ":".join((parent_event_id, *parts))))


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: str
    event_id: str = Field(default_factory=new_event_id, min_length=1, max_length=64)
    schema_version: int = Field(SCHEMA_VERSION, ge=1)
    occurred_at: datetime = Field(default_factory=utcnow)
    track_id: TrackId

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class TrackSubmitted(Event):
    """A track entered the platform: uploaded by a user or made by the platform's generator."""

    event_type: Literal["track_submitted"] = "track_submitted"
    source: Source
    audio_uri: str = Field(min_length=1, description="where the audio is, e.g. file:///…/store/<sha256>")
    audio_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    uploader_id: str = Field(min_length=1)
    title: str = ""
    artists: list[str] = Field(default_factory=list, description="credited artists")
    description: str = ""
    prompt: str | None = Field(None, description="the generation prompt, for generated tracks")
    lyrics: str | None = None
    declared_ai_use: DeclaredAiUse = "none"
    parent_track_ids: list[str] = Field(
        default_factory=list, description="what a remix or cover derives from"
    )


class TrackMetadata(BaseModel):
    """What an ingest client (the API, the CLI) says about a track it submits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_id: TrackId | None = Field(None, description="default: derived from the audio's sha256")
    source: Source = "upload"
    uploader_id: str | None = Field(None, min_length=1, max_length=200, description="default: the client")
    title: str | None = Field(None, max_length=500, description="default: the file name (CLI) or empty")
    artists: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=10_000)
    prompt: str | None = Field(None, max_length=10_000)
    lyrics: str | None = Field(None, max_length=50_000)
    declared_ai_use: DeclaredAiUse = "none"
    parent_track_ids: list[TrackId] = Field(default_factory=list, max_length=50)


def track_submitted(
    meta: TrackMetadata, audio_uri: str, audio_sha256: str | None, *, client: str, default_title: str = ""
) -> TrackSubmitted:
    """The event for a track as its ingest client describes it: without a track id one is
    derived from the audio (its content hash, else a hash of its whole URI, so two files of one
    name in two folders are two tracks), and a generated track always declares generation."""
    digest = audio_sha256 or hashlib.sha256(audio_uri.encode()).hexdigest()
    fields = meta.model_dump(exclude={"track_id", "uploader_id", "title", "declared_ai_use"})
    return TrackSubmitted(
        **fields,
        track_id=meta.track_id or f"trk-{digest[:16]}",
        uploader_id=meta.uploader_id or client,
        title=meta.title if meta.title is not None else default_title,
        declared_ai_use="generated" if meta.source == "generated" else meta.declared_ai_use,
        audio_uri=audio_uri,
        audio_sha256=audio_sha256,
    )


class TrackAnalyzed(Event):
    """Every detector's findings for one submission (the submission is carried along, so
    deciding needs nothing but this event and the policy)."""

    event_type: Literal["track_analyzed"] = "track_analyzed"
    submission: TrackSubmitted
    findings: list[Finding]

    def finding(self, detector: str) -> Finding | None:
        return next((f for f in self.findings if f.detector == detector), None)


class Action(StrEnum):
    ALLOW = "allow"
    LABEL = "label"
    ROYALTY = "royalty"
    NEEDS_REVIEW = "needs_review"
    TAKEDOWN = "takedown"


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    detector: str
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    message: str
    evidence: list[Evidence] = Field(default_factory=list)


class AiLabel(BaseModel):
    model_config = ConfigDict(frozen=True)

    digital_source_type: str = Field(
        description="C2PA / IPTC digital source type, e.g. trainedAlgorithmicMedia"
    )
    summary: str = Field(description="one human-readable line")


class RoyaltyLine(BaseModel):
    """One recording's part of a royalty."""

    model_config = ConfigDict(frozen=True)

    isrc: str
    title: str = ""
    royalty_rate_bp: int = Field(ge=0, le=10_000)
    counted_seconds: float = Field(ge=0, description="matched seconds after splitting overlaps")
    basis_points: int = Field(ge=0, le=10_000)


class Royalty(BaseModel):
    """What one rights holder is owed for one track version, in basis points of its revenue."""

    model_config = ConfigDict(frozen=True)

    rights_holder: str
    basis_points: int = Field(ge=0, le=10_000)
    recordings: list[RoyaltyLine] = Field(default_factory=list)


class Decision(Event):
    """A decision about one submission. Exactly one decision per submission has
    `verdict=True`: the strongest action, listing every reason. Label and royalty
    decisions may accompany it."""

    event_type: Literal["decision"] = "decision"
    action: Action
    verdict: bool
    submission_event_id: str
    submitted_at: datetime = Field(description="when the decided submission occurred")
    policy_version: str
    reasons: list[Reason] = Field(default_factory=list)
    label: AiLabel | None = None
    royalty: Royalty | None = None


class ReviewAction(Event):
    """A reviewer's action on a case (a track's current decision), published by the review API
    and applied by the pipeline: it becomes a new verdict and an entry in the audit trail."""

    event_type: Literal["review_action"] = "review_action"
    action: Literal["uphold", "overturn", "escalate"]
    reason: str = Field(min_length=1, max_length=2000)
    reviewer: str = Field(min_length=1, description="who acted (the API key's name)")
    reviewed_decision_event_id: str
    reviewed_action: Action
    submission_event_id: str
    submitted_at: datetime


DeadLetterStage = Literal["parse", "decode", "analyze", "decide", "index", "review"]


class DeadLetter(BaseModel):
    """A message a worker could not process, kept whole with the reason."""

    model_config = ConfigDict(frozen=True)

    event_type: Literal["dead_letter"] = "dead_letter"
    event_id: str = Field(default_factory=new_event_id)
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=utcnow)
    track_id: str | None = None
    stage: DeadLetterStage
    reason: str
    error_type: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload_b64: str = Field(description="the original message, byte for byte")

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class EventParseError(ValueError):
    """A message that is not a valid event of the expected type; the text says why."""


E = TypeVar("E", bound=Event)


def parse_event(raw: bytes | str, model: type[E]) -> E:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventParseError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EventParseError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise EventParseError(f"schema_version {version} is newer than the supported {SCHEMA_VERSION}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EventParseError(f"invalid {model.__name__}: {describe_validation_error(exc)}") from exc


def describe_validation_error(exc: ValidationError) -> str:
    """One line: each invalid field and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )
