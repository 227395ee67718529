"""Running the detectors on one track: work two detectors share is done once."""

from __future__ import annotations

import numpy as np

from corpus import synth
from detectors.audio import DecodedAudio, SourceInfo
from detectors.run import Track
from detectors.text import TrackText
from detectors.watermark.detect import to_mono_16k


def _track() -> Track:
    rate = 22_050
    samples = synth.song(seed=5, seconds=3.0, rate=rate).astype(np.float32)
    source = SourceInfo(container="wav", codec="pcm_f32le", sample_rate=rate, channels=1, duration_s=3.0)
    text = TrackText(source="upload", title="t", description="", prompt="", lyrics="", credits=())
    return Track(DecodedAudio(samples, rate, source), text)


def test_the_16_khz_audio_the_watermark_and_voice_checks_read_is_resampled_once() -> None:
    track = _track()
    first = track.mono_16k()
    assert track.mono_16k() is first
    expected = to_mono_16k(track.audio.samples, track.audio.sample_rate).numpy()
    assert first.dtype == np.float32 and first.shape == expected.shape
    np.testing.assert_array_equal(first, expected)
