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
from model.limits import (
    ID_CHARS,
    LIST_ITEMS,
    LYRICS_CHARS,
    MAX_EVENT_BYTES,
    MAX_EVENT_DEPTH,
    MESSAGE_CHARS,
    NAME_CHARS,
    REASON_CHARS,
    TEXT_CHARS,
    TITLE_CHARS,
    URI_CHARS,
    Label,
    Name,
    Title,
    clip,
)
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


BackfillTrigger = Literal["recording", "composition", "policy", "opt_out", "replay"]


class Reprocess(BaseModel):
    """Marks a submission sent through the pipeline again (a backfill after a catalog, policy or
    opt-out change, or a replay after a detector upgrade). The submission keeps its event id: it
    is the same upload; what is new is this round, whose id the round's analysis and any changed
    verdict derive from (so a round repeated gives the same ids)."""

    model_config = ConfigDict(frozen=True)

    round_id: str = Field(min_length=1, max_length=ID_CHARS, description="the backfill job's id")
    trigger: BackfillTrigger
    subject: str = Field("", max_length=NAME_CHARS, description="ISRC, work id, holder or person")
    requested_at: datetime = Field(default_factory=utcnow)


class TrackSubmitted(Event):
    """A track entered the platform: uploaded by a user or made by the platform's generator."""

    event_type: Literal["track_submitted"] = "track_submitted"
    source: Source
    audio_uri: str = Field(
        min_length=1, max_length=URI_CHARS, description="where the audio is, e.g. file:///…/store/<sha256>"
    )
    audio_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    uploader_id: str = Field(min_length=1, max_length=NAME_CHARS)
    title: Title = ""
    artists: list[Name] = Field(default_factory=list, max_length=LIST_ITEMS, description="credited artists")
    description: str = Field("", max_length=TEXT_CHARS)
    prompt: str | None = Field(
        None, max_length=TEXT_CHARS, description="the generation prompt, for generated tracks"
    )
    lyrics: str | None = Field(None, max_length=LYRICS_CHARS)
    declared_ai_use: DeclaredAiUse = "none"
    parent_track_ids: list[TrackId] = Field(
        default_factory=list, max_length=LIST_ITEMS, description="what a remix or cover derives from"
    )
    reprocess: Reprocess | None = Field(None, description="set when the upload is sent through again")

    def again(self, reprocess: Reprocess) -> TrackSubmitted:
        """The same submission (same event id and time), marked as a round of reprocessing."""
        return self.model_copy(update={"reprocess": reprocess})


def analysis_id(submission: TrackSubmitted) -> str:
    """The analysis event's id: one per submission, and one per reprocessing round of it."""
    if submission.reprocess is None:
        return derived_id(submission.event_id, "analyzed")
    return derived_id(submission.event_id, "analyzed", "round", submission.reprocess.round_id)


class TrackMetadata(BaseModel):
    """What an ingest client (the API, the CLI) says about a track it submits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_id: TrackId | None = Field(None, description="default: derived from the audio's sha256")
    source: Source = "upload"
    uploader_id: str | None = Field(
        None, min_length=1, max_length=NAME_CHARS, description="default: the client"
    )
    title: Title | None = Field(None, description="default: the file name (CLI) or empty")
    artists: list[Name] = Field(default_factory=list, max_length=LIST_ITEMS)
    description: str = Field("", max_length=TEXT_CHARS)
    prompt: str | None = Field(None, max_length=TEXT_CHARS)
    lyrics: str | None = Field(None, max_length=LYRICS_CHARS)
    declared_ai_use: DeclaredAiUse = "none"
    parent_track_ids: list[TrackId] = Field(default_factory=list, max_length=LIST_ITEMS)


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
    findings: list[Finding] = Field(max_length=LIST_ITEMS)

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

    detector: Label
    summary: str = Field(max_length=REASON_CHARS)
    data: dict[str, Any] = Field(default_factory=dict)


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    message: str = Field(max_length=REASON_CHARS)
    evidence: list[Evidence] = Field(default_factory=list, max_length=1000)


class AiLabel(BaseModel):
    model_config = ConfigDict(frozen=True)

    digital_source_type: str = Field(
        max_length=NAME_CHARS, description="C2PA / IPTC digital source type, e.g. trainedAlgorithmicMedia"
    )
    summary: str = Field(max_length=MESSAGE_CHARS, description="one human-readable line")


class RoyaltyLine(BaseModel):
    """One recording's (master right) or one composition's (publishing right) part of a royalty."""

    model_config = ConfigDict(frozen=True)

    right: Literal["master", "composition"] = "master"
    isrc: Label = Field("", description="master right: the recording")
    work_id: Label | None = Field(None, description="composition right: the song")
    title: Title = ""
    royalty_rate_bp: int = Field(ge=0, le=10_000)
    counted_seconds: float = Field(ge=0, description="matched seconds after splitting overlaps")
    basis_points: int = Field(ge=0, le=10_000)


class Royalty(BaseModel):
    """What one rights holder is owed for one track version, in basis points of its revenue."""

    model_config = ConfigDict(frozen=True)

    rights_holder: Name
    basis_points: int = Field(
        ge=0, le=20_000, description="over both rights: a holder may be a song's publisher and its label"
    )
    recordings: list[RoyaltyLine] = Field(default_factory=list, max_length=1000)


class Decision(Event):
    """A decision about one submission. Exactly one decision per submission has
    `verdict=True`: the strongest action, listing every reason. Label and royalty
    decisions may accompany it."""

    event_type: Literal["decision"] = "decision"
    action: Action
    verdict: bool
    submission_event_id: str = Field(max_length=ID_CHARS)
    submitted_at: datetime = Field(description="when the decided submission occurred")
    policy_version: str = Field(max_length=MESSAGE_CHARS)
    reasons: list[Reason] = Field(default_factory=list, max_length=1000)
    label: AiLabel | None = None
    royalty: Royalty | None = None


class ReviewAction(Event):
    """A reviewer's action on a case (a track's current decision), published by the review API
    and applied by the pipeline: it becomes a new verdict and an entry in the audit trail."""

    event_type: Literal["review_action"] = "review_action"
    action: Literal["uphold", "overturn", "escalate"]
    reason: str = Field(min_length=1, max_length=MESSAGE_CHARS)
    reviewer: str = Field(min_length=1, max_length=NAME_CHARS, description="who acted (the API key's name)")
    reviewer_key_id: str | None = Field(
        None, max_length=ID_CHARS, description="the API key's id (names are not unique)"
    )
    reviewed_decision_event_id: str = Field(max_length=ID_CHARS)
    reviewed_action: Action
    reviewed_reasons: list[Reason] = Field(
        default_factory=list,
        max_length=1000,
        description="the reviewed decision's reasons, carried into the new verdict",
    )
    submission_event_id: str = Field(max_length=ID_CHARS)
    submitted_at: datetime


class BackfillRequested(Event):
    """Something changed that may change existing tracks' decisions: a recording registered or
    re-registered, a composition added, a policy or an opt-out changed. The backfill agent finds
    the tracks it affects and sends them through the pipeline again (keyed by the job)."""

    event_type: Literal["backfill_requested"] = "backfill_requested"
    job_id: str = Field(min_length=1, max_length=ID_CHARS)
    trigger: BackfillTrigger
    subject: str = Field(min_length=1, max_length=NAME_CHARS, description="ISRC, work id, holder or person")
    names: list[Name] = Field(
        default_factory=list, max_length=LIST_ITEMS, description="an opt-out's person: name and aliases"
    )


def backfill_requested(
    job_id: str, trigger: BackfillTrigger, subject: str, names: list[str]
) -> BackfillRequested:
    """The request for a job; keyed (as `track_id`) by the job, so each job stays in one partition."""
    return BackfillRequested(
        event_id=derived_id(job_id, "backfill"),
        track_id=f"backfill:{job_id}",
        job_id=job_id,
        trigger=trigger,
        subject=subject,
        names=names,
    )


DeadLetterStage = Literal["parse", "decode", "analyze", "decide", "index", "review", "backfill"]


# A dead letter must itself fit in a Kafka message: a longer original is kept in part.
DEAD_LETTER_PAYLOAD_BYTES = 512 * 1024


class DeadLetter(BaseModel):
    """A message a worker could not process, kept whole (up to 512 KiB) with the reason."""

    model_config = ConfigDict(frozen=True)

    event_type: Literal["dead_letter"] = "dead_letter"
    event_id: str = Field(default_factory=new_event_id)
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=utcnow)
    track_id: str | None = None
    stage: DeadLetterStage
    reason: str = Field(max_length=MESSAGE_CHARS)
    error_type: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = Field(None, max_length=TITLE_CHARS)
    payload_b64: str = Field(
        description="the original message byte for byte; of a longer one, its first 512 KiB"
    )
    payload_size: int | None = Field(None, description="the original message's size in bytes")
    payload_sha256: str | None = Field(None, description="of the whole original message")

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class EventParseError(ValueError):
    """A message that is not a valid event of the expected type; the text says why."""


E = TypeVar("E", bound=Event)


def parse_event(raw: bytes | str, model: type[E]) -> E:
    return validate_event(event_object(raw), model)


def event_object(raw: bytes | str) -> dict[str, Any]:
    """The JSON object of a message, within the size and nesting limits; else EventParseError."""
    if not isinstance(raw, bytes | bytearray | str):
        raise EventParseError(f"expected a message, got {type(raw).__name__}")
    size = len(raw.encode(errors="replace") if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise EventParseError(f"message is {size} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise EventParseError(f"JSON nested deeper than {MAX_EVENT_DEPTH} levels") from exc
    except ValueError as exc:  # not UTF-8, not JSON, or a number too long to convert
        raise EventParseError(f"not JSON: {clip(str(exc), MESSAGE_CHARS)}") from exc
    if not isinstance(data, dict):
        raise EventParseError(f"expected a JSON object, got {type(data).__name__}")
    if _nested_deeper_than(data, MAX_EVENT_DEPTH):
        raise EventParseError(f"JSON nested deeper than {MAX_EVENT_DEPTH} levels")
    return data


def _nested_deeper_than(data: object, limit: int) -> bool:
    # iterative: a recursive walk is what a deeply nested message would break
    pending: list[tuple[object, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: list[object] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def validate_event(data: dict[str, Any], model: type[E]) -> E:
    """`data` as a `model` event; EventParseError says which fields are wrong and how."""
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise EventParseError(f"schema_version {version} is newer than the supported {SCHEMA_VERSION}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EventParseError(f"invalid {model.__name__}: {describe_validation_error(exc)}") from exc


def describe_validation_error(exc: ValidationError) -> str:
    """One line: each invalid field and what is wrong with it."""
    described = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )
    return clip(described, MESSAGE_CHARS)
