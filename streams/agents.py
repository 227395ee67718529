"""The Faust agents: analyze → decide → index. Each moves events and nothing more; the work
is done by pure functions (detectors, decide, plan_actions) and the index layer.

Bad input never stops an agent: it goes to the dead-letter topic with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import json

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import TransportError
from elasticsearch import AsyncElasticsearch, Elasticsearch
from faust import Stream
from faust.types import EventT, StreamT

from decisions.decide import decide
from decisions.policy import PlatformPolicy, Policies
from decisions.review import review_decision
from decisions.rules import DecisionContext
from detectors.audio import DecodeError
from detectors.run import VoiceThresholds, WatermarkModel, standard_detectors
from index.catalog import EsCatalogLookup
from index.names import Indices
from index.registry import EsPeopleLookup, Expiring, current_policies, opted_out_artists, paid_royalty_ids
from index.writer import IndexableEvent, IndexWriteError, write_events
from streams.analysis import analyze_submission
from streams.app import (
    analyzed_topic,
    app,
    deadletter_topic,
    decision_topics,
    indexable_topic,
    reviews_topic,
    settings,
    submitted_topic,
)
from streams.events import (
    DeadLetter,
    Decision,
    EventParseError,
    ReviewAction,
    TrackAnalyzed,
    TrackSubmitted,
    parse_event,
)
from streams.logs import get_logger
from streams.store import UnsupportedAudioUri

log = get_logger("clearance.agents")
indices = Indices(settings.index_prefix)
# Detectors and registry lookups run in worker threads, so they use the synchronous client.
_es = Elasticsearch(settings.es_url, request_timeout=30)
people = EsPeopleLookup(_es, indices, settings.registry_cache_seconds)
policies = Expiring(lambda: current_policies(_es, indices), settings.registry_cache_seconds)
_platform = PlatformPolicy()
detectors = standard_detectors(
    EsCatalogLookup(_es, indices),
    WatermarkModel(settings.watermark_detector, settings.watermark_threshold),
    people,
    VoiceThresholds(_platform.voice_takedown_similarity, _platform.voice_review_similarity),
)

_MAX_BACKOFF_S = 30.0


async def dead_letter(
    event: EventT[bytes], stage: str, error: Exception, track_id: str | None = None
) -> None:
    message = event.message
    raw_value = message.value if isinstance(message.value, bytes) else bytes(str(message.value), "utf-8")
    key = message.key.decode(errors="replace") if isinstance(message.key, bytes) else None
    letter = DeadLetter(
        stage=stage,
        reason=str(error),
        error_type=type(error).__name__,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key,
        track_id=track_id,
        payload_b64=base64.b64encode(raw_value).decode(),
    )
    await deadletter_topic.send(key=(key or "").encode(), value=letter.to_bytes())
    log.warning(
        "dead_letter",
        stage=stage,
        reason=letter.reason,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        track_id=track_id,
    )


@app.agent(submitted_topic, concurrency=1)
async def analyze(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        try:
            submission = parse_event(event.value, TrackSubmitted)
        except EventParseError as exc:
            await dead_letter(event, "parse", exc)
            continue
        try:
            # Decoding and fingerprinting are blocking; keep the event loop (heartbeats) free.
            analysis = await asyncio.to_thread(analyze_submission, submission, settings, detectors)
        except (DecodeError, UnsupportedAudioUri) as exc:
            await dead_letter(event, "decode", exc, submission.track_id)
            continue
        await analyzed_topic.send(key=submission.track_id.encode(), value=analysis.to_bytes())
        log.info(
            "analyzed",
            track_id=submission.track_id,
            submission=submission.event_id,
            detectors={f.detector: f.status for f in analysis.findings},
        )


@app.agent(analyzed_topic, concurrency=1)
async def decide_track(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        try:
            analysis = parse_event(event.value, TrackAnalyzed)
        except EventParseError as exc:
            await dead_letter(event, "parse", exc)
            continue
        decisions = await _decide_with_retry(analysis)
        for decision in decisions:
            await decision_topics[decision.action].send(
                key=decision.track_id.encode(), value=decision.to_bytes()
            )
        log.info(
            "decided",
            track_id=analysis.track_id,
            submission=analysis.submission.event_id,
            actions=[d.action.value for d in decisions],
        )


def decide_now(analysis: TrackAnalyzed) -> list[Decision]:
    """Decide under the current policies; royalties already recorded for this track version
    are left out (the decision function drops them when told they are paid)."""
    current: Policies = policies.get()
    opted_out = opted_out_artists(people.people())
    first = decide(analysis, current, DecisionContext(opted_out_artists=opted_out))
    royalty_ids = [d.event_id for d in first if d.royalty is not None]
    paid = paid_royalty_ids(_es, indices, royalty_ids)
    if not paid:
        return first
    return decide(analysis, current, DecisionContext(opted_out_artists=opted_out, paid_royalty_ids=paid))


async def _decide_with_retry(analysis: TrackAnalyzed) -> list[Decision]:
    """Policies and opt-outs live in Elasticsearch; while it is unreachable, wait rather than
    decide under the wrong policy."""
    backoff = 0.5
    while True:
        try:
            return await asyncio.to_thread(decide_now, analysis)
        except (EsConnectionError, TransportError) as exc:
            log.warning("decide waiting for elasticsearch", error=str(exc), retry_in_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)


@app.agent(reviews_topic, concurrency=1)
async def apply_review(stream: StreamT[bytes]) -> None:
    """A reviewer's action becomes the track's new verdict (the audit entry is the index
    agent's: it reads the same topic)."""
    async for event in stream.events():
        try:
            review = parse_event(event.value, ReviewAction)
        except EventParseError as exc:
            await dead_letter(event, "review", exc)
            continue
        decision = review_decision(review)
        await decision_topics[decision.action].send(key=decision.track_id.encode(), value=decision.to_bytes())
        log.info("reviewed", track_id=review.track_id, action=review.action, outcome=decision.action.value)


def parse_indexable(raw: bytes) -> IndexableEvent:
    try:
        event_type = json.loads(raw).get("event_type")
    except (ValueError, AttributeError) as exc:
        raise EventParseError(f"not a JSON object: {exc}") from exc
    if event_type == "track_analyzed":
        return parse_event(raw, TrackAnalyzed)
    if event_type == "decision":
        return parse_event(raw, Decision)
    if event_type == "review_action":
        return parse_event(raw, ReviewAction)
    raise EventParseError(f"unexpected event_type {event_type!r} on an indexed topic")


@app.agent(indexable_topic, concurrency=1)
async def index(stream: StreamT[bytes]) -> None:
    assert isinstance(stream, Stream)  # the runtime stream batches; the StreamT protocol does not say so
    es = AsyncElasticsearch(settings.es_url, request_timeout=30)
    try:
        async for batch in stream.take_events(settings.index_batch_size, within=settings.index_batch_seconds):
            parsed: list[tuple[EventT[bytes], IndexableEvent]] = []
            for event in batch:
                try:
                    parsed.append((event, parse_indexable(event.value)))
                except EventParseError as exc:
                    await dead_letter(event, "parse", exc)
            if parsed:
                await _index_until_written(es, parsed)
    finally:
        await es.close()


async def _index_until_written(
    es: AsyncElasticsearch, parsed: list[tuple[EventT[bytes], IndexableEvent]]
) -> None:
    """Write a batch; while Elasticsearch is unreachable, wait and retry rather than drop it."""
    backoff = 0.5
    while True:
        try:
            applied = await write_events(es, indices, [e for _, e in parsed])
            log.info("indexed", events=len(parsed), applied=applied)
            return
        except IndexWriteError as exc:
            refused_ids = {str(next(iter(f.values())).get("_id")) for f in exc.failures}
            for event, item in parsed:
                if item.event_id in refused_ids or item.track_id in refused_ids:
                    await dead_letter(event, "index", exc, item.track_id)
            return
        except (EsConnectionError, TransportError) as exc:
            log.warning("elasticsearch_unavailable", error=str(exc), retry_in_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
