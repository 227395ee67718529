"""Which platform generation an upload comes from: by the Content Credential it carries when that
is trusted, else by its fingerprints in the catalog of generated tracks (the same three prints and
rules as catalog matching, so sped-up, slowed, pitch-shifted and mixed copies are found too).

The AudioSeal payload has 16 bits, generator and model version: enough to say which generator
made a track, not which of its generations. So it narrows the search instead: when the
fingerprints find nothing among all generations, they search again among those marked with the
detected payload (same rules). A generation found where the payload agrees is reported as found
by the watermark; a payload that disagrees is left out."""

from __future__ import annotations

from typing import Protocol

from detectors.catalog import CatalogLookup, CatalogMatcher, QueryPrints, longest_segment
from detectors.matcher import ITEM_CONTEXT_S, ITEM_SECONDS, totals
from model.findings import ContentCredentials, GenerationMatch, MatchSegment, WatermarkDetection
from model.generation import GenerationRecord

NAME = "generation"
VERSION = "0.1.2"
# A generation record says who made a track and from what, so a short stretch is not enough:
# two songs of one style can share a few seconds of look-alike peaks (the benchmark saw a 5.8 s
# landmark stretch between two different songs of one generator, among 300 clips x 100 tracks).
MIN_SECONDS = 8.0


class GeneratedLookup(CatalogLookup, Protocol):
    def generation(self, generation_id: str) -> GenerationRecord | None:
        """The record of a registered generation; None if there is none of that id."""

    def with_payload(self, payload: int) -> GeneratedLookup:
        """The same lookup over the generations marked with one watermark payload only."""


class GenerationFinder:
    def __init__(self, lookup: GeneratedLookup) -> None:
        self.lookup = lookup
        self.matcher = CatalogMatcher(lookup)

    def __call__(
        self,
        prints: QueryPrints | None,
        credentials: ContentCredentials | None,
        watermark: WatermarkDetection | None,
    ) -> GenerationMatch:
        if credentials is not None and credentials.state == "trusted" and credentials.generation_id:
            record = self.lookup.generation(credentials.generation_id)
            if record is not None:
                return GenerationMatch(record=record, recovered_by="manifest")
        if prints is None:
            return GenerationMatch()
        upload_s = len(prints.items) * ITEM_SECONDS + ITEM_CONTEXT_S
        if upload_s < self.matcher.params.min_upload_s:
            return GenerationMatch()
        generations, considered = self._search(self.matcher, prints)
        if not generations and _registered_payload(watermark) is not None:
            # the payload narrows the search to one generator version's tracks, where an
            # excerpt under other music ranks high enough to be aligned; the rules are the same
            narrowed = CatalogMatcher(self.lookup.with_payload(_registered_payload(watermark) or 0))
            generations, more = self._search(narrowed, prints)
            considered += more
        if not generations:
            return GenerationMatch(candidates_considered=considered)
        record, segments = max(generations, key=lambda g: (_seconds(g[1], upload_s), g[0].generation_id))
        longest = longest_segment(segments)
        return GenerationMatch(
            record=record,
            recovered_by="watermark" if _payload_agrees(watermark, record) else "fingerprint",
            segments=segments,
            seconds_matched=_seconds(segments, upload_s),
            modification=longest.modification,
            tempo_factor=longest.tempo_factor,
            pitch_shift_semitones=longest.pitch_shift_semitones,
            candidates_considered=considered,
        )

    @staticmethod
    def _search(
        matcher: CatalogMatcher, prints: QueryPrints
    ) -> tuple[list[tuple[GenerationRecord, list[MatchSegment]]], int]:
        found, considered = matcher.prints_segments(prints)
        upload_s = len(prints.items) * ITEM_SECONDS + ITEM_CONTEXT_S
        generations = [
            (recording.metadata, segments)
            for recording, segments in found
            if isinstance(recording.metadata, GenerationRecord)
            and _seconds(segments, upload_s) >= MIN_SECONDS
        ]
        return generations, considered


def _registered_payload(watermark: WatermarkDetection | None) -> int | None:
    """The payload of a detected watermark that names a registered generator."""
    if watermark is None or not watermark.detected or watermark.generator_registered is False:
        return None
    return watermark.payload


def _seconds(segments: list[MatchSegment], upload_s: float) -> float:
    return totals(segments, upload_s).seconds_matched


def _payload_agrees(watermark: WatermarkDetection | None, record: GenerationRecord) -> bool:
    return (
        watermark is not None
        and watermark.detected
        and watermark.payload is not None
        and watermark.payload == record.watermark_payload
    )
