"""One submission in, one `TrackAnalyzed` out: resolve the audio, decode it, run the detectors."""

from __future__ import annotations

from detectors.audio import decode
from detectors.run import Detector, run_detectors
from streams.config import Settings
from streams.events import TrackAnalyzed, TrackSubmitted, derived_id, utcnow
from streams.store import local_path


def analyze_submission(
    submission: TrackSubmitted, settings: Settings, detectors: tuple[Detector, ...]
) -> TrackAnalyzed:
    """Raises DecodeError or UnsupportedAudioUri for audio that cannot be analysed."""
    audio = decode(
        local_path(submission.audio_uri),
        sample_rate=settings.analysis_sample_rate,
        max_seconds=settings.max_audio_seconds,
        min_seconds=settings.min_audio_seconds,
    )
    return TrackAnalyzed(
        event_id=derived_id(submission.event_id, "analyzed"),
        track_id=submission.track_id,
        occurred_at=utcnow(),
        submission=submission,
        findings=run_detectors(audio, detectors),
    )
