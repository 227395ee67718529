"""Audio decoding with ffmpeg: any container or codec in, mono float32 PCM out."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt


class DecodeError(Exception):
    """Audio that cannot be decoded or is unfit for analysis; the message says why."""


class DecoderInterrupted(RuntimeError):
    """ffmpeg was stopped from outside (a signal): the audio may be fine, so try again later."""


@dataclass(frozen=True)
class SourceInfo:
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float


@dataclass(frozen=True)
class DecodedAudio:
    samples: npt.NDArray[np.float32]
    sample_rate: int
    source: SourceInfo

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise DecodeError(f"{tool} is not installed (Debian package ffmpeg)")
    return path


def probe(path: Path) -> SourceInfo:
    """Describe the first audio stream of `path`, or raise DecodeError."""
    cmd = [
        _require("ffprobe"),
        "-v",
        "error",
        "-select_streams",
        "a:0",
        "-show_entries",
        "stream=codec_name,sample_rate,channels,duration:format=format_name,duration",
        "-of",
        "json",
        str(path),
    ]
    proc = _run(cmd, timeout_s=60)
    if proc.returncode != 0:
        raise DecodeError(f"ffprobe could not read the file: {_last_line(proc.stderr, path)}")
    info = json.loads(proc.stdout or b"{}")
    streams = info.get("streams") or []
    if not streams:
        raise DecodeError("the file has no audio stream")
    stream, fmt = streams[0], info.get("format", {})
    duration = stream.get("duration") or fmt.get("duration") or 0.0
    return SourceInfo(
        container=str(fmt.get("format_name", "unknown")),
        codec=str(stream.get("codec_name", "unknown")),
        sample_rate=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 0),
        duration_s=float(duration),
    )


def decode(path: Path, sample_rate: int, max_seconds: float, min_seconds: float = 0.0) -> DecodedAudio:
    """Decode the first audio stream of `path` to mono float32 at `sample_rate`."""
    if not path.is_file():
        raise DecodeError(f"no such audio file: {path}")
    source = probe(path)
    if source.duration_s > max_seconds:
        raise DecodeError(f"audio is {source.duration_s:.0f} s long; the limit is {max_seconds:.0f} s")
    samples = _pcm(path, max_seconds, ["-ac", "1", "-ar", str(sample_rate)])
    decoded = DecodedAudio(samples=samples, sample_rate=sample_rate, source=source)
    if decoded.duration_s < max(min_seconds, 1.0 / sample_rate):
        raise DecodeError(f"audio is {decoded.duration_s:.2f} s long; at least {min_seconds:.1f} s is needed")
    return decoded


def decode_all_channels(path: Path, max_seconds: float = 7200.0) -> tuple[npt.NDArray[np.float32], int]:
    """Decode at the file's own rate and channel count: (samples x channels) float32, rate."""
    if not path.is_file():
        raise DecodeError(f"no such audio file: {path}")
    source = probe(path)
    if source.channels < 1 or source.sample_rate < 1:
        raise DecodeError("the audio stream has no channels or no sample rate")
    samples = _pcm(path, max_seconds, [])
    return samples[: samples.shape[0] // source.channels * source.channels].reshape(
        -1, source.channels
    ), source.sample_rate


def _pcm(path: Path, max_seconds: float, conversion: list[str]) -> npt.NDArray[np.float32]:
    """Interleaved float32 PCM of the first audio stream, converted as `conversion` asks."""
    cmd = [
        _require("ffmpeg"),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-t",
        str(max_seconds),
        *conversion,
        "-f",
        "f32le",
        "-",
    ]
    proc = _run(cmd, timeout_s=max(60.0, max_seconds))
    if proc.returncode != 0:
        raise DecodeError(f"ffmpeg could not decode the audio: {_last_line(proc.stderr, path)}")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[bytes]:
    # Own session: a Ctrl-C or SIGTERM meant for the worker must not kill the decoder mid-track
    # and make good audio look undecodable.
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False, start_new_session=True)
    if proc.returncode < 0:
        raise DecoderInterrupted(f"{Path(cmd[0]).name} was stopped by signal {-proc.returncode}")
    return proc


def _last_line(stderr: bytes, path: Path) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    if not lines:
        return "no error message"
    return lines[-1].strip().removeprefix(f"{path}: ")
