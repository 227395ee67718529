"""Round trips through lossy codecs and ffmpeg's edits, as uploads go through them (training
edits, benchmarks)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def _scratch() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder in memory where there is one."""
    shm = Path("/dev/shm")
    return tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None)


def mp3_roundtrip(samples: npt.NDArray[np.float32], rate: int, bitrate: str) -> npt.NDArray[np.float32]:
    """Encode mono audio as MP3 (LAME) and decode it back, sample-aligned and the same length.

    The MP3 is written to a seekable file, so its LAME header records the encoder delay and
    ffmpeg's decoder removes it: output sample i is input sample i."""
    with _scratch() as tmp:
        wav, mp3, back = Path(tmp) / "in.wav", Path(tmp) / "x.mp3", Path(tmp) / "out.wav"
        soundfile.write(wav, samples, rate, subtype="FLOAT")
        _ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", bitrate, str(mp3))
        _ffmpeg("-i", str(mp3), "-ac", "1", "-ar", str(rate), str(back))
        decoded, _ = soundfile.read(back, dtype="float32")
    out = np.zeros(len(samples), dtype=np.float32)
    out[: min(len(samples), len(decoded))] = decoded[: len(samples)]
    return out


def ffmpeg_filtered(samples: npt.NDArray[np.float32], rate: int, filters: str) -> npt.NDArray[np.float32]:
    """Mono audio through an ffmpeg audio filter graph (e.g. `atempo=1.05`), at the same rate; the
    length is whatever the filters make it."""
    with _scratch() as tmp:
        wav, back = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        soundfile.write(wav, samples, rate, subtype="FLOAT")
        _ffmpeg("-i", str(wav), "-af", filters, "-ac", "1", "-ar", str(rate), "-c:a", "pcm_f32le", str(back))
        filtered, _ = soundfile.read(back, dtype="float32")
    return np.asarray(filtered, dtype=np.float32)
