"""Cover detection: which stretches of an upload perform a registered composition, in another
key, tempo, arrangement and timbre (the approach of Serra, Gómez, Herrera and Serra 2009).

A print is beat-synchronous chroma: the twelve pitch classes' energy between consecutive beats,
so a tempo change moves nothing and a key change rotates every vector by the same number of
bins. A match:
1. the transposition: the rotation of the reference's global pitch-class profile that best fits
   the upload's (the "optimal transposition index"; the second best is tried too);
2. a cross-recurrence plot between the two, in a delay embedding of a few beats (a vector is a
   short phrase, not a single chord, which is what separates two songs on one progression): a
   cell is set where each is among the other's nearest few;
3. the longest, densest diagonal stretch of it by local alignment (Qmax), whose steps allow the
   beat tracker to count one song twice as fast as the other; the path's ends give the stretch
   in the upload and in the reference, and its time spans the tempo ratio;
4. the lead line along that stretch: songs on one progression share their chords, not their
   tune. Per half beat the print keeps the pitch class of the most salient pitch (harmonic
   summation) once what is held over a few beats (chords, pads, drones) is taken away; the share
   of aligned half beats whose lead agrees, in the found key, weighs the score.

Retrieval: a fixed-length vector per section (the 2D Fourier transform magnitude of a patch of
beat chroma, Bertin-Mahieux and Ellis 2012, and of the same patch of the lead line), invariant to
key and to where the patch starts, searched by nearest neighbours; alignment runs on the
shortlist only.
"""

from __future__ import annotations

import base64
import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from detectors.spectrum import centred_power_spectrogram
from model.findings import CompositionMatch, CompositionMatches, CompositionMetadata, CompositionSegment

NAME = "composition_match"
VERSION = "0.3.0"  # of the matcher: what findings it makes
PRINT_VERSION = "0.1.0"  # of the print: registered prints stay valid while it holds
LEAD_VERSION = "0.1.0"  # of the lead line (prints registered without one are matched on chroma)

RATE = 22050
HOP = 512
N_FFT = 4096
ONSET_N_FFT = 2048  # librosa's onset strength default
SUBDIVISIONS = 2  # chroma vectors per beat: a melody moves in eighth notes
EMBED_BEATS = 4  # a vector of the recurrence plot: this many beats in a row
NEIGHBOURS = 0.1  # share of the other's vectors a cell must be among the nearest of (both ways)
GAP_OPEN, GAP_EXTEND = 5.0, 0.5  # Qmax's penalties for leaving and staying off the diagonal
TRANSPOSITIONS_TRIED = 2
AGREEMENT_POWER = 2.0  # how much the alignment's length is discounted by its phrases' disagreement
PATCH_BEATS = 24  # a section vector: six bars of four beats
PATCH_HOP = 8
TUNE_CHROMA_WEIGHT = 0.5  # of a tune vector's similarity, the chroma's share (the lead line's the rest)
TUNE_VERSION = "0.1.0"  # of the tune vectors: documents with another are searched by chroma alone
MIN_BEATS = PATCH_BEATS  # shorter audio has no section and is not matched
EMBED_STEPS = EMBED_BEATS * SUBDIVISIONS
READING_PACE_RATIO = 1.5  # a tempo reading this far from the reference's pace is not aligned
MAX_QUERY_SECTIONS = 24  # per tempo reading: sections overlap 3x, so 24 spread evenly still cover 3.5 minutes
LEAD_LOW, LEAD_HIGH = 55, 91  # MIDI range of the lead line's candidate pitches (G3 up to G6)
LEAD_CANDIDATES_PER_SEMITONE = 3
LEAD_HARMONICS, LEAD_HARMONIC_WEIGHT = 8, 0.8  # harmonic summation: weight 0.8^(h-1) of harmonic h
LEAD_HELD_STEPS = 9  # the median over this many half beats is what is held: a pitch sounding in 5 of them
NO_PITCH = 255  # a half beat where no pitch stands out above what is held
LEAD_MIN_SOUNDING = 0.25  # of an aligned stretch's steps with a lead pitch, on each side, to compare tunes

Floats = npt.NDArray[np.float32]


PitchClasses = npt.NDArray[np.uint8]


def _no_lead() -> PitchClasses:
    return np.zeros(0, np.uint8)


@dataclass(frozen=True)
class CoverPrint:
    """Beat times (seconds), the chroma between each beat and the next (unit vectors) and the
    lead line's pitch class there (NO_PITCH where none stands out; empty for a print made
    before the lead line was, which is then matched on chroma alone)."""

    beats: Floats  # n + 1 boundaries
    chroma: Floats  # n x 12
    lead: PitchClasses = field(default_factory=_no_lead)  # n pitch classes, or empty

    @property
    def duration_s(self) -> float:
        return float(self.beats[-1] - self.beats[0]) if len(self.beats) > 1 else 0.0

    @functools.cached_property
    def embedded(self) -> Floats:
        """The chroma's embedded vectors, taken once for an upload aligned with many references."""
        return _embedded(self.chroma)


@dataclass(frozen=True)
class CoverAlignment:
    score: float  # Qmax (aligned steps, less gaps) x agreement^AGREEMENT_POWER (chroma only)
    transposition: int  # semitones the upload is above the reference, -5..+6
    tempo_factor: float  # how many times as fast as the reference the upload plays
    upload_start_s: float
    upload_end_s: float
    reference_start_s: float
    reference_end_s: float


def cover_print(samples: Floats, sample_rate: int) -> CoverPrint:
    """The print of mono audio at any rate."""
    import librosa  # numba-compiled on first use: not at import

    y = _at_rate(samples, sample_rate)
    mel = librosa.feature.melspectrogram(S=_power_spectrogram(y, ONSET_N_FFT), sr=RATE)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=RATE, hop_length=HOP)
    bpm = _tempo(onset) if onset.any() else None  # beat_track needs none without onsets
    _, beat_frames = librosa.beat.beat_track(onset_envelope=onset, sr=RATE, hop_length=HOP, bpm=bpm)
    beats = np.unique(np.asarray(beat_frames, dtype=np.int64))
    if len(beats) < 2:
        return CoverPrint(np.zeros(0, np.float32), np.zeros((0, 12), np.float32))
    frames = _subdivided(beats, SUBDIVISIONS)
    power = _power_spectrogram(y, N_FFT)
    chroma = librosa.feature.chroma_stft(S=power, sr=RATE, n_fft=N_FFT, hop_length=HOP, tuning=0.0)
    between = np.stack([chroma[:, a:b].mean(axis=1) for a, b in itertools.pairwise(frames)])
    times = librosa.frames_to_time(frames, sr=RATE, hop_length=HOP)
    lead = _lead_line(power, frames)
    return CoverPrint(times.astype(np.float32), _unit_rows(between.astype(np.float32)), lead)


def _tempo(onset: Floats) -> Any:
    """`librosa.feature.tempo` of the onset envelope, as `beat_track` asks it (its defaults),
    from a mean autocorrelation tempogram taken here TEMPOGRAM_BLOCK frames at a time instead of
    as librosa's whole-track arrays."""
    import librosa

    return librosa.feature.tempo(tg=_mean_tempogram(onset)[:, None], sr=RATE, hop_length=HOP)


TEMPO_WINDOW = int(8.0 * RATE) // HOP  # onset frames an autocorrelation spans (librosa's `ac_size`, 8 s)
TEMPOGRAM_BLOCK = 256


def _mean_tempogram(onset: Floats) -> npt.NDArray[np.float64]:
    """The mean over frames of librosa's autocorrelation tempogram (centred windows, the
    envelope padded with linear ramps to zero, periodic Hann, each frame scaled to a peak of 1)."""
    import scipy.fft
    import scipy.signal

    window = scipy.signal.get_window("hann", TEMPO_WINDOW, fftbins=True)
    n = len(onset)
    # float64, as librosa's window makes it: in float32 the lags where the autocorrelation is zero
    # keep FFT noise, which the tempo's log1p(1e6 x) weighting magnifies into other choices on
    # short, sparse envelopes
    padded = np.pad(np.asarray(onset, np.float64), TEMPO_WINDOW // 2, mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, TEMPO_WINDOW)[:n]
    n_pad = scipy.fft.next_fast_len(2 * TEMPO_WINDOW - 1, real=True)
    total = np.zeros(TEMPO_WINDOW, np.float64)
    for start in range(0, n, TEMPOGRAM_BLOCK):
        spectra = scipy.fft.rfft(frames[start : start + TEMPOGRAM_BLOCK] * window, n=n_pad, axis=1, workers=1)
        power = spectra.real**2 + spectra.imag**2
        lags = scipy.fft.irfft(power, n=n_pad, axis=1, workers=1)[:, :TEMPO_WINDOW]
        peak = np.abs(lags).max(axis=1, keepdims=True)
        total += (lags / np.where(peak < np.finfo(np.float64).tiny, 1.0, peak)).sum(axis=0)
    mean: npt.NDArray[np.float64] = total / max(n, 1)
    return mean


def lead_line(samples: Floats, sample_rate: int, beats: Floats) -> PitchClasses:
    """The lead line of mono audio between the given step boundaries (seconds): what
    `cover_print` computes, for a print whose beats are already known."""
    y = _at_rate(samples, sample_rate)
    frames = np.rint(np.asarray(beats, dtype=np.float64) * RATE / HOP).astype(np.int64)
    return _lead_line(_power_spectrogram(y, N_FFT), frames)


def _at_rate(samples: Floats, sample_rate: int) -> Floats:
    import librosa

    if sample_rate == RATE:
        return samples
    return cast(Floats, librosa.resample(samples, orig_sr=sample_rate, target_sr=RATE))


def _lead_line(power: Floats, frames: npt.NDArray[np.int64]) -> PitchClasses:
    """Per step between consecutive `frames`: the pitch class of the candidate pitch whose
    harmonics sound strongest once what is held over LEAD_HELD_STEPS steps is taken away (the
    median over them), NO_PITCH where nothing stands out. The chords of a bar are held; a tune
    moves. With the median over 9 half beats, a pitch sounding through 5 of them (two and a half
    beats) or more counts as held, as a long note of the tune would. Salience is linear in the
    magnitudes, so each step's mean magnitude is summed."""
    from scipy.ndimage import median_filter

    pitch_classes, weights = _harmonic_sum()
    spectra = power.T  # frames x bins, contiguous
    if len(frames) < 2 or not len(spectra):
        return _no_lead()
    bounds = np.clip(frames, 0, len(spectra) - 1)
    ends = np.maximum(bounds[1:], bounds[:-1] + 1)
    # magnitudes a step at a time: a whole track's square roots would pass through memory
    steps = np.stack([np.sqrt(spectra[a:b]).mean(axis=0) for a, b in zip(bounds[:-1], ends, strict=True)])
    salience = steps @ weights.T  # steps x candidates
    moving = np.maximum(salience - median_filter(salience, size=(LEAD_HELD_STEPS, 1), mode="nearest"), 0.0)
    best = moving.argmax(axis=1)
    stands_out = moving[np.arange(len(moving)), best] > 0
    return np.where(stands_out, pitch_classes[best], NO_PITCH).astype(np.uint8)


@functools.cache
def _harmonic_sum() -> tuple[npt.NDArray[np.int64], Floats]:
    """The candidate pitches' classes and their weights over the spectrum's bins: each harmonic
    h of the candidate, LEAD_HARMONIC_WEIGHT^(h-1), spread over the bins within a semitone of it
    (cosine squared)."""
    frequencies = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    per_semitone = LEAD_CANDIDATES_PER_SEMITONE
    candidates = LEAD_LOW + np.arange((LEAD_HIGH - LEAD_LOW) * per_semitone) / per_semitone
    bin_pitch = 69 + 12 * np.log2(np.maximum(frequencies, 1e-6) / 440)
    weights = np.zeros((len(candidates), len(frequencies)))
    for h in range(1, LEAD_HARMONICS + 1):
        distance = np.abs(bin_pitch[None, :] - (candidates[:, None] + 12 * np.log2(h)))
        spread = np.where(distance < 1.0, np.cos(distance * np.pi / 2) ** 2, 0.0)
        weights += spread * LEAD_HARMONIC_WEIGHT ** (h - 1)
    return np.rint(candidates).astype(np.int64) % 12, weights.astype(np.float32)


def _power_spectrogram(y: Floats, n_fft: int) -> Floats:
    """librosa.stft's power spectrogram, bins x frames, in a third of the time librosa takes. A
    transposed view: librosa's filter banks multiply it as it is, and a contiguous copy of a
    three-minute spectrogram took longer than its FFTs."""
    return centred_power_spectrogram(y, n_fft, HOP).T


def _subdivided(beats: npt.NDArray[np.int64], parts: int) -> npt.NDArray[np.int64]:
    """Beat frames with `parts - 1` evenly spaced frames between each beat and the next."""
    steps = np.linspace(0, 1, parts, endpoint=False)
    inner = beats[:-1, None] + np.outer(np.diff(beats), steps)
    return np.unique(np.concatenate([np.rint(inner).astype(np.int64).reshape(-1), beats[-1:]]))


def _unit_rows(x: Floats) -> Floats:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return cast(Floats, (x / np.maximum(norms, 1e-9)).astype(np.float32))


def pack(p: CoverPrint) -> str:
    """Compact text for a catalog document: per beat its time (ms, 4 bytes) and 12 bytes of
    chroma (each bin 0-255 of the vector's largest)."""
    ms = np.rint(p.beats[1:] * 1000).astype(">u4").view(np.uint8).reshape(-1, 4)
    peak = np.maximum(p.chroma.max(axis=1, keepdims=True), 1e-9)
    levels = np.rint(p.chroma / peak * 255).astype(np.uint8)
    if not len(p.beats):
        return ""
    head = np.array([round(float(p.beats[0]) * 1000)], dtype=">u4").tobytes()
    body = np.concatenate([ms, levels], axis=1).tobytes() if len(levels) else b""
    return base64.b64encode(head + body).decode("ascii")


def pack_lead(p: CoverPrint) -> str:
    """The lead line for a catalog document: a byte per step (its pitch class, or NO_PITCH)."""
    return base64.b64encode(p.lead.astype(np.uint8).tobytes()).decode("ascii")


def unpack(text: object, lead: object = "") -> CoverPrint:
    """The stored print; an empty one (which matches nothing) for anything that is not a print. A
    lead line that is absent, not a lead line or not one per step is left out: the print is
    then matched on chroma alone."""
    try:
        raw = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raw = np.zeros(0, np.uint8)
    if len(raw) < 4 or (len(raw) - 4) % 16:
        return CoverPrint(np.zeros(0, np.float32), np.zeros((0, 12), np.float32))
    first = int(raw[:4].view(">u4")[0])
    rows = raw[4:].reshape(-1, 16)
    ms = rows[:, :4].copy().view(">u4").reshape(-1).astype(np.float64)
    beats = np.concatenate([[first], ms]) / 1000
    chroma = _unit_rows(rows[:, 4:].astype(np.float32))
    return CoverPrint(beats.astype(np.float32), chroma, _unpacked_lead(lead, len(chroma)))


def _unpacked_lead(text: object, steps: int) -> PitchClasses:
    if not isinstance(text, str) or len(text) != 4 * -(-steps // 3):  # base64 of `steps` bytes
        return _no_lead()
    try:
        raw = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    except ValueError:
        return _no_lead()
    if len(raw) != steps or not np.all((raw < 12) | (raw == NO_PITCH)):
        return _no_lead()
    return raw.copy()


def section_vectors(p: CoverPrint) -> list[tuple[float, Floats]]:
    """(start second, unit vector) per section: the magnitude of the 2D Fourier transform of a
    patch of beat chroma, invariant to key (a rotation of the chroma axis) and to where in the
    patch the music starts; square-root compressed. A silent section has none."""
    return [(start_s, vector) for _, start_s, vector in _sections(p)]


def _sections(p: CoverPrint) -> list[tuple[int, float, Floats]]:
    """(first beat, start second, unit chroma vector) of each section that is not silent (a zero
    vector has no direction: Elasticsearch refuses it)."""
    found = []
    n = len(p.chroma) // SUBDIVISIONS
    beats = p.chroma[: n * SUBDIVISIONS].reshape(n, SUBDIVISIONS, 12).mean(axis=1)
    for first in range(0, n - PATCH_BEATS + 1, PATCH_HOP):
        patch = beats[first : first + PATCH_BEATS]
        magnitude = np.abs(np.fft.rfft2(patch.T))  # 12 pitch classes x (PATCH_BEATS / 2 + 1)
        vector = np.sqrt(magnitude).reshape(-1).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        if norm > 1e-6:
            found.append((first, float(p.beats[first * SUBDIVISIONS]), cast(Floats, vector / norm)))
    return found


VECTOR_DIMS = 12 * (PATCH_BEATS // 2 + 1)
TUNE_DIMS = 2 * VECTOR_DIMS


def tune_vectors(p: CoverPrint) -> list[tuple[float, Floats]]:
    """(start second, unit vector) per section, of the chroma and the lead line together: the
    section vector beside the same transform of the lead line's patch (a pitch class per half
    beat, averaged per beat), weighed so that a dot product is TUNE_CHROMA_WEIGHT of the
    chroma's similarity and the rest the lead line's. Songs on one progression share chroma
    sections; their tunes tell them apart (a section without a tune has only its chroma, so it
    is nearer other such sections than any with a tune). Empty for a print without a lead line."""
    sections = _sections(p)
    tunes = _tunes(p, sections)
    if not tunes:
        return []
    return [(start_s, tune) for (_, start_s, _), tune in zip(sections, tunes, strict=True)]


def _tunes(p: CoverPrint, sections: list[tuple[int, float, Floats]]) -> list[Floats]:
    """The tune vector of each of `sections` (the print's own); none without a lead line."""
    if len(p.lead) != len(p.chroma):
        return []
    n = len(p.lead) // SUBDIVISIONS
    sounding = p.lead[: n * SUBDIVISIONS] != NO_PITCH
    one_hot = np.zeros((n * SUBDIVISIONS, 12), np.float32)
    one_hot[np.flatnonzero(sounding), p.lead[: n * SUBDIVISIONS][sounding]] = 1.0
    per_beat = one_hot.reshape(n, SUBDIVISIONS, 12).mean(axis=1)
    found = []
    for first, _, chroma_vector in sections:
        lead = np.sqrt(np.abs(np.fft.rfft2(per_beat[first : first + PATCH_BEATS].T))).reshape(-1)
        lead /= max(float(np.linalg.norm(lead)), 1e-9)  # a patch without a tune stays zero
        vector = np.concatenate(
            [np.sqrt(TUNE_CHROMA_WEIGHT) * chroma_vector, np.sqrt(1 - TUNE_CHROMA_WEIGHT) * lead]
        )
        found.append(cast(Floats, (vector / np.linalg.norm(vector)).astype(np.float32)))
    return found


def tempo_variants(p: CoverPrint) -> list[CoverPrint]:
    """The print as tracked, with beats merged in pairs, and with each beat split in two: what
    a beat tracker counting the other song at half or double its pulse would have made."""
    variants = [p]
    with_lead = len(p.lead) == len(p.chroma)
    if len(p.chroma) >= 2 * MIN_BEATS * SUBDIVISIONS:
        n = len(p.chroma) // 2 * 2
        merged = p.chroma[:n].reshape(n // 2, 2, -1).mean(axis=1)
        first, second = p.lead[0:n:2], p.lead[1:n:2]
        lead = np.where(first != NO_PITCH, first, second) if with_lead else _no_lead()
        variants.append(CoverPrint(p.beats[: n + 1 : 2], _unit_rows(merged), lead))
    if len(p.chroma) >= 2:
        mids = (p.beats[:-1] + p.beats[1:]) / 2
        beats = np.empty(2 * len(p.beats) - 1, np.float32)
        beats[0::2], beats[1::2] = p.beats, mids
        lead = np.repeat(p.lead, 2) if with_lead else _no_lead()
        variants.append(CoverPrint(beats, np.repeat(p.chroma, 2, axis=0), lead))
    return variants


def align(upload: CoverPrint, reference: CoverPrint) -> CoverAlignment | None:
    """The best stretch of `upload` that performs part of `reference`; None when either is too
    short to embed."""
    if min(len(upload.chroma), len(reference.chroma)) < EMBED_STEPS + 2:
        return None
    best: CoverAlignment | None = None
    for rotation in _transpositions(upload.chroma, reference.chroma)[:TRANSPOSITIONS_TRIED]:
        rotated = np.roll(reference.chroma, rotation, axis=1)
        similarity = upload.embedded @ _embedded(rotated).T
        length, (i0, j0, i1, j1) = _qmax(_recurrence(similarity), GAP_OPEN, GAP_EXTEND)
        score = length * _agreement(similarity, i0, j0, i1, j1) ** AGREEMENT_POWER
        if best is not None and score <= best.score:
            continue
        span = EMBED_STEPS  # an embedded vector reaches this many steps on
        u0, u1 = float(upload.beats[i0]), float(upload.beats[min(i1 + span, len(upload.beats) - 1)])
        r0, r1 = float(reference.beats[j0]), float(reference.beats[min(j1 + span, len(reference.beats) - 1)])
        best = CoverAlignment(
            score=float(score),
            transposition=int(rotation if rotation <= 6 else rotation - 12),
            tempo_factor=(r1 - r0) / (u1 - u0) if u1 > u0 and r1 > r0 else 1.0,
            upload_start_s=u0,
            upload_end_s=u1,
            reference_start_s=r0,
            reference_end_s=r1,
        )
    return best


def _transpositions(upload: Floats, reference: Floats) -> list[int]:
    """Rotations of the reference's pitch classes, best fit to the upload's first."""
    a, b = upload.mean(axis=0), reference.mean(axis=0)
    fits = [float(np.dot(a, np.roll(b, r))) for r in range(12)]
    return [int(r) for r in np.argsort(fits)[::-1]]


def _embedded(x: Floats) -> Floats:
    n = len(x) - EMBED_STEPS + 1
    return _unit_rows(np.concatenate([x[i : i + n] for i in range(EMBED_STEPS)], axis=1))


def _agreement(similarity: Floats, i0: int, j0: int, i1: int, j1: int) -> float:
    """Mean similarity along the aligned stretch. The recurrence plot only says which phrases
    are nearest each other; two songs on one progression align over their whole length too,
    but their phrases agree less (their melodies differ)."""
    n = max(i1 - i0, j1 - j0) + 1
    rows = np.rint(np.linspace(i0, i1, n)).astype(np.int64)
    columns = np.rint(np.linspace(j0, j1, n)).astype(np.int64)
    return max(0.0, float(similarity[rows, columns].mean()))


def _recurrence(similarity: Floats) -> npt.NDArray[np.bool_]:
    ka = max(1, int(NEIGHBOURS * similarity.shape[1]))
    kb = max(1, int(NEIGHBOURS * similarity.shape[0]))
    if np.isfinite(similarity).all():
        row_floor: Floats = _kth_largest_compiled()(similarity, ka)
        # columns as rows of the transpose: contiguous memory, the same values
        column_floor: Floats = _kth_largest_compiled()(np.ascontiguousarray(similarity.T), kb)
    else:  # the compiled selection bins by value, which a NaN has none of
        row_floor = np.partition(similarity, -ka, axis=1)[:, -ka]
        column_floor = np.partition(np.ascontiguousarray(similarity.T), -kb, axis=1)[:, -kb]
    return (similarity >= row_floor[:, None]) & (similarity >= column_floor[None, :])


def _qmax(plot: npt.NDArray[np.bool_], gap_open: float, gap_extend: float) -> tuple[float, tuple[int, ...]]:
    score, where = _qmax_compiled()(plot.astype(np.uint8), gap_open, gap_extend)
    return float(score), tuple(int(w) for w in where)


_COMPILED: dict[str, Any] = {}
_SELECTION_BINS = 64


def _kth_largest_compiled() -> Any:
    """Each row's `k`-th largest value (what `np.partition(x, -k, axis=1)[:, -k]` gives),
    compiled by numba: the row's values counted into bins between its minimum and maximum, and
    only the bin that holds the `k`-th largest sorted. Binning is monotone in the value, so
    every value of a higher bin is at least any of a lower one. Finite float32 values only, and
    1 <= k <= the row length (as `_recurrence` asks). About 0.7 of `np.partition`'s time on the
    recurrence plots of three-minute uploads."""
    if "kth_largest" in _COMPILED:
        return _COMPILED["kth_largest"]
    import numba

    @numba.njit(cache=True)
    def kth_largest(x: Any, k: int) -> Any:
        n, m = x.shape
        out = np.empty(n, x.dtype)
        counts = np.zeros(_SELECTION_BINS, np.int64)
        binned = np.empty(m, np.int64)
        held = np.empty(m, x.dtype)
        for i in range(n):
            lo, hi = x[i, 0], x[i, 0]
            for j in range(1, m):
                lo, hi = min(lo, x[i, j]), max(hi, x[i, j])
            if hi == lo:
                out[i] = lo
                continue
            low = np.float64(lo)  # in float64 no float32 range overflows
            scale = _SELECTION_BINS / (np.float64(hi) - low)
            counts[:] = 0
            for j in range(m):
                binned[j] = min(int((np.float64(x[i, j]) - low) * scale), _SELECTION_BINS - 1)
                counts[binned[j]] += 1
            above, chosen = 0, _SELECTION_BINS - 1
            while above + counts[chosen] < k:
                above += counts[chosen]
                chosen -= 1
            c = 0
            for j in range(m):
                if binned[j] == chosen:
                    held[c] = x[i, j]
                    c += 1
            out[i] = np.sort(held[:c])[c - (k - above)]
        return out

    _COMPILED["kth_largest"] = kth_largest
    return kth_largest


def _qmax_compiled() -> Any:
    """Qmax local alignment (Serra et al. 2009) compiled by numba on first use, with the start
    of each path carried along so the best path's both ends are known."""
    if "qmax" in _COMPILED:
        return _COMPILED["qmax"]
    import numba

    # Only the last three rows are kept (a predecessor is at most two rows up), so the scores and
    # path starts stay in the caches; path starts are int32, and the first row and column skip
    # the predecessors.
    @numba.njit(cache=True)
    def qmax(plot: Any, gap_open: float, gap_extend: float) -> Any:
        n, m = plot.shape
        q = np.zeros((3, m), np.float32)
        si = np.zeros((3, m), np.int32)
        sj = np.zeros((3, m), np.int32)
        best, bi, bj, best_si, best_sj = 0.0, 0, 0, 0, 0
        for i in range(n):
            row, up, up2 = i % 3, (i + 2) % 3, (i + 1) % 3  # rows i, i - 1, i - 2
            for j in range(m):
                hit = plot[i, j] != 0
                value = 1.0 if hit else 0.0
                fi, fj = i, j
                if i >= 1 and j >= 1:
                    # predecessors (i-1, j-1), (i-2, j-1), (i-1, j-2), in that order
                    for a, kept, b in ((i - 1, up, j - 1), (i - 2, up2, j - 1), (i - 1, up, j - 2)):
                        if a < 0 or b < 0:
                            continue
                        penalty = 0.0 if hit else (gap_open if plot[a, b] else gap_extend)
                        step = q[kept, b] + 1.0 if hit else q[kept, b] - penalty
                        if step > value:
                            value, fi, fj = step, si[kept, b], sj[kept, b]
                q[row, j], si[row, j], sj[row, j] = value, fi, fj
                if value > best:
                    best, bi, bj, best_si, best_sj = value, i, j, fi, fj
        return best, (best_si, best_sj, bi, bj)

    _COMPILED["qmax"] = qmax
    return qmax


@dataclass(frozen=True)
class Performance:
    """A registered performance of a composition: a master that performs it, or a reference
    performance registered with the composition itself."""

    metadata: CompositionMetadata
    performance: str  # an ISRC, or "reference"
    print: CoverPrint

    @property
    def key(self) -> str:
        return performance_key(self.metadata.work_id, self.performance)


def performance_key(work_id: str, performance: str) -> str:
    return f"{work_id}|{performance}"


@dataclass(frozen=True)
class SectionQuery:
    """An upload's sections as they are searched: by tune vectors among the performances
    registered with them (of TUNE_VERSION), by chroma vectors among those registered before."""

    tunes: list[Floats]
    chroma: list[Floats]


class CompositionLookup(Protocol):
    def candidates(self, query: SectionQuery) -> list[str]:
        """Keys of the performances whose sections are nearest to the query's, best first."""

    def performances(self, keys: list[str]) -> list[Performance]: ...


@dataclass(frozen=True)
class CoverParams:
    """When an alignment is a cover. Three tests, calibrated on development covers and held-back
    songs of the same generator (bench/covers):
    - the lead line: the chroma alignment's score is weighed by how much the two lead lines
      agree along it, (agreement / lead_norm) ** lead_power (songs on one progression share
      chords, not tunes);
    - the acceptance line: a longer upload aligns further by chance, so the score needed grows
      with the upload's length in steps;
    - the ratio test: songs on one progression and groove all align with an upload to some
      degree; its song stands out from the others that align over the same stretch of it
      (a medley's songs, each on its own stretch, do not compete).
    Without a lead line on either side (a performance registered before prints had one, or an
    upload stretch with hardly a tune in it) the alignment is judged on chroma alone, against
    the line calibrated for that."""

    line_base: float = 20.0
    line_per_step: float = 0.1
    lead_power: float = 2.5
    lead_norm: float = 0.7  # the agreement that leaves the chroma score as it is
    chroma_only_line_base: float = 29.0
    chroma_only_line_per_step: float = 0.15
    ratio: float = 1.8
    shortlist: int = 60  # performances aligned per upload

    def line(self, steps: int, with_lead: bool = True) -> float:
        if with_lead:
            return self.line_base + self.line_per_step * steps
        return self.chroma_only_line_base + self.chroma_only_line_per_step * steps

    def weighed(self, score: float, lead: float | None) -> float:
        return score if lead is None else score * (lead / self.lead_norm) ** self.lead_power

    def margin(self, judgement: Judgement, steps: int) -> float:
        """How many times its line the judgement's score is: comparable with and without a lead."""
        return judgement.score / max(self.line(steps, with_lead=judgement.lead is not None), 1e-9)


@dataclass(frozen=True)
class Judgement:
    """A performance's best alignment with the upload, as the acceptance tests see it."""

    performance: Performance
    alignment: CoverAlignment
    lead: float | None  # share of the aligned half beats whose lead lines agree; None: no lead line
    score: float  # the alignment's score weighed by `lead`


def judged(variants: list[CoverPrint], performance: Performance, params: CoverParams) -> Judgement | None:
    """The upload's (`variants[0]` as tracked, then its other tempo readings) best alignment with
    `performance`, weighed by its lead line's agreement."""
    found = best_alignment(variants, performance.print)
    if found is None:
        return None
    lead = lead_agreement(variants[0], performance.print, found)
    return Judgement(performance, found, lead, params.weighed(found.score, lead))


def lead_agreement(upload: CoverPrint, reference: CoverPrint, found: CoverAlignment) -> float | None:
    """Of the upload's steps inside the aligned stretch, the share whose lead pitch class is the
    reference's at the matching time (mapped linearly along the stretch, a step either side
    allowed for the beat trackers' jitter), in the found key. None, and the alignment is judged on
    chroma alone, where either print has no lead line or either side of the stretch has a tune in
    fewer than LEAD_MIN_SOUNDING of its steps (an instrumental, a long intro: nothing to compare)."""
    if len(upload.lead) != len(upload.chroma) or len(reference.lead) != len(reference.chroma):
        return None
    if not len(upload.lead) or not len(reference.lead):
        return None
    u0, u1, r0, r1 = found.upload_start_s, found.upload_end_s, found.reference_start_s, found.reference_end_s
    middles = (upload.beats[:-1] + upload.beats[1:]) / 2
    inside = np.flatnonzero((middles >= u0) & (middles <= u1))
    if not len(inside) or u1 <= u0:
        return None
    at = r0 + (middles[inside] - u0) * (r1 - r0) / (u1 - u0)
    steps = np.clip(np.searchsorted(reference.beats, at) - 1, 0, len(reference.lead) - 1)
    heard = upload.lead[inside].astype(np.int64)
    if min(np.mean(heard != NO_PITCH), np.mean(reference.lead[steps] != NO_PITCH)) < LEAD_MIN_SOUNDING:
        return None
    agrees = np.zeros(len(inside), dtype=bool)
    for jitter in (-1, 0, 1):
        written = reference.lead[np.clip(steps + jitter, 0, len(reference.lead) - 1)].astype(np.int64)
        same = (written + found.transposition) % 12 == heard
        agrees |= (written != NO_PITCH) & (heard != NO_PITCH) & same
    return float(agrees.mean())


class CoverMatcher:
    def __init__(self, lookup: CompositionLookup, params: CoverParams = CoverParams()) -> None:
        self.lookup, self.params = lookup, params

    def __call__(self, upload: CoverPrint, upload_s: float) -> CompositionMatches:
        if len(upload.chroma) < MIN_BEATS * SUBDIVISIONS:
            return CompositionMatches(matches=[], candidates_considered=0, too_short=True)
        variants = tempo_variants(upload)
        keys = self.lookup.candidates(section_query(variants))[: self.params.shortlist]
        steps = len(upload.chroma)
        best: dict[str, Judgement] = {}
        for performance in self.lookup.performances(keys):
            found = judged(variants, performance, self.params)
            work = performance.metadata.work_id
            if found is not None and (
                work not in best or self.params.margin(found, steps) > self.params.margin(best[work], steps)
            ):
                best[work] = found
        matches = [
            _composition_match(found, upload_s)
            for work, found in best.items()
            if self.params.margin(found, steps) > 1.0 and _stands_out(work, found, best, self.params.ratio)
        ]
        matches.sort(key=lambda m: (-m.score, m.work_id))
        return CompositionMatches(matches=matches, candidates_considered=len(keys), too_short=False)


def ranked_candidates(hits: list[list[tuple[str, float]]]) -> list[str]:
    """Performance keys, best first, from each query section's nearest (key, similarity) hits:
    a performance is ranked by its best similarity to any section."""
    best: dict[str, float] = {}
    for section_hits in hits:
        for key, similarity in section_hits:
            best[key] = max(best.get(key, -1.0), similarity)
    return sorted(best, key=lambda k: -best[k])


def interleaved(tuned: list[str], legacy: list[str]) -> list[str]:
    """One ranking of the performances found by tune vectors and of those found by chroma
    alone (registered before tune vectors), whose similarities are not comparable: turn by turn."""
    merged: dict[str, None] = {}
    for pair in itertools.zip_longest(tuned, legacy):
        merged.update((key, None) for key in pair if key is not None)
    return list(merged)


def section_query(variants: list[CoverPrint]) -> SectionQuery:
    """The section vectors an upload is searched with: of every tempo reading, at most
    MAX_QUERY_SECTIONS spread evenly over it (a half-hour upload is not 1,300 searches)."""
    query = SectionQuery(tunes=[], chroma=[])
    for variant in variants:
        sections = _sections(variant)  # once: the tune vectors are made from the chroma's
        query.tunes.extend(_spread_evenly(_tunes(variant, sections)))
        query.chroma.extend(_spread_evenly([chroma for _, _, chroma in sections]))
    return query


def _spread_evenly(vectors: list[Floats]) -> list[Floats]:
    if len(vectors) <= MAX_QUERY_SECTIONS:
        return vectors
    keep = np.linspace(0, len(vectors) - 1, MAX_QUERY_SECTIONS).round().astype(int)
    return [vectors[i] for i in sorted(set(keep.tolist()))]


def _stands_out(work: str, found: Judgement, best: dict[str, Judgement], ratio: float) -> bool:
    """At least `ratio` times the score of every other composition aligned over most of the same
    stretch: weighed scores where both have a lead line, chroma scores where either has none
    (weighed and unweighed scores are not comparable: a rival re-registered with its lead line
    must not let an older print through)."""
    for other_work, other in best.items():
        if other_work == work or _overlap(found.alignment, other.alignment) < 0.5:
            continue
        both_lead = found.lead is not None and other.lead is not None
        mine, theirs = (
            (found.score, other.score) if both_lead else (found.alignment.score, other.alignment.score)
        )
        if mine < ratio * theirs:
            return False
    return True


def _overlap(a: CoverAlignment, b: CoverAlignment) -> float:
    shared = min(a.upload_end_s, b.upload_end_s) - max(a.upload_start_s, b.upload_start_s)
    shorter = min(a.upload_end_s - a.upload_start_s, b.upload_end_s - b.upload_start_s)
    return max(0.0, shared) / shorter if shorter > 0 else 0.0


def best_alignment(variants: list[CoverPrint], reference: CoverPrint) -> CoverAlignment | None:
    """The best alignment with `reference` of the upload's tempo readings that step through the
    music at about the reference's pace (always the nearest one). The others, at half or twice
    that pace, cost most of the time and found nothing the nearest did not."""
    found = [a for a in (align(v, reference) for v in paced_like(variants, reference)) if a is not None]
    return max(found, key=lambda a: a.score, default=None)


def paced_like(variants: list[CoverPrint], reference: CoverPrint) -> list[CoverPrint]:
    """The readings within READING_PACE_RATIO of the reference's steps per second, or the nearest."""
    pace = _steps_per_second(reference)
    if pace <= 0:
        return variants
    distance = [abs(np.log(max(_steps_per_second(v), 1e-9) / pace)) for v in variants]
    nearest = int(np.argmin(distance))
    return [v for i, v in enumerate(variants) if i == nearest or distance[i] <= np.log(READING_PACE_RATIO)]


def _steps_per_second(p: CoverPrint) -> float:
    return (len(p.beats) - 1) / p.duration_s if p.duration_s > 0 else 0.0


def _composition_match(judgement: Judgement, upload_s: float) -> CompositionMatch:
    found, performance = judgement.alignment, judgement.performance
    segment = CompositionSegment(
        upload_start_s=round(found.upload_start_s, 2),
        upload_end_s=round(found.upload_end_s, 2),
        reference_start_s=round(found.reference_start_s, 2),
        reference_end_s=round(found.reference_end_s, 2),
        performance=performance.performance,
        transposition_semitones=found.transposition,
        tempo_factor=round(found.tempo_factor, 4),
        score=round(judgement.score, 2),
        lead_agreement=None if judgement.lead is None else round(judgement.lead, 3),
    )
    seconds = found.upload_end_s - found.upload_start_s
    return CompositionMatch(
        **performance.metadata.model_dump(),
        segments=[segment],
        seconds_matched=round(seconds, 2),
        share_of_upload=round(min(1.0, seconds / upload_s) if upload_s > 0 else 0.0, 4),
        transposition_semitones=found.transposition,
        tempo_factor=segment.tempo_factor,
        score=segment.score,
    )
