"""Opt-outs by voice, with speech the project makes (espeak-ng voices)."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.speech import Voice, say
from decisions.policy import PlatformPolicy
from detectors.voice import match_voiceprints, voiceprint

REGISTERED = Voice("en", "m3", speed=160, pitch=45)
OTHER = Voice("en", "f4", speed=170, pitch=65)
POLICY = PlatformPolicy()
SENTENCES = "Nobody notices the paper boat before the sun comes up. A stranger answers the last chorus."


@pytest.fixture(scope="module")
def artist_print():  # type: ignore[no-untyped-def]
    clips = [
        say("The morning light falls on the quiet river.", REGISTERED),
        say("Our drummer keeps a silver guitar by the door.", REGISTERED),
        say("Seven yellow lanterns wait for the night train.", REGISTERED),
    ]
    return voiceprint("Registered Artist", clips)


def _check(samples: np.ndarray, rate: int, artist_print):  # type: ignore[no-untyped-def]
    return match_voiceprints(
        samples, rate, [artist_print], POLICY.voice_takedown_similarity, POLICY.voice_review_similarity
    )


def test_registered_voice_saying_other_words_is_found(artist_print) -> None:  # type: ignore[no-untyped-def]
    samples, rate = say(SENTENCES, REGISTERED)
    found = _check(samples, rate, artist_print)
    assert [m.artist for m in found.matches] == ["Registered Artist"]
    assert found.matches[0].similarity >= POLICY.voice_takedown_similarity


def test_a_different_voice_is_not_taken_for_the_artist(artist_print) -> None:  # type: ignore[no-untyped-def]
    samples, rate = say(SENTENCES, OTHER)
    found = _check(samples, rate, artist_print)
    assert found.matches == []  # not even in the review band


def test_the_voice_is_found_inside_a_longer_track_and_located(artist_print) -> None:  # type: ignore[no-untyped-def]
    voice_samples, rate = say("Nobody notices the paper boat before the sun comes up.", REGISTERED)
    track = np.zeros(rate * 30, dtype=np.float32)
    rng = np.random.default_rng(0)
    track += rng.standard_normal(track.shape[0]).astype(np.float32) * 0.002
    track[rate * 20 : rate * 20 + voice_samples.shape[0]] += voice_samples[: rate * 10]
    found = _check(track, rate, artist_print)
    assert found.matches and found.matches[0].artist == "Registered Artist"
    assert found.matches[0].start_s <= 20.0 <= found.matches[0].end_s


def test_silence_has_no_voice(artist_print) -> None:  # type: ignore[no-untyped-def]
    found = _check(np.zeros(16000 * 5, dtype=np.float32), 16000, artist_print)
    assert found.matches == [] and found.voiced_seconds == 0.0


def test_reference_audio_without_voice_is_refused() -> None:
    with pytest.raises(ValueError, match="no usable voice"):
        voiceprint("Nobody", [(np.zeros(16000, dtype=np.float32), 16000)])


def test_segments_are_embedded_as_resemblyzer_embeds_each_one() -> None:
    """The batched encoder pass and the numpy silence trimming give each segment the embedding
    Resemblyzer's own per-utterance path gives it."""
    from resemblyzer.audio import normalize_volume, trim_long_silences

    from detectors.voice import RATE, SEGMENT_PARTIALS_PER_S, SEGMENT_S, _encoder, _to_16k, segment_embeddings

    said, said_rate = say(" ".join([SENTENCES] * 4), REGISTERED)
    speech, rate = _to_16k(said, said_rate), RATE
    assert speech.shape[0] > 2 * SEGMENT_S * rate  # at least three segments
    segments, _ = segment_embeddings(speech, rate)
    assert len(segments) >= 3
    for start_s, end_s, embedding in segments:
        piece = speech[int(start_s * rate) : int(end_s * rate)]
        prepared = normalize_volume(piece / max(float(np.max(np.abs(piece))), 1.0), -30, increase_only=True)
        voiced = np.asarray(trim_long_silences(prepared), dtype=np.float32)
        expected = _encoder().embed_utterance(voiced, rate=SEGMENT_PARTIALS_PER_S)
        assert np.abs(embedding - expected).max() < 1e-5


def test_bfloat16_segments_stay_beside_float32_ones() -> None:
    """Where the CPU has bfloat16, uploads' segments are embedded in it: each embedding stays within
    what the thresholds can tell apart (bench.voice: similarities within 0.004)."""
    from detectors.voice import RATE, _to_16k, bfloat16_native, segment_embeddings

    if not bfloat16_native():
        pytest.skip("this CPU has no native bfloat16")
    said, said_rate = say(" ".join([SENTENCES] * 3), REGISTERED)
    speech = _to_16k(said, said_rate)
    exact, voiced = segment_embeddings(speech, RATE)
    fast, fast_voiced = segment_embeddings(speech, RATE, bfloat16=True)
    assert voiced == fast_voiced and [s[:2] for s in exact] == [s[:2] for s in fast]
    for (_, _, a), (_, _, b) in zip(exact, fast, strict=True):
        assert not np.array_equal(a, b)  # it did run in bfloat16
        assert float(np.dot(a, b)) > 0.999


def test_without_native_bfloat16_segments_are_embedded_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    from detectors import voice

    monkeypatch.setattr(voice, "bfloat16_native", lambda: False)
    said, said_rate = say(SENTENCES, REGISTERED)
    speech = voice._to_16k(said, said_rate)
    exact, _ = voice.segment_embeddings(speech, voice.RATE)
    asked, _ = voice.segment_embeddings(speech, voice.RATE, bfloat16=True)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(exact, asked, strict=True))
