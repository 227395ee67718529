"""Opt-outs by voice: does a voice in the track resemble the registered voiceprint of an artist
who opted out? Speaker embeddings come from Resemblyzer's encoder (its weights ship in the
wheel). The track is cut into 10 s segments side by side; silences are trimmed, each voiced segment
is embedded, and each voiceprint keeps its best-matching segment."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torchaudio.functional as AF

from detectors.cpu import bfloat16_native
from detectors.spectrum import centred_power_spectrogram
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


@lru_cache(maxsize=1)
def _bfloat16_encoder() -> Any:
    """The encoder's weights in bfloat16: its LSTM, nearly all of an upload's voice check, in
    half the time (bench.voice: similarities within 0.004 of float32's, the same error rates)."""
    return copy.deepcopy(_encoder()).to(torch.bfloat16)


def _embedded_partials(mels: npt.NDArray[np.float32], bfloat16: bool) -> npt.NDArray[np.float32]:
    """Each partial utterance's embedding (unit length) through one LSTM pass over the batch."""
    with torch.inference_mode():
        if bfloat16 and bfloat16_native():
            out = _bfloat16_encoder()(torch.from_numpy(mels).to(torch.bfloat16)).float()
        else:
            out = _encoder()(torch.from_numpy(mels))
    embedded: npt.NDArray[np.float32] = out.numpy()
    return embedded


def _to_16k(samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != RATE:
        audio = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, RATE).numpy()
    return np.asarray(audio, dtype=np.float32)


def _voiced(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Resemblyzer's own preparation: volume normalised, long silences cut (WebRTC VAD)."""
    from resemblyzer.audio import normalize_volume

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio[:0]
    normalised = normalize_volume(audio / max(peak, 1.0), -30, increase_only=True)
    return np.asarray(_trim_long_silences(np.asarray(normalised)), dtype=np.float32)


def _trim_long_silences(wav: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """resemblyzer.audio.trim_long_silences, the same samples kept: its 16-bit PCM is packed
    here by numpy instead of one Python argument per sample, which took a quarter of the time
    of a track's voice check."""
    import webrtcvad
    from resemblyzer import hparams
    from resemblyzer.audio import int16_max
    from scipy.ndimage import binary_dilation

    window = hparams.vad_window_length * hparams.sampling_rate // 1000
    wav = wav[: len(wav) - len(wav) % window]
    pcm = np.round(wav * int16_max).astype("=i2").tobytes()
    vad = webrtcvad.Vad(mode=3)
    flags = np.array(
        [
            vad.is_speech(pcm[start * 2 : (start + window) * 2], sample_rate=hparams.sampling_rate)
            for start in range(0, len(wav), window)
        ],
        dtype=np.float64,
    )
    width = hparams.vad_moving_average_width
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    sums = np.cumsum(padded, dtype=float)
    sums[width:] = sums[width:] - sums[:-width]
    mask = np.round(sums[width - 1 :] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(hparams.vad_max_silence_length + 1))
    kept: npt.NDArray[np.floating[Any]] = wav[np.repeat(mask, window)]
    return kept


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
    samples: npt.NDArray[np.float32], rate: int, bfloat16: bool = False
) -> tuple[list[tuple[float, float, Embedding]], float]:
    """(start, end, embedding) per voiced segment, and the total voiced seconds; `bfloat16`: in
    bfloat16 where the CPU has it natively."""
    audio = _to_16k(samples, rate)
    segment, hop = int(SEGMENT_S * RATE), int(HOP_S * RATE)
    spans, partials, voiced_total = [], [], 0.0
    for start in range(0, max(1, audio.shape[0] - segment + hop), hop):
        piece = audio[start : start + segment]
        voiced = _voiced(piece)
        if voiced.shape[0] < MIN_VOICED_S * RATE:
            continue
        voiced_total += voiced.shape[0] / RATE / (SEGMENT_S / HOP_S)
        spans.append((start / RATE, (start + piece.shape[0]) / RATE))
        partials.append(_partial_mels(voiced))
    if not spans:
        return [], voiced_total
    # every segment's partials through the encoder at once: one LSTM pass over a larger batch
    embedded = _embedded_partials(np.concatenate(partials), bfloat16)
    bounds = np.cumsum([len(p) for p in partials])[:-1]
    found = []
    for (start_s, end_s), own in zip(spans, np.split(embedded, bounds), strict=True):
        mean = own.mean(axis=0)
        found.append((start_s, end_s, np.asarray(mean / np.linalg.norm(mean), dtype=np.float32)))
    return found, voiced_total


def _partial_mels(voiced: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The mel spectrograms of a segment's partial utterances, as Resemblyzer's embed_utterance
    cuts them (SEGMENT_PARTIALS_PER_S of them a second, the last one zero padded)."""
    wav_slices, mel_slices = _encoder().compute_partial_slices(len(voiced), SEGMENT_PARTIALS_PER_S, 0.75)
    needed = wav_slices[-1].stop
    padded = np.pad(voiced, (0, max(0, needed - len(voiced))), "constant")
    mel = mel_spectrogram(padded)
    return np.asarray([mel[s] for s in mel_slices], dtype=np.float32)


def mel_spectrogram(wav: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Resemblyzer's `wav_to_mel_spectrogram` (librosa's power mel spectrogram: centred frames,
    zero padded, periodic Hann, Slaney mel filters), frames x mels: the same values to float32
    rounding, in half the time (librosa's einsum was most of it)."""
    from resemblyzer import hparams

    n_fft = int(hparams.sampling_rate * hparams.mel_window_length / 1000)
    hop = int(hparams.sampling_rate * hparams.mel_window_step / 1000)
    power = centred_power_spectrogram(wav, n_fft, hop)
    return np.ascontiguousarray((power @ _mel_filters(n_fft).T).astype(np.float32))


@lru_cache(maxsize=1)
def _mel_filters(n_fft: int) -> npt.NDArray[np.float32]:
    import librosa
    from resemblyzer import hparams

    filters: npt.NDArray[np.float32] = librosa.filters.mel(
        sr=hparams.sampling_rate, n_fft=n_fft, n_mels=hparams.mel_n_channels, dtype=np.float32
    )
    return filters


def match_voiceprints(
    samples: npt.NDArray[np.float32],
    rate: int,
    prints: list[Voiceprint],
    threshold: float,
    review_threshold: float,
    bfloat16: bool = False,
) -> VoiceMatches:
    segments, voiced = segment_embeddings(samples, rate, bfloat16) if prints else ([], 0.0)
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
