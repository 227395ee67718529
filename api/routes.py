"""The /v1 routes: ingest, tracks, review, rights holders."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Response, UploadFile, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from api.deps import FORBIDDEN, UNAUTHORIZED, ServicesDep, holder_scope, require
from api.schemas import (
    Accepted,
    CompositionIn,
    Error,
    OptOutIn,
    PageOf,
    Record,
    RecordingIn,
    RegistrationJob,
    ReviewAccepted,
    ReviewActionIn,
    RoyaltyPeriod,
    TrackByUri,
)
from api.visibility import decisions_for_holder, record_for_holder
from decisions.review import is_escalated, review_outcome, senior_needed
from detectors.audio import DecodeError, probe
from index.compositions import CompositionConflict
from index.history import Interval
from index.keys import ApiKey
from index.records import MAX_WINDOW, CaseConflict, CaseNotFound, RecordQuery
from index.registry import PersonNotYours, RegistryBusy
from model.events import (
    Action,
    BackfillTrigger,
    Reason,
    ReviewAction,
    TrackMetadata,
    TrackSubmitted,
    describe_validation_error,
    track_submitted,
)
from model.findings import CompositionMetadata, Modification, RecordingMetadata
from model.generation import GENERATION_ID, GenerationIn, GenerationRecord
from model.limits import NAME_CHARS
from model.names import fold
from streams.backfill import OPERATOR, request_backfill
from streams.generation import UnknownGenerator
from streams.ingest import publish_submissions, submission_for
from streams.logs import get_logger
from streams.publisher import PublishError
from streams.registration import KIND as REGISTRATION
from streams.registration import QueueFull
from streams.store import AudioUnavailable, UnsupportedAudioUri, local_file_within, sha256_of
from streams.topics import Topics

Responses = dict[int | str, dict[str, Any]]
AUTH: Responses = {401: {"model": Error, **UNAUTHORIZED}, 403: {"model": Error, **FORBIDDEN}}
NOT_FOUND: Responses = {404: {"model": Error, "description": "no such record (or not yours)"}}
BAD_AUDIO: Responses = {
    413: {"model": Error, "description": "upload larger than the limit"},
    415: {"model": Error, "description": "not audio ffmpeg can read"},
}
LIMITS: Responses = {
    413: {"model": Error, "description": "request body larger than the limit"},
    429: {"model": Error, "description": "too many requests for this key; see Retry-After"},
}
router = APIRouter(prefix="/v1", responses={**AUTH, **LIMITS})
log = get_logger("clearance.api")
# the routes taking multipart uploads: their bodies may be up to CLEARANCE_API_MAX_UPLOAD_MB
UPLOAD_ROUTES = frozenset({("POST", "/v1/tracks"), ("POST", "/v1/recordings"), ("POST", "/v1/generations")})

Ingest = Annotated[ApiKey, Depends(require("ingest"))]
Reader = Annotated[ApiKey, Depends(require("reviewer", "rights_holder"))]
Reviewer = Annotated[ApiKey, Depends(require("reviewer"))]
Holder = Annotated[ApiKey, Depends(require("rights_holder"))]
Generator = Annotated[ApiKey, Depends(require("generator"))]
GenerationReader = Annotated[ApiKey, Depends(require("generator", "reviewer"))]
Offset = Annotated[int, Query(ge=0, le=MAX_WINDOW - 100, description="items to skip")]
Limit = Annotated[int, Query(ge=1, le=100, description="items per page")]


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")


def _save_upload(upload: UploadFile, limit_bytes: int, folder: Path) -> Path:
    target = folder / "upload"
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit_bytes:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE, f"upload exceeds {limit_bytes // (1 << 20)} MB"
                )
            out.write(chunk)
    if written == 0:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "the upload is empty")
    try:
        source = probe(target)
    except DecodeError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"unsupported audio: {exc}") from exc
    if source.duration_s <= 0:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "unsupported audio: no duration")
    return target


def _publish_submission(svc: ServicesDep, submission: TrackSubmitted) -> Accepted:
    publish_submissions(svc.publisher, svc.settings, [submission])
    return Accepted(
        track_id=submission.track_id, event_id=submission.event_id, audio_uri=submission.audio_uri
    )


# Ingest -------------------------------------------------------------------------------------


@router.post(
    "/tracks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["ingest"],
    responses={**BAD_AUDIO, 422: {"model": Error}},
)
def submit_upload(
    svc: ServicesDep,
    key: Ingest,
    audio: Annotated[UploadFile, File(description="the audio file")],
    metadata: Annotated[str, Form(description="TrackMetadata as JSON")] = "{}",
) -> Accepted:
    """Upload a track's audio with its metadata; the pipeline takes it from here."""
    try:
        meta = TrackMetadata.model_validate_json(metadata)
    except ValidationError as exc:
        raise HTTPException(422, f"invalid metadata: {describe_validation_error(exc)}") from exc
    with tempfile.TemporaryDirectory() as tmp:
        saved = _save_upload(audio, svc.settings.api_max_upload_mb << 20, Path(tmp))
        submission = submission_for(saved, meta, svc.settings, client="api", default_title="")
    return _publish_submission(svc, submission)


@router.post(
    "/tracks/by-uri",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["ingest"],
    responses={
        **BAD_AUDIO,
        403: {"model": Error, "description": "a key without the role, or submitting by URI is off"},
        422: {"model": Error},
    },
)
def submit_uri(svc: ServicesDep, key: Ingest, body: TrackByUri) -> Accepted:
    """Submit a track whose audio is already stored in one of the server's ingest folders
    (CLEARANCE_INGEST_ROOTS), by its file:// URI."""
    roots = svc.settings.ingest_roots
    if not roots:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "submitting by URI is not enabled on this server")
    try:
        path = local_file_within(body.audio_uri, roots)
    except (UnsupportedAudioUri, AudioUnavailable) as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        probe(path)
    except DecodeError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"unsupported audio: {exc}") from exc
    meta = TrackMetadata.model_validate(body.model_dump(exclude={"audio_uri"}))
    return _publish_submission(svc, track_submitted(meta, path.as_uri(), sha256_of(path), client="api"))


# Tracks -------------------------------------------------------------------------------------


@router.get("/tracks/{track_id}", response_model=Record, tags=["tracks"], responses=NOT_FOUND)
def track(svc: ServicesDep, key: Reader, track_id: str) -> Record:
    """A track's provenance record: metadata, findings, current decision, decision history and,
    for reviewers, the audit trail of review actions."""
    scope = holder_scope(key)
    record = svc.stores.records.get(track_id, scope)
    if record is None:
        raise _not_found(f"track {track_id}")
    history = svc.stores.decisions.history(track_id)
    if scope is not None:
        return Record(
            track_id=track_id,
            record=record_for_holder(record, scope),
            decisions=decisions_for_holder(history, scope),
        )
    record.pop("fingerprint", None)
    return Record(
        track_id=track_id,
        record=record,
        decisions=history,
        audit=svc.stores.audit.for_track(track_id),
    )


@router.get("/tracks/{track_id}/audio", tags=["tracks"], responses=NOT_FOUND, response_class=FileResponse)
def track_audio(svc: ServicesDep, key: Reviewer, track_id: str) -> FileResponse:
    """The track's audio, for the reviewer page's player: only from the content store or the
    ingest folders, whatever the record says."""
    record = svc.stores.records.get(track_id)
    uri = ((record or {}).get("submission") or {}).get("audio_uri")
    if not uri:
        raise _not_found(f"audio for track {track_id}")
    try:
        path = local_file_within(uri, (svc.settings.store_dir, *svc.settings.ingest_roots))
    except (UnsupportedAudioUri, AudioUnavailable) as exc:
        raise _not_found(f"audio for track {track_id}") from exc
    return FileResponse(path, media_type="application/octet-stream")


# Review -------------------------------------------------------------------------------------


@router.get("/review/cases", response_model=PageOf, tags=["review"])
def review_queue(
    svc: ServicesDep,
    key: Reviewer,
    reason: Annotated[
        str | None, Query(max_length=64, description="only cases with this reason code")
    ] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> PageOf:
    """Open needs_review cases, most severe first, then oldest first."""
    page = svc.stores.records.review_queue(reason, offset, limit)
    return PageOf(total=page.total, offset=offset, limit=limit, items=page.items)


@router.get("/review/cases/{track_id}", response_model=Record, tags=["review"], responses=NOT_FOUND)
def review_case(svc: ServicesDep, key: Reviewer, track_id: str) -> Record:
    """One case with all its evidence: the record, its decision history and its audit trail."""
    return track(svc, key, track_id)


@router.post(
    "/review/cases/{track_id}/actions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReviewAccepted,
    tags=["review"],
    responses={
        **NOT_FOUND,
        409: {"model": Error, "description": "someone acted first, or the case changed"},
        503: {
            "model": Error,
            "description": "the review could not be published; the case is back in the queue",
        },
    },
)
def act_on_case(svc: ServicesDep, key: Reviewer, track_id: str, body: ReviewActionIn) -> ReviewAccepted:
    """Uphold, overturn or escalate the case's current decision. Published as an event; the
    pipeline applies it (a new verdict) and records it in the audit trail. Escalated cases, and
    overturning a rights holder's block or an artist's opt-out, need a senior_reviewer."""
    _check_seniority(svc, key, track_id, body)
    try:
        claim = svc.stores.records.claim(track_id, body.decision_event_id, key.name, key.key_id, body.action)
    except CaseNotFound as exc:
        raise _not_found(f"track {track_id}") from exc
    except CaseConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    decision, submission = claim.record["decision"], claim.record["submission"]
    review = ReviewAction(
        track_id=track_id,
        action=body.action,
        reason=body.reason,
        reviewer=key.name,
        reviewer_key_id=key.key_id,
        reviewed_decision_event_id=body.decision_event_id,
        reviewed_action=Action(decision["action"]),
        reviewed_reasons=[Reason.model_validate(r) for r in decision.get("reasons") or []],
        submission_event_id=submission["event_id"],
        submitted_at=datetime.fromisoformat(submission["occurred_at"]),
    )
    try:
        svc.publisher.publish(Topics(svc.settings.topic_prefix).reviews, review)
        svc.publisher.flush()
    except PublishError as exc:
        released = svc.stores.records.release(track_id, claim)
        after = "the case is back in the queue; try again" if released else "the case changed meanwhile"
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the review could not be published ({exc}); {after}"
        ) from exc
    return ReviewAccepted(
        review_event_id=review.event_id,
        track_id=track_id,
        action=body.action,
        outcome=review_outcome(review).value,
    )


def _check_seniority(svc: ServicesDep, key: ApiKey, track_id: str, body: ReviewActionIn) -> None:
    """403 when the action needs a senior reviewer and the key is not one. The decision is read
    by its event id, whose reasons never change, and the claim then insists it is still the
    current one, so what was checked is what gets reviewed."""
    decision = (svc.stores.records.get(track_id) or {}).get("decision") or {}
    if decision.get("event_id") != body.decision_event_id:
        return  # unknown track or a stale decision: the claim answers 404 or 409
    codes = [r.get("code", "") for r in decision.get("reasons") or []]
    why = senior_needed(body.action, codes, bool(decision.get("escalated")) or is_escalated(codes))
    if why is not None and not key.has_role("senior_reviewer"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role} may not do this: {why}")


# Rights holders -----------------------------------------------------------------------------


@router.get("/records", response_model=PageOf, tags=["rights holders"])
def search_records(
    svc: ServicesDep,
    key: Reader,
    isrc: Annotated[str | None, Query(max_length=12)] = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
    artist: Annotated[str | None, Query(max_length=200)] = None,
    decision: Annotated[Action | None, Query(description="current decision")] = None,
    date_from: Annotated[datetime | None, Query(description="submitted at or after")] = None,
    date_to: Annotated[datetime | None, Query(description="submitted at or before")] = None,
    q: Annotated[
        str | None, Query(max_length=500, description="free text over title, artists, description, prompt")
    ] = None,
    modification: Annotated[
        Modification | Literal["modified"] | None,
        Query(
            description="only records with a match modified this way ('modified': any way; "
            "'none': a match as registered)"
        ),
    ] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> PageOf:
    """Provenance records; a rights holder sees only records that involve their own catalog, and
    of those only their own part (api/visibility.py)."""
    if date_from and date_to and date_from > date_to:
        raise HTTPException(422, "date_from is after date_to")
    query = RecordQuery(
        isrc, title, artist, decision.value if decision else None, date_from, date_to, q, modification
    )
    scope = holder_scope(key)
    page = svc.stores.records.search(scope, query, offset, limit)
    items = page.items if scope is None else [record_for_holder(r, scope) for r in page.items]
    return PageOf(total=page.total, offset=offset, limit=limit, items=items)


@router.get("/royalties", response_model=list[RoyaltyPeriod], tags=["rights holders"])
def royalties(
    svc: ServicesDep,
    key: Holder,
    period: Annotated[Interval, Query(description="bucket size")] = "month",
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> list[RoyaltyPeriod]:
    """The caller's royalty events summed by period."""
    holder = key.rights_holder
    if holder is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "royalties are per rights holder; use a rights_holder key"
        )
    rows = svc.stores.decisions.royalty_totals(holder, period, date_from, date_to)
    return [RoyaltyPeriod(**row) for row in rows]


BACKFILL_HEADER = "X-Backfill-Job"  # the job finding the existing uploads a change affects


def _own_holder(key: ApiKey) -> str:
    if key.rights_holder is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "registering recordings needs a rights_holder key")
    return key.rights_holder


@router.post(
    "/recordings",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegistrationJob,
    tags=["rights holders"],
    responses={
        **BAD_AUDIO,
        409: {"model": Error, "description": "the ISRC belongs to another rights holder"},
        422: {"model": Error},
        503: {"model": Error, "description": "too many registrations waiting; retry later"},
    },
)
def register_recording(
    svc: ServicesDep,
    key: Holder,
    response: Response,
    audio: Annotated[UploadFile, File(description="the master")],
    metadata: Annotated[str, Form(description="RecordingIn as JSON")],
) -> RegistrationJob:
    """Register a master (the whole recording) under the caller's name. Fingerprinting takes a
    while, so this answers at once with a job to follow at /v1/recordings/jobs/{job_id}; the
    catalog write itself refuses an ISRC another holder registered meanwhile."""
    holder = _own_holder(key)
    try:
        meta_in = RecordingIn.model_validate_json(metadata)
    except ValidationError as exc:
        raise HTTPException(422, f"invalid metadata: {describe_validation_error(exc)}") from exc
    existing = svc.stores.catalog.get(meta_in.isrc)
    if existing is not None and existing.get("rights_holder") != holder:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{meta_in.isrc} is registered by another rights holder"
        )
    meta = RecordingMetadata(**{**meta_in.model_dump(), "rights_holder": holder})
    with tempfile.TemporaryDirectory() as tmp:
        saved = _save_upload(audio, svc.settings.api_max_upload_mb << 20, Path(tmp))
        try:
            job = svc.registrations.submit(meta, saved)
        except QueueFull as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), {"Retry-After": "60"}) from exc
    response.headers["Location"] = f"{router.prefix}/recordings/jobs/{job['job_id']}"
    return _registration_job(job)


def _registration_job(job: dict[str, Any]) -> RegistrationJob:
    return RegistrationJob(**{**job, "isrc": job["subject"]})


@router.get(
    "/recordings/jobs/{job_id}", response_model=RegistrationJob, tags=["rights holders"], responses=NOT_FOUND
)
def registration_job(svc: ServicesDep, key: Holder, job_id: str) -> RegistrationJob:
    """A registration's state: queued, running, done (with the prints taken) or failed (why)."""
    job = svc.stores.jobs.get(job_id, holder_scope(key))
    if job is None or job.get("kind") != REGISTRATION:
        raise _not_found(f"registration job {job_id}")
    return _registration_job(job)


@router.delete(
    "/recordings/{isrc}", status_code=status.HTTP_204_NO_CONTENT, tags=["rights holders"], responses=NOT_FOUND
)
def remove_recording(svc: ServicesDep, key: Holder, isrc: str) -> None:
    """Remove one of the caller's recordings from the catalog."""
    holder = _own_holder(key)
    if not svc.stores.catalog.remove_owned(isrc, holder):
        raise _not_found(f"recording {isrc} of {holder}")


@router.put(
    "/compositions/{work_id}",
    response_model=CompositionMetadata,
    tags=["rights holders"],
    responses={
        409: {"model": Error, "description": "the work id belongs to another publisher"},
        422: {"model": Error},
    },
)
def register_composition(
    svc: ServicesDep,
    key: Holder,
    response: Response,
    work_id: Annotated[str, PathParam(max_length=64)],
    body: CompositionIn,
) -> CompositionMetadata:
    """Register or update one of the caller's compositions (songs as written) by its work id.
    Masters registered by a manifest that name the work id become its performances, so covers
    of it are found; the policy, royalty rate and opt-out apply to every cover."""
    holder = _own_holder(key)
    try:
        meta = CompositionMetadata(**{**body.model_dump(), "work_id": work_id, "rights_holder": holder})
    except ValidationError as exc:
        raise HTTPException(422, f"invalid composition: {describe_validation_error(exc)}") from exc
    unchanged = svc.stores.compositions.get(work_id) == meta  # the same again: no backfill
    try:
        svc.stores.compositions.register(meta)
    except CompositionConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if not unchanged:
        _start_backfill(svc, response, "composition", work_id, holder)
    return meta


def _start_backfill(
    svc: ServicesDep,
    response: Response,
    trigger: BackfillTrigger,
    subject: str,
    holder: str,
    names: list[str] | None = None,
) -> None:
    """Start the backfill of a change already committed, naming its job in the response's header.
    A request that cannot be published leaves the change made and its job failed (the operator
    starts it again with `clearance backfill request`): the caller is still told the change is done."""
    try:
        backfill = request_backfill(
            svc.stores.backfill_jobs, svc.publisher, svc.settings, trigger, subject, holder, names
        )
    except (PublishError, ValidationError) as exc:
        log.error("backfill_not_started", trigger=trigger, subject=subject[:200], error=str(exc)[:500])
        return
    response.headers[BACKFILL_HEADER] = backfill.job_id


@router.get(
    "/compositions/{work_id}",
    response_model=CompositionMetadata,
    tags=["rights holders"],
    responses=NOT_FOUND,
)
def composition(
    svc: ServicesDep, key: Holder, work_id: Annotated[str, PathParam(max_length=64)]
) -> CompositionMetadata:
    """One of the caller's compositions (another publisher's is not found)."""
    meta = svc.stores.compositions.get(work_id)
    if meta is None or meta.rights_holder != _own_holder(key):
        raise _not_found(f"composition {work_id}")
    return meta


@router.put(
    "/artists/{name}/opt-out",
    tags=["rights holders"],
    responses={
        **NOT_FOUND,
        409: {"model": Error, "description": "changed by someone else at the same moment"},
        422: {"model": Error, "description": "an alias too short or too common"},
    },
)
def set_opt_out(
    svc: ServicesDep,
    key: Holder,
    response: Response,
    name: Annotated[str, PathParam(min_length=1, max_length=NAME_CHARS)],
    body: OptOutIn,
) -> dict[str, Any]:
    """Opt one of the caller's artists out of (or back into) AI remixes, covers and voices. The
    first holder to register a person owns the registration: another holder gets 403. Every
    change is audited."""
    holder = None if key.role == "admin" else _own_holder(key)  # an admin may change anyone's
    if holder is not None and fold(name) not in {fold(a) for a in svc.stores.catalog.artists(holder)}:
        raise _not_found(f"artist {name} in {holder}'s catalog")
    try:
        change = svc.stores.registry.change_opt_out(
            name, aliases=body.aliases, opted_out=body.opted_out, holder=holder
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except PersonNotYours as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except RegistryBusy as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if change.before != change.after:
        svc.stores.audit.record_opt_out_change(change, key.name, key.key_id, holder)
        names = [str(change.person.get("name") or name), *change.person.get("aliases", [])]
        _start_backfill(svc, response, "opt_out", name, holder or OPERATOR, names)
    person = dict(change.person)
    person.pop("voiceprint", None)
    return person


# Generator ----------------------------------------------------------------------------------

MEDIA_TYPES = {"flac": "audio/flac", "wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}


@router.post(
    "/generations",
    tags=["generator"],
    response_class=FileResponse,
    responses={
        200: {"description": "the track watermarked and signed; its generation id in X-Generation-Id"},
        **BAD_AUDIO,
        422: {"model": Error},
        503: {"model": Error, "description": "busy, or no signing chain configured; retry later"},
    },
)
def make_generation(
    svc: ServicesDep,
    key: Generator,
    audio: Annotated[UploadFile, File(description="the generator's output, before marking")],
    metadata: Annotated[str, Form(description="GenerationIn as JSON")],
    output_format: Annotated[
        Literal["flac", "wav", "mp3", "m4a"], Form(description="what to return")
    ] = "flac",
) -> FileResponse:
    """Register a track the platform's generator made: it is watermarked with the generator's
    payload, its generation record and fingerprints are stored, and it comes back with a signed
    Content Credential (C2PA) naming the record, its parents, the payload and the fingerprint."""
    try:
        request = GenerationIn.model_validate_json(metadata)
    except ValidationError as exc:
        raise HTTPException(422, f"invalid metadata: {describe_validation_error(exc)}") from exc
    folder = Path(tempfile.mkdtemp(prefix="generation-"))
    try:
        target = folder / f"generated.{output_format}"
        record = _generate(svc, audio, request, folder, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        target,
        media_type=MEDIA_TYPES[output_format],
        filename=f"{record.generation_id}.{output_format}",
        headers={"X-Generation-Id": record.generation_id},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _generate(
    svc: ServicesDep, audio: UploadFile, request: GenerationIn, folder: Path, target: Path
) -> GenerationRecord:
    if not svc.generating.acquire(blocking=False):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "generations are being signed; retry", {"Retry-After": "5"}
        )
    try:
        saved = _save_upload(audio, svc.settings.api_max_upload_mb << 20, folder)
        return svc.generations.make(saved, target, request)
    except UnknownGenerator as exc:
        raise HTTPException(422, str(exc)) from exc
    except DecodeError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"unsupported audio: {exc}") from exc
    except FileNotFoundError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no signing chain is configured") from exc
    finally:
        svc.generating.release()


@router.get(
    "/generations/{generation_id}", response_model=GenerationRecord, tags=["generator"], responses=NOT_FOUND
)
def generation(svc: ServicesDep, key: GenerationReader, generation_id: str) -> GenerationRecord:
    """A generation record: generator, model version, when, parents, payload (the prompt only where
    the server keeps prompts)."""
    well_formed = GENERATION_ID.fullmatch(generation_id) is not None
    record = svc.stores.generated.get(generation_id) if well_formed else None
    if record is None:
        raise _not_found(f"generation {generation_id}")
    return record
