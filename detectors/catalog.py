"""The catalog-match detector: candidates from inverted indices (behind `CatalogLookup`), then
alignment of the upload against each candidate's full fingerprints.

Three fingerprints work side by side: Chromaprint aligns frame by frame and gives precise segments
with bit error rates; spectral-peak landmarks (detectors/landmarks.py) find recordings that are
mixed under other audio, where Chromaprint's bits are lost; peak triplets (detectors/modified.py)
find recordings played faster or slower, or in another key. Each later one reports a segment only
where the earlier ones matched no recording for that stretch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol

import chromaprint
import numpy as np
import numpy.typing as npt

from detectors import covers, landmarks, modified
from detectors.audio import DecodedAudio
from detectors.fingerprint import chromaprint_fingerprint
from detectors.landmarks import Landmarks, QueryWindow
from detectors.matcher import (
    ITEM_CONTEXT_S,
    ITEM_SECONDS,
    Items,
    MatchParams,
    Span,
    align,
    as_items,
    query_windows,
    terms,
    totals,
)
from model.findings import (
    CatalogMatch,
    ChromaprintFingerprint,
    FindingResult,
    MatchSegment,
    RecordingMatch,
    RecordingMetadata,
)
from model.generation import GenerationRecord

DEFAULT_PARAMS = MatchParams()
DEFAULT_LANDMARK_PARAMS = landmarks.LandmarkParams()
DEFAULT_MODIFIED_PARAMS = modified.ModifiedParams()
NAME = "catalog_match"
VERSION = "0.2.3"
# a query window's step: how far past a ranked window a segment it only began is looked for
SCREEN_MARGIN_S = 7.5


@dataclass(frozen=True)
class Recording:
    """A registered reference (a catalog master, or a platform generation in the catalog of
    generated tracks): what it is and its full fingerprints."""

    metadata: RecordingMetadata | GenerationRecord
    items: Items
    landmarks: landmarks.Landmarks  # any order; the lookup keeps them `by_hash`
    peaks: modified.Peaks | None = None  # None: registered before the third fingerprint

    @cached_property
    def triplets(self) -> modified.Triplets | None:
        """Made from `peaks` when first aligned with (most candidates never are), kept `by_hash`."""
        return modified.by_hash(modified.triplets(self.peaks)) if self.peaks is not None else None

    @property
    def key(self) -> str:
        """The reference's id in its catalog: an ISRC, or a generation id."""
        if isinstance(self.metadata, GenerationRecord):
            return self.metadata.generation_id
        return self.metadata.isrc

    @classmethod
    def with_peaks(
        cls,
        metadata: RecordingMetadata | GenerationRecord,
        items: Items,
        marks: Landmarks,
        peaks: modified.Peaks | None,
    ) -> Recording:
        return cls(metadata, items, landmarks.by_hash(marks), peaks)


class CatalogLookup(Protocol):
    def candidates(self, window_terms: list[list[str]]) -> list[str]:
        """ISRCs of recordings sharing Chromaprint terms with any window, the best per window."""

    def landmark_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        """Per window, ISRCs of the recordings sharing the most landmark terms with it, best first."""

    def modified_candidates(self, window_terms: list[list[str]]) -> list[list[str]]:
        """Per window, ISRCs of the recordings sharing the most triplet terms with it, best first."""

    def recordings(self, isrcs: list[str]) -> list[Recording]: ...


@dataclass(frozen=True)
class ReferencePrints:
    """The fingerprints of a recording being registered."""

    chromaprint: ChromaprintFingerprint
    landmarks: landmarks.Landmarks  # any order; the lookup keeps them `by_hash`
    peaks: modified.Peaks
    cover: covers.CoverPrint | None = None  # taken for recordings that name their composition


def reference_prints(audio: DecodedAudio, with_cover: bool = False) -> ReferencePrints:
    at_8k = landmarks.resampled(audio.samples, audio.sample_rate)  # once, for both peak prints
    marks = landmarks.landmarks(at_8k, landmarks.RATE)
    peaks = modified.reference_peaks(at_8k, landmarks.RATE)
    cover = covers.cover_print(audio.samples, audio.sample_rate) if with_cover else None
    return ReferencePrints(chromaprint_fingerprint(audio), marks, peaks, cover)


@dataclass(frozen=True)
class QueryPrints:
    """An upload's fingerprints as the matchers query with them (taken once per upload, whatever
    the number of catalogs searched), and what each search derives from them, made on first use
    and then shared by every matcher given these prints (the catalog's, the generated tracks')."""

    items: Items
    landmarks: landmarks.Landmarks | None
    peaks: modified.Peaks | None

    @cached_property
    def window_terms(self) -> list[list[str]]:
        return [terms(window) for window in query_windows(self.items)]

    @cached_property
    def landmark_windows(self) -> list[QueryWindow]:
        return landmarks.query_terms(self.landmarks) if self.landmarks is not None else []

    @cached_property
    def landmark_order(self) -> npt.NDArray[np.int64]:
        if self.landmarks is None:
            raise ValueError("no landmarks to order")
        return landmarks.hash_order(self.landmarks)

    @cached_property
    def landmark_starts_s(self) -> npt.NDArray[np.float64]:
        if self.landmarks is None:
            raise ValueError("no landmarks to place")
        starts: npt.NDArray[np.float64] = self.landmarks[:, 1] / landmarks.FRAMES_PER_SECOND
        return starts

    @cached_property
    def modified_windows(self) -> list[QueryWindow]:
        return modified.query_terms(self.peaks) if self.peaks is not None else []

    @cached_property
    def triplets(self) -> modified.Triplets:
        if self.peaks is None:
            raise ValueError("no peaks to make triplets of")
        return modified.query_triplets(self.peaks)

    @cached_property
    def triplet_order(self) -> npt.NDArray[np.int64]:
        return modified.hash_order(self.triplets)

    @cached_property
    def triplet_starts_s(self) -> npt.NDArray[np.float64]:
        starts: npt.NDArray[np.float64] = self.triplets[:, 1] / modified.FRAMES_PER_SECOND
        return starts


def query_prints(audio: DecodedAudio, earlier: Mapping[str, FindingResult]) -> QueryPrints:
    fingerprint = earlier.get("chromaprint")
    if not isinstance(fingerprint, ChromaprintFingerprint):
        raise ValueError("catalog matching needs the chromaprint fingerprint, which is missing")
    at_8k = landmarks.resampled(audio.samples, audio.sample_rate)  # once, for both peak prints
    return QueryPrints(
        decode_items(fingerprint.fingerprint),
        landmarks.landmarks(at_8k, landmarks.RATE),
        modified.upload_peaks(at_8k, landmarks.RATE),
    )


def decode_items(compressed: str) -> Items:
    raw, _ = chromaprint.decode_fingerprint(compressed.encode())
    return as_items(raw)


class CatalogMatcher:
    def __init__(
        self,
        lookup: CatalogLookup,
        params: MatchParams = DEFAULT_PARAMS,
        landmark_params: landmarks.LandmarkParams = DEFAULT_LANDMARK_PARAMS,
        modified_params: modified.ModifiedParams = DEFAULT_MODIFIED_PARAMS,
    ) -> None:
        self.lookup = lookup
        self.params = params
        self.landmark_params = landmark_params
        self.modified_params = modified_params

    def __call__(self, prints: QueryPrints) -> CatalogMatch:
        items = prints.items
        upload_s = len(items) * ITEM_SECONDS + ITEM_CONTEXT_S
        if upload_s < self.params.min_upload_s or len(items) == 0:
            return CatalogMatch(matches=[], candidates_considered=0, too_short=True)
        found, considered = self.prints_segments(prints)
        matches = [
            _recording_match(recording, segments, upload_s)
            for recording, segments in found
            if isinstance(recording.metadata, RecordingMetadata)
        ]
        matches.sort(key=lambda m: (-m.seconds_matched, m.isrc))
        return CatalogMatch(matches=matches, candidates_considered=considered, too_short=False)

    def match(
        self, items: Items, marks: landmarks.Landmarks | None = None, peaks: modified.Peaks | None = None
    ) -> CatalogMatch:
        return self(QueryPrints(items, marks, peaks))

    def segments(
        self, items: Items, marks: landmarks.Landmarks | None = None, peaks: modified.Peaks | None = None
    ) -> tuple[list[tuple[Recording, list[MatchSegment]]], int]:
        return self.prints_segments(QueryPrints(items, marks, peaks))

    def prints_segments(self, prints: QueryPrints) -> tuple[list[tuple[Recording, list[MatchSegment]]], int]:
        """Each reference the upload matches with its segments (in upload order), and how many
        candidates were considered."""
        items, marks, peaks = prints.items, prints.landmarks, prints.peaks
        isrcs = self.lookup.candidates(prints.window_terms)
        recordings = self.lookup.recordings(isrcs)
        by_chromaprint = {r.key: self._chromaprint_segments(items, r) for r in recordings}
        if marks is not None:
            # Landmarks search only what Chromaprint left unexplained: where Chromaprint matched
            # any recording, the audio *is* that recording (a mix loud enough to matter would
            # have broken its bits), and other recordings' landmarks there are material the two
            # share (a drum loop, a riff), not a second source.
            explained = [s for segments in by_chromaprint.values() for s in segments]
            windows = [
                w
                for w in prints.landmark_windows
                if _unexplained_s(w.start_s, w.end_s, explained) >= self.landmark_params.min_segment_s / 2
            ]
            ranked_in = _ranked_in(windows, self.lookup.landmark_candidates([w.terms for w in windows]))
            more = [i for i in ranked_in if i not in by_chromaprint]
            for recording in self.lookup.recordings(more):
                if self._landmarks_line_up_where_ranked(
                    prints, marks, recording.landmarks, ranked_in[recording.key]
                ):
                    recordings.append(recording)
                    by_chromaprint[recording.key] = self._chromaprint_segments(items, recording)
            isrcs += more
        explained = [s for segments in by_chromaprint.values() for s in segments]
        found: dict[str, list[MatchSegment]] = {}
        for recording in recordings:
            segments = by_chromaprint[recording.key]
            if marks is not None:
                segments = segments + [
                    _match_segment(
                        s,
                        "landmarks",
                        aligned_landmarks=s.aligned,
                        peak_hit_rate=s.peak_hit_rate,
                        score=s.score,
                    )
                    for s in landmarks.align(
                        marks, recording.landmarks, self.landmark_params, prints.landmark_order
                    )
                    if _unexplained_s(s.upload_start_s, s.upload_end_s, explained) > 0.5 * s.duration_s
                ]
            found[recording.key] = segments
        if peaks is not None:
            isrcs += self._modified(prints, peaks, recordings, found)
        matched = [
            (recording, sorted(found[recording.key], key=lambda s: s.upload_start_s))
            for recording in recordings
            if found[recording.key]
        ]
        return matched, len(set(isrcs))

    def _modified(
        self,
        prints: QueryPrints,
        peaks: modified.Peaks,
        recordings: list[Recording],
        found: dict[str, list[MatchSegment]],
    ) -> list[str]:
        """Triplets search what Chromaprint and landmarks left unexplained, among the
        candidates the triplet index gives and those Chromaprint or landmarks matched somewhere
        (a modified stretch beside a matched one); returns the ISRCs it added. Candidates that
        neither index ranked for their quads nor matched otherwise are not aligned: at 10,000
        recordings they are most of the candidates, and making their triplets most of the time."""
        p = self.modified_params
        explained = [s for segments in found.values() for s in segments]
        windows = [
            w
            for w in prints.modified_windows
            if _unexplained_s(w.start_s, w.end_s, explained) >= p.min_segment_s / 2
        ]
        if not windows:
            return []
        ranked_in = _ranked_in(windows, self.lookup.modified_candidates([w.terms for w in windows]))
        more = [i for i in ranked_in if i not in found]
        for recording in self.lookup.recordings(more):
            recordings.append(recording)
            found[recording.key] = []
        worth_aligning = set(ranked_in) | {key for key, segments in found.items() if segments}
        for recording in recordings:
            if recording.key not in worth_aligning or recording.peaks is None or recording.triplets is None:
                continue
            # a recording matched elsewhere is searched everywhere; one only ranked, first where ranked
            if not found[recording.key] and not self._lines_up_where_ranked(
                prints, recording.triplets, ranked_in[recording.key]
            ):
                continue
            found[recording.key] += [
                _match_segment(
                    s,
                    "modified",
                    aligned_landmarks=s.aligned,
                    peak_hit_rate=s.peak_hit_rate,
                    tempo_factor=s.tempo_factor,
                    pitch_shift_semitones=s.pitch_shift_semitones,
                    modification=modified.modification(s.tempo_factor, s.pitch_shift_semitones),
                    score=s.score,
                )
                for s in modified.align(
                    peaks, prints.triplets, recording.peaks, recording.triplets, p, prints.triplet_order
                )
                if _unexplained_s(s.upload_start_s, s.upload_end_s, explained) > 0.5 * s.duration_s
            ]
        return more

    def _lines_up_where_ranked(
        self, prints: QueryPrints, reference: modified.Triplets, ranked_in: list[QueryWindow]
    ) -> bool:
        """Whether a quad candidate is worth aligning with the whole upload: in a long upload most
        candidates were ranked for one window by chance (at 10,000 recordings, some 170 per
        three-minute upload, nearly all of them noise), so first the triplets of the windows it
        was ranked for, and a step beside them (where a segment a window only began goes on),
        must line up with it at all. A candidate ranked for most of the upload is aligned at
        once. The price: a long segment so sparse that the stretch checked holds fewer than
        `min_aligned` of its triplets is lost when the index ranked it only there."""
        rows = _checked_rows(prints.triplet_starts_s, prints.triplet_order, ranked_in)
        return rows is None or modified.shares_a_line(prints.triplets, reference, self.modified_params, rows)

    def _landmarks_line_up_where_ranked(
        self, prints: QueryPrints, marks: Landmarks, reference: Landmarks, ranked_in: list[QueryWindow]
    ) -> bool:
        """The same first look for a candidate only the landmark index gave: its landmarks must
        be shared at one offset where it was ranked, or neither Chromaprint nor landmarks align it
        (at 10,000 recordings some 300 such candidates a three-minute upload, each otherwise
        aligned by both over the whole upload); the quad index may still rank it and triplets
        align it. The price, as for triplets: a long, sparse segment whose checked stretch holds
        fewer than `min_aligned` landmarks at one offset is lost."""
        rows = _checked_rows(prints.landmark_starts_s, prints.landmark_order, ranked_in)
        return rows is None or landmarks.lines_up(marks, reference, self.landmark_params, rows)

    def _chromaprint_segments(self, items: Items, recording: Recording) -> list[MatchSegment]:
        return [
            _match_segment(s, "chromaprint", bit_error_rate=s.bit_error_rate, score=round(s.score, 4))
            for s in align(items, recording.items, self.params)
        ]


def _ranked_in(windows: list[QueryWindow], hits: list[list[str]]) -> dict[str, list[QueryWindow]]:
    """Each candidate with the windows it was ranked for, in the order first ranked."""
    ranked: dict[str, list[QueryWindow]] = {}
    for window, isrcs in zip(windows, hits, strict=True):
        for isrc in isrcs:
            ranked.setdefault(isrc, []).append(window)
    return ranked


def _checked_rows(
    starts_s: npt.NDArray[np.float64], order: npt.NDArray[np.int64], ranked_in: list[QueryWindow]
) -> npt.NDArray[np.int64] | None:
    """The upload's rows (in hash `order`) a candidate is first checked on: those starting in the
    windows it was ranked for or a step either side; None when that is half the upload or more,
    and the candidate is aligned at once."""
    spans = [(w.start_s - SCREEN_MARGIN_S, w.end_s + SCREEN_MARGIN_S) for w in ranked_in]
    rows = landmarks.rows_within(starts_s, order, spans)
    return None if len(rows) >= len(order) / 2 else rows


def _unexplained_s(start: float, end: float, explained: list[MatchSegment]) -> float:
    """Seconds of [start, end] that no Chromaprint segment covers (the segments of one upload
    may overlap when several recordings match the same stretch)."""
    spans = sorted((max(start, s.upload_start_s), min(end, s.upload_end_s)) for s in explained)
    covered, reach = 0.0, start
    for lo, hi in spans:
        if hi > max(lo, reach):
            covered += hi - max(lo, reach)
            reach = hi
    return (end - start) - covered


class _Aligned(Span, Protocol):
    """A stretch of the upload and where it sits in the reference."""

    @property
    def reference_start_s(self) -> float: ...
    @property
    def reference_end_s(self) -> float: ...


def _match_segment(
    span: _Aligned, method: Literal["chromaprint", "landmarks", "modified"], **evidence: Any
) -> MatchSegment:
    return MatchSegment(
        upload_start_s=span.upload_start_s,
        upload_end_s=span.upload_end_s,
        reference_start_s=span.reference_start_s,
        reference_end_s=span.reference_end_s,
        method=method,
        **evidence,
    )


def _recording_match(recording: Recording, segments: list[MatchSegment], upload_s: float) -> RecordingMatch:
    sums = totals(segments, upload_s)
    longest = longest_segment(segments)
    return RecordingMatch(
        **recording.metadata.model_dump(),
        segments=segments,
        seconds_matched=sums.seconds_matched,
        share_of_upload=sums.share_of_upload,
        longest_segment_s=sums.longest_segment_s,
        score=sums.score,
        modification=longest.modification,
        tempo_factor=longest.tempo_factor,
        pitch_shift_semitones=longest.pitch_shift_semitones,
    )


def longest_segment(segments: list[MatchSegment]) -> MatchSegment:
    return max(segments, key=lambda s: s.upload_end_s - s.upload_start_s)
