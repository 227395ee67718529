from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from corpus import synth
from detectors import audio, covers
from detectors.audio import DecodeError, DecoderInterrupted, SourceInfo, decode, probe
from detectors.facts import audio_facts
from model.events import TrackMetadata
from model.settings import Settings
from streams.analysis import DECODE_ATTEMPTS, decode_submitted
from streams.ingest import submission_for
from tests.conftest import sine


def test_decodes_any_rate_and_channels_to_mono_at_the_analysis_rate(tmp_path: Path) -> None:
    left, right = sine(440, 3.0, 0.5, 48000), sine(660, 3.0, 0.25, 48000)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.stack([left, right], axis=1), 48000)
    audio = decode(path, sample_rate=22050, max_seconds=60)
    assert audio.sample_rate == 22050 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(3.0, abs=0.01)
    assert audio.source.sample_rate == 48000 and audio.source.channels == 2 and audio.source.codec == "flac"


def test_nan_and_infinite_samples_of_a_float_wav_decode_as_silence(tmp_path: Path) -> None:
    """A WAV of IEEE floats can hold NaN and infinite samples; no detector computes with them
    (numba-compiled selection indexes by value, and a NaN has none)."""
    samples = sine(440, 3.0, 0.5, 44100)
    samples[1000:1010], samples[50000], samples[60000] = np.nan, np.inf, -np.inf
    path = tmp_path / "hostile.wav"
    soundfile.write(path, samples, 44100, subtype="FLOAT")
    for rate in (44100, 22050):
        decoded = decode(path, sample_rate=rate, max_seconds=60)
        assert np.isfinite(decoded.samples).all()
        assert np.abs(decoded.samples).max() <= 0.6  # the sine around them is kept
    channels, _ = audio.decode_all_channels(path)
    assert np.isfinite(channels).all()
    assert np.isfinite(covers.cover_print(decode(path, 22050, 60).samples, 22050).chroma).all()


def test_loudness_follows_bs1770(tmp_path: Path) -> None:
    # A 997 Hz sine at full scale measures -3.01 LUFS (ITU-R BS.1770-4); at half scale 6.02 dB less.
    path = synth.write(tmp_path / "tone.wav", sine(997, 5.0, 0.5))
    facts = audio_facts(decode(path, sample_rate=44100, max_seconds=60))
    assert facts.loudness_lufs == pytest.approx(-9.03, abs=0.1)
    assert facts.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    assert not facts.silent


def test_silence_is_reported_as_silent(tmp_path: Path) -> None:
    path = synth.write(tmp_path / "silence.wav", np.zeros(44100 * 3, dtype=np.float32))
    facts = audio_facts(decode(path, sample_rate=22050, max_seconds=60))
    assert facts.silent and facts.loudness_lufs is None and facts.peak_dbfs is None


def test_mp3_decodes(tmp_path: Path) -> None:
    path = synth.write(tmp_path / "song.mp3", synth.song(seed=5, seconds=8))
    audio = decode(path, sample_rate=22050, max_seconds=60)
    assert audio.source.codec == "mp3" and audio.duration_s == pytest.approx(8.0, abs=0.1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ID3" + os.urandom(2048), "could not"),
        (b"", "could not"),
        (b"just some text, not audio\n" * 20, "could not"),
    ],
)
def test_undecodable_files_raise_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.mp3"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=message):
        decode(path, sample_rate=22050, max_seconds=60)


def test_missing_file_too_short_and_too_long_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="no such audio file"):
        decode(tmp_path / "nope.wav", sample_rate=22050, max_seconds=60)
    short = synth.write(tmp_path / "short.wav", sine(440, 0.3, 0.5))
    with pytest.raises(DecodeError, match="at least"):
        decode(short, sample_rate=22050, max_seconds=60, min_seconds=1.0)
    long = synth.write(tmp_path / "long.wav", sine(440, 5.0, 0.5))
    with pytest.raises(DecodeError, match="limit"):
        decode(long, sample_rate=22050, max_seconds=2.0)


# Hostile uploads --------------------------------------------------------------------------


def _segment(tmp_path: Path) -> Path:
    """An MPEG-TS segment of audio, what an HLS playlist lists."""
    wav = synth.write(tmp_path / "inner.wav", sine(440, 3.0, 0.5))
    segment = tmp_path / "private" / "segment.ts"
    segment.parent.mkdir()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), str(segment)], check=True)
    return segment


def _playlist(segment: Path, *, live: bool) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0", "#EXTINF:3,", str(segment)]
    return "\n".join([*lines, *([] if live else ["#EXT-X-ENDLIST"]), ""]).encode()


@pytest.mark.parametrize(
    ("kind", "name"),
    [("hls", "upload"), ("hls", "song.mp3"), ("hls-live", "upload.wav"), ("concat", "song.flac")],
)
def test_files_that_make_ffmpeg_open_other_files_are_refused(tmp_path: Path, kind: str, name: str) -> None:
    # An HLS playlist or a concatenation list, under any name, would have the decoder read other
    # files on the server (and a live playlist would keep it waiting for more).
    segment = _segment(tmp_path)
    upload = tmp_path / name
    if kind == "concat":
        upload.write_bytes(f"ffconcat version 1.0\nfile {segment}\n".encode())
    else:
        upload.write_bytes(_playlist(segment, live=kind == "hls-live"))
    started = time.monotonic()
    with pytest.raises(DecodeError, match="not an accepted audio container"):
        probe(upload)
    with pytest.raises(DecodeError, match="not an accepted audio container"):
        decode(upload, sample_rate=22050, max_seconds=60)
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [("m4a", "aac"), ("ogg", "libvorbis"), ("opus", "libopus"), ("webm", "libopus"), ("aiff", "pcm_s16be")],
)
def test_plain_audio_containers_still_decode(tmp_path: Path, suffix: str, codec: str) -> None:
    wav = synth.write(tmp_path / "source.wav", sine(440, 3.0, 0.5))
    encoded = tmp_path / f"upload.{suffix}"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-c:a", codec, str(encoded)], check=True
    )
    assert decode(encoded, sample_rate=22050, max_seconds=60).duration_s == pytest.approx(3.0, abs=0.05)


def _fake_tool(folder: Path, name: str, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put a stand-in for an ffmpeg tool first on PATH."""
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_probe_that_hangs_is_stopped_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    song = synth.write(tmp_path / "song.wav", sine(440, 3.0, 0.5))
    _fake_tool(tmp_path / "bin", "ffprobe", "sleep 5", monkeypatch)
    monkeypatch.setattr(audio, "PROBE_TIMEOUT_S", 0.5, raising=False)
    started = time.monotonic()
    with pytest.raises(DecodeError, match="took longer than"):
        probe(song)
    assert time.monotonic() - started < 4


def test_a_decoder_that_hangs_is_stopped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    song = synth.write(tmp_path / "song.wav", sine(440, 3.0, 0.5))
    _fake_tool(tmp_path / "bin", "ffmpeg", "sleep 5", monkeypatch)  # the real ffprobe still probes
    monkeypatch.setattr(audio, "DECODE_TIMEOUT_S", 0.5, raising=False)
    monkeypatch.setattr(audio, "DECODE_TIMEOUT_PER_AUDIO_SECOND", 0.0, raising=False)
    started = time.monotonic()
    with pytest.raises(DecodeError, match="took longer than"):
        decode(song, sample_rate=22050, max_seconds=60)
    assert time.monotonic() - started < 4


def test_decoding_time_is_bounded_in_proportion_to_the_audio() -> None:
    def source(seconds: float) -> SourceInfo:
        return SourceInfo(
            container="wav", codec="pcm_s16le", sample_rate=44100, channels=2, duration_s=seconds
        )

    short, long = audio.decode_timeout_s(source(10), 1800), audio.decode_timeout_s(source(1800), 1800)
    assert short < long
    # a container that does not say how long it is gets the time of the longest audio allowed
    assert audio.decode_timeout_s(source(0), 1800) == long
    assert audio.decode_timeout_s(source(0), 60) < long


def test_a_decoder_crash_is_the_files_fault_but_a_stop_from_outside_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    song = synth.write(tmp_path / "song.wav", sine(440, 3.0, 0.5))
    _fake_tool(tmp_path / "crash", "ffprobe", "kill -SEGV $$", monkeypatch)
    with pytest.raises(DecodeError, match="crashed on the file"):
        probe(song)
    _fake_tool(tmp_path / "stopped", "ffprobe", "kill -TERM $$", monkeypatch)
    with pytest.raises(DecoderInterrupted):
        probe(song)


def test_a_path_the_system_cannot_even_look_up_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="no such audio file"):
        decode(Path("/" + "a" * 5000), sample_rate=22050, max_seconds=60)


def test_a_decoder_killed_on_every_try_is_a_decode_error_the_pipeline_dead_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to escape the analyze agent and stop it (issue 15, finding 1): a file that gets
    its decoder killed every time (out of memory) stalled the pipeline."""
    song = synth.write(tmp_path / "song.wav", sine(440, 3.0, 0.5))
    settings = Settings(store_dir=tmp_path / "store")
    submission = submission_for(song, TrackMetadata(track_id="killed"), settings)
    runs = tmp_path / "runs"
    _fake_tool(tmp_path / "killed", "ffprobe", f"echo run >> {runs}; kill -KILL $$", monkeypatch)
    with pytest.raises(DecodeError, match=f"each of {DECODE_ATTEMPTS} tries"):
        decode_submitted(submission, settings)
    assert runs.read_text().count("run") == DECODE_ATTEMPTS


def test_a_decoder_killed_once_is_tried_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    song = synth.write(tmp_path / "song.wav", sine(440, 3.0, 0.5))
    settings = Settings(store_dir=tmp_path / "store")
    submission = submission_for(song, TrackMetadata(track_id="killed-once"), settings)
    once = tmp_path / "once"
    real = shutil.which("ffprobe")
    _fake_tool(
        tmp_path / "flaky",
        "ffprobe",
        f'[ -e {once} ] || {{ touch {once}; kill -KILL $$; }}; exec {real} "$@"',
        monkeypatch,
    )
    assert decode_submitted(submission, settings).duration_s == pytest.approx(3.0, abs=0.05)
