"""Catalog matching on Chromaprint fingerprints: which seconds of an upload come from which
reference recording. Pure numpy; candidate retrieval (the inverted index) is elsewhere.

Retrieval terms: each fingerprint item (32 bits) gives two terms, its upper and lower 16 bits.
A short noisy excerpt rarely keeps all 32 bits of an item (AcoustID's whole-file terms keep 28),
but often keeps one half, so half-item terms find candidates for 5-second clips.

Alignment, per candidate:
1. offset voting: item halves shared by upload and reference vote for `ref_pos - upload_pos`;
   the histogram is smoothed over ±2 items so a slight tempo drift still piles up;
2. every good peak (not just the best) is followed: per-item bit errors along the offset, taking
   the best of ±2 neighbouring items so a drifting alignment is tracked;
3. across offsets each upload item keeps its best alignment; the errors are smoothed over ~1 s,
   items under the bit-error threshold are matched, and runs of matched items whose reference
   position moves steadily become segments (a jump = a new segment: medleys, loops, edits);
4. segments that are too short or too repetitive (few distinct items: silence, drones, loops)
   are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.fingerprint import ITEMS_PER_SECOND

Items = npt.NDArray[np.uint32]

SILENCE_ITEM = 627964279  # what libchromaprint emits for digital silence
ITEM_SECONDS = 1.0 / ITEMS_PER_SECOND
# Item i summarises ~2.6 s of audio from i * hop. A segment's edges are its first and last
# items that match well on their own (edge_ber); the offsets below turn those into times. They
# centre the errors measured on 120 medley boundaries of the benchmark corpus (bench/matching):
# first good item starts 0.33 s before the true start (median), last one ends 0.67 s after.
ITEM_CONTEXT_S = 2.6
START_LEAD_S = 0.33
END_LAG_S = ITEM_CONTEXT_S - 0.67


@dataclass(frozen=True)
class MatchParams:
    """Calibrated on the benchmark corpus (bench/matching; curve and figures in the README):
    true matches sit at bit error rate (BER) <= 0.06 after MP3, gain, 20 dB noise, low-pass and
    tempo +2 %; never-registered songs reach 0.08 only in short (< 3 s) stretches, from chord
    progressions and sounds that songs share, so short segments need a lower BER."""

    max_ber: float = 0.30  # smoothed per-item bit error rate under which an item matches
    max_segment_ber: float = 0.15  # a segment's mean bit error rate must stay under this…
    short_segment_ber: float = 0.06  # …tightening to this at min_segment_s: short runs match by chance more
    full_trust_segment_s: float = 8.0
    min_segment_s: float = 3.0
    min_distinct_share: float = 0.25  # distinct items / items in a segment (rejects loops, drones)
    smoothing_items: int = 8  # ~1 s
    drift_items: int = 2  # neighbouring items searched per offset (tempo drift)
    max_offsets: int = 12  # voting peaks followed per reference
    min_votes: int = 3
    max_key_repeats: int = 64  # a half-item that repeats more often in a reference carries no information
    max_jump_items: int = 4  # a larger step in reference position starts a new segment
    hysteresis_bits: float = 1.5  # keep the previous item's alignment unless another is clearly better
    edge_ber: float = 0.10  # a segment's first and last items must match at least this well
    min_upload_s: float = 3.0


@dataclass(frozen=True)
class Segment:
    upload_start_s: float
    upload_end_s: float
    reference_start_s: float
    reference_end_s: float
    bit_error_rate: float

    @property
    def duration_s(self) -> float:
        return self.upload_end_s - self.upload_start_s

    @property
    def score(self) -> float:
        return max(0.0, 1.0 - 2.0 * self.bit_error_rate)


def as_items(values: list[int] | npt.NDArray[np.generic]) -> Items:
    return (np.asarray(values, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)


def popcount(values: Items) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[np.uint8] = np.bitwise_count(values.astype(np.uint32, copy=False))
    return out


def terms(items: Items) -> list[str]:
    """Distinct retrieval terms of a fingerprint (silence excluded)."""
    kept = items[items != SILENCE_ITEM]
    high = np.unique(kept >> 16)
    low = np.unique(kept & 0xFFFF)
    return [f"h{v:04x}" for v in high] + [f"l{v:04x}" for v in low]


def query_windows(items: Items, window_s: float = 15.0, step_s: float = 7.5) -> list[Items]:
    """Overlapping windows of an upload, each looked up on its own so that every part of a
    long upload or medley gets its own candidates."""
    window, step = int(window_s * ITEMS_PER_SECOND), int(step_s * ITEMS_PER_SECOND)
    if len(items) <= window:
        return [items]
    starts = list(range(0, len(items) - window + 1, step))
    if starts[-1] + window < len(items):
        starts.append(len(items) - window)
    return [items[s : s + window] for s in starts]


def _half_keys(items: Items) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Upper halves as-is and lower halves offset by 2^16, so both live in one key space."""
    keys = np.concatenate([(items >> 16).astype(np.int64), (items & 0xFFFF).astype(np.int64) + (1 << 16)])
    positions = np.concatenate([np.arange(len(items)), np.arange(len(items))])
    silent = np.concatenate([items == SILENCE_ITEM, items == SILENCE_ITEM])
    return keys[~silent], positions[~silent]


def _vote(query: Items, ref: Items, params: MatchParams) -> list[int]:
    q_keys, q_pos = _half_keys(query)
    r_keys, r_pos = _half_keys(ref)
    order = np.argsort(r_keys, kind="stable")
    r_sorted, r_pos_sorted = r_keys[order], r_pos[order]
    left = np.searchsorted(r_sorted, q_keys, "left")
    right = np.searchsorted(r_sorted, q_keys, "right")
    counts = right - left
    counts[counts > params.max_key_repeats] = 0
    total = int(counts.sum())
    if total == 0:
        return []
    starts = np.repeat(left, counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    offsets = r_pos_sorted[starts + within] - np.repeat(q_pos, counts)
    shift = len(query)
    histogram = np.bincount(offsets + shift, minlength=len(ref) + len(query) + 1).astype(np.float64)
    kernel = np.ones(2 * params.drift_items + 1)
    smoothed = np.convolve(histogram, kernel, mode="same")
    peaks: list[int] = []
    for index in np.argsort(smoothed)[::-1]:
        if smoothed[index] < params.min_votes or len(peaks) >= params.max_offsets:
            break
        if all(abs(int(index) - p) > params.drift_items for p in peaks):
            peaks.append(int(index))
    return [p - shift for p in peaks]


def _errors_along(
    query: Items, ref: Items, offset: int, drift: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per upload item: the fewest bit errors against reference items near `offset`, and the
    reference index achieving it (inf / -1 where there is no reference item)."""
    n = len(query)
    best = np.full(n, np.inf)
    best_ref = np.full(n, -1, dtype=np.int64)
    q_index = np.arange(n)
    for d in range(-drift, drift + 1):
        r_index = q_index + offset + d
        valid = (r_index >= 0) & (r_index < len(ref))
        errors = np.full(n, np.inf)
        errors[valid] = popcount(query[valid] ^ ref[r_index[valid]])
        better = errors < best
        best[better] = errors[better]
        best_ref[better] = r_index[better]
    silent = query == SILENCE_ITEM
    best[silent] = np.inf
    return best, best_ref


def _smooth(errors: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    finite = np.isfinite(errors)
    kernel = np.ones(width)
    sums = np.convolve(np.where(finite, errors, 0.0), kernel, mode="same")
    counts = np.convolve(finite.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = np.where(counts >= width / 2, sums / np.maximum(counts, 1), np.inf)
    return smoothed


def align(query: Items, ref: Items, params: MatchParams | None = None) -> list[Segment]:
    """Every segment of `query` (the upload) that comes from `ref`, in upload order."""
    params = params or MatchParams()
    if len(query) * ITEM_SECONDS + ITEM_CONTEXT_S < params.min_upload_s or len(ref) == 0:
        return []
    offsets = _vote(query, ref, params)
    if not offsets:
        return []
    per_offset = [_errors_along(query, ref, offset, params.drift_items) for offset in offsets]
    smoothed = np.stack([_smooth(errors, params.smoothing_items) for errors, _ in per_offset])
    if not (smoothed <= params.max_ber * 32).any():
        return []  # no item close enough at any offset: the path below would match none
    ref_indices = np.stack([ref_index for _, ref_index in per_offset])
    best, best_ref = _follow(smoothed, ref_indices, params.hysteresis_bits)
    matched = best <= params.max_ber * 32
    found = _runs(matched, best_ref, params)
    for run in found:
        _settle(run, smoothed, ref_indices, best, best_ref)
    raw = popcount(query ^ ref[np.clip(best_ref, 0, len(ref) - 1)]).astype(np.float64)
    runs = (_trim(run, raw, params) for run in found)
    segments = (_segment(query, ref, best_ref, run, params) for run in runs)
    return _merge([segment for segment in segments if segment is not None])


def _merge(segments: list[Segment], tolerance_s: float = 0.5) -> list[Segment]:
    """Join touching or overlapping segments that place the upload at the same reference offset."""
    merged: list[Segment] = []
    for segment in sorted(segments, key=lambda s: s.upload_start_s):
        if merged:
            last = merged[-1]
            same_offset = (
                abs(
                    (last.reference_start_s - last.upload_start_s)
                    - (segment.reference_start_s - segment.upload_start_s)
                )
                <= tolerance_s
            )
            if same_offset and segment.upload_start_s <= last.upload_end_s + tolerance_s:
                span = last.duration_s + segment.duration_s
                merged[-1] = Segment(
                    upload_start_s=last.upload_start_s,
                    upload_end_s=max(last.upload_end_s, segment.upload_end_s),
                    reference_start_s=last.reference_start_s,
                    reference_end_s=max(last.reference_end_s, segment.reference_end_s),
                    bit_error_rate=round(
                        (last.bit_error_rate * last.duration_s + segment.bit_error_rate * segment.duration_s)
                        / span,
                        4,
                    ),
                )
                continue
        merged.append(segment)
    return merged


def _settle(
    run: tuple[int, int],
    smoothed: npt.NDArray[np.float64],
    ref_indices: npt.NDArray[np.int64],
    best: npt.NDArray[np.float64],
    best_ref: npt.NDArray[np.int64],
) -> None:
    """Where one offset explains a whole run clearly better than the item-by-item path (which
    can start on another repeat of a repeated section), align the run with that offset."""
    a, b = run
    means = smoothed[:, a:b].mean(axis=1)  # inf where an offset leaves the reference
    k = int(np.argmin(means))
    if np.isfinite(means[k]) and means[k] < best[a:b].mean() - _SETTLE_MARGIN_BITS:
        best[a:b] = smoothed[k, a:b]
        best_ref[a:b] = ref_indices[k, a:b]


_SETTLE_MARGIN_BITS = 0.25


def _trim(run: tuple[int, int], raw_errors: npt.NDArray[np.float64], params: MatchParams) -> tuple[int, int]:
    """Smoothing lets the items just outside a segment borrow good scores from inside it;
    drop edge items whose own bit errors (two at a time) say they do not match."""
    a, b = run
    limit = params.edge_ber * 32
    while b - a > 2 and raw_errors[a : a + 2].mean() > limit:
        a += 1
    while b - a > 2 and raw_errors[b - 2 : b].mean() > limit:
        b -= 1
    return a, b


def _follow(
    smoothed: npt.NDArray[np.float64], ref_indices: npt.NDArray[np.int64], hysteresis: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per upload item, the alignment to use: the best one, except that the previous item's
    alignment is kept while it is nearly as good (repeated bars must not break a segment)."""
    n = smoothed.shape[1]
    choice = np.argmin(smoothed, axis=0)
    for i in range(1, n):
        previous = choice[i - 1]
        if smoothed[previous, i] <= smoothed[choice[i], i] + hysteresis:
            choice[i] = previous
    columns = np.arange(n)
    return smoothed[choice, columns], ref_indices[choice, columns]


def _runs(
    matched: npt.NDArray[np.bool_], ref_index: npt.NDArray[np.int64], params: MatchParams
) -> list[tuple[int, int]]:
    """Maximal runs of matched items whose reference position advances steadily."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i in range(len(matched) + 1):
        inside = i < len(matched) and bool(matched[i])
        if start is not None:
            steady = inside and abs(int(ref_index[i]) - int(ref_index[i - 1]) - 1) <= params.max_jump_items
            if not steady:
                runs.append((start, i))
                start = None
        if inside and start is None:
            start = i
    return runs


def _segment(
    query: Items, ref: Items, ref_index: npt.NDArray[np.int64], run: tuple[int, int], params: MatchParams
) -> Segment | None:
    a, b = run
    items = query[a:b]
    upload_total = len(query) * ITEM_SECONDS + ITEM_CONTEXT_S
    upload_start = 0.0 if a == 0 else a * ITEM_SECONDS + START_LEAD_S
    upload_end = upload_total if b == len(query) else (b - 1) * ITEM_SECONDS + END_LAG_S
    if upload_end - upload_start < params.min_segment_s:
        return None
    if len(np.unique(items)) < params.min_distinct_share * len(items):
        return None  # silence, a drone or a short loop: nothing distinctive to match on
    refs = ref_index[a:b]
    audible = items != SILENCE_ITEM
    ber = float(popcount(items[audible] ^ ref[refs[audible]]).mean()) / 32 if audible.any() else 1.0
    if ber > _ber_ceiling(upload_end - upload_start, params):
        return None
    return Segment(
        upload_start_s=round(upload_start, 3),
        upload_end_s=round(upload_end, 3),
        reference_start_s=round(max(0.0, upload_start + (int(refs[0]) - a) * ITEM_SECONDS), 3),
        reference_end_s=round(max(0.0, upload_end + (int(refs[-1]) - (b - 1)) * ITEM_SECONDS), 3),
        bit_error_rate=round(ber, 4),
    )


def _ber_ceiling(duration_s: float, params: MatchParams) -> float:
    span = params.full_trust_segment_s - params.min_segment_s
    trust = min(1.0, max(0.0, (duration_s - params.min_segment_s) / span)) if span > 0 else 1.0
    return params.short_segment_ber + trust * (params.max_segment_ber - params.short_segment_ber)


@dataclass(frozen=True)
class RecordingTotals:
    seconds_matched: float
    share_of_upload: float
    longest_segment_s: float
    score: float


class Span(Protocol):
    @property
    def upload_start_s(self) -> float: ...

    @property
    def upload_end_s(self) -> float: ...

    @property
    def score(self) -> float: ...


def totals(segments: Sequence[Span], upload_seconds: float) -> RecordingTotals:
    """Seconds of the upload covered by any segment (overlaps counted once), and so on."""
    covered = 0.0
    end = -1.0
    for segment in sorted(segments, key=lambda s: s.upload_start_s):
        start = max(segment.upload_start_s, end)
        if segment.upload_end_s > start:
            covered += segment.upload_end_s - start
            end = segment.upload_end_s
    lengths = [s.upload_end_s - s.upload_start_s for s in segments]
    score = sum(s.score * n for s, n in zip(segments, lengths, strict=True)) / (sum(lengths) or 1.0)
    return RecordingTotals(
        seconds_matched=round(covered, 3),
        share_of_upload=round(min(1.0, covered / upload_seconds) if upload_seconds > 0 else 0.0, 4),
        longest_segment_s=round(max(lengths, default=0.0), 3),
        score=round(score, 4),
    )
