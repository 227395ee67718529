"""The Faust agents: analyze → decide → index, and backfill (a change sends the tracks it affects
through again), registered on an app by `register_agents`. Each moves events and nothing more;
the work is done by pure functions (detectors, decide, plan_actions) and the index layer.
Importing this module connects to nothing.

Bad input never stops an agent: it goes to the dead-letter topic with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Protocol, TypeVar

from elastic_transport import ConnectionError as EsUnreachable
from elastic_transport import TransportError
from faust import Stream
from faust.types import TP, EventT, StreamT
from faust.types.tuples import Message

from decisions.decide import decide
from decisions.policy import Policies
from decisions.redecide import to_publish
from decisions.review import review_decision
from decisions.rules import DecisionContext
from detectors.audio import DecodeError
from detectors.names import Person
from index.registry import opted_out_artists
from index.writer import EventWriter, IndexableEvent, IndexWriteError
from model.events import (
    DEAD_LETTER_PAYLOAD_BYTES,
    BackfillRequested,
    DeadLetter,
    DeadLetterStage,
    Decision,
    E,
    Event,
    EventParseError,
    ReviewAction,
    TrackAnalyzed,
    TrackSubmitted,
    event_object,
    parse_event,
    utcnow,
    validate_event,
)
from model.limits import MAX_EVENT_BYTES, MESSAGE_CHARS, TITLE_CHARS, clip
from streams.backfill import (
    BackfillRefused,
    RoundCount,
    change_of,
    refusal,
    registry_wait,
    reprocess_for,
    round_events,
)
from streams.logs import get_logger
from streams.parts import WorkerParts
from streams.pool import AnalysisFailed
from streams.store import UnsupportedAudioUri

log = get_logger("clearance.agents")

MAX_BACKOFF_S = 30.0
T = TypeVar("T")


async def retry_while_unreachable(
    attempt: Callable[[], Awaitable[T]],
    what: str,
    first_backoff_s: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `attempt` until Elasticsearch answers it: while it is unreachable, wait (backing off
    to MAX_BACKOFF_S) rather than drop the work or do it under stale state."""
    backoff = first_backoff_s
    while True:
        try:
            return await attempt()
        except TransportError as exc:
            log.warning("elasticsearch_unavailable", waiting=what, error=str(exc), retry_in_s=backoff)
            await sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)


# What a detector's error finding starts with when Elasticsearch did not answer it (the finding
# names the exception's type): the outage's fault, not the track's.
UNREACHABLE_ERRORS = ("ConnectionError:", "ConnectionTimeout:", "TransportError:")


def unreachable_detectors(analysis: TrackAnalyzed) -> list[str]:
    """The detectors that could not examine the track because Elasticsearch was unreachable."""
    return [
        f.detector
        for f in analysis.findings
        if f.status == "error" and (f.error or "").startswith(UNREACHABLE_ERRORS)
    ]


def decide_now(
    analysis: TrackAnalyzed,
    policies: Policies,
    people: list[Person],
    paid_royalty_ids: Callable[[list[str]], frozenset[str]],
) -> list[Decision]:
    """Decide under the given policies and opt-outs; royalties already recorded for this track
    version are left out (the decision function drops them when told they are paid)."""
    opted_out = opted_out_artists(people)
    first = decide(analysis, policies, DecisionContext(opted_out_artists=opted_out))
    paid = paid_royalty_ids([d.event_id for d in first if d.royalty is not None])
    if not paid:
        return first
    return decide(analysis, policies, DecisionContext(opted_out_artists=opted_out, paid_royalty_ids=paid))


def _take(items: Iterator[T], n: int) -> list[T]:
    """Up to `n` more items (run in a thread: the iterator reads Elasticsearch)."""
    return list(itertools.islice(items, n))


def parse_indexable(raw: bytes) -> IndexableEvent:
    data = event_object(raw)
    event_type = data.get("event_type")
    if event_type == "track_analyzed":
        return validate_event(data, TrackAnalyzed)
    if event_type == "decision":
        return validate_event(data, Decision)
    if event_type == "review_action":
        return validate_event(data, ReviewAction)
    raise EventParseError(f"unexpected event_type {clip(repr(event_type), 100)} on an indexed topic")


class EventTooLarge(ValueError):
    """An event the pipeline made is too large to publish."""


def encoded(event: Event) -> bytes:
    """The event's bytes, or EventTooLarge past the size every consumer accepts."""
    raw = event.to_bytes()
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"the {event.event_type} event would be {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    return raw


def round_encoded(
    items: list[TrackSubmitted | TrackAnalyzed], count: RoundCount, job_id: str
) -> list[tuple[TrackSubmitted | TrackAnalyzed, bytes]]:
    """A backfill page's events encoded; one too large to send (an oversized stored record) is
    left out, logged and not counted as sent through again, and the job goes on."""
    page = []
    for item in items:
        try:
            page.append((item, encoded(item)))
        except EventTooLarge as exc:
            count.republished -= 1
            log.warning("backfill_record_skipped", job_id=job_id, track_id=item.track_id, reason=str(exc))
    return page


def dead_letter_for(
    message: Message, stage: DeadLetterStage, error: Exception, track_id: str | None = None
) -> DeadLetter:
    """The dead letter for a message: its reason and the original bytes (the first 512 KiB of a
    longer message, with its size and hash: a dead letter must fit in a Kafka message too)."""
    raw_value = message.value if isinstance(message.value, bytes) else bytes(str(message.value), "utf-8")
    return DeadLetter(
        stage=stage,
        reason=clip(str(error), MESSAGE_CHARS),
        error_type=type(error).__name__,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=_key_of(message),
        track_id=track_id,
        payload_b64=base64.b64encode(raw_value[:DEAD_LETTER_PAYLOAD_BYTES]).decode(),
        payload_size=len(raw_value),
        payload_sha256=hashlib.sha256(raw_value).hexdigest(),
    )


def _key_of(message: Message) -> str | None:
    return clip(message.key.decode(errors="replace"), TITLE_CHARS) if isinstance(message.key, bytes) else None


def refused_events(
    parsed: list[tuple[EventT[bytes], IndexableEvent]], failures: list[dict[str, Any]]
) -> list[tuple[EventT[bytes], IndexableEvent]]:
    """The events of a batch whose documents Elasticsearch refused."""
    refused_ids = {str(next(iter(f.values())).get("_id")) for f in failures}
    return [(e, item) for e, item in parsed if item.event_id in refused_ids or item.track_id in refused_ids]


class Highwaters(Protocol):
    def assignment(self) -> set[TP]: ...

    def highwater(self, tp: TP) -> int | None: ...


def partition_lags(consumer: Highwaters, handled: dict[tuple[str, int], int]) -> list[tuple[str, int, int]]:
    """(topic, partition, messages not yet handled) of each assigned partition this worker has
    handled; a partition whose end is unknown yet (no fetch since it was assigned) is left out."""
    lags = []
    for tp in consumer.assignment():
        end, done = consumer.highwater(tp), handled.get((tp.topic, tp.partition))
        if end is not None and done is not None:
            lags.append((tp.topic, tp.partition, max(0, end - done)))
    return lags


def register_agents(parts: WorkerParts) -> None:
    """Register the analyze, decide, review and index agents on `parts.app`."""
    app, topics, settings, stores = parts.app, parts.topics, parts.settings, parts.stores

    async def dead_letter(
        event: EventT[bytes], stage: DeadLetterStage, error: Exception, track_id: str | None = None
    ) -> None:
        letter = dead_letter_for(event.message, stage, error, track_id)
        await topics.deadletter.send(key=(letter.key or "").encode(), value=letter.to_bytes())
        log.warning(
            "dead_letter",
            stage=stage,
            reason=letter.reason,
            topic=letter.source_topic,
            partition=letter.partition,
            offset=letter.offset,
            track_id=track_id,
        )

    async def parsed(event: EventT[bytes], model: type[E], stage: DeadLetterStage) -> E | None:
        """The event as `model`, or None once it is dead-lettered."""
        try:
            return parse_event(event.value, model)
        except EventParseError as exc:
            await dead_letter(event, stage, exc)
            return None

    async def unexpected(
        event: EventT[bytes], stage: DeadLetterStage, error: Exception, track_id: str | None
    ) -> None:
        """A bug or a crafted event the checks missed: dead-letter it and keep the agent going."""
        log.error("agent_error", stage=stage, track_id=track_id, traceback=clip(traceback.format_exc(), 4000))
        await dead_letter(event, stage, error, track_id)

    async def publish(decision: Decision, raw: bytes) -> None:
        await topics.decisions[decision.action].send(key=decision.track_id.encode(), value=raw)

    handled: dict[tuple[str, int], int] = {}  # next offset per partition after the last handled

    def done(event: EventT[bytes]) -> None:
        key = (event.message.topic, event.message.partition)
        handled[key] = max(handled.get(key, 0), event.message.offset + 1)

    # Concurrent actors keep every analysis process busy; Faust commits an offset only once every
    # event before it is done, and stops fetching once the stream's buffer is full.
    @app.agent(topics.submitted, concurrency=settings.tracks_in_flight, name="streams.agents.analyze")
    async def analyze(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                await analyze_one(event)
            finally:
                done(event)

    async def analyze_one(event: EventT[bytes]) -> None:
        if (submission := await parsed(event, TrackSubmitted, "parse")) is None:
            parts.metrics.tracks.labels("dead_letter").inc()
            return
        started = time.perf_counter()
        parts.metrics.in_flight.inc()
        try:
            # A catalog or registry lookup lost to an outage would decide the track without it
            # (a missed match, a royalty unpaid, a needless review): analyse again once it answers.
            analysis = await retry_while_unreachable(partial(analyze_reachable, submission), "analyze")
            raw = encoded(analysis)
        except (DecodeError, UnsupportedAudioUri) as exc:
            await dead_letter(event, "decode", exc, submission.track_id)
            parts.metrics.tracks.labels("dead_letter").inc()
            return
        except (AnalysisFailed, EventTooLarge) as exc:
            await dead_letter(event, "analyze", exc, submission.track_id)
            parts.metrics.tracks.labels("dead_letter").inc()
            return
        except Exception as exc:
            await unexpected(event, "analyze", exc, submission.track_id)
            parts.metrics.tracks.labels("dead_letter").inc()
            return
        finally:
            parts.metrics.in_flight.dec()
        await topics.analyzed.send(key=submission.track_id.encode(), value=raw)
        parts.metrics.analysed(analysis, time.perf_counter() - started)
        log.info(
            "analyzed",
            track_id=submission.track_id,
            submission=submission.event_id,
            detectors={f.detector: f.status for f in analysis.findings},
            took_ms={f.detector: round(f.took_ms) for f in analysis.findings},
        )

    async def analyze_reachable(submission: TrackSubmitted) -> TrackAnalyzed:
        analysis = await parts.analyzer.analyze(submission)
        if lost := unreachable_detectors(analysis):
            raise EsUnreachable(f"{', '.join(lost)} could not reach Elasticsearch")
        return analysis

    async def measure_lag() -> None:
        # a timer that raises stops the whole app: a metric is never worth that
        try:
            for topic, partition, lag in partition_lags(app.consumer, handled):
                parts.metrics.lag.labels(topic, str(partition)).set(lag)
        except Exception as exc:
            log.warning("lag_not_measured", error=f"{type(exc).__name__}: {exc}")

    app.timer(interval=settings.metrics_interval_s)(measure_lag)

    def decide_current(analysis: TrackAnalyzed) -> list[Decision]:
        reprocess = analysis.submission.reprocess
        if reprocess is None:
            return decide_now(
                analysis, parts.policies.get(), parts.people.people(), stores.decisions.paid_royalty_ids
            )
        # A reprocessing round follows a change: decide under the registry as it is now (not as
        # cached), and publish only what changes the track's current decision.
        decisions = decide_now(
            analysis,
            stores.registry.current_policies(),
            stores.registry.load_people(),
            stores.decisions.paid_royalty_ids,
        )
        record = stores.records.get(analysis.track_id) or {}
        publishing = to_publish(decisions, record.get("decision"))
        changed = any(d.verdict for d in publishing)
        stores.backfill_jobs.mark_decided(reprocess.round_id, analysis.track_id, changed)
        parts.metrics.backfill.labels("decided").inc()
        if changed:
            parts.metrics.backfill.labels("changed").inc()
        return publishing

    @app.agent(topics.analyzed, concurrency=1, name="streams.agents.decide_track")
    async def decide_track(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            done(event)
            if (analysis := await parsed(event, TrackAnalyzed, "parse")) is None:
                continue
            try:
                # Policies and opt-outs live in Elasticsearch: never decide under the wrong policy.
                decisions = await retry_while_unreachable(
                    partial(asyncio.to_thread, decide_current, analysis), "decide"
                )
                encoded_decisions = [(d, encoded(d)) for d in decisions]
            except Exception as exc:
                await unexpected(event, "decide", exc, analysis.track_id)
                continue
            for decision, raw in encoded_decisions:
                await publish(decision, raw)
            parts.metrics.published(decisions)
            log.info(
                "decided",
                track_id=analysis.track_id,
                submission=analysis.submission.event_id,
                actions=[d.action.value for d in decisions],
            )

    @app.agent(topics.backfills, concurrency=1, name="streams.agents.backfill")
    async def backfill(stream: StreamT[bytes]) -> None:
        """A change's backfill: find the tracks it affects and send them through again."""
        async for event in stream.events():
            done(event)
            if (request := await parsed(event, BackfillRequested, "backfill")) is None:
                continue
            try:
                job = await retry_while_unreachable(
                    partial(asyncio.to_thread, stores.backfill_jobs.get, request.job_id), "backfill"
                )
                if (why := refusal(job, request)) is not None:
                    await dead_letter(event, "backfill", BackfillRefused(why))
                    continue
                await retry_while_unreachable(partial(run_backfill, request, job or {}), "backfill")
            except Exception as exc:
                await unexpected(event, "backfill", exc, None)
                try:
                    await asyncio.to_thread(
                        stores.backfill_jobs.fail, request.job_id, clip(f"{type(exc).__name__}: {exc}", 500)
                    )
                except Exception:  # the job cannot be marked: the agent goes on all the same
                    log.error(
                        "backfill_fail_unrecorded",
                        job_id=request.job_id,
                        traceback=clip(traceback.format_exc(), 4000),
                    )

    async def run_backfill(request: BackfillRequested, job: dict[str, Any]) -> None:
        # a redelivered request resumes the job: the records it sent are skipped, its counts kept
        count = RoundCount(int(job.get("found", 0)), int(job.get("republished", 0)))
        jobs = stores.backfill_jobs
        # running from here on: a later change starts a job of its own rather than joining this one
        await asyncio.to_thread(jobs.progress, request.job_id, "running", count.found, count.republished)
        person = None
        if request.trigger == "opt_out":  # the name and voice checks read the registry through a cache
            person = await asyncio.to_thread(stores.registry.get_person, request.subject)
            wait = registry_wait(request.occurred_at, person, settings.registry_cache_seconds, utcnow())
            await asyncio.sleep(wait)
            person = await asyncio.to_thread(stores.registry.get_person, request.subject)
        change = change_of(request, person)
        reprocess = reprocess_for(request.job_id, change)
        events = round_events(
            stores.backfills, change, reprocess, settings.backfill_min_shared_terms, count=count
        )
        while chunk := await asyncio.to_thread(_take, events, settings.backfill_page_size):
            for item, raw in round_encoded(chunk, count, request.job_id):
                topic = topics.analyzed if isinstance(item, TrackAnalyzed) else topics.submitted
                await topic.send(key=item.track_id.encode(), value=raw)
            await asyncio.to_thread(jobs.progress, request.job_id, "running", count.found, count.republished)
        parts.metrics.backfill.labels("found").inc(count.found)
        parts.metrics.backfill.labels("republished").inc(count.republished)
        await asyncio.to_thread(jobs.progress, request.job_id, "published", count.found, count.republished)
        log.info(
            "backfill_published",
            job_id=request.job_id,
            trigger=request.trigger,
            subject=request.subject,
            found=count.found,
            republished=count.republished,
        )

    @app.agent(topics.reviews, concurrency=1, name="streams.agents.apply_review")
    async def apply_review(stream: StreamT[bytes]) -> None:
        """A reviewer's action becomes the track's new verdict (the audit entry is the index
        agent's: it reads the same topic)."""
        async for event in stream.events():
            if (review := await parsed(event, ReviewAction, "review")) is None:
                continue
            try:
                decision = review_decision(review)
                raw = encoded(decision)
            except Exception as exc:
                await unexpected(event, "review", exc, review.track_id)
                continue
            await publish(decision, raw)
            log.info(
                "reviewed", track_id=review.track_id, action=review.action, outcome=decision.action.value
            )

    @app.agent(topics.indexable, concurrency=1, name="streams.agents.index")
    async def index(stream: StreamT[bytes]) -> None:
        assert isinstance(stream, Stream)  # the runtime stream batches; the StreamT protocol does not say so
        writer = parts.event_writer()
        try:
            async for batch in stream.take_events(
                settings.index_batch_size, within=settings.index_batch_seconds
            ):
                parsed: list[tuple[EventT[bytes], IndexableEvent]] = []
                for event in batch:
                    try:
                        parsed.append((event, parse_indexable(event.value)))
                    except EventParseError as exc:
                        await dead_letter(event, "parse", exc)
                if parsed:
                    await write_batch(writer, parsed)
                for event in batch:
                    done(event)
        finally:
            await writer.close()

    async def write_batch(writer: EventWriter, parsed: list[tuple[EventT[bytes], IndexableEvent]]) -> None:
        """Write a batch; while Elasticsearch is unreachable, wait and retry rather than drop it."""
        try:
            applied = await retry_while_unreachable(lambda: writer.write([e for _, e in parsed]), "index")
        except IndexWriteError as exc:
            for event, item in refused_events(parsed, exc.failures):
                await dead_letter(event, "index", exc, item.track_id)
            return
        log.info("indexed", events=len(parsed), applied=applied)
