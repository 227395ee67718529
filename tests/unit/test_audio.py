from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from corpus import synth
from detectors.audio import DecodeError, decode
from detectors.facts import audio_facts
from tests.conftest import sine


def test_decodes_any_rate_and_channels_to_mono_at_the_analysis_rate(tmp_path: Path) -> None:
    left, right = sine(440, 3.0, 0.5, 48000), sine(660, 3.0, 0.25, 48000)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.stack([left, right], axis=1), 48000)
    audio = decode(path, sample_rate=22050, max_seconds=60)
    assert audio.sample_rate == 22050 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(3.0, abs=0.01)
    assert audio.source.sample_rate == 48000 and audio.source.channels == 2 and audio.source.codec == "flac"


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
