"""File-level watermarking for the CLI: read any audio ffmpeg can decode, embed or detect, and
write the result as FLAC (or WAV) at the file's own rate and channel count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from detectors.audio import decode_all_channels
from detectors.watermark.detect import detect
from detectors.watermark.embed import embed
from detectors.watermark.payload import Payload
from model.findings import WatermarkDetection


def embed_file(source: Path, target: Path, payload: Payload, generator: str) -> float:
    """Watermark `source` into `target`; returns the watermark's SNR in dB."""
    samples, rate = decode_all_channels(source)
    marked = embed(samples, rate, payload, generator)
    noise = float(np.sum((marked - samples) ** 2))
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(target, marked, rate)
    return 10 * float(np.log10(float(np.sum(samples**2)) / max(noise, 1e-20)))


def detect_file(path: Path, detector: str, threshold: float) -> WatermarkDetection:
    samples, rate = decode_all_channels(path)
    return detect(samples, rate, detector, threshold)
