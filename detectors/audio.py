"""Audio decoding with ffmpeg: a plain audio container in, mono float32 PCM out.

Uploads are hostile. ffmpeg reads only the one file it is given (its `file` protocol and nothing
else) and only as a plain audio container (`-format_whitelist`): a playlist (HLS), a
concatenation list or an image sequence, which would open further files or URLs, is refused
whatever its name. Each step has a time limit (decoding in proportion to the audio's length),
and every way a file can fail is a DecodeError with the reason.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# ffmpeg's demuxer names: WAV, Wave64, AIFF, FLAC, MP3, Ogg (Vorbis, Opus, FLAC), MP4/M4A/MOV
# (AAC, ALAC), Matroska/WebM, raw ADTS AAC, Core Audio Format.
AUDIO_CONTAINERS = ("wav", "w64", "aiff", "flac", "mp3", "ogg", "mov", "matroska", "aac", "caf")
PROBE_TIMEOUT_S = 30.0
# Decoding runs hundreds of times faster than real time; a limit of a tenth of the audio's
# length (plus a fixed allowance) stops only a decoder that is stuck.
DECODE_TIMEOUT_S = 30.0
DECODE_TIMEOUT_PER_AUDIO_SECOND = 0.1
# ffmpeg dying of these was the file's doing (a crash), not someone stopping it
_CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT})
_REFUSED_FORMAT = re.compile(r"\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist")


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


def _input(path: Path) -> list[str]:
    """ffmpeg's input options for `path`: that file alone, read as a plain audio container."""
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(AUDIO_CONTAINERS),
        "-i",
        f"file:{path.absolute()}",  # never read as another protocol, whatever the name says
    ]


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
        *_input(path),
    ]
    proc = _run(cmd, timeout_s=PROBE_TIMEOUT_S)
    if proc.returncode != 0:
        raise DecodeError(f"ffprobe could not read the file: {_refusal(proc.stderr, path)}")
    try:
        return _source_info(json.loads(proc.stdout or b"{}"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise DecodeError(f"ffprobe described the file in a way that cannot be read: {exc}") from exc


def _source_info(info: dict[str, Any]) -> SourceInfo:
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


def decode_timeout_s(source: SourceInfo, max_seconds: float) -> float:
    """How long decoding may take: in proportion to the audio's length (the longest allowed when
    the container does not say)."""
    seconds = min(source.duration_s, max_seconds) if source.duration_s > 0 else max_seconds
    return DECODE_TIMEOUT_S + seconds * DECODE_TIMEOUT_PER_AUDIO_SECOND


def _existing_file(path: Path) -> None:
    try:
        exists = path.is_file()
    except OSError as exc:  # a name too long, say
        raise DecodeError(f"no such audio file: {exc.strerror}") from exc
    if not exists:
        raise DecodeError(f"no such audio file: {path}")


def decode(path: Path, sample_rate: int, max_seconds: float, min_seconds: float = 0.0) -> DecodedAudio:
    """Decode the first audio stream of `path` to mono float32 at `sample_rate`."""
    _existing_file(path)
    source = probe(path)
    if source.duration_s > max_seconds:
        raise DecodeError(f"audio is {source.duration_s:.0f} s long; the limit is {max_seconds:.0f} s")
    samples = _pcm(
        path, max_seconds, decode_timeout_s(source, max_seconds), ["-ac", "1", "-ar", str(sample_rate)]
    )
    decoded = DecodedAudio(samples=samples, sample_rate=sample_rate, source=source)
    if decoded.duration_s < max(min_seconds, 1.0 / sample_rate):
        raise DecodeError(f"audio is {decoded.duration_s:.2f} s long; at least {min_seconds:.1f} s is needed")
    return decoded


def decode_all_channels(path: Path, max_seconds: float = 7200.0) -> tuple[npt.NDArray[np.float32], int]:
    """Decode at the file's own rate and channel count: (samples x channels) float32, rate."""
    _existing_file(path)
    source = probe(path)
    if source.channels < 1 or source.sample_rate < 1:
        raise DecodeError("the audio stream has no channels or no sample rate")
    samples = _pcm(path, max_seconds, decode_timeout_s(source, max_seconds), [])
    return samples[: samples.shape[0] // source.channels * source.channels].reshape(
        -1, source.channels
    ), source.sample_rate


def _pcm(path: Path, max_seconds: float, timeout_s: float, conversion: list[str]) -> npt.NDArray[np.float32]:
    """Interleaved float32 PCM of the first audio stream, converted as `conversion` asks."""
    cmd = [
        _require("ffmpeg"),
        "-nostdin",
        "-v",
        "error",
        *_input(path),
        "-map",
        "0:a:0",
        "-t",
        str(max_seconds),
        *conversion,
        # fill ffmpeg's output buffer before each write: flushed after every packet, a
        # three-minute track came through the pipe in ~6,500 small writes, each waking this
        # process (70 ms of CPU across the two sides); the samples are the same
        "-flush_packets",
        "0",
        "-f",
        "f32le",
        "-",
    ]
    proc = _run(cmd, timeout_s=timeout_s)
    if proc.returncode != 0:
        raise DecodeError(f"ffmpeg could not decode the audio: {_refusal(proc.stderr, path)}")
    samples = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    # a floating-point source (a WAV of IEEE floats, say) may hold NaN or infinite samples, which
    # no detector should compute with: they are silence here
    if not np.isfinite(samples).all():
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return samples


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[bytes]:
    tool = Path(cmd[0]).name
    try:
        # Own session: a Ctrl-C or SIGTERM meant for the worker must not kill the decoder
        # mid-track and make good audio look undecodable.
        proc = subprocess.run(
            cmd, capture_output=True, timeout=timeout_s, check=False, start_new_session=True
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        raise DecodeError(f"{tool} took longer than {timeout_s:.0f} s on the file and was stopped") from exc
    except OSError as exc:
        raise DecodeError(f"{tool} could not be run: {exc}") from exc
    if proc.returncode < 0:
        number = -proc.returncode
        if number in _CRASH_SIGNALS:
            raise DecodeError(f"{tool} crashed on the file ({signal.Signals(number).name})")
        raise DecoderInterrupted(f"{tool} was stopped by signal {number}")
    return proc


def _refusal(stderr: bytes, path: Path) -> str:
    """Why ffmpeg refused the file, in one line."""
    text = stderr.decode(errors="replace")
    if refused := _REFUSED_FORMAT.search(text):
        accepted = ", ".join(AUDIO_CONTAINERS)
        return f"{refused.group(1)} is not an accepted audio container (accepted: {accepted})"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "no error message"
    return lines[-1].removeprefix(f"file:{path.absolute()}: ")
