"""The committed AudioSeal weights: loadable by the package's own loader, and embedding then
detection recover the payload and the watermarked seconds on project-made audio."""

from __future__ import annotations

import numpy as np
import pytest
from audioseal.loader import AudioSeal

from corpus import synth
from detectors.watermark.detect import AudioTooShort, detect
from detectors.watermark.embed import embed
from detectors.watermark.payload import Payload
from detectors.watermark.weights import DETECTOR_WEIGHTS, GENERATOR_WEIGHTS
from model.settings import Settings

THRESHOLD = Settings().watermark_threshold
RATE = 44_100
PAYLOAD = Payload(generator_id=1, model_version=3)


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    mono = synth.song(seed=4242, seconds=24.0, rate=RATE)
    return np.stack([mono, 0.8 * mono], axis=1)  # stereo, 44.1 kHz


def test_the_committed_weights_load_through_the_audioseal_loader() -> None:
    detector = AudioSeal.load_detector(str(DETECTOR_WEIGHTS))
    generator = AudioSeal.load_generator(str(GENERATOR_WEIGHTS))
    assert detector.nbits == 16 and generator.msg_processor is not None
    assert GENERATOR_WEIGHTS.stat().st_size + DETECTOR_WEIGHTS.stat().st_size < 20_000_000


@pytest.fixture(scope="module")
def marked(song: np.ndarray) -> np.ndarray:
    return embed(song, RATE, PAYLOAD, str(GENERATOR_WEIGHTS))


def test_embedding_keeps_rate_channels_and_stays_25_db_under_the_music(
    song: np.ndarray, marked: np.ndarray
) -> None:
    assert marked.shape == song.shape and marked.dtype == np.float32
    noise = marked - song
    assert 10 * np.log10(np.sum(song**2) / np.sum(noise**2)) >= 25.0


def test_the_watermark_is_found_on_the_seconds_it_covers(marked: np.ndarray) -> None:
    found = detect(marked, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
    assert found.detected and found.probability >= THRESHOLD
    assert found.watermarked_seconds >= 20.0
    assert found.spans[0].start_s <= 1.0 and found.spans[-1].end_s >= 23.0
    assert len(found.bit_confidence) == 16 and found.payload is not None


def test_an_embedded_payload_names_its_generator(marked: np.ndarray) -> None:
    found = detect(marked, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
    assert found.payload == PAYLOAD.value
    assert (found.generator_name, found.generator_version) == ("clearance-remix", 3)
    assert found.generator_registered


def test_an_untouched_track_is_read_where_it_lies(marked: np.ndarray) -> None:
    found = detect(marked, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
    assert found.grid_offset_samples == 0.0


def test_the_watermark_survives_trimming_the_start(marked: np.ndarray) -> None:
    for cut in (1, 2, 7, 20, 100, 441):  # samples at 44.1 kHz, as an editor or a re-encode may cut
        found = detect(marked[cut:], RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
        assert found.detected and found.payload == PAYLOAD.value, f"lost after cutting {cut} samples"
        assert found.grid_offset_samples != 0.0


def test_a_generated_clip_pasted_anywhere_in_a_mix_names_its_generator(
    song: np.ndarray, marked: np.ndarray
) -> None:
    mix = song.copy()
    at = 6 * RATE + 1234  # nowhere near the embedding grid
    mix[at : at + 10 * RATE] = marked[3 * RATE + 77 : 13 * RATE + 77]
    found = detect(mix, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
    assert found.detected and found.payload == PAYLOAD.value
    (span,) = found.spans
    assert span.start_s == pytest.approx(6.0, abs=1.0) and span.end_s == pytest.approx(16.0, abs=1.0)


def test_unwatermarked_music_is_not_detected(song: np.ndarray) -> None:
    found = detect(song, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
    assert not found.detected and found.payload is None and found.spans == []


def test_only_the_watermarked_stretch_is_reported(song: np.ndarray, marked: np.ndarray) -> None:
    partly = song.copy()
    partly[8 * RATE : 16 * RATE] = marked[8 * RATE : 16 * RATE]
    found = detect(partly, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)
    assert found.detected
    (span,) = found.spans
    assert span.start_s == pytest.approx(8.0, abs=1.0) and span.end_s == pytest.approx(16.0, abs=1.0)


def test_audio_too_short_to_judge_is_a_clear_error() -> None:
    with pytest.raises(AudioTooShort, match="at least 1 s"):
        detect(np.zeros(8000, dtype=np.float32), 16_000, str(DETECTOR_WEIGHTS), THRESHOLD)


def test_a_screened_upload_that_carries_a_watermark_is_read_whole(
    song: np.ndarray, marked: np.ndarray
) -> None:
    """The screen reads one second in four; any sign of a watermark there and the whole track is
    read, so the finding is the one an unscreened read makes: whole tracks, and a clip pasted in."""
    mix = song.copy()
    at = 6 * RATE + 1234
    mix[at : at + 10 * RATE] = marked[3 * RATE + 77 : 13 * RATE + 77]
    for audio in (marked, mix):
        screened = detect(audio, RATE, str(DETECTOR_WEIGHTS), THRESHOLD, screen=True)
        assert screened.detected and screened.read_share == 1.0
        assert screened == detect(audio, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)


def test_a_screened_upload_without_a_watermark_is_read_a_quarter(song: np.ndarray) -> None:
    screened = detect(song, RATE, str(DETECTOR_WEIGHTS), THRESHOLD, screen=True)
    assert not screened.detected and screened.spans == [] and screened.payload is None
    assert screened.read_share == pytest.approx(0.25, abs=0.05)
    seconds = screened.per_second
    assert len(seconds) == 24 and [i for i, p in enumerate(seconds) if p is not None] == [0, 4, 8, 12, 16, 20]
    assert screened.probability == max(p for p in seconds if p is not None)
    assert not detect(song, RATE, str(DETECTOR_WEIGHTS), THRESHOLD).detected


def test_short_uploads_are_read_whole_even_when_screened(song: np.ndarray) -> None:
    short = song[: 12 * RATE]
    screened = detect(short, RATE, str(DETECTOR_WEIGHTS), THRESHOLD, screen=True)
    assert screened.read_share == 1.0 and None not in screened.per_second
    assert screened == detect(short, RATE, str(DETECTOR_WEIGHTS), THRESHOLD)


def test_audio_with_samples_that_are_not_numbers_is_refused(song: np.ndarray) -> None:
    """A float WAV may carry NaN: the screen must not read it as an absent watermark."""
    hostile = song.copy()
    hostile[4 * RATE - 5000 :: 4 * RATE] = np.nan
    with pytest.raises(ValueError, match="not numbers"):
        detect(hostile, RATE, str(DETECTOR_WEIGHTS), THRESHOLD, screen=True)


def test_the_screen_bar_never_sits_above_the_detection_threshold(
    song: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a screened second would have to reach, a threshold set lower wins: with the
    threshold at 0, every screened upload is read whole."""
    from detectors.watermark import detect as module

    monkeypatch.setattr(module, "SCREEN_BAR", 2.0)  # a bar nothing reaches
    assert detect(song, RATE, str(DETECTOR_WEIGHTS), 0.0, screen=True).read_share == 1.0


def test_an_upload_of_exactly_twenty_seconds_is_read_whole(song: np.ndarray) -> None:
    found = detect(song[: 20 * RATE], RATE, str(DETECTOR_WEIGHTS), THRESHOLD, screen=True)
    assert found.read_share == 1.0
