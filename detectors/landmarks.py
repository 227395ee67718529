"""Spectral-peak landmarks: a fingerprint that survives mixing (the idea of Wang's Shazam paper
and of audfprint), used beside Chromaprint.

Chromaprint summarises the whole spectrum of each frame, so an equal-loudness mix with another
song changes most of its bits. The strongest time-frequency peaks of a recording, though, mostly
stay peaks in a mix: each landmark is a pair of nearby peaks, hashed as (anchor frequency,
frequency step, time step), and stored with the anchor's time. A match is many landmarks that
the upload and a reference share *at one time offset*; unrelated audio shares a few at scattered
offsets.

Pure numpy/scipy. Audio at any rate is resampled to 8 kHz (peaks up to 4 kHz, the part of the
spectrum that survives low-pass filtering and low bit rates).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter, uniform_filter1d
from scipy.signal import resample_poly

from detectors.spectrum import frame_magnitudes

VERSION = "2.0.0"

RATE = 8000
N_FFT = 512
HOP = 256
FRAMES_PER_SECOND = RATE / HOP  # 31.25
LOWEST_BIN = 4  # under ~60 Hz: rumble, hum
PEAK_FREQ_RADIUS = 12  # a peak is the largest value within ±12 bins (±190 Hz)
MAX_PEAKS_PER_FRAME = 4
MASK_DECAY_DB = 0.1  # per frame (3 dB a second): how fast a peak's masking threshold fades
MASK_SPREAD_BINS = 8  # how far in frequency a peak masks its neighbours (Gaussian sd)
MIN_PROMINENCE_DB = 6.0  # above the local spectral level; flat noise and silence give nothing
FAN_OUT = 4  # targets paired with each anchor
MIN_DT = 4  # frames (~130 ms): pairs closer in time describe one sound (its timbre), not the music's timing
MAX_DT = 48  # frames (~1.5 s) ahead of the anchor
MAX_DF = 63  # bins either side
_DT_BITS, _DF_BITS = 6, 7


Landmarks = npt.NDArray[np.uint32]  # N x 2: (hash, anchor frame), sorted by frame


def spectrogram_db(samples: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float32]:
    """Frames x bins, in dB."""
    x = resampled(samples, sample_rate)
    if len(x) < N_FFT:
        return np.zeros((0, N_FFT // 2 + 1), dtype=np.float32)
    decibels: npt.NDArray[np.float32] = (20.0 * np.log10(magnitude_spectrogram(x, N_FFT, HOP) + 1e-6)).astype(
        np.float32
    )
    return decibels


def magnitude_spectrogram(x: npt.NDArray[np.float32], n_fft: int, hop: int) -> npt.NDArray[np.float32]:
    """Frames x bins of a Hann-windowed STFT's magnitude, frames wholly inside `x`."""
    return frame_magnitudes(x, n_fft, hop, np.hanning(n_fft).astype(np.float32))


def resampled(samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """Mono audio at RATE, the rate landmarks and triplets are taken at (as it is, if it is)."""
    x = np.asarray(samples, dtype=np.float32)
    if rate == RATE:
        return x
    g = gcd(RATE, rate)
    out: npt.NDArray[np.float32] = resample_poly(x, RATE // g, rate // g).astype(np.float32)
    return out


def peaks(spec: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(frames, bins) of onset peaks: spectral maxima that rise above a threshold which each
    earlier peak raises around its frequency and which decays over time (audfprint's masking).
    A sustained tone gives a peak when it starts, not one per frame, so songs that merely share
    a chord or a timbre share few landmarks; the picking depends on no block boundaries, so an
    excerpt picks the same peaks as the whole recording."""
    if spec.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    spec = spec[:, LOWEST_BIN : N_FFT // 2]  # anchor bins fit in 8 bits
    level = uniform_filter1d(uniform_filter1d(spec, 31, axis=1, mode="nearest"), 9, axis=0, mode="nearest")
    freq_max = maximum_filter(spec, size=(1, 2 * PEAK_FREQ_RADIUS + 1), mode="nearest")
    candidate = (spec == freq_max) & (spec - level >= MIN_PROMINENCE_DB)
    offsets = np.arange(-3 * MASK_SPREAD_BINS, 3 * MASK_SPREAD_BINS + 1)
    skirt = 0.5 * (offsets / MASK_SPREAD_BINS) ** 2 * 8.686  # a Gaussian's fall-off, in dB
    width = spec.shape[1]
    threshold = np.full(width + 2 * len(offsets), -np.inf, dtype=np.float64)
    pad = len(offsets)
    frames, bins = [], []
    for t in range(spec.shape[0]):
        threshold -= MASK_DECAY_DB
        row = spec[t]
        above = np.nonzero(candidate[t] & (row > threshold[pad : pad + width]))[0]
        if len(above) > MAX_PEAKS_PER_FRAME:
            above = above[np.argsort(row[above])[::-1][:MAX_PEAKS_PER_FRAME]]
        for b in above:
            span = slice(pad + b + offsets[0], pad + b + offsets[-1] + 1)
            threshold[span] = np.maximum(threshold[span], row[b] - skirt)
            frames.append(t)
            bins.append(b + LOWEST_BIN)
    return np.asarray(frames, dtype=np.int64), np.asarray(bins, dtype=np.int64)


def pair_hash(
    f1: npt.NDArray[np.int64], df: npt.NDArray[np.int64], dt: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint32]:
    """21 bits: anchor bin (8), frequency step (7), time step (6)."""
    return ((f1 << (_DF_BITS + _DT_BITS)) | ((df + MAX_DF) << _DT_BITS) | dt).astype(np.uint32)


def landmarks_from_peaks(frames: npt.NDArray[np.int64], bins: npt.NDArray[np.int64]) -> Landmarks:
    """Each peak paired with up to FAN_OUT of the peaks after it (nearest in time first) that lie
    within MAX_DT frames and MAX_DF bins."""
    hashes, anchor_times, anchors, steps = [], [], [], []
    for step in range(1, min(len(frames), 8 * FAN_OUT)):
        dt = frames[step:] - frames[:-step]
        df = bins[step:] - bins[:-step]
        ok = np.nonzero((dt >= MIN_DT) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF))[0]
        hashes.append(pair_hash(bins[ok], df[ok], dt[ok]))
        anchor_times.append(frames[ok])
        anchors.append(ok)
        steps.append(np.full(len(ok), step))
    if not hashes:
        return np.zeros((0, 2), dtype=np.uint32)
    anchor = np.concatenate(anchors)
    order = np.lexsort((np.concatenate(steps), anchor))
    rank = np.arange(len(order)) - np.searchsorted(anchor[order], anchor[order], side="left")
    chosen = order[rank < FAN_OUT]
    times = np.concatenate(anchor_times)[chosen].astype(np.uint32)
    out = np.stack([np.concatenate(hashes)[chosen], times], axis=1)
    return out[np.argsort(out[:, 1], kind="stable")]


def landmarks(samples: npt.NDArray[np.float32], sample_rate: int) -> Landmarks:
    return landmarks_from_peaks(*peaks(spectrogram_db(samples, sample_rate)))


# ------------------------------------------------------------------ storage and retrieval terms


def pack(marks: Landmarks) -> str:
    """Compact text form for the catalog document: per landmark 3 bytes hash + 2 bytes frame
    (frames up to 65,535 ≈ 35 minutes)."""
    h = marks[:, 0].astype(">u4").view(np.uint8).reshape(-1, 4)[:, 1:]
    t = np.minimum(marks[:, 1], 65535).astype(">u2").view(np.uint8).reshape(-1, 2)
    return base64.b64encode(np.concatenate([h, t], axis=1).tobytes()).decode("ascii")


def unpack(text: str) -> Landmarks:
    raw = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(-1, 5).astype(np.uint32)
    h = (raw[:, 0] << 16) | (raw[:, 1] << 8) | raw[:, 2]
    t = (raw[:, 3] << 8) | raw[:, 4]
    return np.stack([h, t], axis=1)


def _mixed(hashes: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
    out: npt.NDArray[np.uint64] = (hashes.astype(np.uint64) * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    return out


def is_retrieval_term(hashes: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """Half of all hashes, chosen by a mix of their bits (the same half for uploads and
    references), go into the inverted index: half the postings, and still dozens of shared terms
    for a mixed excerpt."""
    chosen: npt.NDArray[np.bool_] = (_mixed(hashes) >> np.uint64(16)) % np.uint64(2) == 0
    return chosen


def retrieval_terms(marks: Landmarks, limit: int | None = None) -> list[str]:
    """The marks' distinct retrieval terms; with `limit`, a fixed pseudo-random subset of that
    size (a search's cost grows with its terms; a few hundred find the master as well)."""
    hashes = np.unique(marks[:, 0])
    hashes = hashes[is_retrieval_term(hashes)]
    if limit is not None and len(hashes) > limit:
        hashes = np.sort(hashes[np.argsort(_mixed(hashes) & np.uint64(0xFFFF))[:limit]])
    return [format(int(h), "x") for h in hashes]


QUERY_TERMS_PER_WINDOW = 150


@dataclass(frozen=True)
class QueryWindow:
    """One stretch of an upload and the landmark terms it searches the index with."""

    start_s: float
    end_s: float
    terms: list[str]


def query_terms(marks: Landmarks, window_s: float = 15.0, step_s: float = 7.5) -> list[QueryWindow]:
    """What an upload searches the landmark index with: overlapping windows, each searched on
    its own (a long upload made of many songs needs candidates for every part), terms capped."""
    if len(marks) == 0:
        return []
    window, step = int(window_s * FRAMES_PER_SECOND), int(step_s * FRAMES_PER_SECOND)
    last = int(marks[-1, 1])
    return [
        QueryWindow(
            start_s=start / FRAMES_PER_SECOND,
            end_s=min(start + window, last + 1) / FRAMES_PER_SECOND,
            terms=retrieval_terms(
                marks[(marks[:, 1] >= start) & (marks[:, 1] < start + window)], QUERY_TERMS_PER_WINDOW
            ),
        )
        for start in range(0, max(1, last - window + step + 1), step)
    ]


# ------------------------------------------------------------------ alignment


@dataclass(frozen=True)
class LandmarkParams:
    """Calibrated on the benchmark corpus (bench/matching; the curve is in the README).

    Landmarks shared at one offset find a candidate stretch; what decides is how much of the
    reference's own peak pattern over that stretch is in the upload (`peak_hit_rate`). A true
    source keeps roughly half of its peaks under a song mixed at equal loudness; chance
    agreement is the upload's peak density over the ±1 frame, ±1 bin tolerance (3-8 %); songs
    that merely share a motif, a groove or a chord progression agree for a few seconds and then
    part, so a short stretch must agree more: the rate required is `min_peak_hit_rate` plus
    `short_stretch_hit_rate_s` / duration (0.49 at 4 s, 0.375 at 10 s, 0.325 at 30 s)."""

    min_aligned: int = 40  # landmarks shared at one offset, in one segment
    min_distinct_share: float = 0.5  # distinct hashes among them (rejects one repeated pattern)
    min_peak_hit_rate: float = 0.30
    short_stretch_hit_rate_s: float = 0.75
    min_segment_s: float = 4.0
    max_gap_s: float = 4.0  # a longer stretch without an aligned landmark ends a segment
    max_offsets: int = 8
    max_hash_repeats: int = 10  # a hash this frequent in a reference carries little information


@dataclass(frozen=True)
class LandmarkSegment:
    upload_start_s: float
    upload_end_s: float
    reference_start_s: float
    reference_end_s: float
    aligned: int
    peak_hit_rate: float  # of the reference's peaks over this stretch, those found in the upload

    @property
    def duration_s(self) -> float:
        return self.upload_end_s - self.upload_start_s

    @property
    def score(self) -> float:
        return self.peak_hit_rate


_BINS = 256  # peak keys: frame * _BINS + bin


def peak_keys(marks: Landmarks) -> npt.NDArray[np.int64]:
    """The spectral peaks the landmarks were made from (each landmark's anchor and target),
    as sorted frame * 256 + bin keys."""
    h = marks[:, 0].astype(np.int64)
    t = marks[:, 1].astype(np.int64)
    anchor_bin = h >> (_DF_BITS + _DT_BITS)
    target_bin = anchor_bin + ((h >> _DT_BITS) & ((1 << _DF_BITS) - 1)) - MAX_DF
    target_t = t + (h & ((1 << _DT_BITS) - 1))
    keys: npt.NDArray[np.int64] = np.unique(
        np.concatenate([t * _BINS + anchor_bin, target_t * _BINS + target_bin])
    )
    return keys


def peak_hit_rate(
    upload_keys: npt.NDArray[np.int64],
    reference_keys: npt.NDArray[np.int64],
    shift: int,
    first_frame: int,
    last_frame: int,
) -> float:
    """Share of the reference's peaks over upload frames [first, last] (reference frames
    shifted by `shift`) that the upload has within ±1 frame and ±1 bin."""
    lo = np.searchsorted(reference_keys, (first_frame + shift) * _BINS, "left")
    hi = np.searchsorted(reference_keys, (last_frame + shift + 1) * _BINS, "left")
    moved = reference_keys[lo:hi] - shift * _BINS
    if len(moved) == 0:
        return 0.0
    hit = np.zeros(len(moved), dtype=bool)
    for near in (d_t * _BINS + d_b for d_t in (-1, 0, 1) for d_b in (-1, 0, 1)):
        probe = moved + near
        at = np.minimum(np.searchsorted(upload_keys, probe), len(upload_keys) - 1)
        hit |= upload_keys[at] == probe
    return float(hit.mean())


def by_hash(marks: Landmarks) -> Landmarks:
    """The landmarks ordered by hash, the order alignment looks them up in: a reference kept in
    this order (as the catalog lookup's cache does) is not sorted again for every upload."""
    ordered: Landmarks = marks[stable_order(marks[:, 0])]
    return ordered


def stable_order(keys: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """The order of a stable sort of the keys (rows of one key in their own order): for keys
    that fit in 31 bits (every hash here), from an unstable sort of the keys made unique by
    their row number, several times faster than numpy's stable sort."""
    rows = np.arange(len(keys), dtype=np.int64)
    wide = keys.astype(np.int64)
    if len(keys) and (wide.min() < 0 or wide.max() >= 1 << 31):
        stable: npt.NDArray[np.int64] = np.argsort(keys, kind="stable")
        return stable
    order: npt.NDArray[np.int64] = np.argsort((wide << 32) | rows)
    return order


def shared_hash_rows(
    query_hashes: npt.NDArray[Any],
    ref_hashes: npt.NDArray[Any],
    max_repeats: int,
    query_order: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(query row, reference row) for every hash the two share, in query row order; a hash the
    reference holds more than `max_repeats` times is left out. `ref_hashes` must be sorted;
    `query_order` is the query's hash order (`np.argsort(query_hashes, kind="stable")`), taken
    once when one query is joined with many references, or a part of it still in hash order
    (only those rows are joined)."""
    order = stable_order(query_hashes) if query_order is None else query_order
    joined: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] = _merge_join_compiled()(
        np.ascontiguousarray(query_hashes[order], dtype=np.int64),
        np.ascontiguousarray(ref_hashes, dtype=np.int64),
        np.ascontiguousarray(order, dtype=np.int64),
        len(query_hashes),
        max_repeats,
    )
    return joined


_COMPILED: dict[str, Any] = {}


def _merge_join_compiled() -> Any:
    """The join of `shared_hash_rows`, compiled by numba on first use: one pass along both
    sorted hash lists (instead of two binary searches per query hash), each query row's matches
    noted by row, then read out in row order (instead of sorting them back)."""
    if "merge_join" in _COMPILED:
        return _COMPILED["merge_join"]
    import numba

    @numba.njit(cache=True)
    def merge_join(keys: Any, ref: Any, order: Any, rows: int, max_repeats: int) -> Any:
        first = np.zeros(rows, np.int64)
        count = np.zeros(rows, np.int64)
        total, at = 0, 0
        for i in range(len(keys)):
            while at < len(ref) and ref[at] < keys[i]:
                at += 1
            end = at
            while end < len(ref) and ref[end] == keys[i] and end - at <= max_repeats:
                end += 1
            if 0 < end - at <= max_repeats:
                first[order[i]], count[order[i]] = at, end - at
                total += end - at
        q_idx = np.empty(total, np.int64)
        r_idx = np.empty(total, np.int64)
        out = 0
        for row in range(rows):
            for within in range(count[row]):
                q_idx[out], r_idx[out] = row, first[row] + within
                out += 1
        return q_idx, r_idx

    _COMPILED["merge_join"] = merge_join
    return merge_join


def hash_order(query: Landmarks) -> npt.NDArray[np.int64]:
    """The upload's landmarks in hash order, taken once when it is aligned with many references."""
    order: npt.NDArray[np.int64] = stable_order(query[:, 0])
    return order


def _pairs(
    query: Landmarks, ref: Landmarks, max_repeats: int, query_order: npt.NDArray[np.int64] | None = None
) -> tuple[npt.NDArray[np.int64], ...]:
    """(query frame, reference frame, hash) for every hash the two share."""
    if np.any(ref[1:, 0] < ref[:-1, 0]):
        ref = by_hash(ref)
    q_idx, r_idx = shared_hash_rows(query[:, 0], ref[:, 0], max_repeats, query_order)
    if not len(q_idx):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    ref_t = ref[:, 1].astype(np.int64)
    return query[q_idx, 1].astype(np.int64), ref_t[r_idx], query[q_idx, 0].astype(np.int64)


def rows_within(
    starts_s: npt.NDArray[Any], query_order: npt.NDArray[np.int64], spans: list[tuple[float, float]]
) -> npt.NDArray[np.int64]:
    """`query_order` (an upload's rows in hash order) restricted to the rows whose start
    (`starts_s`, seconds, per row) lies in one of `spans`, still in hash order."""
    inside = np.zeros(len(starts_s), dtype=bool)
    for lo, hi in spans:
        inside |= (starts_s >= lo) & (starts_s <= hi)
    kept: npt.NDArray[np.int64] = query_order[inside[query_order]]
    return kept


def lines_up(
    query: Landmarks,
    ref: Landmarks,
    params: LandmarkParams | None = None,
    query_order: npt.NDArray[np.int64] | None = None,
) -> bool:
    """Whether `min_aligned` of the upload's landmarks (those of `query_order`, when given) are
    shared with the reference at one time offset (±1 frame): what any segment `align` finds needs
    within its stretch, without following or verifying it."""
    p = params or LandmarkParams()
    if len(query) == 0 or len(ref) == 0:
        return False
    q_t, r_t, _ = _pairs(query, ref, p.max_hash_repeats, query_order)
    if len(q_t) < p.min_aligned:
        return False
    _, smoothed = _offset_votes(r_t - q_t)
    return bool(smoothed.max() >= p.min_aligned)


def align(
    query: Landmarks,
    ref: Landmarks,
    params: LandmarkParams | None = None,
    query_order: npt.NDArray[np.int64] | None = None,
) -> list[LandmarkSegment]:
    """Segments of the upload that line up with the reference (in any order; fastest `by_hash`),
    from the offset histogram (`query_order`: `hash_order(query)`, when the caller aligns one
    upload with many)."""
    p = params or LandmarkParams()
    if len(query) == 0 or len(ref) == 0:
        return []
    q_t, r_t, h = _pairs(query, ref, p.max_hash_repeats, query_order)
    if len(q_t) < p.min_aligned:
        return []
    offsets = r_t - q_t
    low, smoothed = _offset_votes(offsets)
    segments: list[LandmarkSegment] = []
    claimed = np.zeros(len(q_t), dtype=bool)
    keys: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None  # made when first needed
    for _ in range(p.max_offsets):
        best = int(np.argmax(smoothed))
        if smoothed[best] < p.min_aligned:
            break
        smoothed[max(0, best - 2) : best + 3] = 0
        near = (np.abs(offsets - low - best) <= 1) & ~claimed
        claimed |= near
        for span in _spans(q_t[near], r_t[near], h[near], p):
            keys = keys or (peak_keys(query), peak_keys(ref))
            hit_rate = peak_hit_rate(*keys, span.shift, span.first, span.last)
            if hit_rate >= p.min_peak_hit_rate + p.short_stretch_hit_rate_s / span.duration_s:
                segments.append(span.segment(hit_rate))
    return sorted(segments, key=lambda s: s.upload_start_s)


def _offset_votes(offsets: npt.NDArray[np.int64]) -> tuple[int, npt.NDArray[np.int64]]:
    """The smallest offset, and per offset from it the landmarks voting within ±1 frame of it
    (rounding of peak times and small tempo changes)."""
    low = int(offsets.min())
    votes = np.bincount(offsets - low)
    before, after = np.concatenate([[0], votes[:-1]]), np.concatenate([votes[1:], [0]])
    smoothed: npt.NDArray[np.int64] = votes + before + after
    return low, smoothed


@dataclass(frozen=True)
class _Span:
    """A stretch of upload frames whose landmarks line up with the reference `shift` later."""

    first: int
    last: int
    shift: int
    aligned: int

    @property
    def duration_s(self) -> float:
        return (self.last - self.first) / FRAMES_PER_SECOND

    def segment(self, hit_rate: float) -> LandmarkSegment:
        start, end, shift = (x / FRAMES_PER_SECOND for x in (self.first, self.last, self.shift))
        return LandmarkSegment(
            upload_start_s=round(start, 2),
            upload_end_s=round(end, 2),
            reference_start_s=round(start + shift, 2),
            reference_end_s=round(end + shift, 2),
            aligned=self.aligned,
            peak_hit_rate=round(hit_rate, 4),
        )


def _spans(
    q_t: npt.NDArray[np.int64], r_t: npt.NDArray[np.int64], h: npt.NDArray[np.int64], p: LandmarkParams
) -> list[_Span]:
    """The aligned landmarks of one offset, split where they pause, each stretch kept if it is
    long enough and not one repeated pattern."""
    order = np.argsort(q_t, kind="stable")
    q_t, r_t, h = q_t[order], r_t[order], h[order]
    breaks = np.nonzero(np.diff(q_t) > p.max_gap_s * FRAMES_PER_SECOND)[0] + 1
    # an anchor stands for the pair it starts: the landmark reaches ~0.5 s past it
    reach = round(0.5 * FRAMES_PER_SECOND)
    out = []
    for idx in np.split(np.arange(len(q_t)), breaks):
        if len(idx) < p.min_aligned or len(np.unique(h[idx])) / len(idx) < p.min_distinct_share:
            continue
        span = _Span(
            first=int(q_t[idx[0]]),
            last=int(q_t[idx[-1]]) + reach,
            shift=int(np.median(r_t[idx] - q_t[idx])),
            aligned=len(idx),
        )
        if span.duration_s >= p.min_segment_s:
            out.append(span)
    return out
