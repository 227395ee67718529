"""Finding the embedding grid again, so a trimmed or re-placed watermark's payload can be read.

The payload's bits are carried in the phase of the detector's 320-sample frames: they read only
when the audio starts on the grid the watermark was embedded on (to within a quarter of a sample
or so at 16 kHz). Trim the start of a generated track, or paste it into a mix at any position,
and detection still fires (the detector's shift stage trained it for that) but the bits read
wrong.

The search tries every offset in one frame at half-sample steps (640 candidates) on a short
excerpt where the watermark is strongest and ranks them by how strongly the bits read; the best
few, and the offsets a quarter sample either side of them, are then read on a longer excerpt,
and the one whose weakest bit reads most clearly wins. It runs only when the first read names no
registered generator; the benchmark reports its cost (`grid_search_s`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from audioseal.models import AudioSealDetector

from detectors.watermark.architecture import HOP
from detectors.watermark.frames import frame_reader

QUARTERS = 4  # the finest step: a quarter of a sample
TAPS = 48  # each side of the fractional-delay filter
KAISER_BETA = 8.0
SHORT_FRAMES = 4
LONG_FRAMES = 25
CONTEXT = 2 * HOP  # samples each side: enough to rank offsets, and it halves the search's cost
FINALISTS = 12
BATCH = 32
# Leaving the audio as it lies needs the weakest bit to read twice as clearly. Dev clips (random
# payloads, so every read searched): at 1x, 23 of 294 aligned reads under edits moved to a wrong
# offset; at 2x, 5. Trimmed or cropped reads were right 112 and 109 times of 116.
MARGIN = 2.0


@dataclass(frozen=True)
class GridOffset:
    """Where the embedding grid lies: drop `whole` samples after delaying by `fraction` of one."""

    whole: int
    fraction: float
    confidence: float  # the weakest bit's |mean logit| on the longer excerpt

    @property
    def samples(self) -> float:
        return self.whole - self.fraction


def _fractional_delay_kernel(fraction: float) -> torch.Tensor:
    """Kaiser-windowed sinc taps that delay by `fraction` of a sample (for conv1d's correlation)."""
    lags = np.arange(-TAPS, TAPS + 1, dtype=np.float64)[::-1] - fraction
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1 - (lags / (TAPS + 1)) ** 2, 0, 1))) / np.i0(KAISER_BETA)
    taps = np.sinc(lags) * window
    return torch.from_numpy((taps / taps.sum()).astype(np.float32)).reshape(1, 1, -1)


def delayed(audio: torch.Tensor, fraction: float) -> torch.Tensor:
    """The audio `fraction` of a sample later (band-limited), same length and memory."""
    if fraction == 0.0:
        return audio
    kernel = _fractional_delay_kernel(fraction)
    return F.conv1d(audio.reshape(1, 1, -1), kernel, padding=TAPS).reshape(-1)


def _as_grid(offset: float, confidence: float) -> GridOffset:
    whole = math.ceil(offset)
    return GridOffset(whole, whole - offset, confidence)


def _strongest_frame(probability: np.ndarray, frames: int) -> int:
    """First frame of the run of `frames` frames with the highest mean detection probability."""
    if probability.shape[0] <= frames:
        return 0
    sums = np.concatenate([[0.0], np.cumsum(probability, dtype=np.float64)])
    return int(np.argmax(sums[frames:] - sums[:-frames]))


@torch.inference_mode()
def _frame_bit_logits(
    model: AudioSealDetector, audio: torch.Tensor, start: int, offsets: list[int], frames: int
) -> torch.Tensor:
    """offsets x 16 bits x `frames` frames: the bit logits read from `start + offset`."""
    length = frames * HOP
    pieces = []
    for offset in offsets:
        begin = start + offset - CONTEXT
        piece = audio[max(0, begin) : begin + length + 2 * CONTEXT]
        lead = max(0, -begin)
        piece = F.pad(piece, (lead, length + 2 * CONTEXT - lead - piece.shape[0]))
        pieces.append(piece)
    read = frame_reader(model, HOP)
    lead = CONTEXT // HOP
    logits = []
    for first in range(0, len(pieces), BATCH):  # a CPU runs small batches twice as fast
        batch = torch.stack(pieces[first : first + BATCH]).unsqueeze(1)
        logits.append(read(batch).bit_logits[:, lead : lead + frames].transpose(1, 2))
    return torch.cat(logits)


def _loudness(logits: torch.Tensor) -> np.ndarray:
    """How strongly the bits read, all bits and frames together: ranks many offsets cheaply."""
    return np.asarray(logits.abs().mean(dim=(1, 2)).numpy())


def _weakest_bit(logits: torch.Tensor) -> np.ndarray:
    """How clearly the weakest bit reads: its |mean logit|. At the right offset it was 2.5-5
    times the best wrong offset's (measured on dev clips), while the loudness of all bits can
    favour an offset one of the detector's strides away."""
    return np.asarray(logits.mean(dim=-1).abs().min(dim=1).values.numpy())


def readings(model: AudioSealDetector, audio: torch.Tensor, probability: np.ndarray) -> list[GridOffset]:
    """The finalist offsets, each with how clearly its weakest bit reads on the longer excerpt,
    searched where the watermark is strongest (`probability`: the cheap pass's per-frame
    detection probability). Every offset in one frame is ranked at half-sample steps on a short
    excerpt; the best few, the offsets a quarter sample either side of them, and the audio as it
    lies (offset 0) are read on a longer one."""
    lead_frames = -(-CONTEXT // HOP) + 1  # room for context, and for offsets just under zero
    long_start = max(_strongest_frame(probability, LONG_FRAMES), lead_frames) * HOP
    short_start = long_start + (LONG_FRAMES - SHORT_FRAMES) // 2 * HOP
    begin = long_start - lead_frames * HOP
    excerpt = audio[begin : long_start + (LONG_FRAMES + 1) * HOP + CONTEXT]
    by_fraction = {q / QUARTERS: delayed(excerpt, q / QUARTERS) for q in range(QUARTERS)}
    candidates: list[tuple[float, float]] = []
    for fraction in (0.0, 0.5):
        logits = _frame_bit_logits(
            model, by_fraction[fraction], short_start - begin, list(range(HOP)), SHORT_FRAMES
        )
        candidates.extend((float(s), whole - fraction) for whole, s in enumerate(_loudness(logits)))
    finalists = {0.0} | {
        offset + step
        for _, offset in sorted(candidates, reverse=True)[:FINALISTS]
        for step in (-1 / QUARTERS, 0.0, 1 / QUARTERS)
    }
    found = []
    for offset in sorted(finalists):
        grid = _as_grid(offset, 0.0)
        logits = _frame_bit_logits(
            model, by_fraction[grid.fraction], long_start - begin, [grid.whole], LONG_FRAMES
        )
        found.append(_as_grid(offset, float(_weakest_bit(logits)[0])))
    return found


def find_grid(model: AudioSealDetector, audio: torch.Tensor, probability: np.ndarray) -> GridOffset:
    """The offset at which the payload reads most clearly. The audio as it lies keeps the benefit
    of the doubt: another offset must read its weakest bit MARGIN times as clearly."""
    found = readings(model, audio, probability)
    here = next(grid for grid in found if grid.samples == 0)
    best = max(found, key=lambda grid: grid.confidence)
    return best if best.confidence >= MARGIN * here.confidence else here


def realigned(audio: torch.Tensor, grid: GridOffset) -> torch.Tensor:
    """The audio starting on the embedding grid."""
    return delayed(audio, grid.fraction)[grid.whole :]
