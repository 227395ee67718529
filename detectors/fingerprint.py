"""Chromaprint fingerprints (libchromaprint through pyacoustid's binding) of whole tracks."""

from __future__ import annotations

import chromaprint
import numpy as np
import numpy.typing as npt

from detectors.audio import DecodedAudio
from model.findings import ChromaprintFingerprint

NAME = "chromaprint"
VERSION = "1.0.0"

ALGORITHM = chromaprint.Fingerprinter.ALGORITHM_DEFAULT
# libchromaprint works at 11025 Hz with a 4096-sample frame and a 1365-sample hop (1/3 overlap).
ITEMS_PER_SECOND = 11025 / 1365
_FEED_SAMPLES = 1 << 16


def to_pcm16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")


def chromaprint_fingerprint(audio: DecodedAudio) -> ChromaprintFingerprint:
    compressed = _fingerprint(audio)
    items, algorithm = chromaprint.decode_fingerprint(compressed)
    return ChromaprintFingerprint(
        algorithm=int(algorithm),
        item_count=len(items),
        items_per_second=round(ITEMS_PER_SECOND, 4),
        duration_s=round(audio.duration_s, 3),
        fingerprint=compressed.decode("ascii"),
    )


def _fingerprint(audio: DecodedAudio) -> bytes:
    fingerprinter = chromaprint.Fingerprinter(ALGORITHM)
    fingerprinter.start(audio.sample_rate, 1)
    pcm = to_pcm16(audio.samples)
    for start in range(0, len(pcm), _FEED_SAMPLES):
        fingerprinter.feed(pcm[start : start + _FEED_SAMPLES].tobytes())
    result: bytes = fingerprinter.finish()
    return result
