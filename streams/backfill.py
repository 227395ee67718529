"""Retroactive claims and replays: a change (a recording registered, a composition added, a
policy or an opt-out changed) or a replay request becomes a backfill job; the backfill agent
(streams/agents.py) finds the tracks it affects (index/backfill.py) and sends them through the
normal pipeline again as a reprocessing round, so their decisions and royalties go through
decide and index as always.

Idempotent end to end: a round's events keep their submission's id and derive every new id from
the round (the job id), so a round repeated gives the same ids; a record the round already sent
through is not sent again; a verdict the round does not change is not published again
(decisions/redecide.py); royalties are per track version and never paid twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from index.backfill import BackfillStore, Change, needs_replay, reanalysis, resubmission
from index.jobs import BackfillJobs
from model.events import (
    BackfillRequested,
    BackfillTrigger,
    Reprocess,
    TrackAnalyzed,
    TrackSubmitted,
    backfill_requested,
    derived_id,
)
from model.limits import LIST_ITEMS, clip
from model.settings import Settings
from streams.publisher import Publisher, PublishError
from streams.topics import Topics

OPERATOR = "operator"  # who a job belongs to when no rights holder asked for it (the CLI)


def request_backfill(
    jobs: BackfillJobs,
    publisher: Publisher,
    settings: Settings,
    trigger: BackfillTrigger,
    subject: str,
    rights_holder: str = OPERATOR,
    names: list[str] | None = None,
) -> BackfillRequested:
    """Create the job and publish its request (the worker's backfill agent does the rest). A
    request that cannot be made or published marks the job failed (not queued forever) and raises."""
    if (queued := jobs.queued(trigger, subject)) is not None:  # not started: it will see this change
        return backfill_requested(queued, trigger, subject, (names or [])[:LIST_ITEMS])
    job_id = uuid.uuid4().hex
    jobs.ensure(job_id, trigger, subject, rights_holder)
    try:
        request = backfill_requested(job_id, trigger, subject, names or [])
        publisher.publish(Topics(settings.topic_prefix).backfills, request)
        publisher.flush()
    except (PublishError, ValidationError) as exc:
        jobs.fail(job_id, clip(f"the request could not be published: {type(exc).__name__}: {exc}", 500))
        raise
    return request


def replay_job_id(
    since: datetime, detector: str | None, detector_versions: dict[str, str] | None = None
) -> str:
    """The same replay asked again is the same job (and round): it resumes where it stopped. Asked
    again after a detector upgrade, it is another job (it runs again under the new versions)."""
    versions = ",".join(f"{name}={version}" for name, version in sorted((detector_versions or {}).items()))
    parts = (since.isoformat(), detector or "", *([versions] if versions else []))
    return derived_id("replay", *parts).replace("-", "")


class BackfillRefused(Exception):
    """A backfill request the agent does not run (see `refusal`): it is dead-lettered."""


def refusal(job: dict[str, Any] | None, request: BackfillRequested) -> str | None:
    """Why the backfill agent must not run this request (None: run it). It runs only a backfill
    job that exists, was created for this trigger and subject, and is queued (or running: Kafka
    redelivered the request); replays run from `clearance reprocess`, never from the topic."""
    if request.trigger == "replay":
        return "a replay is run by clearance reprocess, not requested on the backfills topic"
    if job is None:
        return f"no backfill job {request.job_id}"
    if (job.get("trigger"), job.get("subject")) != (request.trigger, request.subject):
        return f"backfill job {request.job_id} is not about {request.trigger} {request.subject}"
    if job.get("state") not in ("queued", "running"):
        return f"backfill job {request.job_id} is {job.get('state')}, not queued"
    return None


def change_of(request: BackfillRequested, person: dict[str, Any] | None = None) -> Change:
    """The request's change; an opt-out's names with the person's as registered now (a job other
    changes joined while it was queued covers their aliases too)."""
    names = list(request.names)
    if person:
        names += [str(n) for n in [person.get("name"), *(person.get("aliases") or [])] if n]
    return Change(request.trigger, request.subject, tuple(dict.fromkeys(names)))


def registry_wait(
    requested_at: datetime, person: dict[str, Any] | None, cache_seconds: float, now: datetime
) -> float:
    """How long an opt-out job waits for the workers' registry caches to expire: until
    `cache_seconds` after the person's last change (a change may have joined the job while it
    was queued), not a whole period every time."""
    changed_at = requested_at
    if person and person.get("updated_at"):
        updated = datetime.fromisoformat(str(person["updated_at"]))
        updated = updated if updated.tzinfo is not None else updated.replace(tzinfo=UTC)
        changed_at = max(changed_at, updated)
    return max(0.0, (changed_at - now).total_seconds() + cache_seconds)


@dataclass
class RoundCount:
    found: int = 0
    republished: int = 0


def round_events(
    store: BackfillStore,
    change: Change,
    reprocess: Reprocess,
    min_shared_terms: int,
    detector_versions: dict[str, str] | None = None,
    count: RoundCount | None = None,
) -> Iterator[TrackSubmitted | TrackAnalyzed]:
    """The events that send the affected tracks through again: the stored analysis to decide
    again (a policy change), else the submission to analyse again. A replay for one detector
    takes only the records whose finding of it is not current."""
    count = count if count is not None else RoundCount()
    for record in store.affected(change, reprocess.round_id, min_shared_terms, change.redecide_only):
        if change.detector is not None and detector_versions is not None:
            current = detector_versions.get(change.detector, "")
            if not needs_replay(record.get("detectors") or [], change.detector, current):
                continue
        count.found += 1
        event = reanalysis(record, reprocess) if change.redecide_only else resubmission(record, reprocess)
        if event is not None:
            count.republished += 1
            yield event


def reprocess_for(job_id: str, change: Change) -> Reprocess:
    return Reprocess(round_id=job_id, trigger=change.trigger, subject=change.subject[:200])


def replay(
    store: BackfillStore,
    jobs: BackfillJobs,
    publisher: Publisher,
    settings: Settings,
    since: datetime,
    detector: str | None,
    detector_versions: dict[str, str],
    advance: Callable[[int], None] = lambda n: None,
) -> RoundCount:
    """`clearance reprocess`: send the stored tracks submitted or analysed since `since` through
    analysis again (with a detector: those whose finding of it is not current), through Kafka.
    Resumable: the same request is the same job, and the records it already sent are skipped."""
    job_id = replay_job_id(since, detector, detector_versions)
    subject = f"since {since.isoformat()}" + (f" detector {detector}" if detector else "")
    job, _ = jobs.ensure(job_id, "replay", subject, OPERATOR)
    earlier = job.get("result") or {}
    count = RoundCount(int(earlier.get("found", 0)), int(earlier.get("republished", 0)))
    change = Change("replay", subject, since=since, detector=detector)
    topic = Topics(settings.topic_prefix).submitted
    jobs.progress(job_id, "running", count.found, count.republished)
    reprocess = reprocess_for(job_id, change)
    events = round_events(
        store, change, reprocess, settings.backfill_min_shared_terms, detector_versions, count
    )
    for sent, event in enumerate(events, 1):
        publisher.publish(topic, event)
        advance(1)
        if sent % settings.backfill_page_size == 0:
            publisher.flush()
            jobs.progress(job_id, "running", count.found, count.republished)
    publisher.flush()
    jobs.progress(job_id, "published", count.found, count.republished)
    return count
