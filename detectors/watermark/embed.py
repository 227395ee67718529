"""Watermark embedding, used by the platform's generator: any sample rate and channel count.

The watermark is computed on the 16 kHz mono mix in windows (with context, as in detection),
held to the loudness budget, brought back to the track's rate and added to every channel; the
track itself is never resampled, so embedding changes nothing but the watermark it adds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import torch
import torchaudio.functional as AF
from audioseal.loader import AudioSeal
from audioseal.models import AudioSealWM

from detectors.watermark.architecture import SAMPLE_RATE
from detectors.watermark.budget import DEFAULT_SNR_DB, fit_budget
from detectors.watermark.detect import to_mono_16k
from detectors.watermark.payload import Payload

WINDOW_S = 10.0
CONTEXT_S = 1.0


@lru_cache(maxsize=2)
def load_generator(source: str) -> AudioSealWM:
    return AudioSeal.load_generator(source).eval()


@torch.inference_mode()
def watermark_16k(
    generator: AudioSealWM, audio: torch.Tensor, payload: Payload, snr_db: float
) -> torch.Tensor:
    message = torch.tensor(payload.bits).unsqueeze(0)
    window, context = int(WINDOW_S * SAMPLE_RATE), int(CONTEXT_S * SAMPLE_RATE)
    padded = torch.nn.functional.pad(audio, (context, window + context))
    pieces = []
    for start in range(0, audio.shape[0], window):
        segment = padded[start : start + window + 2 * context].reshape(1, 1, -1)
        mark = fit_budget(segment, generator.get_watermark(segment, message=message), snr_db)
        pieces.append(mark[0, 0, context : context + window])
    return torch.cat(pieces)[: audio.shape[0]]


def embed(
    samples: npt.NDArray[np.float32],
    sample_rate: int,
    payload: Payload,
    source: str,
    snr_db: float = DEFAULT_SNR_DB,
) -> npt.NDArray[np.float32]:
    """Watermarked copy of `samples` ((n,) or (n, channels)), same shape and rate."""
    audio = np.asarray(samples, dtype=np.float32)
    mark = watermark_16k(load_generator(source), to_mono_16k(audio, sample_rate), payload, snr_db)
    if sample_rate != SAMPLE_RATE:
        mark = AF.resample(mark, SAMPLE_RATE, sample_rate)
    mark_np = np.zeros(audio.shape[0], dtype=np.float32)
    usable = min(audio.shape[0], mark.shape[0])
    mark_np[:usable] = mark.numpy()[:usable]
    marked = audio + (mark_np[:, None] if audio.ndim == 2 else mark_np)
    return np.asarray(np.clip(marked, -1.0, 1.0), dtype=np.float32)
