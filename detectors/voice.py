"""Opt-outs by voice: does a voice in the track resemble the registered voiceprint of an artist
who opted out? Speaker embeddings come from Resemblyzer's encoder (its weights ship in the
wheel). The track is cut into 10 s segments side by side; silences are trimmed, each voiced segment
is embedded, and each voiceprint keeps its best-matching segment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torchaudio.functional as AF

from model.findings import VoiceMatch, VoiceMatches

NAME = "voice_opt_out"
VERSION = "3"
RATE = 16_000
SEGMENT_S = 10.0
HOP_S = 10.0  # segments side by side: overlapping ones embedded every second twice
MIN_VOICED_S = 1.0
# Resemblyzer's partial utterances (1.6 s each) per second of an upload's segment: side by side.
# Its default, 1.3, overlaps them and costs twice the time for similarities within about 0.01.
SEGMENT_PARTIALS_PER_S = 0.625

Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Voiceprint:
    artist: str
    embedding: Embedding  # unit length, 256 values


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def _to_16k(samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != RATE:
        audio = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, RATE).numpy()
    return np.asarray(audio, dtype=np.float32)


def _voiced(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Resemblyzer's own preparation: volume normalised, long silences cut (WebRTC VAD)."""
    from resemblyzer.audio import normalize_volume, trim_long_silences

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio[:0]
    normalised = normalize_volume(audio / max(peak, 1.0), -30, increase_only=True)
    return np.asarray(trim_long_silences(normalised), dtype=np.float32)


def embed_voice(samples: npt.NDArray[np.float32], rate: int) -> Embedding | None:
    """One embedding for a whole clip (reference audio), or None if it holds under 1 s of voice."""
    voiced = _voiced(_to_16k(samples, rate))
    if voiced.shape[0] < MIN_VOICED_S * RATE:
        return None
    return np.asarray(_encoder().embed_utterance(voiced), dtype=np.float32)


def voiceprint(artist: str, clips: list[tuple[npt.NDArray[np.float32], int]]) -> Voiceprint:
    """The mean of the reference clips' embeddings, back to unit length."""
    embeddings = [e for e in (embed_voice(s, r) for s, r in clips) if e is not None]
    if not embeddings:
        raise ValueError("the reference audio holds no usable voice (at least 1 s of speech or singing)")
    mean = np.mean(embeddings, axis=0)
    return Voiceprint(artist, np.asarray(mean / np.linalg.norm(mean), dtype=np.float32))


def segment_embeddings(
    samples: npt.NDArray[np.float32], rate: int
) -> tuple[list[tuple[float, float, Embedding]], float]:
    """(start, end, embedding) per voiced segment, and the total voiced seconds."""
    audio = _to_16k(samples, rate)
    segment, hop = int(SEGMENT_S * RATE), int(HOP_S * RATE)
    found, voiced_total = [], 0.0
    for start in range(0, max(1, audio.shape[0] - segment + hop), hop):
        piece = audio[start : start + segment]
        voiced = _voiced(piece)
        if voiced.shape[0] < MIN_VOICED_S * RATE:
            continue
        voiced_total += voiced.shape[0] / RATE / (SEGMENT_S / HOP_S)
        embedding = np.asarray(
            _encoder().embed_utterance(voiced, rate=SEGMENT_PARTIALS_PER_S), dtype=np.float32
        )
        found.append((start / RATE, (start + piece.shape[0]) / RATE, embedding))
    return found, voiced_total


def match_voiceprints(
    samples: npt.NDArray[np.float32],
    rate: int,
    prints: list[Voiceprint],
    threshold: float,
    review_threshold: float,
) -> VoiceMatches:
    segments, voiced = segment_embeddings(samples, rate) if prints else ([], 0.0)
    matches = []
    for print_ in prints:
        best = max(
            ((float(np.dot(e, print_.embedding)), start, end) for start, end, e in segments),
            default=None,
        )
        if best is not None and best[0] >= review_threshold:
            matches.append(
                VoiceMatch(artist=print_.artist, similarity=round(best[0], 4), start_s=best[1], end_s=best[2])
            )
    matches.sort(key=lambda m: -m.similarity)
    return VoiceMatches(
        threshold=threshold,
        review_threshold=review_threshold,
        voiced_seconds=round(voiced, 2),
        matches=matches,
    )
