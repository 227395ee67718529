"""Peak triplets on a log-frequency spectrogram: a fingerprint that survives speed, tempo and
key changes (the idea of Panako, Six and Leman 2014, and of Wang and Culbert's ratio landmarks).

On a log-frequency axis a pitch shift moves every peak by the same number of bins, so the
frequency *differences* between peaks survive it; a tempo change scales every time by one
factor, so *ratios* of time differences survive it; a speed change ("sped up", "slowed") does
both. Each triplet of nearby peaks (t1 < t2 < t3) is hashed on (f2 - f1, f3 - f2, the ratio
(t2 - t1) / (t3 - t1), which of the three is loudest) and stored with its three peaks. A match
is many triplets that agree on one pitch shift, one tempo factor and one time offset; it is
then verified by warping the reference's own peaks with those factors and counting how many
the upload has (unrelated audio agrees on scattered factors and few peaks).

numpy and scipy; numba chains the peaks into triplets. Audio at any rate is resampled to
8 kHz; peaks from 110 Hz to 3.5 kHz.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter, uniform_filter

from detectors.landmarks import (
    RATE,
    QueryWindow,
    magnitude_spectrogram,
    resampled,
    shared_hash_rows,
    stable_order,
)

VERSION = "0.4.0"  # 30 peaks a second (0.3.0: 18; 0.2.0: triplet terms)
# Versions whose stored peaks align as they are with an upload's; a document of such a version
# whose terms are older gets the current ones from its peaks (`clearance catalog renew-terms`).
# 0.2.0 and 0.3.0 documents kept 18 peaks a second: they are re-registered from their audio
# (`clearance catalog reprint`), and are not matched as modified copies until then.
PEAK_FORMATS = frozenset({VERSION})

N_FFT = 1024
HOP = 128
FRAMES_PER_SECOND = RATE / HOP  # 62.5
BINS_PER_OCTAVE = 36  # a bin is a third of a semitone
BINS_PER_SEMITONE = BINS_PER_OCTAVE / 12
F_MIN = 110.0
OCTAVES = 5
N_BINS = BINS_PER_OCTAVE * OCTAVES  # 180 bins, 110-3520 Hz

PEAK_TIME_RADIUS = 3  # frames (~50 ms) either side
# A sustained partial's maximum within a window falls anywhere along it, and a key or speed
# change moves it: peaks are onsets, louder than the same partial over the frames before.
ONSET_FRAMES = 6  # ~100 ms
ONSET_RISE_DB = 3.0
PEAK_FREQ_RADIUS = 4  # bins (1.3 semitones) either side
MIN_PROMINENCE_DB = 8.0
# the strongest peaks of each second are kept; at 18 other songs' segments reached the edits'
# evidence and speed changes were found 0.57-0.90 under the loosest rule without false matches,
# at 30 none reaches the rule below and they are found 0.90-1.00 (bench.matching.density)
PEAKS_PER_SECOND = 30

MIN_DT = 6  # frames (~100 ms) between consecutive peaks of a triplet
MAX_DT = 75  # frames (1.2 s)
MAX_DF = 31  # bins (10 semitones) between consecutive peaks of a triplet
FAN_OUT = 3  # second peaks per anchor, and third peaks per second peak
RATIO_LEVELS = 16
_DF_BITS, _RATIO_BITS, _LOUD_BITS = 6, 4, 2

# A triplet: hash, then the three peaks' frames and fractional bins (bins x 16)
Triplets = npt.NDArray[np.int64]  # N x 7: hash, t1, t2, t3, f1, f2, f3
_FRACTION = 16
QUERY_MARGIN = 0.2  # how near a quantisation boundary a query quantity also probes the other side


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks: frame, fractional log-frequency bin and level (dB), in frame order."""

    frames: npt.NDArray[np.float64]
    bins: npt.NDArray[np.float64]
    levels: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class Spectra:
    """The STFT in dB on its own linear bins, and resampled to the log-frequency axis."""

    linear: npt.NDArray[np.float32]  # frames x (N_FFT / 2 + 1)
    log: npt.NDArray[np.float32]  # frames x N_BINS


def spectra(samples: npt.NDArray[np.float32], sample_rate: int) -> Spectra:
    x = resampled(samples, sample_rate)
    if len(x) < N_FFT:
        return Spectra(np.zeros((0, N_FFT // 2 + 1), np.float32), np.zeros((0, N_BINS), np.float32))
    magnitude = magnitude_spectrogram(x, N_FFT, HOP)
    position = F_MIN * 2.0 ** (np.arange(N_BINS) / BINS_PER_OCTAVE) * N_FFT / RATE
    low = np.floor(position).astype(np.int64)
    weight = (position - low).astype(np.float32)
    mapped = magnitude[:, low] * (1 - weight) + magnitude[:, low + 1] * weight
    return Spectra(
        (20.0 * np.log10(magnitude + 1e-6)).astype(np.float32),
        (20.0 * np.log10(mapped + 1e-6)).astype(np.float32),
    )


def peaks(spec: Spectra) -> Peaks:
    """Local maxima of the log-frequency spectrogram over ±PEAK_TIME_RADIUS frames and
    ±PEAK_FREQ_RADIUS bins that stand out from their surroundings, the strongest
    PEAKS_PER_SECOND of each second. Each peak's frequency is then measured on the linear
    spectrum (a parabola through the maximum FFT bin and its neighbours): below ~400 Hz a log
    bin is narrower than an FFT bin, and positions read off the interpolated log axis would
    stick to FFT bin centres, which a key or speed change does not move with the music."""
    log = spec.log
    if log.shape[0] < 3:
        empty = np.zeros(0)
        return Peaks(empty, empty, empty)
    local_max = maximum_filter(log, size=(2 * PEAK_TIME_RADIUS + 1, 2 * PEAK_FREQ_RADIUS + 1), mode="nearest")
    level = uniform_filter(log, size=(31, 37), mode="nearest")
    prominence = log - level
    # the loudest the same partial (±1 bin) was over the frames just before: a peak is an onset
    rise = log - _loudest_before(log)
    is_peak = (log == local_max) & (prominence >= MIN_PROMINENCE_DB) & (rise >= ONSET_RISE_DB)
    is_peak[:, 0] = is_peak[:, -1] = False
    t, f = np.nonzero(is_peak)
    second = (t / FRAMES_PER_SECOND).astype(np.int64)
    order = np.lexsort((-prominence[t, f], second))
    t, f, second = t[order], f[order], second[order]
    rank = np.arange(len(t)) - np.searchsorted(second, second, side="left")
    keep = rank < PEAKS_PER_SECOND
    t, f = t[keep], f[keep]
    refined = _measured_bins(spec.linear, t, f)
    by_time = np.lexsort((refined, t))
    return Peaks(t[by_time].astype(np.float64), refined[by_time], log[t, f][by_time].astype(np.float64))


def _loudest_before(log: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per cell, the maximum within ±1 bin over ONSET_FRAMES frames ending a window's length
    (N_FFT / HOP frames, which still hear the onset) before it."""
    centred = maximum_filter(log, size=(ONSET_FRAMES, 3), mode="nearest")
    lag = ONSET_FRAMES - ONSET_FRAMES // 2 + N_FFT // HOP
    before = np.empty_like(log)
    before[lag:] = centred[:-lag]
    before[:lag] = centred[0]
    return before


def _measured_bins(
    linear: npt.NDArray[np.float32], t: npt.NDArray[np.int64], f: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Fractional log-frequency bins of peaks, from the linear spectrum around each."""
    nominal = F_MIN * 2.0 ** (f / BINS_PER_OCTAVE) * N_FFT / RATE
    k = np.clip(np.rint(nominal).astype(np.int64), 1, linear.shape[1] - 3)
    for _ in range(2):  # climb to the FFT bin that is the local maximum
        left, centre, right = linear[t, k - 1], linear[t, k], linear[t, k + 1]
        k = np.clip(k + np.where(right > centre, 1, np.where(left > centre, -1, 0)), 1, linear.shape[1] - 2)
    below, at, above = linear[t, k - 1], linear[t, k], linear[t, k + 1]
    curvature = below - 2 * at + above
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(curvature < 0, 0.5 * (below - above) / curvature, 0.0)
    hz = (k + np.clip(delta, -0.5, 0.5)) * RATE / N_FFT
    measured: npt.NDArray[np.float64] = BINS_PER_OCTAVE * np.log2(np.maximum(hz, 1.0) / F_MIN)
    # a peak whose FFT maximum wandered off (two partials in one bin) keeps its log-axis bin
    return np.where(np.abs(measured - f) <= PEAK_FREQ_RADIUS, measured, f.astype(np.float64))


def _hash(
    d1: npt.NDArray[np.int64],
    d2: npt.NDArray[np.int64],
    ratio: npt.NDArray[np.int64],
    loud: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """18 bits: two frequency steps (6 bits each), the time ratio (4), the loudest peak (2)."""
    out: npt.NDArray[np.int64] = (
        ((d1 + MAX_DF) << (_DF_BITS + _RATIO_BITS + _LOUD_BITS))
        | ((d2 + MAX_DF) << (_RATIO_BITS + _LOUD_BITS))
        | (ratio << _LOUD_BITS)
        | loud
    )
    return out


def _following(p: Peaks) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per peak, up to FAN_OUT following peaks (nearest first: MIN_DT..MAX_DT frames later and
    at most MAX_DF - 1 bins away, among the next 12 * FAN_OUT - 1 peaks), as an n x FAN_OUT
    table of peak indices and a count per peak. Levels and bins are finite (as `peaks` and
    `unpack` make them)."""
    following, count = _compiled()["following"](
        np.ascontiguousarray(p.frames, dtype=np.float64), np.ascontiguousarray(p.bins, dtype=np.float64)
    )
    return following, count


def _chains(p: Peaks, length: int) -> npt.NDArray[np.int64]:
    """M x `length` peak indices: every peak, each of its following peaks, each of theirs...
    in order of the first peak, then the second, and so on."""
    following, count = _following(p)
    out: npt.NDArray[np.int64] = _compiled()["chains"](following, count, length)
    return out


_COMPILED: dict[str, Any] = {}


def _compiled() -> dict[str, Any]:
    """The neighbour search and chaining, compiled by numba on first use: a registration makes
    hundreds of thousands of triplets and quads, and an upload aligned with a large catalog
    makes the triplets of every candidate not in the worker's cache (about 5 ms each in numpy)."""
    if _COMPILED:
        return _COMPILED
    import numba

    fan_out, lookahead, min_dt, max_dt, max_df = FAN_OUT, 12 * FAN_OUT, MIN_DT, MAX_DT, MAX_DF - 1

    @numba.njit(cache=True)
    def following(frames: Any, bins: Any) -> Any:
        n = len(frames)
        table = np.zeros((n, fan_out), np.int64)
        count = np.zeros(n, np.int64)
        for i in range(n):
            for step in range(1, min(n, lookahead)):
                j = i + step
                if j >= n:
                    break
                dt = frames[j] - frames[i]
                if dt > max_dt:
                    break  # frames are in order: every later peak is further
                if dt >= min_dt and abs(bins[j] - bins[i]) <= max_df:
                    table[i, count[i]] = j
                    count[i] += 1
                    if count[i] == fan_out:
                        break
        return table, count

    @numba.njit(cache=True)
    def chains(table: Any, count: Any, length: int) -> Any:
        n = len(count)
        # how many chains of each length start at each peak, from the last position back
        ways = np.ones(n, np.int64)
        for _ in range(length - 1):
            longer = np.zeros(n, np.int64)
            for i in range(n):
                for a in range(count[i]):
                    longer[i] += ways[table[i, a]]
            ways = longer
        out = np.empty((ways.sum(), length), np.int64)
        row = 0
        stack = np.empty(length, np.int64)
        choice = np.zeros(length, np.int64)
        for start in range(n):
            depth = 0
            stack[0] = start
            choice[0] = 0
            while depth >= 0:
                if depth == length - 1:
                    out[row, :] = stack
                    row += 1
                    depth -= 1
                    continue
                at = stack[depth]
                if choice[depth] < count[at]:
                    stack[depth + 1] = table[at, choice[depth]]
                    choice[depth] += 1
                    depth += 1
                    choice[depth] = 0
                else:
                    depth -= 1
        return out

    offset, levels, fraction = MAX_DF, RATIO_LEVELS, _FRACTION
    d1_shift, d2_shift, ratio_shift = (
        _DF_BITS + _RATIO_BITS + _LOUD_BITS,
        _RATIO_BITS + _LOUD_BITS,
        _LOUD_BITS,
    )

    @numba.njit(cache=True)
    def rows(idx: Any, frames: Any, bins: Any, loudness: Any) -> Any:
        out = np.empty((len(idx), 7), np.int64)
        for r in range(len(idx)):
            i, j, k = idx[r, 0], idx[r, 1], idx[r, 2]
            d1 = np.int64(np.rint(bins[j] - bins[i]))
            d2 = np.int64(np.rint(bins[k] - bins[j]))
            ratio = np.int64((frames[j] - frames[i]) / (frames[k] - frames[i]) * levels)
            if ratio > levels - 1:
                ratio = np.int64(levels - 1)
            loud = 0
            if loudness[j] > loudness[i]:
                loud = 1
            if loudness[k] > max(loudness[i], loudness[j]):
                loud = 2
            out[r, 0] = (
                ((d1 + offset) << d1_shift) | ((d2 + offset) << d2_shift) | (ratio << ratio_shift) | loud
            )
            for c in range(3):
                peak = idx[r, c]
                out[r, 1 + c] = np.int64(np.rint(frames[peak]))
                out[r, 4 + c] = np.int64(np.rint(bins[peak] * fraction))
        return out

    _COMPILED.update(following=following, chains=chains, rows=rows)  # at once: never half made
    return _COMPILED


def triplet_indices(p: Peaks) -> npt.NDArray[np.int64]:
    """M x 3 indices of peaks (i < j < k in time): each peak with up to FAN_OUT following peaks
    as its second, each of those with up to FAN_OUT following peaks as its third."""
    return _chains(p, 3)


def quad_indices(p: Peaks) -> npt.NDArray[np.int64]:
    """M x 4: every triplet extended by the up to FAN_OUT peaks that follow its third."""
    return _chains(p, 4)


def _describe(
    p: Peaks, idx: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per triplet: the two frequency steps (bins), the time ratio (0..1) and the loudest peak."""
    t = p.frames[idx]
    f = p.bins[idx]
    d1 = f[:, 1] - f[:, 0]
    d2 = f[:, 2] - f[:, 1]
    ratio = (t[:, 1] - t[:, 0]) / (t[:, 2] - t[:, 0])
    loud = np.argmax(p.levels[idx], axis=1).astype(np.int64)
    return d1, d2, ratio, loud


def triplets(p: Peaks) -> Triplets:
    """The reference form: one hash per triplet (the two frequency steps rounded, the time
    ratio in RATIO_LEVELS, the loudest peak), with its peaks."""
    idx = triplet_indices(p)
    out: Triplets = _compiled()["rows"](
        idx,
        np.ascontiguousarray(p.frames, dtype=np.float64),
        np.ascontiguousarray(p.bins, dtype=np.float64),
        np.ascontiguousarray(p.levels, dtype=np.float64),
    )
    return out


def query_triplets(p: Peaks, margin: float = QUERY_MARGIN) -> Triplets:
    """The upload's form: like `triplets`, plus the neighbouring hash wherever a quantity lies
    within `margin` of a quantisation boundary (an edit moves peaks by fractions of a bin or a
    frame, and a value on a boundary may fall either side)."""
    idx = triplet_indices(p)
    if len(idx) == 0:
        return np.zeros((0, 7), dtype=np.int64)
    d1, d2, ratio, loud = _describe(p, idx)
    variants_d1 = _neighbours(d1, margin)
    variants_d2 = _neighbours(d2, margin)
    variants_r = _neighbours(ratio * RATIO_LEVELS - 0.5, margin)
    t = np.rint(p.frames[idx]).astype(np.int64)
    f = np.rint(p.bins[idx] * _FRACTION).astype(np.int64)
    rows = []
    for a in variants_d1:
        for b in variants_d2:
            for r in variants_r:
                use = (a != _NONE) & (b != _NONE) & (r != _NONE)
                h = _hash(
                    np.clip(a, -MAX_DF, MAX_DF),
                    np.clip(b, -MAX_DF, MAX_DF),
                    np.clip(r, 0, RATIO_LEVELS - 1),
                    loud,
                )
                rows.append(np.concatenate([h[use, None], t[use], f[use]], axis=1))
    out: Triplets = np.concatenate(rows)
    return out


def _neighbours(value: npt.NDArray[np.float64], margin: float) -> list[npt.NDArray[np.int64]]:
    """The rounded value, and where it is within `margin` of the rounding boundary the other
    side (_NONE elsewhere: no variant)."""
    base = np.rint(value).astype(np.int64)
    frac = value - base  # -0.5..0.5
    other = np.where(frac > 0.5 - margin, base + 1, np.where(frac < -0.5 + margin, base - 1, _NONE))
    return [base, other]


_NONE = -(1 << 40)


def upload_peaks(samples: npt.NDArray[np.float32], sample_rate: int) -> Peaks:
    """The peaks an upload is searched and aligned with."""
    return peaks(spectra(samples, sample_rate))


def reference_peaks(samples: npt.NDArray[np.float32], sample_rate: int) -> Peaks:
    """The peaks a recording is registered with, rounded to what `pack` keeps, so that the
    triplets made from the stored peaks are the ones made at registration."""
    return quantized(upload_peaks(samples, sample_rate))


# ------------------------------------------------------------------ storage and retrieval terms

_LEVEL_STEPS = 4  # a quarter dB
_LEVEL_FLOOR = -200.0


def quantized(p: Peaks) -> Peaks:
    return Peaks(
        np.minimum(np.rint(p.frames), (1 << 24) - 1),
        np.rint(p.bins * _FRACTION) / _FRACTION,
        np.rint((np.clip(p.levels, _LEVEL_FLOOR, 400.0) - _LEVEL_FLOOR) * _LEVEL_STEPS) / _LEVEL_STEPS
        + _LEVEL_FLOOR,
    )


def pack(p: Peaks) -> str:
    """Compact text for the catalog document: per peak 3 bytes frame (up to 74 hours), 2 bytes
    bin (1/16 bin), 2 bytes level (1/4 dB)."""
    q = quantized(p)
    frames = q.frames.astype(">u4").view(np.uint8).reshape(-1, 4)[:, 1:]
    bins = np.rint(q.bins * _FRACTION).astype(">u2").view(np.uint8).reshape(-1, 2)
    levels = np.rint((q.levels - _LEVEL_FLOOR) * _LEVEL_STEPS).astype(">u2").view(np.uint8).reshape(-1, 2)
    return base64.b64encode(np.concatenate([frames, bins, levels], axis=1).tobytes()).decode("ascii")


def unpack(text: str) -> Peaks:
    raw = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(-1, 7).astype(np.int64)
    frames = (raw[:, 0] << 16) | (raw[:, 1] << 8) | raw[:, 2]
    bins = ((raw[:, 3] << 8) | raw[:, 4]) / _FRACTION
    levels = ((raw[:, 5] << 8) | raw[:, 6]) / _LEVEL_STEPS + _LEVEL_FLOOR
    return Peaks(frames.astype(np.float64), bins, levels)


# Retrieval terms are quads, not triplets: a fourth peak adds a third frequency step and a
# second time ratio, so a term says ~500 times more. A triplet's 18 bits are shared by chance
# with any three-minute song (a random master held 30-37 % of a 10 s query's triplet hashes,
# the true one 38-43 % after a speed change), and retrieval drowned in a large catalog; a quad
# of a random song is rarely a quad of the query. Triplets still align.
QUAD_RATIO_LEVELS = 16
RETRIEVAL_SHARE = 16  # one quad hash in this many is a retrieval term
_QUAD_WEIGHTS = np.array(
    [1 << 22, 1 << 16, 1 << 10, 1 << 6, 1 << 2], dtype=np.int64
)  # d1, d2, d3 (6 bits each), two ratios (4 bits each); the loudest peak in the low 2 bits
TERM_PREFIX = "q"  # never equal to a term of the triplet form stored before version 0.3.0


def _mixed(hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: every bit of the result depends on every bit of the hash, so a
    selection by its bits does not depend on which intervals or rhythms a quad holds."""
    z = hashes.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return out


def is_retrieval_term(hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """A fixed share of all quad hashes, the same for uploads and references."""
    chosen: npt.NDArray[np.bool_] = (_mixed(hashes) >> np.uint64(60)) % np.uint64(RETRIEVAL_SHARE) == 0
    return chosen


class QuadHashes(NamedTuple):
    """Quad hashes that are retrieval terms, each with what ranks it as a query term."""

    hashes: npt.NDArray[np.int64]
    frames: npt.NDArray[np.int64]  # the first peak's frame
    moves: npt.NDArray[np.int64]  # quantities moved across a quantisation boundary (0: as measured)
    weakest_db: npt.NDArray[np.float64]  # level of the quad's weakest peak

    def where(self, mask: npt.NDArray[np.bool_]) -> QuadHashes:
        return QuadHashes(self.hashes[mask], self.frames[mask], self.moves[mask], self.weakest_db[mask])


def quad_hashes(p: Peaks, margin: float | None = None) -> QuadHashes:
    """Every quad that is a retrieval term. With `margin` (the upload's form), also every
    neighbouring hash where quantities lie within `margin` of a quantisation boundary, in any
    combination."""
    idx = quad_indices(p)
    if len(idx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return QuadHashes(empty, empty, empty, np.zeros(0))
    t = p.frames[idx]
    f = p.bins[idx]
    span = t[:, 3] - t[:, 0]
    values = [
        *(f[:, 1:] - f[:, :-1]).T,
        (t[:, 1] - t[:, 0]) / span * QUAD_RATIO_LEVELS - 0.5,
        (t[:, 2] - t[:, 0]) / span * QUAD_RATIO_LEVELS - 0.5,
    ]
    offsets = [MAX_DF] * 3 + [0, 0]
    highest = [2 * MAX_DF] * 3 + [QUAD_RATIO_LEVELS - 1] * 2
    levels = p.levels[idx]
    base = np.argmax(levels, axis=1).astype(np.int64)
    weakest = levels.min(axis=1)
    steps = []  # per quantity: the step to its neighbour (0: none)
    for value, offset, weight in zip(values, offsets, _QUAD_WEIGHTS, strict=True):
        rounded = np.rint(value).astype(np.int64)
        base += (rounded + offset) * weight
        step = np.zeros(len(rounded), dtype=np.int64)
        if margin is not None:
            frac = value - rounded
            step = np.where(frac > 0.5 - margin, 1, np.where(frac < -0.5 + margin, -1, 0))
        steps.append((step, rounded + offset, weight))
    hashes, rows, moves = [base], [np.arange(len(base))], [np.zeros(len(base), dtype=np.int64)]
    if margin is not None:
        for subset in range(1, 1 << len(steps)):
            use = np.ones(len(base), dtype=bool)
            moved = base.copy()
            for bit, (step, level, weight) in enumerate(steps):
                if subset >> bit & 1:
                    use &= (step != 0) & (level + step >= 0) & (level + step <= highest[bit])
                    moved += step * weight
            hashes.append(moved[use])
            rows.append(np.nonzero(use)[0])
            moves.append(np.full(int(use.sum()), subset.bit_count(), dtype=np.int64))
    h, quad, mv = np.concatenate(hashes), np.concatenate(rows), np.concatenate(moves)
    keep = is_retrieval_term(h)
    return QuadHashes(h[keep], np.rint(t[quad[keep], 0]).astype(np.int64), mv[keep], weakest[quad[keep]])


def _terms(hashes: npt.NDArray[np.int64]) -> list[str]:
    return [TERM_PREFIX + format(int(h), "x") for h in np.unique(hashes)]


# A quad moved across one quantisation boundary ranks with one measured whose weakest peak is
# this much weaker: on the development corpus (bench.matching.density's songs, 10 s queries
# under 14 edits, 10,000 distractors) a search's terms chosen this way at 400-700 a window put
# the master among the 16 candidates for 0.89-0.90 of the queries, against 0.86 for 1,000
# terms chosen as measured first and then at random, in half the time.
MOVED_QUANTITY_DB = 6.0


def _likeliest(quads: QuadHashes, limit: int) -> npt.NDArray[np.int64]:
    """At most `limit` distinct hashes, those likeliest to be the reference's, second by second
    of the upload: each second's quads ranked by their weakest peak's level (a loud peak is one
    a mix, an edit or a new voice over it leaves in place), less MOVED_QUANTITY_DB for each
    quantity moved across a boundary; then the best of every second, the second best of every
    second, and so on (a loud stretch does not crowd a quiet one out of the search)."""
    penalty = quads.moves * MOVED_QUANTITY_DB - quads.weakest_db
    second = np.floor(quads.frames / FRAMES_PER_SECOND).astype(np.int64)
    by_second = np.lexsort((penalty, second))
    ordered = second[by_second]
    rank = np.empty(len(penalty), dtype=np.int64)
    rank[by_second] = np.arange(len(penalty)) - np.searchsorted(ordered, ordered, side="left")
    ranked = quads.hashes[np.lexsort((penalty, rank))]
    _, first = np.unique(ranked, return_index=True)  # each hash at its best rank
    chosen: npt.NDArray[np.int64] = ranked[np.sort(first)[:limit]]
    return chosen


def retrieval_terms(p: Peaks) -> list[str]:
    """A reference's terms in the inverted index."""
    return _terms(quad_hashes(p).hashes)


# At most this many terms a window (Elasticsearch 8 allows at least 1,024 clauses a query):
# a search's cost grows with its terms, and past ~500 the added ones are the weaker quads,
# which find chance candidates as often as the master (see MOVED_QUANTITY_DB).
QUERY_TERMS_PER_WINDOW = 500


def query_terms(p: Peaks, window_s: float = 15.0, step_s: float = 7.5) -> list[QueryWindow]:
    """Overlapping windows of the upload's quad terms (by first peak), each searched alone."""
    quads = quad_hashes(p, QUERY_MARGIN)
    if len(quads.hashes) == 0:
        return []
    window, step = int(window_s * FRAMES_PER_SECOND), int(step_s * FRAMES_PER_SECOND)
    last = int(quads.frames.max())
    windows = []
    for start in range(0, max(1, last - window + step + 1), step):
        inside = (quads.frames >= start) & (quads.frames < start + window)
        chosen = _likeliest(quads.where(inside), QUERY_TERMS_PER_WINDOW)
        windows.append(
            QueryWindow(
                start_s=start / FRAMES_PER_SECOND,
                end_s=min(start + window, last + 1) / FRAMES_PER_SECOND,
                terms=_terms(chosen),
            )
        )
    return windows


# ------------------------------------------------------------------ what the factors say

# Below these the edit is not audible as one: rounding of peak positions, a tape's drift.
TEMPO_TOLERANCE = 0.015
PITCH_TOLERANCE_SEMITONES = 0.3


def modification(tempo_factor: float, pitch_shift_semitones: float) -> str:
    """What was done to the master, from the two figures: resampling moves both together
    (+3.86 semitones at 1.25x), a pitch shift only the pitch, a time stretch only the tempo."""
    tempo_changed = abs(tempo_factor - 1.0) > TEMPO_TOLERANCE
    pitch_changed = abs(pitch_shift_semitones) > PITCH_TOLERANCE_SEMITONES
    if not tempo_changed and not pitch_changed:
        return "none"
    if not tempo_changed:
        return "pitch_shifted"
    if not pitch_changed:
        return "time_stretched"
    if abs(pitch_shift_semitones - 12.0 * np.log2(tempo_factor)) <= 2 * PITCH_TOLERANCE_SEMITONES:
        return "sped_up" if tempo_factor > 1 else "slowed"
    return "pitch_shifted_and_time_stretched"


# How closely a segment's factors must keep to one plain edit for the level that asks less of
# it: the estimates of true edits keep within a few hundredths of a semitone and 0.4 % of the
# tempo (development corpus), and a shift under 0.7 semitones is left to the other levels
# (near the unedited master, other songs on the same progression and groove line up most).
PLAIN_EDIT_PITCH_TOLERANCE_SEMITONES = 0.2
PLAIN_EDIT_TEMPO_TOLERANCE = 0.005
PLAIN_EDIT_MIN_SHIFT_SEMITONES = 0.7


def is_plain_edit(tempo_factor: float, pitch_shift_semitones: float) -> bool:
    """Factors one common edit alone gives: resampling (sped up or slowed: the pitch moves by
    12·log2 of the tempo factor, which must be 0.7 semitones or more) or a key change of 0.7
    semitones or more with the tempo kept.
    Other songs line up with a master at the factors their own tempo and key relate them by,
    which fall on either line rarely: on the development corpus 5 of 74 held-back segments of
    6 s or more did, the strongest at 4.3 triplets a second and 0.30 of the peaks."""
    if not 0.0 < tempo_factor < float("inf"):  # no alignment fits such a line; NaN fails too
        return False
    resampling_shift = 12.0 * float(np.log2(tempo_factor))
    resampled = (
        abs(pitch_shift_semitones - resampling_shift) <= PLAIN_EDIT_PITCH_TOLERANCE_SEMITONES
        and abs(resampling_shift) >= PLAIN_EDIT_MIN_SHIFT_SEMITONES
    )
    key_changed = (
        abs(tempo_factor - 1.0) <= PLAIN_EDIT_TEMPO_TOLERANCE
        and abs(pitch_shift_semitones) >= PLAIN_EDIT_MIN_SHIFT_SEMITONES
    )
    return resampled or key_changed


# ------------------------------------------------------------------ alignment


@dataclass(frozen=True)
class Evidence:
    """A level a segment's evidence must reach: aligned triplets a second and the share of the
    reference's peaks found where the fitted tempo, shift and offset put them."""

    aligned_per_s: float
    peak_hit_rate: float
    min_seconds: float = 0.0  # the level holds for segments at least this long
    plain_edit_only: bool = False  # the level holds only at a plain edit's factors (`is_plain_edit`)

    def holds_for(self, duration_s: float, plain_edit: bool) -> bool:
        return duration_s >= self.min_seconds and (plain_edit or not self.plain_edit_only)


@dataclass(frozen=True)
class ModifiedParams:
    """An edited copy keeps many of its triplets in line with one tempo factor, pitch shift and
    offset, and many of the reference's peaks where those put them. Different songs that share a
    chord progression, a groove and instruments line up too once any key and tempo are allowed,
    for a few seconds. So a segment needs at least `min_segment_s` and one of the `levels`: many
    triplets in line and a fair share of the peaks (a speed or key change), or fewer triplets and
    many of the peaks (reverb blurs onsets, so the triplets between them go, while the peaks
    stay), or, over 20 s or more, fewer triplets still and many of the peaks (a whole track
    slowed under a heavy reverb); a level's hit rate rises by `short_stretch_hit_rate_s` /
    duration.

    How it was set: on a development corpus the benchmark does not use (fluidsynth songs, seeds
    300001+, `python -m bench.matching.density`), 10 s and 30 s queries of 60 masters under twelve
    edits aligned with their own master, and 40 held-back songs under the same edits with every one
    of 160 masters (no retrieval). At 30 peaks a second, other songs' segments reached 9.8 triplets
    a second (5.4 s, 0.45 of the peaks) or 0.41 of the peaks over 8 s or more. The benchmark's
    first run at this density then matched a held-back song over 12-14 s of a 30 s query (10 and
    10.3 a second, 0.38 of the peaks: the same progression and groove at 0.92x) and a wrong master
    over 5.2 s, under an earlier form of this rule that asked fewer triplets a second of longer
    stretches (4/7 of a level's rate + 30 s / duration) and 5 s at least: both went. Checked on
    held-back songs never used before (README, Catalog matching).

    The long level (20 s, 5 a second, 0.36): whole generated tracks (30-120 s, fluidsynth, seeds
    the provenance benchmark does not use) slowed 0.85 or 0.8 under a hall reverb were found 56
    and 49 times in 60 by the two shorter levels, all 60 with it; the same density study at 30 s
    found slowed + reverb 0.88 -> 0.97. Held-back songs' segments of 20 s or more reached 6.7
    triplets a second and 0.33 of the peaks (never both over this level's), and unrelated clips
    under four edits aligned with all 60 tracks none over 3 a second.

    The plain-edit level (5 a second, 0.34, only at the factors of resampling or of a key change
    alone, `is_plain_edit`): another song lines up with a master at the tempo ratio and key
    difference that relate the two, which land on either line rarely, while the edits fans make
    most land on one exactly. On the development corpus, 10 s queries aligned directly with their
    master: slowed + reverb 46 -> 56 of 60, speed 1.35 54 -> 58, the instrumental +2 semitones
    under a new vocal 27 -> 41; 30 s: that instrumental 41 -> 46, slowed + reverb 58 -> 59. No
    held-back segment reached the level on a line, at 10 s or 30 s, nor did any of 40 held-back
    songs made at a development master's tempo or at the tempo resampling by their key
    difference would give (the strongest on a line: 4.3 a second and 0.30 of the peaks); off the
    lines two held-back 30 s segments would have. Checked after on 40 songs never used before
    (README, Catalog matching)."""

    min_tempo: float = 0.7  # reference seconds per upload second
    max_tempo: float = 1.45
    max_shift_semitones: float = 8.0
    max_hash_repeats: int = 12
    min_aligned: int = 12  # triplets agreeing on one shift, tempo and offset
    max_candidates: int = 6  # (tempo, shift) clusters followed
    time_tolerance: float = 3.0  # frames
    bin_tolerance: float = 1.5  # bins
    levels: tuple[Evidence, ...] = (
        Evidence(aligned_per_s=11.0, peak_hit_rate=0.30),
        Evidence(aligned_per_s=7.0, peak_hit_rate=0.40),
        Evidence(aligned_per_s=5.0, peak_hit_rate=0.36, min_seconds=20.0),
        Evidence(aligned_per_s=5.0, peak_hit_rate=0.34, plain_edit_only=True),
    )
    short_stretch_hit_rate_s: float = 0.5
    min_segment_s: float = 6.0
    max_gap_s: float = 4.0

    def fewest_aligned(self, duration_s: float, tempo_factor: float, pitch_shift_semitones: float) -> float:
        """Aligned triplets below which no level can be reached."""
        plain = is_plain_edit(tempo_factor, pitch_shift_semitones)
        reachable = [level.aligned_per_s for level in self.levels if level.holds_for(duration_s, plain)]
        return max(self.min_aligned, min(reachable, default=float("inf")) * duration_s)

    def accepts(
        self,
        duration_s: float,
        aligned: float,
        peak_hit_rate: float,
        tempo_factor: float,
        pitch_shift_semitones: float,
    ) -> bool:
        plain = is_plain_edit(tempo_factor, pitch_shift_semitones)
        return duration_s >= self.min_segment_s and any(
            level.holds_for(duration_s, plain)
            and aligned >= max(self.min_aligned, level.aligned_per_s * duration_s)
            and peak_hit_rate >= level.peak_hit_rate + self.short_stretch_hit_rate_s / duration_s
            for level in self.levels
        )

    def with_hit_rates_moved(self, by: float) -> ModifiedParams:
        """Every level's hit rate moved by `by` (calibration curves)."""
        return replace(
            self,
            levels=tuple(replace(e, peak_hit_rate=max(0.0, e.peak_hit_rate + by)) for e in self.levels),
        )


@dataclass(frozen=True)
class ModifiedSegment:
    upload_start_s: float
    upload_end_s: float
    reference_start_s: float
    reference_end_s: float
    tempo_factor: float  # reference time per upload time: 1.25 = played 1.25x as fast
    pitch_shift_semitones: float
    aligned: int
    peak_hit_rate: float

    @property
    def duration_s(self) -> float:
        return self.upload_end_s - self.upload_start_s

    @property
    def score(self) -> float:
        return self.peak_hit_rate


def by_hash(t: Triplets) -> Triplets:
    ordered: Triplets = t[hash_order(t)]
    return ordered


def hash_order(t: Triplets) -> npt.NDArray[np.int64]:
    """The rows in hash order, rows of one hash in their own order: taken once per upload, it
    makes each reference's hash lookup several times faster (binary searches with rising keys)."""
    return stable_order(t[:, 0])


class _Pairs(NamedTuple):
    """Query and reference triplets that share a hash and could be one edit of the other: peak
    frames, bins and the tempo factor and shift (bins) each pair says."""

    q_t: npt.NDArray[np.float64]
    r_t: npt.NDArray[np.float64]
    q_f: npt.NDArray[np.float64]
    r_f: npt.NDArray[np.float64]
    tempo: npt.NDArray[np.float64]
    shift: npt.NDArray[np.float64]


def _plausible_pairs(
    query: Triplets, ref: Triplets, p: ModifiedParams, query_order: npt.NDArray[np.int64] | None
) -> _Pairs | None:
    """The pairs within the tempo and shift range; None when too few for any segment.

    Most pairs that share a hash are chance (the hash is scale-free, so coarse): tempo and
    shift are worked out from each row's span and pitch sum first, and only the plausible
    pairs' whole rows are gathered."""
    if len(query) == 0 or len(ref) == 0:
        return None
    if np.any(ref[1:, 0] < ref[:-1, 0]):
        ref = by_hash(ref)
    q_idx, r_idx = shared_hash_rows(query[:, 0], ref[:, 0], p.max_hash_repeats, query_order)
    if len(q_idx) < p.min_aligned:
        return None
    tempo = _span(ref)[r_idx] / _span(query)[q_idx]
    # the mean of three bin differences, from integer sums: exactly what averaging them gives
    shift = (_bin_sum(query)[q_idx] - _bin_sum(ref)[r_idx]) / 3 / _FRACTION
    plausible = (
        (tempo >= p.min_tempo)
        & (tempo <= p.max_tempo)
        & (np.abs(shift) <= p.max_shift_semitones * BINS_PER_SEMITONE)
    )
    if plausible.sum() < p.min_aligned:
        return None
    q, r = query[q_idx[plausible]], ref[r_idx[plausible]]
    return _Pairs(
        q[:, 1:4].astype(np.float64),
        r[:, 1:4].astype(np.float64),
        q[:, 4:7] / _FRACTION,
        r[:, 4:7] / _FRACTION,
        tempo[plausible],
        shift[plausible],
    )


def _span(t: Triplets) -> npt.NDArray[np.int64]:
    """Each triplet's first-to-last peak time (frames)."""
    span: npt.NDArray[np.int64] = t[:, 3] - t[:, 1]
    return span


def _bin_sum(t: Triplets) -> npt.NDArray[np.int64]:
    """Each triplet's three peak bins added (in 1/_FRACTION bins)."""
    total: npt.NDArray[np.int64] = t[:, 4] + t[:, 5] + t[:, 6]
    return total


def shares_a_line(
    query: Triplets,
    ref: Triplets,
    params: ModifiedParams | None = None,
    query_order: npt.NDArray[np.int64] | None = None,
) -> bool:
    """Whether `min_aligned` of the query's triplets (those of `query_order`, when given) line up
    with the reference at one tempo, shift and offset: what any segment `align` finds needs
    within its stretch, at a fraction of its cost (no runs, no peak hit rates)."""
    p = params or ModifiedParams()
    pairs = _plausible_pairs(query, ref, p, query_order)
    if pairs is None:
        return False
    log_tempo = np.log2(pairs.tempo)
    for centre_tempo, centre_shift in _clusters(log_tempo, pairs.shift, p.max_candidates):
        near = (np.abs(log_tempo - centre_tempo) <= 0.03) & (np.abs(pairs.shift - centre_shift) <= 1.0)
        if near.sum() < p.min_aligned:
            continue
        line = _fit(pairs.q_t[near], pairs.r_t[near], pairs.q_f[near], pairs.r_f[near], 2.0**centre_tempo, p)
        if line is not None:
            return True
    return False


def align(
    query_peaks: Peaks,
    query: Triplets,
    ref_peaks: Peaks,
    ref: Triplets,
    params: ModifiedParams | None = None,
    query_order: npt.NDArray[np.int64] | None = None,
) -> list[ModifiedSegment]:
    """Segments of the upload that are the reference played at another speed, tempo or key
    (`query_order`: `hash_order(query)`, when the caller aligns one upload with many)."""
    p = params or ModifiedParams()
    pairs = _plausible_pairs(query, ref, p, query_order)
    if pairs is None:
        return []
    q_t, r_t, q_f, r_f, tempo, shift = pairs
    segments: list[ModifiedSegment] = []
    claimed = np.zeros(len(tempo), dtype=bool)
    for log_tempo, centre_shift in _clusters(np.log2(tempo), shift, p.max_candidates):
        near = ~claimed & (np.abs(np.log2(tempo) - log_tempo) <= 0.03) & (np.abs(shift - centre_shift) <= 1.0)
        if near.sum() < p.min_aligned:
            continue
        fit = _fit(q_t[near], r_t[near], q_f[near], r_f[near], 2.0**log_tempo, p)
        if fit is None:
            continue
        a, b, pitch = fit
        semitones = pitch / BINS_PER_SEMITONE
        # every pair on the fitted line belongs to it, whichever cell it voted in
        on_line = (
            ~claimed
            & (np.abs(r_t - (a * q_t + b)).max(axis=1) <= p.time_tolerance)
            & (np.abs((q_f - r_f) - pitch).max(axis=1) <= p.bin_tolerance)
        )
        members = np.nonzero(on_line)[0]
        claimed[members] = True
        for first, last, count in _runs(q_t[members, 0], q_t[members, 2], p):
            duration = (last - first) / FRAMES_PER_SECOND
            if count < p.fewest_aligned(duration, a, semitones):
                continue
            rate = _peak_hit_rate(query_peaks, ref_peaks, a, b, pitch, first, last, p)
            if p.accepts(duration, count, rate, a, semitones):
                segments.append(
                    ModifiedSegment(
                        upload_start_s=round(first / FRAMES_PER_SECOND, 2),
                        upload_end_s=round(last / FRAMES_PER_SECOND, 2),
                        reference_start_s=round((a * first + b) / FRAMES_PER_SECOND, 2),
                        reference_end_s=round((a * last + b) / FRAMES_PER_SECOND, 2),
                        tempo_factor=round(a, 4),
                        pitch_shift_semitones=round(semitones, 2),
                        aligned=count,
                        peak_hit_rate=round(rate, 4),
                    )
                )
    return sorted(segments, key=lambda s: s.upload_start_s)


def _clusters(
    log_tempo: npt.NDArray[np.float64], shift: npt.NDArray[np.float64], limit: int
) -> list[tuple[float, float]]:
    """The densest (log2 tempo, shift) cells: 0.01 in log2 tempo (0.7 %) by half a bin, each
    cell's count summed over its neighbours (±2 tempo cells, ±1 shift cell)."""
    ti = np.rint(log_tempo / 0.01).astype(np.int64)
    si = np.rint(shift / 0.5).astype(np.int64)
    t0, s0 = ti.min(), si.min()
    shape = (int(ti.max() - t0 + 1), int(si.max() - s0 + 1))
    cells = np.ravel_multi_index((ti - t0, si - s0), shape)
    grid = np.bincount(cells, minlength=shape[0] * shape[1]).reshape(shape).astype(np.float64)
    smooth = uniform_filter(grid, size=(5, 3), mode="constant") * 15
    out: list[tuple[float, float]] = []
    for flat in np.argsort(smooth, axis=None)[::-1]:
        if len(out) >= limit:
            break
        i, j = np.unravel_index(flat, smooth.shape)
        if smooth[i, j] < 3:
            break
        centre = ((i + t0) * 0.01, (j + s0) * 0.5)
        if all(abs(centre[0] - c[0]) > 0.03 or abs(centre[1] - c[1]) > 1.0 for c in out):
            out.append(centre)
    return out


def _fit(
    q_t: npt.NDArray[np.float64],
    r_t: npt.NDArray[np.float64],
    q_f: npt.NDArray[np.float64],
    r_f: npt.NDArray[np.float64],
    tempo: float,
    p: ModifiedParams,
) -> tuple[float, float, float] | None:
    """The line r = a * q + b through the pairs' peak times, and the pitch shift (bins): an
    offset vote at the cluster's tempo, then least squares over the pairs that agree, twice."""
    offset = r_t[:, 0] - tempo * q_t[:, 0]
    low = np.floor(offset.min())
    votes = np.bincount(np.rint(offset - low).astype(np.int64))
    smoothed = np.convolve(votes, np.ones(5), mode="same")
    b = float(np.argmax(smoothed) + low)
    a = tempo
    inliers = np.abs(offset - b) <= 2.5 + p.time_tolerance
    for _ in range(2):
        if inliers.sum() < p.min_aligned:
            return None
        a, b = np.polyfit(q_t[inliers].ravel(), r_t[inliers].ravel(), 1)
        residual = np.abs(r_t - (a * q_t + b)).max(axis=1)
        inliers = residual <= p.time_tolerance
    pitch = float(np.median((q_f - r_f)[inliers]))
    inliers &= np.abs((q_f - r_f) - pitch).max(axis=1) <= p.bin_tolerance
    if inliers.sum() < p.min_aligned:
        return None
    return float(a), float(b), pitch


def _runs(
    starts: npt.NDArray[np.float64], ends: npt.NDArray[np.float64], p: ModifiedParams
) -> list[tuple[float, float, int]]:
    """Stretches of upload time the aligned triplets cover, split where they pause."""
    order = np.argsort(starts)
    starts, ends = starts[order], ends[order]
    breaks = np.nonzero(np.diff(starts) > p.max_gap_s * FRAMES_PER_SECOND)[0] + 1
    out = []
    for idx in np.split(np.arange(len(starts)), breaks):
        first, last = float(starts[idx[0]]), float(ends[idx].max())
        if (last - first) / FRAMES_PER_SECOND >= p.min_segment_s:
            out.append((first, last, len(idx)))
    return out


def _peak_hit_rate(
    query: Peaks, ref: Peaks, a: float, b: float, pitch: float, first: float, last: float, p: ModifiedParams
) -> float:
    """Share of the reference's peaks over the upload's [first, last] frames, moved to where the
    fitted tempo, offset and pitch shift put them, that the upload has (within the tolerances)."""
    lo, hi = a * first + b, a * last + b
    inside = (ref.frames >= lo) & (ref.frames <= hi)
    if not inside.any() or len(query) == 0:
        return 0.0
    moved_t = (ref.frames[inside] - b) / a
    moved_f = ref.bins[inside] + pitch
    left = np.searchsorted(query.frames, moved_t - p.time_tolerance, side="left")
    right = np.searchsorted(query.frames, moved_t + p.time_tolerance, side="right")
    hits = 0
    for k in range(len(moved_t)):
        if np.any(np.abs(query.bins[left[k] : right[k]] - moved_f[k]) <= 1.0):
            hits += 1
    return hits / len(moved_t)
