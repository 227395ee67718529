"""The catalog-match detector: candidates from an inverted index (behind `CatalogLookup`),
then alignment of the upload against each candidate's full fingerprint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import chromaprint

from detectors.findings import (
    CatalogMatch,
    ChromaprintFingerprint,
    FindingResult,
    MatchSegment,
    RecordingMatch,
    RecordingMetadata,
)
from detectors.matcher import (
    ITEM_CONTEXT_S,
    ITEM_SECONDS,
    Items,
    MatchParams,
    Segment,
    align,
    as_items,
    query_windows,
    terms,
    totals,
)

DEFAULT_PARAMS = MatchParams()
NAME = "catalog_match"
VERSION = "0.1.0"


@dataclass(frozen=True)
class Recording:
    """A registered recording: its rights metadata and its full fingerprint."""

    metadata: RecordingMetadata
    items: Items


class CatalogLookup(Protocol):
    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        """ISRCs of recordings sharing terms with any window, best first."""

    def recordings(self, isrcs: list[str]) -> list[Recording]: ...


def decode_items(compressed: str) -> Items:
    raw, _ = chromaprint.decode_fingerprint(compressed.encode())
    return as_items(raw)


class CatalogMatcher:
    def __init__(self, lookup: CatalogLookup, params: MatchParams = DEFAULT_PARAMS) -> None:
        self.lookup = lookup
        self.params = params

    def __call__(self, earlier: Mapping[str, FindingResult]) -> CatalogMatch:
        fingerprint = earlier.get("chromaprint")
        if not isinstance(fingerprint, ChromaprintFingerprint):
            raise ValueError("catalog matching needs the chromaprint fingerprint, which is missing")
        return self.match(decode_items(fingerprint.fingerprint))

    def match(self, items: Items) -> CatalogMatch:
        upload_s = len(items) * ITEM_SECONDS + ITEM_CONTEXT_S
        if upload_s < self.params.min_upload_s or len(items) == 0:
            return CatalogMatch(matches=[], candidates_considered=0, too_short=True)
        isrcs = self.lookup.candidates([terms(window) for window in query_windows(items)])
        matches = []
        for recording in self.lookup.recordings(isrcs):
            segments = align(items, recording.items, self.params)
            if segments:
                matches.append(_recording_match(recording, segments, upload_s))
        matches.sort(key=lambda m: (-m.seconds_matched, m.isrc))
        return CatalogMatch(matches=matches, candidates_considered=len(isrcs), too_short=False)


def _recording_match(recording: Recording, segments: list[Segment], upload_s: float) -> RecordingMatch:
    sums = totals(segments, upload_s)
    return RecordingMatch(
        **recording.metadata.model_dump(),
        segments=[
            MatchSegment(
                upload_start_s=s.upload_start_s,
                upload_end_s=s.upload_end_s,
                reference_start_s=s.reference_start_s,
                reference_end_s=s.reference_end_s,
                bit_error_rate=s.bit_error_rate,
                score=round(s.score, 4),
            )
            for s in segments
        ],
        seconds_matched=sums.seconds_matched,
        share_of_upload=sums.share_of_upload,
        longest_segment_s=sums.longest_segment_s,
        score=sums.score,
    )
