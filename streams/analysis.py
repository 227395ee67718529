"""One submission in, one `TrackAnalyzed` out: resolve the audio, decode it, run the detectors."""

from __future__ import annotations

from detectors.audio import DecodedAudio, DecodeError, DecoderInterrupted, decode
from detectors.run import Detector, Track, run_detectors
from detectors.text import TrackText
from model.events import TrackAnalyzed, TrackSubmitted, analysis_id, utcnow
from model.settings import Settings
from streams.store import local_path


def analyze_submission(
    submission: TrackSubmitted, settings: Settings, detectors: tuple[Detector, ...]
) -> TrackAnalyzed:
    """Raises DecodeError or UnsupportedAudioUri for audio that cannot be analysed."""
    audio = decode_submitted(submission, settings)
    file = local_path(submission.audio_uri)
    return TrackAnalyzed(
        event_id=analysis_id(submission),
        track_id=submission.track_id,
        occurred_at=utcnow(),
        submission=submission,
        findings=run_detectors(Track(audio, track_text(submission), file), detectors),
    )


def track_text(submission: TrackSubmitted) -> TrackText:
    return TrackText(
        source=submission.source,
        title=submission.title,
        description=submission.description,
        prompt=submission.prompt or "",
        lyrics=submission.lyrics or "",
        credits=tuple(submission.artists),
    )


# A decoder killed from outside (the out-of-memory killer, an operator) says nothing about the
# file the first time; killed on every try, the file is what kills it and must not stop the agent.
DECODE_ATTEMPTS = 2


def decode_submitted(submission: TrackSubmitted, settings: Settings) -> DecodedAudio:
    path = local_path(submission.audio_uri)
    for attempt in range(1, DECODE_ATTEMPTS + 1):
        try:
            return decode(
                path,
                sample_rate=settings.analysis_sample_rate,
                max_seconds=settings.max_audio_seconds,
                min_seconds=settings.min_audio_seconds,
            )
        except DecoderInterrupted as exc:
            if attempt == DECODE_ATTEMPTS:
                raise DecodeError(f"{exc} on each of {DECODE_ATTEMPTS} tries (out of memory?)") from exc
    raise AssertionError("unreachable")
