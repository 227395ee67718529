"""Watermark detection on a whole track: any sample rate and channel count, any length up to the
pipeline's limit, in bounded memory.

The track is mixed to mono, resampled to 16 kHz and cut into windows with context on both sides;
windows go through the detector one at a time, and only their centres are kept. That bounds
memory (a 20-minute track never sits in the model at once) and is also faster on a CPU, whose
caches like short sequences: one 4 s window at a time measured ~1.5x faster than batches of
four or than whole tracks. Each window is read straight into per-frame figures (`frames.py`):
the detector's per-sample output is never built, which halves the cost of a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import torch
import torchaudio.functional as AF
from audioseal.loader import AudioSeal
from audioseal.models import AudioSealDetector

from detectors.watermark.architecture import HOP, SAMPLE_RATE
from detectors.watermark.frames import frame_reader
from detectors.watermark.payload import Payload
from detectors.watermark.sync import find_grid, realigned
from detectors.watermark.weights import model_version
from model.findings import WatermarkDetection, WatermarkSpan

NAME = "watermark"
VERSION = "2"  # 2: uploads screened (one second in four) before a whole read
MIN_SECONDS = 1.0
WINDOW_S = 4.0
CONTEXT_S = 0.24  # the convolutions see ~0.15 s; the rest is margin
SCORE_WINDOW_S = 5.0
SPAN_PROBABILITY = 0.5
MIN_SPAN_S = 1.0
MAX_GAP_S = 1.0
# An upload is first screened: one second read in every four. Only when a screened second's mean
# probability reaches the bar (or the detection threshold, when that is lower) is the whole track
# read (as if unscreened); otherwise the watermark is reported absent. The bar sits far under what
# carried watermarks score (README, Watermarks).
SCREEN_READ_S = 1.0
SCREEN_EVERY_S = 4.0
SCREEN_BAR = 0.5
SCREEN_MIN_S = 20.0  # this long or shorter, audio is read whole: a screen would save little of it


class AudioTooShort(ValueError):
    """Too little audio for a judgement either way."""


@dataclass(frozen=True)
class FrameScores:
    """Per 20 ms frame: detection probability and the 16 message logits."""

    probability: npt.NDArray[np.float32]  # frames
    bit_logits: npt.NDArray[np.float32]  # frames x 16
    read: npt.NDArray[np.bool_] | None = None  # frames the detector read (a screen); None: all

    @property
    def frame_s(self) -> float:
        return HOP / SAMPLE_RATE


@lru_cache(maxsize=4)
def load_detector(source: str) -> tuple[AudioSealDetector, str]:
    """The detector from a local checkpoint or an audioseal model card name, and its version."""
    model = AudioSeal.load_detector(source).eval()
    return model, model_version(source)


def to_mono_16k(samples: npt.NDArray[np.float32], sample_rate: int) -> torch.Tensor:
    """samples: (n,) or (n, channels) -> mono float32 at 16 kHz."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    tensor = torch.from_numpy(np.ascontiguousarray(audio))
    if sample_rate != SAMPLE_RATE:
        tensor = AF.resample(tensor, sample_rate, SAMPLE_RATE)
    return tensor


@torch.inference_mode()
def frame_scores(model: AudioSealDetector, audio: torch.Tensor) -> FrameScores:
    """Run the detector window by window over 16 kHz mono audio.

    Windows never reach past the audio: zero padding, harmless to detection, scrambled the
    message bits (measured: bit accuracy 0.49 with zero-padded windows, 0.66 without). Each window
    is read with context on both sides where the audio has it, and the last one is shifted back
    to end near where the audio ends. Every window starts on the detector's own 320-sample frame
    grid: a bit's read-out varies within a frame and cancels only over whole frames, so windows
    off the grid decoded wrong payloads with full confidence."""
    return _read_windows(model, audio, WINDOW_S, WINDOW_S)


@torch.inference_mode()
def screen_scores(model: AudioSealDetector, audio: torch.Tensor) -> FrameScores:
    """The frames of SCREEN_READ_S in every SCREEN_EVERY_S, read as `frame_scores` reads windows;
    the others are marked not read."""
    return _read_windows(model, audio, SCREEN_READ_S, SCREEN_EVERY_S)


def _read_windows(
    model: AudioSealDetector, audio: torch.Tensor, keep_s: float, every_s: float
) -> FrameScores:
    """Windows of `keep_s` starting every `every_s`, each read with its context; the frames
    between them (when `every_s` > `keep_s`) are marked not read."""
    window, context, every = (round(s * SAMPLE_RATE / HOP) * HOP for s in (keep_s, CONTEXT_S, every_s))
    span = window + 2 * context
    read = frame_reader(model, HOP, span)
    total = audio.shape[0]
    probability = np.zeros(total // HOP, dtype=np.float32)
    read_frames = np.zeros(total // HOP, dtype=bool)
    bit_logits: npt.NDArray[np.float32] | None = None
    for keep_start in range(0, total, every):
        keep_end = min(keep_start + window, total)
        start = max(0, min(keep_start - context, (total - span) // HOP * HOP))
        output = read(audio[start : start + span].reshape(1, 1, -1))
        kept = slice((keep_start - start) // HOP, (keep_end - start) // HOP)
        frames = slice(keep_start // HOP, keep_start // HOP + (kept.stop - kept.start))
        probability[frames] = output.probability[0, kept].numpy()
        read_frames[frames] = True
        if bit_logits is None:
            bit_logits = np.zeros((total // HOP, output.bit_logits.shape[-1]), dtype=np.float32)
        bit_logits[frames] = output.bit_logits[0, kept].numpy()
    if bit_logits is None:  # no audio at all
        bit_logits = np.zeros((0, 0), dtype=np.float32)
    return FrameScores(probability, bit_logits, None if read_frames.all() else read_frames)


def best_screened_second(screened: FrameScores) -> float:
    """The highest mean probability of a screened second."""
    read = np.arange(len(screened.probability)) if screened.read is None else np.flatnonzero(screened.read)
    groups = np.split(screened.probability[read], np.flatnonzero(np.diff(read) > 1) + 1)
    return max((float(g.mean()) for g in groups if g.size), default=0.0)


def track_score(scores: FrameScores) -> float:
    """Best mean probability over 5 s windows (the whole track if shorter), stepping by 1 s: a
    watermark on part of a long track still counts, and one window's noise doesn't."""
    per_window = int(SCORE_WINDOW_S / scores.frame_s)
    probability = scores.probability
    if probability.shape[0] <= per_window:
        return float(probability.mean())
    sums = np.concatenate([[0.0], np.cumsum(probability, dtype=np.float64)])
    step = int(1.0 / scores.frame_s)
    starts = np.arange(0, probability.shape[0] - per_window + 1, step)
    return float(((sums[starts + per_window] - sums[starts]) / per_window).max())


def spans(scores: FrameScores) -> list[WatermarkSpan]:
    """Runs of frames above 0.5, joined across gaps under 1 s, kept when at least 1 s long."""
    above = scores.probability >= SPAN_PROBABILITY
    runs: list[list[int]] = []
    frame_s = scores.frame_s
    for index in np.flatnonzero(above):
        if runs and (index - runs[-1][1]) * frame_s <= MAX_GAP_S:
            runs[-1][1] = int(index) + 1
        else:
            runs.append([int(index), int(index) + 1])
    return [
        WatermarkSpan(
            start_s=round(start * frame_s, 2),
            end_s=round(end * frame_s, 2),
            probability=round(float(scores.probability[start:end].mean()), 4),
        )
        for start, end in runs
        if (end - start) * frame_s >= MIN_SPAN_S
    ]


def per_second(scores: FrameScores) -> list[float | None]:
    """Each second's mean probability; None for a second the detector did not read."""
    frames_per_second = round(1.0 / scores.frame_s)
    count = -(-scores.probability.shape[0] // frames_per_second)
    seconds: list[float | None] = []
    for i in range(count):
        second = slice(i * frames_per_second, (i + 1) * frames_per_second)
        read = scores.probability[second]
        if scores.read is not None:
            read = read[scores.read[second]]
        seconds.append(round(float(read.mean()), 4) if read.size else None)
    return seconds


def decode_bits(scores: FrameScores) -> tuple[list[int], list[float]]:
    """Message bits from the frames that carry the watermark (all frames, weighted by their
    probability, when none clearly does), with each bit's confidence."""
    weights = np.where(scores.probability >= SPAN_PROBABILITY, scores.probability, 0.0)
    if weights.sum() <= 0:
        weights = scores.probability.astype(np.float64) + 1e-9
    logits = (scores.bit_logits * weights[:, None]).sum(axis=0) / weights.sum()
    ones = 0.5 * (1.0 + np.tanh(logits / 2.0))  # the logistic function, without overflow
    bits = [int(p > 0.5) for p in ones]
    return bits, [round(float(abs(2 * p - 1)), 4) for p in ones]


@dataclass(frozen=True)
class PayloadRead:
    bits: list[int]
    confidence: list[float]
    grid_offset_samples: float  # how far the audio was moved onto the embedding grid; 0 if not


def read_payload(model: AudioSealDetector, audio: torch.Tensor, scores: FrameScores) -> PayloadRead:
    """The payload where the watermark lies; when that names no registered generator, it was
    probably read off the embedding grid (a trimmed start, a clip pasted into a mix), so the grid
    is searched for and the payload read again there. A misread naming a registered generator is
    rare (as rare as a random id being registered), and the platform's own generator embeds only
    registered ones, so its aligned tracks never pay for the search."""
    bits, confidence = decode_bits(scores)
    if Payload.from_bits(bits).registered:
        return PayloadRead(bits, confidence, 0.0)
    grid = find_grid(model, audio, scores.probability)
    if grid.samples == 0:
        return PayloadRead(bits, confidence, 0.0)
    bits, confidence = decode_bits(frame_scores(model, realigned(audio, grid)))
    return PayloadRead(bits, confidence, grid.samples)


def detect(
    samples: npt.NDArray[np.float32], sample_rate: int, source: str, threshold: float, screen: bool = False
) -> WatermarkDetection:
    """Is the audio watermarked, where, and with what payload. Raises AudioTooShort under 1 s.
    `screen`: read one second in four first, and the rest only if one of those carries any sign
    of a watermark (uploads: most carry none)."""
    duration = samples.shape[0] / sample_rate
    if duration < MIN_SECONDS:
        raise AudioTooShort(
            f"audio is {duration:.2f} s long; the watermark detector needs at least {MIN_SECONDS:.0f} s"
        )
    if not np.isfinite(samples).all():
        raise ValueError("the audio holds samples that are not numbers (NaN or infinity): not judged")
    model, version = load_detector(source)
    audio = to_mono_16k(samples, sample_rate)
    if screen and duration > SCREEN_MIN_S:
        screened = screen_scores(model, audio)
        best = best_screened_second(screened)
        if best < min(SCREEN_BAR, threshold) and np.isfinite(best):
            return WatermarkDetection(
                model=version,
                detected=False,
                probability=round(best, 4),
                threshold=threshold,
                spans=[],
                watermarked_seconds=0.0,
                per_second=per_second(screened),
                read_share=round(float(np.mean(screened.read)) if screened.read is not None else 1.0, 4),
            )
    scores = frame_scores(model, audio)
    probability = track_score(scores)
    found = spans(scores)
    detected = probability >= threshold
    result = WatermarkDetection(
        model=version,
        detected=detected,
        probability=round(probability, 4),
        threshold=threshold,
        spans=found if detected else [],
        watermarked_seconds=round(sum(s.end_s - s.start_s for s in found), 2) if detected else 0.0,
        per_second=per_second(scores),
    )
    if not detected:
        return result
    read = read_payload(model, audio, scores)
    payload = Payload.from_bits(read.bits)
    return result.model_copy(
        update={
            "grid_offset_samples": read.grid_offset_samples,
            "payload": payload.value,
            "bit_confidence": read.confidence,
            "generator_id": payload.generator_id,
            "generator_version": payload.model_version,
            "generator_name": payload.generator_name,
            "generator_registered": payload.registered,
        }
    )
